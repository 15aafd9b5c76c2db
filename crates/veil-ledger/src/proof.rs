//! Offline-verifiable inclusion proofs in the C2SP `tlog-proof@v1` text format:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <N>
//! <base64 hash, one per line, leaf to root>
//!
//! <signed checkpoint>
//! ```
//!
//! Verifying needs nothing but the log's verifier key and the entry: the checkpoint's
//! signature and origin are checked, then the Merkle path from the entry's leaf hash to the
//! checkpoint's root ([`verify_offline`] adds the entry's subjects and signer).
//!
//! Consistency proofs (RFC 9162 §2.1.4) have a text format of Veil's own, in the same shape:
//!
//! ```text
//! veil.dev/consistency-proof@v1
//! old <M>
//! new <N>
//! <base64 hash, one per line>
//!
//! <signed checkpoint of size N>
//! ```
//!
//! Checked against a signed checkpoint of size M that its holder kept, it shows that the log
//! grew from M to N entries without rewriting any ([`ConsistencyProof::verify`]). The JSON of
//! `veil ledger prove --from M --json` (`old_size`, `new_size`, `proof`, `checkpoint`) is
//! read as well.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use serde::Serialize;

use crate::entry::Entry;
use crate::error::{Error, ProofFailure, Result};
use crate::lineage::Indexed;
use crate::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use crate::note::{Checkpoint, NoteVerifier, canonical_u64};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An inclusion proof with the signed checkpoint it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional opaque application data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The Merkle inclusion path.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// The body both proof texts share: one base64 hash per line, a blank line, the checkpoint.
fn push_hashes_and_checkpoint(out: &mut String, hashes: &[Hash], checkpoint: &str) {
    for h in hashes {
        out.push_str(&B64.encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
}

impl TlogProof {
    /// The proof's text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        push_hashes_and_checkpoint(&mut out, &self.hashes, &self.checkpoint);
        out
    }

    /// Parses a proof's text.
    pub fn parse(text: &str) -> Result<TlogProof> {
        let bad = |why: &str| Error::malformed("tlog-proof", why);
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(b64)
                    .map_err(|_| bad("the extra data is not base64"))?,
            );
            line = lines.next().ok_or_else(|| bad("no index line"))?;
        }
        let index_text = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("no index line"))?;
        let index = canonical_u64(index_text)
            .ok_or_else(|| bad("the index is not a canonical decimal number"))?;
        let hashes = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or_else(|| bad("a proof hash is not 32 bytes of base64"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Verifies the proof for the entry whose leaf hash is `leaf`, against the log's key;
    /// returns the checkpoint it proves inclusion in.
    pub fn verify(&self, log: &NoteVerifier, leaf: &Hash) -> Result<Checkpoint> {
        let checkpoint = Checkpoint::parse(&log.open(&self.checkpoint)?)?;
        if checkpoint.origin != log.name() {
            return Err(Error::ProofFailed(ProofFailure::OtherLog));
        }
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf,
            &self.hashes,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}

/// What [`verify_offline`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Always true: a failed check is an error.
    pub verified: bool,
    /// The log.
    pub origin: String,
    /// The entry's index.
    pub index: u64,
    /// The size of the checkpoint the entry is proven in.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The entry.
    pub entry: Indexed,
    /// The files found among the entry's subjects.
    pub files: Vec<veil_core::digest::FileDigest>,
    /// The entry's signer, when it was required to be a given one.
    #[serde(skip)]
    pub signer_checked: bool,
}

/// Who an entry must be signed by: an Ed25519 public key, the key id of the identity it
/// belongs to, and how to name it in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSigner {
    /// The key.
    pub public_key: [u8; 32],
    /// The identity's key id: the one the entry must name (an entry carries the id its
    /// signer claimed; only the expected identity can confirm it).
    pub key_id: [u8; 8],
    /// Its name for people (a key id and a file).
    pub label: String,
}

