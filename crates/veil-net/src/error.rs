//! The error vocabulary of `veil-net`.
//!
//! A failed connection says *how* it failed ([`ConnectProblem`]), decided from the typed
//! causes underneath (an I/O error's kind, a rustls error), never from message text: a
//! caller retries an unreachable server and gives up at once on a refused certificate.

use veil_core::ErrorKind;

/// Errors of `veil-net`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
    /// A name for a certificate is not usable as a DNS name and a file name.
    #[error(
        "invalid name {name:?}: use 1–63 lowercase letters, digits and hyphens per label (e.g. hospital-a or coordinator.example)"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A certificate or key would be overwritten without `--force`.
    #[error(
        "{path} already exists: pass --force to replace it (peers holding the old one will no longer match)"
    )]
    Exists {
        /// The file.
        path: String,
    },
    /// A certificate, key or trust anchor is missing or unreadable.
    #[error("{path} ({what}): {source}; {hint}")]
    Missing {
        /// The file.
        path: String,
        /// What it should hold.
        what: &'static str,
        /// How to make it.
        hint: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Certificates or keys could not be generated or parsed.
    #[error("certificate: {0}")]
    Certificate(#[source] rcgen::Error),
    /// A certificate or key would not configure TLS.
    #[error("TLS configuration: {0}")]
    TlsConfig(#[source] tonic::transport::Error),
    /// An address that is not HOST:PORT.
    #[error("{addr:?} is not HOST:PORT ({why})")]
    BadAddress {
        /// The address given.
        addr: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A server could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A connection to a server could not be made.
    #[error("connecting to {addr}: {problem}")]
    Connect {
        /// The server.
        addr: String,
        /// How it failed.
        problem: ConnectProblem,
        /// What the transport reported.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call on an open connection failed (the peer refused it, the stream broke, it timed
    /// out).
    #[error("{what}: {}", .status.message())]
    Call {
        /// What was being done.
        what: String,
        /// The gRPC status.
        #[source]
        status: Box<tonic::Status>,
    },
    /// The peer's certificate does not say who the peer claims to be.
    #[error("peer authentication: {0}")]
    Peer(PeerProblem),
}

/// How a connection attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectProblem {
    /// Nothing answered at the address (refused, no route, host unknown): the server may
    /// not be up yet.
    #[error("the server cannot be reached")]
    Unreachable,
    /// The TLS handshake failed: a certificate refused by either side, or a TLS alert.
    #[error("the TLS handshake failed (a certificate was refused)")]
    Tls,
    /// The attempt timed out.
    #[error("the connection attempt timed out")]
    Timeout,
    /// Anything else the transport reported (see the causes).
    #[error("the transport failed")]
    Other,
}

/// Why a peer's certificate does not authenticate it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerProblem {
    /// The connection carries no client certificate.
    #[error("the connection carries no client certificate")]
    NoCertificate,
    /// The certificate cannot be parsed.
    #[error("unreadable certificate")]
    Unreadable,
    /// The certificate names no DNS name.
    #[error("the certificate names no DNS name")]
    NoName,
    /// The caller claims a name its certificate is not issued to.
    #[error("the caller claims to be {0:?} but its certificate is not issued to that name")]
    NotIssuedTo(String),
    /// The certificate does not chain to this deployment's CA, or is not valid now.
    #[error("the certificate is not one this deployment's CA issued, or is not valid now")]
    Untrusted,
    /// A signature does not verify under the certificate's key.
    #[error("the signature does not verify")]
    BadSignature,
    /// This party's key cannot sign (an unsupported key type).
    #[error("this party's key cannot sign statements")]
    CannotSign,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(e) => e.kind(),
            Error::InvalidName { .. } | Error::Exists { .. } | Error::BadAddress { .. } => {
                ErrorKind::Usage
            }
            Error::Missing { .. } => ErrorKind::Io,
            Error::Certificate(_) | Error::TlsConfig(_) => ErrorKind::Data,
            Error::Listen { .. } | Error::Connect { .. } | Error::Call { .. } | Error::Peer(_) => {
                ErrorKind::Network
            }
        }
    }

    /// A failed call: what was being done, and the status (whose message and causes say
    /// what went wrong).
    pub fn call(what: impl Into<String>, status: tonic::Status) -> Error {
        Error::Call {
            what: what.into(),
            status: Box::new(status),
        }
    }
}

/// The result type of `veil-net`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
