//! The discrete Gaussian for one σ², exactly and fast, for the many draws of DP-SGD.
//!
//! [`discrete_gaussian`](super::discrete_gaussian) (CKS 2020) spends about 170 ns a draw on
//! Bernoulli trials of e^(−γ); a DP-SGD step needs one draw per parameter. When σ² is fixed
//! for many draws, a table makes most of the work one random word and a few bits, with the
//! same exactness. It is rejection sampling (von Neumann 1951) from an envelope:
//!
//! * the magnitudes 0, 1, … up to the *reach* M = J·W (about 10σ) are cut into J blocks of W
//!   integers, W a power of two near σ/32; block j's envelope is flat at the density's value
//!   at its start, e^(−γⱼ) with γⱼ = (jW)²/(2σ²); past M, the envelope is a geometric tail
//!   e^(−γ_J)·r^g (r = e^(−M/σ²)), which lies above the density because
//!   (M + g)² ≥ M² + 2Mg;
//! * an [`Alias`] table picks block j with probability wⱼ/2^32, where the integer
//!   wⱼ ≥ c·e^(−γⱼ) (one scale c for all blocks, chosen so that the weights fill 2^32 up to a
//!   small remainder, which means "start again"), and the tail likewise;
//! * a candidate m = jW + u (u uniform below W) is kept with probability
//!   ρⱼ·e^(−(m² − (jW)²)/(2σ²)), where ρⱼ = c·e^(−γⱼ)/wⱼ ≤ 1 corrects the rounding of the
//!   weight. The first factor is an exact trial against ρⱼ's digits ([`bounds`]); the
//!   second is CKS's Bernoulli(e^(−γ)) with a small rational γ, so it usually takes one
//!   trial of a few random bits. A tail candidate M + g (g geometric, exactly as in CKS's
//!   discrete Laplace) is kept with probability ρ_T·e^(−g²/(2σ²)), ρ_T = c·e^(−γ_J) /
//!   (W·w_T·(1 − r));
//! * a random sign, and a negative zero starts again (as in CKS Algorithm 2).
//!
//! Every candidate m is thus output with probability c·e^(−m²/(2σ²))/(2W·2^32) per attempt —
//! the same constant for all m, so the output is exactly the discrete Gaussian. About 99%
//! of attempts succeed; the tail is picked with probability about 2^-32 (its weight is at
//! least 1), and it keeps a candidate rarely.

use num_bigint::BigUint;
use num_traits::ToPrimitive;

use super::alias::Alias;
use super::bounds::{self, Ratio, Start, exp_neg, exp_neg_squares};
use super::{bernoulli_exp, bernoulli_exp_unit, geometric};
use crate::noise::NoiseRng;

/// How a table cuts up the line. The sampler is exact for any layout; the default is the
/// fast one, and tests vary it to exercise every path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    /// The magnitude, in standard deviations, up to which there are blocks.
    pub reach_sigmas: f64,
    /// log2 of the block width W (default: ⌊log2 σ⌋ − 5, at least 0).
    pub width_bits: Option<u32>,
    /// Round every weight up by a different amount (0–90%), so that the corrections ρ
    /// differ from block to block and matter.
    pub uneven_weights: bool,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            reach_sigmas: 10.0,
            width_bits: None,
            uneven_weights: false,
        }
    }
}

/// A precomputed exact sampler of P[Y = y] ∝ exp(−y²·b/(2a)), i.e. σ² = a/b.
#[derive(Clone, PartialEq)]
pub struct DiscreteGaussianTable {
    a: u128,
    b: u128,
    /// W = 2^width_bits integers per block.
    width_bits: u32,
    /// J, the number of blocks; entry J of the alias table is the tail, later ones restart.
    blocks: usize,
    /// M = J·W, where the tail starts.
    reach: u128,
    alias: Alias,
    /// How the trial against ρ starts for each block and the tail, and ρ itself for the
    /// rare trial that needs more digits.
    starts: Vec<Start>,
    ratios: Vec<Ratio>,
}

