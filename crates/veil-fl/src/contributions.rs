//! A client's record of the distributed-DP contributions it has made, so that no
//! coordinator — restarted, crashed, or deviating on purpose — gets more noisy versions of
//! its update than the run's accounting covers (review F-01).
//!
//! A run (its id comes with every request, [`crate::ddp::Contribution`]) may ask each
//! client for contributions numbered 1 to `rounds`, each number once, with the mechanism's
//! parameters unchanged. The accountant composes exactly `rounds` rounds, so whatever
//! subset of these contributions a coordinator unmasks, the ε it reported bounds it. A
//! request for a number already made, beyond `rounds`, or with other parameters is refused
//! before the client trains. The record is written (atomically) before the contribution
//! leaves the client, so a client that restarts still knows.
//!
//! File format (JSON): `{"format":"veil-fl-contributions","version":1,"runs":{RUN:
//! {"mechanism":{..},"threshold":T,"rounds":R,"made":[1,2,..]}}}` — `mechanism` as in
//! `state.json`'s `dp.mechanism`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ddp::{Contribution, Ddp};
use crate::error::{Error, ProtocolViolation, Result};

const FORMAT: &str = "veil-fl-contributions";
const VERSION: u32 = 1;

/// What one run has had from this client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    mechanism: Ddp,
    threshold: usize,
    rounds: usize,
    made: BTreeSet<usize>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    runs: BTreeMap<String, Run>,
}

/// The record, kept in memory and, if it has a file, on disk.
#[derive(Debug)]
pub struct Contributions {
    path: Option<PathBuf>,
    runs: Mutex<BTreeMap<String, Run>>,
}

fn refuse(why: String) -> Error {
    Error::Protocol(ProtocolViolation::Unsafe(why))
}

impl Contributions {
    /// A record for this process only (a simulation's clients, or a client run without
    /// `--state`): forgotten when the process ends.
    pub fn in_memory() -> Contributions {
        Contributions {
            path: None,
            runs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The record kept in `path`, read if it exists.
    pub fn open(path: &Path) -> Result<Contributions> {
        let bad = |why: String| Error::InvalidParameter {
            name: "contributions",
            why: format!("{}: {why}", path.display()),
        };
        let runs = match std::fs::read(path) {
            Ok(bytes) => {
                let file: File = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("not a record of contributions: {e}")))?;
                if file.format != FORMAT || file.version != VERSION {
                    return Err(bad(format!(
                        "{} version {} is not supported (this Veil reads {FORMAT} version {VERSION})",
                        file.format, file.version
                    )));
                }
                file.runs
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(veil_core::Error::io(path, e).into()),
        };
        Ok(Contributions {
            path: Some(path.to_path_buf()),
            runs: Mutex::new(runs),
        })
    }

    /// Records contribution `c` of its run with `mechanism` and threshold `threshold`, or
    /// refuses it: a number made before or outside 1..=rounds, or a run whose parameters
    /// changed. On success the record is on disk before this returns.
    pub fn admit(&self, c: &Contribution, mechanism: &Ddp, threshold: usize) -> Result<()> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if !(1..=c.rounds).contains(&c.number) {
            return Err(refuse(format!(
                "contribution {} of a run of {} rounds",
                c.number, c.rounds
            )));
        }
        let fresh = Run {
            mechanism: *mechanism,
            threshold,
            rounds: c.rounds,
            made: BTreeSet::new(),
        };
        let run = runs.entry(c.run.clone()).or_insert_with(|| fresh.clone());
        if (run.mechanism, run.threshold, run.rounds) != (fresh.mechanism, threshold, c.rounds) {
            return Err(refuse(format!(
                "run {} changed its distributed-DP parameters after this client contributed",
                c.run
            )));
        }
        if !run.made.insert(c.number) {
            return Err(refuse(format!(
                "contribution {} to run {} was made already: a second noisy copy would not be accounted",
                c.number, c.run
            )));
        }
        if let Some(path) = &self.path {
            let file = File {
                format: FORMAT.into(),
                version: VERSION,
                runs: runs.clone(),
            };
            let bytes = serde_json::to_vec(&file).map_err(|e| Error::InvalidParameter {
                name: "contributions",
                why: e.to_string(),
            })?;
            if let Err(e) = veil_core::atomic::write_atomic_bytes(path, &bytes) {
                // Not on disk: not made.
                if let Some(run) = runs.get_mut(&c.run) {
                    run.made.remove(&c.number);
                }
                return Err(e.into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddp::DpTarget;

    fn mechanism(epsilon: f64) -> Ddp {
        let target = DpTarget {
            epsilon,
            delta: 1e-5,
            clip: 1.0,
        };
        Ddp::calibrate(&target, 3, 4, 5, 4).unwrap().0
    }

    fn ask(run: &str, number: usize) -> Contribution {
        Contribution {
            run: run.into(),
            number,
            rounds: 3,
        }
    }

    #[test]
    fn each_contribution_is_made_once_within_the_plan_and_the_record_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contributions.json");
        let m = mechanism(2.0);
        let record = Contributions::open(&path).unwrap();
        record.admit(&ask("a", 1), &m, 4).unwrap();
        record.admit(&ask("a", 2), &m, 4).unwrap();
        // The same number again (a coordinator that crashed, or replays the round).
        assert!(record.admit(&ask("a", 2), &m, 4).is_err());
        // Beyond the plan, or number 0.
        assert!(record.admit(&ask("a", 4), &m, 4).is_err());
        assert!(record.admit(&ask("a", 0), &m, 4).is_err());
        // Other noise, threshold or rounds for the same run.
        assert!(record.admit(&ask("a", 3), &mechanism(4.0), 4).is_err());
        assert!(record.admit(&ask("a", 3), &m, 3).is_err());
        let longer = Contribution {
            rounds: 30,
            ..ask("a", 3)
        };
        assert!(record.admit(&longer, &m, 4).is_err());
        // Another run keeps its own count.
        record.admit(&ask("b", 2), &m, 4).unwrap();
        // A client restarted reads what it made.
        let again = Contributions::open(&path).unwrap();
        assert!(again.admit(&ask("a", 1), &m, 4).is_err());
        assert!(again.admit(&ask("b", 2), &m, 4).is_err());
        again.admit(&ask("a", 3), &m, 4).unwrap();
        // A record in memory forgets nothing within the process either.
        let memory = Contributions::in_memory();
        memory.admit(&ask("a", 1), &m, 4).unwrap();
        assert!(memory.admit(&ask("a", 1), &m, 4).is_err());
    }

    #[test]
    fn a_damaged_record_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contributions.json");
        std::fs::write(&path, b"{\"format\":").unwrap();
        assert!(Contributions::open(&path).is_err());
    }
}
