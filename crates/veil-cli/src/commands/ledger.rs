//! `veil ledger init | add | checkpoint | prove | entry | verify | verify-consistency |
//! lineage | list | audit | sign-model | verify-model`

use std::path::Path;

use veil_ledger::model_signing::{self, SigningKey, VerifyingKey};
use veil_ledger::proof::ExpectedSigner;
use veil_ledger::report::Created;
use veil_ledger::{ConsistencyProof, Entry, EntrySigner, Ledger, Lineage, NoteVerifier, TlogProof};
use veil_vault::{Identity, KdfParams, Keyring, Passphrase, PublicIdentity, SealOptions};
use zeroize::Zeroizing;

use crate::cli::{LedgerAddArgs, LedgerCommand};
use crate::exit::Usage;
use crate::io::passphrase;
use crate::report::show;

pub fn run(cmd: &LedgerCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        LedgerCommand::Init {
            dir,
            origin,
            passphrase_file,
        } => init(dir, origin, passphrase_file.as_deref(), json),
        LedgerCommand::Add(args) => add(args, json),
        LedgerCommand::Checkpoint {
            dir,
            passphrase_file,
        } => {
            let checkpoint = open_signing(dir, passphrase_file.as_deref())?.signed_checkpoint()?;
            show(json, &checkpoint, |c| print!("{}", c.note))
        }
        LedgerCommand::Prove {
            dir,
            index,
            from,
            out,
            passphrase_file,
        } => {
            let ledger = open_signing(dir, passphrase_file.as_deref())?;
            match (index, from) {
                (Some(index), _) => {
                    let inclusion = ledger.inclusion(*index)?;
                    if let Some(path) = out {
                        veil_core::atomic::write_atomic_bytes(path, inclusion.proof.as_bytes())?;
                    }
                    show(json, &inclusion, |p| match out {
                        Some(path) => eprintln!(
                            "wrote the proof of entry {} ({} hashes) to {}",
                            p.index,
                            p.hashes.len(),
                            path.display()
                        ),
                        None => print!("{}", p.proof),
                    })
                }
                (None, from) => {
                    let proof = ledger.consistency(from.unwrap_or_default())?;
                    let text = if json {
                        format!("{}\n", serde_json::to_string(&proof)?)
                    } else {
                        proof.to_text()
                    };
                    write_out(out.as_deref(), text.as_bytes())
                }
            }
        }
        LedgerCommand::Entry {
            dir,
            index,
            raw,
            out,
        } => {
            if *raw && json {
                return Err(
                    Usage("--raw writes the entry's exact bytes; leave out --json".into()).into(),
                );
            }
            let ledger = Ledger::open_read_only(dir)?;
            if *raw {
                return write_out(out.as_deref(), &ledger.entry_bytes(*index)?);
            }
            let view = ledger.entry_view(*index)?;
            let text = if json {
                format!("{}\n", serde_json::to_string(&view)?)
            } else {
                view.to_string()
            };
            write_out(out.as_deref(), text.as_bytes())
        }
        LedgerCommand::Verify {
            vkey,
            proof,
            entry,
            files,
            expect_signer,
        } => {
            let expected = match expect_signer {
                Some(path) => {
                    let id = PublicIdentity::load(path)?;
                    Some(ExpectedSigner {
                        public_key: id.ed25519(),
                        key_id: id.key_id().0,
                        label: format!("{} ({})", id.key_id(), path.display()),
                    })
                }
                None => None,
            };
            let entry_bytes = std::fs::read(entry).map_err(|e| veil_core::Error::io(entry, e))?;
            let verified = veil_ledger::verify_offline(
                &NoteVerifier::parse(&read_text(vkey)?)?,
                &TlogProof::parse(&read_text(proof)?)?,
                &entry_bytes,
                files,
                expected.as_ref(),
            )?;
            show(json, &verified, |v| {
                let e = &v.entry.entry;
                println!(
                    "verified: entry {} ({} \"{}\") is in log {} of {} entries, root {}",
                    v.index,
                    veil_core::text::printable(&e.kind),
                    veil_core::text::printable(&e.name),
                    veil_core::text::printable(&v.origin),
                    v.size,
                    v.root
                );
                for file in &v.files {
                    println!(
                        "verified: {} is a subject of the entry",
                        file.path.display()
                    );
                }
                match (&e.signature, v.signer_checked) {
                    (Some(sig), true) => {
                        println!("verified: signed by key id {}", veil_core::hex(&sig.key_id));
                    }
                    (Some(sig), false) => println!(
                        "the entry is signed by Ed25519 key {}, which claims key id {} (not \
                         checked: use --expect-signer)",
                        veil_core::hex(&sig.public_key),
                        veil_core::hex(&sig.key_id)
                    ),
                    (None, _) => {}
                }
            })
        }
        LedgerCommand::VerifyConsistency { vkey, old, proof } => {
            let consistent = ConsistencyProof::parse(&read_text(proof)?)?
                .verify(&NoteVerifier::parse(&read_text(vkey)?)?, &read_text(old)?)?;
            show(json, &consistent, |c| {
                println!(
                    "verified: log {} grew from {} to {} entries without rewriting any (new root {})",
                    c.origin, c.old_size, c.new_size, c.new_root
                );
            })
        }
        LedgerCommand::Lineage { dir, index, dot } => {
            if *dot && json {
                return Err(Usage(
                    "--dot prints Graphviz; leave out --json (or --dot for the JSON ancestry)"
                        .into(),
                )
                .into());
            }
            let lineage = Lineage::of(&Ledger::open_read_only(dir)?, *index)?;
            show(json, &lineage, |l| {
                print!("{}", if *dot { l.dot() } else { l.tree() });
            })
        }
        LedgerCommand::List { dir } => {
            let listing = Ledger::open_read_only(dir)?.list()?;
            show(json, &listing, |l| print!("{l}"))
        }
        LedgerCommand::Audit {
            dir,
            vkey,
            checkpoints,
        } => {
            let ledger = Ledger::open_read_only(dir)?;
            let kept = checkpoints
                .iter()
                .map(|p| read_text(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let verifier = match vkey {
                Some(path) => NoteVerifier::parse(&read_text(path)?)?,
                None => ledger.verifier().clone(),
            };
            let audit = ledger.audit_report(&verifier, &kept)?;
            if let Some(finding) = audit.finding.clone() {
                if json {
                    show(json, &audit, |_| {})?;
                }
                return Err(veil_ledger::Error::AuditFailed(finding).into());
            }
            show(json, &audit, |a| {
                println!(
                    "audit passed: {} entries, every stored hash and checkpoint checks out",
                    a.size
                );
            })
        }
        LedgerCommand::SignModel {
            model,
            key,
            out,
            ignore_paths,
            ledger,
        } => {
            let key = SigningKey::load(key)?;
            // Open the ledger before any work: a bad directory loses nothing.
            let mut ledger = ledger.ledger.as_deref().map(Ledger::open).transpose()?;
            let signed = model_signing::sign_path(model, &key, out, ignore_paths, ledger.as_mut())?;
            show(json, &signed, |s| {
                println!(
                    "signed {} ({} files, digest {}) into {}",
                    model.display(),
                    s.files,
                    s.sha256,
                    s.bundle.display()
                );
                crate::report::say_recorded(s.ledger_index);
            })
        }
        LedgerCommand::VerifyModel {
            model,
            bundle,
            key,
            ignore_paths,
        } => {
            let verified =
                model_signing::verify_path(model, bundle, &VerifyingKey::load(key)?, ignore_paths)?;
            show(json, &verified, |v| {
                println!(
                    "verified: {} ({} files, digest {}) is exactly what the key signed",
                    model.display(),
                    v.files,
                    v.sha256
                );
            })
        }
    }
}

fn add(args: &LedgerAddArgs, json: bool) -> anyhow::Result<()> {
    // Open first: a wrong directory should not cost a pass over large files.
    let mut ledger = Ledger::open(&args.dir)?;
    let signer = args
        .sign
        .as_deref()
        .map(|path| {
            veil_vault::files::load_identity(path, || {
                passphrase(args.key_passphrase.key_passphrase_file.as_deref(), path)
            })
        })
        .transpose()?;
    let subjects = args
        .files
        .iter()
        .map(|f| veil_ledger::manifest::subject_of(f))
        .collect::<veil_ledger::Result<Vec<_>>>()?;
    let mut parents = args.parents.clone();
    parents.sort_unstable();
    parents.dedup();
    let mut entry = Entry {
        kind: args.kind.clone(),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| subjects[0].name.clone()),
        time: veil_core::time::unix_now(),
        subjects,
        parents,
        meta: Entry::parse_meta(&args.meta)?,
        signature: None,
    };
    if let Some(identity) = &signer {
        entry.sign(&IdentitySigner(identity))?;
    }
    let appended = ledger.append(&entry)?;
    show(json, &appended, |a| {
        println!("added entry {} (leaf hash {})", a.index, a.leaf_hash);
    })
}

