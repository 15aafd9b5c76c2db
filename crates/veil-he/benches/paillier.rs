//! Paillier-2048: key generation aside, the three operations `veil he bench` reports —
//! encryption (with a fresh rⁿ, and with a precomputed one), CRT decryption, and the
//! homomorphic addition — plus the product with a plaintext weight a linear model needs.

use criterion::{Criterion, criterion_group, criterion_main};
use crypto_bigint::BoxedUint;
use veil_he::paillier::SecretKey;

fn paillier(c: &mut Criterion) {
    let sk = SecretKey::generate(2048).expect("a key");
    let pk = sk.public().clone();
    let m = BoxedUint::from(123_456_789u64);
    let a = pk.encrypt(&m).expect("encrypts");
    let b = pk.encrypt(&m).expect("encrypts");
    let mut group = c.benchmark_group("Paillier-2048");
    group.sample_size(20);
    group.bench_function("encrypt", |bench| {
        bench.iter(|| pk.encrypt(&m).expect("encrypts"))
    });
    group.bench_function("encrypt with a precomputed obfuscator", |bench| {
        bench.iter_batched(
            || pk.obfuscator(),
            |o| pk.encrypt_with(&m, o).expect("encrypts"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("decrypt (CRT)", |bench| bench.iter(|| sk.decrypt(&a)));
    group.bench_function("add", |bench| bench.iter(|| pk.add(&a, &b)));
    group.bench_function("multiply by a 64-bit weight", |bench| {
        bench.iter(|| pk.mul_plain(&a, -0x1234_5678_9abc_def0))
    });
    group.finish();
}

criterion_group!(benches, paillier);
criterion_main!(benches);
