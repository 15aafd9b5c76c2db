//! Per-column statistics, as shown by `veil data inspect`.

use std::collections::HashSet;

use serde::Serialize;

use super::{Column, Table, Values};

/// Statistics of one column. `min`, `max` and `mean` are over the non-missing cells of numeric
/// and boolean columns (booleans count as 0/1; NaN cells are skipped) and absent otherwise.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// `integer`, `float`, `boolean` or `string`.
    #[serde(rename = "type")]
    pub data_type: &'static str,
    /// Number of missing cells.
    pub missing: usize,
    /// Number of distinct non-missing values.
    pub distinct: usize,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean value.
    pub mean: Option<f64>,
}

/// What `veil data inspect` shows: the table's size and every column's statistics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Inspection {
    /// The table's source (a path or `builtin:NAME`).
    pub source: String,
    /// Data rows.
    pub rows: usize,
    /// Statistics of every column, in order.
    pub columns: Vec<ColumnSummary>,
}

/// The table's size, then one line of statistics per column.
impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} rows × {} columns",
            self.source,
            self.rows,
            self.columns.len()
        )?;
        let width = self.columns.iter().map(|s| s.name.chars().count()).max();
        let width = width.unwrap_or(6).max(6);
        writeln!(
            f,
            "{:<width$}  {:<8} {:>8} {:>9} {:>12} {:>12} {:>12}",
            "column", "type", "missing", "distinct", "min", "max", "mean"
        )?;
        let num = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
        for s in &self.columns {
            writeln!(
                f,
                "{:<width$}  {:<8} {:>8} {:>9} {:>12} {:>12} {:>12}",
                s.name,
                s.data_type,
                s.missing,
                s.distinct,
                num(s.min),
                num(s.max),
                num(s.mean)
            )?;
        }
        Ok(())
    }
}

/// What `veil data export` wrote.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exported {
    /// The file written.
    pub output: std::path::PathBuf,
    /// Data rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
}

impl Table {
    /// Statistics of every column, in order.
    pub fn summarize(&self) -> Vec<ColumnSummary> {
        self.columns.iter().map(summarize).collect()
    }

    /// The table's size and column statistics.
    pub fn inspect(&self) -> Inspection {
        Inspection {
            source: self.source.clone(),
            rows: self.rows,
            columns: self.summarize(),
        }
    }

    /// Writes the table to `output` (CSV, gzip-compressed CSV or Parquet, by extension).
    pub fn export(&self, output: &std::path::Path) -> crate::Result<Exported> {
        self.save(output)?;
        Ok(Exported {
            output: output.to_path_buf(),
            rows: self.rows,
            columns: self.columns.len(),
        })
    }
}

fn summarize(column: &Column) -> ColumnSummary {
    let values = column.values();
    let missing = (0..values.len()).filter(|&i| values.is_missing(i)).count();
    let (distinct, numbers): (usize, Vec<f64>) = match values {
        Values::Integer(v) => {
            let set: HashSet<i64> = v.iter().flatten().copied().collect();
            (set.len(), v.iter().flatten().map(|&x| x as f64).collect())
        }
        Values::Float(v) => {
            // Distinct by bit pattern, with -0.0 folded into 0.0 and all NaNs into one.
            let key = |x: f64| {
                if x.is_nan() {
                    f64::NAN.to_bits()
                } else {
                    (x + 0.0).to_bits()
                }
            };
            let set: HashSet<u64> = v.iter().flatten().map(|&x| key(x)).collect();
            (
                set.len(),
                v.iter()
                    .flatten()
                    .copied()
                    .filter(|x| !x.is_nan())
                    .collect(),
            )
        }
        Values::Boolean(v) => {
            let set: HashSet<bool> = v.iter().flatten().copied().collect();
            (
                set.len(),
                v.iter()
                    .flatten()
                    .map(|&b| f64::from(u8::from(b)))
                    .collect(),
            )
        }
        Values::String(v) => {
            let set: HashSet<&str> = v.iter().flatten().map(String::as_str).collect();
            (set.len(), Vec::new())
        }
    };
    let stats = (!numbers.is_empty()).then(|| {
        let min = numbers.iter().copied().fold(f64::INFINITY, f64::min);
        let max = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = numbers.iter().sum::<f64>() / numbers.len() as f64;
        (min, max, mean)
    });
    ColumnSummary {
        name: column.name().to_string(),
        data_type: values.data_type().name(),
        missing,
        distinct,
        min: stats.map(|s| s.0),
        max: stats.map(|s| s.1),
        mean: stats.map(|s| s.2),
    }
}

#[cfg(test)]
mod tests {
    use crate::table::Table;

    #[test]
    fn statistics_per_type() {
        let t = Table::from_csv_bytes(
            "s.csv",
            b"i,f,b,s\n1,0.5,true,x\n3,,false,x\n2,-0.5,true,\n",
        )
        .unwrap();
        let s = t.summarize();
        assert_eq!(
            (s[0].min, s[0].max, s[0].mean),
            (Some(1.0), Some(3.0), Some(2.0))
        );
        assert_eq!((s[1].missing, s[1].distinct, s[1].mean), (1, 2, Some(0.0)));
        assert_eq!((s[2].distinct, s[2].mean), (2, Some(2.0 / 3.0)));
        assert_eq!(
            (s[3].data_type, s[3].missing, s[3].distinct, s[3].min),
            ("string", 1, 1, None)
        );
    }
}
