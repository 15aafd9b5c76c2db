//! The negacyclic NTT at N = 8192 and 16384 over one 60-bit prime, forward and inverse:
//! the operation CKKS multiplication, relinearisation, rescaling and rotation are built on.

use criterion::{Criterion, criterion_group, criterion_main};
use veil_he::ckks::math::modulus::Modulus;
use veil_he::ckks::math::ntt::NttTable;
use veil_he::ckks::math::primes::ntt_primes;

fn ntt(c: &mut Criterion) {
    for n in [8192usize, 16384] {
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
    }
}

criterion_group!(benches, ntt);
criterion_main!(benches);
