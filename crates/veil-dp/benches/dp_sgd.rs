//! DP-SGD against ordinary training, per step, for the MLP on the digits data (64 → 64 → 10,
//! 4,810 parameters) and logistic regression on breast-cancer: the same rows, expected
//! batch size and optimiser. DP-SGD pays for per-example gradients, clipping, and exact
//! Gaussian noise on every parameter (drawn on a second thread for the MLP). Each timed run
//! is a whole training, setup included, divided by its steps.

use criterion::{Criterion, criterion_group, criterion_main};
use veil_core::Table;
use veil_dp::NoiseRng;
use veil_dp::PrivacyLoss;
use veil_dp::accountant::Accountant;
use veil_dp::budget::Receipt;
use veil_dp::sgd::{DpSgdConfig, fit_private, schedule};
use veil_ml::pipeline::{Columns, Holdout, ModelConfig, prepare};
use veil_ml::train::fit;
use veil_ml::{ModelKind, Network};

fn bench_model(c: &mut Criterion, data: &str, label: &str, kind: ModelKind, name: &str) {
    let table = Table::load(data).expect("builtin data");
    let columns = Columns {
        label: label.into(),
        ..Default::default()
    };
    let prepared = prepare(
        &table,
        &columns,
        Some(kind),
        Holdout::Split {
            fraction: 0.2,
            seed: 1,
        },
        true,
    )
    .expect("prepared");
    let mut config = ModelConfig::defaults(Some(kind), 1);
    config.train.epochs = 20;
    config.train.batch_size = 128;
    let (_, arch) = config.architecture(&prepared).expect("architecture");
    let (_, steps) = schedule(prepared.x_train.nrows(), &config.train).expect("schedule");
    // fit() takes ceil(n/B) batches per epoch; DP-SGD round(n/B) Poisson batches. Twenty
    // epochs, so that the accountant, run once per training, is spread thin.
    let plain_steps = prepared.x_train.nrows().div_ceil(128) * 20;
    let mut group = c.benchmark_group(format!("{name}: time per step"));
    group.sample_size(20);
    group.bench_function("non-private (mean gradient)", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                let mut net = Network::init(arch.clone(), 1).expect("network");
                fit(
                    &mut net,
                    prepared.x_train.view(),
                    prepared.y_train.view(),
                    &config.train,
                    |_| {},
                )
                .expect("trains");
            }
            start.elapsed() / plain_steps as u32
        })
    });
    let dp = DpSgdConfig {
        train: config.train.clone(),
        clip: 1.0,
        noise_multiplier: 1.0,
        delta: 1e-5,
        accountant: Accountant::Rdp,
        before: None,
    };
    let mut rng = NoiseRng::insecure_seeded(1);
    group.bench_function("DP-SGD (per-example, clip, exact noise)", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                let mut net = Network::init(arch.clone(), 1).expect("network");
                fit_private(
                    &mut net,
                    prepared.x_train.view(),
                    prepared.y_train.view(),
                    &dp,
                    // A benchmark releases nothing: its runs are charged to no budget.
                    Receipt::unbudgeted(PrivacyLoss::at_most(1e6, 1e-5).expect("a loss")),
                    &mut rng,
                    |_| {},
                )
                .expect("trains");
            }
            start.elapsed() / steps as u32
        })
    });
    group.finish();
}

fn noise(c: &mut Criterion) {
    let g = veil_dp::mechanism::Gaussian::new(1.0, 1.0, 4810).expect("mechanism");
    let tabulated = g.clone().tabulated().expect("table");
    let mut values = vec![0.0; 4810];
    let mut rng = NoiseRng::insecure_seeded(2);
    let mut group = c.benchmark_group("exact Gaussian noise on 4,810 coordinates, one core");
    group.bench_function("CKS sampler", |b| {
        b.iter(|| g.release_all(&mut values, &mut rng).expect("noise"))
    });
    group.bench_function("tabulated sampler", |b| {
        b.iter(|| tabulated.release_all(&mut values, &mut rng).expect("noise"))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_model(
        c,
        "builtin:digits",
        "digit",
        ModelKind::Mlp,
        "MLP on digits",
    );
    bench_model(
        c,
        "builtin:breast-cancer",
        "malignant",
        ModelKind::Logreg,
        "logreg on breast-cancer",
    );
}

criterion_group!(dp_sgd, benches, noise);
criterion_main!(dp_sgd);
