//! The error vocabulary of `veil-fl`.

use veil_core::ErrorKind;

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
    /// The coordinator broke the protocol (an unexpected or malformed message).
    #[error("the coordinator broke the protocol: {0}")]
    Protocol(ProtocolViolation),
    /// The coordinator refused this client.
    #[error("the coordinator refused this client: {reason}")]
    Refused {
        /// The coordinator's reason.
        reason: String,
    },
    /// The run was stopped (Ctrl-C) before it finished.
    #[error("interrupted{}", .state.as_ref().map(|s| format!("; the state after the last completed round is in {s}")).unwrap_or_default())]
    Interrupted {
        /// Where the coordinator's state was kept, if it keeps one.
        state: Option<String>,
    },
    /// A wait ran out.
    #[error("{what} did not finish within {seconds} s")]
    TimedOut {
        /// What was waited for.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// This party's data cannot be used (missing label, non-numeric features, a missing
    /// file, ...).
    #[error(transparent)]
    Data(#[from] veil_core::Error),
    /// The model cannot be built or trained on this data.
    #[error(transparent)]
    Ml(#[from] veil_ml::Error),
    /// A privacy computation (the accountant of distributed DP) refused its parameters.
    #[error(transparent)]
    Dp(#[from] veil_dp::Error),
    /// The network failed: a peer unreachable or refused, a stream broken.
    #[error(transparent)]
    Net(#[from] veil_net::Error),
    /// A task of this process stopped (a panic in local training).
    #[error("a task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {why}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong and what is accepted.
        why: String,
    },
    /// Every round aborted: no model was trained.
    #[error(
        "every round aborted (fewer than {threshold} clients were left at some stage of each): no model was trained"
    )]
    AllAborted {
        /// The threshold the rounds needed.
        threshold: usize,
    },
}

/// How the coordinator broke the protocol.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolViolation {
    /// A training task without its model.
    #[error("a training task without its model")]
    NoModel,
    /// A model kind this client does not know.
    #[error("an unknown model kind")]
    UnknownModel,
    /// An activation this client does not know.
    #[error("an unknown activation")]
    UnknownActivation,
    /// A session id of the wrong length.
    #[error("a session id that is not 32 bytes")]
    BadSession,
    /// A secure round without a task.
    #[error("a secure round without its task")]
    NoTask,
    /// A clipping bound that is not positive and finite.
    #[error("a clip of {0}")]
    BadClip(f64),
    /// Distributed-DP parameters out of range.
    #[error("distributed-DP parameters out of range")]
    BadDpPlan,
    /// A request this client refuses because answering it would weaken its privacy: a
    /// distributed-DP contribution beyond what the run allows, a roster or view that does
    /// not check out, a stage asked twice.
    #[error("refused to answer: {0}")]
    Unsafe(String),
    /// The stream closed before the run was over.
    #[error("the coordinator closed the stream before the run was over")]
    Closed,
    /// A message with no body.
    #[error("an empty message from the coordinator")]
    Empty,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Rejected { .. }
            | Error::Aborted { .. }
            | Error::Protocol(_)
            | Error::Refused { .. }
            | Error::Interrupted { .. }
            | Error::TimedOut { .. }
            | Error::AllAborted { .. } => ErrorKind::Network,
            Error::Data(e) => e.kind(),
            Error::Ml(e) => e.kind(),
            Error::Dp(e) => e.kind(),
            Error::Net(e) => e.kind(),
            Error::Task(_) => ErrorKind::Internal,
            Error::InvalidParameter { .. } => ErrorKind::Usage,
        }
    }

    pub(crate) fn rejected(from: u32, why: impl Into<String>) -> Error {
        Error::Rejected {
            from,
            why: why.into(),
        }
    }
}

/// The result type of `veil-fl`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
