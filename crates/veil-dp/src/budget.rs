//! A persistent privacy budget per dataset, in SQLite.
//!
//! Each dataset is known by the SHA-256 of its content, so a renamed or copied file keeps
//! its budget and a changed file gets a new one. A release is charged *before* any noise is
//! drawn, in one `BEGIN IMMEDIATE` transaction that reads what was spent and records the new
//! release: two processes can never both spend the last of a budget. Spending composes by
//! basic composition (ε and δ add up), which holds for any mix of releases.
//!
//! Tables of `<DIR>/budget.db`:
//!
//! * `budgets(dataset, name, epsilon, delta, created)` — the total allowed per dataset;
//! * `releases(id, dataset, time, epsilon, delta, kind, description)` — every charge.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};

/// A dataset's budget and what has been spent of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The dataset's name when the budget was set (for people).
    pub name: String,
    /// Total ε allowed.
    pub epsilon: f64,
    /// Total δ allowed.
    pub delta: f64,
    /// ε spent so far.
    pub spent_epsilon: f64,
    /// δ spent so far.
    pub spent_delta: f64,
    /// The releases charged, oldest first.
    pub releases: Vec<Release>,
}

impl Budget {
    /// ε left (never negative).
    pub fn remaining_epsilon(&self) -> f64 {
        (self.epsilon - self.spent_epsilon).max(0.0)
    }

    /// δ left (never negative).
    pub fn remaining_delta(&self) -> f64 {
        (self.delta - self.spent_delta).max(0.0)
    }
}

/// One charged release.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// ε charged.
    pub epsilon: f64,
    /// δ charged.
    pub delta: f64,
    /// What kind of release (`query`, `dp-sgd`, …).
    pub kind: String,
    /// What was released (the query text, the model file, …).
    pub description: String,
}

/// The budget store in a directory.
pub struct BudgetStore {
    conn: Connection,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Storage(e)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn check_amount(epsilon: f64, delta: f64) -> Result<()> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(Error::invalid(
            "epsilon",
            format!("{epsilon} must be finite and ≥ 0"),
        ));
    }
    if !(0.0..1.0).contains(&delta) {
        return Err(Error::invalid(
            "delta",
            format!("{delta} must be in [0, 1)"),
        ));
    }
    Ok(())
}

impl BudgetStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<BudgetStore> {
        std::fs::create_dir_all(dir).map_err(|e| veil_core::Error::io(dir, e))?;
        let conn = Connection::open(dir.join("budget.db")).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS budgets (dataset TEXT PRIMARY KEY, name TEXT NOT NULL,
                 epsilon REAL NOT NULL, delta REAL NOT NULL, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS releases (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL,
                 time INTEGER NOT NULL, epsilon REAL NOT NULL, delta REAL NOT NULL,
                 kind TEXT NOT NULL, description TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS releases_by_dataset ON releases (dataset, id);",
        )
        .map_err(db)?;
        Ok(BudgetStore { conn })
    }

