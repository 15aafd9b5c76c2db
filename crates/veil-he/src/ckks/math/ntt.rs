//! The negacyclic number-theoretic transform over Z_q\[X\]/(X^N + 1).
//!
//! Forward: Cooley–Tukey butterflies with the powers of ψ (a primitive 2N-th root of unity)
//! in bit-reversed order, which folds the "twist" by ψ^i into the transform; inverse:
//! Gentleman–Sande butterflies with ψ⁻¹, then a scaling by N⁻¹ (P. Longa and M. Naehrig,
//! "Speeding up the Number Theoretic Transform for Faster Ideal Lattice-Based Cryptography",
//! CANS 2016, Algorithms 1 and 2). The transform's output is in bit-reversed order; products
//! of polynomials are coefficient-wise products of their transforms. Twiddles use Shoup
//! multiplication, and the butterflies keep values lazily in [0, 4q) between layers
//! (Harvey 2014), which needs q < 2^62. Conditional subtractions are branch-free
//! (`min` of x and x − c, which wraps when x < c), since the data is random.

use super::modulus::{Modulus, Shoup};
use super::primes::primitive_root;
use crate::error::Result;

/// Precomputed twiddles for one prime and one N.
#[derive(Debug, Clone)]
pub struct NttTable {
    n: usize,
    modulus: Modulus,
    /// ψ^brv(i), i = 0..N.
    forward: Vec<Shoup>,
    /// ψ^−brv(i), i = 0..N.
    inverse: Vec<Shoup>,
    /// N⁻¹ mod q.
    n_inv: Shoup,
    /// ψ^−brv(1)·N⁻¹ mod q: the last inverse stage's twiddle with the scaling folded in.
    last_inv: Shoup,
}

fn bit_reverse(i: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        i.reverse_bits() >> (usize::BITS - bits)
    }
}

impl NttTable {
    /// The table for degree `n` (a power of two ≥ 2) modulo the prime `q` ≡ 1 (mod 2n).
    pub fn new(n: usize, modulus: Modulus) -> Result<NttTable> {
        let psi = primitive_root(&modulus, n)?;
        let psi_inv = modulus.inv(psi);
        let bits = n.trailing_zeros();
        let (mut forward, mut inverse) = (vec![modulus.shoup(0); n], vec![modulus.shoup(0); n]);
        let (mut power, mut power_inv) = (1u64, 1u64);
        for i in 0..n {
            let j = bit_reverse(i, bits);
            forward[j] = modulus.shoup(power);
            inverse[j] = modulus.shoup(power_inv);
            power = modulus.mul(power, psi);
            power_inv = modulus.mul(power_inv, psi_inv);
        }
        let n_inv = modulus.shoup(modulus.inv(n as u64 % modulus.value()));
        let last_inv = modulus.shoup(modulus.mul(inverse[1 % n].w, n_inv.w));
        Ok(NttTable {
            n,
            modulus,
            forward,
            inverse,
            n_inv,
            last_inv,
        })
    }

