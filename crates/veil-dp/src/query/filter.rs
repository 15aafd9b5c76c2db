//! WHERE conditions resolved against a table's columns and type-checked before anything is
//! spent, then evaluated row by row with SQL's three-valued logic.

use std::cmp::Ordering;

use veil_core::table::{Column, DataType, Table, Values};

use super::parse::{CmpOp, Filter, Literal, Operand};
use crate::error::{QueryError, Result};

/// Finds a column by exact name, else by a unique case-insensitive match.
pub(crate) fn resolve<'t>(table: &'t Table, name: &str) -> Result<&'t Column> {
    if let Some(c) = table.columns().iter().find(|c| c.name() == name) {
        return Ok(c);
    }
    let mut folded = table
        .columns()
        .iter()
        .filter(|c| c.name().eq_ignore_ascii_case(name));
    match (folded.next(), folded.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(QueryError::UnknownColumn {
            column: name.to_string(),
            available: table.column_names().collect::<Vec<_>>().join(", "),
        }
        .into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    Bool,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Text => "text",
            Kind::Bool => "a boolean",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Scalar<'a> {
    Number(f64),
    Text(&'a str),
    Bool(bool),
}

fn compare(a: Scalar, b: Scalar) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Number(x), Scalar::Number(y)) => x.partial_cmp(&y),
        (Scalar::Text(x), Scalar::Text(y)) => Some(x.cmp(y)),
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

#[derive(Debug)]
pub(crate) enum Term<'t> {
    Column(&'t Values),
    Literal(Literal),
}

impl Term<'_> {
    fn get(&self, row: usize) -> Option<Scalar<'_>> {
        match self {
            Term::Column(values) => match values {
                Values::Integer(v) => v[row].map(|x| Scalar::Number(x as f64)),
                Values::Float(v) => v[row].map(Scalar::Number),
                Values::Boolean(v) => v[row].map(Scalar::Bool),
                Values::String(v) => v[row].as_deref().map(Scalar::Text),
            },
            Term::Literal(l) => Some(literal_scalar(l)),
        }
    }
}

fn literal_scalar(l: &Literal) -> Scalar<'_> {
    match l {
        Literal::Number(x) => Scalar::Number(*x),
        Literal::Text(s) => Scalar::Text(s),
        Literal::Bool(b) => Scalar::Bool(*b),
    }
}

fn literal_kind(l: &Literal) -> Kind {
    match l {
        Literal::Number(_) => Kind::Number,
        Literal::Text(_) => Kind::Text,
        Literal::Bool(_) => Kind::Bool,
    }
}

/// A filter whose columns are resolved and whose comparisons are type-checked.
#[derive(Debug)]
pub(crate) enum Compiled<'t> {
    And(Box<Compiled<'t>>, Box<Compiled<'t>>),
    Or(Box<Compiled<'t>>, Box<Compiled<'t>>),
    Not(Box<Compiled<'t>>),
    Compare(Term<'t>, CmpOp, Term<'t>),
    In(Term<'t>, Vec<Literal>, bool),
    Between(Term<'t>, Term<'t>, Term<'t>, bool),
    IsNull(Term<'t>, bool),
}

fn term<'t>(table: &'t Table, operand: &Operand) -> Result<(Term<'t>, Kind, String)> {
    Ok(match operand {
        Operand::Column(name) => {
            let column = resolve(table, name)?;
            let kind = match column.data_type() {
                DataType::Integer | DataType::Float => Kind::Number,
                DataType::Boolean => Kind::Bool,
                DataType::String => Kind::Text,
            };
            (
                Term::Column(column.values()),
                kind,
                format!(
                    "column \"{}\" ({})",
                    column.name(),
                    column.data_type().name()
                ),
            )
        }
        Operand::Literal(l) => (Term::Literal(l.clone()), literal_kind(l), format!("{l:?}")),
    })
}

fn same_kind(a: (Kind, &str), b: (Kind, &str)) -> Result<()> {
    if a.0 == b.0 {
        Ok(())
    } else {
        Err(QueryError::Incomparable {
            left: a.1.to_string(),
            left_type: a.0.name(),
            right: b.1.to_string(),
            right_type: b.0.name(),
        }
        .into())
    }
}

/// Resolves and type-checks `filter` against `table`.
pub(crate) fn compile<'t>(table: &'t Table, filter: &Filter) -> Result<Compiled<'t>> {
    Ok(match filter {
        Filter::And(a, b) => {
            Compiled::And(Box::new(compile(table, a)?), Box::new(compile(table, b)?))
        }
        Filter::Or(a, b) => {
            Compiled::Or(Box::new(compile(table, a)?), Box::new(compile(table, b)?))
        }
        Filter::Not(a) => Compiled::Not(Box::new(compile(table, a)?)),
        Filter::Compare(a, op, b) => {
            let (ta, ka, na) = term(table, a)?;
            let (tb, kb, nb) = term(table, b)?;
            same_kind((ka, &na), (kb, &nb))?;
            Compiled::Compare(ta, *op, tb)
        }
        Filter::In(a, list, negated) => {
            let (ta, ka, na) = term(table, a)?;
            for l in list {
                same_kind((ka, &na), (literal_kind(l), &format!("{l:?}")))?;
            }
            Compiled::In(ta, list.clone(), *negated)
        }
        Filter::Between(x, lo, hi, negated) => {
            let (tx, kx, nx) = term(table, x)?;
            let (tl, kl, nl) = term(table, lo)?;
            let (th, kh, nh) = term(table, hi)?;
            same_kind((kx, &nx), (kl, &nl))?;
            same_kind((kx, &nx), (kh, &nh))?;
            Compiled::Between(tx, tl, th, *negated)
        }
        Filter::IsNull(x, negated) => Compiled::IsNull(term(table, x)?.0, *negated),
    })
}

