//! What each ledger operation reports: typed values that `veil ledger … --json` prints as
//! they are and the human output renders.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use veil_core::text::printable;

use crate::entry::Entry;
use crate::error::{AuditFinding, Result};
use crate::ledger::Ledger;
use crate::lineage::Indexed;
use crate::merkle::leaf_hash;
use crate::note::{Checkpoint, NoteVerifier};

/// A ledger just created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    /// Its directory.
    pub dir: std::path::PathBuf,
    /// The log's name.
    pub origin: String,
    /// The verifier key (also in `log.vkey`): all an auditor needs.
    pub vkey: String,
    /// Whether `log.key` is sealed under a passphrase.
    pub protected: bool,
    /// The signing key's file.
    #[serde(skip)]
    pub key_file: std::path::PathBuf,
}

/// An entry appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appended {
    /// Its index.
    pub index: u64,
    /// Its Merkle leaf hash, hex.
    pub leaf_hash: String,
}

/// A signed checkpoint of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedCheckpoint {
    /// The log.
    pub origin: String,
    /// Its size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The signed note.
    pub note: String,
}

/// An inclusion proof, with the checkpoint it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inclusion {
    /// The entry.
    pub index: u64,
    /// The checkpoint's size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The path, base64, leaf to root.
    pub hashes: Vec<String>,
    /// The proof's text (`c2sp.org/tlog-proof@v1`).
    pub proof: String,
}

/// One entry, with its leaf hash and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryView {
    /// The entry.
    #[serde(flatten)]
    pub entry: Indexed,
    /// Its Merkle leaf hash, hex.
    pub leaf_hash: String,
    /// Its exact bytes, base64.
    pub raw: String,
}

/// The entry for people: kind, name, time, subjects, parents, metadata, signer and leaf.
impl std::fmt::Display for EntryView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (index, e) = (self.entry.index, &self.entry.entry);
        writeln!(
            f,
            "entry {index}: {} \"{}\"",
            printable(&e.kind),
            printable(&e.name)
        )?;
        writeln!(
            f,
            "  time     {} ({})",
            veil_core::time::rfc3339(e.time),
            e.time
        )?;
        for s in &e.subjects {
            writeln!(
                f,
                "  subject  {}  {}",
                veil_core::hex(&s.sha256),
                printable(&s.name)
            )?;
        }
        if !e.parents.is_empty() {
            let parents: Vec<String> = e.parents.iter().map(u64::to_string).collect();
            writeln!(f, "  parents  {}", parents.join(", "))?;
        }
        for (k, v) in &e.meta {
            writeln!(f, "  meta     {}={}", printable(k), printable(v))?;
        }
        if let Some(s) = &e.signature {
            writeln!(
                f,
                "  signed   by Ed25519 key {} (claims key id {}; confirm with --expect-signer)",
                veil_core::hex(&s.public_key),
                veil_core::hex(&s.key_id)
            )?;
        }
        writeln!(f, "  leaf     {}", self.leaf_hash)
    }
}

/// One line per entry: index, time, kind, name and parents.
impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for Indexed { index, entry: e } in &self.entries {
            let parents: Vec<String> = e.parents.iter().map(u64::to_string).collect();
            let parents = if parents.is_empty() {
                String::new()
            } else {
                format!("  ← {}", parents.join(", "))
            };
            let time = veil_core::time::rfc3339(e.time);
            writeln!(
                f,
                "{index:>6}  {time}  {:<12} {}{parents}",
                printable(&e.kind),
                printable(&e.name)
            )?;
        }
        Ok(())
    }
}

/// Every entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The log's size.
    pub size: u64,
    /// Its entries, oldest first.
    pub entries: Vec<Indexed>,
}

/// The outcome of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Whether everything checked out.
    pub ok: bool,
    /// The log's size.
    pub size: u64,
    /// The first problem found.
    #[serde(flatten)]
    pub finding: Option<AuditFinding>,
}

impl Created {
    /// What `ledger` looks like to its creator.
    pub fn of(ledger: &Ledger, protected: bool) -> Created {
        Created {
            dir: ledger.dir().to_path_buf(),
            origin: ledger.verifier().name().to_string(),
            vkey: ledger.verifier().to_string(),
            protected,
            key_file: ledger.dir().join("log.key"),
        }
    }
}

impl Ledger {
    /// Appends `entry` (signed already, if it is to be) and reports where.
    pub fn append(&mut self, entry: &Entry) -> Result<Appended> {
        let (index, leaf) = self.add(entry)?;
        Ok(Appended {
            index,
            leaf_hash: veil_core::hex(&leaf),
        })
    }

    /// Signs a checkpoint of the current tree (see [`Ledger::checkpoint`]).
    pub fn signed_checkpoint(&self) -> Result<SignedCheckpoint> {
        let (checkpoint, note) = self.checkpoint()?;
        Ok(SignedCheckpoint {
            origin: checkpoint.origin,
            size: checkpoint.size,
            root: B64.encode(checkpoint.root),
            note,
        })
    }

    /// An inclusion proof of entry `index` in a newly signed checkpoint.
    pub fn inclusion(&self, index: u64) -> Result<Inclusion> {
        let proof = self.prove(index)?;
        let checkpoint = Checkpoint::parse(&self.verifier().open(&proof.checkpoint)?)?;
        Ok(Inclusion {
            index,
            size: checkpoint.size,
            root: B64.encode(checkpoint.root),
            hashes: proof.hashes.iter().map(|h| B64.encode(h)).collect(),
            proof: proof.to_text(),
        })
    }

    /// Entry `index` with its leaf hash and exact bytes.
    pub fn entry_view(&self, index: u64) -> Result<EntryView> {
        let bytes = self.entry_bytes(index)?;
        Ok(EntryView {
            entry: Indexed {
                index,
                entry: Entry::decode(&bytes)?,
            },
            leaf_hash: veil_core::hex(&leaf_hash(&bytes)),
            raw: B64.encode(&bytes),
        })
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Result<Listing> {
        let size = self.size()?;
        let entries = (0..size)
            .map(|index| {
                Ok(Indexed {
                    index,
                    entry: self.entry(index)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Listing { size, entries })
    }

    /// [`Ledger::audit`] as a report.
    pub fn audit_report(&self, verifier: &NoteVerifier, kept: &[String]) -> Result<Audit> {
        let finding = self.audit(verifier, kept)?;
        Ok(Audit {
            ok: finding.is_none(),
            size: self.size()?,
            finding,
        })
    }
}

impl Entry {
    /// Metadata from `KEY=VALUE` pairs (as `veil ledger add --meta` takes them), sorted by
    /// key; a key given twice is refused.
    pub fn parse_meta(pairs: &[String]) -> Result<Vec<(String, String)>> {
        let mut meta: Vec<(String, String)> = Vec::new();
        for pair in pairs {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                crate::Error::invalid("--meta", format!("{pair}: expected KEY=VALUE"))
            })?;
            if meta.iter().any(|(key, _)| key == k) {
                return Err(crate::Error::invalid(
                    "--meta",
                    format!("{k} is given twice"),
                ));
            }
            meta.push((k.to_string(), v.to_string()));
        }
        meta.sort();
        Ok(meta)
    }
}
