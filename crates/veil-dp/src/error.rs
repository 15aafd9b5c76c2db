//! The error vocabulary of `veil-dp`.

/// Errors of `veil-dp`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is outside the range where the mechanism or accountant is defined.
    #[error("invalid parameter {name}: {why}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong and what is accepted.
        why: String,
    },
}

impl Error {
    /// An [`Error::InvalidParameter`].
    pub fn invalid(name: &'static str, why: impl Into<String>) -> Error {
        Error::InvalidParameter {
            name,
            why: why.into(),
        }
    }
}

/// The result type of `veil-dp`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
