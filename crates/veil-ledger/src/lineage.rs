//! Lineage: recording each step of a dataset's or model's life with its parents, and
//! walking back from any entry to the data it came from.
//!
//! Each input of a [`Step`] becomes a parent of the new entry: the newest entry that names the
//! input's content digest as a subject, or, if the log has never seen that content, a new
//! `dataset` entry for it. Each output becomes a subject of the new entry. So the lineage of a
//! model leads through every transformation back to the exact bytes it was trained on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use veil_core::text::printable;

use crate::entry::{Entry, Subject};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::manifest::subject_of;

/// Which of a step's files are data — a table, a plaintext — whose digests are recorded
/// keyed (review F-17): HMAC-SHA-256 under the ledger's own `digest.key` of the file's
/// SHA-256, never the SHA-256 itself. A plain digest of a small or guessable file (one
/// record, a lab result) would let anyone who sees the log confirm a guess offline; the
/// keyed one still links the same content within this ledger, and only holders of the key
/// can match a file to it. Sealed files and models keep their SHA-256: they are what
/// others verify, and reveal nothing by their digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keyed {
    /// No data among the files (every digest is SHA-256).
    #[default]
    None,
    /// The inputs are data (a seal, a DP release, a training run).
    Inputs,
    /// The outputs are data (an open).
    Outputs,
    /// Both (a transformation of a table into a table).
    Both,
}

impl Keyed {
    fn inputs(self) -> bool {
        matches!(self, Keyed::Inputs | Keyed::Both)
    }

    fn outputs(self) -> bool {
        matches!(self, Keyed::Outputs | Keyed::Both)
    }
}

/// The metadata key that marks an entry whose subjects are keyed digests, and its value.
pub const KEYED_META: (&str, &str) = ("subject_digest", "hmac-sha256");

/// One step to record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// The entry kind (`transform`, `model`, `dp-release`, …).
    pub kind: &'static str,
    /// A name for people.
    pub name: String,
    /// What the step read.
    pub inputs: Vec<Subject>,
    /// What the step wrote.
    pub outputs: Vec<Subject>,
    /// Settings and results worth keeping.
    pub meta: Vec<(String, String)>,
    /// Which files are data, recorded by keyed digest.
    pub keyed: Keyed,
}

impl Subject {
    /// The subject for a data source as commands name it: a file, a directory (hashed as a
    /// manifest of its files) or `builtin:NAME` (the embedded CSV's bytes). A stream (`-`)
    /// has no digest to record and is refused.
    pub fn of_source(spec: &str) -> Result<Subject> {
        if spec == "-" {
            return Err(Error::invalid(
                "--ledger",
                "a ledger records files by their content digest: give file names, not - (a stream)",
            ));
        }
        if spec.starts_with("builtin:") {
            return Ok(Subject {
                name: spec.to_string(),
                sha256: veil_core::Sha256Digest::of_source(spec)?.0,
            });
        }
        subject_of(Path::new(spec))
    }
}

impl Step {
    /// Sealing `source` into `out`: the plaintext is the parent (data, keyed), the sealed
    /// file the subject (by SHA-256).
    pub fn sealing(source: &str, out: &str, meta: Vec<(String, String)>) -> Result<Step> {
        Step::file_transform("seal", source, out, meta, Keyed::Inputs)
    }

    /// Opening `source` into `out`: the sealed file is the parent, the plaintext the
    /// subject (data, keyed).
    pub fn opening(source: &str, out: &str, meta: Vec<(String, String)>) -> Result<Step> {
        Step::file_transform("open", source, out, meta, Keyed::Outputs)
    }

    fn file_transform(
        op: &str,
        source: &str,
        out: &str,
        meta: Vec<(String, String)>,
        keyed: Keyed,
    ) -> Result<Step> {
        let output = Subject::of_source(out)?;
        Ok(Step {
            kind: "transform",
            name: format!("{op}ed {}", output.name),
            inputs: vec![Subject::of_source(source)?],
            outputs: vec![output],
            meta,
            keyed,
        })
    }
}

