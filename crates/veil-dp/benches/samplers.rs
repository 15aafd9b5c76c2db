//! The exact discrete Gaussian samplers, one draw at a time on one core, at the σ of
//! DP-SGD's grid (about 2^20 grid units): CKS 2020's rejection from a discrete Laplace
//! against the precomputed table of `DiscreteGaussianTable`, and what building the table
//! costs.

use criterion::{Criterion, criterion_group, criterion_main};
use veil_dp::NoiseRng;
use veil_dp::sample::{DiscreteGaussianTable, discrete_gaussian};

fn samplers(c: &mut Criterion) {
    let sigma: u128 = 1_234_567;
    let a = sigma * sigma;
    let mut rng = NoiseRng::insecure_seeded(1);
    let mut group = c.benchmark_group("discrete Gaussian, σ = 1,234,567");
    group.bench_function("CKS 2020 (per draw)", |b| {
        b.iter(|| discrete_gaussian(&mut rng, a, 1).expect("σ² in range"))
    });
    let table = DiscreteGaussianTable::new(a, 1).expect("σ² in range");
    group.bench_function("table (per draw)", |b| b.iter(|| table.sample(&mut rng)));
    group.sample_size(20);
    group.bench_function("building the table", |b| {
        b.iter(|| DiscreteGaussianTable::new(a, 1).expect("σ² in range"))
    });
    group.finish();
}

criterion_group!(benches, samplers);
criterion_main!(benches);
