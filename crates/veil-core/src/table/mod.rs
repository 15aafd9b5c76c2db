//! Tables: named, typed columns with missing values.
//!
//! A [`Table`] is what every Veil command reads its data into. It is loaded from a CSV file
//! (plain or gzip-compressed), a Parquet file, or an embedded dataset (`builtin:NAME`), always
//! through [`Table::load`]. Each column has one of four types — integer, float, boolean,
//! string — and every cell may be missing. The table remembers where each row came from (the
//! CSV line, or the row number) so that later errors, such as text in a feature column, can
//! point at the exact cell.

mod builtin;
mod content;
mod csv;
mod matrix;
mod parquet;
mod summary;

use std::path::Path;

pub use builtin::{BUILTINS, Builtin, find as find_builtin};
pub use summary::{ColumnSummary, Exported, Inspection};

use crate::error::{Error, Result, Role, RowRef, name_list};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// 64-bit signed integers.
    Integer,
    /// 64-bit floating point.
    Float,
    /// `true` / `false`.
    Boolean,
    /// UTF-8 text.
    String,
}

impl DataType {
    /// The name used in reports and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Integer => "integer",
            DataType::Float => "float",
            DataType::Boolean => "boolean",
            DataType::String => "string",
        }
    }
}

/// The cells of one column; `None` is a missing value.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// An integer column.
    Integer(Vec<Option<i64>>),
    /// A float column.
    Float(Vec<Option<f64>>),
    /// A boolean column.
    Boolean(Vec<Option<bool>>),
    /// A string column.
    String(Vec<Option<String>>),
}

