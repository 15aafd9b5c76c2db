//! # veil-core — the ground every Veil crate stands on
//!
//! Level 0 of the Veil workspace (see `docs/design.md`): plain data handling and the shared
//! numerics, with no cryptography or learning of its own.
//!
//! * [`table`] — [`Table`]: CSV (plain or gzip), Parquet and embedded datasets in, typed
//!   columns with missing values out; feature matrices and labels for learning; errors that
//!   name the file, the line and the column.
//! * [`standardize`] — [`Standardizer`], fitted on training rows only.
//! * [`split`] — seeded, stratified train/test splits.
//! * [`digest`] — streaming SHA-256 of any file.
//! * [`atomic`] — writes that replace a file only when complete (mode 0600 for secrets; what
//!   the umask allows for the rest).
//! * [`random`] — bytes from the operating system's CSPRNG, for keys, nonces and salts.
//! * [`secret_file`] — key files read only when no other user may read or change them.
//! * [`time`] — Unix seconds and their RFC 3339 form.
//! * [`text`] — text from files and peers made safe to print (control characters escaped).
//! * The numerics the privacy and cryptography crates share: [`noise`] (the CSPRNG every noise
//!   draw comes from), [`sample`] (exact samplers: Bernoulli, geometric, discrete Laplace and
//!   Gaussian), [`fixed`] (stochastic rounding, and real vectors to Z_2^32 and back).
//! * [`error`] — the error vocabulary every crate shares ([`ErrorKind`]).
//!
//! ```
//! use veil_core::{Table, Standardizer, split::train_test_split};
//!
//! let table = Table::load("builtin:breast-cancer")?;
//! let features: Vec<&str> = table.column_names().filter(|c| *c != "malignant").collect();
//! let x = table.feature_matrix(&features)?;
//! let labels = table.class_labels("malignant")?;
//! let strata: Vec<usize> = labels.iter().map(|c| usize::from(c == "1")).collect();
//! let split = train_test_split(x.nrows(), Some(&strata), 0.2, 42)?;
//! let train = x.select(ndarray::Axis(0), &split.train);
//! let scaler = Standardizer::fit(train.view())?;
//! assert_eq!(scaler.dim(), 30);
//! # Ok::<(), veil_core::Error>(())
//! ```
//!
//! ## Threat model
//!
//! Input files are untrusted: any byte sequence yields either a table or an error that names
//! the place, never a panic. Error messages quote at most a short excerpt of one cell.

pub mod atomic;
pub mod cursor;
pub mod digest;
pub mod error;
pub mod fixed;
pub mod noise;
pub mod random;
pub mod sample;
pub mod secret_file;
pub mod split;
pub mod standardize;
pub mod table;
pub mod text;
pub mod time;

pub use digest::{Sha256Digest, hex};
pub use error::{Error, ErrorKind, Result, Role, RowRef};
pub use standardize::Standardizer;
pub use table::{Column, DataType, Table, Values};
