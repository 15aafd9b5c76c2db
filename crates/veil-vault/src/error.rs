//! The error vocabulary of `veil-vault`.
//!
//! Each way a sealed file can be wrong has its own variant, so that a caller (and the CLI's
//! exit code) can tell a wrong key from a tampered file. No message ever contains key material
//! or plaintext.

/// Errors of `veil-vault`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
    /// The input does not start with the magic of a sealed file (or of an age file).
    #[error("not a Veil sealed file (it does not start with \"VEILSEAL\")")]
    NotSealed,
    /// A sealed file of a version this build does not read.
    #[error("sealed-file version {0} is not supported (this Veil reads version 1); upgrade Veil")]
    UnsupportedVersion(u8),
    /// The header is malformed (bad field values, cut short).
    #[error("malformed header: {0}")]
    MalformedHeader(String),
    /// None of the given keys opens any recipient stanza.
    #[error("no identity or passphrase given opens this file (its recipients: {recipients})")]
    NoMatchingKey {
        /// The file's recipients, as key ids (and `passphrase`).
        recipients: String,
    },
    /// A passphrase stanza exists but the passphrase is wrong.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The file key does not match the header's key commitment.
    #[error("the key commitment does not match: the header was altered or belongs to another file")]
    KeyCommitment,
    /// The header's MAC does not verify.
    #[error("the header has been tampered with (its MAC does not verify)")]
    HeaderTampered,
    /// A payload segment does not authenticate.
    #[error(
        "segment {index} does not authenticate: the file is tampered, truncated, extended, reordered or spliced"
    )]
    SegmentTampered {
        /// The 0-based segment index.
        index: u64,
    },
    /// The payload length is impossible for the segment size.
    #[error("the file is truncated or extended ({0})")]
    BadLength(String),
    /// The sender's signature is missing, by someone else, or invalid.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// A key or identity file is malformed.
    #[error("{path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An option is out of range.
    #[error("invalid {name}: {message}")]
    Invalid {
        /// The option.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// Key shares cannot be combined.
    #[error("cannot combine key shares: {0}")]
    Shares(String),
    /// The age library reported an error.
    #[error("age: {0}")]
    Age(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io(veil_core::Error::io(path, source))
    }

    /// An [`Error::Invalid`].
    pub fn invalid(name: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            name,
            message: message.into(),
        }
    }

    /// An [`Error::KeyFile`].
    pub fn key_file(path: impl AsRef<std::path::Path>, message: impl Into<String>) -> Self {
        Error::KeyFile {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }
}

/// The result type of `veil-vault`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
