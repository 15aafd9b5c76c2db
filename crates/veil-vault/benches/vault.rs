//! Raw AES-256-GCM speed of aws-lc-rs (the ceiling) against Veil's sealing, single-threaded
//! and on all cores, in memory.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_vault::{Identity, SealOptions, aead};

const LEN: usize = 64 << 20;

fn sealing(c: &mut Criterion) {
    let plain = vec![0x42u8; LEN];
    let alice = Identity::generate();
    let recipients = [*alice.public()];
    let options = SealOptions {
        recipients: &recipients,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(LEN + (1 << 20));
    let mut group = c.benchmark_group("64 MiB in memory");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    group.bench_function("raw AES-256-GCM, 1 MiB segments, 1 core", |b| {
        let key = aead::Key::new(&[7; 32]);
        let mut buf = plain.clone();
        b.iter(|| {
            for (i, chunk) in buf.chunks_mut(1 << 20).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
                std::hint::black_box(key.seal(nonce, b"", chunk));
            }
        })
    });
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    group.bench_function("veil seal, 1 core", |b| {
        b.iter(|| {
            out.clear();
            one.install(|| veil_vault::seal(&plain[..], &mut out, &options))
                .expect("seals")
        })
    });
    group.bench_function("veil seal, all cores", |b| {
        b.iter(|| {
            out.clear();
            veil_vault::seal(&plain[..], &mut out, &options).expect("seals")
        })
    });
    group.finish();
}

criterion_group!(benches, sealing);
criterion_main!(benches);