impl std::fmt::Debug for DiscreteGaussianTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscreteGaussianTable")
            .field("sigma2", &format_args!("{}/{}", self.a, self.b))
            .field("block_width", &(1u128 << self.width_bits))
            .field("blocks", &self.blocks)
            .finish()
    }
}

impl DiscreteGaussianTable {
    /// The table for σ² = a/b, with a and b in 1..=[`super::MAX_SIGMA2_TERM`].
    pub fn new(a: u128, b: u128) -> crate::error::Result<DiscreteGaussianTable> {
        super::check_sigma2(a, b)?;
        Ok(Self::with_layout(a, b, Layout::default()))
    }

    /// The table for σ² = a/b (already checked) cut up as `layout` says.
    pub(crate) fn with_layout(a: u128, b: u128, layout: Layout) -> DiscreteGaussianTable {
        let sigma2 = a as f64 / b as f64;
        let sigma = sigma2.sqrt();
        let width_bits = layout
            .width_bits
            .unwrap_or((sigma.log2().floor() as i32 - 5).max(0) as u32)
            .min(30);
        let width = 1u128 << width_bits;
        let blocks = ((layout.reach_sigmas * sigma / width as f64).ceil() as usize).max(1);
        let reach = blocks as u128 * width;
        let gamma = |j: usize| {
            let start = j as u128 * width;
            (start * start * b, 2 * a)
        };
        let geometric_rate = (reach * b, a);

        // The scale c: the envelope's total mass, estimated in floating point, times c should
        // fill 2^32 but for about 0.1% (only efficiency depends on the estimate; the weights
        // below are exact upper bounds, and c shrinks if they overflow).
        let density = |j: usize| (-((j as f64 * width as f64).powi(2)) / (2.0 * sigma2)).exp();
        let tail_rate = reach as f64 / sigma2;
        let estimate = (0..blocks).map(density).sum::<f64>()
            + density(blocks) / (width as f64 * -(-tail_rate).exp_m1());
        let mut c = (2f64.powi(32) * (1.0 - 1.0 / 1024.0) / estimate) as u128;
        // Bounds on 2^128·e^(−γⱼ), γⱼ = j²·W²/(2σ²), for every block and the tail's start.
        let exps = exp_neg_squares(width * width * b, 2 * a, blocks, 128);
        let (_, x_hi) = exp_neg(geometric_rate.0, geometric_rate.1, 128);
        let tail_den = BigUint::from(width) * ((BigUint::from(1u8) << 128u32) - x_hi);
        let weights = loop {
            // wⱼ = ⌈c·(upper bound of e^(−γⱼ))⌉ ≥ c·e^(−γⱼ), and the tail's likewise.
            let mut w: Vec<u64> = exps[..blocks]
                .iter()
                .map(|(_, e)| {
                    ((e * c + ((BigUint::from(1u8) << 128u32) - 1u32)) >> 128u32).to_u64()
                })
                .collect::<Option<_>>()
                .expect("weights below 2^64");
            let tail = (&exps[blocks].1 * c + &tail_den - 1u32) / &tail_den;
            w.push(tail.to_u64().expect("tail weight below 2^64"));
            if layout.uneven_weights {
                for (j, w) in w.iter_mut().enumerate() {
                    *w += *w / 100 * (j as u64 * 37 % 91);
                }
            }
            let total: u64 = w.iter().sum();
            if total <= 1 << 32 {
                w.push((1 << 32) - total);
                break w;
            }
            c -= c / 512;
        };
        let mut padded = weights.clone();
        padded.resize(padded.len().next_power_of_two().max(2), 0);
        let alias = Alias::new(&padded);

        let mut ratios: Vec<Ratio> = (0..blocks)
            .map(|j| Ratio {
                num: c,
                den: u128::from(weights[j]),
                gamma: gamma(j),
                geometric: None,
            })
            .collect();
        ratios.push(Ratio {
            num: c,
            den: width * u128::from(weights[blocks]),
            gamma: gamma(blocks),
            geometric: Some(geometric_rate),
        });
        // ρⱼ = c·e^(−γⱼ)/wⱼ from the bounds above; the tail's from its own.
        let mut starts: Vec<Start> = ratios[..blocks]
            .iter()
            .zip(&exps)
            .map(|(r, (lo, hi))| {
                let w = BigUint::from(r.den);
                let bounds = ((lo * c) / &w, (hi * c + &w - 1u32) / &w);
                r.start_from(bounds)
            })
            .collect();
        starts.push(ratios[blocks].start());
        DiscreteGaussianTable {
            a,
            b,
            width_bits,
            blocks,
            reach,
            alias,
            starts,
            ratios,
        }
    }

