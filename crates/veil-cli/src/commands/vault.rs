//! `veil vault seal | open | inspect | rewrap | bench`

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use veil_core::atomic::{Visibility, write_atomic};
use veil_ledger::Step;
use veil_vault::files::{self, ByteRange, Inspected, Keys, Opened, Rewrapped, Sealed};
use veil_vault::{PublicIdentity, SealOptions, SealedReader, age_compat};

use super::{open_ledger, record};
use crate::cli::{KeyPassphraseArgs, SealFormat, VaultCommand};
use crate::exit::Usage;
use crate::io::{input, passphrase, with_output};
use crate::report::{self, Recorded, show};

pub fn run(cmd: &VaultCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        VaultCommand::Seal {
            to,
            passphrase_file,
            sign,
            format,
            segment_size,
            key_passphrase,
            ledger,
            input: source,
            out,
        } => {
            let mut ledger = open_ledger(ledger.ledger.as_deref(), &[source, out])?;
            let sealed = match format {
                SealFormat::Veil => {
                    let recipients = files::recipients(to)?;
                    let pass = passphrase_file
                        .as_deref()
                        .map(veil_vault::Passphrase::from_file)
                        .transpose()?;
                    let signer = sign
                        .as_deref()
                        .map(|p| load_identity(p, key_passphrase))
                        .transpose()?;
                    let options = SealOptions {
                        recipients: &recipients,
                        passphrase: pass.as_ref().map(|p| (p, veil_vault::KdfParams::default())),
                        signer: signer.as_ref(),
                        segment_size: *segment_size,
                    };
                    let reader = source_with_progress(source, "sealing", json)?;
                    let summary = with_output(out, Visibility::Public, |w| {
                        Ok(veil_vault::seal(reader, w, &options)?)
                    })?;
                    Sealed::veil(out, &summary, &recipients, pass.is_some(), signer.as_ref())
                }
                SealFormat::Age => {
                    if passphrase_file.is_some() || sign.is_some() {
                        return Err(Usage(
                            "--format age supports --to age1... recipients only (no --passphrase-file or --sign)".into(),
                        )
                        .into());
                    }
                    let recipients = age_compat::recipients_from(to)?;
                    let reader = source_with_progress(source, "sealing", json)?;
                    let n = with_output(out, Visibility::Public, |w| {
                        Ok(age_compat::seal(reader, w, &recipients)?)
                    })?;
                    Sealed::age(out, n, recipients)
                }
            };
            let index = record(ledger.as_mut(), || {
                Step::sealing(source, out, sealed.provenance())
            })?;
            let recorded = Recorded {
                report: &sealed,
                ledger_index: index,
            };
            show(json, &recorded, |_| {
                if out != "-" {
                    let signer = match &sealed.detail {
                        files::SealDetail::Veil {
                            signer: Some(s), ..
                        } => format!(", signed by {s}"),
                        _ => String::new(),
                    };
                    eprintln!(
                        "sealed {} bytes ({}) for {} into {out}{signer}",
                        sealed.plaintext_bytes,
                        sealed.format,
                        sealed.recipients.join(", ")
                    );
                }
                report::say_recorded(index);
            })
        }
        VaultCommand::Open {
            identities,
            passphrase_file,
            expect_signer,
            range,
            key_passphrase,
            ledger,
            input: source,
            out,
        } => {
            let mut ledger = open_ledger(ledger.ledger.as_deref(), &[source, out])?;
            let keys = Keys::load(identities, passphrase_file.as_deref(), |path| {
                passphrase(key_passphrase.key_passphrase_file.as_deref(), path)
            })?;
            let signer = expect_signer
                .as_deref()
                .map(PublicIdentity::load)
                .transpose()?;
            let opened = open(source, out, &keys, signer.as_ref(), *range, json)?;
            let index = record(ledger.as_mut(), || {
                Step::opening(source, out, opened.provenance())
            })?;
            let recorded = Recorded {
                report: &opened,
                ledger_index: index,
            };
            show(json, &recorded, |o| {
                if out != "-" {
                    let sig = match (&o.report.signer, o.report.signature_verified) {
                        (Some(s), true) => format!("; signature by {s} verified"),
                        (Some(s), false) => {
                            format!("; signed by {s} (not checked: use --expect-signer)")
                        }
                        (None, _) => String::new(),
                    };
                    eprintln!("opened {} bytes into {out}{sig}", o.report.plaintext_bytes);
                }
                report::say_recorded(index);
            })
        }
        VaultCommand::Inspect { file } => {
            let inspected = Inspected::of(file, veil_vault::inspect(input(file)?)?);
            show(json, &inspected, |i| {
                println!("{file}: Veil sealed file, version {}", i.version);
                println!(
                    "  plaintext   {} bytes in {} segment(s) of {} bytes",
                    i.plaintext_bytes, i.segments, i.segment_size
                );
                println!("  recipients  {}", i.recipients.join(", "));
                println!(
                    "  signer      {}",
                    i.signer.as_deref().unwrap_or("(unsigned)")
                );
            })
        }
        VaultCommand::Rewrap {
            identities,
            passphrase_file,
            to,
            remove,
            key_passphrase,
            file,
            out,
        } => {
            let keys = Keys::load(identities, passphrase_file.as_deref(), |path| {
                passphrase(key_passphrase.key_passphrase_file.as_deref(), path)
            })?;
            let add = to
                .iter()
                .map(|p| PublicIdentity::load(p))
                .collect::<veil_vault::Result<Vec<_>>>()?;
            let source =
                BufReader::new(File::open(file).map_err(|e| veil_core::Error::io(file, e))?);
            let target: PathBuf = out.clone().unwrap_or_else(|| file.clone());
            let header = write_atomic(&target, |w| -> anyhow::Result<_> {
                Ok(veil_vault::rewrap(
                    source,
                    w,
                    &keys.keyring,
                    &add,
                    None,
                    remove,
                )?)
            })?;
            let rewrapped = Rewrapped {
                output: target,
                recipients: header.stanzas.iter().map(|s| s.label()).collect(),
            };
            show(json, &rewrapped, |r| {
                println!(
                    "{}: recipients now {}",
                    r.output.display(),
                    r.recipients.join(", ")
                );
            })
        }
        VaultCommand::Bench { mib } => {
            let speed = veil_vault::bench::seal_speed(*mib)?;
            show(json, &speed, |s| print!("{s}"))
        }
    }
}

