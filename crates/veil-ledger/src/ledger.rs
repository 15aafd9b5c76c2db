//! A ledger directory: the log, its signing key and its public verifier key.
//!
//! * `<DIR>/ledger.db` — the SQLite store ([`crate::store`]);
//! * `<DIR>/log.key` — the log's Ed25519 signing key, mode 0600: the text
//!   `veil-ledger-key v1`, the origin, and the base64 seed, one per line;
//! * `<DIR>/log.vkey` — the verifier key in C2SP signed-note form, what auditors need;
//! * `<DIR>/checkpoint` — the newest signed checkpoint, kept outside the database.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_core::atomic::{Visibility, write_atomic_bytes_with};
use zeroize::Zeroizing;

use crate::entry::{Entry, Subject};
use crate::error::{AuditFinding, Error, Result};
use crate::merkle::{Hash, consistency_proof, inclusion_proof, leaf_hash, root};
use crate::note::{Checkpoint, NoteSigner, NoteVerifier};
use crate::proof::{ConsistencyProof, TlogProof};
use crate::store::Store;

const KEY_HEADER: &str = "veil-ledger-key v1";

/// The file that keeps the newest signed checkpoint, beside the database.
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// The ledger's key for the digests of data files (HMAC-SHA-256), beside the database.
pub const DIGEST_KEY_FILE: &str = "digest.key";

/// The kinds of entry a ledger accepts: every step Veil records, and what it means.
pub const KINDS: &[(&str, &str)] = &[
    ("dataset", "a table or file that data comes from"),
    (
        "transform",
        "data derived from parents: a split, a masked or sealed copy",
    ),
    ("model", "a trained model"),
    ("evaluation", "a model's measured quality on some data"),
    (
        "dp-release",
        "statistics released under differential privacy",
    ),
    ("fl-round", "one round of federated training"),
    ("mpc-session", "a joint computation on secret shares"),
    ("he-inference", "predictions computed on encrypted inputs"),
    (
        "signature",
        "a signature over a model or dataset (a model-signing bundle)",
    ),
];

/// An open ledger.
pub struct Ledger {
    store: Store,
    verifier: NoteVerifier,
    signer: Option<NoteSigner>,
    dir: PathBuf,
}

fn write_bytes(path: &Path, bytes: &[u8], visibility: Visibility) -> Result<()> {
    Ok(write_atomic_bytes_with(path, visibility, bytes)?)
}

fn storage(path: &Path, e: std::io::Error) -> Error {
    Error::Io(veil_core::Error::io(path, e))
}

/// Parses the text of a `log.key` file.
fn parse_key(text: &[u8], path: &Path) -> Result<NoteSigner> {
    let bad = || Error::malformed("ledger key", path.display().to_string());
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let mut lines = text.lines();
    if lines.next() != Some(KEY_HEADER) {
        return Err(bad());
    }
    let origin = lines.next().ok_or_else(bad)?;
    let seed = Zeroizing::new(
        B64.decode(lines.next().ok_or_else(bad)?)
            .map_err(|_| bad())?,
    );
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.as_slice().try_into().map_err(|_| bad())?);
    NoteSigner::new(origin, *seed)
}

impl Ledger {
    /// Creates a ledger in `dir` (created if missing) for the log named `origin`, with its
    /// signing key in the clear (mode 0600) so that checkpoints can be signed unattended.
    /// Refuses a directory that already holds a ledger.
    pub fn init(dir: &Path, origin: &str) -> Result<Ledger> {
        Self::init_protected(dir, origin, |text| Ok(text.to_vec()))
    }

    /// Like [`Ledger::init`], but `protect` turns the key file's text into the bytes written
    /// to `log.key` (the CLI seals it under a passphrase); such a ledger signs only after
    /// [`Ledger::unlock`]. On failure nothing is left behind.
    pub fn init_protected(
        dir: &Path,
        origin: &str,
        protect: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    ) -> Result<Ledger> {
        let seed = Zeroizing::new(veil_core::random::bytes::<32>());
        let signer = NoteSigner::new(origin, *seed)?;
        if dir.join("ledger.db").exists() || dir.join("log.key").exists() {
            return Err(Error::LedgerExists {
                dir: dir.display().to_string(),
            });
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| storage(dir, e))?;
        let made = (|| {
            let key_text =
                Zeroizing::new(format!("{KEY_HEADER}\n{origin}\n{}\n", B64.encode(*seed)));
            let key_file = Zeroizing::new(protect(key_text.as_bytes())?);
            let verifier = signer.verifier();
            write_bytes(
                &dir.join("log.vkey"),
                format!("{verifier}\n").as_bytes(),
                Visibility::Public,
            )?;
            write_bytes(&dir.join("log.key"), &key_file, Visibility::Secret)?;
            let unlocked = key_file.as_slice() == key_text.as_bytes();
            Ok(Ledger {
                store: Store::open(&dir.join("ledger.db"))?,
                verifier,
                signer: None,
                dir: dir.to_path_buf(),
            }
            .with_signer(unlocked.then_some(signer)))
        })();
        if made.is_err() {
            for file in [
                "ledger.db",
                "ledger.db-wal",
                "ledger.db-shm",
                "log.key",
                "log.vkey",
            ] {
                let _ = std::fs::remove_file(dir.join(file));
            }
            if created {
                let _ = std::fs::remove_dir(dir);
            }
        }
        made
    }