/// Everything an auditor checks with the log's key and three files, and no database: the
/// proof's checkpoint is signed by `log` and names it, the entry (its exact bytes,
/// `entry_bytes`) is in it, each of `files` is one of its subjects, and, with `signer`, the
/// entry carries that signer's valid signature.
pub fn verify_offline(
    log: &NoteVerifier,
    proof: &TlogProof,
    entry_bytes: &[u8],
    files: &[std::path::PathBuf],
    signer: Option<&ExpectedSigner>,
) -> Result<Verified> {
    // Entry::decode checks the entry's own signature; here, also whose it is.
    let entry = Entry::decode(entry_bytes)?;
    let checkpoint = proof.verify(log, &leaf_hash(entry_bytes))?;
    if let Some(expected) = signer
        && entry.signature.as_ref().map(|s| (s.public_key, s.key_id))
            != Some((expected.public_key, expected.key_id))
    {
        return Err(Error::EntrySigner {
            expected: expected.label.clone(),
        });
    }
    let mut matched = Vec::new();
    for file in files {
        let subject = crate::manifest::subject_of(file)?;
        let sha256 = veil_core::hex(&subject.sha256);
        if !entry.subjects.iter().any(|s| s.sha256 == subject.sha256) {
            return Err(Error::NotASubject {
                file: file.display().to_string(),
                sha256,
            });
        }
        let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        matched.push(veil_core::digest::FileDigest {
            path: file.clone(),
            sha256,
            bytes,
        });
    }
    Ok(Verified {
        verified: true,
        origin: checkpoint.origin,
        index: proof.index,
        size: checkpoint.size,
        root: B64.encode(checkpoint.root),
        entry: Indexed {
            index: proof.index,
            entry,
        },
        files: matched,
        signer_checked: signer.is_some(),
    })
}

const CONSISTENCY_HEADER: &str = "veil.dev/consistency-proof@v1";

/// A consistency proof between two sizes of a log, with the signed checkpoint of the larger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub old_size: u64,
    /// The later size (the checkpoint's).
    pub new_size: u64,
    /// The RFC 9162 consistency path.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note of size `new_size`.
    pub checkpoint: String,
}

impl Serialize for ConsistencyProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let hashes: Vec<String> = self.hashes.iter().map(|h| B64.encode(h)).collect();
        let mut st = s.serialize_struct("ConsistencyProof", 5)?;
        st.serialize_field("format", CONSISTENCY_HEADER)?;
        st.serialize_field("old_size", &self.old_size)?;
        st.serialize_field("new_size", &self.new_size)?;
        st.serialize_field("proof", &hashes)?;
        st.serialize_field("checkpoint", &self.checkpoint)?;
        st.end()
    }
}

/// What [`ConsistencyProof::verify`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consistent {
    /// Always true: a failed check is an error.
    pub verified: bool,
    /// The log.
    pub origin: String,
    /// The kept checkpoint's size.
    pub old_size: u64,
    /// The new checkpoint's size.
    pub new_size: u64,
    /// The new root, base64.
    pub new_root: String,
}

