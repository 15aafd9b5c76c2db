//! The coordinator's state between rounds, `STATE/state.json`, so that a coordinator
//! restarted with the same `--state` resumes where it stopped.
//!
//! Format (JSON, version 2; floats written so that they read back exactly):
//! `{"format":"veil-fl-state","version":2,"round":R,"kind":"logreg","hidden":[..],
//! "activation":"relu","features":[..],"label":"..","classes":[..],"rows":N,"mean":[..],
//! "scale":[..],"params":[..],"dp":{..}}` — `round` is the last round completed and
//! `params` the global parameters after it. `rows` is the total row count released by the
//! statistics round, or `null` in a distributed-DP run, which releases none (its
//! standardisation comes from public bounds). It holds aggregates only (the global model
//! and the global standardisation), nothing about one client.
//!
//! `dp`, present in a distributed-DP run, is the privacy ledger ([`DpLedger`]): the target,
//! the mechanism's exact parameters, and the rounds begun and the sums unmasked. It is
//! written *before* each round begins and again *before* its unmasking shares are asked for
//! (write-ahead), so a coordinator that crashes, or is killed on purpose, at any point
//! counts every sum it may have seen: ε never goes down across restarts (review F-01).
//! Version 1 files (no `dp`) still read; a distributed-DP plan refuses to resume one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ddp::Ddp;
use crate::error::{Error, Result};

const FORMAT: &str = "veil-fl-state";
const VERSION: u32 = 2;
const FILE: &str = "state.json";

/// The state after a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last round completed (0: none yet).
    pub round: usize,
    /// Model kind, hidden layers and activation of the plan that made it.
    pub kind: String,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: String,
    /// Feature columns.
    pub features: Vec<String>,
    /// Label column.
    pub label: String,
    /// The global classes.
    pub classes: Vec<String>,
    /// Total training rows over the clients (none in a distributed-DP run).
    pub rows: Option<f64>,
    /// Global feature means.
    pub mean: Vec<f64>,
    /// Global feature scales.
    pub scale: Vec<f64>,
    /// Global parameters.
    pub params: Vec<f64>,
    /// With distributed DP: what the run has spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<DpLedger>,
}

/// The privacy ledger of a distributed-DP run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpLedger {
    /// The run's random id (hex), sent to the clients with every contribution they are asked
    /// for: a client keeps its own count per run id.
    pub run: String,
    /// The (ε, δ) target and L2 clip asked for.
    pub epsilon: f64,
    /// δ of the target.
    pub delta: f64,
    /// The L2 clip of an update.
    pub clip: f64,
    /// Contributions each client may make: the planned rounds.
    pub rounds: usize,
    /// Clients asked per round, and t, the fewest whose noise is in any unmasked sum.
    pub clients_per_round: usize,
    /// t.
    pub threshold: usize,
    /// Parameters in an update.
    pub dims: usize,
    /// The mechanism, exactly as calibrated when the run began.
    pub mechanism: Ddp,
    /// Rounds begun: contribution numbers 1..=begun have been asked for and are never
    /// asked again.
    pub begun: usize,
    /// Sums whose unmasking shares were asked for: each counts as released.
    pub unmasked: usize,
}

impl DpLedger {
    /// ε spent at δ: the composition of the unmasked sums.
    pub fn epsilon_spent(&self) -> Result<f64> {
        self.mechanism
            .epsilon_after(self.delta, self.unmasked, self.threshold)
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    #[serde(flatten)]
    state: Checkpoint,
}

fn invalid(why: String) -> Error {
    Error::InvalidParameter { name: "state", why }
}

impl Checkpoint {
    /// Writes `dir/state.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let file = File {
            format: FORMAT.into(),
            version: VERSION,
            state: self.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| invalid(e.to_string()))?;
        veil_core::atomic::write_atomic_bytes(&dir.join(FILE), &bytes)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Reads `dir/state.json`, or `None` if there is none.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(invalid(format!("{}: {e}", path.display()))),
        };
        let file: File = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(format!(
                "{}: not a Veil federated state: {e}",
                path.display()
            ))
        })?;
        if file.format != FORMAT || !(1..=VERSION).contains(&file.version) {
            return Err(invalid(format!(
                "{}: {} version {} is not supported (this Veil reads {FORMAT} version {VERSION})",
                path.display(),
                file.format,
                file.version
            )));
        }
        Ok(Some(file.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_exactly_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), None);
        let c = Checkpoint {
            round: 3,
            kind: "logreg".into(),
            hidden: vec![],
            activation: "relu".into(),
            features: vec!["a".into(), "b".into()],
            label: "y".into(),
            classes: vec!["0".into(), "1".into()],
            rows: Some(455.0),
            mean: vec![0.1, 1.0 / 3.0],
            scale: vec![1.0, 2.5],
            params: vec![0.123_456_789_012_345_6, -1e-300, 7.0],
            dp: None,
        };
        c.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(c.clone()));
        // A distributed-DP run's ledger reads back exactly too.
        let (mechanism, _) = Ddp::calibrate(
            &crate::ddp::DpTarget {
                epsilon: 2.0,
                delta: 1e-5,
                clip: 1.0,
            },
            10,
            3,
            5,
            4,
        )
        .unwrap();
        let private = Checkpoint {
            rows: None,
            dp: Some(DpLedger {
                run: "ab".repeat(32),
                epsilon: 2.0,
                delta: 1e-5,
                clip: 1.0,
                rounds: 10,
                clients_per_round: 5,
                threshold: 4,
                dims: 3,
                mechanism,
                begun: 4,
                unmasked: 3,
            }),
            ..c.clone()
        };
        private.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(private));
        // A version-1 file (no ledger) still reads.
        let v1 = serde_json::to_string(&File {
            format: FORMAT.into(),
            version: 1,
            state: c.clone(),
        })
        .unwrap();
        std::fs::write(dir.path().join(FILE), v1).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(c));
        std::fs::write(dir.path().join(FILE), br#"{"format":"x"}"#).unwrap();
        assert!(Checkpoint::load(dir.path()).is_err());
    }
}
