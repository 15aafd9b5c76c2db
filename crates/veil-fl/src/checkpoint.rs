//! The coordinator's state between rounds, `STATE/state.json`, so that a coordinator
//! restarted with the same `--state` resumes where it stopped.
//!
//! Format (JSON, version 1; floats written so that they read back exactly):
//! `{"format":"veil-fl-state","version":1,"round":R,"kind":"logreg","hidden":[..],
//! "activation":"relu","features":[..],"label":"..","classes":[..],"rows":N,"mean":[..],
//! "scale":[..],"params":[..]}` — `round` is the last round completed and `params` the
//! global parameters after it. It holds aggregates only (the global model and the global
//! standardisation), nothing about one client.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FORMAT: &str = "veil-fl-state";
const VERSION: u32 = 1;
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
    /// Total training rows over the clients.
    pub rows: f64,
    /// Global feature means.
    pub mean: Vec<f64>,
    /// Global feature scales.
    pub scale: Vec<f64>,
    /// Global parameters.
    pub params: Vec<f64>,
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
        if file.format != FORMAT || file.version != VERSION {
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
            rows: 455.0,
            mean: vec![0.1, 1.0 / 3.0],
            scale: vec![1.0, 2.5],
            params: vec![0.123_456_789_012_345_6, -1e-300, 7.0],
        };
        c.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(c));
        std::fs::write(dir.path().join(FILE), br#"{"format":"x"}"#).unwrap();
        assert!(Checkpoint::load(dir.path()).is_err());
    }
}