fn not(v: Option<bool>) -> Option<bool> {
    v.map(|b| !b)
}

impl Compiled<'_> {
    /// The condition on row `row`: `None` is SQL's unknown (a missing value was compared).
    pub(crate) fn eval(&self, row: usize) -> Option<bool> {
        match self {
            Compiled::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Compiled::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Compiled::Not(a) => not(a.eval(row)),
            Compiled::Compare(a, op, b) => {
                let ord = compare(a.get(row)?, b.get(row)?)?;
                Some(match op {
                    CmpOp::Eq => ord == Ordering::Equal,
                    CmpOp::Ne => ord != Ordering::Equal,
                    CmpOp::Lt => ord == Ordering::Less,
                    CmpOp::Le => ord != Ordering::Greater,
                    CmpOp::Gt => ord == Ordering::Greater,
                    CmpOp::Ge => ord != Ordering::Less,
                })
            }
            Compiled::In(a, list, negated) => {
                let v = a.get(row)?;
                let found = list
                    .iter()
                    .any(|l| compare(v, literal_scalar(l)) == Some(Ordering::Equal));
                Some(found != *negated)
            }
            Compiled::Between(x, lo, hi, negated) => {
                let v = x.get(row)?;
                let inside = compare(v, lo.get(row)?)? != Ordering::Less
                    && compare(v, hi.get(row)?)? != Ordering::Greater;
                Some(inside != *negated)
            }
            Compiled::IsNull(x, negated) => Some(x.get(row).is_none() != *negated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse::parse;
    use veil_core::table::Column;

    fn table() -> Table {
        Table::new(
            "t",
            vec![
                Column::new(
                    "age",
                    Values::Integer(vec![Some(10), Some(30), None, Some(50)]),
                ),
                Column::new(
                    "Sex",
                    Values::String(vec![
                        Some("F".into()),
                        Some("M".into()),
                        Some("F".into()),
                        None,
                    ]),
                ),
            ],
        )
        .unwrap()
    }

    fn rows(sql_where: &str) -> Vec<usize> {
        let t = table();
        let select = parse(&format!("SELECT COUNT(*) FROM data WHERE {sql_where}")).unwrap();
        let f = compile(&t, select.filter.as_ref().unwrap()).unwrap();
        (0..t.num_rows())
            .filter(|&i| f.eval(i) == Some(true))
            .collect()
    }

    #[test]
    fn three_valued_logic_drops_unknowns() {
        assert_eq!(rows("age > 18"), [1, 3]);
        assert_eq!(rows("NOT age > 18"), [0]);
        assert_eq!(rows("age > 18 OR sex = 'F'"), [0, 1, 2, 3]);
        assert_eq!(rows("age > 18 AND sex = 'M'"), [1]);
        assert_eq!(rows("age IS NULL"), [2]);
        assert_eq!(rows("sex IS NOT NULL AND age BETWEEN 10 AND 30"), [0, 1]);
        assert_eq!(rows("age NOT IN (10, 50)"), [1]);
        assert_eq!(rows("18 < age"), [1, 3]);
        assert_eq!(rows("sex <> 'F'"), [1]);
    }

    #[test]
    fn type_errors_and_unknown_columns_are_caught_before_running() {
        let t = table();
        for (cond, what) in [
            ("age = 'ten'", "compares column \"age\" (integer)"),
            ("sex > 3", "text"),
            (
                "height > 3",
                "unknown column \"height\"; the table has: age, Sex",
            ),
        ] {
            let select = parse(&format!("SELECT COUNT(*) FROM data WHERE {cond}")).unwrap();
            let e = compile(&t, select.filter.as_ref().unwrap()).unwrap_err();
            assert!(e.to_string().contains(what), "{cond}: {e}");
        }
    }
}
