//! The error vocabulary of `veil-core`.
//!
//! Every variant names the file (or built-in dataset) it is about and, where it applies, the
//! place in it: the 1-based physical line for CSV input (the header is line 1), the 1-based row
//! for Parquet input, and the column. Messages say what was wrong and, where it helps, what to do.
//! Cell values quoted in messages are shortened so that an error never dumps a whole record.
//!
//! [`ErrorKind`] is the vocabulary every Veil crate shares: each crate's error answers
//! `kind()` with one of its twelve kinds (a wrapped error answers with its cause's), so a
//! caller decides what happened — and the `veil` command which exit code to give — without
//! knowing every crate's variants or reading any message.

use std::fmt;

/// What kind of failure an error is, across every Veil crate.
///
/// The kinds are what a caller can act on: fix the arguments, fix the data, try another
/// key, distrust the file, wait for the network. `veil` maps each kind to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A bug or an impossible state: nothing the user did.
    Internal,
    /// Invalid arguments or options: a parameter out of range, a combination that makes no
    /// sense, a missing choice.
    Usage,
    /// Invalid input data: file content, columns, labels, a malformed key or proof file.
    Data,
    /// The file system failed: a missing file, a permission, a full disk.
    Io,
    /// An invalid model file, or a model the operation cannot use.
    ModelFile,
    /// Training diverged (a non-finite loss or gradient).
    Diverged,
    /// A sealed file is not intact: tampered, truncated, extended, or not a sealed file.
    NotIntact,
    /// No key given opens the data: a wrong identity, passphrase, or key set.
    WrongKey,
    /// A signature is missing, by someone else, or does not verify.
    Signature,
    /// A ledger proof, checkpoint or audit does not verify.
    Proof,
    /// A privacy budget would be exceeded, or none is set.
    Budget,
    /// A network peer could not be reached or authenticated, timed out, or broke the
    /// protocol.
    Network,
}

impl ErrorKind {
    /// Every kind, in the order of their exit codes.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Internal,
        ErrorKind::Usage,
        ErrorKind::Data,
        ErrorKind::Io,
        ErrorKind::ModelFile,
        ErrorKind::Diverged,
        ErrorKind::NotIntact,
        ErrorKind::WrongKey,
        ErrorKind::Signature,
        ErrorKind::Proof,
        ErrorKind::Budget,
        ErrorKind::Network,
    ];

    /// A short description for people (help texts, reports).
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal error",
            ErrorKind::Usage => "invalid arguments or options",
            ErrorKind::Data => "invalid input data",
            ErrorKind::Io => "file-system error",
            ErrorKind::ModelFile => "invalid model file, or a model the command cannot use",
            ErrorKind::Diverged => "training diverged",
            ErrorKind::NotIntact => "a sealed file is not intact (tampered, truncated, not sealed)",
            ErrorKind::WrongKey => "wrong key or passphrase",
            ErrorKind::Signature => "a signature check failed",
            ErrorKind::Proof => "a ledger proof, checkpoint or audit does not verify",
            ErrorKind::Budget => "a privacy budget would be exceeded, or none is set",
            ErrorKind::Network => {
                "a network peer could not be reached or authenticated, or broke the protocol"
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Where a data row came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRef {
    /// A CSV record starting on this 1-based physical line (the header is line 1).
    Line(u64),
    /// A 1-based row of a source without lines (Parquet, or a table built in memory).
    Row(u64),
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowRef::Line(n) => write!(f, "line {n}"),
            RowRef::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// The role a column plays in a request, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A model input.
    Feature,
    /// The column a model predicts.
    Label,
    /// Any column named by the user.
    Column,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Feature => "feature column",
            Role::Label => "label column",
            Role::Column => "column",
        })
    }
}