    /// Sets the total budget of `dataset` (a hex digest). Lowering it below what was already
    /// spent is refused.
    pub fn set(&mut self, dataset: &str, name: &str, epsilon: f64, delta: f64) -> Result<Budget> {
        check_amount(epsilon, delta)?;
        if epsilon == 0.0 {
            return Err(Error::invalid(
                "epsilon",
                "a budget of ε = 0 allows nothing",
            ));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let (spent_e, spent_d) = spent(&tx, dataset)?;
        if spent_e > epsilon || spent_d > delta {
            return Err(Error::invalid(
                "budget",
                format!(
                    "ε = {spent_e}, δ = {spent_d} are already spent on this dataset; the budget cannot be set below that"
                ),
            ));
        }
        tx.execute(
            "INSERT INTO budgets (dataset, name, epsilon, delta, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (dataset) DO UPDATE SET epsilon = ?3, delta = ?4",
            params![dataset, name, epsilon, delta, now() as i64],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        self.show(dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just set is missing".into()))
    }

    /// The budget of `dataset`, if one was set.
    pub fn show(&self, dataset: &str) -> Result<Option<Budget>> {
        let row: Option<(String, f64, f64)> = self
            .conn
            .query_row(
                "SELECT name, epsilon, delta FROM budgets WHERE dataset = ?1",
                [dataset],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((name, epsilon, delta)) = row else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT time, epsilon, delta, kind, description FROM releases
                 WHERE dataset = ?1 ORDER BY id",
            )
            .map_err(db)?;
        let releases = stmt
            .query_map([dataset], |r| {
                Ok(Release {
                    time: r.get::<_, i64>(0)?.max(0) as u64,
                    epsilon: r.get(1)?,
                    delta: r.get(2)?,
                    kind: r.get(3)?,
                    description: r.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        let (spent_epsilon, spent_delta) = spent(&self.conn, dataset)?;
        Ok(Some(Budget {
            name,
            epsilon,
            delta,
            spent_epsilon,
            spent_delta,
            releases,
        }))
    }

    /// Charges a release of (ε, δ) to `dataset`, or refuses it — with what remains — if it
    /// would exceed the budget or no budget was set. Call before drawing any noise.
    pub fn charge(
        &mut self,
        dataset: &str,
        epsilon: f64,
        delta: f64,
        kind: &str,
        description: &str,
    ) -> Result<Budget> {
        check_amount(epsilon, delta)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let total: Option<(f64, f64)> = tx
            .query_row(
                "SELECT epsilon, delta FROM budgets WHERE dataset = ?1",
                [dataset],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((total_e, total_d)) = total else {
            return Err(Error::NoBudget {
                dataset: dataset.to_string(),
            });
        };
        let (spent_e, spent_d) = spent(&tx, dataset)?;
        // A relative slack of 1e-12 lets a budget be spent exactly in parts whose float sum
        // rounds a hair above the total; nothing larger passes.
        if spent_e + epsilon > total_e * (1.0 + 1e-12) || spent_d + delta > total_d * (1.0 + 1e-12)
        {
            return Err(Error::BudgetExceeded {
                asked_epsilon: epsilon,
                asked_delta: delta,
                remaining_epsilon: (total_e - spent_e).max(0.0),
                remaining_delta: (total_d - spent_d).max(0.0),
            });
        }
        tx.execute(
            "INSERT INTO releases (dataset, time, epsilon, delta, kind, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![dataset, now() as i64, epsilon, delta, kind, description],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        self.show(dataset)?
            .ok_or_else(|| Error::Corrupt("the budget just charged is missing".into()))
    }
}

fn spent(conn: &Connection, dataset: &str) -> Result<(f64, f64)> {
    conn.query_row(
        "SELECT COALESCE(SUM(epsilon), 0.0), COALESCE(SUM(delta), 0.0) FROM releases WHERE dataset = ?1",
        [dataset],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_the_budget_is_spent_then_refuses_with_what_remains() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = BudgetStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.charge("abc", 0.1, 0.0, "query", "q"),
            Err(Error::NoBudget { .. })
        ));
        store.set("abc", "patients.csv", 1.0, 1e-6).unwrap();
        for i in 0..10 {
            store
                .charge("abc", 0.1, 0.0, "query", &format!("q{i}"))
                .unwrap();
        }
        let refused = store.charge("abc", 0.05, 0.0, "query", "one too many");
        match refused {
            Err(Error::BudgetExceeded {
                remaining_epsilon, ..
            }) => {
                assert!(remaining_epsilon < 1e-9, "{remaining_epsilon}")
            }
            other => panic!("{other:?}"),
        }
        // Persisted: another connection sees the same spending.
        drop(store);
        let mut store = BudgetStore::open(dir.path()).unwrap();
        let b = store.show("abc").unwrap().unwrap();
        assert_eq!(b.releases.len(), 10);
        assert!((b.spent_epsilon - 1.0).abs() < 1e-9);
        assert!(
            store.set("abc", "patients.csv", 0.5, 1e-6).is_err(),
            "below what was spent"
        );
        store.set("abc", "patients.csv", 2.0, 1e-6).unwrap();
        store.charge("abc", 0.5, 1e-7, "dp-sgd", "model").unwrap();
        assert!(
            store
                .charge("abc", 0.1, 1e-6, "query", "δ too large")
                .is_err()
        );
        assert!(store.show("other").unwrap().is_none());
    }
}
