//! DP SQL: aggregate queries over a table, released with differential privacy.
//!
//! ```text
//! SELECT sex, COUNT(*), AVG(age) FROM data WHERE age > 18 GROUP BY sex
//! ```
//!
//! # The guarantee
//!
//! Neighbouring datasets differ by all the rows of one *privacy unit* (a patient, a
//! customer: the `privacy_unit` column; without one, each row is a unit). Every released
//! number, and which groups appear, is (ε, δ)-differentially private with respect to adding
//! or removing one unit, where ε and δ are what [`PreparedQuery::cost`] says and what the
//! budget is charged. The table's schema (column names and types) and the query are public;
//! the number of rows, of units, and of rows per group are not, and nothing exact about them
//! is printed.
//!
//! # How a query is released
//!
//! 1. **Filter**: the WHERE condition keeps rows (SQL's three-valued logic).
//! 2. **Contribution bounding**: each unit keeps at most `max_contributions` (k) of its rows,
//!    a uniformly random subset, so a unit moves every statistic by a bounded amount.
//! 3. **Groups**: with public keys (`keys`) every combination of keys is released, present
//!    in the data or not. Without them, a group is released only when a noisy count of its
//!    distinct units clears a threshold — *partition selection* (Korolova et al. 2009;
//!    Wilson et al. 2020, §3): discrete Laplace noise of scale k/ε_s and a threshold set so
//!    that a group holding a single unit appears with probability at most δ/k. This spends ε_s
//!    and all of δ.
//! 4. **Measurements**, each with discrete Laplace (counts) or Laplace on a grid (sums)
//!    noise of its share of ε, for sensitivity to one unit's k clamped rows:
//!    | measurement | sensitivity | used by |
//!    |---|---|---|
//!    | count of rows | k | COUNT(*) |
//!    | count of rows with col present | k | COUNT(col), AVG, VARIANCE, STDDEV |
//!    | sum of clamp(col) | k·max(|lo|, |hi|) | SUM |
//!    | sum of clamp(col) − m, m = (lo+hi)/2 | k·r, r = (hi−lo)/2 | AVG, VARIANCE, STDDEV |
//!    | sum of (clamp(col) − m)² − r²/2 | k·r²/2 | VARIANCE, STDDEV |
//!    | quantile tree of col ([`quantile`]) | 4k | MEDIAN, PERCENTILE_CONT |
//!
//!    A sum's terms are each clamped to their bound and rounded to the noise's grid, and
//!    summed in integers ([`crate::mechanism::Laplace::for_sum`]): the sum is exact, so the
//!    sensitivity above holds for the computed value, not only for real arithmetic (a float
//!    sum's rounding depends on the other rows; Casacuberta et al., CCS 2022).
//!
//!    Measurements are shared: `COUNT(age), AVG(age), STDDEV(age)` draw one count of `age`.
//!    ε is split evenly over the measurements (and partition selection); pure ε composes
//!    by addition, so the query is ε-DP plus partition selection's δ.
//! 5. **Answers** are post-processing of the noisy measurements: AVG = m + S/C, VARIANCE
//!    from the first two centred moments, both clamped to what the bounds allow.
//!
//! # Intervals
//!
//! Every number comes with a 95% interval for the noise: it holds, with probability at least
//! 95%, the value the query would give on the filtered, contribution-bounded, clamped data.
//! Counts and sums use the exact noise tails; AVG, VARIANCE and STDDEV combine the intervals
//! of their measurements at 95% overall (union bound) by interval arithmetic; quantiles use
//! an approximate parametric bootstrap. The interval does not cover sampling error or the
//! bias that clamping and bounding introduce.

pub(crate) mod bound;
mod filter;
pub mod parse;
mod quantile;

use std::collections::HashMap;
use std::fmt;

use veil_core::table::{Column, DataType, Table, Values};

use serde::Serialize;

use crate::budget::{Budget, Receipt};
use crate::error::{Error, QueryError, Result};
use crate::loss::PrivacyLoss;
use crate::mechanism::{DiscreteLaplace, Laplace};
use bound::{Codes, bound_contributions, dictionary, encode, encode_with_keys};
use filter::{Compiled, compile, resolve};
use parse::{Aggregate, Output, Select};
use quantile::{NoisyTree, leaf};
use veil_core::noise::NoiseRng;

/// 1 − the confidence level of every interval.
const ALPHA: f64 = 0.05;

/// How a query is to be released.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Total ε of the query (> 0).
    pub epsilon: f64,
    /// δ available for partition selection (0 when the groups are public or absent).
    pub delta: f64,
    /// The column naming the privacy unit; `None`: every row is its own unit.
    pub privacy_unit: Option<String>,
    /// The most rows one unit may contribute (k); default 1. Needs `privacy_unit`.
    pub max_contributions: Option<u64>,
    /// Public bounds per column, `(column, lo, hi)`: values are clamped to [lo, hi].
    pub bounds: Vec<(String, f64, f64)>,
    /// Public keys per GROUP BY column, `(column, keys)`.
    pub keys: Vec<(String, Vec<String>)>,
}

