//! The error vocabulary of `veil-ml`.

/// Errors of `veil-ml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data error from `veil-core` (file, line, column).
    #[error(transparent)]
    Data(#[from] veil_core::Error),
    /// A training or model option is out of range.
    #[error("invalid {name}: {message}")]
    InvalidConfig {
        /// The option.
        name: &'static str,
        /// Why it is invalid.
        message: String,
    },
    /// Arrays whose sizes do not fit together.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    Shape {
        /// What was being computed.
        what: &'static str,
        /// The expected size.
        expected: String,
        /// The size found.
        found: String,
    },
    /// The label column cannot serve the requested task.
    #[error("label column \"{label}\": {message}")]
    Label {
        /// The label column.
        label: String,
        /// What is wrong.
        message: String,
    },
    /// Training produced a non-finite loss.
    #[error(
        "training diverged in epoch {epoch} (the loss became {loss}); try a smaller --lr or more --l2"
    )]
    Diverged {
        /// The epoch (1-based).
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
    /// A model file is malformed, of an unknown version, or inconsistent.
    #[error("{path}: not a valid Veil model file: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> veil_core::ErrorKind {
        use veil_core::ErrorKind as K;
        match self {
            Error::Data(e) => e.kind(),
            Error::InvalidConfig { .. } => K::Usage,
            Error::Shape { .. } | Error::Label { .. } => K::Data,
            Error::Diverged { .. } => K::Diverged,
            Error::ModelFile { .. } => K::ModelFile,
        }
    }

    /// Builds an [`Error::InvalidConfig`].
    pub fn config(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            name,
            message: message.into(),
        }
    }

    /// Builds an [`Error::Shape`].
    pub fn shape(what: &'static str, expected: impl ToString, found: impl ToString) -> Self {
        Error::Shape {
            what,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// The result type of `veil-ml`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
