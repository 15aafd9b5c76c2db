//! `veil vault seal | open | inspect | rewrap | bench`

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;
use veil_core::atomic::write_atomic;
use veil_vault::age_compat;
use veil_vault::{Keyring, PublicIdentity, SealOptions, SealedReader};

use super::provenance::{self, Step};
use super::secrets::{input, load_identity, with_output};
use crate::cli::{KeyPassphraseArgs, SealFormat, VaultCommand};
use crate::report;

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
            let request = SealRequest {
                to,
                passphrase_file: passphrase_file.as_deref(),
                sign: sign.as_deref(),
                segment_size: *segment_size,
                key_passphrase,
                ledger: ledger.ledger.as_deref(),
            };
            match format {
                SealFormat::Veil => seal_veil(&request, source, out, json),
                SealFormat::Age => seal_age(&request, source, out, json),
            }
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
        } => open(
            &OpenRequest {
                identities,
                passphrase_file: passphrase_file.as_deref(),
                expect_signer: expect_signer.as_deref(),
                range: range.as_deref(),
                key_passphrase,
                ledger: ledger.ledger.as_deref(),
            },
            source,
            out,
            json,
        ),
        VaultCommand::Inspect { file } => inspect(file, json),
        VaultCommand::Rewrap {
            identities,
            passphrase_file,
            to,
            remove,
            key_passphrase,
            file,
            out,
        } => rewrap(
            identities,
            passphrase_file.as_deref(),
            to,
            remove,
            key_passphrase,
            file,
            out.as_deref(),
            json,
        ),
        VaultCommand::Bench { mib } => bench(*mib, json),
    }
}

struct SealRequest<'a> {
    to: &'a [String],
    passphrase_file: Option<&'a Path>,
    sign: Option<&'a Path>,
    segment_size: u32,
    key_passphrase: &'a KeyPassphraseArgs,
    ledger: Option<&'a Path>,
}

/// Records a seal or open step in the `--ledger`, if one was given.
fn record(
    ledger: Option<&mut veil_ledger::Ledger>,
    op: &str,
    source: &str,
    out: &str,
    meta: Vec<(String, String)>,
) -> anyhow::Result<Option<u64>> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let outputs = vec![provenance::file_subject(out)?];
    let mut meta = meta;
    meta.push(("op".into(), op.into()));
    let step = Step {
        kind: "transform",
        name: format!("{op}ed {}", outputs[0].name),
        inputs: vec![provenance::file_subject(source)?],
        outputs,
        meta,
    };
    Ok(Some(provenance::record(ledger, step)?))
}

/// The input, with a progress bar when it is a file of known size.
fn source_with_progress(
    spec: &str,
    what: &str,
    json: bool,
) -> anyhow::Result<Box<dyn Read + Send>> {
    let reader = input(spec)?;
    if spec == "-" {
        return Ok(reader);
    }
    let len = std::fs::metadata(spec).map(|m| m.len()).unwrap_or(0);
    if len < 64 << 20 {
        return Ok(reader);
    }
    let bar = report::bar(len, what, json);
    Ok(Box::new(bar.wrap_read(reader)))
}

fn seal_veil(request: &SealRequest<'_>, source: &str, out: &str, json: bool) -> anyhow::Result<()> {
    let mut ledger = provenance::open(request.ledger)?;
    provenance::require_files(ledger.as_ref(), &[source, out])?;
    let mut recipients = Vec::new();
    for r in request.to {
        if r.starts_with("age1") {
            bail!("{r} is an age recipient: seal with --format age, or give a Veil .pub file");
        }
        recipients.push(PublicIdentity::load(Path::new(r))?);
    }
    let passphrase = request
        .passphrase_file
        .map(veil_vault::Passphrase::from_file)
        .transpose()?;
    let signer = request
        .sign
        .map(|p| load_identity(p, request.key_passphrase))
        .transpose()?;
    let options = SealOptions {
        recipients: &recipients,
        passphrase: passphrase
            .as_ref()
            .map(|p| (p, veil_vault::KdfParams::default())),
        signer: signer.as_ref(),
        segment_size: request.segment_size,
    };
    let reader = source_with_progress(source, "sealing", json)?;
    let summary = with_output(out, |w| Ok(veil_vault::seal(reader, w, &options)?))?;
    let mut names: Vec<String> = recipients.iter().map(|r| r.key_id().to_string()).collect();
    if passphrase.is_some() {
        names.push("passphrase".into());
    }
    let signer_id = signer.as_ref().map(|s| s.public().key_id().to_string());
    let mut meta = vec![
        ("format".to_string(), "veil".to_string()),
        ("recipients".to_string(), names.join(",")),
    ];
    if let Some(id) = &signer_id {
        meta.push(("signer".into(), id.clone()));
    }
    let index = record(ledger.as_mut(), "seal", source, out, meta)?;
    let mut value = json!({
        "output": out, "format": "veil", "plaintext_bytes": summary.plaintext_len,
        "sealed_bytes": summary.sealed_len, "segments": summary.segments,
        "recipients": names, "signer": signer_id,
    });
    provenance::with_index(&mut value, index);
    if json {
        report::json(&value)
    } else {
        if out != "-" {
            eprintln!(
                "sealed {} bytes for {} into {}{}",
                summary.plaintext_len,
                names.join(", "),
                out,
                signer_id
                    .map(|s| format!(", signed by {s}"))
                    .unwrap_or_default()
            );
        }
        provenance::say(index);
        Ok(())
    }
}

