//! The log's storage: SQLite (bundled), in WAL mode, one transaction per append.
//!
//! Tables:
//!
//! * `entries(idx INTEGER PRIMARY KEY, data BLOB)` — each entry's exact bytes (the leaf data);
//! * `nodes(level, idx, hash)` — the hash of every complete subtree: level 0 holds leaf hashes,
//!   level `l` the root of leaves `[idx·2^l, (idx+1)·2^l)`. This is the content of C2SP
//!   tlog tiles, one row per hash, so a root or a proof is O(log n) indexed reads;
//! * `subjects(idx, sha256)` — the subject digests of each entry, in log order, so appends
//!   stay sequential writes;
//! * `subject_lookup(sha256, idx)` and `lookup_state(indexed)` — the same pairs keyed by
//!   digest, so that a tool finds the entry a file came from (its parent) without scanning
//!   the log. Keys that are hashes land on random pages: maintaining this index inside every
//!   append made batched appends fall from 170,000/s to 36,000/s at 10^6 entries (each batch
//!   rewrote most of the index), so it is caught up on the first lookup after appends, in
//!   one sorted pass, instead;
//! * `checkpoints(size, note)` — every signed checkpoint the log has issued, so that an audit
//!   can check that today's tree still has yesterday's roots.
//!
//! An append takes SQLite's write lock (`BEGIN IMMEDIATE`) for the whole batch, reads the
//! current size and the right edge of the tree inside it, and writes the entries and every
//! subtree they complete before committing: concurrent appenders — threads or processes —
//! queue behind each other and never interleave.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::merkle::{Hash, Subtrees, leaf_hash, node_hash};

/// `PRAGMA application_id` of a ledger database: "VLGR".
const APPLICATION_ID: i64 = 0x564c_4752;
/// `PRAGMA user_version` this build writes and reads.
const SCHEMA_VERSION: i64 = 1;
/// The tables a ledger database holds; one without an application id (new, or written before
/// ids were recorded) may hold these and nothing else.
const TABLES: [&str; 6] = [
    "entries",
    "nodes",
    "subjects",
    "subject_lookup",
    "lookup_state",
    "checkpoints",
];

/// A log store.
pub struct Store {
    conn: Connection,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Storage(e)
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(db)?;
        let store = Store { conn };
        // Refuse a foreign or newer database before writing anything to it.
        let version = store.check_schema()?;
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        store
            .conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL,
                 hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS subjects (idx INTEGER NOT NULL, sha256 BLOB NOT NULL,
                 PRIMARY KEY (idx, sha256)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS subject_lookup (sha256 BLOB NOT NULL, idx INTEGER NOT NULL,
                 PRIMARY KEY (sha256, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS lookup_state (id INTEGER PRIMARY KEY CHECK (id = 0),
                 indexed INTEGER NOT NULL);
             INSERT OR IGNORE INTO lookup_state (id, indexed) VALUES (0, 0);
             CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY,
                 note TEXT NOT NULL);",
            )
            .map_err(db)?;
        if version == 0 {
            // A new store, or one from before schema versions (it has today's tables): mark it.
            store
                .conn
                .pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(db)?;
            store
                .conn
                .pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(db)?;
        }
        Ok(store)
    }

    /// Refuses a database of another application or of a newer schema; returns the version
    /// found (0: one written before versions were recorded).
    fn check_schema(&self) -> Result<i64> {
        let app: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(db)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if app != 0 && app != APPLICATION_ID {
            return Err(Error::Corrupt(format!(
                "ledger.db belongs to another application (application id {app:#x})"
            )));
        }
        if app == 0 {
            // Every ledger since schema versions carries the id: an unmarked database is new,
            // from before versions, or someone else's, told apart by its tables.
            let quoted = TABLES.map(|t| format!("'{t}'")).join(", ");
            let foreign: Option<String> = self
                .conn
                .query_row(
                    &format!(
                        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite%'
                         AND name NOT IN ({quoted}) LIMIT 1"
                    ),
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if version != 0 || foreign.is_some() {
                let what = foreign.map_or(format!("schema version {version}"), |t| {
                    format!("a table \"{t}\"")
                });
                return Err(Error::Corrupt(format!(
                    "ledger.db is not a Veil ledger (it has {what} and no ledger id)"
                )));
            }
        }
        if version > SCHEMA_VERSION {
            return Err(Error::Corrupt(format!(
                "ledger.db has schema version {version}; this Veil reads up to {SCHEMA_VERSION}: upgrade Veil"
            )));
        }
        Ok(version)
    }

    /// Opens an existing store without writing to it (no schema, no pragmas that write).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(db)?;
        let store = Store { conn };
        store.check_schema()?;
        Ok(store)
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        size_of(&self.conn)
    }