impl ConsistencyProof {
    /// The proof's text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{CONSISTENCY_HEADER}\nold {}\nnew {}\n",
            self.old_size, self.new_size
        );
        push_hashes_and_checkpoint(&mut out, &self.hashes, &self.checkpoint);
        out
    }

    /// Parses a proof's text, or the JSON form.
    pub fn parse(text: &str) -> Result<ConsistencyProof> {
        let bad = |why: &str| Error::malformed("consistency proof", why);
        let hash = |h: &str| {
            B64.decode(h)
                .ok()
                .and_then(|h| Hash::try_from(h.as_slice()).ok())
                .ok_or_else(|| bad("a proof hash is not 32 bytes of base64"))
        };
        if text.trim_start().starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
            if let Some(format) = value.get("format")
                && format != CONSISTENCY_HEADER
            {
                return Err(bad("a format this Veil does not read"));
            }
            let size = |key: &str| {
                value
                    .get(key)
                    .and_then(|v| v.as_u64())
                    .ok_or_else(|| bad(key))
            };
            return Ok(ConsistencyProof {
                old_size: size("old_size")?,
                new_size: size("new_size")?,
                hashes: value
                    .get("proof")
                    .and_then(|p| p.as_array())
                    .ok_or_else(|| bad("no \"proof\" list"))?
                    .iter()
                    .map(|h| {
                        h.as_str()
                            .map_or_else(|| Err(bad("a proof hash is not text")), hash)
                    })
                    .collect::<Result<_>>()?,
                checkpoint: value
                    .get("checkpoint")
                    .and_then(|c| c.as_str())
                    .ok_or_else(|| bad("no \"checkpoint\""))?
                    .to_string(),
            });
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.lines();
        if lines.next() != Some(CONSISTENCY_HEADER) {
            return Err(bad("the first line is not veil.dev/consistency-proof@v1"));
        }
        let mut size = |key: &str| -> Result<u64> {
            let line = lines.next().ok_or_else(|| bad("cut short"))?;
            let text = line
                .strip_prefix(key)
                .and_then(|l| l.strip_prefix(' '))
                .ok_or_else(|| bad("expected the old and new sizes"))?;
            canonical_u64(text).ok_or_else(|| bad("a size is not a canonical decimal number"))
        };
        let old_size = size("old")?;
        let new_size = size("new")?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            hashes: lines.map(hash).collect::<Result<_>>()?,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Checks the proof against `old`, a signed checkpoint its holder kept: both
    /// checkpoints are signed by `log` and name it, the sizes are theirs, and the path
    /// leads from the old root to the new one.
    pub fn verify(&self, log: &NoteVerifier, old: &str) -> Result<Consistent> {
        let signed = |note: &str| -> Result<Checkpoint> {
            let checkpoint = Checkpoint::parse(&log.open(note)?)?;
            if checkpoint.origin != log.name() {
                return Err(Error::ProofFailed(ProofFailure::OtherLog));
            }
            Ok(checkpoint)
        };
        let old = signed(old)?;
        let new = signed(&self.checkpoint)?;
        if self.old_size != old.size {
            return Err(Error::invalid(
                "consistency proof",
                format!(
                    "the proof starts at size {} but the kept checkpoint has size {}: make it with --from {}",
                    self.old_size, old.size, old.size
                ),
            ));
        }
        if self.new_size != new.size {
            return Err(Error::ProofFailed(ProofFailure::SizesDiffer));
        }
        verify_consistency(old.size, new.size, &old.root, &new.root, &self.hashes)?;
        Ok(Consistent {
            verified: true,
            origin: new.origin,
            old_size: old.size,
            new_size: new.size,
            new_root: B64.encode(new.root),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consistency_proof_round_trips_and_catches_a_rewritten_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = crate::Ledger::init(dir.path(), "example.com/grow").unwrap();
        let add = |ledger: &mut crate::Ledger, name: &str| {
            let entry = Entry {
                kind: "dataset".into(),
                name: name.into(),
                time: 1,
                subjects: vec![crate::Subject {
                    name: name.into(),
                    sha256: veil_core::Sha256Digest::of_bytes(name.as_bytes()).0,
                }],
                parents: vec![],
                meta: vec![],
                signature: None,
            };
            ledger.add(&entry).unwrap();
        };
        for name in ["a", "b", "c"] {
            add(&mut ledger, name);
        }
        let (_, old) = ledger.checkpoint().unwrap();
        for name in ["d", "e"] {
            add(&mut ledger, name);
        }
        let proof = ledger.consistency(3).unwrap();
        let text = proof.to_text();
        assert!(text.starts_with("veil.dev/consistency-proof@v1\nold 3\nnew 5\n"));
        assert_eq!(ConsistencyProof::parse(&text).unwrap(), proof);
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(ConsistencyProof::parse(&json).unwrap(), proof);
        let log = ledger.verifier().clone();
        let ok = proof.verify(&log, &old).unwrap();
        assert_eq!((ok.old_size, ok.new_size), (3, 5));
        // A proof from another size, a tampered path, and a forked log are refused.
        assert!(ledger.consistency(2).unwrap().verify(&log, &old).is_err());
        let mut forged = proof.clone();
        forged.hashes[0][0] ^= 1;
        assert!(matches!(
            forged.verify(&log, &old),
            Err(Error::ProofFailed(_))
        ));
        let other = tempfile::tempdir().unwrap();
        let mut fork = crate::Ledger::init(other.path(), "example.com/grow").unwrap();
        for name in ["a", "x", "c", "d", "e"] {
            add(&mut fork, name);
        }
        assert!(
            fork.consistency(3)
                .unwrap()
                .verify(fork.verifier(), &old)
                .is_err()
        );
        for bad in [
            "",
            "veil.dev/consistency-proof@v2\nold 3\nnew 5\n\ncp\n",
            "veil.dev/consistency-proof@v1\nold 03\nnew 5\n\ncp\n",
            "veil.dev/consistency-proof@v1\nnew 5\nold 3\n\ncp\n",
            "veil.dev/consistency-proof@v1\nold 3\nnew 5\nAQID\n\ncp\n",
            "{\"old_size\": 3}",
            "{\"format\": \"other\", \"old_size\": 3, \"new_size\": 5, \"proof\": [], \"checkpoint\": \"\"}",
        ] {
            assert!(
                matches!(ConsistencyProof::parse(bad), Err(Error::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn text_round_trip_and_malformed_proofs() {
        let proof = TlogProof {
            extra: Some(b"veil".to_vec()),
            index: 73894,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint:
                "origin\n1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n\u{2014} origin AAAA\n"
                    .into(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra dmVpbA==\nindex 73894\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), proof);
        for bad in [
            "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex one\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot-base64!\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nAQID\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad:?}");
        }
    }
}
