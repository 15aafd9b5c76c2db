//! The error vocabulary of `veil-ledger`.

/// Errors of `veil-ledger`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that cannot be carried out as given: a parameter out of range, an entry or
    /// parent that does not exist, a directory that holds no ledger, sizes that do not fit.
    #[error("{0}")]
    Invalid(String),
    /// A file or text that should hold a proof, checkpoint, verifier key, ledger key or entry
    /// does not parse.
    #[error("malformed {0}")]
    Malformed(String),
    /// A signature (an entry's) does not verify.
    #[error("signature check failed: {0}")]
    Signature(&'static str),
    /// A proof does not verify.
    #[error("the proof does not verify: {0}")]
    ProofFailed(&'static str),
    /// A check found a problem (an audit finding, a file that is not the entry's subject).
    #[error("{0}")]
    Verification(String),
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
    /// A model-signing bundle does not verify for this model and key.
    #[error("model signature check failed: {0}")]
    ModelSignature(String),
    /// The SQLite store failed (locked for too long, full disk, corrupt file, ...).
    #[error("ledger storage: {0}")]
    Storage(String),
    /// A hash the tree needs is not stored.
    #[error("the log's storage has no hash for subtree level {level}, index {index}")]
    MissingHash {
        /// Subtree level (0 = leaves).
        level: u32,
        /// Subtree index at that level.
        index: u64,
    },
}

/// The result type of `veil-ledger`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