fn seal_age(request: &SealRequest<'_>, source: &str, out: &str, json: bool) -> anyhow::Result<()> {
    if request.passphrase_file.is_some() || request.sign.is_some() {
        bail!(
            "--format age supports --to age1... recipients only (no --passphrase-file or --sign)"
        );
    }
    let mut recipients = Vec::new();
    for r in request.to {
        if r.starts_with("age1") {
            recipients.push(r.clone());
        } else {
            // An age recipients file: one age1... per line, # comments.
            let text = std::fs::read_to_string(r).map_err(|e| veil_core::Error::io(r, e))?;
            recipients.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("age1"))
                    .map(str::to_string),
            );
        }
    }
    let mut ledger = provenance::open(request.ledger)?;
    provenance::require_files(ledger.as_ref(), &[source, out])?;
    let reader = source_with_progress(source, "sealing", json)?;
    let n = with_output(out, |w| Ok(age_compat::seal(reader, w, &recipients)?))?;
    let meta = vec![
        ("format".to_string(), "age".to_string()),
        ("recipients".to_string(), recipients.join(",")),
    ];
    let index = record(ledger.as_mut(), "seal", source, out, meta)?;
    let mut value =
        json!({"output": out, "format": "age", "plaintext_bytes": n, "recipients": recipients});
    provenance::with_index(&mut value, index);
    if json {
        report::json(&value)
    } else {
        if out != "-" {
            eprintln!(
                "sealed {n} bytes as an age file for {} recipient(s) into {out}",
                recipients.len()
            );
        }
        provenance::say(index);
        Ok(())
    }
}

struct OpenRequest<'a> {
    identities: &'a [PathBuf],
    passphrase_file: Option<&'a Path>,
    expect_signer: Option<&'a Path>,
    range: Option<&'a str>,
    key_passphrase: &'a KeyPassphraseArgs,
    ledger: Option<&'a Path>,
}

/// Veil identities and passphrase from the request; age identity files are returned as text.
fn keyring(
    identities: &[PathBuf],
    passphrase_file: Option<&Path>,
    key_passphrase: &KeyPassphraseArgs,
) -> anyhow::Result<(Keyring, Vec<zeroize::Zeroizing<String>>)> {
    let mut ring = Keyring::default();
    let mut age = Vec::new();
    for path in identities {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| veil_core::Error::io(path, e))?,
        );
        if age_compat::is_age_identity(&text) {
            age.push(text);
        } else {
            ring.identities.push(load_identity(path, key_passphrase)?);
        }
    }
    ring.passphrase = passphrase_file
        .map(veil_vault::Passphrase::from_file)
        .transpose()?;
    if ring.identities.is_empty() && ring.passphrase.is_none() && age.is_empty() {
        bail!("give an identity (-i KEY) or --passphrase-file to open with");
    }
    Ok((ring, age))
}

fn parse_range(range: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = range
        .split_once(':')
        .context("--range takes OFFSET:LEN, e.g. 1048576:4096")?;
    let offset = a
        .trim()
        .parse()
        .with_context(|| format!("--range offset \"{a}\" is not a byte count"))?;
    let len = b
        .trim()
        .parse()
        .with_context(|| format!("--range length \"{b}\" is not a byte count"))?;
    Ok((offset, len))
}

