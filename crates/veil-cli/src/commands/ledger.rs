//! `veil ledger init | add | checkpoint | prove | entry | verify | verify-consistency |
//! lineage | list | audit | sign-model | verify-model`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use veil_core::hex;
use veil_ledger::manifest::{subject_of, subject_of_ignoring};
use veil_ledger::merkle::leaf_hash;
use veil_ledger::model_signing::{self, SigningKey, VerifyingKey};
use veil_ledger::{Entry, EntrySigner, Ledger, NoteVerifier, Subject, TlogProof};
use veil_vault::{Identity, KdfParams, Keyring, Passphrase, PublicIdentity, SealOptions};
use zeroize::Zeroizing;

use super::secrets::{load_identity, passphrase};
use crate::cli::{LedgerAddArgs, LedgerCommand};
use crate::report;

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
            let ledger = open_signing(dir, passphrase_file.as_deref())?;
            let (checkpoint, note) = ledger.checkpoint()?;
            if json {
                report::json(&json!({
                    "origin": checkpoint.origin, "size": checkpoint.size,
                    "root": B64.encode(checkpoint.root), "note": note,
                }))
            } else {
                print!("{note}");
                Ok(())
            }
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
                (Some(index), _) => prove_inclusion(&ledger, *index, out.as_deref(), json),
                (None, Some(from)) => prove_consistency(&ledger, *from, out.as_deref(), json),
                (None, None) => unreachable!("clap requires --index or --from"),
            }
        }
        LedgerCommand::Entry {
            dir,
            index,
            raw,
            out,
        } => {
            if *raw && json {
                return Err(veil_ledger::Error::Invalid(
                    "--raw writes the entry's exact bytes; leave out --json".into(),
                )
                .into());
            }
            let ledger = Ledger::open_read_only(dir)?;
            let bytes = ledger.entry_bytes(*index)?;
            if *raw {
                return write_out(out.as_deref(), &bytes);
            }
            let entry = Entry::decode(&bytes)?;
            let text = if json {
                let mut value = entry_json(*index, &entry);
                value["leaf_hash"] = json!(hex(&leaf_hash(&bytes)));
                value["raw"] = json!(B64.encode(&bytes));
                format!("{value}\n")
            } else {
                describe(*index, &entry, &leaf_hash(&bytes))
            };
            write_out(out.as_deref(), text.as_bytes())
        }
        LedgerCommand::Verify {
            vkey,
            proof,
            entry,
            files,
            expect_signer,
        } => verify(vkey, proof, entry, files, expect_signer.as_deref(), json),
        LedgerCommand::VerifyConsistency { vkey, old, proof } => {
            verify_consistency(vkey, old, proof, json)
        }
        LedgerCommand::Lineage { dir, index, dot } => lineage(dir, *index, *dot, json),
        LedgerCommand::List { dir } => list(dir, json),
        LedgerCommand::Audit {
            dir,
            vkey,
            checkpoints,
        } => audit(dir, vkey.as_deref(), checkpoints, json),
        LedgerCommand::SignModel {
            model,
            key,
            out,
            ignore_paths,
            ledger,
        } => sign_model(
            model,
            key,
            out,
            ignore_paths,
            ledger.ledger.as_deref(),
            json,
        ),
        LedgerCommand::VerifyModel {
            model,
            bundle,
            key,
            ignore_paths,
        } => {
            let public = VerifyingKey::from_pem(&read_text(key)?)?;
            let mut ignore = ignore_paths.clone();
            ignore.extend(inside(model, bundle));
            let verified = model_signing::verify(model, &read_text(bundle)?, &public, &ignore)?;
            if json {
                report::json(&json!({
                    "verified": true, "name": verified.name,
                    "sha256": hex(&verified.digest), "files": verified.files,
                }))
            } else {
                println!(
                    "verified: {} ({} files, digest {}) is exactly what the key signed",
                    model.display(),
                    verified.files,
                    hex(&verified.digest)
                );
                Ok(())
            }
        }
    }
}

