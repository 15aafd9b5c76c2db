//! A client's record of the distributed-DP contributions it has made, so that no
//! coordinator — restarted, crashed, or deviating on purpose — gets more noisy versions of
//! its update than the run's accounting covers (review F-01).
//!
//! A run (its id comes with every request, [`crate::ddp::Contribution`]) may ask each
//! client for contributions numbered 1 to `rounds`, each number once, with the mechanism's
//! parameters unchanged. The accountant composes exactly `rounds` rounds, so whatever
//! subset of these contributions a coordinator unmasks, the ε of the run bounds it. A
//! request for a number already made, beyond `rounds`, or with other parameters is refused
//! before the client trains. The record is written (atomically) before the contribution
//! leaves the client, so a client that restarts still knows.
//!
//! The run id and its parameters are the coordinator's word, so the client also keeps its
//! own account: with a cap (ε, δ), it computes each run's ε at its δ itself from the
//! mechanism, the rounds and the threshold, and refuses a run that would take the sum over
//! every run it has joined past ε (basic composition: the δs add up too). A coordinator
//! that starts a fresh run id, or sends too little noise, is refused by the cap.
//!
//! File format (JSON): `{"format":"veil-fl-contributions","version":1,"runs":{RUN:
//! {"mechanism":{..},"threshold":T,"rounds":R,"epsilon":E,"made":[1,2,..]}}}` —
//! `mechanism` as in `state.json`'s `dp.mechanism`, `epsilon` the run's ε at the client's δ
//! (0 if the client set no cap).

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
    #[serde(default)]
    epsilon: f64,
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
    /// refuses it: a number made before or outside 1..=rounds, a run whose parameters
    /// changed, or, with `cap` = (ε, δ), a new run whose ε at δ would take the total over
    /// all runs past ε. On success the record is on disk before this returns.
    pub fn admit(
        &self,
        c: &Contribution,
        mechanism: &Ddp,
        threshold: usize,
        cap: Option<(f64, f64)>,
    ) -> Result<()> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if !(1..=c.rounds).contains(&c.number) {
            return Err(refuse(format!(
                "contribution {} of a run of {} rounds",
                c.number, c.rounds
            )));
        }
        let epsilon = match cap {
            Some((_, delta)) => mechanism.epsilon_after(delta, c.rounds, threshold)?,
            None => 0.0,
        };
        if let Some((limit, delta)) = cap
            && !runs.contains_key(&c.run)
        {
            let spent: f64 = runs.values().map(|r| r.epsilon).sum();
            if spent + epsilon > limit {
                return Err(refuse(format!(
                    "run {} would spend ε = {epsilon:.4} at δ = {delta:e} on this client's data, on top of {spent:.4} spent in earlier runs: more than the client's cap of {limit}",
                    c.run
                )));
            }
        }
        let fresh = Run {
            mechanism: *mechanism,
            threshold,
            rounds: c.rounds,
            epsilon,
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
        record.admit(&ask("a", 1), &m, 4, None).unwrap();
        record.admit(&ask("a", 2), &m, 4, None).unwrap();
        // The same number again (a coordinator that crashed, or replays the round).
        assert!(record.admit(&ask("a", 2), &m, 4, None).is_err());
        // Beyond the plan, or number 0.
        assert!(record.admit(&ask("a", 4), &m, 4, None).is_err());
        assert!(record.admit(&ask("a", 0), &m, 4, None).is_err());
        // Other noise, threshold or rounds for the same run.
        assert!(
            record
                .admit(&ask("a", 3), &mechanism(4.0), 4, None)
                .is_err()
        );
        assert!(record.admit(&ask("a", 3), &m, 3, None).is_err());
        let longer = Contribution {
            rounds: 30,
            ..ask("a", 3)
        };
        assert!(record.admit(&longer, &m, 4, None).is_err());
        // Another run keeps its own count.
        record.admit(&ask("b", 2), &m, 4, None).unwrap();
        // A client restarted reads what it made.
        let again = Contributions::open(&path).unwrap();
        assert!(again.admit(&ask("a", 1), &m, 4, None).is_err());
        assert!(again.admit(&ask("b", 2), &m, 4, None).is_err());
        again.admit(&ask("a", 3), &m, 4, None).unwrap();
        // A record in memory forgets nothing within the process either.
        let memory = Contributions::in_memory();
        memory.admit(&ask("a", 1), &m, 4, None).unwrap();
        assert!(memory.admit(&ask("a", 1), &m, 4, None).is_err());
    }

    #[test]
    fn a_cap_bounds_the_privacy_spent_over_every_run_whatever_the_coordinator_says() {
        let record = Contributions::in_memory();
        let m = mechanism(2.0);
        let run_epsilon = m.epsilon_after(1e-5, 3, 4).unwrap();
        assert!(run_epsilon > 1.9 && run_epsilon <= 2.0, "{run_epsilon}");
        let cap = Some((5.0, 1e-5));
        record.admit(&ask("a", 1), &m, 4, cap).unwrap();
        // More contributions to a run already counted cost nothing more.
        record.admit(&ask("a", 2), &m, 4, cap).unwrap();
        // A fresh run id: counted again; a third would pass the cap of 5.
        record.admit(&ask("b", 1), &m, 4, cap).unwrap();
        let err = record.admit(&ask("c", 1), &m, 4, cap).unwrap_err();
        assert!(err.to_string().contains("cap"), "{err}");
        // Too little noise is refused at once.
        let fresh = Contributions::in_memory();
        assert!(fresh.admit(&ask("d", 1), &mechanism(50.0), 4, cap).is_err());
    }

    #[test]
    fn a_damaged_record_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contributions.json");
        std::fs::write(&path, b"{\"format\":").unwrap();
        assert!(Contributions::open(&path).is_err());
    }
}
