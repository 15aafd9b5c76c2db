//! A persistent privacy budget per dataset, in SQLite, and the receipts that releases need.
//!
//! Each dataset is known by its table's content digest ([`Table::content_digest`]): the same
//! columns and rows are the same dataset whatever the file — renamed, copied, re-saved with
//! other line endings, gzipped, converted to Parquet, its columns or rows reordered — and a
//! changed table is a new one. A budget is set once and never reset.
//!
//! A budget protects a *privacy unit*: each row, or each value of a column (a patient) with
//! at most `max_contributions` rows. A release that protects the same unit (or, on a
//! row-level budget, any unit) is charged what it spends; a row-level release (DP-SGD, a
//! query without `--privacy-unit`) on a unit-level budget is charged through group privacy
//! ([`PrivacyLoss::for_groups`]); a release that protects another column is refused. So ε
//! for different neighbouring relations is never summed as if it were comparable (security
//! review F-04).
//!
//! A release is charged *before* any noise is
//! drawn, in one `BEGIN IMMEDIATE` transaction that reads what was spent and records the new
//! release: two processes can never both spend the last of a budget. Spending composes by
//! basic composition (ε and δ add up), which holds for any mix of releases, and the sums are
//! exact ([`PrivacyLoss`]): no rounding slack lets a release through that does not fit.
//!
//! A charge returns a [`Receipt`], and a release (a DP query's
//! [`crate::query::PreparedQuery::release`], DP-SGD's [`crate::sgd::fit`]) can only be made
//! from one whose loss covers it. The only other way to a receipt is
//! [`Receipt::unbudgeted`], whose name says what it gives up.
//!
//! `<DIR>/budget.db` (application id `VBDG`, schema version 3):
//!
//! * `budgets(dataset, name, epsilon, delta, created, epsilon_units, delta_units,
//!   privacy_unit, max_contributions, keyed_by)` — the total allowed per dataset;
//! * `releases(id, dataset, time, epsilon, delta, kind, description, epsilon_units,
//!   delta_units, privacy_unit, group_size)` — every charge.
//!
//! The `*_units` columns hold the exact amounts (decimal integers: ε in 10⁻¹⁸, δ in 10⁻³⁰);
//! `epsilon` and `delta` repeat them as floats for people reading the database. A database
//! of schema version 0 (written before the exact columns) is upgraded on open: totals are
//! read as the decimals they were set as, spent amounts are rounded up. Version 2 adds
//! triggers that refuse a row without exact amounts, or a budget changed without them: the
//! writes a Veil from before the exact columns would make, which would otherwise be ignored
//! (a lowered budget) or make the dataset unreadable (a charge). Version 3 adds the privacy
//! unit; the budgets of earlier versions were keyed by the SHA-256 of the file's bytes
//! (`keyed_by = 'file'`) and move to the content digest the first time their file is used.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use veil_core::{Role, Sha256Digest, Table, Values};

use crate::error::{Error, Result};
use crate::loss::PrivacyLoss;

/// `PRAGMA application_id` of a budget database: "VBDG".
const APPLICATION_ID: i64 = 0x5642_4447;
/// `PRAGMA user_version` this build writes and reads.
const SCHEMA_VERSION: i64 = 3;
/// What a budget database holds; one without an application id (new, or of version 0) may
/// hold these and nothing else.
const OBJECTS: [&str; 3] = ["budgets", "releases", "releases_by_dataset"];

