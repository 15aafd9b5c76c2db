//! Append rate through the ledger (one entry per transaction and batched: encoding, subject
//! index and tree hashes included), and proof generation and verification at 10^6 entries.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_ledger::merkle::{inclusion_proof, leaf_hash, root, verify_inclusion};
mod common;

use common::entry;
use veil_ledger::{Entry, Ledger};

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ledger = Ledger::init(dir.path(), "bench.example/ledger").expect("ledger");
    let mut next = 0u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one entry per transaction", |b| {
        b.iter(|| {
            ledger.add(&entry(next, next)).expect("appends");
            next += 1;
        })
    });
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    group.bench_function("10,000 entries per transaction", |b| {
        b.iter(|| {
            let batch: Vec<Entry> = (next..next + 10_000).map(|i| entry(i, next)).collect();
            ledger.add_all(&batch).expect("appends");
            next += 10_000;
        })
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ledger = Ledger::init(dir.path(), "bench.example/ledger").expect("ledger");
    let n = 1_000_000u64;
    for start in (0..n).step_by(50_000) {
        let batch: Vec<Entry> = (start..start + 50_000).map(|i| entry(i, start)).collect();
        ledger.add_all(&batch).expect("appends");
    }
    let mut i = 0u64;
    c.bench_function(
        "tlog-proof at 10^6 entries (path + signed checkpoint)",
        |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                ledger.prove(i).expect("proof")
            })
        },
    );
    let store = veil_ledger::store::Store::open(&dir.path().join("ledger.db")).expect("store");
    c.bench_function("inclusion path at 10^6 entries", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            inclusion_proof(&store, i, n).expect("proof")
        })
    });
    let r = root(&store, n).expect("root");
    let proof = inclusion_proof(&store, 123_456, n).expect("proof");
    let leaf = leaf_hash(&ledger.entry_bytes(123_456).expect("entry"));
    c.bench_function("verify an inclusion path at 10^6 entries", |b| {
        b.iter(|| verify_inclusion(123_456, n, &leaf, &proof, &r).expect("verifies"))
    });
    let tlog = ledger.prove(123_456).expect("proof");
    let vkey = ledger.verifier().clone();
    c.bench_function("verify a tlog-proof offline (signature + path)", |b| {
        b.iter(|| tlog.verify(&vkey, &leaf).expect("verifies"))
    });
}

criterion_group!(benches, appends, proofs);
criterion_main!(benches);
