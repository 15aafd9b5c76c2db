//! The canonical embedding: vectors of N/2 complex slots to real polynomials mod X^N + 1
//! and back (CKKS 2017 §3.2–3.3).
//!
//! Let ζ = e^(iπ/N), a primitive 2N-th root of unity. A real polynomial m encodes the slots
//! z_j = m(ζ^(g^j)), j = 0..N/2, with g = 3; its values at the conjugate roots ζ^(−g^j) are
//! the conjugates, since m is real. Ordering the slots by powers of g makes the automorphism
//! X → X^g rotate them by one place, and X → X^(−1) conjugate them. 3 generates the same
//! subgroup of Z_2N* as the 5 of the CKKS paper; it is SEAL's choice, so Veil's slots are in
//! SEAL's order (tested against SEAL's encoder).
//!
//! Evaluation at all odd powers ζ^(2k+1) is a length-N FFT of the coefficients twisted by
//! ζ^i: m(ζ^(2k+1)) = Σ_i (m_i ζ^i) ω^(ik), ω = ζ². Encoding runs it backwards: place z and
//! its conjugate at their odd powers, inverse FFT, untwist. Both are O(N log N) (rustfft).

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use crate::error::{Error, Result};

/// g, whose powers order the slots (and whose automorphism rotates them).
pub const GENERATOR: usize = 3;

/// Encoder and decoder for one ring degree N.
pub struct Encoder {
    n: usize,
    /// For slot j: k with 2k + 1 ≡ g^j (mod 2N), and k' for its conjugate −g^j.
    slot_at: Vec<(usize, usize)>,
    /// ζ^i, i = 0..N.
    twist: Vec<Complex64>,
    /// Unnormalised transforms with e^(+2πi/N) (evaluation) and e^(−2πi/N) (interpolation).
    evaluate: Arc<dyn Fft<f64>>,
    interpolate: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("n", &self.n).finish()
    }
}

impl Encoder {
    /// The encoder for degree `n`, a power of two ≥ 4.
    pub fn new(n: usize) -> Result<Encoder> {
        if !n.is_power_of_two() || n < 4 {
            return Err(Error::out_of_range(
                "values",
                format!("the ring degree {n} must be a power of two of at least 4"),
            ));
        }
        let two_n = 2 * n;
        let mut power = 1usize;
        let slot_at = (0..n / 2)
            .map(|_| {
                let k = (power - 1) / 2;
                let k_conj = (two_n - power - 1) / 2;
                power = power * GENERATOR % two_n;
                (k, k_conj)
            })
            .collect();
        let twist = (0..n)
            .map(|i| Complex64::from_polar(1.0, std::f64::consts::PI * i as f64 / n as f64))
            .collect();
        let mut planner = FftPlanner::new();
        Ok(Encoder {
            n,
            slot_at,
            twist,
            evaluate: planner.plan_fft_inverse(n),
            interpolate: planner.plan_fft_forward(n),
        })
    }

    /// N/2, the number of slots.
    pub fn slots(&self) -> usize {
        self.n / 2
    }

    /// N.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// The real coefficients of the polynomial whose slots are `z` (missing slots are zero).
    pub fn embed_inverse(&self, z: &[Complex64]) -> Result<Vec<f64>> {
        if z.len() > self.slots() {
            return Err(Error::out_of_range(
                "values",
                format!("{} values for {} slots", z.len(), self.slots()),
            ));
        }
        let mut values = vec![Complex64::new(0.0, 0.0); self.n];
        for (&(k, k_conj), v) in self.slot_at.iter().zip(z) {
            values[k] = *v;
            values[k_conj] = v.conj();
        }
        self.interpolate.process(&mut values);
        let scale = 1.0 / self.n as f64;
        Ok(values
            .iter()
            .zip(&self.twist)
            .map(|(v, t)| (v * t.conj()).re * scale)
            .collect())
    }