    fn with_signer(mut self, signer: Option<NoteSigner>) -> Ledger {
        self.signer = signer;
        self
    }

    fn open_with(dir: &Path, open_store: impl FnOnce(&Path) -> Result<Store>) -> Result<Ledger> {
        let db = dir.join("ledger.db");
        if !db.is_file() {
            return Err(Error::NoLedger {
                dir: dir.display().to_string(),
            });
        }
        let vkey_path = dir.join("log.vkey");
        let vkey = std::fs::read_to_string(&vkey_path).map_err(|e| storage(&vkey_path, e))?;
        Ok(Ledger {
            store: open_store(&db)?,
            verifier: NoteVerifier::parse(&vkey)?,
            signer: None,
            dir: dir.to_path_buf(),
        })
    }

    /// The ledger's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `subject` with its digest keyed: HMAC-SHA-256 under this ledger's `digest.key` of
    /// the content's SHA-256 (see [`crate::lineage::Keyed`]). The key (32 random bytes, mode
    /// 0600) is made on first use and read through `veil_core::secret_file` after that.
    pub fn keyed_subject(&self, subject: Subject) -> Result<Subject> {
        use hmac::{Hmac, Mac};
        let path = self.dir.join(DIGEST_KEY_FILE);
        let key = match veil_core::secret_file::read(&path) {
            Ok(key) => Zeroizing::new(key),
            Err(e) if e.kind() == veil_core::ErrorKind::Io && !path.exists() => {
                let key = Zeroizing::new(veil_core::random::bytes::<32>().to_vec());
                write_bytes(&path, &key, Visibility::Secret)?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        if key.len() != 32 {
            return Err(Error::invalid(
                "digest.key",
                "the ledger's digest key must be 32 bytes",
            ));
        }
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| Error::invalid("digest.key", "unusable key"))?;
        mac.update(b"veil ledger keyed subject v1\0");
        mac.update(&subject.sha256);
        Ok(Subject {
            name: subject.name,
            sha256: mac.finalize().into_bytes().into(),
        })
    }

    /// Opens the ledger in `dir` to read and append. The signing key is not read: see
    /// [`Ledger::load_key`] (appending needs no key; signing checkpoints does).
    pub fn open(dir: &Path) -> Result<Ledger> {
        Self::open_with(dir, Store::open)
    }

    /// Opens the ledger in `dir` without writing anything, for commands that only read
    /// (an auditor may have `ledger.db` and `log.vkey` and no key).
    pub fn open_read_only(dir: &Path) -> Result<Ledger> {
        Self::open_with(dir, Store::open_read_only)
    }

    /// Loads `log.key` if it is kept in the clear; returns false if it is protected (then
    /// decrypt it and call [`Ledger::unlock`]).
    pub fn load_key(&mut self) -> Result<bool> {
        let key = Zeroizing::new(self.key_file()?);
        if key.starts_with(KEY_HEADER.as_bytes()) {
            self.unlock(&key)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// The bytes of `log.key` as stored (protected or not).
    pub fn key_file(&self) -> Result<Vec<u8>> {
        Ok(veil_core::secret_file::read(&self.dir.join("log.key"))?)
    }

    /// Whether the ledger can sign checkpoints (its key is loaded).
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// Loads the signing key from the text of a key file (decrypted by the caller); it must
    /// match `log.vkey`.
    pub fn unlock(&mut self, key_text: &[u8]) -> Result<()> {
        let signer = parse_key(key_text, &self.dir.join("log.key"))?;
        if signer.verifier() != self.verifier {
            return Err(Error::KeyMismatch);
        }
        self.signer = Some(signer);
        Ok(())
    }

    /// The log's verifier key.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        self.store.size()
    }

    /// Appends an entry (whose kind must be one of [`KINDS`] and whose parents must already
    /// be in the log); returns its index and leaf hash.
    pub fn add(&mut self, entry: &Entry) -> Result<(u64, Hash)> {
        Ok(self.add_all(std::slice::from_ref(entry))?[0])
    }

    /// Appends entries in one transaction (all or none); each must be valid for
    /// [`Ledger::add`], with parents already in the log before the batch. Returns each entry's
    /// index and leaf hash.
    pub fn add_all(&mut self, entries: &[Entry]) -> Result<Vec<(u64, Hash)>> {
        let size = self.store.size()?;
        let mut encoded = Vec::with_capacity(entries.len());
        let mut subjects = Vec::with_capacity(entries.len());
        for entry in entries {
            if !KINDS.iter().any(|(k, _)| *k == entry.kind) {
                let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
                return Err(Error::invalid(
                    "kind",
                    format!(
                        "unknown entry kind \"{}\" (known: {})",
                        entry.kind,
                        known.join(", ")
                    ),
                ));
            }
            if let Some(p) = entry.parents.iter().find(|&&p| p >= size) {
                return Err(Error::UnknownParent { parent: *p, size });
            }
            entry.verify_signature()?;
            encoded.push(entry.encode()?);
            subjects.push(entry.subject_digests());
        }
        let first = self.store.append_indexed(&encoded, &subjects)?;
        Ok(encoded
            .iter()
            .enumerate()
            .map(|(i, bytes)| (first + i as u64, leaf_hash(bytes)))
            .collect())
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Entry> {
        Entry::decode(&self.entry_bytes(index)?)
    }

    /// The exact bytes (the leaf data) of entry `index`.
    pub fn entry_bytes(&self, index: u64) -> Result<Vec<u8>> {
        self.store.entry(index)
    }

    /// The newest entry with a subject whose content has SHA-256 `digest`.
    pub fn find_subject(&mut self, digest: &Hash) -> Result<Option<u64>> {
        self.store.latest_with_subject(digest)
    }

    /// A signed checkpoint of the current tree. It is kept for audits twice: in the store's
    /// `checkpoints` table and, the newest one, in the file `<DIR>/checkpoint` (outside the
    /// database, so that emptying the table does not erase what the log has signed).
    pub fn checkpoint(&self) -> Result<(Checkpoint, String)> {
        let signer = self.signer.as_ref().ok_or(Error::KeyLocked)?;
        let size = self.store.size()?;
        let checkpoint = Checkpoint {
            origin: self.verifier.name().to_string(),
            size,
            root: root(&self.store, size)?,
        };
        let note = signer.sign(&checkpoint.to_text())?;
        self.store.save_checkpoint(size, &note)?;
        let file = self.dir.join(CHECKPOINT_FILE);
        let newer = match std::fs::read_to_string(&file) {
            Ok(old) => self
                .verifier
                .open(&old)
                .and_then(|t| Checkpoint::parse(&t))
                .map_or(true, |c| c.size <= size),
            Err(_) => true,
        };
        if newer {
            write_bytes(&file, note.as_bytes(), Visibility::Public)?;
        }
        Ok((checkpoint, note))
    }

    /// Recomputes and checks everything stored (see [`Store::audit`]): every entry decodes
    /// canonically, with a valid signature and parents before it; and every checkpoint the
    /// log signed — in the `checkpoints` table, in `<DIR>/checkpoint`, and the signed notes in
    /// `kept` (checkpoints an auditor saved earlier) — is signed by `verifier` and matches
    /// the tree at its size. Returns the first problem as (first bad index, description), or
    /// `None`.
    pub fn audit(&self, verifier: &NoteVerifier, kept: &[String]) -> Result<Option<AuditFinding>> {
        let finding = |index: u64, problem: String| Ok(Some(AuditFinding { index, problem }));
        let found = self.store.audit(|index, bytes| {
            let entry = Entry::decode(bytes)?;
            match entry.parents.iter().find(|&&p| p >= index) {
                Some(p) => Err(Error::invalid(
                    "parent",
                    format!("parent {p} is not an earlier entry"),
                )),
                None => Ok(entry.subject_digests()),
            }
        })?;
        if let Some((index, problem)) = found {
            return finding(index, problem);
        }
        let size = self.store.size()?;
        let stored = match self.store.checkpoints() {
            Ok(stored) => stored,
            Err(Error::Corrupt(why)) => return finding(0, why),
            Err(e) => return Err(e),
        };
        let mut notes: Vec<(String, String)> = stored
            .iter()
            .map(|(_, note)| ("the stored checkpoint".to_string(), note.clone()))
            .collect();
        let file = self.dir.join(CHECKPOINT_FILE);
        let note = match std::fs::read_to_string(&file) {
            Ok(note) => Some(note),
            // The file is the log's anchor outside the database: whoever can rewrite
            // ledger.db can empty its checkpoints table too, so a missing file is a finding
            // unless the auditor brings a checkpoint of their own (or the log is empty).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if kept.is_empty() && size > 0 {
                    return finding(
                        0,
                        format!(
                            "{} is missing: it was deleted, or the log was never checkpointed \
                             (run `veil ledger checkpoint`), or give a checkpoint you kept",
                            file.display()
                        ),
                    );
                }
                None
            }
            Err(e) => return Err(veil_core::Error::io(&file, e).into()),
        };
        if let Some(note) = note {
            if !stored.iter().any(|(_, n)| *n == note) {
                return finding(
                    size,
                    format!(
                        "{} is not among the stored checkpoints: the checkpoints table was changed",
                        file.display()
                    ),
                );
            }
            notes.push((file.display().to_string(), note));
        }
        notes.extend(
            kept.iter()
                .map(|n| ("a kept checkpoint".to_string(), n.clone())),
        );
        // Each checkpoint's signature, then its root against the tree at its size. If one no
        // longer matches, entries below its size were rewritten along with their hashes;
        // the largest checkpoint that still matches bounds where.
        let mut parsed = Vec::new();
        for (what, note) in &notes {
            match verifier.open(note).and_then(|t| Checkpoint::parse(&t)) {
                Ok(c) if c.origin == verifier.name() => parsed.push((what, c)),
                Ok(_) => {
                    return finding(0, format!("{what} is for another log (origin differs)"));
                }
                Err(e) => return finding(0, format!("{what}: {e}")),
            }
        }
        parsed.sort_by_key(|(_, c)| c.size);
        let mut good_below = 0u64;
        for (what, c) in parsed {
            if c.size > size {
                return finding(
                    size,
                    format!(
                        "{what} has {} entries but the log holds {size}: entries were deleted",
                        c.size
                    ),
                );
            }
            if c.root != root(&self.store, c.size)? {
                return finding(
                    good_below,
                    format!(
                        "the first {} entries no longer have the root of {what}: entries {good_below}..{} were rewritten",
                        c.size, c.size
                    ),
                );
            }
            good_below = c.size;
        }
        Ok(None)
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

    /// A consistency proof from the tree of `old` entries to the current one, with a newly
    /// signed checkpoint of the current one.
    pub fn consistency(&self, old: u64) -> Result<ConsistencyProof> {
        let (checkpoint, note) = self.checkpoint()?;
        Ok(ConsistencyProof {
            old_size: old,
            new_size: checkpoint.size,
            hashes: consistency_proof(&self.store, old, checkpoint.size)?,
            checkpoint: note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Subject;
    use crate::merkle::verify_consistency;
    use crate::proof::verify_offline;

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

    /// A signer that claims whatever key id it is given.
    struct Claiming(ed25519_dalek::SigningKey, [u8; 8]);

    impl crate::entry::EntrySigner for Claiming {
        fn key_id(&self) -> [u8; 8] {
            self.1
        }
        fn public_key(&self) -> [u8; 32] {
            self.0.verifying_key().to_bytes()
        }
        fn sign(&self, message: &[u8]) -> [u8; 64] {
            use ed25519_dalek::Signer;
            self.0.sign(message).to_bytes()
        }
    }

    #[test]
    fn an_entry_claiming_another_key_id_fails_the_expected_signer_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/veil-test").unwrap();
        let (alice_id, mallory_key) = ([0xa1; 8], ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
        let mut forged = entry("model", "model.safetensors", vec![]);
        forged
            .sign(&Claiming(mallory_key.clone(), alice_id))
            .unwrap();
        let bytes = forged.encode().unwrap();
        let (index, _) = ledger.add(&forged).unwrap();
        let proof = ledger.prove(index).unwrap();
        let vkey = ledger.verifier.clone();
        let expect = |key_id| crate::proof::ExpectedSigner {
            public_key: mallory_key.verifying_key().to_bytes(),
            key_id,
            label: "mallory".into(),
        };
        // Mallory's key with Alice's id: held to Mallory's identity, the claim fails.
        let err = verify_offline(&vkey, &proof, &bytes, &[], Some(&expect([0x3c; 8])));
        assert!(matches!(err, Err(Error::EntrySigner { .. })), "{err:?}");
        assert!(verify_offline(&vkey, &proof, &bytes, &[], Some(&expect(alice_id))).is_ok());
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
        assert!(ledger.checkpoint().is_err(), "open does not read the key");
        assert!(ledger.load_key().unwrap());
        let proof = ledger.consistency(old_size).unwrap();
        let new_root = ledger.checkpoint().unwrap().0.root;
        verify_consistency(
            old_size,
            proof.new_size,
            &old_root,
            &new_root,
            &proof.hashes,
        )
        .unwrap();
        assert_eq!(ledger.entry(m).unwrap().parents, vec![d, t]);
        assert_eq!(ledger.audit(&vkey, &[]).unwrap(), None);
        assert!(
            ledger.add(&entry("moodel", "typo", vec![])).is_err(),
            "unknown kind"
        );
        assert_eq!(
            ledger
                .find_subject(&veil_core::Sha256Digest::of_bytes(b"masked.csv").0)
                .unwrap(),
            Some(t)
        );
        assert!(
            Ledger::init(dir.path(), "again").is_err(),
            "an existing ledger is never overwritten"
        );
    }

    #[test]
    fn audit_checks_stored_checkpoints_against_a_rewritten_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/veil-test").unwrap();
        let vkey = ledger.verifier().clone();
        for name in ["a", "b", "c"] {
            ledger.add(&entry("dataset", name, vec![])).unwrap();
        }
        ledger.checkpoint().unwrap();
        ledger.add(&entry("dataset", "d", vec![])).unwrap();
        let kept = ledger.checkpoint().unwrap().1;
        assert_eq!(ledger.audit(&vkey, &[]).unwrap(), None);
        let stranger = NoteSigner::new("example.com/veil-test", [1; 32])
            .unwrap()
            .verifier();
        assert!(ledger.audit(&stranger, &[]).unwrap().is_some());

        // Someone with write access rebuilds the log from entry 3 on, hashes and all: the
        // tree agrees with itself, but not with the checkpoint of size 4 the log signed.
        let db = rusqlite::Connection::open(dir.path().join("ledger.db")).unwrap();
        db.execute_batch(
            "DELETE FROM entries WHERE idx >= 3; DELETE FROM subjects WHERE idx >= 3;
             DELETE FROM nodes WHERE (idx + 1) << level > 3;",
        )
        .unwrap();
        ledger.add(&entry("dataset", "forged", vec![])).unwrap();
        let AuditFinding {
            index,
            problem: why,
        } = ledger.audit(&vkey, &[]).unwrap().unwrap();
        assert_eq!(index, 3, "{why}");
        assert!(why.contains("rewritten"), "{why}");

        // Emptying the checkpoints table as well does not help: the newest checkpoint is
        // also kept in <DIR>/checkpoint, and an auditor may hold one of their own.
        db.execute_batch("DELETE FROM checkpoints").unwrap();
        let why = ledger.audit(&vkey, &[]).unwrap().unwrap().problem;
        assert!(why.contains("not among the stored checkpoints"), "{why}");
        std::fs::remove_file(dir.path().join(CHECKPOINT_FILE)).unwrap();
        let why = ledger.audit(&vkey, &[]).unwrap().unwrap().problem;
        assert!(why.contains("is missing"), "{why}");
        let why = ledger
            .audit(&vkey, std::slice::from_ref(&kept))
            .unwrap()
            .unwrap()
            .problem;
        assert!(why.contains("rewritten"), "{why}");
        ledger.checkpoint().unwrap();

        // Deleting the forged entry (a rewind) is caught too.
        db.execute_batch(
            "DELETE FROM entries WHERE idx >= 3; DELETE FROM subjects WHERE idx >= 3;
             DELETE FROM nodes WHERE (idx + 1) << level > 3;",
        )
        .unwrap();
        let why = ledger.audit(&vkey, &[]).unwrap().unwrap().problem;
        assert!(why.contains("deleted"), "{why}");
    }

    #[test]
    fn a_protected_key_signs_only_after_unlock() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in for sealing: the CLI uses a passphrase-sealed file.
        let ledger = Ledger::init_protected(dir.path(), "example.com/p", |text| {
            Ok(text.iter().map(|b| b ^ 0x55).collect())
        })
        .unwrap();
        assert!(!ledger.can_sign());
        drop(ledger);
        let mut ledger = Ledger::open(dir.path()).unwrap();
        assert!(!ledger.load_key().unwrap(), "a protected key is not loaded");
        assert!(ledger.checkpoint().is_err());
        let stored: Vec<u8> = ledger
            .key_file()
            .unwrap()
            .iter()
            .map(|b| b ^ 0x55)
            .collect();
        assert!(
            ledger
                .unlock(b"veil-ledger-key v1\nexample.com/p\nAAAA\n")
                .is_err()
        );
        ledger.unlock(&stored).unwrap();
        ledger.checkpoint().unwrap();
    }
}
