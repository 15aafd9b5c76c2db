//! Fixed-point encodings of reals: stochastic rounding, and real vectors to Z_2^32 and back
//! for secure aggregation (and anything else that sums in a ring: distributed DP, MPC).
//!
//! Each coordinate is clamped to [−B, B], scaled by s and rounded stochastically —
//! ⌊x·s⌋ plus one with probability x·s − ⌊x·s⌋ — so the rounding is unbiased, then stored in
//! two's complement mod 2^32. The scale is the largest power of two for which the sum of
//! `clients` vectors cannot leave (−2^31, 2^31): |Σ| ≤ clients·(B·s + 1) < 2^31. The sum is
//! decoded from two's complement and divided by s. (Bonawitz et al. 2017 §3 aggregate in
//! Z_R for this reason; Kairouz, Liu and Steinke 2021, §4, quantise the same way before
//! adding discrete noise.)
//!
//! Statistics need more: a feature's sum of squares over all rows may be 10¹², and the
//! variance comes from subtracting two such numbers. [`Wide`] sums them exactly through the
//! same Z_2^32 lanes: each value becomes a 96-bit fixed-point integer (32 fractional bits),
//! cut into six 16-bit limbs, one per lane. A lane then holds a sum of at most 65,536
//! clients' limbs without wrapping, and the limb sums are carried into the 96-bit total
//! after unmasking.

use crate::error::{Error, Result};
use crate::noise::NoiseRng;

/// `x` rounded to ⌊x⌋ or ⌊x⌋ + 1, up with probability x − ⌊x⌋ (so E[result] = x), the coin
/// drawn from `rng`.
pub fn round_stochastic(x: f64, rng: &mut NoiseRng) -> i64 {
    let floor = x.floor();
    floor as i64 + i64::from(rng.unit() < x - floor)
}

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
            return Err(Error::invalid(
                "quantisation",
                format!("bound {bound} must be positive and finite, clients {clients} at least 1"),
            ));
        }
        // clients·(B·s + 1) ≤ 2^31 − 1  ⇐  s ≤ ((2^31 − 1)/clients − 1)/B, as a power of two.
        let room = (2f64.powi(31) - 1.0) / clients as f64 - 1.0;
        if room < 1.0 {
            return Err(Error::invalid(
                "clients",
                format!("{clients} clients leave no room in 32 bits"),
            ));
        }
        let scale = 2f64.powi((room / bound).log2().floor() as i32);
        Ok(Quantizer { bound, scale })
    }

    /// The scale s: one unit of the encoding is 1/s.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Clamps, scales and stochastically rounds `values` ([`round_stochastic`]).
    pub fn encode(&self, values: &[f64], rng: &mut NoiseRng) -> Result<Vec<u32>> {
        values
            .iter()
            .map(|&v| {
                if !v.is_finite() {
                    return Err(Error::invalid(
                        "update",
                        format!("{v} is not a finite number"),
                    ));
                }
                let x = v.clamp(-self.bound, self.bound) * self.scale;
                Ok(round_stochastic(x, rng) as i32 as u32)
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

/// Exact fixed-point sums of real numbers, six Z_2^32 lanes per value (see the module
/// documentation).
pub struct Wide;

impl Wide {
    /// Lanes per value.
    pub const LIMBS: usize = 6;
    const FRACTION: f64 = 4_294_967_296.0; // 2^32
    const BITS: u32 = 16 * Self::LIMBS as u32;

    /// The lanes of `values` for a sum over at most `clients` parties; an error if a value
    /// is not finite or so large that such a sum could overflow 96 bits.
    pub fn encode(values: &[f64], clients: usize) -> Result<Vec<u32>> {
        if clients == 0 || clients > 1 << 16 {
            return Err(Error::invalid(
                "clients",
                format!("{clients} clients: between 1 and 65,536 can sum statistics"),
            ));
        }
        // |Σ| < 2^95 after scaling by 2^32: each |v| < 2^63 / clients.
        let limit = 2f64.powi(63) / clients as f64;
        let mut lanes = Vec::with_capacity(values.len() * Self::LIMBS);
        for &v in values {
            if !(v.is_finite() && v.abs() < limit) {
                return Err(Error::invalid(
                    "statistics",
                    format!("{v} cannot be summed exactly over {clients} clients"),
                ));
            }
            let fixed = (v * Self::FRACTION).round() as i128 as u128;
            lanes.extend((0..Self::LIMBS).map(|k| ((fixed >> (16 * k)) & 0xffff) as u32));
        }
        Ok(lanes)
    }

    /// The real sums from summed lanes.
    pub fn decode_sum(sum: &[u32]) -> Vec<f64> {
        let modulus = 1u128 << Self::BITS;
        sum.chunks(Self::LIMBS)
            .map(|limbs| {
                let total = limbs.iter().enumerate().fold(0u128, |t, (k, &l)| {
                    t.wrapping_add(u128::from(l) << (16 * k))
                }) % modulus;
                let signed = if total >= modulus / 2 {
                    total as i128 - modulus as i128
                } else {
                    total as i128
                };
                signed as f64 / Self::FRACTION
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_of_the_most_extreme_vectors_does_not_wrap() {
        let mut rng = NoiseRng::insecure_seeded(1);
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
        let mut rng = NoiseRng::insecure_seeded(2);
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

    #[test]
    fn wide_sums_are_exact_for_large_and_negative_statistics() {
        // Sums of squares near 10¹² from 300 clients, with a value that cancels: the sum is
        // exact to the encoding's 2^-32 per client.
        let clients = 300;
        let values: Vec<Vec<f64>> = (0..clients)
            .map(|i| vec![3.7e9 + i as f64 * 0.25, -1234.5678 * i as f64, 1e-6])
            .collect();
        let mut sum = vec![0u32; 3 * Wide::LIMBS];
        for v in &values {
            let lanes = Wide::encode(v, clients).unwrap();
            sum.iter_mut()
                .zip(lanes)
                .for_each(|(s, l)| *s = s.wrapping_add(l));
        }
        let got = Wide::decode_sum(&sum);
        for j in 0..3 {
            let want: f64 = values.iter().map(|v| v[j]).sum();
            assert!(
                (got[j] - want).abs() <= clients as f64 * 2f64.powi(-32) + want.abs() * 1e-15,
                "{j}: {} vs {want}",
                got[j]
            );
        }
        assert!(Wide::encode(&[f64::INFINITY], 2).is_err());
        assert!(Wide::encode(&[2f64.powi(62)], 4).is_err());
        assert!(Wide::encode(&[1.0], 70_000).is_err());
    }
}
