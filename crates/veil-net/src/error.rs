//! The error vocabulary of `veil-net`.

/// Errors of `veil-net`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
    /// A name for a certificate is not usable as a DNS name and a file name.
    #[error(
        "invalid name {0:?}: use 1–63 lowercase letters, digits and hyphens per label (e.g. hospital-a or coordinator.example)"
    )]
    InvalidName(String),
    /// A certificate or key would be overwritten without `--force`.
    #[error("{0}")]
    Exists(String),
    /// A certificate, key or trust anchor is missing or unreadable (the message says how to
    /// make it).
    #[error("{0}")]
    Missing(String),
    /// Certificates or keys could not be generated or parsed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A TLS or transport failure: a refused certificate, an unreachable peer, a timeout.
    #[error("connection: {0}")]
    Transport(String),
    /// The peer's certificate does not name who it claims to be.
    #[error("peer authentication: {0}")]
    Peer(String),
}

/// The result type of `veil-net`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
