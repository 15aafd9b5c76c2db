//! The error vocabulary of `veil-vault`.
//!
//! Each way a sealed file can be wrong has its own variant, so that a caller (and the CLI's
//! exit code) can tell a wrong key from a tampered file. No message ever contains key material
//! or plaintext.

use veil_core::ErrorKind;

use crate::identity::KeyId;

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
    MalformedHeader(HeaderProblem),
    /// None of the given keys opens any recipient stanza.
    #[error("no identity or passphrase given opens this file (its recipients: {recipients})")]
    NoMatchingKey {
        /// The file's recipients, as key ids (and `passphrase`).
        recipients: String,
    },
    /// A protected key needs a passphrase and none could be had.
    #[error("{file} is passphrase-protected: {why}")]
    NoPassphrase {
        /// The protected file.
        file: String,
        /// Why none could be had, and how to give one.
        why: String,
    },
    /// The passphrase does not open the file. Under a passphrase alone this is also the
    /// error for a damaged or forged header: which step failed is not said (F-11).
    #[error(
        "the passphrase does not open this file (wrong passphrase, or a damaged or forged header: with a passphrase, Veil does not say which)"
    )]
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
    BadLength(LengthProblem),
    /// A signature was expected, but the file is not signed.
    #[error("signature check failed: the file is not signed")]
    Unsigned,
    /// The file (or entry) is signed by someone other than the expected signer.
    #[error("signature check failed: signed by {found}, not by the expected signer {expected}")]
    WrongSigner {
        /// Who signed it.
        found: KeyId,
        /// Who was expected.
        expected: KeyId,
    },
    /// The signature does not verify under the signer's key (or the key is invalid).
    #[error("signature check failed: not a valid signature by {signer}")]
    BadSignature {
        /// The signer the signature claims.
        signer: KeyId,
    },
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
    Shares(SharesProblem),
    /// An age file could not be opened.
    #[error("age: {0}")]
    AgeDecrypt(#[source] age::DecryptError),
    /// An age file could not be written.
    #[error("age: {0}")]
    AgeEncrypt(#[source] age::EncryptError),
    /// An age identity file could not be read.
    #[error("age identity file: {0}")]
    AgeIdentity(#[source] std::io::Error),
}

/// How a sealed file's header is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderProblem {
    /// Flags this version does not define.
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// A segment size outside 16 B to 64 MiB.
    #[error("segment size {0} out of range")]
    SegmentSize(u32),
    /// A signer key id in a file not flagged as signed.
    #[error("a signer key id in an unsigned file")]
    SignerOfUnsigned,
    /// Too few or too many recipient stanzas.
    #[error("{0} recipient stanzas (1 to {max} allowed)", max = crate::header::MAX_STANZAS)]
    StanzaCount(usize),
    /// A stanza type this version does not define.
    #[error("unknown stanza type {0}")]
    UnknownStanza(u8),
    /// argon2id costs outside the bounds a reader accepts.
    #[error(
        "argon2id costs out of bounds (memory {memory_kib} KiB, passes {passes}, lanes {lanes})"
    )]
    KdfCosts {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        passes: u32,
        /// Lanes.
        lanes: u32,
    },
    /// The input ends inside the header.
    #[error("the header is cut short")]
    CutShort,
}

/// How a sealed file's length is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LengthProblem {
    /// Not even room for the header and the trailer.
    #[error("no room for a payload")]
    NoPayload,
    /// A payload of no segments.
    #[error("the payload is empty")]
    EmptyPayload,
    /// A last segment shorter than its 16-byte tag.
    #[error("the last segment is shorter than its tag")]
    ShortLastSegment,
    /// An empty final segment after a full one.
    #[error("an empty final segment follows a full one")]
    EmptyFinalSegment,
    /// The stream ended inside the final segment.
    #[error("the final segment is cut short")]
    FinalCutShort,
    /// Bytes after the payload that are not its trailer.
    #[error("{0} stray bytes after the payload")]
    StrayBytes(usize),
    /// The file ended before the length it had when reading began.
    #[error("the file became shorter while it was read")]
    Shrank,
}

/// Why key shares cannot be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharesProblem {
    /// No share was given.
    #[error("no shares given")]
    None,
    /// Shares of different identities or splits.
    #[error("the shares belong to different identities or splits")]
    Mixed,
    /// Fewer distinct shares than the threshold.
    #[error("{have} distinct share(s) given, but {need} are needed to restore key id {key_id}")]
    TooFew {
        /// Distinct shares given.
        have: usize,
        /// The threshold.
        need: u8,
        /// The identity they restore.
        key_id: KeyId,
    },
    /// A share's bytes are malformed.
    #[error("a share is malformed ({0})")]
    Malformed(&'static str),
    /// The shares do not rebuild the identity they claim.
    #[error("the shares do not rebuild key id {0} (a share is corrupted or from another split)")]
    WrongIdentity(KeyId),
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::NotSealed
            | Error::UnsupportedVersion(_)
            | Error::MalformedHeader(_)
            | Error::KeyCommitment
            | Error::HeaderTampered
            | Error::SegmentTampered { .. }
            | Error::BadLength(_) => ErrorKind::NotIntact,
            Error::NoMatchingKey { .. } | Error::WrongPassphrase => ErrorKind::WrongKey,
            Error::Unsigned | Error::WrongSigner { .. } | Error::BadSignature { .. } => {
                ErrorKind::Signature
            }
            Error::Invalid { .. } | Error::NoPassphrase { .. } => ErrorKind::Usage,
            Error::KeyFile { .. } | Error::Shares(_) => ErrorKind::Data,
            Error::AgeDecrypt(e) => match e {
                age::DecryptError::NoMatchingKeys | age::DecryptError::KeyDecryptionFailed => {
                    ErrorKind::WrongKey
                }
                age::DecryptError::Io(_) => ErrorKind::Io,
                _ => ErrorKind::NotIntact,
            },
            Error::AgeEncrypt(_) => ErrorKind::Usage,
            Error::AgeIdentity(_) => ErrorKind::Data,
        }
    }

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