/// Records `step`: finds or logs each input, then appends the step; returns its index.
///
/// The input datasets and the step are separate appends (a step's parents must exist before
/// it, and indexes are only known once appended). If the step's append fails, the dataset
/// entries stay: each is a true record that the data existed, and the next step that reads
/// the same bytes finds it by digest instead of logging it again.
pub fn record(ledger: &mut Ledger, step: Step) -> Result<u64> {
    let keyed_meta = || vec![(KEYED_META.0.to_string(), KEYED_META.1.to_string())];
    let mut parents = Vec::new();
    for input in step.inputs {
        let (input, meta) = match step.keyed.inputs() {
            true => (ledger.keyed_subject(input)?, keyed_meta()),
            false => (input, Vec::new()),
        };
        let parent = match ledger.find_subject(&input.sha256)? {
            Some(index) => index,
            None => {
                let dataset = Entry {
                    kind: "dataset".into(),
                    name: input.name.clone(),
                    time: veil_core::time::unix_now(),
                    subjects: vec![input],
                    parents: Vec::new(),
                    meta,
                    signature: None,
                };
                ledger.add(&dataset)?.0
            }
        };
        parents.push(parent);
    }
    parents.sort_unstable();
    parents.dedup();
    let mut meta = step.meta;
    let outputs = match step.keyed.outputs() {
        true => {
            meta.extend(keyed_meta());
            step.outputs
                .into_iter()
                .map(|s| ledger.keyed_subject(s))
                .collect::<Result<Vec<_>>>()?
        }
        false => step.outputs,
    };
    meta.sort();
    let entry = Entry {
        kind: step.kind.into(),
        name: step.name,
        time: veil_core::time::unix_now(),
        subjects: outputs,
        parents,
        meta,
        signature: None,
    };
    Ok(ledger.add(&entry)?.0)
}

/// An entry and its index, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    /// The entry's index.
    pub index: u64,
    /// The entry.
    pub entry: Entry,
}

impl Serialize for Indexed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct SubjectView<'a> {
            name: &'a str,
            sha256: String,
        }
        let e = &self.entry;
        let subjects: Vec<SubjectView<'_>> = e
            .subjects
            .iter()
            .map(|s| SubjectView {
                name: &s.name,
                sha256: veil_core::hex(&s.sha256),
            })
            .collect();
        let meta: BTreeMap<&str, &str> = e
            .meta
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut st = s.serialize_struct("Entry", 10)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("kind", &e.kind)?;
        st.serialize_field("name", &e.name)?;
        st.serialize_field("time", &e.time)?;
        st.serialize_field("time_utc", &veil_core::time::rfc3339(e.time))?;
        st.serialize_field("subjects", &subjects)?;
        st.serialize_field("parents", &e.parents)?;
        st.serialize_field("meta", &meta)?;
        // The key id is the signer's claim (covered by its own signature, so anyone can
        // claim any id); the Ed25519 key is what the signature verifies under.
        st.serialize_field(
            "signer",
            &e.signature.as_ref().map(|s| veil_core::hex(&s.key_id)),
        )?;
        st.serialize_field(
            "signer_ed25519",
            &e.signature.as_ref().map(|s| veil_core::hex(&s.public_key)),
        )?;
        st.end()
    }
}

/// The ancestry of an entry: itself and every entry reachable through parents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// The entry the ancestry is of.
    pub index: u64,
    /// Itself and its ancestors, newest first.
    pub entries: Vec<Indexed>,
}