fn open(request: &OpenRequest<'_>, source: &str, out: &str, json: bool) -> anyhow::Result<()> {
    let mut ledger = provenance::open(request.ledger)?;
    provenance::require_files(ledger.as_ref(), &[source, out])?;
    let mut finish =
        |bytes: u64, format: &str, signer: Option<veil_vault::KeyId>, verified: bool| {
            let mut meta = vec![("format".to_string(), format.to_string())];
            if let Some(s) = signer {
                meta.push(("signer".into(), s.to_string()));
                meta.push(("signature_verified".into(), verified.to_string()));
            }
            if let Some(range) = request.range {
                meta.push(("range".into(), range.to_string()));
            }
            let index = record(ledger.as_mut(), "open", source, out, meta)?;
            finish_open(json, out, bytes, format, signer, verified, index)
        };
    let (ring, age_identities) = keyring(
        request.identities,
        request.passphrase_file,
        request.key_passphrase,
    )?;
    let signer = request
        .expect_signer
        .map(PublicIdentity::load)
        .transpose()?;
    // A small buffer: enough to recognise an age file; whole segments bypass it.
    let mut reader =
        BufReader::with_capacity(64 << 10, source_with_progress(source, "opening", json)?);
    let is_age = age_compat::is_age_file(
        reader
            .fill_buf()
            .map_err(|e| veil_core::Error::io(source, e))?,
    );

    if is_age {
        if request.range.is_some() || signer.is_some() {
            bail!(
                "age files have no random access or signatures; --range and --expect-signer need a .veil file"
            );
        }
        let Some(identity) = age_identities.first() else {
            bail!("{source} is an age file: give its age identity file with -i");
        };
        let n = with_output(out, |w| Ok(age_compat::open(reader, w, identity)?))?;
        return finish(n, "age", None, false);
    }

    if let Some(range) = request.range {
        if source == "-" {
            bail!("--range needs a sealed file, not standard input");
        }
        let (offset, len) = parse_range(range)?;
        let file = File::open(source).map_err(|e| veil_core::Error::io(source, e))?;
        let mut sealed = SealedReader::new(BufReader::new(file), &ring)?;
        if let Some(s) = &signer {
            sealed.verify_signature(s)?;
        }
        if offset > sealed.plaintext_len() {
            bail!(
                "--range offset {offset} is past the end of the plaintext ({} bytes)",
                sealed.plaintext_len()
            );
        }
        sealed.seek(SeekFrom::Start(offset))?;
        let signed_by = sealed.signer();
        let n = with_output(out, |w| {
            std::io::copy(&mut (&mut sealed).take(len), w).map_err(unwrap_vault_error)
        })?;
        return finish(n, "veil", signed_by, signer.is_some());
    }

    if out == "-" && signer.is_some() {
        // Nothing may reach stdout before the signature is checked: verify first.
        if source == "-" {
            bail!(
                "--expect-signer with output to stdout needs a sealed file to verify first, not standard input"
            );
        }
        let file = File::open(source).map_err(|e| veil_core::Error::io(source, e))?;
        let mut sealed = SealedReader::new(BufReader::new(file), &ring)?;
        if let Some(s) = &signer {
            sealed.verify_signature(s)?;
        }
    }
    let summary = with_output(out, |w| {
        Ok(veil_vault::open(reader, w, &ring, signer.as_ref())?)
    })?;
    finish(
        summary.plaintext_len,
        "veil",
        summary.signer,
        summary.signature_verified,
    )
}

/// The vault error inside an I/O error from [`SealedReader`]'s `Read`, so that its exit code
/// survives.
fn unwrap_vault_error(e: std::io::Error) -> anyhow::Error {
    if e.get_ref()
        .is_some_and(|inner| inner.is::<veil_vault::Error>())
    {
        if let Some(inner) = e.into_inner()
            && let Ok(vault) = inner.downcast::<veil_vault::Error>()
        {
            return anyhow::Error::from(*vault);
        }
        anyhow::anyhow!("reading the sealed file failed")
    } else {
        e.into()
    }
}

fn finish_open(
    json: bool,
    out: &str,
    bytes: u64,
    format: &str,
    signer: Option<veil_vault::KeyId>,
    verified: bool,
    ledger_index: Option<u64>,
) -> anyhow::Result<()> {
    let mut value = json!({
        "output": out, "format": format, "plaintext_bytes": bytes,
        "signer": signer.map(|s| s.to_string()), "signature_verified": verified,
    });
    provenance::with_index(&mut value, ledger_index);
    if json {
        return report::json(&value);
    }
    if out != "-" {
        let sig = match (signer, verified) {
            (Some(s), true) => format!("; signature by {s} verified"),
            (Some(s), false) => format!("; signed by {s} (not checked: use --expect-signer)"),
            (None, _) => String::new(),
        };
        eprintln!("opened {bytes} bytes into {out}{sig}");
    }
    provenance::say(ledger_index);
    Ok(())
}

