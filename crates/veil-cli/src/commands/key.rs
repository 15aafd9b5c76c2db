//! `veil key new | show | split | combine`

use std::path::Path;

use serde_json::json;
use veil_core::atomic::{Visibility, write_atomic_bytes, write_atomic_bytes_with};
use veil_vault::custody::{self, Share};
use veil_vault::{Identity, PublicIdentity};

use super::secrets::{load_identity, new_protection, public_path, write_identity};
use crate::cli::KeyCommand;
use crate::report;

/// Refuses to write a new key over an existing file, or a secret file named like its own
/// public file (`x.pub`): either would destroy a key with no way back.
fn check_new_key_paths(out: &Path) -> anyhow::Result<()> {
    let public = public_path(out);
    if public == out {
        return Err(veil_vault::Error::invalid(
            "-o",
            format!(
                "{} would be overwritten by its own public file: name the secret file otherwise (e.g. .key or .pem)",
                out.display()
            ),
        )
        .into());
    }
    if let Some(existing) = [out, public.as_path()].into_iter().find(|p| p.exists()) {
        return Err(veil_vault::Error::invalid(
            "-o",
            format!(
                "{} exists; a new key never replaces a file (remove it first or choose another name)",
                existing.display()
            ),
        )
        .into());
    }
    Ok(())
}

pub fn run(cmd: &KeyCommand, json: bool) -> anyhow::Result<()> {
    if let KeyCommand::New { out, .. } = cmd {
        check_new_key_paths(out)?;
    }
    match cmd {
        KeyCommand::New {
            out,
            ecdsa_p256: true,
            ..
        } => new_ecdsa(out, json),
        KeyCommand::New {
            out, protection, ..
        } => {
            let passphrase = new_protection(protection)?;
            let identity = Identity::generate();
            let public = write_identity(out, &identity, passphrase.as_ref())?;
            let id = identity.public().key_id();
            if json {
                report::json(&json!({
                    "key_id": id.to_string(), "secret": out, "public": public,
                    "protected": passphrase.is_some(),
                }))
            } else {
                println!("key id {id}");
                println!(
                    "secret identity: {} ({})",
                    out.display(),
                    if passphrase.is_some() {
                        "passphrase-protected"
                    } else {
                        "UNPROTECTED"
                    }
                );
                println!(
                    "public identity: {} (give this to whoever seals files for you)",
                    public.display()
                );
                Ok(())
            }
        }
        KeyCommand::Show { file } => show(file, json),
        KeyCommand::Split {
            shares,
            threshold,
            key,
            out,
            passphrase,
        } => {
            let identity = load_identity(key, passphrase)?;
            let parts = custody::split(&identity, *shares, *threshold)?;
            std::fs::create_dir_all(out).map_err(|e| veil_core::Error::io(out, e))?;
            let mut written = Vec::new();
            for share in &parts {
                let path = out.join(format!("share-{}", share.index()));
                let text = share.to_pem()?;
                write_atomic_bytes_with(&path, Visibility::Secret, text.as_bytes())?;
                written.push(path);
            }
            if json {
                report::json(&json!({
                    "key_id": identity.public().key_id().to_string(),
                    "shares": written, "threshold": threshold,
                }))
            } else {
                println!(
                    "wrote {} shares of key id {} to {}; any {threshold} restore it, fewer reveal nothing",
                    written.len(),
                    identity.public().key_id(),
                    out.display()
                );
                Ok(())
            }
        }
        KeyCommand::Combine {
            shares,
            out,
            protection,
        } => {
            let parsed: Vec<Share> = shares
                .iter()
                .map(|p| {
                    let text = zeroize::Zeroizing::new(
                        std::fs::read_to_string(p).map_err(|e| veil_core::Error::io(p, e))?,
                    );
                    Ok(Share::from_pem(&text, p)?)
                })
                .collect::<anyhow::Result<_>>()?;
            let identity = custody::combine(&parsed)?;
            let passphrase = new_protection(protection)?;
            let public = write_identity(out, &identity, passphrase.as_ref())?;
            if json {
                report::json(&json!({
                    "key_id": identity.public().key_id().to_string(), "secret": out, "public": public,
                }))
            } else {
                println!(
                    "restored key id {} to {}",
                    identity.public().key_id(),
                    out.display()
                );
                Ok(())
            }
        }
    }
}

/// Writes an ECDSA P-256 key pair for OpenSSF model signing: KEY (PKCS#8, mode 0600) and
/// KEY with extension .pub (SPKI).
fn new_ecdsa(out: &Path, json: bool) -> anyhow::Result<()> {
    let key = veil_ledger::model_signing::SigningKey::generate();
    let pem = key.to_pem()?;
    write_atomic_bytes_with(out, Visibility::Secret, pem.as_bytes())?;
    let public = public_path(out);
    write_atomic_bytes(&public, key.verifying_key().to_pem()?.as_bytes())?;
    let hint = key.verifying_key().hint()?;
    if json {
        report::json(&json!({
            "type": "ecdsa-p256", "secret": out, "public": public, "key_hint": hint,
        }))
    } else {
        println!(
            "ECDSA P-256 signing key: {} (PKCS#8, unencrypted, mode 0600)",
            out.display()
        );
        println!("public key: {} (key hint {hint})", public.display());
        Ok(())
    }
}

fn show(file: &Path, json: bool) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file).map_err(|e| veil_core::Error::io(file, e))?,
    );
    let (kind, key_id, protected) = if text.contains("VEIL PUBLIC IDENTITY") {
        (
            "public identity",
            PublicIdentity::from_pem(&text, file)?.key_id(),
            None,
        )
    } else if text.contains("VEIL IDENTITY SHARE") {
        (
            "identity share",
            Share::from_pem(&text, file)?.key_id(),
            None,
        )
    } else if text.contains("VEIL SECRET IDENTITY") {
        // The public keys are stored in the clear beside the secret ones: no passphrase needed.
        let protected = Identity::is_protected(&text, file)?;
        (
            "secret identity",
            Identity::public_of_pem(&text, file)?.key_id(),
            Some(protected),
        )
    } else {
        anyhow::bail!(
            "{}: not a Veil identity, public identity or share",
            file.display()
        );
    };
    if json {
        report::json(&json!({ "key_id": key_id.to_string(), "kind": kind, "protected": protected }))
    } else {
        println!("{key_id}");
        Ok(())
    }
}
