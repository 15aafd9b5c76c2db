//! A persistent privacy budget per dataset, in SQLite, and the receipts that releases need.
//!
//! Each dataset is known by the SHA-256 of its content, so a renamed or copied file keeps
//! its budget and a changed file gets a new one. A release is charged *before* any noise is
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
//! `<DIR>/budget.db` (application id `VBDG`, schema version 2):
//!
//! * `budgets(dataset, name, epsilon, delta, created, epsilon_units, delta_units)` — the
//!   total allowed per dataset;
//! * `releases(id, dataset, time, epsilon, delta, kind, description, epsilon_units,
//!   delta_units)` — every charge.
//!
//! The `*_units` columns hold the exact amounts (decimal integers: ε in 10⁻¹⁸, δ in 10⁻³⁰);
//! `epsilon` and `delta` repeat them as floats for people reading the database. A database
//! of schema version 0 (written before the exact columns) is upgraded on open: totals are
//! read as the decimals they were set as, spent amounts are rounded up. Version 2 adds
//! triggers that refuse a row without exact amounts, or a budget changed without them: the
//! writes a Veil from before the exact columns would make, which would otherwise be ignored
//! (a lowered budget) or make the dataset unreadable (a charge).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::loss::PrivacyLoss;

/// `PRAGMA application_id` of a budget database: "VBDG".
const APPLICATION_ID: i64 = 0x5642_4447;
/// `PRAGMA user_version` this build writes and reads.
const SCHEMA_VERSION: i64 = 2;
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

/// A dataset's budget and what has been spent of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The dataset's identity (the hex SHA-256 of its content).
    pub dataset: String,
    /// The dataset's name when the budget was set (for people).
    pub name: String,
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
            "{}: ε {:.6} of {} spent, {:.6} left; δ {:.3e} of {:.3e} spent ({} releases)",
            self.name,
            self.spent.epsilon(),
            self.total.epsilon(),
            self.remaining().epsilon(),
            self.spent.delta(),
            self.total.delta(),
            self.releases.len()
        )?;
        for r in &self.releases {
            writeln!(
                f,
                "  ε {:.6} δ {:.3e}  {}: {}",
                r.loss.epsilon(),
                r.loss.delta(),
                r.kind,
                r.description
            )?;
        }
        Ok(())
    }
}

impl Serialize for Budget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let remaining = self.remaining();
        let mut st = s.serialize_struct("Budget", 9)?;
        st.serialize_field("dataset", &self.dataset)?;
        st.serialize_field("name", &self.name)?;
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
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Release", 5)?;
        st.serialize_field("time", &self.time)?;
        st.serialize_field("epsilon", &self.loss.epsilon())?;
        st.serialize_field("delta", &self.loss.delta())?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("description", &self.description)?;
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

/// Where a release's privacy loss is accounted, for the operations that learn their cost
/// only once they have read the data (DP-SGD) and charge it themselves, before any noise.
pub enum Accounting<'a> {
    /// Charged to the budget of `dataset` (a hex digest) in `store`; refused if it would
    /// exceed it.
    Budget {
        /// The store.
        store: &'a mut BudgetStore,
        /// The dataset's identity.
        dataset: &'a str,
    },
    /// Charged nowhere (see [`Receipt::unbudgeted`]).
    Unbudgeted,
}