    /// σ² as the fraction (a, b).
    pub fn sigma2(&self) -> (u128, u128) {
        (self.a, self.b)
    }

    /// One draw.
    pub fn sample(&self, rng: &mut NoiseRng) -> i128 {
        let offset_bits = self.width_bits + 1;
        loop {
            // One word per attempt: 32 bits pick the entry, the next W + 1 give the offset
            // and the sign, and the rest start the trial against ρ.
            let word = rng.word();
            let entry = self.alias.pick(word as u32);
            let sign_and_offset = (word >> 32) & ((1 << offset_bits) - 1);
            let spare = (word >> 32 >> offset_bits, 32 - offset_bits);
            let magnitude = if entry < self.blocks {
                if !bounds::trial(rng, self.starts[entry], &self.ratios[entry], spare) {
                    continue;
                }
                let start = (entry as u128) << self.width_bits;
                let u = u128::from(sign_and_offset >> 1);
                // (start + u)² − start² = (2·start + u)·u, over 2σ² = 2a/b; usually below 1,
                // so no division is needed.
                let (num, den) = ((2 * start + u) * u * self.b, 2 * self.a);
                let keep = if num < den {
                    bernoulli_exp_unit(rng, num, den)
                } else {
                    bernoulli_exp(rng, num, den)
                };
                if !keep {
                    continue;
                }
                start + u
            } else if entry == self.blocks {
                match self.tail(rng, spare) {
                    Some(m) => m,
                    None => continue,
                }
            } else {
                continue;
            };
            let negative = sign_and_offset & 1 == 1;
            if negative && magnitude == 0 {
                continue;
            }
            let m = i128::try_from(magnitude).unwrap_or(i128::MAX);
            return if negative { -m } else { m };
        }
    }

    /// A tail candidate M + g, or `None` if it is rejected. An overflow of g²·b (only for
    /// g²/(2σ²) above 2^75, whose acceptance probability is below e^(−2^75)) counts as a
    /// rejection.
    #[cold]
    fn tail(&self, rng: &mut NoiseRng, spare: (u64, u32)) -> Option<u128> {
        let t = self.blocks;
        if !bounds::trial(rng, self.starts[t], &self.ratios[t], spare) {
            return None;
        }
        let g = geometric(rng, self.reach * self.b, self.a);
        let num = g.checked_mul(g)?.checked_mul(self.b)?;
        if !bernoulli_exp(rng, num, 2 * self.a) {
            return None;
        }
        self.reach.checked_add(g)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chi_square, chi_square_critical};
    use super::*;

    /// χ² of `n` draws against the exact pmf, one bin per integer over ±`bins_sigmas`·σ (so a
    /// wrong slope inside a block shows), the two tails as bins of their own.
    fn fits(table: &DiscreteGaussianTable, n: usize, bins_sigmas: f64, seed: u64) -> (f64, f64) {
        let (a, b) = table.sigma2();
        let sigma2 = a as f64 / b as f64;
        let half = (bins_sigmas * sigma2.sqrt()).ceil() as i128;
        let reach = (40.0 * sigma2.sqrt()) as i128 + 10;
        let weight = |y: i128| (-((y * y) as f64) / (2.0 * sigma2)).exp();
        let total: f64 = (-reach..=reach).map(weight).sum();
        let tail: f64 = (half + 1..=reach).map(weight).sum::<f64>() / total;
        let mut expected = vec![tail];
        expected.extend((-half..=half).map(|y| weight(y) / total));
        expected.push(tail);
        let mut counts = vec![0u64; expected.len()];
        let mut rng = NoiseRng::insecure_seeded(seed);
        for _ in 0..n {
            let y = table.sample(&mut rng);
            let bin = if y < -half {
                0
            } else if y > half {
                expected.len() - 1
            } else {
                (y + half + 1) as usize
            };
            counts[bin] += 1;
        }
        let (stat, df) = chi_square(&counts, &expected);
        (stat, chi_square_critical(df))
    }