    /// The slots of the real polynomial with coefficients `coeffs` (N of them).
    pub fn embed(&self, coeffs: &[f64]) -> Result<Vec<Complex64>> {
        if coeffs.len() != self.n {
            return Err(Error::out_of_range(
                "values",
                format!("{} coefficients for degree {}", coeffs.len(), self.n),
            ));
        }
        let mut values: Vec<Complex64> =
            coeffs.iter().zip(&self.twist).map(|(c, t)| t * c).collect();
        self.evaluate.process(&mut values);
        Ok(self.slot_at.iter().map(|&(k, _)| values[k]).collect())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn slots(seed: &[f64]) -> Vec<Complex64> {
        seed.chunks(2).map(|c| Complex64::new(c[0], c[1])).collect()
    }

    /// a·b mod X^n + 1 over the reals.
    fn negacyclic(a: &[f64], b: &[f64]) -> Vec<f64> {
        let n = a.len();
        let mut c = vec![0.0; n];
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                if i + j < n {
                    c[i + j] += x * y;
                } else {
                    c[i + j - n] -= x * y;
                }
            }
        }
        c
    }

    /// m(X^g) mod X^n + 1 for odd g.
    fn automorphism(m: &[f64], g: usize) -> Vec<f64> {
        let n = m.len();
        let mut out = vec![0.0; n];
        for (i, c) in m.iter().enumerate() {
            let e = i * g % (2 * n);
            if e < n {
                out[e] += c;
            } else {
                out[e - n] -= c;
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn slots_round_trip_multiply_rotate_and_conjugate(
            a in proptest::collection::vec(-10.0f64..10.0, 32),
            b in proptest::collection::vec(-10.0f64..10.0, 32),
        ) {
            let enc = Encoder::new(32).unwrap();
            let (za, zb) = (slots(&a), slots(&b));
            let (ma, mb) = (enc.embed_inverse(&za).unwrap(), enc.embed_inverse(&zb).unwrap());
            let close = |x: &[Complex64], y: &[Complex64]| {
                x.iter().zip(y).all(|(p, q)| (p - q).norm() < 1e-9)
            };
            prop_assert!(close(&enc.embed(&ma).unwrap(), &za));
            // A product of polynomials is the slot-wise product.
            let prod: Vec<Complex64> = za.iter().zip(&zb).map(|(x, y)| x * y).collect();
            prop_assert!(close(&enc.embed(&negacyclic(&ma, &mb)).unwrap(), &prod));
            // X → X^3 rotates the slots left by one; X → X^(2N−1) conjugates them.
            let mut rotated = za.clone();
            rotated.rotate_left(1);
            prop_assert!(close(&enc.embed(&automorphism(&ma, GENERATOR)).unwrap(), &rotated));
            let conj: Vec<Complex64> = za.iter().map(|z| z.conj()).collect();
            prop_assert!(close(&enc.embed(&automorphism(&ma, 63)).unwrap(), &conj));
        }
    }

    #[test]
    fn a_constant_is_the_constant_polynomial_and_sizes_are_checked() {
        let enc = Encoder::new(8192).unwrap();
        let m = enc
            .embed_inverse(&vec![Complex64::new(3.5, 0.0); 4096])
            .unwrap();
        assert!((m[0] - 3.5).abs() < 1e-12);
        assert!(m[1..].iter().all(|c| c.abs() < 1e-12));
        assert!(
            enc.embed_inverse(&vec![Complex64::new(0.0, 0.0); 4097])
                .is_err()
        );
        assert!(enc.embed(&[0.0; 3]).is_err());
        assert!(Encoder::new(12).is_err());
    }

    #[test]
    fn coefficients_match_seals_encoder() {
        // Slots i/100, i = 0..4096, at Δ = 2^40 and N = 8192: the first eight coefficients of
        // SEAL 4.3's CKKSEncoder (through TenSEAL 0.3.18, `bench/he_seal_phe.py
        // --check-encoder`). Rounding may differ by one unit where a coefficient sits on a
        // half.
        let seal: [i64; 8] = [
            22_512_500_578_714,
            111_402_559_854,
            -61_099_008_829,
            122_397_675_323,
            34_832_823_323,
            123_502_643_921,
            -50_103_895_786,
            -199_996_909_454,
        ];
        let enc = Encoder::new(8192).unwrap();
        let z: Vec<Complex64> = (0..4096)
            .map(|i| Complex64::new(i as f64 / 100.0, 0.0))
            .collect();
        let m = enc.embed_inverse(&z).unwrap();
        for (c, want) in m.iter().zip(seal) {
            let got = (c * 2f64.powi(40)).round() as i64;
            assert!((got - want).abs() <= 1, "{got} vs SEAL's {want}");
        }
    }
}