/// Version 0 → 1: the exact columns.
const EXACT_COLUMNS: &str = "
    CREATE TABLE IF NOT EXISTS budgets (dataset TEXT PRIMARY KEY, name TEXT NOT NULL,
        epsilon REAL NOT NULL, delta REAL NOT NULL, created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS releases (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL,
        time INTEGER NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
        kind TEXT NOT NULL, description TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS releases_by_dataset ON releases (dataset, id);
    ALTER TABLE budgets ADD COLUMN epsilon_units TEXT;
    ALTER TABLE budgets ADD COLUMN delta_units TEXT;
    ALTER TABLE releases ADD COLUMN epsilon_units TEXT;
    ALTER TABLE releases ADD COLUMN delta_units TEXT;";

/// Version 1 → 2: writes without the exact amounts are refused.
const EXACT_ONLY: &str = "
    CREATE TRIGGER releases_exact BEFORE INSERT ON releases
        WHEN NEW.epsilon_units IS NULL OR NEW.delta_units IS NULL
        BEGIN SELECT RAISE(ABORT, 'budget.db: a charge without exact amounts (upgrade Veil)'); END;
    CREATE TRIGGER budgets_exact BEFORE INSERT ON budgets
        WHEN NEW.epsilon_units IS NULL OR NEW.delta_units IS NULL
        BEGIN SELECT RAISE(ABORT, 'budget.db: a budget without exact amounts (upgrade Veil)'); END;
    CREATE TRIGGER budgets_exact_update BEFORE UPDATE ON budgets
        WHEN NEW.epsilon_units IS NULL OR NEW.delta_units IS NULL
            OR ((NEW.epsilon IS NOT OLD.epsilon OR NEW.delta IS NOT OLD.delta)
                AND NEW.epsilon_units IS OLD.epsilon_units AND NEW.delta_units IS OLD.delta_units)
        BEGIN SELECT RAISE(ABORT, 'budget.db: a budget changed without exact amounts (upgrade Veil)'); END;";

/// Version 2 → 3: what a budget protects, and how its dataset is known (F-04).
const UNITS: &str = "
    ALTER TABLE budgets ADD COLUMN privacy_unit TEXT;
    ALTER TABLE budgets ADD COLUMN max_contributions INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE budgets ADD COLUMN keyed_by TEXT NOT NULL DEFAULT 'file';
    ALTER TABLE releases ADD COLUMN privacy_unit TEXT;
    ALTER TABLE releases ADD COLUMN group_size INTEGER NOT NULL DEFAULT 1;";

/// Whom a budget protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetUnit {
    /// Each row.
    Row,
    /// Each value of a column (a patient), which has at most `max_contributions` rows.
    Column {
        /// The column.
        name: String,
        /// The most rows any one value has.
        max_contributions: u64,
    },
}

impl BudgetUnit {
    /// Checks that `table` has the column, of integers or text (a float's −0 and 0 would be
    /// one value in the content digest and two units), with no missing value (DP SQL pools
    /// the rows without a unit into one, which would protect their people only as a group),
    /// and that no value has more rows than allowed.
    pub fn check(&self, table: &Table) -> Result<()> {
        let BudgetUnit::Column {
            name,
            max_contributions,
        } = self
        else {
            return Ok(());
        };
        if !(1..=i64::MAX as u64).contains(max_contributions) {
            return Err(Error::invalid(
                "max_contributions",
                format!("{max_contributions} must be from 1 to {}", i64::MAX),
            ));
        }
        let column = table.column(name, Role::Column)?;
        let unit_error = |why: &str| Err(Error::invalid("privacy unit", format!("{name} {why}")));
        if matches!(column.values(), Values::Float(_) | Values::Boolean(_)) {
            return unit_error("must hold integers or text to identify people");
        }
        if (0..table.num_rows()).any(|i| column.values().is_missing(i)) {
            return unit_error("has missing values: every row needs its unit");
        }
        let rows: Vec<u32> = (0..table.num_rows() as u32).collect();
        let codes = crate::query::bound::encode(column.values(), &rows);
        let mut count = vec![0u64; codes.keys.len()];
        for &c in &codes.code {
            count[c as usize] += 1;
        }
        if count.iter().any(|&n| n > *max_contributions) {
            return Err(Error::invalid(
                "max_contributions",
                format!("some {name} has more than {max_contributions} rows in this table"),
            ));
        }
        Ok(())
    }

    /// What a release of `loss` that protects `release` (a column, or `None`: each row)
    /// costs this budget, and the group size it is charged for.
    fn cost(&self, release: Option<&str>, loss: PrivacyLoss) -> Result<(PrivacyLoss, u64)> {
        match (self, release) {
            (BudgetUnit::Row, None) => Ok((loss, 1)),
            // A unit-level release is DP when a whole unit is added or removed; one row less
            // changes its unit's rows, which is a removal and an addition: 2 steps.
            (BudgetUnit::Row, Some(_)) => Ok((loss.for_groups(2)?, 2)),
            (BudgetUnit::Column { name, .. }, Some(r)) if r == name => Ok((loss, 1)),
            (
                BudgetUnit::Column {
                    max_contributions: k,
                    ..
                },
                None,
            ) => Ok((loss.for_groups(*k)?, *k)),
            (BudgetUnit::Column { name, .. }, Some(r)) => Err(Error::WrongUnit {
                budget: name.clone(),
                release: r.to_string(),
            }),
        }
    }

    /// The unit of `dp budget set --privacy-unit COL --max-contributions K`: both or neither
    /// (each row).
    pub fn from_options(column: Option<&str>, max_contributions: Option<u64>) -> Result<Self> {
        match (column, max_contributions) {
            (None, None) => Ok(BudgetUnit::Row),
            (Some(name), Some(k)) => Ok(BudgetUnit::Column {
                name: name.to_string(),
                max_contributions: k,
            }),
            _ => Err(Error::invalid(
                "privacy unit",
                "give --privacy-unit and --max-contributions together",
            )),
        }
    }

    /// The unit as `budgets` stores it: the column (`NULL`: each row) and the most rows.
    fn stored(column: Option<String>, max_contributions: i64) -> BudgetUnit {
        match column {
            None => BudgetUnit::Row,
            Some(name) => BudgetUnit::Column {
                name,
                max_contributions: max_contributions.max(1) as u64,
            },
        }
    }

    fn column(&self) -> Option<&str> {
        match self {
            BudgetUnit::Row => None,
            BudgetUnit::Column { name, .. } => Some(name),
        }
    }

    fn max_contributions(&self) -> u64 {
        match self {
            BudgetUnit::Row => 1,
            BudgetUnit::Column {
                max_contributions, ..
            } => *max_contributions,
        }
    }
}

impl std::fmt::Display for BudgetUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetUnit::Row => f.write_str("each row"),
            BudgetUnit::Column {
                name,
                max_contributions,
            } => write!(f, "each {name} (up to {max_contributions} rows each)"),
        }
    }
}

