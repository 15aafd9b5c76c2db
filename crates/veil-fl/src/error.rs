//! The error vocabulary of `veil-fl`.

/// Errors of `veil-fl`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A protocol message was malformed, out of place, or from the wrong party: it is
    /// rejected and the round goes on without it.
    #[error("rejected message from client {from}: {why}")]
    Rejected {
        /// The sender the message claims.
        from: u32,
        /// What was wrong.
        why: String,
    },
    /// Too few clients are left for the round to go on: it aborts and reveals nothing.
    #[error("round aborted: {have} clients left at {stage}, the threshold is {threshold}")]
    Aborted {
        /// The protocol stage.
        stage: &'static str,
        /// Clients still in the round.
        have: usize,
        /// Clients needed.
        threshold: usize,
    },
    /// The other side broke the protocol (an unexpected or malformed message).
    #[error("protocol: {0}")]
    Protocol(String),
    /// This party's data cannot be used (missing label, non-numeric features, ...).
    #[error("data: {0}")]
    Data(String),
    /// The network failed: a peer unreachable or refused, a stream broken.
    #[error(transparent)]
    Net(#[from] veil_net::Error),
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {why}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong and what is accepted.
        why: String,
    },
}

impl Error {
    pub(crate) fn rejected(from: u32, why: impl Into<String>) -> Error {
        Error::Rejected {
            from,
            why: why.into(),
        }
    }
}

/// The result type of `veil-fl`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
