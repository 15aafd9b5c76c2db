//! `--ledger DIR`: commands that read and write data record what they did in a ledger.
//!
//! Each input becomes a parent of the new entry: the newest entry that names the input's
//! content digest as a subject, or, if the log has never seen that content, a new `dataset`
//! entry for it. Each output becomes a subject of the new entry. So the lineage of a model
//! leads through every transformation back to the exact bytes it was trained on.

use std::path::Path;

use serde_json::Value;
use veil_ledger::manifest::subject_of;
use veil_ledger::{Entry, Ledger, Subject};

use super::ledger::{append, now};

/// One step to record.
pub struct Step {
    /// The entry kind.
    pub kind: &'static str,
    /// A name for people.
    pub name: String,
    /// What the step read.
    pub inputs: Vec<Subject>,
    /// What the step wrote.
    pub outputs: Vec<Subject>,
    /// Settings and results worth keeping.
    pub meta: Vec<(String, String)>,
}

/// Opens the ledger of `--ledger`, before any work, so that a bad directory loses nothing.
pub fn open(dir: Option<&Path>) -> anyhow::Result<Option<Ledger>> {
    Ok(dir.map(Ledger::open).transpose()?)
}

/// The subject for a data source: a file, a directory or `builtin:NAME`.
pub fn data_subject(spec: &str) -> anyhow::Result<Subject> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        let builtin = veil_core::table::find_builtin(name)?;
        return Ok(Subject {
            name: spec.to_string(),
            sha256: veil_core::Sha256Digest::of_bytes(builtin.csv()).0,
        });
    }
    file_subject(spec)
}

/// The subject for a file named on the command line; `-` (a stream) cannot be recorded.
pub fn file_subject(spec: &str) -> anyhow::Result<Subject> {
    if spec == "-" {
        return Err(veil_ledger::Error::Invalid(
            "--ledger records files by their content digest: give file names, not - (a stream)"
                .into(),
        )
        .into());
    }
    Ok(subject_of(Path::new(spec))?)
}

/// Refuses `-` for a command whose files will be recorded, before any work is done.
pub fn require_files(ledger: Option<&Ledger>, specs: &[&str]) -> anyhow::Result<()> {
    if ledger.is_some() && specs.contains(&"-") {
        file_subject("-")?;
    }
    Ok(())
}

/// Records `step`: finds or logs its inputs, then appends the step; returns its index.
///
/// The input datasets and the step are separate appends (a step's parents must exist
/// before it, and indexes are only known once appended). If the step's append fails, the
/// dataset entries stay: each is a true record that the data existed, and the next step
/// that reads the same bytes finds it by digest instead of logging it again.
pub fn record(ledger: &mut Ledger, step: Step) -> anyhow::Result<u64> {
    let mut parents = Vec::new();
    for input in step.inputs {
        let parent = match ledger.find_subject(&input.sha256)? {
            Some(index) => index,
            None => {
                let dataset = Entry {
                    kind: "dataset".into(),
                    name: input.name.clone(),
                    time: now(),
                    subjects: vec![input],
                    parents: Vec::new(),
                    meta: Vec::new(),
                    signature: None,
                };
                append(ledger, dataset, None)?.0
            }
        };
        parents.push(parent);
    }
    parents.sort_unstable();
    parents.dedup();
    let mut meta = step.meta;
    meta.sort();
    let entry = Entry {
        kind: step.kind.into(),
        name: step.name,
        time: now(),
        subjects: step.outputs,
        parents,
        meta,
        signature: None,
    };
    Ok(append(ledger, entry, None)?.0)
}

/// Adds `"ledger_index"` to a JSON report.
pub fn with_index(value: &mut Value, index: Option<u64>) {
    if let Some(index) = index {
        value["ledger_index"] = index.into();
    }
}

/// Says on stderr where the step was recorded (human output).
pub fn say(index: Option<u64>) {
    if let Some(index) = index {
        eprintln!("recorded as ledger entry {index}");
    }
}