/// Errors of `veil-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The input has no header row at all.
    #[error("{file}: the file is empty; a header row naming the columns is required")]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// The header row is unusable (an empty or repeated column name).
    #[error("{file}: line 1 (header): {message}")]
    BadHeader {
        /// The file.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// A record has a different number of fields than the header.
    #[error("{file}: {at}: ragged row: {found} fields, but the header has {expected}")]
    RaggedRow {
        /// The file.
        file: String,
        /// Where the record starts.
        at: RowRef,
        /// Fields in the header.
        expected: usize,
        /// Fields in this record.
        found: usize,
    },
    /// The CSV text could not be parsed (invalid UTF-8, for example).
    #[error("{file}: {at}: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// Where the problem is.
        at: RowRef,
        /// What is wrong.
        message: String,
    },
    /// A column named by the user does not exist.
    #[error("{file}: {role} \"{column}\" not found; the columns are: {available}")]
    UnknownColumn {
        /// The file.
        file: String,
        /// How the column was to be used.
        role: Role,
        /// The name asked for.
        column: String,
        /// The names that exist, comma-separated (shortened for wide tables).
        available: String,
    },
    /// A cell of a column that must be numeric holds text.
    #[error("{file}: {at}, {role} \"{column}\": non-numeric value \"{value}\"")]
    NonNumeric {
        /// The file.
        file: String,
        /// Where the cell is.
        at: RowRef,
        /// How the column is used.
        role: Role,
        /// The column.
        column: String,
        /// The cell's text (shortened).
        value: String,
    },
    /// A numeric cell holds NaN or an infinity.
    #[error("{file}: {at}, {role} \"{column}\": {value} is not a finite number")]
    NonFinite {
        /// The file.
        file: String,
        /// Where the cell is.
        at: RowRef,
        /// How the column is used.
        role: Role,
        /// The column.
        column: String,
        /// `NaN`, `inf` or `-inf`.
        value: String,
    },
    /// A cell that must hold a value is empty.
    #[error("{file}: {at}, {role} \"{column}\": missing value (drop or fill the row first)")]
    MissingValue {
        /// The file.
        file: String,
        /// Where the cell is.
        at: RowRef,
        /// How the column is used.
        role: Role,
        /// The column.
        column: String,
    },
    /// A Parquet file could not be read or written.
    #[error("{file}: Parquet: {message}")]
    Parquet {
        /// The file.
        file: String,
        /// What the Parquet or Arrow library reported.
        message: String,
    },
    /// `builtin:NAME` names no embedded dataset.
    #[error("unknown built-in dataset \"builtin:{name}\"; available: {available}")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: String,
    },
    /// The table has no data rows where some are needed.
    #[error("{file}: the table has no data rows")]
    NoRows {
        /// The file.
        file: String,
    },
    /// A secret file that users other than its owner may read or change.
    #[error(
        "{path} holds a secret but other users may read or change it (mode {mode:03o}): run `chmod 600 {path}` (and consider the key exposed if others could read it)"
    )]
    ExposedSecret {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A parameter is outside its valid range.
    #[error("invalid {name}: {message}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid.
        message: String,
    },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::ExposedSecret { .. } => ErrorKind::Io,
            Error::InvalidParameter { .. } => ErrorKind::Usage,
            Error::EmptyFile { .. }
            | Error::BadHeader { .. }
            | Error::RaggedRow { .. }
            | Error::Malformed { .. }
            | Error::UnknownColumn { .. }
            | Error::NonNumeric { .. }
            | Error::NonFinite { .. }
            | Error::MissingValue { .. }
            | Error::Parquet { .. }
            | Error::UnknownBuiltin { .. }
            | Error::NoRows { .. } => ErrorKind::Data,
        }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// Builds an [`Error::InvalidParameter`].
    pub fn invalid(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            message: message.into(),
        }
    }

    /// True when the error is about the operating system's I/O (missing file, full disk, ...),
    /// rather than about the content of the input.
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

/// Shortens a cell value for an error message: at most 40 characters, on a char boundary.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        None => value.to_string(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}

/// Joins column names for an error message, shortened for wide tables.
pub(crate) fn name_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const MAX: usize = 12;
    let names: Vec<&str> = names.collect();
    if names.len() <= MAX {
        names.join(", ")
    } else {
        format!(
            "{}, … ({} more)",
            names[..MAX].join(", "),
            names.len() - MAX
        )
    }
}

/// The result type of `veil-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