fn load_identity(
    path: &Path,
    args: &KeyPassphraseArgs,
) -> veil_vault::Result<veil_vault::Identity> {
    veil_vault::files::load_identity(path, || {
        passphrase(args.key_passphrase_file.as_deref(), path)
    })
}

/// The input, with a progress bar when it is a file of 64 MiB or more.
fn source_with_progress(
    spec: &str,
    what: &str,
    json: bool,
) -> anyhow::Result<Box<dyn Read + Send>> {
    let reader = input(spec)?;
    let len = std::fs::metadata(spec).map(|m| m.len()).unwrap_or(0);
    if spec == "-" || len < 64 << 20 {
        return Ok(reader);
    }
    Ok(Box::new(report::bar(len, what, json).wrap_read(reader)))
}

/// Opens `source` (an age or `.veil` file, or stdin) into `out`. With an expected signer, the
/// signature is checked before any plaintext is written, on one handle of the file.
fn open(
    source: &str,
    out: &str,
    keys: &Keys,
    signer: Option<&PublicIdentity>,
    range: Option<ByteRange>,
    json: bool,
) -> anyhow::Result<Opened> {
    let secret = Visibility::Secret;
    // A small buffer: enough to recognise an age file; whole segments bypass it.
    let mut reader =
        BufReader::with_capacity(64 << 10, source_with_progress(source, "opening", json)?);
    let head = reader
        .fill_buf()
        .map_err(|e| veil_core::Error::io(source, e))?;
    if age_compat::is_age_file(head) {
        if range.is_some() || signer.is_some() {
            return Err(Usage(
                "age files have no random access or signatures; --range and --expect-signer need a .veil file".into(),
            )
            .into());
        }
        let Some(identity) = keys.age.first() else {
            return Err(Usage(format!(
                "{source} is an age file: give its age identity file with -i"
            ))
            .into());
        };
        let n = with_output(out, secret, |w| Ok(age_compat::open(reader, w, identity)?))?;
        return Ok(Opened::age(out, n));
    }
    if range.is_none() && signer.is_none() {
        let summary = with_output(out, secret, |w| {
            Ok(veil_vault::open(reader, w, &keys.keyring)?)
        })?;
        return Ok(Opened::veil(out, &summary, None));
    }
    if source == "-" {
        return Err(Usage(
            "--range and --expect-signer need a sealed file to seek in, not standard input".into(),
        )
        .into());
    }
    let file = BufReader::new(File::open(source).map_err(|e| veil_core::Error::io(source, e))?);
    let Some(range) = range else {
        let signer = signer.ok_or_else(|| Usage("no signer".into()))?;
        let summary = with_output(out, secret, |w| {
            Ok(veil_vault::open_verified(file, w, &keys.keyring, signer)?)
        })?;
        return Ok(Opened::veil(out, &summary, None));
    };
    let mut sealed = SealedReader::new(file, &keys.keyring)?;
    if let Some(s) = signer {
        sealed.verify_signature(s)?;
    }
    if range.offset > sealed.plaintext_len() {
        return Err(Usage(format!(
            "--range offset {} is past the end of the plaintext ({} bytes)",
            range.offset,
            sealed.plaintext_len()
        ))
        .into());
    }
    sealed.seek(SeekFrom::Start(range.offset))?;
    let signed_by = sealed.signer();
    let n = with_output(out, secret, |w| {
        std::io::copy(&mut (&mut sealed).take(range.len), w).map_err(vault_error)
    })?;
    let summary = veil_vault::OpenSummary {
        plaintext_len: n,
        segments: 0,
        signer: signed_by,
        signature_verified: signer.is_some(),
    };
    Ok(Opened::veil(out, &summary, Some(range)))
}

/// The vault error inside an I/O error from [`SealedReader`]'s `Read`, so that its kind (and
/// exit code) survives.
fn vault_error(e: std::io::Error) -> anyhow::Error {
    if !e
        .get_ref()
        .is_some_and(|inner| inner.is::<veil_vault::Error>())
    {
        return e.into();
    }
    match e
        .into_inner()
        .map(|inner| inner.downcast::<veil_vault::Error>())
    {
        Some(Ok(vault)) => anyhow::Error::from(*vault),
        _ => anyhow::anyhow!("reading the sealed file failed"),
    }
}
