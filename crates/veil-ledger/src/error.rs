//! The error vocabulary of `veil-ledger`.
//!
//! A failed check names the check ([`ProofFailure`], [`ModelMismatch`]), so that a caller can
//! tell a rewritten log from a malformed proof file or a wrong key without reading messages.

use veil_core::ErrorKind;

/// Errors of `veil-ledger`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter or request that cannot be carried out as given.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was asked for (a parameter, an entry field).
        what: &'static str,
        /// Why it cannot be done.
        why: String,
    },
    /// An entry index the log does not have.
    #[error("there is no entry {index} (the log has {size} entries)")]
    UnknownEntry {
        /// The index asked for.
        index: u64,
        /// The log's size.
        size: u64,
    },
    /// A new entry names a parent the log does not have.
    #[error("parent entry {parent} does not exist (the log has {size} entries)")]
    UnknownParent {
        /// The parent named.
        parent: u64,
        /// The log's size.
        size: u64,
    },
    /// A directory that holds no ledger.
    #[error("{dir} holds no ledger (no ledger.db; create one with `veil ledger init`)")]
    NoLedger {
        /// The directory.
        dir: String,
    },
    /// A directory that already holds a ledger.
    #[error("{dir} already holds a ledger")]
    LedgerExists {
        /// The directory.
        dir: String,
    },
    /// The log key is passphrase-protected and was not unlocked.
    #[error("the log key is not loaded (it is passphrase-protected: give --passphrase-file)")]
    KeyLocked,
    /// `log.key` and `log.vkey` are not one key pair.
    #[error("log.key and log.vkey do not belong together")]
    KeyMismatch,
    /// A text or file that should hold a proof, checkpoint, verifier key, ledger key, entry,
    /// key or bundle does not parse.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What it should have been.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// An entry's own signature does not verify.
    #[error("signature check failed: the entry's signature does not verify")]
    EntrySignature,
    /// An entry is not signed by the signer that was expected.
    #[error("signature check failed: the entry is not signed by {expected}")]
    EntrySigner {
        /// The expected signer (its key id, and where it came from).
        expected: String,
    },
    /// A proof or signed note does not verify.
    #[error("the proof does not verify: {0}")]
    ProofFailed(ProofFailure),
    /// A file is not one of the proven entry's subjects.
    #[error("{file} (sha256 {sha256}) is not a subject of the proven entry")]
    NotASubject {
        /// The file.
        file: String,
        /// Its digest, hex.
        sha256: String,
    },
    /// The audit found a problem.
    #[error("audit failed: first bad index {}: {}", .0.index, .0.problem)]
    AuditFailed(AuditFinding),
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
    /// A model-signing bundle does not verify for this model and key.
    #[error("model signature check failed: {0}")]
    ModelSignature(ModelMismatch),
    /// The SQLite store failed (locked for too long, full disk, corrupt file, ...).
    #[error("ledger storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The store holds something no Veil wrote (a hash of the wrong length, a schema of
    /// another application or version).
    #[error("ledger storage: {0}")]
    Corrupt(String),
    /// A hash the tree needs is not stored.
    #[error("the log's storage has no hash for subtree level {level}, index {index}")]
    MissingHash {
        /// Subtree level (0 = leaves).
        level: u32,
        /// Subtree index at that level.
        index: u64,
    },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. }
            | Error::UnknownEntry { .. }
            | Error::UnknownParent { .. }
            | Error::NoLedger { .. }
            | Error::LedgerExists { .. }
            | Error::KeyLocked => ErrorKind::Usage,
            Error::Malformed { .. } | Error::KeyMismatch => ErrorKind::Data,
            Error::EntrySignature | Error::EntrySigner { .. } | Error::ModelSignature(_) => {
                ErrorKind::Signature
            }
            Error::ProofFailed(_)
            | Error::NotASubject { .. }
            | Error::AuditFailed(_)
            | Error::MissingHash { .. }
            | Error::Corrupt(_) => ErrorKind::Proof,
            Error::Io(e) => e.kind(),
            Error::Storage(_) => ErrorKind::Io,
        }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(what: &'static str, why: impl Into<String>) -> Error {
        Error::Invalid {
            what,
            why: why.into(),
        }
    }

    /// An [`Error::Malformed`].
    pub fn malformed(what: &'static str, why: impl Into<String>) -> Error {
        Error::Malformed {
            what,
            why: why.into(),
        }
    }
}

/// The first problem an audit found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditFinding {
    /// The first entry index (or tree size) that is wrong.
    #[serde(rename = "first_bad_index")]
    pub index: u64,
    /// What is wrong there.
    pub problem: String,
}

/// Which check of a proof or signed note failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofFailure {
    /// An inclusion proof has more hashes than the tree has levels.
    #[error("the proof is longer than the tree is deep")]
    TooLong,
    /// An inclusion proof has fewer hashes than the path needs.
    #[error("the proof is shorter than the tree is deep")]
    TooShort,
    /// The leaf index is not below the tree size.
    #[error("the leaf index is not below the tree size")]
    IndexOutOfRange,
    /// The root recomputed from the leaf and the proof is not the checkpoint's.
    #[error("the recomputed root differs")]
    RootDiffers,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the old tree is larger than the new one")]
    Shrinks,
    /// Equal sizes with different roots or a non-empty proof.
    #[error("equal sizes need equal roots and an empty proof")]
    EqualSizes,
    /// A non-empty proof from the empty tree, or an old root that is not the empty tree's.
    #[error("the proof from the empty tree must be empty, and its root SHA-256 of nothing")]
    FromEmpty,
    /// An empty consistency proof between different sizes.
    #[error("the proof is empty")]
    Empty,
    /// The old root recomputed from a consistency proof differs.
    #[error("the recomputed old root differs")]
    OldRootDiffers,
    /// The new root recomputed from a consistency proof differs.
    #[error("the recomputed new root differs")]
    NewRootDiffers,
    /// A consistency proof's sizes are not its checkpoints' sizes.
    #[error("the proof's sizes are not its checkpoints' sizes")]
    SizesDiffer,
    /// The checkpoint names another log.
    #[error("the checkpoint is for another log (origin differs)")]
    OtherLog,
    /// The text is not a signed note.
    #[error("not a signed note (no blank line)")]
    NotANote,
    /// The note has no signature lines.
    #[error("the note has no signature lines")]
    Unsigned,
    /// A signature line is malformed.
    #[error("a malformed signature line")]
    BadSignatureLine,
    /// The verifier key is not a valid Ed25519 key.
    #[error("invalid key")]
    BadKey,
    /// The note's signature by the expected key does not verify.
    #[error("the note's signature does not verify")]
    BadSignature,
    /// No signature line is by the expected key.
    #[error("the note is not signed by the expected key")]
    NotSignedByKey,
}

/// How a model differs from what its signing bundle says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelMismatch {
    /// The bundle's key hint names another key.
    #[error(
        "the bundle was signed by another key (its key hint does not match the public key given)"
    )]
    OtherKey,
    /// The DSSE signature does not verify.
    #[error("the signature does not verify with the public key given")]
    BadSignature,
    /// The listed files do not hash to the signed subject digest.
    #[error("the manifest is inconsistent: its files do not hash to the subject digest")]
    Inconsistent,
    /// Files were added, removed or changed.
    #[error("{model} does not match the signed manifest: {}", .changes.join(", "))]
    Changed {
        /// The model path.
        model: String,
        /// What differs: `extra file X`, `X was changed`, `missing file X`.
        changes: Vec<String>,
    },
}

/// The result type of `veil-ledger`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
