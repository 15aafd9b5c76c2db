//! Throughput of table loading and digests.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_core::{Sha256Digest, Table, table::BUILTINS};

fn csv_parsing(c: &mut Criterion) {
    let digits = BUILTINS
        .iter()
        .find(|b| b.name == "digits")
        .expect("embedded");
    let mut group = c.benchmark_group("csv");
    group.throughput(Throughput::Bytes(digits.csv().len() as u64));
    group.bench_function("parse digits (1797 x 65)", |b| {
        b.iter(|| Table::from_csv_bytes("digits", digits.csv()).expect("parses"))
    });
    group.finish();
}

fn sha256(c: &mut Criterion) {
    let data = vec![0x5au8; 4 << 20];
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("sha256 4 MiB", |b| b.iter(|| Sha256Digest::of_bytes(&data)));
    group.finish();
}

criterion_group!(benches, csv_parsing, sha256);
criterion_main!(benches);
