//! Loading and writing identities, passphrases and streams for the key and vault commands.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use veil_core::atomic::{
    Visibility, write_atomic_bytes, write_atomic_bytes_with, write_atomic_with,
};
use veil_vault::{Identity, KdfParams, Passphrase};

use crate::cli::{KeyPassphraseArgs, ProtectionArgs};

/// A passphrase from `file`, or asked on the terminal.
pub fn passphrase(file: Option<&Path>, prompt: &str) -> anyhow::Result<Passphrase> {
    if let Some(file) = file {
        return Ok(Passphrase::from_file(file)?);
    }
    if !std::io::stdin().is_terminal() {
        return Err(veil_vault::Error::invalid(
            "passphrase",
            format!("{prompt}: no terminal to ask on; give the passphrase in a file"),
        )
        .into());
    }
    let text =
        rpassword::prompt_password(format!("{prompt}: ")).context("reading the passphrase")?;
    Ok(Passphrase::new(text)?)
}

/// The passphrase that will protect a new secret file, or `None` with `--unprotected`.
pub fn new_protection(args: &ProtectionArgs) -> anyhow::Result<Option<Passphrase>> {
    if args.unprotected {
        return Ok(None);
    }
    if let Some(file) = &args.passphrase_file {
        return Ok(Some(Passphrase::from_file(file)?));
    }
    if !std::io::stdin().is_terminal() {
        return Err(veil_vault::Error::invalid(
            "passphrase",
            "a new secret file is passphrase-protected: give --passphrase-file FILE, or --unprotected",
        )
        .into());
    }
    let first = rpassword::prompt_password("passphrase for the new secret file: ")?;
    let again = rpassword::prompt_password("the same passphrase again: ")?;
    if first != again {
        bail!("the two passphrases differ");
    }
    Ok(Some(Passphrase::new(first)?))
}

/// Loads a Veil secret identity, asking for its passphrase if it is protected.
pub fn load_identity(path: &Path, args: &KeyPassphraseArgs) -> anyhow::Result<Identity> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| veil_core::Error::io(path, e))?,
    );
    Ok(Identity::from_pem(&text, path, || {
        passphrase(
            args.key_passphrase_file.as_deref(),
            &format!("passphrase of {}", path.display()),
        )
        .map_err(|e| veil_vault::Error::invalid("passphrase", e.to_string()))
    })?)
}

/// The path of the public file beside a secret one: `alice.key` → `alice.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    secret.with_extension("pub")
}

/// Writes `NAME.key` (mode 0600) and `NAME.pub`.
pub fn write_identity(
    path: &Path,
    identity: &Identity,
    protection: Option<&Passphrase>,
) -> anyhow::Result<PathBuf> {
    let text = identity.to_pem(protection.map(|p| (p, KdfParams::default())))?;
    write_atomic_bytes_with(path, Visibility::Secret, text.as_bytes())?;
    let public = public_path(path);
    write_atomic_bytes(&public, identity.public().to_pem().as_bytes())?;
    Ok(public)
}

/// An input stream: a file, or stdin for `-`. Unbuffered: Veil reads whole segments.
pub fn input(spec: &str) -> anyhow::Result<Box<dyn Read + Send>> {
    if spec == "-" {
        Ok(Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(spec).map_err(|e| veil_core::Error::io(spec, e))?;
        Ok(Box::new(file))
    }
}

/// Runs `produce` on the output: stdout for `-`, else a file replaced atomically on success.
pub fn with_output<T>(
    spec: &str,
    produce: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if spec == "-" {
        let mut out = std::io::stdout();
        let value = produce(&mut out)?;
        out.flush()?;
        Ok(value)
    } else {
        write_atomic_with(Path::new(spec), Visibility::Public, |out| produce(out))
    }
}