fn add(args: &LedgerAddArgs, json: bool) -> anyhow::Result<()> {
    // Open first: a wrong directory should not cost a pass over large files.
    let mut ledger = Ledger::open(&args.dir)?;
    let signer = args
        .sign
        .as_deref()
        .map(|path| load_identity(path, &args.key_passphrase))
        .transpose()?;
    let subjects: Vec<Subject> = args
        .files
        .iter()
        .map(|f| subject_of(f))
        .collect::<Result<_, _>>()?;
    let entry = Entry {
        kind: args.kind.clone(),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| subjects[0].name.clone()),
        time: now(),
        subjects,
        parents: args
            .parents
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        meta: parse_meta(&args.meta)?,
        signature: None,
    };
    let (index, leaf) = append(&mut ledger, entry, signer.as_ref())?;
    if json {
        report::json(&json!({"index": index, "leaf_hash": hex(&leaf)}))
    } else {
        println!("added entry {index} (leaf hash {})", hex(&leaf));
        Ok(())
    }
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

/// Signs `entry` (if a signer is given) and appends it.
pub fn append(
    ledger: &mut Ledger,
    mut entry: Entry,
    signer: Option<&Identity>,
) -> anyhow::Result<(u64, [u8; 32])> {
    if let Some(identity) = signer {
        entry.sign(&IdentitySigner(identity))?;
    }
    Ok(ledger.add(&entry)?)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the Unix epoch as an RFC 3339 UTC time, e.g. `2026-11-22T06:01:18Z`
/// (days to a civil date as in H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn parse_meta(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut meta: Vec<(String, String)> = Vec::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            veil_ledger::Error::Invalid(format!("--meta {pair}: expected KEY=VALUE"))
        })?;
        if meta.iter().any(|(key, _)| key == k) {
            return Err(veil_ledger::Error::Invalid(format!("--meta {k} is given twice")).into());
        }
        meta.push((k.to_string(), v.to_string()));
    }
    meta.sort();
    Ok(meta)
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
                veil_vault::seal_slice(text, &options)
                    .map_err(|e| veil_ledger::Error::Storage(format!("sealing log.key: {e}")))
            })?
        }
    };
    if json {
        report::json(&json!({
            "dir": dir, "origin": origin, "vkey": ledger.verifier().to_string(),
            "protected": passphrase_file.is_some(),
        }))
    } else {
        println!("created ledger {} for log {origin}", dir.display());
        println!("verifier key (also in {}):", dir.join("log.vkey").display());
        println!("  {}", ledger.verifier());
        Ok(())
    }
}

