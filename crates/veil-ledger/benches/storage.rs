//! Storage growth: bytes on disk (database, and the WAL beside it) per entry as the log grows to 10^6
//! entries, and the batched append rate along the way. Prints a table; no timing is asserted.
//!
//! Run: `cargo bench -p veil-ledger --bench storage`

use std::time::Instant;

mod common;

use common::entry;
use veil_ledger::{Entry, Ledger};

fn file_bytes(dir: &std::path::Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments besides --bench; skip then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ledger = Ledger::init(dir.path(), "bench.example/storage").expect("ledger");
    let batch = 10_000u64;
    let marks = [1_000u64, 10_000, 100_000, 250_000, 500_000, 1_000_000];
    println!(
        "| entries | database bytes | WAL bytes | on disk per entry (db + WAL) | mean entry bytes | batched appends/s since the previous row |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let (mut next, mut entry_bytes) = (0u64, 0u64);
    for mark in marks {
        let (from, start) = (next, Instant::now());
        while next < mark {
            let n = batch.min(mark - next);
            let entries: Vec<Entry> = (next..next + n).map(|i| entry(i, next)).collect();
            entry_bytes += entries
                .iter()
                .map(|e| e.encode().expect("encodes").len() as u64)
                .sum::<u64>();
            ledger.add_all(&entries).expect("appends");
            next += n;
        }
        let rate = (mark - from) as f64 / start.elapsed().as_secs_f64();
        let (db, wal) = (
            file_bytes(dir.path(), "ledger.db"),
            file_bytes(dir.path(), "ledger.db-wal"),
        );
        println!(
            "| {mark} | {db} | {wal} | {:.0} | {:.0} | {rate:.0} |",
            (db + wal) as f64 / mark as f64,
            entry_bytes as f64 / mark as f64,
        );
    }
    // Finding an entry by a file's digest: the first lookup indexes all 10^6 subjects.
    let digest = veil_core::Sha256Digest::of_bytes(&777_777u64.to_le_bytes()).0;
    for what in ["first lookup (indexes every subject)", "next lookup"] {
        let start = Instant::now();
        let found = ledger.find_subject(&digest).expect("lookup");
        assert_eq!(found, Some(777_777));
        println!("{what}: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    }
}
