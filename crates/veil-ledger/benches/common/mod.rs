//! The entries both ledger benchmarks append: one subject, two metadata pairs (149 bytes
//! encoded), and for 9 in 10 a parent — the dataset entry of their group of ten, when that
//! is already in the log before the batch starting at `batch_start`.

use veil_ledger::{Entry, Subject};

/// Entry `i` of the benchmark log.
pub fn entry(i: u64, batch_start: u64) -> Entry {
    Entry {
        kind: if i.is_multiple_of(10) {
            "dataset"
        } else {
            "transform"
        }
        .into(),
        name: format!("shard-{i:07}.parquet"),
        time: 1_795_000_000 + i,
        subjects: vec![Subject {
            name: format!("shard-{i:07}.parquet"),
            sha256: veil_core::Sha256Digest::of_bytes(&i.to_le_bytes()).0,
        }],
        parents: Some(i - i % 10)
            .filter(|&p| p != i && p < batch_start)
            .into_iter()
            .collect(),
        meta: vec![
            ("rows".into(), (1000 + i % 977).to_string()),
            ("source".into(), "hospital-a".into()),
        ],
        signature: None,
    }
}
