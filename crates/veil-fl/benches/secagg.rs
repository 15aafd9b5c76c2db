//! Secure aggregation, one round at a time (`secagg::timed`): 20 clients with updates of
//! 10,000 parameters, 10% dropping out after sharing, everyone sharing with everyone and
//! with 6 neighbours (SecAgg+); and a client's distributed-DP encoding of a 10,000-value
//! update. `bench/fl.sh` runs the full-size rounds beside Flower.

use criterion::{Criterion, criterion_group, criterion_main};
use veil_core::noise::NoiseRng;
use veil_fl::ddp::{Ddp, DpTarget};
use veil_fl::secagg::timed::{TimedRound, run};
use veil_fl::secagg::{Graph, Session};

fn rounds(c: &mut Criterion) {
    let mut group = c.benchmark_group("one secure-aggregation round, 20 clients x 10,000");
    group.sample_size(10);
    for (name, graph) in [
        ("everyone", Graph::Complete),
        ("6 neighbours", Graph::Harary { neighbours: 6 }),
    ] {
        let round = TimedRound {
            clients: 20,
            params: 10_000,
            dropout: 0.1,
            graph,
            threshold: None,
            seed: 1,
        };
        group.bench_function(name, |b| b.iter(|| run(&round).expect("the round sums")));
    }
    group.finish();
}

fn ddp_encoding(c: &mut Criterion) {
    let target = DpTarget {
        epsilon: 8.0,
        delta: 1e-5,
        clip: 1.0,
    };
    let (ddp, _) = Ddp::calibrate(&target, 20, 10_000, 20, 14).expect("a valid target");
    let update: Vec<f64> = (0..10_000).map(|i| (i as f64).sin() * 0.01).collect();
    let session = Session([3; 32]);
    let mut noise = NoiseRng::insecure_seeded(1);
    c.bench_function("distributed DP: one client's 10,000 values", |b| {
        b.iter(|| ddp.encode(&update, &session, &mut noise).expect("encodes"))
    });
}

criterion_group!(benches, rounds, ddp_encoding);
criterion_main!(benches);