/// A noisy quantity drawn from the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Measurement {
    /// Partition selection: noisy counts of distinct units per candidate group.
    Partitions,
    /// The number of rows.
    Rows,
    /// The number of rows where the column is present.
    Present(String),
    /// The sum of the clamped column.
    Sum(String),
    /// The sum of the clamped column minus the bounds' midpoint.
    CenteredSum(String),
    /// The sum of squared centred values, less half their maximum.
    CenteredSquares(String),
    /// The quantile tree of the column.
    Quantiles(String),
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measurement::Partitions => write!(f, "partition selection"),
            Measurement::Rows => write!(f, "count of rows"),
            Measurement::Present(c) => write!(f, "count of rows with {c}"),
            Measurement::Sum(c) => write!(f, "sum of {c}"),
            Measurement::CenteredSum(c) => write!(f, "centred sum of {c}"),
            Measurement::CenteredSquares(c) => write!(f, "centred sum of squares of {c}"),
            Measurement::Quantiles(c) => write!(f, "quantile tree of {c}"),
        }
    }
}

/// One part of the query's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// What is measured.
    pub measurement: Measurement,
    /// Its part of the loss: an equal share of ε, and all of δ for partition selection.
    pub loss: PrivacyLoss,
    /// Its sensitivity to one privacy unit (L1).
    pub sensitivity: f64,
    /// The noise: "discrete Laplace" or "Laplace".
    pub mechanism: &'static str,
    /// The outputs that use it.
    pub outputs: Vec<String>,
}

/// One released cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A group's key (`None`: the group of missing values).
    Key(Option<String>),
    /// A noisy statistic and its 95% interval.
    Estimate {
        /// The released value.
        value: f64,
        /// The 95% interval for the noise.
        ci95: (f64, f64),
    },
}

/// A released query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRelease {
    /// Output column names.
    pub columns: Vec<String>,
    /// One row per released group.
    pub rows: Vec<Vec<Cell>>,
    /// How the budget was split.
    pub shares: Vec<Share>,
    /// What the release spent.
    pub loss: PrivacyLoss,
    /// With partition selection: the threshold a group's noisy unit count had to reach.
    pub selection_threshold: Option<i64>,
    /// The privacy unit column (`None`: each row).
    pub privacy_unit: Option<String>,
    /// The most rows a unit contributed.
    pub max_contributions: u64,
    /// The budget after the release was charged (`None` without a budget).
    pub budget: Option<Budget>,
}

impl Serialize for Share {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Share", 6)?;
        st.serialize_field("measurement", &self.measurement.to_string())?;
        st.serialize_field("epsilon", &self.loss.epsilon())?;
        st.serialize_field("delta", &self.loss.delta())?;
        st.serialize_field("sensitivity", &self.sensitivity)?;
        st.serialize_field("mechanism", self.mechanism)?;
        st.serialize_field("outputs", &self.outputs)?;
        st.end()
    }
}

/// A released row: each column's key or estimate, by name.
struct RowView<'a>(&'a [String], &'a [Cell]);

impl Serialize for RowView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct Estimate {
            value: f64,
            ci95: [f64; 2],
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, cell) in self.0.iter().zip(self.1) {
            match cell {
                Cell::Key(k) => map.serialize_entry(name, k)?,
                Cell::Estimate { value, ci95 } => map.serialize_entry(
                    name,
                    &Estimate {
                        value: *value,
                        ci95: [ci95.0, ci95.1],
                    },
                )?,
            }
        }
        map.end()
    }
}

/// A number for people: integers as such, others to 4 significant decimals.
fn shown(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}

/// The released rows as an aligned table, each value with its 95% interval, then what was
/// spent and how it was split.
impl fmt::Display for QueryRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| match c {
                        Cell::Key(k) => k.clone().unwrap_or_else(|| "NULL".into()),
                        Cell::Estimate { value, ci95 } => {
                            format!("{} [{}, {}]", shown(*value), shown(ci95.0), shown(ci95.1))
                        }
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|j| {
                let widest = cells.iter().map(|row| row[j].chars().count()).max();
                widest.unwrap_or(0).max(self.columns[j].chars().count())
            })
            .collect();
        let line = |items: &[String]| {
            let padded: Vec<String> = items
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:<w$}"))
                .collect();
            padded.join("  ")
        };
        writeln!(f, "{}", line(&self.columns))?;
        for row in &cells {
            writeln!(f, "{}", line(row))?;
        }
        if self.rows.is_empty() {
            writeln!(f, "(no group passed partition selection)")?;
        }
        writeln!(
            f,
            "values with 95% intervals for the noise; {} spent, split:",
            self.loss
        )?;
        for s in &self.shares {
            let used = if s.outputs.is_empty() {
                String::new()
            } else {
                format!(" → {}", s.outputs.join(", "))
            };
            let delta = if s.loss.delta() > 0.0 {
                format!(" δ {:e}", s.loss.delta())
            } else {
                String::new()
            };
            writeln!(
                f,
                "  ε {:.4}{delta}  {} ({} noise, sensitivity {}){used}",
                s.loss.epsilon(),
                s.measurement,
                s.mechanism,
                shown(s.sensitivity)
            )?;
        }
        if let Some(t) = self.selection_threshold {
            writeln!(
                f,
                "  groups released when their noisy count of units reached {t}"
            )?;
        }
        Ok(())
    }
}