impl Values {
    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            Values::Integer(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::String(v) => v.len(),
        }
    }

    /// True when the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's type.
    pub fn data_type(&self) -> DataType {
        match self {
            Values::Integer(_) => DataType::Integer,
            Values::Float(_) => DataType::Float,
            Values::Boolean(_) => DataType::Boolean,
            Values::String(_) => DataType::String,
        }
    }

    /// True when cell `i` is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Values::Integer(v) => v[i].is_none(),
            Values::Float(v) => v[i].is_none(),
            Values::Boolean(v) => v[i].is_none(),
            Values::String(v) => v[i].is_none(),
        }
    }

    /// The cells at `rows`, in that order.
    fn take(&self, rows: &[usize]) -> Values {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        match self {
            Values::Integer(v) => Values::Integer(pick(v, rows)),
            Values::Float(v) => Values::Float(pick(v, rows)),
            Values::Boolean(v) => Values::Boolean(pick(v, rows)),
            Values::String(v) => Values::String(pick(v, rows)),
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    name: String,
    values: Values,
}

impl Column {
    /// A column named `name` holding `values`.
    pub fn new(name: impl Into<String>, values: Values) -> Self {
        Column {
            name: name.into(),
            values,
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's cells.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// The column's type.
    pub fn data_type(&self) -> DataType {
        self.values.data_type()
    }
}

/// Where the rows of a table came from, so errors can point at them.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    /// CSV: the physical line on which each record starts.
    Lines(Vec<u64>),
    /// Anything else: rows are numbered from 1.
    Rows,
}

/// A table of named, typed columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    source: String,
    columns: Vec<Column>,
    rows: usize,
    origin: Origin,
}

impl Table {
    /// Builds a table from columns, checking that names are unique and non-empty and that all
    /// columns have the same length. `source` names the table in error messages.
    pub fn new(source: impl Into<String>, columns: Vec<Column>) -> Result<Table> {
        let source = source.into();
        let rows = columns.first().map_or(0, |c| c.values.len());
        check_names(&source, columns.iter().map(|c| c.name.as_str()))?;
        if let Some(bad) = columns.iter().find(|c| c.values.len() != rows) {
            return Err(Error::invalid(
                "table",
                format!(
                    "column \"{}\" has {} cells, but \"{}\" has {rows}",
                    bad.name,
                    bad.values.len(),
                    columns[0].name
                ),
            ));
        }
        Ok(Table {
            source,
            columns,
            rows,
            origin: Origin::Rows,
        })
    }

    /// Loads a table from a data specification: `builtin:NAME`, a `.parquet` file, or a CSV
    /// file (plain or gzip-compressed; compression is detected from the content).
    pub fn load(spec: &str) -> Result<Table> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            return builtin::load(name);
        }
        let path = Path::new(spec);
        if is_parquet(path)? {
            parquet::read(path)
        } else {
            csv::read_path(path)
        }
    }

    /// Reads CSV text (plain or gzip-compressed) from memory; `source` names it in errors.
    pub fn from_csv_bytes(source: &str, bytes: &[u8]) -> Result<Table> {
        csv::read_bytes(source, bytes)
    }

    /// Writes the table to `path`: Parquet when the name ends in `.parquet`, gzip-compressed
    /// CSV when it ends in `.gz`, plain CSV otherwise. The file is written to a temporary name
    /// and renamed into place only once complete.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, crate::atomic::Visibility::Public)
    }

    /// As [`Table::save`], with the given visibility: `Secret` for decrypted results, which
    /// are then 0600 whatever the umask or the file they replace.
    pub fn save_with(&self, path: &Path, visibility: crate::atomic::Visibility) -> Result<()> {
        crate::atomic::write_atomic_with(path, visibility, |out| self.write_file(path, out))
    }

    /// Adds the table to `batch` as `path` (format chosen as by [`Table::save`]): it is
    /// written when the batch commits, together with the batch's other files.
    pub fn save_in(&self, batch: &mut crate::atomic::Batch, path: &Path) -> Result<()> {
        batch.add_with(path, crate::atomic::Visibility::Public, |out| {
            self.write_file(path, out)
        })
    }

    fn write_file(&self, path: &Path, out: &mut std::io::BufWriter<std::fs::File>) -> Result<()> {
        if has_extension(path, "parquet") {
            parquet::write(self, path, out)
        } else {
            csv::write_path(self, path, has_extension(path, "gz"), out)
        }
    }

    /// Writes the table as CSV to any writer (RFC 4180; missing values are empty cells).
    pub fn write_csv<W: std::io::Write>(&self, out: W) -> Result<()> {
        csv::write(self, out, "output")
    }

    /// The name of the table's source, as used in error messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of data rows.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The column called `name`, or an error listing the columns that exist.
    pub fn column(&self, name: &str, role: Role) -> Result<&Column> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::UnknownColumn {
                file: self.source.clone(),
                role,
                column: name.to_string(),
                available: name_list(self.column_names()),
            })
    }

    /// Where data row `i` (0-based) came from: its CSV line, or its 1-based row number.
    pub fn row_ref(&self, i: usize) -> RowRef {
        match &self.origin {
            Origin::Lines(lines) => RowRef::Line(lines[i]),
            Origin::Rows => RowRef::Row(i as u64 + 1),
        }
    }

    /// A new table with the rows at `rows`, in that order (rows keep their origin for errors).
    pub fn take(&self, rows: &[usize]) -> Table {
        Table {
            source: self.source.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| Column::new(c.name.clone(), c.values.take(rows)))
                .collect(),
            rows: rows.len(),
            origin: match &self.origin {
                Origin::Lines(lines) => Origin::Lines(rows.iter().map(|&r| lines[r]).collect()),
                Origin::Rows => Origin::Rows,
            },
        }
    }

    /// Errors with [`Error::NoRows`] when the table is empty.
    pub fn require_rows(&self) -> Result<()> {
        if self.rows == 0 {
            Err(Error::NoRows {
                file: self.source.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn with_lines(mut self, lines: Vec<u64>) -> Table {
        debug_assert_eq!(lines.len(), self.rows);
        self.origin = Origin::Lines(lines);
        self
    }
}

fn check_names<'a>(source: &str, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            return Err(Error::BadHeader {
                file: source.to_string(),
                message: format!("column {} has an empty name", i + 1),
            });
        }
        if !seen.insert(name) {
            return Err(Error::BadHeader {
                file: source.to_string(),
                message: format!("column name \"{name}\" appears more than once"),
            });
        }
    }
    Ok(())
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A file is Parquet if it is named `.parquet` or starts with the Parquet magic `PAR1`.
fn is_parquet(path: &Path) -> Result<bool> {
    if has_extension(path, "parquet") {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = std::io::Read::read(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && &magic == b"PAR1")
}

/// Distinct labels, sorted numerically if all are numbers, else lexicographically.
pub fn sorted_classes(labels: &[String]) -> Vec<String> {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let numbers: Option<Vec<f64>> = classes.iter().map(|c| c.parse::<f64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut paired: Vec<(f64, String)> = numbers.into_iter().zip(classes).collect();
        paired.sort_by(|a, b| a.0.total_cmp(&b.0));
        classes = paired.into_iter().map(|p| p.1).collect();
    }
    classes
}