/// A dataset's budget and what has been spent of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The dataset's identity (its table's content digest, hex).
    pub dataset: String,
    /// The dataset's name, given when the budget was set (for people).
    pub name: String,
    /// Whom the budget protects.
    pub unit: BudgetUnit,
    /// The total allowed.
    pub total: PrivacyLoss,
    /// What has been spent.
    pub spent: PrivacyLoss,
    /// The releases charged, oldest first.
    pub releases: Vec<Release>,
}

impl Budget {
    /// What is left (never negative).
    pub fn remaining(&self) -> PrivacyLoss {
        self.total.saturating_sub(&self.spent)
    }
}

/// What was spent of what, then each release.
impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: ε {:.6} of {} spent, {:.6} left; δ {:.3e} of {:.3e} spent ({} releases); protects {}",
            self.name,
            self.spent.epsilon(),
            self.total.epsilon(),
            self.remaining().epsilon(),
            self.spent.delta(),
            self.total.delta(),
            self.releases.len(),
            self.unit
        )?;
        for r in &self.releases {
            writeln!(
                f,
                "  ε {:.6} δ {:.3e}  {}: {}{}",
                r.loss.epsilon(),
                r.loss.delta(),
                r.kind,
                r.description,
                r.charged_as()
            )?;
        }
        Ok(())
    }
}

impl Serialize for Budget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let remaining = self.remaining();
        let mut st = s.serialize_struct("Budget", 11)?;
        st.serialize_field("dataset", &self.dataset)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("privacy_unit", &self.unit.column())?;
        st.serialize_field("max_contributions", &self.unit.max_contributions())?;
        st.serialize_field("epsilon", &self.total.epsilon())?;
        st.serialize_field("delta", &self.total.delta())?;
        st.serialize_field("spent_epsilon", &self.spent.epsilon())?;
        st.serialize_field("spent_delta", &self.spent.delta())?;
        st.serialize_field("remaining_epsilon", &remaining.epsilon())?;
        st.serialize_field("remaining_delta", &remaining.delta())?;
        st.serialize_field("releases", &self.releases)?;
        st.end()
    }
}

/// One charged release.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// What was charged.
    pub loss: PrivacyLoss,
    /// What kind of release (`dp-query`, `dp-sgd`, …).
    pub kind: String,
    /// What was released (the query text, the model file, …).
    pub description: String,
    /// The unit the release protects (`None`: each row).
    pub privacy_unit: Option<String>,
    /// 1, or the group size it was charged for by group privacy (a row-level release on a
    /// unit-level budget); `loss` is then what the group lost.
    pub group_size: u64,
}

impl Release {
    /// How the release was charged, when not as it was (human output).
    pub fn charged_as(&self) -> String {
        if self.group_size > 1 {
            format!(
                " (protects each row: charged for groups of {} by group privacy)",
                self.group_size
            )
        } else {
            String::new()
        }
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Release", 7)?;
        st.serialize_field("time", &self.time)?;
        st.serialize_field("epsilon", &self.loss.epsilon())?;
        st.serialize_field("delta", &self.loss.delta())?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("privacy_unit", &self.privacy_unit)?;
        st.serialize_field("group_size", &self.group_size)?;
        st.end()
    }
}

/// Proof that a release's privacy loss was accounted for before any noise was drawn: charged
/// to a budget ([`BudgetStore::charge`]) or explicitly released without one
/// ([`Receipt::unbudgeted`]). A release consumes it.
#[derive(Debug)]
#[must_use = "a receipt is spent by the release it pays for"]
pub struct Receipt {
    loss: PrivacyLoss,
    budget: Option<Budget>,
}

impl Receipt {
    /// A release charged to no budget (`--no-budget`). Nothing records the loss and nothing
    /// stops the same data from being released again, each time with a new loss: only for
    /// data that is not sensitive, or whose releases are accounted elsewhere.
    pub fn unbudgeted(loss: PrivacyLoss) -> Receipt {
        Receipt { loss, budget: None }
    }

    /// The loss paid for.
    pub fn loss(&self) -> PrivacyLoss {
        self.loss
    }

    /// The budget as it stands after the charge (`None` for an unbudgeted release).
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Checks that this receipt pays for `cost`, and gives back the budget it was charged to.
    pub(crate) fn redeem(self, cost: &PrivacyLoss) -> Result<Option<Budget>> {
        if !self.loss.covers(cost) {
            return Err(Error::invalid(
                "receipt",
                format!(
                    "the receipt pays for {} but the release costs {cost}",
                    self.loss
                ),
            ));
        }
        Ok(self.budget)
    }
}

