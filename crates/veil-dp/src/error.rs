//! The error vocabulary of `veil-dp`.

use veil_core::ErrorKind;

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
    #[error(transparent)]
    Query(#[from] QueryError),
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
    #[error("no privacy budget is set for dataset {dataset}: set one with `veil dp budget set`")]
    NoBudget {
        /// The dataset (its name and digest).
        dataset: String,
    },
    /// `dp budget set` on a table that already has a budget: budgets are never reset.
    #[error(
        "{dataset} already has a privacy budget: a budget is set once and never reset (what was spent stays spent); `veil dp budget show` lists it"
    )]
    BudgetExists {
        /// The dataset (its name and digest).
        dataset: String,
    },
    /// A release protects another unit than the budget it would be charged to.
    #[error(
        "the budget protects each {budget}; this release protects each {release}, which it cannot be charged as: release with --privacy-unit {budget}, or per row (charged for the largest group of rows by group privacy)"
    )]
    WrongUnit {
        /// The budget's unit column.
        budget: String,
        /// The release's unit column.
        release: String,
    },
    /// The budget store failed (locked for too long, full disk, corrupt file, ...).
    #[error("budget storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The budget store holds something no Veil wrote (another application's database, or a
    /// schema version this build does not read).
    #[error("budget storage: {0}")]
    Corrupt(String),
    /// Reading the data failed, or the data cannot be used.
    #[error(transparent)]
    Data(#[from] veil_core::Error),
    /// The model could not be built or trained (DP-SGD), including divergence.
    #[error(transparent)]
    Ml(#[from] veil_ml::Error),
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidParameter { .. } => ErrorKind::Usage,
            Error::Query(q) => q.kind(),
            Error::BudgetExceeded { .. }
            | Error::NoBudget { .. }
            | Error::BudgetExists { .. }
            | Error::WrongUnit { .. } => ErrorKind::Budget,
            Error::Storage(_) => ErrorKind::Io,
            Error::Corrupt(_) => ErrorKind::Data,
            Error::Data(e) => e.kind(),
            Error::Ml(e) => e.kind(),
        }
    }

    /// An [`Error::InvalidParameter`].
    pub fn invalid(name: &'static str, why: impl Into<String>) -> Error {
        Error::InvalidParameter {
            name,
            why: why.into(),
        }
    }
}

/// Why a DP SQL query is refused. Every refusal happens before any noise is drawn.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not SQL.
    #[error("the SQL does not parse: {0}")]
    Parse(#[source] sqlparser::parser::ParserError),
    /// More or fewer than one statement.
    #[error("expected one SELECT statement, found {0}")]
    NotOneStatement(usize),
    /// A construct outside the supported subset.
    #[error("{construct} is not supported ({})", crate::query::parse::SUPPORTED)]
    Unsupported {
        /// The construct, as written.
        construct: String,
    },
    /// A SELECT with no output.
    #[error("the query selects nothing")]
    SelectsNothing,
    /// Two outputs with one name.
    #[error("two outputs are named \"{0}\": give one an alias with AS")]
    DuplicateOutput(String),
    /// A plain column that is not a GROUP BY key.
    #[error(
        "column \"{0}\" is selected but not in GROUP BY; a DP query releases only GROUP BY keys and aggregates"
    )]
    NotGrouped(String),
    /// A percentile outside [0, 1].
    #[error("PERCENTILE_CONT needs a fraction between 0 and 1, not {0}")]
    Percentile(String),
    /// `= NULL` instead of `IS NULL`.
    #[error("compare with NULL using IS NULL / IS NOT NULL")]
    NullComparison,
    /// A column the table does not have.
    #[error("unknown column \"{column}\"; the table has: {available}")]
    UnknownColumn {
        /// The name asked for.
        column: String,
        /// The table's columns.
        available: String,
    },
    /// A WHERE comparison of unlike types.
    #[error("WHERE compares {left} ({left_type}) with {right} ({right_type})")]
    Incomparable {
        /// The left operand.
        left: String,
        /// Its type.
        left_type: &'static str,
        /// The right operand.
        right: String,
        /// Its type.
        right_type: &'static str,
    },
    /// A table too large to index with 32 bits.
    #[error("tables of 2^32 rows or more are not supported")]
    TooManyRows,
    /// `--max-contributions` without `--privacy-unit`.
    #[error("--max-contributions needs --privacy-unit (without it each row is a unit)")]
    ContributionsWithoutUnit,
    /// GROUP BY a float column.
    #[error("GROUP BY {0} groups a float column; group by an integer, boolean or text column")]
    FloatGroup(String),
    /// GROUP BY without keys and without δ for partition selection.
    #[error(
        "GROUP BY {group_by} without public keys needs --delta > 0 for partition selection; or list the groups with --keys {first}=A,B,..."
    )]
    NeedsDeltaOrKeys {
        /// The GROUP BY columns.
        group_by: String,
        /// The first of them.
        first: String,
    },
    /// A numeric aggregate of a text column.
    #[error("{aggregate}({column}) needs a numeric column, but {column} is text")]
    NotNumeric {
        /// The aggregate.
        aggregate: &'static str,
        /// The column.
        column: String,
    },
    /// An aggregate that needs public bounds, without them.
    #[error(
        "{aggregate}({column}) needs bounds: add --bounds {column}=LO:HI (values are clamped to them)"
    )]
    NeedsBounds {
        /// The aggregate.
        aggregate: &'static str,
        /// The column.
        column: String,
    },
    /// No aggregate at all.
    #[error("the query has no aggregate: add COUNT(*), SUM(col), AVG(col), ...")]
    NoAggregate,
    /// `--keys` for a column that is not grouped.
    #[error("--keys {0}=... names a column that is not in GROUP BY")]
    KeysNotGrouped(String),
    /// `--keys COL=` with no keys.
    #[error("--keys {0}= lists no keys")]
    EmptyKeys(String),
    /// `--keys` for some GROUP BY columns but not all.
    #[error(
        "--keys is given for some GROUP BY columns but not for {0}: give keys for all of them or none"
    )]
    PartialKeys(String),
    /// More group combinations than can be indexed.
    #[error("too many combinations of GROUP BY values")]
    TooManyGroups,
}

impl QueryError {
    /// Every refusal of a query is a usage error: the query or its options must change.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// The result type of `veil-dp`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
