//! Gradient and training-step cost of the models Veil trains.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Axis, Slice};
use veil_core::Table;
use veil_ml::pipeline::{Columns, Holdout, ModelConfig, Prepared, prepare};
use veil_ml::{Activation, Network};

fn data(name: &str, label: &str) -> Prepared {
    let table = Table::load(name).expect("embedded data");
    let columns = Columns {
        label: label.into(),
        ..Default::default()
    };
    prepare(
        &table,
        &columns,
        None,
        Holdout::Split {
            fraction: 0.2,
            seed: 42,
        },
        true,
    )
    .expect("prepares")
}

fn gradients(c: &mut Criterion) {
    let digits = data("builtin:digits", "digit");
    let mut config = ModelConfig::defaults(Some(veil_ml::ModelKind::Mlp), 1);
    config.activation = Activation::Relu;
    let (_, arch) = config.architecture(&digits).expect("architecture");
    let net = Network::init(arch, 1).expect("network");
    let x = digits.x_train.slice_axis(Axis(0), Slice::from(..64));
    let y = digits.y_train.slice_axis(Axis(0), Slice::from(..64));
    let mut group = c.benchmark_group("mlp 64-64-10, batch 64");
    group.bench_function("mean gradient", |b| {
        b.iter(|| net.gradient(x, y).expect("gradient"))
    });
    group.bench_function("per-example gradients", |b| {
        b.iter(|| net.per_example_gradients(x, y).expect("gradients"))
    });
    group.finish();
}

fn training(c: &mut Criterion) {
    let bc = data("builtin:breast-cancer", "malignant");
    let mut config = ModelConfig::defaults(None, 42);
    config.train.epochs = 10;
    c.bench_function("logreg breast-cancer, 10 epochs", |b| {
        b.iter(|| veil_ml::pipeline::train(&bc, &config, |_| {}).expect("trains"))
    });
}

criterion_group!(benches, gradients, training);
criterion_main!(benches);