/// A Veil identity signing ledger entries with its Ed25519 key.
struct IdentitySigner<'a>(&'a Identity);

impl EntrySigner for IdentitySigner<'_> {
    fn key_id(&self) -> [u8; 8] {
        self.0.public().key_id().0
    }
    fn public_key(&self) -> [u8; 32] {
        self.0.public().ed25519()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message)
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path).map_err(|e| veil_core::Error::io(path, e))?)
}

fn write_out(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => Ok(veil_core::atomic::write_atomic_bytes(path, bytes)?),
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            Ok(stdout.flush()?)
        }
    }
}

fn init(
    dir: &Path,
    origin: &str,
    passphrase_file: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let ledger = match passphrase_file {
        None => Ledger::init(dir, origin)?,
        Some(file) => {
            let pass = Passphrase::from_file(file)?;
            Ledger::init_protected(dir, origin, |text| {
                let options = SealOptions {
                    passphrase: Some((&pass, KdfParams::default())),
                    ..SealOptions::default()
                };
                veil_vault::seal_slice(text, &options).map_err(|e| {
                    veil_ledger::Error::invalid("log.key", format!("sealing it failed: {e}"))
                })
            })?
        }
    };
    let created = Created::of(&ledger, passphrase_file.is_some());
    show(json, &created, |c| {
        println!("created ledger {} for log {}", c.dir.display(), c.origin);
        println!(
            "verifier key (also in {}):",
            c.dir.join("log.vkey").display()
        );
        println!("  {}", c.vkey);
        if !c.protected {
            eprintln!(
                "note: the log's signing key {} is stored unprotected (mode 0600) so that checkpoints can be signed unattended; to keep it under a passphrase, create the ledger with --passphrase-file FILE",
                c.key_file.display()
            );
        }
    })
}

/// Opens a ledger that must sign: a protected log key is unsealed with the passphrase.
fn open_signing(dir: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<Ledger> {
    let mut ledger = Ledger::open(dir)?;
    if !ledger.load_key()? {
        let key_path = dir.join("log.key");
        let keyring = Keyring {
            identities: Vec::new(),
            passphrase: Some(passphrase(passphrase_file, &key_path)?),
        };
        let mut text = Zeroizing::new(Vec::new());
        veil_vault::open(ledger.key_file()?.as_slice(), &mut *text, &keyring)?;
        ledger.unlock(&text)?;
    }
    Ok(ledger)
}
