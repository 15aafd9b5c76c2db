//! From a table to numbers: feature matrices and labels.
//!
//! A feature column may be integer, float, boolean (0/1) or text that parses as numbers in
//! every row. Every cell must be present and finite; the first bad cell is reported with its
//! line and column. Labels for classification are the cells' canonical text, so that `1`,
//! `1.0` and `1.00` name one class.

use ndarray::Array2;

use super::{Table, Values, csv::parse_float};
use crate::error::{Error, Result, Role, excerpt};

impl Table {
    /// The named columns as a `rows × columns` matrix of `f64`.
    pub fn feature_matrix<S: AsRef<str>>(&self, names: &[S]) -> Result<Array2<f64>> {
        let mut x = Array2::zeros((self.num_rows(), names.len()));
        for (j, name) in names.iter().enumerate() {
            let col = self.numeric_column(name.as_ref(), Role::Feature)?;
            x.column_mut(j).assign(&ndarray::ArrayView1::from(&col));
        }
        Ok(x)
    }

    /// One column as finite `f64` values; `role` only shapes the error messages.
    pub fn numeric_column(&self, name: &str, role: Role) -> Result<Vec<f64>> {
        let column = self.column(name, role)?;
        let missing = |i: usize| Error::MissingValue {
            file: self.source.clone(),
            at: self.row_ref(i),
            role,
            column: name.to_string(),
        };
        let mut out = Vec::with_capacity(self.num_rows());
        match column.values() {
            Values::Integer(v) => {
                for (i, x) in v.iter().enumerate() {
                    out.push(x.ok_or_else(|| missing(i))? as f64);
                }
            }
            Values::Boolean(v) => {
                for (i, x) in v.iter().enumerate() {
                    out.push(f64::from(u8::from(x.ok_or_else(|| missing(i))?)));
                }
            }
            Values::Float(v) => {
                for (i, x) in v.iter().enumerate() {
                    out.push(self.finite(x.ok_or_else(|| missing(i))?, i, role, name)?);
                }
            }
            Values::String(v) => {
                for (i, x) in v.iter().enumerate() {
                    let text = x.as_deref().ok_or_else(|| missing(i))?;
                    let value = parse_float(text).ok_or_else(|| Error::NonNumeric {
                        file: self.source.clone(),
                        at: self.row_ref(i),
                        role,
                        column: name.to_string(),
                        value: excerpt(text),
                    })?;
                    out.push(self.finite(value, i, role, name)?);
                }
            }
        }
        Ok(out)
    }

    fn finite(&self, x: f64, row: usize, role: Role, name: &str) -> Result<f64> {
        if x.is_finite() {
            Ok(x)
        } else {
            Err(Error::NonFinite {
                file: self.source.clone(),
                at: self.row_ref(row),
                role,
                column: name.to_string(),
                value: format!("{x}"),
            })
        }
    }

    /// The label column as class names, one per row (no missing values allowed).
    pub fn class_labels(&self, name: &str) -> Result<Vec<String>> {
        let column = self.column(name, Role::Label)?;
        let values = column.values();
        (0..self.num_rows())
            .map(|i| {
                class_name(values, i).ok_or_else(|| Error::MissingValue {
                    file: self.source.clone(),
                    at: self.row_ref(i),
                    role: Role::Label,
                    column: name.to_string(),
                })
            })
            .collect()
    }

    /// True when the named column holds numbers that are not all whole — a regression target
    /// rather than class labels.
    pub fn is_continuous(&self, name: &str) -> Result<bool> {
        Ok(match self.column(name, Role::Label)?.values() {
            Values::Float(v) => v.iter().flatten().any(|x| x.fract() != 0.0),
            _ => false,
        })
    }
}

/// The canonical class name of cell `i`, or `None` when it is missing.
fn class_name(values: &Values, i: usize) -> Option<String> {
    match values {
        Values::Integer(v) => v[i].map(|x| x.to_string()),
        Values::Float(v) => v[i].map(|x| {
            if x.fract() == 0.0 && x.abs() < 9.0e15 {
                format!("{}", x as i64)
            } else {
                format!("{x}")
            }
        }),
        Values::Boolean(v) => v[i].map(|x| x.to_string()),
        Values::String(v) => v[i].as_ref().map(|s| s.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::error::{Error, Role, RowRef};
    use crate::table::Table;

    fn table(text: &str) -> Table {
        Table::from_csv_bytes("m.csv", text.as_bytes()).unwrap()
    }

    #[test]
    fn features_from_every_numeric_type() {
        let t = table("i,f,b,s,y\n1,0.5,true,007,a\n2,1.5,false,3.25,b\n");
        let x = t.feature_matrix(&["i", "f", "b", "s"]).unwrap();
        assert_eq!(x.row(0).to_vec(), [1.0, 0.5, 1.0, 7.0]);
        assert_eq!(x.row(1).to_vec(), [2.0, 1.5, 0.0, 3.25]);
        assert_eq!(t.class_labels("y").unwrap(), ["a", "b"]);
    }

    #[test]
    fn text_in_a_feature_names_line_and_column() {
        let t = table("a,b\n1,2\n3,oops\n");
        let err = t.feature_matrix(&["a", "b"]).unwrap_err();
        assert!(matches!(
            err,
            Error::NonNumeric {
                at: RowRef::Line(3),
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("line 3") && msg.contains("\"b\"") && msg.contains("oops"),
            "{msg}"
        );
    }

    #[test]
    fn nan_infinity_and_missing_are_rejected() {
        let t = table("a,b,c\n1,2,3\nNaN,-inf,\n");
        assert!(matches!(
            t.feature_matrix(&["a"]),
            Err(Error::NonFinite {
                at: RowRef::Line(3),
                ..
            })
        ));
        let err = t.feature_matrix(&["b"]).unwrap_err();
        assert!(
            err.to_string().contains("-inf is not a finite number"),
            "{err}"
        );
        assert!(matches!(
            t.feature_matrix(&["c"]),
            Err(Error::MissingValue {
                at: RowRef::Line(3),
                ..
            })
        ));
    }

    #[test]
    fn unknown_label_lists_columns() {
        let t = table("a,b\n1,2\n");
        let err = t.class_labels("label").unwrap_err();
        assert!(matches!(
            err,
            Error::UnknownColumn {
                role: Role::Label,
                ..
            }
        ));
        assert!(err.to_string().contains("columns are: a, b"), "{err}");
    }

    #[test]
    fn class_names_are_canonical() {
        let t = table("y,z\n1.0,0.5\n0.0,1.0\n");
        assert_eq!(t.class_labels("y").unwrap(), ["1", "0"]);
        assert!(!t.is_continuous("y").unwrap());
        assert!(t.is_continuous("z").unwrap());
    }
}
