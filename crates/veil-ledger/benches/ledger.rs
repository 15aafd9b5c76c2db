//! Append rate (one per transaction and batched), and proof generation and verification at
//! 10^6 entries, on the SQLite store.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_ledger::merkle::{inclusion_proof, leaf_hash, root, verify_inclusion};
use veil_ledger::store::Store;

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"kind\":\"dataset\",\"i\":{i},\"sha256\":\"{i:064x}\"}}").into_bytes()
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("ledger.db")).expect("store");
    let mut next = 0u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one entry per transaction", |b| {
        b.iter(|| {
            store.append(&[entry(next)]).expect("appends");
            next += 1;
        })
    });
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    group.bench_function("10,000 entries per transaction", |b| {
        b.iter(|| {
            let batch: Vec<Vec<u8>> = (next..next + 10_000).map(entry).collect();
            store.append(&batch).expect("appends");
            next += 10_000;
        })
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("ledger.db")).expect("store");
    let n = 1_000_000u64;
    for start in (0..n).step_by(50_000) {
        let batch: Vec<Vec<u8>> = (start..start + 50_000).map(entry).collect();
        store.append(&batch).expect("appends");
    }
    let r = root(&store, n).expect("root");
    let mut i = 0u64;
    c.bench_function("inclusion proof at 10^6 entries", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            inclusion_proof(&store, i, n).expect("proof")
        })
    });
    let proof = inclusion_proof(&store, 123_456, n).expect("proof");
    let leaf = leaf_hash(&entry(123_456));
    c.bench_function("verify an inclusion proof at 10^6 entries", |b| {
        b.iter(|| verify_inclusion(123_456, n, &leaf, &proof, &r).expect("verifies"))
    });
}

criterion_group!(benches, appends, proofs);
criterion_main!(benches);
