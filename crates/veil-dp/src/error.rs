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
    /// A DP SQL query is malformed, unsupported, or does not fit the table.
    #[error("{0}")]
    Query(String),
    /// A release would spend more than the dataset's budget allows.
    #[error(
        "the privacy budget would be exceeded: this release needs ε = {asked_epsilon}, δ = {asked_delta}; the dataset has ε = {remaining_epsilon}, δ = {remaining_delta} left"
    )]
    BudgetExceeded {
        /// ε the release needs.
        asked_epsilon: f64,
        /// δ the release needs.
        asked_delta: f64,
        /// ε left.
        remaining_epsilon: f64,
        /// δ left.
        remaining_delta: f64,
    },
    /// No budget was set for the dataset.
    #[error("no privacy budget is set for dataset {0}: set one with `veil dp budget set`")]
    NoBudget(String),
    /// The budget store failed.
    #[error("budget storage: {0}")]
    Storage(String),
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