fn inspect(file: &str, json: bool) -> anyhow::Result<()> {
    let info = veil_vault::inspect(input(file)?)?;
    if json {
        return report::json(&json!({
            "file": file, "version": info.version, "segment_size": info.segment_size,
            "plaintext_bytes": info.plaintext_len, "segments": info.segments,
            "recipients": info.recipients, "signer": info.signer.map(|s| s.to_string()),
            "header_bytes": info.header_len,
        }));
    }
    println!("{file}: Veil sealed file, version {}", info.version);
    println!(
        "  plaintext   {} bytes in {} segment(s) of {} bytes",
        info.plaintext_len, info.segments, info.segment_size
    );
    println!("  recipients  {}", info.recipients.join(", "));
    println!(
        "  signer      {}",
        info.signer
            .map_or_else(|| "(unsigned)".to_string(), |s| s.to_string())
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn rewrap(
    identities: &[PathBuf],
    passphrase_file: Option<&Path>,
    to: &[PathBuf],
    remove: &[String],
    key_passphrase: &KeyPassphraseArgs,
    file: &Path,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (ring, _) = keyring(identities, passphrase_file, key_passphrase)?;
    let add: Vec<PublicIdentity> = to
        .iter()
        .map(|p| PublicIdentity::load(p))
        .collect::<Result<_, _>>()?;
    let source = BufReader::new(File::open(file).map_err(|e| veil_core::Error::io(file, e))?);
    let target = out.unwrap_or(file);
    let header = write_atomic(target, |w| -> anyhow::Result<_> {
        Ok(veil_vault::rewrap(source, w, &ring, &add, None, remove)?)
    })?;
    let recipients: Vec<String> = header.stanzas.iter().map(|s| s.label()).collect();
    if json {
        report::json(&json!({"output": target, "recipients": recipients}))
    } else {
        println!(
            "{}: recipients now {}",
            target.display(),
            recipients.join(", ")
        );
        Ok(())
    }
}

/// Best-of-three throughput in GiB/s of `f` over `bytes`.
fn throughput(bytes: usize, mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            bytes as f64 / (1u64 << 30) as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn bench(mib: usize, json: bool) -> anyhow::Result<()> {
    let len = mib.max(1) << 20;
    let plain = vec![0x5au8; len];
    let key = veil_vault::aead::Key::new(&veil_core::random::bytes());
    let mut buf = plain.clone();
    let raw = throughput(len, || {
        for (i, chunk) in buf.chunks_mut(1 << 20).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            std::hint::black_box(key.seal(nonce, b"", chunk));
        }
    });
    // The same cipher writing to a second buffer (what any sealer that keeps its input intact
    // must do): it moves one more buffer's worth of memory.
    let mut target = vec![0u8; len];
    let raw_out_of_place = throughput(len, || {
        for (i, (src, dst)) in plain
            .chunks(1 << 20)
            .zip(target.chunks_mut(1 << 20))
            .enumerate()
        {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut tag = [0u8; 16];
            key.seal_into(nonce, src, dst, &mut tag);
            std::hint::black_box(tag);
        }
    });
    drop(target);
    let me = veil_vault::Identity::generate();
    let recipients = [*me.public()];
    let options = SealOptions {
        recipients: &recipients,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(len + (len >> 10) + 4096);
    let mut seal_once = || {
        out.clear();
        veil_vault::seal(&plain[..], &mut out, &options).map(|_| ())
    };
    let one_pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let single = throughput(len, || {
        let _ = one_pool.install(&mut seal_once);
    });
    let all = throughput(len, || {
        let _ = seal_once();
    });
    let slice_single = throughput(len, || {
        let _ = one_pool.install(|| veil_vault::seal_slice_into(&plain, &mut out, &options));
    });
    let slice_all = throughput(len, || {
        let _ = veil_vault::seal_slice_into(&plain, &mut out, &options);
    });
    let cores = rayon::current_num_threads();
    if json {
        return report::json(&json!({
            "mib": mib, "raw_aes_256_gcm_gib_s": raw, "raw_out_of_place_gib_s": raw_out_of_place, "seal_single_thread_gib_s": single,
            "seal_all_cores_gib_s": all, "cores": cores, "single_thread_fraction_of_raw": single / raw,
            "seal_slice_single_thread_gib_s": slice_single, "seal_slice_all_cores_gib_s": slice_all,
            "seal_slice_single_thread_fraction_of_raw": slice_single / raw,
        }));
    }
    println!(
        "raw AES-256-GCM (aws-lc-rs), 1 core:  {raw:.2} GiB/s in place, {raw_out_of_place:.2} GiB/s out of place"
    );
    println!(
        "veil seal in memory, 1 thread:        {single:.2} GiB/s ({:.0}% of raw)",
        100.0 * single / raw
    );
    println!("veil seal in memory, {cores} threads:       {all:.2} GiB/s");
    println!(
        "veil seal_slice (no copies), 1 thread: {slice_single:.2} GiB/s ({:.0}% of raw); {cores} threads: {slice_all:.2} GiB/s",
        100.0 * slice_single / raw
    );
    let _ = std::io::stdout().flush();
    Ok(())
}