    /// Appends entries in one transaction; returns the index of the first.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64> {
        self.append_indexed(entries, &[])
    }

    /// Appends entries in one transaction, indexing entry `i` under the digests `subjects[i]`
    /// (see [`Store::latest_with_subject`]; an empty `subjects` indexes nothing); returns the
    /// index of the first.
    pub fn append_indexed(&mut self, entries: &[Vec<u8>], subjects: &[Vec<Hash>]) -> Result<u64> {
        if !subjects.is_empty() && subjects.len() != entries.len() {
            return Err(Error::invalid(
                "subjects",
                "one list of subjects per entry, or none",
            ));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let first = size_of(&tx)?;
        // The right edge: the complete subtree for every set bit of the size.
        let mut edge: Vec<Option<Hash>> = Vec::new();
        for level in 0..64u32 {
            if first >> level == 0 {
                break;
            }
            edge.push(if (first >> level) & 1 == 1 {
                Some(node(&tx, level, (first >> level) - 1)?)
            } else {
                None
            });
        }
        {
            let mut put_entry = tx
                .prepare_cached("INSERT INTO entries (idx, data) VALUES (?1, ?2)")
                .map_err(db)?;
            let mut put_node = tx
                .prepare_cached("INSERT INTO nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(db)?;
            let mut put_subject = tx
                .prepare_cached("INSERT OR IGNORE INTO subjects (idx, sha256) VALUES (?1, ?2)")
                .map_err(db)?;
            for (offset, data) in entries.iter().enumerate() {
                let index = first + offset as u64;
                put_entry.execute(params![index as i64, data]).map_err(db)?;
                for digest in subjects.get(offset).into_iter().flatten() {
                    put_subject
                        .execute(params![index as i64, digest.as_slice()])
                        .map_err(db)?;
                }
                let mut hash = leaf_hash(data);
                let mut level = 0usize;
                loop {
                    put_node
                        .execute(params![
                            level as i64,
                            ((index + 1) >> level) as i64 - 1,
                            hash.as_slice()
                        ])
                        .map_err(db)?;
                    if edge.len() == level {
                        edge.push(None);
                    }
                    match edge[level].take() {
                        None => {
                            edge[level] = Some(hash);
                            break;
                        }
                        Some(left) => {
                            hash = node_hash(&left, &hash);
                            level += 1;
                        }
                    }
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(first)
    }

    /// Recomputes every leaf hash from the stored entries and every stored subtree hash from
    /// its children, checks that entries are numbered 0..n without gaps and that exactly the
    /// complete subtrees of n leaves are stored, and runs `check` on each entry's bytes:
    /// it returns the entry's subject digests, which must be exactly the ones indexed.
    /// Returns the first problem as (first bad entry index, what is wrong), or `None`.
    pub fn audit(
        &self,
        check: impl Fn(u64, &[u8]) -> Result<Vec<Hash>>,
    ) -> Result<Option<(u64, String)>> {
        let size = self.size()?;
        let mut stmt = self
            .conn
            .prepare("SELECT idx, data FROM entries ORDER BY idx")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        let mut expected = 0u64;
        while let Some(row) = rows.next().map_err(db)? {
            let idx = row.get::<_, i64>(0).map_err(db)?;
            if idx < expected as i64 {
                return Ok(Some((
                    expected,
                    format!("a row with entry index {idx} was inserted"),
                )));
            }
            let idx = idx as u64;
            if idx != expected {
                return Ok(Some((expected, format!("entry {expected} is missing"))));
            }
            let data: Vec<u8> = match row.get_ref(1).map_err(db)? {
                rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                _ => return Ok(Some((idx, format!("entry {idx} is not stored as bytes")))),
            };
            let mut digests = match check(idx, &data) {
                Ok(digests) => digests,
                Err(e) => return Ok(Some((idx, format!("entry {idx} is invalid: {e}")))),
            };
            digests.sort_unstable();
            digests.dedup();
            if self.indexed_subjects(idx)? != digests {
                return Ok(Some((
                    idx,
                    format!("the subject index of entry {idx} does not match the entry"),
                )));
            }
            match node(&self.conn, 0, idx) {
                Ok(h) if h == leaf_hash(&data) => {}
                Ok(_) => {
                    return Ok(Some((
                        idx,
                        format!("entry {idx} does not match its leaf hash"),
                    )));
                }
                Err(e) => return Ok(Some((idx, e.to_string()))),
            }
            expected += 1;
        }
        let mut level = 1u32;
        while size >> level > 0 {
            for k in 0..size >> level {
                let first = k << level;
                let left = node(&self.conn, level - 1, 2 * k);
                let right = node(&self.conn, level - 1, 2 * k + 1);
                let stored = node(&self.conn, level, k);
                match (left, right, stored) {
                    (Ok(l), Ok(r), Ok(h)) if h == node_hash(&l, &r) => {}
                    _ => {
                        return Ok(Some((
                            first,
                            format!(
                                "the subtree of entries {first}.. (level {level}) does not match its children"
                            ),
                        )));
                    }
                }
            }
            level += 1;
        }
        let strays = [
            (
                "SELECT COUNT(*) FROM nodes WHERE level < 0 OR level >= 64 OR idx < 0
                     OR idx >= (?1 >> level)",
                "hashes are stored for entries that do not exist",
            ),
            (
                "SELECT COUNT(*) FROM subjects WHERE idx >= ?1 OR idx < 0",
                "subjects are indexed for entries that do not exist",
            ),
        ];
        for (sql, problem) in strays {
            let count: i64 = self
                .conn
                .query_row(sql, [size as i64], |r| r.get(0))
                .map_err(db)?;
            if count > 0 {
                return Ok(Some((size, problem.into())));
            }
        }
        self.audit_lookup(size)
    }

    /// Checks that the lookup index holds exactly the subject pairs of the entries it says
    /// it has indexed.
    fn audit_lookup(&self, size: u64) -> Result<Option<(u64, String)>> {
        let Some(indexed) = self.lookup_indexed()? else {
            return Ok(Some((
                0,
                "the subject lookup's state row was changed".into(),
            )));
        };
        if indexed > size {
            return Ok(Some((
                size,
                format!("the subject lookup claims {indexed} entries; the log has {size}"),
            )));
        }
        let first = |sql: &str| -> Result<Option<u64>> {
            let n: Option<i64> = self
                .conn
                .query_row(sql, [indexed as i64], |r| r.get(0))
                .map_err(db)?;
            Ok(n.map(|n| n.max(0) as u64))
        };
        let extra = first(
            "SELECT MIN(l.idx) FROM subject_lookup l WHERE l.idx >= ?1 OR NOT EXISTS
                 (SELECT 1 FROM subjects s WHERE s.idx = l.idx AND s.sha256 = l.sha256)",
        )?;
        let missing = first(
            "SELECT MIN(s.idx) FROM subjects s WHERE s.idx < ?1 AND NOT EXISTS
                 (SELECT 1 FROM subject_lookup l WHERE l.sha256 = s.sha256 AND l.idx = s.idx)",
        )?;
        Ok(match (extra, missing) {
            (None, None) => None,
            (a, b) => {
                let index = a.into_iter().chain(b).min().unwrap_or(0).min(size);
                Some((
                    index,
                    format!(
                        "the subject lookup index does not match the subjects of entry {index}"
                    ),
                ))
            }
        })
    }

    /// How many entries the lookup index covers; `None` if the state row is not an integer.
    fn lookup_indexed(&self) -> Result<Option<u64>> {
        let n: Option<rusqlite::types::Value> = self
            .conn
            .query_row("SELECT indexed FROM lookup_state WHERE id = 0", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        Ok(match n {
            Some(rusqlite::types::Value::Integer(n)) if n >= 0 => Some(n as u64),
            _ => None,
        })
    }

    fn indexed_subjects(&self, index: u64) -> Result<Vec<Hash>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sha256 FROM subjects WHERE idx = ?1 ORDER BY sha256")
            .map_err(db)?;
        let rows = stmt
            .query_map([index as i64], |r| r.get::<_, Vec<u8>>(0))
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            // A digest of the wrong length can never equal a real one: keep it as all-ones
            // so that the comparison fails.
            out.push(row.map_err(db)?.try_into().unwrap_or([0xff; 32]));
        }
        Ok(out)
    }

    /// The newest entry that names `digest` as a subject, if any. Brings the lookup index
    /// up to date first (one sorted pass over the subjects appended since the last lookup).
    pub fn latest_with_subject(&mut self, digest: &Hash) -> Result<Option<u64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let indexed: i64 = tx
            .query_row("SELECT indexed FROM lookup_state WHERE id = 0", [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        let size = size_of(&tx)? as i64;
        if indexed < size {
            tx.execute(
                "INSERT OR IGNORE INTO subject_lookup (sha256, idx)
                     SELECT sha256, idx FROM subjects WHERE idx >= ?1 ORDER BY sha256, idx",
                [indexed],
            )
            .map_err(db)?;
            tx.execute("UPDATE lookup_state SET indexed = ?1 WHERE id = 0", [size])
                .map_err(db)?;
        }
        let n: Option<i64> = tx
            .query_row(
                "SELECT MAX(idx) FROM subject_lookup WHERE sha256 = ?1",
                [digest.as_slice()],
                |r| r.get(0),
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n.map(|n| n as u64))
    }

    /// Records a signed checkpoint of `size` entries (one per size: Ed25519 signatures are
    /// deterministic, so a second one for the same size is the same note).
    pub fn save_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?1, ?2)",
                params![size as i64, note],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Every stored checkpoint, by ascending size. A row that is not (integer, text) is an
    /// [`Error::Corrupt`] (an audit finding), not a storage failure.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note FROM checkpoints ORDER BY size")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            use rusqlite::types::ValueRef;
            match (row.get_ref(0).map_err(db)?, row.get_ref(1).map_err(db)?) {
                (ValueRef::Integer(size), ValueRef::Text(note)) if size >= 0 => {
                    let note = String::from_utf8(note.to_vec()).map_err(|_| {
                        Error::Corrupt(format!("the stored checkpoint of size {size} is not UTF-8"))
                    })?;
                    out.push((size as u64, note));
                }
                _ => {
                    return Err(Error::Corrupt(
                        "a row of the checkpoints table is not a size and a note".into(),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The bytes of entry `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>> {
        self.conn
            .query_row(
                "SELECT data FROM entries WHERE idx = ?1",
                [index as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?
            .map_or_else(
                || {
                    Err(Error::UnknownEntry {
                        index,
                        size: size_of(&self.conn)?,
                    })
                },
                Ok,
            )
    }
}

fn size_of(conn: &Connection) -> Result<u64> {
    let n: Option<i64> = conn
        .query_row("SELECT MAX(idx) FROM entries", [], |r| r.get(0))
        .map_err(db)?;
    Ok(n.map_or(0, |n| n as u64 + 1))
}

fn node(conn: &Connection, level: u32, index: u64) -> Result<Hash> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")
        .map_err(db)?
        .query_row(params![i64::from(level), index as i64], |r| r.get(0))
        .optional()
        .map_err(db)?;
    let bytes = bytes.ok_or(Error::MissingHash { level, index })?;
    bytes.try_into().map_err(|_| {
        Error::Corrupt(format!(
            "the hash at level {level}, index {index} is not 32 bytes"
        ))
    })
}

impl Subtrees for Store {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash> {
        node(&self.conn, level, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_carries_its_schema_version_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(Error::Corrupt(_))));
        assert!(matches!(
            Store::open_read_only(&path),
            Err(Error::Corrupt(_))
        ));
        let other = dir.path().join("other.db");
        let conn = Connection::open(&other).unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        drop(conn);
        assert!(matches!(Store::open(&other), Err(Error::Corrupt(_))));
        // Nothing was written to the other application's database.
        let conn = Connection::open(&other).unwrap();
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
        // Most databases carry no application id: one with tables of its own, or a schema
        // version without the ledger's id, is refused too, and left as it was.
        for (name, setup) in [
            ("app.db", "CREATE TABLE patients (id INTEGER, name TEXT)"),
            ("versioned.db", "PRAGMA user_version = 1"),
        ] {
            let path = dir.path().join(name);
            Connection::open(&path)
                .unwrap()
                .execute_batch(setup)
                .unwrap();
            assert!(
                matches!(Store::open(&path), Err(Error::Corrupt(_))),
                "{name}"
            );
            let conn = Connection::open(&path).unwrap();
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert!(tables.iter().all(|t| t == "patients"), "{name}: {tables:?}");
            assert_eq!(mode, "delete", "{name}");
        }
    }
    use crate::merkle::{MemoryTree, inclusion_proof, root, verify_inclusion};

    #[test]
    fn store_matches_the_memory_tree_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("ledger.db")).unwrap();
        let mut reference = MemoryTree::new();
        let mut next = 0u64;
        for batch in [1usize, 2, 5, 1, 17, 64, 3] {
            let entries: Vec<Vec<u8>> = (0..batch)
                .map(|i| format!("entry {}", next + i as u64).into_bytes())
                .collect();
            assert_eq!(store.append(&entries).unwrap(), next);
            for e in &entries {
                reference.push(leaf_hash(e));
            }
            next += batch as u64;
            for size in [1, next / 2 + 1, next] {
                assert_eq!(
                    root(&store, size).unwrap(),
                    root(&reference, size).unwrap(),
                    "size {size}"
                );
            }
        }
        assert_eq!(store.size().unwrap(), next);
        assert_eq!(store.entry(4).unwrap(), b"entry 4");
        let r = root(&store, next).unwrap();
        for i in 0..next {
            let proof = inclusion_proof(&store, i, next).unwrap();
            verify_inclusion(i, next, &leaf_hash(&store.entry(i).unwrap()), &proof, &r).unwrap();
        }
    }

    #[test]
    fn audit_finds_the_first_altered_deleted_or_reordered_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let fresh = || {
            let _ = std::fs::remove_file(&path);
            let mut store = Store::open(&path).unwrap();
            let entries: Vec<Vec<u8>> =
                (0..13).map(|i| format!("entry {i}").into_bytes()).collect();
            store.append(&entries).unwrap();
            store
        };
        let ok = |_: u64, _: &[u8]| Ok(Vec::new());
        assert_eq!(fresh().audit(ok).unwrap(), None);
        let cases: [(&str, u64); 10] = [
            ("UPDATE entries SET data = 'entry 2' WHERE idx = 2", 2),
            ("UPDATE entries SET data = X'00' WHERE idx = 5", 5),
            (
                "UPDATE nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 1",
                4,
            ),
            ("DELETE FROM entries WHERE idx = 3", 3),
            (
                "UPDATE entries SET data = CAST(CASE idx WHEN 7 THEN 'entry 8' ELSE 'entry 7' END AS BLOB) WHERE idx IN (7, 8)",
                7,
            ),
            (
                "INSERT INTO nodes (level, idx, hash) VALUES (0, 13, zeroblob(32))",
                13,
            ),
            ("DELETE FROM nodes WHERE level = 3 AND idx = 0", 0),
            (
                "INSERT INTO nodes (level, idx, hash) VALUES (-1, 0, zeroblob(32))",
                13,
            ),
            (
                "INSERT INTO nodes (level, idx, hash) VALUES (0, -1, zeroblob(32))",
                13,
            ),
            ("INSERT INTO entries (idx, data) VALUES (-1, X'00')", 0),
        ];
        for (sql, first_bad) in cases {
            let store = fresh();
            store.conn.execute(sql, []).unwrap();
            let found = store.audit(ok).unwrap();
            assert_eq!(
                found.as_ref().map(|f| f.0),
                Some(first_bad),
                "{sql}: {found:?}"
            );
        }
        let store = fresh();
        let found = store
            .audit(|i, _| {
                if i == 9 {
                    Err(Error::invalid("entry", "bad"))
                } else {
                    Ok(Vec::new())
                }
            })
            .unwrap();
        assert_eq!(found.map(|f| f.0), Some(9));
    }

    #[test]
    fn the_subject_index_finds_entries_and_audit_checks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let digest = |data: &[u8]| veil_core::Sha256Digest::of_bytes(data).0;
        let subjects = |data: &[u8]| Ok(vec![digest(data), digest(b"shared")]);
        let fresh = || {
            let _ = std::fs::remove_file(&path);
            let mut store = Store::open(&path).unwrap();
            let entries: Vec<Vec<u8>> = (0..6).map(|i| format!("entry {i}").into_bytes()).collect();
            let digests: Vec<Vec<Hash>> = entries.iter().map(|e| subjects(e).unwrap()).collect();
            store.append_indexed(&entries, &digests).unwrap();
            store
        };
        let mut store = fresh();
        assert_eq!(
            store.latest_with_subject(&digest(b"entry 2")).unwrap(),
            Some(2)
        );
        assert_eq!(
            store.latest_with_subject(&digest(b"shared")).unwrap(),
            Some(5)
        );
        assert_eq!(store.latest_with_subject(&digest(b"absent")).unwrap(), None);
        let check = |_: u64, data: &[u8]| subjects(data);
        assert_eq!(store.audit(check).unwrap(), None);
        // Appends after a lookup are found by the next one.
        store
            .append_indexed(&[b"entry 6".to_vec()], &[vec![digest(b"shared")]])
            .unwrap();
        assert_eq!(
            store
                .audit(|_, d| if d == b"entry 6" {
                    Ok(vec![digest(b"shared")])
                } else {
                    subjects(d)
                })
                .unwrap(),
            None
        );
        assert_eq!(
            store.latest_with_subject(&digest(b"shared")).unwrap(),
            Some(6)
        );

        for (sql, first_bad) in [
            (
                "DELETE FROM subjects WHERE idx = 3 AND sha256 = (SELECT MIN(sha256) FROM subjects WHERE idx = 3)",
                3,
            ),
            ("INSERT INTO subjects VALUES (4, zeroblob(32))", 4),
            ("UPDATE subjects SET idx = 9 WHERE idx = 5", 5),
            ("INSERT INTO subjects VALUES (6, zeroblob(32))", 6),
            ("DELETE FROM subject_lookup WHERE idx = 2", 2),
            ("INSERT INTO subject_lookup VALUES (zeroblob(32), 1)", 1),
            (
                "UPDATE subject_lookup SET idx = 5 WHERE idx = 4 AND sha256 NOT IN (SELECT sha256 FROM subject_lookup WHERE idx = 5)",
                4,
            ),
            ("UPDATE lookup_state SET indexed = 99", 6),
        ] {
            let mut store = fresh();
            store.latest_with_subject(&digest(b"absent")).unwrap();
            store.conn.execute(sql, []).unwrap();
            let found = store.audit(check).unwrap();
            assert_eq!(
                found.as_ref().map(|f| f.0),
                Some(first_bad),
                "{sql}: {found:?}"
            );
        }
    }

    #[test]
    fn concurrent_appenders_never_interleave_or_lose_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        Store::open(&path).unwrap();
        std::thread::scope(|s| {
            for t in 0..2 {
                let path = path.clone();
                s.spawn(move || {
                    let mut store = Store::open(&path).unwrap();
                    for i in 0..100 {
                        store
                            .append(&[format!("writer {t} entry {i}").into_bytes()])
                            .unwrap();
                    }
                });
            }
        });
        let store = Store::open(&path).unwrap();
        assert_eq!(store.size().unwrap(), 200);
        let mut reference = MemoryTree::new();
        for i in 0..200 {
            reference.push(leaf_hash(&store.entry(i).unwrap()));
        }
        assert_eq!(root(&store, 200).unwrap(), root(&reference, 200).unwrap());
    }
}
