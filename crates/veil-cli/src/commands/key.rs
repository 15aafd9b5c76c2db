//! `veil key new | show | split | combine`

use veil_vault::Identity;
use veil_vault::files::{self, NewIdentity};

use crate::cli::KeyCommand;
use crate::io::{new_protection, passphrase};
use crate::report::show;

pub fn run(cmd: &KeyCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::New {
            out,
            ecdsa_p256: true,
            ..
        } => {
            files::check_new_key_paths(out)?;
            let key = veil_ledger::model_signing::new_key_pair(out, &files::public_path(out))?;
            show(json, &key, |k| {
                println!(
                    "ECDSA P-256 signing key: {} (PKCS#8, unencrypted, mode 0600: anyone who can read it can sign as you)",
                    k.secret.display()
                );
                println!(
                    "public key: {} (key hint {})",
                    k.public.display(),
                    k.key_hint
                );
            })
        }
        KeyCommand::New {
            out, protection, ..
        } => {
            files::check_new_key_paths(out)?;
            let passphrase = new_protection(
                protection.unprotected,
                protection.passphrase_file.as_deref(),
                out,
            )?;
            let written = files::write_identity(out, &Identity::generate(), passphrase.as_ref())?;
            show(json, &written, say_written)
        }
        KeyCommand::Show { file } => {
            show(json, &files::show_key(file)?, |k| println!("{}", k.key_id))
        }
        KeyCommand::Split {
            shares,
            threshold,
            key,
            out,
            passphrase: key_passphrase,
        } => {
            let identity = files::load_identity(key, || {
                passphrase(key_passphrase.key_passphrase_file.as_deref(), key)
            })?;
            let written = files::write_shares(out, &identity, *shares, *threshold)?;
            show(json, &written, |w| {
                println!(
                    "wrote {} shares of key id {} to {}; any {} restore it, fewer reveal nothing",
                    w.shares.len(),
                    w.key_id,
                    out.display(),
                    w.threshold
                );
            })
        }
        KeyCommand::Combine {
            shares,
            out,
            protection,
        } => {
            files::check_new_key_paths(out)?;
            let identity = files::combine_files(shares)?;
            let passphrase = new_protection(
                protection.unprotected,
                protection.passphrase_file.as_deref(),
                out,
            )?;
            let written = files::write_identity(out, &identity, passphrase.as_ref())?;
            show(json, &written, |w| {
                println!("restored key id {} to {}", w.key_id, w.secret.display());
            })
        }
    }
}

fn say_written(w: &NewIdentity) {
    println!("key id {}", w.key_id);
    println!(
        "secret identity: {} ({})",
        w.secret.display(),
        if w.protected {
            "passphrase-protected"
        } else {
            "UNPROTECTED"
        }
    );
    println!(
        "public identity: {} (give this to whoever seals files for you)",
        w.public.display()
    );
}
