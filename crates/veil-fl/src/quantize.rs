//! Real vectors to Z_2^32 and back, for secure aggregation.
//!
//! Each coordinate is clamped to [−B, B], scaled by s and rounded stochastically —
//! ⌊x·s⌋ plus one with probability x·s − ⌊x·s⌋ — so the rounding is unbiased, then stored in
//! two's complement mod 2^32. The scale is the largest power of two for which the sum of
//! `clients` vectors cannot leave (−2^31, 2^31): |Σ| ≤ clients·(B·s + 1) < 2^31. The sum is
//! decoded from two's complement and divided by s. (Bonawitz et al. 2017 §3 aggregate in
//! Z_R for this reason; Kairouz, Liu and Steinke 2021, §4, quantise the same way before
//! adding discrete noise.)

use rand::Rng;

use crate::error::{Error, Result};

/// The encoding of one round: bound B and scale s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantizer {
    bound: f64,
    scale: f64,
}

impl Quantizer {
    /// The encoding for sums of up to `clients` vectors with coordinates in [−bound, bound].
    pub fn new(bound: f64, clients: usize) -> Result<Quantizer> {
        if !(bound.is_finite() && bound > 0.0) || clients == 0 {
            return Err(Error::InvalidParameter {
                name: "quantisation",
                why: format!(
                    "bound {bound} must be positive and finite, clients {clients} at least 1"
                ),
            });
        }
        // clients·(B·s + 1) ≤ 2^31 − 1  ⇐  s ≤ ((2^31 − 1)/clients − 1)/B, as a power of two.
        let room = (2f64.powi(31) - 1.0) / clients as f64 - 1.0;
        if room < 1.0 {
            return Err(Error::InvalidParameter {
                name: "clients",
                why: format!("{clients} clients leave no room in 32 bits"),
            });
        }
        let scale = 2f64.powi((room / bound).log2().floor() as i32);
        Ok(Quantizer { bound, scale })
    }

    /// The scale s: one unit of the encoding is 1/s.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Clamps, scales and stochastically rounds `values`.
    pub fn encode(&self, values: &[f64], rng: &mut impl Rng) -> Result<Vec<u32>> {
        values
            .iter()
            .map(|&v| {
                if !v.is_finite() {
                    return Err(Error::InvalidParameter {
                        name: "update",
                        why: format!("{v} is not a finite number"),
                    });
                }
                let x = v.clamp(-self.bound, self.bound) * self.scale;
                let floor = x.floor();
                let up = rng.random::<f64>() < x - floor;
                Ok((floor as i64 + i64::from(up)) as i32 as u32)
            })
            .collect()
    }

    /// The real sum encoded by `sum` (a sum of at most `clients` encodings).
    pub fn decode_sum(&self, sum: &[u32]) -> Vec<f64> {
        sum.iter()
            .map(|&q| f64::from(q as i32) / self.scale)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn the_sum_of_the_most_extreme_vectors_does_not_wrap() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for clients in [1usize, 3, 100, 1000] {
            let q = Quantizer::new(2.5, clients).unwrap();
            for sign in [1.0, -1.0] {
                let mut sum = vec![0u32; 3];
                for _ in 0..clients {
                    // Beyond the bound: clamped to it.
                    let e = q
                        .encode(&[sign * 2.5, sign * 7.0, sign * 2.4999], &mut rng)
                        .unwrap();
                    sum.iter_mut()
                        .zip(e)
                        .for_each(|(s, v)| *s = s.wrapping_add(v));
                }
                let got = q.decode_sum(&sum);
                let want = sign * 2.5 * clients as f64;
                assert!(
                    (got[0] - want).abs() < 1e-9 * want.abs(),
                    "{clients}: {got:?}"
                );
                assert!(
                    (got[1] - want).abs() < 1e-9 * want.abs(),
                    "{clients}: {got:?}"
                );
            }
            // The scale is as fine as the room allows: doubling it would overflow.
            assert!(clients as f64 * (2.5 * 2.0 * q.scale() + 1.0) >= 2f64.powi(31) - 1.0);
        }
        assert!(Quantizer::new(0.0, 3).is_err());
        assert!(Quantizer::new(1.0, 0).is_err());
        assert!(
            Quantizer::new(1.0, 1)
                .unwrap()
                .encode(&[f64::NAN], &mut rng)
                .is_err()
        );
    }

    #[test]
    fn stochastic_rounding_is_unbiased_and_within_one_unit() {
        // 100,000 encodings of 0.3 units above a grid point: the mean within 5 standard
        // errors (σ = √(0.3·0.7) units) of the value, and every encoding one of the two
        // neighbouring grid points.
        let q = Quantizer::new(1.0, 1000).unwrap();
        let unit = 1.0 / q.scale();
        let v = 0.123 + 0.3 * unit - (0.123 % unit);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let n = 100_000;
        let mut total = 0.0;
        for _ in 0..n {
            let d = q.decode_sum(&q.encode(&[v], &mut rng).unwrap())[0];
            assert!((d - v).abs() < unit);
            total += d;
        }
        let se = (0.21f64).sqrt() * unit / (n as f64).sqrt();
        assert!(
            (total / n as f64 - v).abs() < 5.0 * se,
            "{}",
            total / n as f64 - v
        );
    }
}