impl QueryRelease {
    /// What a provenance record of the release keeps: the query, what it spent, the privacy
    /// unit, the digest of the released values and, up to 1 MiB, the values themselves.
    pub fn provenance(&self, sql: &str) -> Vec<(String, String)> {
        let body = serde_json::to_string(self).unwrap_or_default();
        let mut meta = vec![
            ("sql".to_string(), sql.to_string()),
            ("epsilon".to_string(), self.loss.epsilon().to_string()),
            ("delta".to_string(), self.loss.delta().to_string()),
            (
                "release_sha256".to_string(),
                veil_core::Sha256Digest::of_bytes(body.as_bytes()).to_hex(),
            ),
        ];
        if body.len() <= 1 << 20 {
            meta.push(("release".to_string(), body));
        }
        if let Some(unit) = &self.privacy_unit {
            meta.push(("privacy_unit".to_string(), unit.clone()));
            meta.push((
                "max_contributions".to_string(),
                self.max_contributions.to_string(),
            ));
        }
        meta
    }
}

/// The JSON of `veil dp query`: the released rows with their intervals, what was spent and
/// how it was split, and the budget after the charge.
impl Serialize for QueryRelease {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct Selection {
            threshold: i64,
        }
        #[derive(Serialize)]
        struct Left {
            remaining_epsilon: f64,
            remaining_delta: f64,
            spent_epsilon: f64,
            spent_delta: f64,
        }
        let rows: Vec<RowView<'_>> = self
            .rows
            .iter()
            .map(|r| RowView(&self.columns, r))
            .collect();
        let mut st = s.serialize_struct("QueryRelease", 10)?;
        st.serialize_field("columns", &self.columns)?;
        st.serialize_field("rows", &rows)?;
        st.serialize_field("epsilon", &self.loss.epsilon())?;
        st.serialize_field("delta", &self.loss.delta())?;
        st.serialize_field("confidence", &(1.0 - ALPHA))?;
        st.serialize_field("budget_split", &self.shares)?;
        st.serialize_field(
            "partition_selection",
            &self
                .selection_threshold
                .map(|threshold| Selection { threshold }),
        )?;
        st.serialize_field("privacy_unit", &self.privacy_unit)?;
        st.serialize_field("max_contributions", &self.max_contributions)?;
        if let Some(b) = &self.budget {
            let remaining = b.remaining();
            st.serialize_field(
                "budget",
                &Left {
                    remaining_epsilon: remaining.epsilon(),
                    remaining_delta: remaining.delta(),
                    spent_epsilon: b.spent.epsilon(),
                    spent_delta: b.spent.delta(),
                },
            )?;
        }
        st.end()
    }
}

/// A query checked against a table, with its cost known, before any noise is drawn.
#[derive(Debug)]
pub struct PreparedQuery<'t> {
    table: &'t Table,
    select: Select,
    filter: Option<Compiled<'t>>,
    unit: Option<&'t Column>,
    k: u64,
    groups: Vec<&'t Column>,
    keys: Option<Vec<Vec<String>>>,
    bounds: HashMap<String, (f64, f64)>,
    shares: Vec<Share>,
    cost: PrivacyLoss,
    privacy_unit: Option<String>,
}

fn needs_bounds(aggregate: Aggregate) -> bool {
    !matches!(aggregate, Aggregate::Count)
}

fn sql_name(aggregate: Aggregate) -> &'static str {
    match aggregate {
        Aggregate::Count => "COUNT",
        Aggregate::Sum => "SUM",
        Aggregate::Avg => "AVG",
        Aggregate::Variance => "VARIANCE",
        Aggregate::Stddev => "STDDEV",
        Aggregate::Percentile(_) => "PERCENTILE_CONT",
    }
}

/// The measurements an aggregate needs.
fn measurements(aggregate: Aggregate, column: Option<&str>) -> Vec<Measurement> {
    let Some(c) = column.map(str::to_string) else {
        return vec![Measurement::Rows];
    };
    match aggregate {
        Aggregate::Count => vec![Measurement::Present(c)],
        Aggregate::Sum => vec![Measurement::Sum(c)],
        Aggregate::Avg => vec![Measurement::Present(c.clone()), Measurement::CenteredSum(c)],
        Aggregate::Variance | Aggregate::Stddev => vec![
            Measurement::Present(c.clone()),
            Measurement::CenteredSum(c.clone()),
            Measurement::CenteredSquares(c),
        ],
        Aggregate::Percentile(_) => vec![Measurement::Quantiles(c)],
    }
}