    /// The prime.
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// In place: coefficients (each < q) to evaluations (each < q), bit-reversed.
    pub fn forward(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let q = self.modulus.value();
        let two_q = 2 * q;
        let (mut t, mut m) = (self.n, 1);
        while m < self.n / 2 {
            t >>= 1;
            let twiddles = &self.forward[m..2 * m];
            for (block, &w) in a.chunks_exact_mut(2 * t).zip(twiddles) {
                let (lo, hi) = block.split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    // x, y in [0, 4q) on entry and exit; u, v in [0, 2q).
                    let u = (*x).min(x.wrapping_sub(two_q));
                    let v = self.modulus.mul_shoup_lazy(*y, w);
                    *x = u + v;
                    *y = u + two_q - v;
                }
            }
            m <<= 1;
        }
        // The last stage pairs neighbours; it also brings every value below q.
        let to_q = |x: u64| {
            let v = x.min(x.wrapping_sub(two_q));
            v.min(v.wrapping_sub(q))
        };
        for (pair, &w) in a.chunks_exact_mut(2).zip(&self.forward[m..2 * m]) {
            let u = pair[0].min(pair[0].wrapping_sub(two_q));
            let v = self.modulus.mul_shoup_lazy(pair[1], w);
            pair[0] = to_q(u + v);
            pair[1] = to_q(u + two_q - v);
        }
    }

    /// In place: bit-reversed evaluations (each < q) back to coefficients (each < q).
    pub fn inverse(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let q = self.modulus.value();
        let two_q = 2 * q;
        let (mut t, mut m) = (1, self.n);
        while m > 2 {
            let h = m >> 1;
            let twiddles = &self.inverse[h..2 * h];
            for (block, &w) in a.chunks_exact_mut(2 * t).zip(twiddles) {
                let (lo, hi) = block.split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    // x, y in [0, 2q) on entry and exit.
                    let (u, v) = (*x, *y);
                    let s = u + v;
                    *x = s.min(s.wrapping_sub(two_q));
                    *y = self.modulus.mul_shoup_lazy(u + two_q - v, w);
                }
            }
            t <<= 1;
            m = h;
        }
        // The last stage (one twiddle, halves N/2 apart) also scales by N⁻¹.
        let (lo, hi) = a.split_at_mut(t);
        for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
            let (u, v) = (*x, *y);
            *x = self.modulus.mul_shoup(u + v, self.n_inv);
            *y = self.modulus.mul_shoup(u + two_q - v, self.last_inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::primes::ntt_primes;
    use super::*;

    /// a·b in Z_q[X]/(X^n + 1), the schoolbook way.
    fn negacyclic(a: &[u64], b: &[u64], m: &Modulus) -> Vec<u64> {
        let n = a.len();
        let mut c = vec![0u64; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let p = m.mul(ai, bj);
                let k = i + j;
                if k < n {
                    c[k] = m.add(c[k], p);
                } else {
                    c[k - n] = m.sub(c[k - n], p);
                }
            }
        }
        c
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn transforms_invert_and_multiply_negacyclically(
            seed in proptest::collection::vec(any::<u64>(), 128),
            bits in prop_oneof![Just(30u32), Just(50), Just(60), Just(61)],
        ) {
            let n = 64;
            let q = ntt_primes(bits, n, 1, &[]).unwrap()[0];
            let m = Modulus::new(q);
            let table = NttTable::new(n, m).unwrap();
            let a: Vec<u64> = seed[..n].iter().map(|x| x % q).collect();
            let b: Vec<u64> = seed[n..].iter().map(|x| x % q).collect();
            let mut fa = a.clone();
            table.forward(&mut fa);
            prop_assert!(fa.iter().all(|&x| x < q));
            let mut back = fa.clone();
            table.inverse(&mut back);
            prop_assert_eq!(&back, &a);
            let mut fb = b.clone();
            table.forward(&mut fb);
            let mut prod: Vec<u64> = fa.iter().zip(&fb).map(|(x, y)| m.mul(*x, *y)).collect();
            table.inverse(&mut prod);
            prop_assert_eq!(prod, negacyclic(&a, &b, &m));
        }
    }

    #[test]
    fn x_times_x_to_the_n_minus_one_is_minus_one() {
        // X · X^(N−1) = X^N = −1 in the negacyclic ring, at N = 8192.
        let n = 8192;
        let q = ntt_primes(60, n, 1, &[]).unwrap()[0];
        let m = Modulus::new(q);
        let table = NttTable::new(n, m).unwrap();
        let (mut a, mut b) = (vec![0u64; n], vec![0u64; n]);
        a[1] = 1;
        b[n - 1] = 1;
        table.forward(&mut a);
        table.forward(&mut b);
        let mut c: Vec<u64> = a.iter().zip(&b).map(|(x, y)| m.mul(*x, *y)).collect();
        table.inverse(&mut c);
        let mut want = vec![0u64; n];
        want[0] = q - 1;
        assert_eq!(c, want);
    }
}