impl Lineage {
    /// Walks back from entry `index` through its parents.
    pub fn of(ledger: &Ledger, index: u64) -> Result<Lineage> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![index];
        let mut entries = Vec::new();
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                let entry = ledger.entry(i)?;
                stack.extend(entry.parents.iter().copied());
                entries.push(Indexed { index: i, entry });
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.index));
        Ok(Lineage { index, entries })
    }

    /// The ancestry drawn as a tree, one entry per line; an entry reached twice is drawn
    /// once and then referred to.
    pub fn tree(&self) -> String {
        let by_index: BTreeMap<u64, &Entry> =
            self.entries.iter().map(|e| (e.index, &e.entry)).collect();
        let mut shown = BTreeSet::new();
        let mut out = String::new();
        tree_lines(&by_index, self.index, "", "", &mut shown, &mut out);
        out
    }

    /// The ancestry as a Graphviz DOT graph (children point at their parents).
    pub fn dot(&self) -> String {
        let escape = |t: &str| printable(t).replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::from("digraph lineage {\n  rankdir=BT;\n  node [shape=box];\n");
        for Indexed { index: i, entry: e } in &self.entries {
            let label = format!("#{i} {}\\n{}", escape(&e.kind), escape(&e.name));
            out.push_str(&format!("  e{i} [label=\"{label}\"];\n"));
            for p in &e.parents {
                out.push_str(&format!("  e{i} -> e{p};\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn tree_lines(
    entries: &BTreeMap<u64, &Entry>,
    index: u64,
    first: &str,
    rest: &str,
    shown: &mut BTreeSet<u64>,
    out: &mut String,
) {
    let Some(entry) = entries.get(&index) else {
        return;
    };
    let digest = entry
        .subjects
        .first()
        .map(|s| format!(" sha256:{}…", &veil_core::hex(&s.sha256)[..12]))
        .unwrap_or_default();
    let (kind, name) = (printable(&entry.kind), printable(&entry.name));
    if !shown.insert(index) {
        out.push_str(&format!("{first}#{index} {kind} {name} (shown above)\n"));
        return;
    }
    out.push_str(&format!("{first}#{index} {kind} {name}{digest}\n"));
    let n = entry.parents.len();
    for (k, p) in entry.parents.iter().enumerate() {
        let (branch, cont) = if k + 1 == n {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        tree_lines(
            entries,
            *p,
            &format!("{rest}{branch}"),
            &format!("{rest}{cont}"),
            shown,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(name: &str, byte: u8) -> Subject {
        Subject {
            name: name.into(),
            sha256: [byte; 32],
        }
    }

    #[test]
    fn names_from_the_log_cannot_drive_the_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/lineage").unwrap();
        let index = record(
            &mut ledger,
            Step {
                kind: "model",
                name: "m\x1b[2K\r#0 dataset trusted.csv".into(),
                inputs: vec![subject("in\x1b[31m.csv", 1)],
                outputs: vec![subject("m.model", 2)],
                ..Step::default()
            },
        )
        .unwrap();
        let lineage = Lineage::of(&ledger, index).unwrap();
        let tree = lineage.tree();
        assert!(!tree.contains('\x1b') && !tree.contains('\r'), "{tree:?}");
        assert!(tree.contains("m\\u{1b}[2K\\u{d}#0"), "{tree}");
        let shown = ledger.entry_view(index).unwrap().to_string();
        assert!(!shown.contains('\x1b'), "{shown:?}");
        let listed = ledger.list().unwrap().to_string();
        assert!(!listed.contains('\x1b'), "{listed:?}");
    }

    #[test]
    fn steps_find_their_inputs_by_digest_and_the_lineage_leads_back_to_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/lineage").unwrap();
        let split = record(
            &mut ledger,
            Step {
                kind: "transform",
                name: "split".into(),
                inputs: vec![subject("all.csv", 1)],
                outputs: vec![subject("train.csv", 2), subject("test.csv", 3)],
                meta: vec![("seed".into(), "42".into()), ("op".into(), "split".into())],
                keyed: Keyed::None,
            },
        )
        .unwrap();
        // all.csv was new: a dataset entry came first, and the split derives from it.
        assert_eq!(split, 1);
        assert_eq!(ledger.entry(0).unwrap().kind, "dataset");
        let entry = ledger.entry(1).unwrap();
        assert_eq!(entry.parents, [0]);
        assert_eq!(entry.meta[0].0, "op", "metadata sorted");
        // The model reads train.csv twice and a new file once: two parents.
        let model = record(
            &mut ledger,
            Step {
                kind: "model",
                name: "m".into(),
                inputs: vec![subject("train.csv", 2), subject("t2", 2), subject("x", 9)],
                outputs: vec![subject("m.model", 4)],
                ..Step::default()
            },
        )
        .unwrap();
        assert_eq!(ledger.entry(model).unwrap().parents, [1, 2]);
        let lineage = Lineage::of(&ledger, model).unwrap();
        let indexes: Vec<u64> = lineage.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, [3, 2, 1, 0]);
        let tree = lineage.tree();
        assert!(tree.starts_with("#3 model m"), "{tree}");
        assert!(tree.contains("└─ #2 dataset x"), "{tree}");
        assert!(lineage.dot().contains("e3 -> e1;"));
        let json = serde_json::to_value(&lineage).unwrap();
        assert_eq!(json["entries"][0]["kind"], "model");
        assert!(
            json["entries"][0]["time_utc"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert!(Subject::of_source("-").is_err());
        assert_eq!(
            Subject::of_source("builtin:digits").unwrap().name,
            "builtin:digits"
        );
    }

    #[test]
    fn data_files_are_recorded_by_keyed_digest_and_still_link_within_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::init(dir.path(), "example.com/lineage").unwrap();
        let plaintext = subject("patients.csv", 5);
        // Sealing: the plaintext is data (keyed), the sealed file is not.
        let seal = record(
            &mut ledger,
            Step {
                kind: "transform",
                name: "sealed".into(),
                inputs: vec![plaintext.clone()],
                outputs: vec![subject("patients.csv.veil", 6)],
                keyed: Keyed::Inputs,
                ..Step::default()
            },
        )
        .unwrap();
        let dataset = ledger.entry(0).unwrap();
        assert_ne!(
            dataset.subjects[0].sha256, plaintext.sha256,
            "not the SHA-256"
        );
        assert!(
            dataset
                .meta
                .contains(&("subject_digest".into(), "hmac-sha256".into()))
        );
        assert_eq!(ledger.entry(seal).unwrap().subjects[0].sha256, [6; 32]);
        assert!(ledger.entry(seal).unwrap().meta.is_empty());
        // The key is the ledger's own, private, and stable.
        let key_path = dir.path().join(crate::ledger::DIGEST_KEY_FILE);
        assert_eq!(std::fs::read(&key_path).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        // Opening it again: the output plaintext gets the same keyed digest, so a DP
        // release on it finds the same dataset entry as its parent.
        let open = record(
            &mut ledger,
            Step {
                kind: "transform",
                name: "opened".into(),
                inputs: vec![subject("patients.csv.veil", 6)],
                outputs: vec![plaintext.clone()],
                keyed: Keyed::Outputs,
                ..Step::default()
            },
        )
        .unwrap();
        let opened = ledger.entry(open).unwrap();
        assert_eq!(opened.parents, [seal]);
        assert_eq!(opened.subjects[0].sha256, dataset.subjects[0].sha256);
        let release = record(
            &mut ledger,
            Step {
                kind: "dp-release",
                name: "count".into(),
                inputs: vec![plaintext.clone()],
                keyed: Keyed::Inputs,
                ..Step::default()
            },
        )
        .unwrap();
        assert_eq!(ledger.entry(release).unwrap().parents, [open]);
        // Another ledger keys the same file differently: its digests cannot be compared.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Ledger::init(other_dir.path(), "example.com/other").unwrap();
        let elsewhere = other.keyed_subject(plaintext).unwrap();
        assert_ne!(elsewhere.sha256, dataset.subjects[0].sha256);
    }
}