/// Checks `sql`, charges what it costs to `accounting` (refused, before any noise, if the
/// budget would be exceeded), and releases it: all of `veil dp query`.
pub fn run(
    sql: &str,
    table: &Table,
    options: &QueryOptions,
    accounting: crate::budget::Accounting<'_>,
    rng: &mut NoiseRng,
) -> Result<QueryRelease> {
    let prepared = prepare(sql, table, options)?;
    let receipt = accounting.charge(
        table,
        prepared.privacy_unit.as_deref(),
        prepared.cost(),
        "dp-query",
        sql,
    )?;
    prepared.release(receipt, rng)
}

/// Checks `sql` against `table` and `options` and works out what it costs. Nothing random
/// happens here: a query that cannot run fails before any budget is charged.
pub fn prepare<'t>(
    sql: &str,
    table: &'t Table,
    options: &QueryOptions,
) -> Result<PreparedQuery<'t>> {
    let asked = PrivacyLoss::target(options.epsilon, options.delta)?;
    if asked.epsilon() == 0.0 {
        return Err(Error::invalid(
            "epsilon",
            format!("{} must be positive", options.epsilon),
        ));
    }
    if table.num_rows() >= u32::MAX as usize {
        return Err(QueryError::TooManyRows.into());
    }
    let mut select = parse::parse(sql)?;
    let unit = options
        .privacy_unit
        .as_deref()
        .map(|u| resolve(table, u))
        .transpose()?;
    let k = match (unit, options.max_contributions) {
        (None, Some(_)) => {
            return Err(QueryError::ContributionsWithoutUnit.into());
        }
        (_, Some(0)) => return Err(Error::invalid("max_contributions", "must be at least 1")),
        (_, k) => k.unwrap_or(1),
    };
    // Resolve every column name to the table's spelling.
    let groups = select
        .group_by
        .iter()
        .map(|g| resolve(table, g))
        .collect::<Result<Vec<_>>>()?;
    for g in &groups {
        if g.data_type() == DataType::Float {
            return Err(QueryError::FloatGroup(g.name().to_string()).into());
        }
    }
    for o in &mut select.outputs {
        match &mut o.output {
            Output::Group(c) | Output::Aggregate(_, Some(c)) => {
                *c = resolve(table, c)?.name().to_string()
            }
            Output::Aggregate(_, None) => {}
        }
    }
    select.group_by = groups.iter().map(|g| g.name().to_string()).collect();
    let keys = public_keys(table, &groups, &options.keys)?;
    let mut bounds = HashMap::new();
    for (c, lo, hi) in &options.bounds {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::invalid(
                "bounds",
                format!("{c}={lo}:{hi} needs finite lo < hi"),
            ));
        }
        bounds.insert(resolve(table, c)?.name().to_string(), (*lo, *hi));
    }
    let mut shares: Vec<Share> = Vec::new();
    let needs_selection = !groups.is_empty() && keys.is_none();
    if needs_selection {
        if asked.units().1 == 0 {
            return Err(QueryError::NeedsDeltaOrKeys {
                group_by: select.group_by.join(", "),
                first: select.group_by[0].clone(),
            }
            .into());
        }
        shares.push(Share {
            measurement: Measurement::Partitions,
            loss: asked.delta_only(),
            sensitivity: k as f64,
            mechanism: "discrete Laplace",
            outputs: Vec::new(),
        });
    }
    for o in &select.outputs {
        let Output::Aggregate(aggregate, column) = &o.output else {
            continue;
        };
        if let Some(c) = column {
            let col = resolve(table, c)?;
            if needs_bounds(*aggregate) {
                if col.data_type() == DataType::String {
                    return Err(QueryError::NotNumeric {
                        aggregate: sql_name(*aggregate),
                        column: c.to_string(),
                    }
                    .into());
                }
                if !bounds.contains_key(c) {
                    return Err(QueryError::NeedsBounds {
                        aggregate: sql_name(*aggregate),
                        column: c.to_string(),
                    }
                    .into());
                }
            }
        }
        for m in measurements(*aggregate, column.as_deref()) {
            let sensitivity = sensitivity(&m, k, &bounds);
            match shares.iter_mut().find(|s| s.measurement == m) {
                Some(s) => s.outputs.push(o.name.clone()),
                None => shares.push(Share {
                    mechanism: if matches!(
                        m,
                        Measurement::Sum(_)
                            | Measurement::CenteredSum(_)
                            | Measurement::CenteredSquares(_)
                    ) {
                        "Laplace"
                    } else {
                        "discrete Laplace"
                    },
                    measurement: m,
                    loss: PrivacyLoss::ZERO,
                    sensitivity,
                    outputs: vec![o.name.clone()],
                }),
            }
        }
    }
    if shares.is_empty() {
        return Err(QueryError::NoAggregate.into());
    }
    // Equal shares of ε, rounded down: together they spend at most the query's ε.
    let each = asked.epsilon_share(shares.len());
    for s in &mut shares {
        s.loss = s.loss.compose(each)?;
    }
    let cost = shares
        .iter()
        .try_fold(PrivacyLoss::ZERO, |total, s| total.compose(s.loss))?;
    let filter = select
        .filter
        .as_ref()
        .map(|f| compile(table, f))
        .transpose()?;
    Ok(PreparedQuery {
        table,
        filter,
        unit,
        k,
        groups,
        keys,
        bounds,
        cost,
        privacy_unit: unit.map(|u| u.name().to_string()),
        select,
        shares,
    })
}