/// Where a release's privacy loss is accounted. The release charges it itself, with the
/// table it reads (so the budget is that of the very rows released) and the unit it
/// protects, before any noise.
pub enum Accounting<'a> {
    /// Charged to the table's budget in this store; refused if it would exceed it.
    Budget(&'a mut BudgetStore),
    /// Charged nowhere (see [`Receipt::unbudgeted`]).
    Unbudgeted,
}

impl Accounting<'_> {
    /// Charges `loss` for a release of `kind`, described by `description`, of `table`, that
    /// protects `unit` (a column, or `None`: each row).
    pub fn charge(
        self,
        table: &Table,
        unit: Option<&str>,
        loss: PrivacyLoss,
        kind: &str,
        description: &str,
    ) -> Result<Receipt> {
        match self {
            Accounting::Budget(store) => store.charge(table, unit, loss, kind, description),
            Accounting::Unbudgeted => Ok(Receipt::unbudgeted(loss)),
        }
    }
}

/// The budget store in a directory.
pub struct BudgetStore {
    conn: Connection,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The units of a loss as the two stored texts.
fn unit_texts(loss: &PrivacyLoss) -> (String, String) {
    let (e, d) = loss.units();
    (e.to_string(), d.to_string())
}

fn parse_units(e: &str, d: &str) -> Result<PrivacyLoss> {
    let bad = || {
        Error::Corrupt(format!(
            "stored privacy units \"{e}\", \"{d}\" are not integers"
        ))
    };
    PrivacyLoss::from_units(e.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?)
}

impl BudgetStore {
    /// Opens (creating if needed) the store in `dir`; refuses a database of another
    /// application or of a newer schema, and upgrades one of schema version 0.
    pub fn open(dir: &Path) -> Result<BudgetStore> {
        std::fs::create_dir_all(dir).map_err(|e| veil_core::Error::io(dir, e))?;
        let conn = Connection::open(dir.join("budget.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        let mut store = BudgetStore { conn };
        store.migrate()?;
        store.conn.pragma_update(None, "journal_mode", "WAL")?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let app: i64 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if app != 0 && app != APPLICATION_ID {
            return Err(Error::Corrupt(format!(
                "budget.db belongs to another application (application id {app:#x})"
            )));
        }
        if app == 0 {
            // Every budget database since version 1 carries the id: an unmarked one is new,
            // of version 0, or someone else's, told apart by its tables.
            let quoted = OBJECTS.map(|t| format!("'{t}'")).join(", ");
            let foreign: Option<String> = tx
                .query_row(
                    &format!(
                        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite%'
                         AND name NOT IN ({quoted}) LIMIT 1"
                    ),
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if version != 0 || foreign.is_some() {
                let what = foreign.map_or(format!("schema version {version}"), |t| {
                    format!("a table \"{t}\"")
                });
                return Err(Error::Corrupt(format!(
                    "budget.db is not a Veil budget database (it has {what} and no budget id)"
                )));
            }
        }
        if version > SCHEMA_VERSION {
            return Err(Error::Corrupt(format!(
                "budget.db has schema version {version}; this Veil reads up to {SCHEMA_VERSION}: upgrade Veil"
            )));
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version == 0 {
            tx.execute_batch(EXACT_COLUMNS)?;
            // Rows of version 0 had floats only: totals were typed by people (their
            // decimals), charges were computed (rounded up). Version 0 took any finite ε;
            // one above the largest accounted is read as that largest, which for a total is
            // less and for a charge already exhausts any budget.
            for (table, exact) in [
                (
                    "budgets",
                    PrivacyLoss::target as fn(f64, f64) -> Result<PrivacyLoss>,
                ),
                ("releases", PrivacyLoss::at_most),
            ] {
                let rows: Vec<(i64, f64, f64)> = tx
                    .prepare(&format!("SELECT rowid, epsilon, delta FROM {table}"))?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (rowid, e, d) in rows {
                    let (eu, du) = unit_texts(&exact(e.min(crate::loss::MAX_EPSILON), d)?);
                    tx.execute(
                        &format!(
                            "UPDATE {table} SET epsilon_units = ?1, delta_units = ?2 WHERE rowid = ?3"
                        ),
                        params![eu, du, rowid],
                    )?;
                }
            }
        }
        if version <= 1 {
            rewrite_floats(&tx)?;
            tx.execute_batch(EXACT_ONLY)?;
        }
        tx.execute_batch(UNITS)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets the budget of `table` — `total`, protecting `unit`, named `name` for people —
    /// once: a table that already has a budget keeps it (what was spent stays spent).
    pub fn set(
        &mut self,
        table: &Table,
        name: &str,
        total: PrivacyLoss,
        unit: BudgetUnit,
    ) -> Result<Budget> {
        if total.epsilon() == 0.0 {
            return Err(Error::invalid(
                "epsilon",
                "a budget of ε = 0 allows nothing",
            ));
        }
        let dataset = self.dataset(table)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT name FROM budgets WHERE dataset = ?1",
                [&dataset],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(Error::BudgetExists {
                dataset: format!("{} (budget \"{existing}\")", table.source()),
            });
        }
        let legacy: Vec<String> = tx
            .prepare("SELECT name FROM budgets WHERE keyed_by = 'file'")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !legacy.is_empty() {
            return Err(Error::invalid(
                "budget",
                format!(
                    "this store still holds budgets kept by file bytes (from before content \
                     digests), which this table may be a copy of: move them first by running \
                     `veil dp budget show --data FILE` on each of {}",
                    legacy.join(", ")
                ),
            ));
        }
        unit.check(table)?;
        let (eu, du) = unit_texts(&total);
        tx.execute(
            "INSERT INTO budgets (dataset, name, epsilon, delta, created, epsilon_units,
                 delta_units, privacy_unit, max_contributions, keyed_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'content')",
            params![
                dataset,
                name,
                total.epsilon(),
                total.delta(),
                now() as i64,
                eu,
                du,
                unit.column(),
                i64::try_from(unit.max_contributions()).expect("checked")
            ],
        )?;
        tx.commit()?;
        self.show_id(&dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just set is missing".into()))
    }

    /// The budget of `table`, if one was set.
    pub fn show(&mut self, table: &Table) -> Result<Option<Budget>> {
        let dataset = self.dataset(table)?;
        self.show_id(&dataset)
    }

    /// The identity `table`'s budget is kept under: its content digest. A budget of schema
    /// version 2 or earlier, keyed by the bytes of the file the table was read from, moves
    /// to it here, with its releases.
    fn dataset(&mut self, table: &Table) -> Result<String> {
        let content = table.content_digest().to_hex();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let legacy: Option<()> = tx
            .query_row(
                "SELECT 1 FROM budgets WHERE keyed_by = 'file' LIMIT 1",
                [],
                |_| Ok(()),
            )
            .optional()?;
        // The file may be gone or not be a file (a table built in memory): then there is
        // nothing to move.
        let file = match (legacy, Sha256Digest::of_source(table.source())) {
            (Some(()), Ok(file)) => file.to_hex(),
            _ => return Ok(content),
        };
        let old: Option<(String, String)> = tx
            .query_row(
                "SELECT epsilon_units, delta_units FROM budgets
                 WHERE dataset = ?1 AND keyed_by = 'file'",
                [&file],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((eu, du)) = old else {
            return Ok(content);
        };
        let current: Option<(String, String)> = tx
            .query_row(
                "SELECT epsilon_units, delta_units FROM budgets WHERE dataset = ?1",
                [&content],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match current {
            // Two copies of one table had a budget each: one budget, the smaller total, and
            // both copies' releases.
            Some((ce, cd)) => {
                let ((ae, ad), (be, bd)) = (
                    parse_units(&eu, &du)?.units(),
                    parse_units(&ce, &cd)?.units(),
                );
                let smaller = PrivacyLoss::from_units(ae.min(be), ad.min(bd))?;
                let (e, d) = unit_texts(&smaller);
                tx.execute(
                    "UPDATE budgets SET epsilon = ?1, delta = ?2, epsilon_units = ?3,
                         delta_units = ?4 WHERE dataset = ?5",
                    params![smaller.epsilon(), smaller.delta(), e, d, content],
                )?;
                tx.execute("DELETE FROM budgets WHERE dataset = ?1", [&file])?;
            }
            None => {
                tx.execute(
                    "UPDATE budgets SET dataset = ?1, keyed_by = 'content' WHERE dataset = ?2",
                    params![content, file],
                )?;
            }
        }
        tx.execute(
            "UPDATE releases SET dataset = ?1 WHERE dataset = ?2",
            params![content, file],
        )?;
        tx.commit()?;
        Ok(content)
    }

    fn show_id(&self, dataset: &str) -> Result<Option<Budget>> {
        let row: Option<(String, String, String, Option<String>, i64)> = self
            .conn
            .query_row(
                "SELECT name, epsilon_units, delta_units, privacy_unit, max_contributions
                 FROM budgets WHERE dataset = ?1",
                [dataset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((name, eu, du, unit, k)) = row else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT time, epsilon_units, delta_units, kind, description, privacy_unit,
                 group_size
             FROM releases WHERE dataset = ?1 ORDER BY id",
        )?;
        type Row = (i64, String, String, String, String, Option<String>, i64);
        let releases = stmt
            .query_map([dataset], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<Row>>>()?
            .into_iter()
            .map(|(time, e, d, kind, description, privacy_unit, group)| {
                Ok(Release {
                    time: time.max(0) as u64,
                    loss: parse_units(&e, &d)?,
                    kind,
                    description,
                    privacy_unit,
                    group_size: group.max(1) as u64,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Budget {
            dataset: dataset.to_string(),
            name,
            unit: BudgetUnit::stored(unit, k),
            total: parse_units(&eu, &du)?,
            spent: spent(&self.conn, dataset)?,
            releases,
        }))
    }

    /// Charges a release of `loss` of `table`, which protects `unit` (a column, or `None`:
    /// each row), or refuses it: when no budget was set, when the release protects another
    /// unit than the budget, or — with what remains — when it would exceed the budget.
    /// Returns the receipt the release needs.
    pub fn charge(
        &mut self,
        table: &Table,
        unit: Option<&str>,
        loss: PrivacyLoss,
        kind: &str,
        description: &str,
    ) -> Result<Receipt> {
        let dataset = self.dataset(table)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let total: Option<(String, String, Option<String>, i64)> = tx
            .query_row(
                "SELECT epsilon_units, delta_units, privacy_unit, max_contributions
                 FROM budgets WHERE dataset = ?1",
                [&dataset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((eu, du, budget_unit, k)) = total else {
            return Err(Error::NoBudget {
                dataset: table.source().to_string(),
            });
        };
        let (charged, group_size) = BudgetUnit::stored(budget_unit, k).cost(unit, loss)?;
        let total = parse_units(&eu, &du)?;
        let spent = spent(&tx, &dataset)?;
        let after = spent.compose(charged)?;
        if !total.covers(&after) {
            let remaining = total.saturating_sub(&spent);
            return Err(Error::BudgetExceeded {
                asked_epsilon: charged.epsilon(),
                asked_delta: charged.delta(),
                remaining_epsilon: remaining.epsilon(),
                remaining_delta: remaining.delta(),
            });
        }
        let (eu, du) = unit_texts(&charged);
        tx.execute(
            "INSERT INTO releases (dataset, time, epsilon, delta, kind, description,
                 epsilon_units, delta_units, privacy_unit, group_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                dataset,
                now() as i64,
                charged.epsilon(),
                charged.delta(),
                kind,
                description,
                eu,
                du,
                unit,
                group_size as i64
            ],
        )?;
        tx.commit()?;
        let budget = self
            .show_id(&dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just charged is missing".into()))?;
        Ok(Receipt {
            loss,
            budget: Some(budget),
        })
    }
}

/// Rewrites the floats from the exact amounts, as every write since version 1 does: the
/// triggers tell an old write by floats that changed while the amounts did not.
fn rewrite_floats(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    for table in ["budgets", "releases"] {
        let rows: Vec<(i64, String, String)> = tx
            .prepare(&format!(
                "SELECT rowid, epsilon_units, delta_units FROM {table}"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (rowid, e, d) in rows {
            let loss = parse_units(&e, &d)?;
            tx.execute(
                &format!("UPDATE {table} SET epsilon = ?1, delta = ?2 WHERE rowid = ?3"),
                params![loss.epsilon(), loss.delta(), rowid],
            )?;
        }
    }
    Ok(())
}

/// What has been spent on `dataset`: the exact sum of its charges.
fn spent(conn: &Connection, dataset: &str) -> Result<PrivacyLoss> {
    let mut stmt =
        conn.prepare_cached("SELECT epsilon_units, delta_units FROM releases WHERE dataset = ?1")?;
    let rows = stmt
        .query_map([dataset], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.iter().try_fold(PrivacyLoss::ZERO, |total, (e, d)| {
        total.compose(parse_units(e, d)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(epsilon: f64, delta: f64) -> PrivacyLoss {
        PrivacyLoss::target(epsilon, delta).unwrap()
    }

    /// Three patients with 1, 2 and 3 visits.
    fn visits() -> Table {
        Table::from_csv_bytes(
            "visits.csv",
            b"patient,age\n1,30\n2,41\n2,42\n3,50\n3,51\n3,52\n",
        )
        .unwrap()
    }

    #[test]
    fn charges_until_the_budget_is_spent_exactly_then_refuses_with_what_remains() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let t = visits();
        assert!(matches!(
            store.charge(&t, None, loss(0.1, 0.0), "query", "q"),
            Err(Error::NoBudget { .. })
        ));
        store
            .set(&t, "visits", loss(1.0, 1e-6), BudgetUnit::Row)
            .unwrap();
        // Ten tenths spend ε = 1 exactly: every one fits, and nothing more does.
        for i in 0..10 {
            let receipt = store
                .charge(&t, None, loss(0.1, 0.0), "query", &format!("q{i}"))
                .unwrap();
            assert_eq!(receipt.loss(), loss(0.1, 0.0));
        }
        let smallest = PrivacyLoss::from_units(1, 0).unwrap();
        match store.charge(&t, None, smallest, "query", "one unit too many") {
            Err(Error::BudgetExceeded {
                remaining_epsilon, ..
            }) => assert_eq!(remaining_epsilon, 0.0),
            other => panic!("{other:?}"),
        }
        // Persisted: another connection sees the same spending.
        drop(store);
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show(&t).unwrap().unwrap();
        assert_eq!(b.releases.len(), 10);
        assert_eq!(b.spent, loss(1.0, 0.0));
        assert_eq!(b.unit, BudgetUnit::Row);
        // A budget is never reset, neither lowered nor raised.
        for total in [loss(0.5, 1e-6), loss(2.0, 1e-6)] {
            assert!(matches!(
                store.set(&t, "visits", total, BudgetUnit::Row),
                Err(Error::BudgetExists { .. })
            ));
        }
        // The same rows in another order, with the columns swapped, are the same dataset.
        let shuffled = Table::from_csv_bytes(
            "copy.csv",
            b"age,patient\r\n52,3\r\n30,1\r\n41,2\r\n51,3\r\n42,2\r\n50,3\r\n",
        )
        .unwrap();
        assert!(
            store
                .set(&shuffled, "copy", loss(5.0, 0.0), BudgetUnit::Row)
                .is_err()
        );
        assert_eq!(
            store.show(&shuffled).unwrap().unwrap().spent,
            loss(1.0, 0.0)
        );
        let fewer = Table::from_csv_bytes("other.csv", b"patient,age\n1,30\n").unwrap();
        assert!(store.show(&fewer).unwrap().is_none());
    }

    #[test]
    fn a_row_level_release_on_a_patient_budget_is_charged_for_the_largest_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let t = visits();
        let per_patient = |k| BudgetUnit::Column {
            name: "patient".into(),
            max_contributions: k,
        };
        // Patient 3 has three rows: a bound of two is refused.
        let e = store
            .set(&t, "visits", loss(2.0, 1e-5), per_patient(2))
            .unwrap_err();
        assert!(e.to_string().contains("more than 2 rows"), "{e}");
        assert!(store.show(&t).unwrap().is_none());
        let b = store
            .set(&t, "visits", loss(2.0, 1e-5), per_patient(3))
            .unwrap();
        assert_eq!(b.unit, per_patient(3));
        // Protecting each patient: charged what it spends.
        let r = store
            .charge(
                &t,
                Some("patient"),
                loss(0.1, 0.0),
                "dp-query",
                "by patient",
            )
            .unwrap();
        assert_eq!(r.budget().unwrap().spent, loss(0.1, 0.0));
        // Protecting each row: a patient with 3 rows loses 3ε (and δ·3·e^{2ε}).
        let r = store
            .charge(&t, None, loss(0.1, 1e-7), "dp-sgd", "per row")
            .unwrap();
        let b = r.budget().unwrap();
        assert_eq!(b.spent.epsilon(), 0.4);
        let group_delta = 3.0 * 0.2f64.exp() * 1e-7;
        assert!(b.spent.delta() >= group_delta && b.spent.delta() < group_delta * 1.000001);
        assert_eq!(b.releases[1].group_size, 3);
        assert_eq!(b.releases[0].group_size, 1);
        assert_eq!(
            r.loss(),
            loss(0.1, 1e-7),
            "the release itself gets what it asked"
        );
        // Protecting some other column cannot be charged here.
        assert!(matches!(
            store.charge(&t, Some("age"), loss(0.1, 0.0), "dp-query", "by age"),
            Err(Error::WrongUnit { .. })
        ));
        assert_eq!(store.show(&t).unwrap().unwrap().releases.len(), 2);
        // On a row-level budget, a release per patient is charged twice: one row less is a
        // patient removed and another added.
        let other = tempfile::tempdir().unwrap();
        let mut rows = BudgetStore::open(other.path()).unwrap();
        rows.set(&t, "visits", loss(1.0, 0.0), BudgetUnit::Row)
            .unwrap();
        let r = rows
            .charge(&t, Some("patient"), loss(0.3, 0.0), "dp-query", "q")
            .unwrap();
        assert_eq!(r.budget().unwrap().spent, loss(0.6, 0.0));
        // A unit must identify every row, by an integer or text, and K must fit.
        let bad = Table::from_csv_bytes("b.csv", b"id,f,x\n1,0.5,1\n,1.5,2\n").unwrap();
        for (name, k) in [("id", 1), ("f", 1), ("x", u64::MAX)] {
            let unit = BudgetUnit::Column {
                name: name.into(),
                max_contributions: k,
            };
            assert!(
                matches!(unit.check(&bad), Err(Error::InvalidParameter { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn a_receipt_pays_only_for_what_it_covers() {
        let receipt = Receipt::unbudgeted(loss(0.5, 0.0));
        assert!(receipt.redeem(&loss(0.6, 0.0)).is_err());
        let receipt = Receipt::unbudgeted(loss(0.5, 0.0));
        assert!(receipt.redeem(&loss(0.5, 0.0)).unwrap().is_none());
    }

    #[test]
    fn a_database_of_schema_0_is_upgraded_and_one_of_another_kind_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Schema 0 kept budgets under the SHA-256 of the file's bytes.
        let csv = dir.path().join("old.csv");
        std::fs::write(&csv, "patient,age\n1,30\n2,41\n").unwrap();
        let file = Sha256Digest::of_file(&csv).unwrap().to_hex();
        let copy = dir.path().join("copy.csv");
        std::fs::write(&copy, "age,patient\r\n41,2\r\n30,1\r\n").unwrap();
        let copy_file = Sha256Digest::of_file(&copy).unwrap().to_hex();
        {
            let conn = Connection::open(dir.path().join("budget.db")).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE budgets (dataset TEXT PRIMARY KEY, name TEXT NOT NULL,
                     epsilon REAL NOT NULL, delta REAL NOT NULL, created INTEGER NOT NULL);
                 CREATE TABLE releases (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL,
                     time INTEGER NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
                     kind TEXT NOT NULL, description TEXT NOT NULL);
                 INSERT INTO budgets VALUES ('{file}', 'old.csv', 3.0, 1e-5, 0);
                 INSERT INTO releases VALUES (1, '{file}', 0, 0.5, 0.0, 'dp-query', 'q');
                 INSERT INTO budgets VALUES ('{copy_file}', 'copy.csv', 2.0, 1e-5, 0);
                 INSERT INTO releases VALUES (2, '{copy_file}', 0, 0.25, 0.0, 'dp-query', 'q');"
            ))
            .unwrap();
        }
        let mut store = BudgetStore::open(dir.path()).unwrap();
        // The file's table finds its budget, which moves to the content digest; a copy
        // saved another way then finds it too.
        let table = Table::load(csv.to_str().unwrap()).unwrap();
        // Until the old budgets have moved, no new one is set (it could be a copy's).
        let fresh = Table::from_csv_bytes("fresh.csv", b"x\n1\n").unwrap();
        let e = store
            .set(&fresh, "fresh", loss(9.0, 0.0), BudgetUnit::Row)
            .unwrap_err();
        assert!(e.to_string().contains("old.csv, copy.csv"), "{e}");
        let b = store.show(&table).unwrap().unwrap();
        assert_eq!(b.total, loss(3.0, 1e-5));
        assert_eq!(b.spent, PrivacyLoss::at_most(0.5, 0.0).unwrap());
        assert_eq!(b.dataset, table.content_digest().to_hex());
        // The copy had a budget of its own under version 0: the two merge into one, the
        // smaller total with both copies' releases.
        let copy = Table::load(copy.to_str().unwrap()).unwrap();
        let merged = store.show(&copy).unwrap().unwrap();
        assert_eq!(merged.total, loss(2.0, 1e-5));
        assert_eq!(merged.releases.len(), 2);
        assert_eq!(merged.spent, PrivacyLoss::at_most(0.75, 0.0).unwrap());
        let b = store.show(&table).unwrap().unwrap();
        let content = b.dataset;
        drop(store);
        // The writes of a Veil from before the exact columns are refused, not half-applied.
        let conn = Connection::open(dir.path().join("budget.db")).unwrap();
        for old_write in [
            format!("UPDATE budgets SET epsilon = 1.0, delta = 0.0 WHERE dataset = '{content}'"),
            format!(
                "INSERT INTO releases (dataset, time, epsilon, delta, kind, description)
                 VALUES ('{content}', 0, 0.5, 0.0, 'dp-query', 'q')"
            ),
            "INSERT INTO budgets (dataset, name, epsilon, delta, created)
                 VALUES ('def', 'new.csv', 1.0, 0.0, 0)"
                .to_string(),
        ] {
            let e = conn.execute_batch(&old_write).unwrap_err().to_string();
            assert!(e.contains("upgrade Veil"), "{e}");
        }
        drop(conn);
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show(&table).unwrap().unwrap();
        assert_eq!(b.total, loss(2.0, 1e-5));
        assert_eq!(b.spent, PrivacyLoss::at_most(0.75, 0.0).unwrap());
        drop(store);
        let conn = Connection::open(dir.path().join("budget.db")).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        drop(conn);
        assert!(matches!(
            BudgetStore::open(dir.path()),
            Err(Error::Corrupt(_))
        ));
        let other = tempfile::tempdir().unwrap();
        let conn = Connection::open(other.path().join("budget.db")).unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
        drop(conn);
        assert!(matches!(
            BudgetStore::open(other.path()),
            Err(Error::Corrupt(_))
        ));
        // Without an application id, a database with tables of its own is refused as it is.
        let other = tempfile::tempdir().unwrap();
        let conn = Connection::open(other.path().join("budget.db")).unwrap();
        conn.execute_batch("CREATE TABLE patients (id INTEGER)")
            .unwrap();
        drop(conn);
        assert!(matches!(
            BudgetStore::open(other.path()),
            Err(Error::Corrupt(_))
        ));
        let conn = Connection::open(other.path().join("budget.db")).unwrap();
        let objects: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(objects, 1);
    }
}
