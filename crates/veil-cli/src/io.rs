//! Where bytes and passphrases come from and go to: files or the standard streams (`-`),
//! written atomically, and passphrases from files or asked on the terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use veil_core::atomic::{Visibility, write_atomic_with};
use veil_vault::Passphrase;

/// An input stream: a file, or stdin for `-`. Unbuffered: Veil reads whole segments.
pub fn input(spec: &str) -> anyhow::Result<Box<dyn Read + Send>> {
    if spec == "-" {
        Ok(Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(spec).map_err(|e| veil_core::Error::io(spec, e))?;
        Ok(Box::new(file))
    }
}

/// Runs `produce` on the output: stdout for `-`, else a file replaced atomically on success
/// (with `visibility`).
pub fn with_output<T>(
    spec: &str,
    visibility: Visibility,
    produce: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if spec == "-" {
        let mut out = std::io::stdout();
        let value = produce(&mut out)?;
        out.flush()?;
        Ok(value)
    } else {
        write_atomic_with(Path::new(spec), visibility, |out| produce(out))
    }
}

/// The passphrase in `file`, or asked on the terminal with `prompt`.
pub fn passphrase(file: Option<&Path>, for_file: &Path) -> veil_vault::Result<Passphrase> {
    if let Some(file) = file {
        return Passphrase::from_file(file);
    }
    let unavailable = |why: &str| veil_vault::Error::NoPassphrase {
        file: for_file.display().to_string(),
        why: why.to_string(),
    };
    if !std::io::stdin().is_terminal() {
        return Err(unavailable(
            "no terminal to ask on; give the passphrase in a file",
        ));
    }
    let text = rpassword::prompt_password(format!("passphrase of {}: ", for_file.display()))
        .map_err(|e| veil_vault::Error::io("the terminal", e))?;
    Passphrase::new(text)
}

/// The passphrase that will protect a new secret file, or `None` with `--unprotected`.
pub fn new_protection(
    unprotected: bool,
    file: Option<&Path>,
    secret: &Path,
) -> veil_vault::Result<Option<Passphrase>> {
    if unprotected {
        return Ok(None);
    }
    if let Some(file) = file {
        return Passphrase::from_file(file).map(Some);
    }
    let unavailable = |why: &str| veil_vault::Error::NoPassphrase {
        file: secret.display().to_string(),
        why: why.to_string(),
    };
    if !std::io::stdin().is_terminal() {
        return Err(unavailable(
            "a new secret file is passphrase-protected: give --passphrase-file FILE, or --unprotected",
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| veil_vault::Error::io("the terminal", e))
    };
    let first = ask("passphrase for the new secret file: ")?;
    if first != ask("the same passphrase again: ")? {
        return Err(unavailable("the two passphrases differ"));
    }
    Passphrase::new(first).map(Some)
}