fn sensitivity(m: &Measurement, k: u64, bounds: &HashMap<String, (f64, f64)>) -> f64 {
    let k = k as f64;
    match m {
        Measurement::Partitions | Measurement::Rows | Measurement::Present(_) => k,
        Measurement::Sum(_) | Measurement::CenteredSum(_) | Measurement::CenteredSquares(_) => {
            k * term_bound(m, bounds)
        }
        Measurement::Quantiles(_) => k * f64::from(quantile::LEVELS),
    }
}

/// The largest |term| one row adds to a sum measurement (0 for the others).
fn term_bound(m: &Measurement, bounds: &HashMap<String, (f64, f64)>) -> f64 {
    match m {
        Measurement::Sum(c) => {
            let (lo, hi) = bounds[c];
            lo.abs().max(hi.abs())
        }
        Measurement::CenteredSum(c) => {
            let (lo, hi) = bounds[c];
            (hi - lo) / 2.0
        }
        Measurement::CenteredSquares(c) => {
            let (lo, hi) = bounds[c];
            ((hi - lo) / 2.0).powi(2) / 2.0
        }
        _ => 0.0,
    }
}

/// The public keys of the GROUP BY columns, in GROUP BY order: all or none must be given.
fn public_keys(
    table: &Table,
    groups: &[&Column],
    given: &[(String, Vec<String>)],
) -> Result<Option<Vec<Vec<String>>>> {
    // Keys of columns the query does not group by are public facts it does not need.
    if !given
        .iter()
        .any(|(c, _)| groups.iter().any(|g| g.name() == c))
    {
        return Ok(None);
    }
    let mut by_column: HashMap<&str, &Vec<String>> = HashMap::new();
    for (c, keys) in given {
        let name = resolve(table, c)?.name();
        if !groups.iter().any(|g| g.name() == name) {
            return Err(QueryError::KeysNotGrouped(name.to_string()).into());
        }
        if keys.is_empty() {
            return Err(QueryError::EmptyKeys(name.to_string()).into());
        }
        by_column.insert(name, keys);
    }
    groups
        .iter()
        .map(|g| {
            by_column
                .get(g.name())
                .map(|k| (*k).clone())
                .ok_or_else(|| Error::Query(QueryError::PartialKeys(g.name().to_string())))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn number(values: &Values, row: usize) -> Option<f64> {
    match values {
        Values::Integer(v) => v[row].map(|x| x as f64),
        Values::Float(v) => v[row].filter(|x| !x.is_nan()),
        Values::Boolean(v) => v[row].map(|b| f64::from(u8::from(b))),
        Values::String(_) => None,
    }
}

/// The released measurements of one kind, one per group.
enum Noisy {
    Counts(Vec<f64>, DiscreteLaplace),
    Sums(Vec<f64>, Laplace),
    Trees(Vec<NoisyTree>),
}

impl Noisy {
    fn value(&self, g: usize) -> f64 {
        match self {
            Noisy::Counts(v, _) | Noisy::Sums(v, _) => v[g],
            Noisy::Trees(_) => f64::NAN,
        }
    }

    /// The interval around group g's value that holds the exact value w.p. 1 − alpha.
    fn interval(&self, g: usize, alpha: f64) -> (f64, f64) {
        let h = match self {
            Noisy::Counts(_, n) => n.half_width(alpha),
            Noisy::Sums(_, n) => n.half_width(alpha),
            Noisy::Trees(_) => f64::INFINITY,
        };
        (self.value(g) - h, self.value(g) + h)
    }
}

/// The range of a/b over a in [a0, a1], b in [b0, b1] with b0 > 0.
fn ratio_range((a0, a1): (f64, f64), (b0, b1): (f64, f64)) -> (f64, f64) {
    let r = [a0 / b0, a0 / b1, a1 / b0, a1 / b1];
    (
        r.iter().copied().fold(f64::INFINITY, f64::min),
        r.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

impl PreparedQuery<'_> {
    /// What the query spends: at most the ε asked for (split exactly over the
    /// measurements), and δ only for partition selection.
    pub fn cost(&self) -> PrivacyLoss {
        self.cost
    }

    /// How ε and δ are split over the measurements.
    pub fn shares(&self) -> &[Share] {
        &self.shares
    }

    /// Runs the query and draws the noise, paid for by `receipt` (a budget's charge of at
    /// least [`PreparedQuery::cost`], or an explicitly unbudgeted release).
    pub fn release(mut self, receipt: Receipt, rng: &mut NoiseRng) -> Result<QueryRelease> {
        let budget = receipt.redeem(&self.cost)?;
        let rows: Vec<u32> = match &self.filter {
            Some(f) => (0..self.table.num_rows() as u32)
                .filter(|&r| f.eval(r as usize) == Some(true))
                .collect(),
            None => (0..self.table.num_rows() as u32).collect(),
        };
        let rows = match self.unit {
            Some(unit) => {
                bound_contributions(&encode(unit.values(), &rows), &rows, self.k as usize, rng)
            }
            None => rows,
        };
        let (rows, group_of, keys) = self.group(rows)?;
        let (mut selected, threshold) = self.select_groups(&rows, &group_of, keys.len(), rng)?;
        if self.keys.is_none() {
            selected.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
        }
        let shares = std::mem::take(&mut self.shares);
        let mut noisy: HashMap<Measurement, Noisy> = HashMap::new();
        for s in &shares {
            if s.measurement != Measurement::Partitions {
                let m = self.measure(
                    &s.measurement,
                    s.loss.epsilon_floor(),
                    &rows,
                    &group_of,
                    &selected,
                    rng,
                )?;
                noisy.insert(s.measurement.clone(), m);
            }
        }
        let mut out_rows = Vec::with_capacity(selected.len());
        for (i, &g) in selected.iter().enumerate() {
            let mut row = Vec::with_capacity(self.select.outputs.len());
            for o in &self.select.outputs {
                row.push(match &o.output {
                    Output::Group(c) => {
                        let j = self
                            .select
                            .group_by
                            .iter()
                            .position(|x| x == c)
                            .unwrap_or(0);
                        Cell::Key(keys[g as usize][j].clone())
                    }
                    Output::Aggregate(a, c) => self.answer(*a, c.as_deref(), i, &mut noisy, rng),
                });
            }
            out_rows.push(row);
        }
        Ok(QueryRelease {
            columns: self.select.outputs.iter().map(|o| o.name.clone()).collect(),
            rows: out_rows,
            shares,
            loss: self.cost,
            selection_threshold: threshold,
            privacy_unit: self.privacy_unit,
            max_contributions: self.k,
            budget,
        })
    }

    /// Assigns each kept row a group; returns the rows that belong to a group, their group
    /// indexes, and each group's key. With public keys every key combination is a group.
    #[allow(clippy::type_complexity)]
    fn group(&self, rows: Vec<u32>) -> Result<(Vec<u32>, Vec<u32>, Vec<Vec<Option<String>>>)> {
        if self.groups.is_empty() {
            let n = rows.len();
            return Ok((rows, vec![0; n], vec![Vec::new()]));
        }
        if let Some(keys) = &self.keys {
            let positions: Vec<Vec<Option<u32>>> = self
                .groups
                .iter()
                .zip(keys)
                .map(|(g, k)| encode_with_keys(g.values(), &rows, k))
                .collect();
            let (mut kept, mut group_of) = (Vec::new(), Vec::new());
            'rows: for (i, &r) in rows.iter().enumerate() {
                let mut g = 0u32;
                for (p, k) in positions.iter().zip(keys) {
                    let Some(p) = p[i] else { continue 'rows };
                    g = g * k.len() as u32 + p;
                }
                kept.push(r);
                group_of.push(g);
            }
            // Every combination, in the order the keys were given (last column fastest).
            let mut all: Vec<Vec<Option<String>>> = vec![Vec::new()];
            for k in keys {
                all = all
                    .into_iter()
                    .flat_map(|prefix| {
                        k.iter().map(move |key| {
                            let mut p = prefix.clone();
                            p.push(Some(key.clone()));
                            p
                        })
                    })
                    .collect();
            }
            return Ok((kept, group_of, all));
        }
        // Combine the columns' codes into one number per row (mixed radix), then code those.
        let codes: Vec<Codes> = self
            .groups
            .iter()
            .map(|g| encode(g.values(), &rows))
            .collect();
        let mut combined = vec![0u64; rows.len()];
        let mut radix = 1u64;
        for c in codes.iter().rev() {
            for (x, &code) in combined.iter_mut().zip(&c.code) {
                *x += u64::from(code) * radix;
            }
            radix = radix
                .checked_mul(c.keys.len() as u64)
                .ok_or(Error::Query(QueryError::TooManyGroups))?;
        }
        let (group_of, combos) = dictionary(combined.into_iter().map(Some));
        let keys = combos
            .into_iter()
            .map(|combo| {
                let mut rest = combo.unwrap_or(0);
                let mut key: Vec<Option<String>> = codes
                    .iter()
                    .rev()
                    .map(|c| {
                        let n = c.keys.len() as u64;
                        let k = c.keys[(rest % n) as usize].clone();
                        rest /= n;
                        k
                    })
                    .collect();
                key.reverse();
                key
            })
            .collect();
        Ok((rows, group_of, keys))
    }

    /// The groups to release: all of them with public keys (or without GROUP BY),
    /// else those whose noisy count of distinct units reaches the threshold.
    fn select_groups(
        &self,
        rows: &[u32],
        group_of: &[u32],
        groups: usize,
        rng: &mut NoiseRng,
    ) -> Result<(Vec<u32>, Option<i64>)> {
        let Some(share) = self
            .shares
            .iter()
            .find(|s| s.measurement == Measurement::Partitions)
        else {
            return Ok(((0..groups as u32).collect(), None));
        };
        let mut units = vec![0i64; groups];
        match self.unit {
            Some(unit) => {
                let codes = encode(unit.values(), rows);
                let pairs = codes
                    .code
                    .iter()
                    .zip(group_of)
                    .map(|(&u, &g)| Some(u64::from(u) << 32 | u64::from(g)));
                for pair in dictionary(pairs).1.into_iter().flatten() {
                    units[(pair & u64::from(u32::MAX)) as usize] += 1;
                }
            }
            None => {
                for &g in group_of {
                    units[g as usize] += 1;
                }
            }
        }
        let noise = DiscreteLaplace::new(self.k, share.loss.epsilon_floor())?;
        // P[1 + Y ≥ τ] = e^{−(τ−1)/t} / (1 + e^{−1/t}) for the discrete Laplace of scale t;
        // at most δ/k for each of the ≤ k groups only one unit's presence creates.
        let t = noise.scale();
        let per_group = share.loss.delta_floor() / self.k as f64;
        let above = (t * (1.0 / (per_group * (1.0 + (-1.0 / t).exp()))).ln())
            .ceil()
            .max(1.0);
        // A threshold no count can reach would select nothing; one that is not finite (δ = 0
        // slipped through) would select everything: refuse both rather than saturate.
        if !(per_group > 0.0 && above.is_finite() && above < (1u64 << 53) as f64) {
            return Err(Error::invalid(
                "delta",
                format!("{} is too small to select groups with", share.loss.delta()),
            ));
        }
        let threshold = 1 + above as i64;
        let selected = (0..groups as u32)
            .filter(|&g| noise.release(units[g as usize], rng) >= threshold)
            .collect();
        Ok((selected, Some(threshold)))
    }

    /// Draws one measurement for the selected groups.
    fn measure(
        &self,
        m: &Measurement,
        epsilon: f64,
        rows: &[u32],
        group_of: &[u32],
        selected: &[u32],
        rng: &mut NoiseRng,
    ) -> Result<Noisy> {
        let groups = selected.iter().max().map_or(0, |&g| g as usize + 1);
        let mut slot: Vec<Option<usize>> = vec![None; groups];
        for (i, &g) in selected.iter().enumerate() {
            slot[g as usize] = Some(i);
        }
        let n = selected.len();
        let column = |c: &str| -> Result<&Values> { Ok(resolve(self.table, c)?.values()) };
        let each = |f: &mut dyn FnMut(usize, usize)| {
            for (&r, g) in rows.iter().zip(group_of) {
                if let Some(&Some(s)) = slot.get(*g as usize) {
                    f(s, r as usize);
                }
            }
        };
        match m {
            Measurement::Rows | Measurement::Present(_) => {
                let mut counts = vec![0i64; n];
                match m {
                    Measurement::Present(c) => {
                        let v = column(c)?;
                        each(&mut |s, r| counts[s] += i64::from(!v.is_missing(r)));
                    }
                    _ => each(&mut |s, _| counts[s] += 1),
                }
                let noise = DiscreteLaplace::new(self.k, epsilon)?;
                let values = counts
                    .iter()
                    .map(|&c| noise.release(c, rng) as f64)
                    .collect();
                Ok(Noisy::Counts(values, noise))
            }
            Measurement::Sum(c) | Measurement::CenteredSum(c) | Measurement::CenteredSquares(c) => {
                let v = column(c)?;
                let (lo, hi) = self.bounds[c];
                let (mid, r) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
                let term: &dyn Fn(f64) -> f64 = match m {
                    Measurement::Sum(_) => &|x| x,
                    Measurement::CenteredSum(_) => &|x| x - mid,
                    _ => &|x| (x - mid).powi(2) - r * r / 2.0,
                };
                // Each term on the noise's grid, summed in integers: the sum is exact, so one
                // unit moves it by at most k terms' worth, whatever the other rows hold.
                let bound = term_bound(m, &self.bounds);
                let noise = Laplace::for_sum(bound, self.k, epsilon)?;
                let mut sums = vec![0i128; n];
                let mut bad = None;
                each(&mut |s, row| {
                    if let Some(x) = number(v, row) {
                        match noise.term_units(term(x.clamp(lo, hi)), bound) {
                            Ok(units) => sums[s] += units,
                            Err(e) => bad = Some(e),
                        }
                    }
                });
                if let Some(e) = bad {
                    return Err(e);
                }
                let values = sums
                    .iter()
                    .map(|&units| noise.release_units(units, rng))
                    .collect();
                Ok(Noisy::Sums(values, noise))
            }
            Measurement::Quantiles(c) => {
                let v = column(c)?;
                let (lo, hi) = self.bounds[c];
                let mut leaves = vec![Vec::new(); n];
                each(&mut |s, row| {
                    if let Some(x) = number(v, row) {
                        leaves[s].push(leaf(x.clamp(lo, hi), lo, hi));
                    }
                });
                Ok(Noisy::Trees(
                    leaves
                        .into_iter()
                        .map(|l| NoisyTree::new(l, lo, hi, self.k, epsilon))
                        .collect::<Result<_>>()?,
                ))
            }
            Measurement::Partitions => Err(Error::invalid(
                "measurement",
                "partition selection is not a statistic",
            )),
        }
    }

    /// One aggregate of released group `g`, computed from the noisy measurements.
    fn answer(
        &self,
        aggregate: Aggregate,
        column: Option<&str>,
        g: usize,
        noisy: &mut HashMap<Measurement, Noisy>,
        rng: &mut NoiseRng,
    ) -> Cell {
        let get = |m: Measurement| &noisy[&m];
        let Some(c) = column else {
            return count_cell(get(Measurement::Rows), g);
        };
        let c = c.to_string();
        let bounds = self.bounds.get(&c).copied();
        match (aggregate, bounds) {
            (Aggregate::Count, _) => count_cell(get(Measurement::Present(c)), g),
            (Aggregate::Sum, _) => {
                let s = get(Measurement::Sum(c));
                Cell::Estimate {
                    value: s.value(g),
                    ci95: s.interval(g, ALPHA),
                }
            }
            (Aggregate::Percentile(p), Some(_)) => {
                let Some(Noisy::Trees(trees)) = noisy.get_mut(&Measurement::Quantiles(c)) else {
                    unreachable!("prepare adds a tree for every percentile")
                };
                let (value, ci95) = trees[g].quantile(p, rng);
                Cell::Estimate { value, ci95 }
            }
            (Aggregate::Avg, Some((lo, hi))) => {
                let (count, sum) = (
                    get(Measurement::Present(c.clone())),
                    get(Measurement::CenteredSum(c)),
                );
                let mid = (lo + hi) / 2.0;
                let value = (mid + sum.value(g) / count.value(g).max(1.0)).clamp(lo, hi);
                let (c0, c1) = count.interval(g, ALPHA / 2.0);
                let ci95 = if c0 <= 0.0 {
                    (lo, hi)
                } else {
                    let (a, b) = ratio_range(sum.interval(g, ALPHA / 2.0), (c0, c1));
                    ((mid + a).clamp(lo, hi), (mid + b).clamp(lo, hi))
                };
                Cell::Estimate { value, ci95 }
            }
            (Aggregate::Variance | Aggregate::Stddev, Some((lo, hi))) => {
                let count = get(Measurement::Present(c.clone()));
                let (s1, s2) = (
                    get(Measurement::CenteredSum(c.clone())),
                    get(Measurement::CenteredSquares(c)),
                );
                let r2 = ((hi - lo) / 2.0).powi(2);
                let n = count.value(g).max(1.0);
                let (m1, m2) = (s1.value(g) / n, s2.value(g) / n + r2 / 2.0);
                let value = (m2 - m1 * m1).clamp(0.0, r2);
                let (c0, c1) = count.interval(g, ALPHA / 3.0);
                let (v0, v1) = if c0 <= 0.0 {
                    (0.0, r2)
                } else {
                    let (a, b) = ratio_range(s1.interval(g, ALPHA / 3.0), (c0, c1));
                    let (q0, q1) = ratio_range(s2.interval(g, ALPHA / 3.0), (c0, c1));
                    let sq_hi = a.powi(2).max(b.powi(2));
                    let sq_lo = if a <= 0.0 && b >= 0.0 {
                        0.0
                    } else {
                        a.powi(2).min(b.powi(2))
                    };
                    (
                        (q0 + r2 / 2.0 - sq_hi).clamp(0.0, r2),
                        (q1 + r2 / 2.0 - sq_lo).clamp(0.0, r2),
                    )
                };
                if aggregate == Aggregate::Stddev {
                    Cell::Estimate {
                        value: value.sqrt(),
                        ci95: (v0.sqrt(), v1.sqrt()),
                    }
                } else {
                    Cell::Estimate {
                        value,
                        ci95: (v0, v1),
                    }
                }
            }
            _ => unreachable!("prepare requires bounds for every aggregate but COUNT"),
        }
    }
}

/// A noisy count, clamped at zero with its interval.
fn count_cell(count: &Noisy, g: usize) -> Cell {
    let (lo, hi) = count.interval(g, ALPHA);
    Cell::Estimate {
        value: count.value(g).max(0.0),
        ci95: (lo.max(0.0), hi.max(0.0)),
    }
}