impl Accounting<'_> {
    /// Charges `loss` for a release of `kind` described by `description`.
    pub fn charge(self, loss: PrivacyLoss, kind: &str, description: &str) -> Result<Receipt> {
        match self {
            Accounting::Budget { store, dataset } => store.charge(dataset, loss, kind, description),
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
        // The floats are rewritten from the exact amounts, as every write since does: the
        // triggers tell an old write by floats that changed while the amounts did not.
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
        tx.execute_batch(EXACT_ONLY)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets the total budget of `dataset` (a hex digest; `name` for people). Lowering it
    /// below what was already spent is refused.
    pub fn set(&mut self, dataset: &str, name: &str, total: PrivacyLoss) -> Result<Budget> {
        if total.epsilon() == 0.0 {
            return Err(Error::invalid(
                "epsilon",
                "a budget of ε = 0 allows nothing",
            ));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let spent = spent(&tx, dataset)?;
        if !total.covers(&spent) {
            return Err(Error::invalid(
                "budget",
                format!(
                    "{spent} is already spent on this dataset; the budget cannot be set below that"
                ),
            ));
        }
        let (eu, du) = unit_texts(&total);
        tx.execute(
            "INSERT INTO budgets (dataset, name, epsilon, delta, created, epsilon_units, delta_units)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (dataset) DO UPDATE SET epsilon = ?3, delta = ?4, epsilon_units = ?6,
                 delta_units = ?7",
            params![dataset, name, total.epsilon(), total.delta(), now() as i64, eu, du],
        )?;
        tx.commit()?;
        self.show(dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just set is missing".into()))
    }

    /// The budget of `dataset`, if one was set.
    pub fn show(&self, dataset: &str) -> Result<Option<Budget>> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT name, epsilon_units, delta_units FROM budgets WHERE dataset = ?1",
                [dataset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((name, eu, du)) = row else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT time, epsilon_units, delta_units, kind, description FROM releases
             WHERE dataset = ?1 ORDER BY id",
        )?;
        let releases = stmt
            .query_map([dataset], |r| {
                Ok((
                    r.get::<_, i64>(0)?.max(0) as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .map(|(time, e, d, kind, description)| {
                Ok(Release {
                    time,
                    loss: parse_units(&e, &d)?,
                    kind,
                    description,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Budget {
            dataset: dataset.to_string(),
            name,
            total: parse_units(&eu, &du)?,
            spent: spent(&self.conn, dataset)?,
            releases,
        }))
    }

    /// Charges a release of `loss` to `dataset`, or refuses it — with what remains — if it
    /// would exceed the budget or no budget was set. Returns the receipt the release needs.
    pub fn charge(
        &mut self,
        dataset: &str,
        loss: PrivacyLoss,
        kind: &str,
        description: &str,
    ) -> Result<Receipt> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let total: Option<(String, String)> = tx
            .query_row(
                "SELECT epsilon_units, delta_units FROM budgets WHERE dataset = ?1",
                [dataset],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((eu, du)) = total else {
            return Err(Error::NoBudget {
                dataset: dataset.to_string(),
            });
        };
        let total = parse_units(&eu, &du)?;
        let spent = spent(&tx, dataset)?;
        let after = spent.compose(loss)?;
        if !total.covers(&after) {
            let remaining = total.saturating_sub(&spent);
            return Err(Error::BudgetExceeded {
                asked_epsilon: loss.epsilon(),
                asked_delta: loss.delta(),
                remaining_epsilon: remaining.epsilon(),
                remaining_delta: remaining.delta(),
            });
        }
        let (eu, du) = unit_texts(&loss);
        tx.execute(
            "INSERT INTO releases (dataset, time, epsilon, delta, kind, description,
                 epsilon_units, delta_units)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                dataset,
                now() as i64,
                loss.epsilon(),
                loss.delta(),
                kind,
                description,
                eu,
                du
            ],
        )?;
        tx.commit()?;
        let budget = self
            .show(dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just charged is missing".into()))?;
        Ok(Receipt {
            loss,
            budget: Some(budget),
        })
    }
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

    #[test]
    fn charges_until_the_budget_is_spent_exactly_then_refuses_with_what_remains() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = BudgetStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.charge("abc", loss(0.1, 0.0), "query", "q"),
            Err(Error::NoBudget { .. })
        ));
        store.set("abc", "patients.csv", loss(1.0, 1e-6)).unwrap();
        // Ten tenths spend ε = 1 exactly: every one fits, and nothing more does.
        for i in 0..10 {
            let receipt = store
                .charge("abc", loss(0.1, 0.0), "query", &format!("q{i}"))
                .unwrap();
            assert_eq!(receipt.loss(), loss(0.1, 0.0));
        }
        let smallest = PrivacyLoss::from_units(1, 0).unwrap();
        match store.charge("abc", smallest, "query", "one unit too many") {
            Err(Error::BudgetExceeded {
                remaining_epsilon, ..
            }) => assert_eq!(remaining_epsilon, 0.0),
            other => panic!("{other:?}"),
        }
        // Persisted: another connection sees the same spending.
        drop(store);
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show("abc").unwrap().unwrap();
        assert_eq!(b.releases.len(), 10);
        assert_eq!(b.spent, loss(1.0, 0.0));
        assert!(
            store.set("abc", "patients.csv", loss(0.5, 1e-6)).is_err(),
            "below what was spent"
        );
        store.set("abc", "patients.csv", loss(2.0, 1e-6)).unwrap();
        let _ = store
            .charge("abc", loss(0.5, 1e-7), "dp-sgd", "model")
            .unwrap();
        assert!(
            store
                .charge("abc", loss(0.1, 1e-6), "query", "δ too large")
                .is_err()
        );
        assert!(store.show("other").unwrap().is_none());
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
        {
            let conn = Connection::open(dir.path().join("budget.db")).unwrap();
            conn.execute_batch(
                "CREATE TABLE budgets (dataset TEXT PRIMARY KEY, name TEXT NOT NULL,
                     epsilon REAL NOT NULL, delta REAL NOT NULL, created INTEGER NOT NULL);
                 CREATE TABLE releases (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL,
                     time INTEGER NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
                     kind TEXT NOT NULL, description TEXT NOT NULL);
                 INSERT INTO budgets VALUES ('abc', 'old.csv', 3.0, 1e-5, 0);
                 INSERT INTO releases VALUES (1, 'abc', 0, 0.5, 0.0, 'dp-query', 'q');",
            )
            .unwrap();
        }
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show("abc").unwrap().unwrap();
        assert_eq!(b.total, loss(3.0, 1e-5));
        assert_eq!(b.spent, PrivacyLoss::at_most(0.5, 0.0).unwrap());
        // Setting the same total again is not mistaken for a write without exact amounts.
        store.set("abc", "old.csv", loss(3.0, 1e-5)).unwrap();
        drop(store);
        // The writes of a Veil from before the exact columns are refused, not half-applied.
        let conn = Connection::open(dir.path().join("budget.db")).unwrap();
        for old_write in [
            "UPDATE budgets SET epsilon = 1.0, delta = 0.0 WHERE dataset = 'abc'",
            "INSERT INTO releases (dataset, time, epsilon, delta, kind, description)
                 VALUES ('abc', 0, 0.5, 0.0, 'dp-query', 'q')",
            "INSERT INTO budgets (dataset, name, epsilon, delta, created)
                 VALUES ('def', 'new.csv', 1.0, 0.0, 0)",
        ] {
            let e = conn.execute_batch(old_write).unwrap_err().to_string();
            assert!(e.contains("upgrade Veil"), "{e}");
        }
        drop(conn);
        let store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show("abc").unwrap().unwrap();
        assert_eq!(b.total, loss(3.0, 1e-5));
        assert_eq!(b.spent, PrivacyLoss::at_most(0.5, 0.0).unwrap());
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
