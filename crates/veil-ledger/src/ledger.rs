//! A ledger directory: the log, its signing key and its public verifier key.
//!
//! * `<DIR>/ledger.db` — the SQLite store ([`crate::store`]);
//! * `<DIR>/log.key` — the log's Ed25519 signing key, mode 0600: the text
//!   `veil-ledger-key v1`, the origin, and the base64 seed, one per line;
//! * `<DIR>/log.vkey` — the verifier key in C2SP signed-note form, what auditors need.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_core::atomic::{Visibility, write_atomic_with};
use zeroize::Zeroizing;

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::merkle::{Hash, consistency_proof, inclusion_proof, leaf_hash, root};
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use crate::proof::TlogProof;
use crate::store::Store;

const KEY_HEADER: &str = "veil-ledger-key v1";

/// An open ledger.
pub struct Ledger {
    store: Store,
    signer: NoteSigner,
    origin: String,
}

fn write_text(path: &Path, text: &str, visibility: Visibility) -> Result<()> {
    write_atomic_with(path, visibility, |out| {
        std::io::Write::write_all(out, text.as_bytes()).map_err(|e| veil_core::Error::io(path, e))
    })
    .map_err(|e| Error::Storage(e.to_string()))
}

impl Ledger {
    /// Creates a ledger in `dir` (created if missing) for the log named `origin`; refuses a
    /// directory that already holds one.
    pub fn init(dir: &Path, origin: &str) -> Result<Ledger> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Storage(format!("{}: {e}", dir.display())))?;
        if dir.join("ledger.db").exists() || dir.join("log.key").exists() {
            return Err(Error::Invalid(format!(
                "{} already holds a ledger",
                dir.display()
            )));
        }
        let seed: [u8; 32] = veil_core::random::bytes();
        let signer = NoteSigner::new(origin, seed)?;
        let key_text = Zeroizing::new(format!("{KEY_HEADER}\n{origin}\n{}\n", B64.encode(seed)));
        write_text(&dir.join("log.key"), &key_text, Visibility::Secret)?;
        write_text(
            &dir.join("log.vkey"),
            &format!("{}\n", signer.verifier()),
            Visibility::Public,
        )?;
        Ok(Ledger {
            store: Store::open(&dir.join("ledger.db"))?,
            signer,
            origin: origin.to_string(),
        })
    }

    /// Opens the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger> {
        let key_path: PathBuf = dir.join("log.key");
        let text = Zeroizing::new(
            std::fs::read_to_string(&key_path)
                .map_err(|e| Error::Storage(format!("{}: {e}", key_path.display())))?,
        );
        let mut lines = text.lines();
        let bad = || Error::Invalid(format!("{} is not a Veil ledger key", key_path.display()));
        if lines.next() != Some(KEY_HEADER) {
            return Err(bad());
        }
        let origin = lines.next().ok_or_else(bad)?.to_string();
        let seed = Zeroizing::new(
            B64.decode(lines.next().ok_or_else(bad)?)
                .map_err(|_| bad())?,
        );
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| bad())?;
        let db = dir.join("ledger.db");
        if !db.exists() {
            return Err(Error::Storage(format!("{} is missing", db.display())));
        }
        Ok(Ledger {
            store: Store::open(&db)?,
            signer: NoteSigner::new(&origin, seed)?,
            origin,
        })
    }

    /// The log's verifier key.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        self.store.size()
    }

    /// Appends an entry (whose parents must already be in the log); returns its index and
    /// leaf hash.
    pub fn add(&mut self, entry: &Entry) -> Result<(u64, Hash)> {
        entry.verify_signature()?;
        let size = self.store.size()?;
        if let Some(p) = entry.parents.iter().find(|&&p| p >= size) {
            return Err(Error::Invalid(format!(
                "parent entry {p} does not exist (the log has {size} entries)"
            )));
        }
        let bytes = entry.encode()?;
        let index = self.store.append(std::slice::from_ref(&bytes))?;
        Ok((index, leaf_hash(&bytes)))
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Entry> {
        Entry::decode(&self.store.entry(index)?)
    }

    /// A signed checkpoint of the current tree.
    pub fn checkpoint(&self) -> Result<(Checkpoint, String)> {
        let size = self.store.size()?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root: root(&self.store, size)?,
        };
        let note = self.signer.sign(&checkpoint.to_text())?;
        Ok((checkpoint, note))
    }

    /// Recomputes and checks everything stored (see [`Store::audit`]), and that every entry
    /// decodes canonically, with a valid signature and parents before it. Returns the first
    /// problem as (first bad index, description), or `None`.
    pub fn audit(&self) -> Result<Option<(u64, String)>> {
        self.store.audit(|index, bytes| {
            let entry = Entry::decode(bytes)?;
            match entry.parents.iter().find(|&&p| p >= index) {
                Some(p) => Err(Error::Invalid(format!(
                    "parent {p} is not an earlier entry"
                ))),
                None => Ok(()),
            }
        })
    }

    /// A `tlog-proof@v1` for entry `index` in the current tree.
    pub fn prove(&self, index: u64) -> Result<TlogProof> {
        let (checkpoint, note) = self.checkpoint()?;
        Ok(TlogProof {
            extra: None,
            index,
            hashes: inclusion_proof(&self.store, index, checkpoint.size)?,
            checkpoint: note,
        })
    }

    /// A consistency proof from the tree of `old` entries to the current one:
    /// `(new size, proof)`.
    pub fn consistency(&self, old: u64) -> Result<(u64, Vec<Hash>)> {
        let size = self.store.size()?;
        Ok((size, consistency_proof(&self.store, old, size)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Subject;
    use crate::merkle::verify_consistency;

    fn entry(kind: &str, name: &str, parents: Vec<u64>) -> Entry {
        Entry {
            kind: kind.into(),
            name: name.into(),
            time: 1_763_780_000,
            subjects: vec![Subject {
                name: name.into(),
                sha256: veil_core::Sha256Digest::of_bytes(name.as_bytes()).0,
            }],
            parents,
            meta: vec![],
            signature: None,
        }
    }

    #[test]
    fn init_add_prove_and_verify_offline() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/veil-test").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("log.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (d, _) = ledger.add(&entry("dataset", "train.csv", vec![])).unwrap();
        let (t, _) = ledger
            .add(&entry("transform", "masked.csv", vec![d]))
            .unwrap();
        let (m, leaf) = ledger
            .add(&entry("model", "model.safetensors", vec![d, t]))
            .unwrap();
        assert!(ledger.add(&entry("model", "orphan", vec![99])).is_err());
        let (old_size, old_root) = (ledger.size().unwrap(), ledger.checkpoint().unwrap().0.root);

        // What an auditor has: the vkey file and the proof text.
        let vkey =
            NoteVerifier::parse(&std::fs::read_to_string(dir.path().join("log.vkey")).unwrap())
                .unwrap();
        let proof = TlogProof::parse(&ledger.prove(m).unwrap().to_text()).unwrap();
        let checkpoint = proof.verify(&vkey, &leaf).unwrap();
        assert_eq!(checkpoint.size, 3);
        assert!(proof.verify(&vkey, &leaf_hash(b"another entry")).is_err());
        let stranger = NoteSigner::new("example.com/veil-test", [1; 32])
            .unwrap()
            .verifier();
        assert!(
            proof.verify(&stranger, &leaf).is_err(),
            "a checkpoint signed by another key"
        );

        // The log grows; the old head is consistent with the new one.
        drop(ledger);
        let mut ledger = Ledger::open(dir.path()).unwrap();
        ledger.add(&entry("evaluation", "report", vec![m])).unwrap();
        let (new_size, proof) = ledger.consistency(old_size).unwrap();
        let new_root = ledger.checkpoint().unwrap().0.root;
        verify_consistency(old_size, new_size, &old_root, &new_root, &proof).unwrap();
        assert_eq!(ledger.entry(m).unwrap().parents, vec![d, t]);
        assert_eq!(ledger.audit().unwrap(), None);
        assert!(
            Ledger::init(dir.path(), "again").is_err(),
            "an existing ledger is never overwritten"
        );
    }
}