/// Opens a ledger that must sign: a protected log key is unsealed with the passphrase.
fn open_signing(dir: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<Ledger> {
    let mut ledger = Ledger::open(dir)?;
    if !ledger.load_key()? {
        let pass = passphrase(
            passphrase_file,
            &format!("passphrase of {}", dir.join("log.key").display()),
        )?;
        let sealed = ledger.key_file()?;
        let mut text = Zeroizing::new(Vec::new());
        let keyring = Keyring {
            identities: Vec::new(),
            passphrase: Some(pass),
        };
        veil_vault::open(sealed.as_slice(), &mut *text, &keyring, None)
            .with_context(|| format!("unsealing {}", dir.join("log.key").display()))?;
        ledger.unlock(&text)?;
    }
    Ok(ledger)
}

fn prove_inclusion(
    ledger: &Ledger,
    index: u64,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let proof = ledger.prove(index)?;
    let text = proof.to_text();
    if json {
        let checkpoint =
            veil_ledger::Checkpoint::parse(&ledger.verifier().open(&proof.checkpoint)?)?;
        if let Some(path) = out {
            write_out(Some(path), text.as_bytes())?;
        }
        report::json(&json!({
            "index": index, "size": checkpoint.size, "root": B64.encode(checkpoint.root),
            "hashes": proof.hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "proof": text,
        }))
    } else {
        write_out(out, text.as_bytes())?;
        if let Some(path) = out {
            eprintln!(
                "wrote the proof of entry {index} ({} hashes) to {}",
                proof.hashes.len(),
                path.display()
            );
        }
        Ok(())
    }
}

fn prove_consistency(
    ledger: &Ledger,
    from: u64,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (size, hashes) = ledger.consistency(from)?;
    let (_, checkpoint) = ledger.checkpoint()?;
    let value = json!({
        "old_size": from, "new_size": size,
        "proof": hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        "checkpoint": checkpoint,
    });
    let text = if json {
        format!("{value}\n")
    } else {
        let mut text = format!("consistency from size {from} to size {size}\n");
        for h in &hashes {
            text.push_str(&B64.encode(h));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&checkpoint);
        text
    };
    write_out(out, text.as_bytes())
}

fn entry_json(index: u64, entry: &Entry) -> Value {
    json!({
        "index": index,
        "kind": entry.kind,
        "name": entry.name,
        "time": entry.time,
        "time_utc": utc(entry.time),
        "subjects": entry.subjects.iter()
            .map(|s| json!({"name": s.name, "sha256": hex(&s.sha256)}))
            .collect::<Vec<_>>(),
        "parents": entry.parents,
        "meta": entry.meta.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "signer": entry.signature.as_ref().map(|s| hex(&s.key_id)),
    })
}

fn describe(index: u64, entry: &Entry, leaf: &[u8; 32]) -> String {
    let mut out = format!("entry {index}: {} \"{}\"\n", entry.kind, entry.name);
    out.push_str(&format!(
        "  time     {} ({})\n",
        utc(entry.time),
        entry.time
    ));
    for s in &entry.subjects {
        out.push_str(&format!("  subject  {}  {}\n", hex(&s.sha256), s.name));
    }
    if !entry.parents.is_empty() {
        let parents: Vec<String> = entry.parents.iter().map(u64::to_string).collect();
        out.push_str(&format!("  parents  {}\n", parents.join(", ")));
    }
    for (k, v) in &entry.meta {
        out.push_str(&format!("  meta     {k}={v}\n"));
    }
    if let Some(s) = &entry.signature {
        out.push_str(&format!("  signed   by key id {}\n", hex(&s.key_id)));
    }
    out.push_str(&format!("  leaf     {}\n", hex(leaf)));
    out
}

fn verify(
    vkey: &Path,
    proof: &Path,
    entry_file: &Path,
    files: &[PathBuf],
    expect_signer: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let verifier = NoteVerifier::parse(&read_text(vkey)?)
        .with_context(|| format!("reading {}", vkey.display()))?;
    let proof = TlogProof::parse(&read_text(proof)?)
        .with_context(|| format!("reading {}", proof.display()))?;
    let bytes = std::fs::read(entry_file).map_err(|e| veil_core::Error::io(entry_file, e))?;
    let entry =
        Entry::decode(&bytes).with_context(|| format!("reading {}", entry_file.display()))?;
    let checkpoint = proof.verify(&verifier, &leaf_hash(&bytes))?;
    if let Some(path) = expect_signer {
        let expected = PublicIdentity::load(path)?;
        // Entry::decode has checked the signature itself; here, whose it is.
        if entry.signature.as_ref().map(|s| s.public_key) != Some(expected.ed25519()) {
            return Err(veil_vault::Error::Signature(format!(
                "the entry is not signed by {} ({})",
                expected.key_id(),
                path.display()
            ))
            .into());
        }
    }
    let mut matched = Vec::new();
    for file in files {
        let subject = subject_of(file)?;
        if !entry.subjects.iter().any(|s| s.sha256 == subject.sha256) {
            return Err(veil_ledger::Error::Verification(format!(
                "{} (sha256 {}) is not a subject of the proven entry",
                file.display(),
                hex(&subject.sha256)
            ))
            .into());
        }
        matched.push(json!({"path": file, "sha256": hex(&subject.sha256)}));
    }
    if json {
        report::json(&json!({
            "verified": true, "origin": checkpoint.origin, "index": proof.index,
            "size": checkpoint.size, "root": B64.encode(checkpoint.root),
            "entry": entry_json(proof.index, &entry), "files": matched,
        }))
    } else {
        println!(
            "verified: entry {} ({} \"{}\") is in log {} of {} entries, root {}",
            proof.index,
            entry.kind,
            entry.name,
            checkpoint.origin,
            checkpoint.size,
            B64.encode(checkpoint.root)
        );
        for file in files {
            println!("verified: {} is a subject of the entry", file.display());
        }
        match (&entry.signature, expect_signer) {
            (Some(sig), Some(_)) => {
                println!("verified: signed by key id {}", hex(&sig.key_id));
            }
            (Some(sig), None) => println!(
                "the entry is signed by key id {} (not checked: use --expect-signer)",
                hex(&sig.key_id)
            ),
            (None, _) => {}
        }
        Ok(())
    }
}

fn verify_consistency(vkey: &Path, old: &Path, proof: &Path, json: bool) -> anyhow::Result<()> {
    let verifier = NoteVerifier::parse(&read_text(vkey)?)
        .with_context(|| format!("reading {}", vkey.display()))?;
    let signed = |note: &str, what: &Path| -> anyhow::Result<veil_ledger::Checkpoint> {
        let checkpoint = veil_ledger::Checkpoint::parse(&verifier.open(note)?)
            .with_context(|| format!("reading {}", what.display()))?;
        if checkpoint.origin != verifier.name() {
            return Err(veil_ledger::Error::ProofFailed(
                "the checkpoint is for another log (origin differs)",
            )
            .into());
        }
        Ok(checkpoint)
    };
    let old_checkpoint = signed(&read_text(old)?, old)?;
    let malformed = |why: &str| veil_ledger::Error::Malformed(format!("consistency proof: {why}"));
    let value: Value = serde_json::from_str(&read_text(proof)?).map_err(|_| {
        malformed("not JSON (make it with `veil ledger prove DIR --from M --json`)")
    })?;
    let new_note = value["checkpoint"]
        .as_str()
        .ok_or_else(|| malformed("no \"checkpoint\""))?;
    let new_checkpoint = signed(new_note, proof)?;
    let hashes = value["proof"]
        .as_array()
        .ok_or_else(|| malformed("no \"proof\" list"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| B64.decode(h).ok())
                .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
                .ok_or_else(|| malformed("a proof hash is not 32 bytes of base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if value["old_size"].as_u64() != Some(old_checkpoint.size) {
        return Err(veil_ledger::Error::Invalid(format!(
            "the proof starts at size {} but the kept checkpoint has size {}: make it with --from {}",
            value["old_size"], old_checkpoint.size, old_checkpoint.size
        ))
        .into());
    }
    if value["new_size"].as_u64() != Some(new_checkpoint.size) {
        return Err(veil_ledger::Error::ProofFailed(
            "the proof's new size is not its checkpoint's size",
        )
        .into());
    }
    veil_ledger::merkle::verify_consistency(
        old_checkpoint.size,
        new_checkpoint.size,
        &old_checkpoint.root,
        &new_checkpoint.root,
        &hashes,
    )?;
    if json {
        report::json(&json!({
            "verified": true, "origin": new_checkpoint.origin,
            "old_size": old_checkpoint.size, "new_size": new_checkpoint.size,
            "new_root": B64.encode(new_checkpoint.root),
        }))
    } else {
        println!(
            "verified: log {} grew from {} to {} entries without rewriting any (new root {})",
            new_checkpoint.origin,
            old_checkpoint.size,
            new_checkpoint.size,
            B64.encode(new_checkpoint.root)
        );
        Ok(())
    }
}

/// The ancestry of `index`: every entry reachable through parents, newest first.
fn ancestry(ledger: &Ledger, index: u64) -> anyhow::Result<Vec<(u64, Entry)>> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![index];
    let mut out = Vec::new();
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            let entry = ledger.entry(i)?;
            stack.extend(entry.parents.iter().copied());
            out.push((i, entry));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(out)
}

fn lineage(dir: &Path, index: u64, dot: bool, json: bool) -> anyhow::Result<()> {
    if dot && json {
        return Err(veil_ledger::Error::Invalid(
            "--dot prints Graphviz; leave out --json (or --dot for the JSON ancestry)".into(),
        )
        .into());
    }
    let ledger = Ledger::open_read_only(dir)?;
    let entries = ancestry(&ledger, index)?;
    if json {
        return report::json(&json!({
            "index": index,
            "entries": entries.iter().map(|(i, e)| entry_json(*i, e)).collect::<Vec<_>>(),
        }));
    }
    if dot {
        let mut out = String::from("digraph lineage {\n  rankdir=BT;\n  node [shape=box];\n");
        for (i, e) in &entries {
            let escape = |t: &str| t.replace('\\', "\\\\").replace('"', "\\\"");
            let label = format!("#{i} {}\\n{}", escape(&e.kind), escape(&e.name));
            out.push_str(&format!("  e{i} [label=\"{label}\"];\n"));
            for p in &e.parents {
                out.push_str(&format!("  e{i} -> e{p};\n"));
            }
        }
        out.push_str("}\n");
        print!("{out}");
        return Ok(());
    }
    print!("{}", tree(&entries, index));
    Ok(())
}

/// The ancestry of `index` drawn as a tree, and how many entries it has (itself included).
pub fn lineage_tree(ledger: &Ledger, index: u64) -> anyhow::Result<(String, usize)> {
    let entries = ancestry(ledger, index)?;
    Ok((tree(&entries, index), entries.len()))
}

fn tree(entries: &[(u64, Entry)], index: u64) -> String {
    let by_index: std::collections::BTreeMap<u64, &Entry> =
        entries.iter().map(|(i, e)| (*i, e)).collect();
    let mut shown = BTreeSet::new();
    let mut out = String::new();
    tree_lines(&by_index, index, "", "", &mut shown, &mut out);
    out
}

/// Draws `index` and its parents as a tree; an entry reached twice is drawn once.
fn tree_lines(
    entries: &std::collections::BTreeMap<u64, &Entry>,
    index: u64,
    first: &str,
    rest: &str,
    shown: &mut BTreeSet<u64>,
    out: &mut String,
) {
    let entry = entries[&index];
    let digest = entry
        .subjects
        .first()
        .map(|s| format!(" sha256:{}…", &hex(&s.sha256)[..12]))
        .unwrap_or_default();
    if !shown.insert(index) {
        out.push_str(&format!(
            "{first}#{index} {} {} (shown above)\n",
            entry.kind, entry.name
        ));
        return;
    }
    out.push_str(&format!(
        "{first}#{index} {} {}{digest}\n",
        entry.kind, entry.name
    ));
    let n = entry.parents.len();
    for (k, p) in entry.parents.iter().enumerate() {
        let last = k + 1 == n;
        let (branch, cont) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        tree_lines(
            entries,
            *p,
            &format!("{rest}{branch}"),
            &format!("{rest}{cont}"),
            shown,
            out,
        );
    }
}

fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let ledger = Ledger::open_read_only(dir)?;
    let size = ledger.size()?;
    let mut rows = Vec::new();
    for i in 0..size {
        let entry = ledger.entry(i)?;
        if json {
            rows.push(entry_json(i, &entry));
        } else {
            let parents: Vec<String> = entry.parents.iter().map(u64::to_string).collect();
            println!(
                "{i:>6}  {}  {:<12} {}{}",
                utc(entry.time),
                entry.kind,
                entry.name,
                if parents.is_empty() {
                    String::new()
                } else {
                    format!("  ← {}", parents.join(", "))
                }
            );
        }
    }
    if json {
        report::json(&json!({"size": size, "entries": rows}))
    } else {
        Ok(())
    }
}

fn audit(dir: &Path, vkey: Option<&Path>, kept: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let ledger = Ledger::open_read_only(dir)?;
    let kept = kept
        .iter()
        .map(|p| read_text(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let verifier = match vkey {
        Some(path) => NoteVerifier::parse(&read_text(path)?)?,
        None => ledger.verifier().clone(),
    };
    let size = ledger.size()?;
    if let Some((index, why)) = ledger.audit(&verifier, &kept)? {
        if json {
            report::json(
                &json!({"ok": false, "size": size, "first_bad_index": index, "problem": why}),
            )?;
        }
        return Err(veil_ledger::Error::Verification(format!(
            "audit failed: first bad index {index}: {why}"
        ))
        .into());
    }
    if json {
        report::json(&json!({"ok": true, "size": size}))
    } else {
        println!("audit passed: {size} entries, every stored hash and checkpoint checks out");
        Ok(())
    }
}

/// The path of `file` relative to `dir`, if `dir` is a directory that holds it.
fn inside(dir: &Path, file: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let file = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .canonicalize()
        .ok()?
        .join(file.file_name()?);
    let rel = file.strip_prefix(&dir).ok()?;
    Some(rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/"))
}

fn sign_model(
    model: &Path,
    key: &Path,
    out: &Path,
    ignore_paths: &[String],
    ledger_dir: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    if let (Ok(a), Ok(b)) = (model.canonicalize(), out.canonicalize())
        && a == b
    {
        return Err(veil_ledger::Error::Invalid(format!(
            "-o {} is the model itself: write the bundle elsewhere",
            out.display()
        ))
        .into());
    }
    let key = SigningKey::from_pem(&Zeroizing::new(read_text(key)?))
        .with_context(|| format!("reading {}", key.display()))?;
    // Open the ledger and find the model's entry before writing anything.
    let mut ledger = ledger_dir.map(Ledger::open).transpose()?;
    let mut ignore = ignore_paths.to_vec();
    ignore.extend(inside(model, out));
    let model_subject = subject_of_ignoring(model, &ignore)?;
    let parents: Vec<u64> = match ledger.as_mut() {
        Some(l) => l.find_subject(&model_subject.sha256)?.into_iter().collect(),
        None => Vec::new(),
    };
    let (bundle, manifest) = model_signing::sign(model, &ignore, &key)?;
    veil_core::atomic::write_atomic_bytes(out, bundle.as_bytes())?;
    let recorded = match ledger.as_mut() {
        Some(ledger) => {
            let entry = Entry {
                kind: "signature".into(),
                name: format!("model signature of {}", model_subject.name),
                time: now(),
                subjects: vec![subject_of(out)?],
                parents,
                meta: vec![
                    ("bundle_subject_sha256".into(), hex(&manifest.digest())),
                    ("format".into(), model_signing::PREDICATE_TYPE.into()),
                    ("key_hint".into(), key.verifying_key().hint()?),
                ],
                signature: None,
            };
            Some(append(ledger, entry, None)?.0)
        }
        None => None,
    };
    if json {
        report::json(&json!({
            "bundle": out, "name": manifest.name, "files": manifest.resources.len(),
            "sha256": hex(&manifest.digest()), "ledger_index": recorded,
        }))
    } else {
        println!(
            "signed {} ({} files, digest {}) into {}",
            model.display(),
            manifest.resources.len(),
            hex(&manifest.digest()),
            out.display()
        );
        if let Some(index) = recorded {
            println!("recorded as ledger entry {index}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_327_035), "2026-11-22T05:57:15Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