    #[test]
    fn draws_match_the_pmf_for_one_integer_and_wider_blocks() {
        // σ² = 1/4 and 9 (blocks of one integer), 2,500/3 (σ ≈ 28.9, W = 1), 40,000
        // (σ = 200, W = 4) and 10⁶/7 (σ ≈ 378, W = 8): 400,000 draws each, rejected at
        // p < 10⁻⁴.
        for (k, (a, b)) in [
            (1u128, 4u128),
            (9, 1),
            (2500, 3),
            (40_000, 1),
            (1_000_000, 7),
        ]
        .into_iter()
        .enumerate()
        {
            let table = DiscreteGaussianTable::new(a, b).unwrap();
            let (stat, critical) = fits(&table, 400_000, 4.0, 20 + k as u64);
            assert!(
                stat < critical,
                "σ² = {a}/{b}: χ² = {stat:.1} ≥ {critical:.1}"
            );
        }
    }

    #[test]
    fn every_path_is_exact_in_other_layouts() {
        // A reach of 0.3σ puts most draws in the geometric tail; blocks of σ/3 make the
        // slope inside a block steep; uneven weights make every correction ρ matter (and
        // more attempts start again). 300,000 draws each, rejected at p < 10⁻⁴.
        let layouts = [
            (
                9u128,
                Layout {
                    reach_sigmas: 0.3,
                    ..Layout::default()
                },
            ),
            (
                40_000,
                Layout {
                    reach_sigmas: 0.3,
                    ..Layout::default()
                },
            ),
            (
                40_000,
                Layout {
                    width_bits: Some(6),
                    ..Layout::default()
                },
            ),
            (
                40_000,
                Layout {
                    uneven_weights: true,
                    ..Layout::default()
                },
            ),
            (
                2_500,
                Layout {
                    reach_sigmas: 1.0,
                    width_bits: Some(4),
                    uneven_weights: true,
                },
            ),
        ];
        for (k, (a, layout)) in layouts.into_iter().enumerate() {
            let table = DiscreteGaussianTable::with_layout(a, 1, layout);
            let (stat, critical) = fits(&table, 300_000, 4.0, 40 + k as u64);
            assert!(
                stat < critical,
                "σ² = {a}, {layout:?}: χ² = {stat:.1} ≥ {critical:.1}"
            );
        }
    }

    #[test]
    fn large_sigma_has_the_right_spread_and_shape() {
        // The σ of DP-SGD's grid, about 2^20: the standard deviation within 1%, and the
        // fraction within one σ that of a normal (0.6827) within 0.005, over 100,000 draws.
        let a = 1_234_567u128 * 1_234_567;
        let table = DiscreteGaussianTable::new(a, 1).unwrap();
        // Block 0's envelope is the density's exact maximum, e^0: no correction to try.
        assert_eq!(table.starts[0], Start::Certain);
        assert!(matches!(table.starts[1], Start::Ones(20)));
        let mut rng = NoiseRng::insecure_seeded(8);
        let draws: Vec<i128> = (0..100_000).map(|_| table.sample(&mut rng)).collect();
        let sigma = 1_234_567.0;
        let sd = (draws.iter().map(|&y| (y * y) as f64).sum::<f64>() / draws.len() as f64).sqrt();
        assert!((sd / sigma - 1.0).abs() < 0.01, "{sd}");
        let inside = draws.iter().filter(|&&y| (y as f64).abs() <= sigma).count() as f64 / 1e5;
        assert!((inside - 0.6827).abs() < 0.005, "{inside}");
        assert!(DiscreteGaussianTable::new(0, 1).is_err());
    }
}
