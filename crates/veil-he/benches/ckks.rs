//! CKKS at N = 8192 ([60, 40, 40, 60]) and 16384 ([60, 40 × 6, 60]): the negacyclic NTT
//! over one 60-bit prime; public-key encryption, decryption (with decoding), multiplication
//! with relinearisation and rescaling, and a rotation, of a full vector at the top level.

use criterion::{Criterion, criterion_group, criterion_main};
use veil_he::ckks::cipher::{decode, encode};
use veil_he::ckks::eval::{multiply, rescale, rotate};
use veil_he::ckks::keys::SecretKey;
use veil_he::ckks::math::modulus::Modulus;
use veil_he::ckks::math::ntt::NttTable;
use veil_he::ckks::math::primes::ntt_primes;
use veil_he::ckks::params::{Context, Parameters};

fn ckks(c: &mut Criterion) {
    for params in [Parameters::n8192(), Parameters::n16384()] {
        let n = params.degree;
        let q = ntt_primes(60, n, 1, &[]).expect("a prime")[0];
        let table = NttTable::new(n, Modulus::new(q)).expect("a table");
        let mut a: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % q)
            .collect();
        c.bench_function(&format!("NTT forward, N = {n}, 60-bit prime"), |b| {
            b.iter(|| table.forward(&mut a))
        });
        c.bench_function(&format!("NTT inverse, N = {n}, 60-bit prime"), |b| {
            b.iter(|| table.inverse(&mut a))
        });
        let ctx = Context::new(params).expect("a context");
        let sk = SecretKey::generate(&ctx);
        let pk = sk.public_key().expect("a public key");
        let values: Vec<f64> = (0..n / 2).map(|i| (i as f64).sin()).collect();
        let level = ctx.data_primes() - 1;
        let pt = encode(&ctx, &values, level, ctx.scale()).expect("encodes");
        let ct = pk.encrypt(&pt).expect("encrypts");
        c.bench_function(&format!("CKKS encrypt, N = {n}"), |b| {
            b.iter(|| pk.encrypt(&pt).expect("encrypts"))
        });
        c.bench_function(&format!("CKKS decrypt and decode, N = {n}"), |b| {
            b.iter(|| decode(&ctx, &sk.decrypt(&ct).expect("decrypts")).expect("decodes"))
        });
        let keys = sk.evaluation_keys().expect("evaluation keys");
        c.bench_function(
            &format!("CKKS multiply, relinearise, rescale, N = {n}"),
            |b| {
                b.iter(|| {
                    rescale(&ctx, &multiply(&ctx, &keys, &ct, &ct).expect("multiplies"))
                        .expect("rescales")
                })
            },
        );
        c.bench_function(&format!("CKKS rotate by 1, N = {n}"), |b| {
            b.iter(|| rotate(&ctx, &keys, &ct, 1).expect("rotates"))
        });
    }
}

criterion_group!(benches, ckks);
criterion_main!(benches);
