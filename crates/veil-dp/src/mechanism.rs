//! Noise mechanisms for real and integer values, each with the guarantee it gives.
//!
//! Real values are released on a grid: the value is rounded to a multiple of a power of two
//! γ about 2^-20 of the noise scale, and exact discrete noise ([`crate::sample`]) is added in
//! units of γ. Rounding can move two neighbouring inputs at most γ further apart (γ·√d for d
//! coordinates in L2), so the noise is calibrated to the sensitivity *plus* that, rounded
//! up: every mechanism here is at least as private as its textbook continuous counterpart
//! with the stated parameters. This is the approach of Canonne, Kamath and Steinke (2020,
//! §5) with the "fine grid" of their discussion; unlike the snapping mechanism (Mironov
//! 2012) it also serves the Gaussian, which DP-SGD and zCDP accounting need.
//!
//! | mechanism | input | guarantee |
//! |---|---|---|
//! | [`Laplace`] | real value, L1 sensitivity Δ, ε | ε-DP (pure) |
//! | [`Gaussian`] | real vector, L2 sensitivity Δ, σ | ρ-zCDP with ρ = Δ²/(2σ²); the RDP curve of the Gaussian with noise multiplier σ/Δ |
//! | [`DiscreteLaplace`] | integer, integer sensitivity Δ, ε | ε-DP |
//! | [`DiscreteGaussian`] | integer vector, L2 sensitivity Δ, σ | ρ-zCDP with ρ = Δ²/(2σ²) (CKS 2020, Theorem 14) |

use std::sync::Arc;

use crate::error::{Error, Result};
use veil_core::noise::NoiseRng;
use veil_core::sample::{
    DiscreteGaussianSampler, DiscreteGaussianTable, MAX_SIGMA2_TERM, discrete_gaussian,
    discrete_laplace,
};

/// Bits of resolution below the noise scale: the grid is 2^-20 of the scale.
const GRID_BITS: i32 = 20;

/// The largest |value / γ| released (2^100): beyond it a value is out of all proportion to
/// its noise and is refused rather than silently saturated.
const MAX_GRID_UNITS: f64 = 1.2676506002282294e30;

fn positive(name: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(
            name,
            format!("{v} must be a positive finite number"),
        ))
    }
}

/// The power of two 2^(⌊log2 scale⌋ − 20).
fn grid_for(scale: f64, bits: i32) -> f64 {
    2f64.powi(scale.log2().floor() as i32 - bits)
}

fn to_grid(value: f64, gamma: f64) -> Result<i128> {
    if !value.is_finite() {
        return Err(Error::invalid(
            "value",
            format!("{value} is not a finite number"),
        ));
    }
    let units = (value / gamma).round();
    if units.abs() > MAX_GRID_UNITS {
        return Err(Error::invalid(
            "value",
            format!("{value} is too large for noise of this scale"),
        ));
    }
    // Through i64 when it fits (one instruction; f64 → i128 is a software routine).
    Ok(if units.abs() < 4e18 {
        i128::from(units as i64)
    } else {
        units as i128
    })
}

/// P[|Y| ≥ m] for the discrete Laplace of scale t (m ≥ 1): 2·e^(−m/t)/(1 + e^(−1/t)).
/// Returns the smallest m with P[|Y| ≥ m] ≤ α.
fn laplace_tail(t: f64, alpha: f64) -> f64 {
    let m = t * (2.0 / (alpha * (1.0 + (-1.0 / t).exp()))).ln();
    m.ceil().max(1.0)
}

/// The Laplace mechanism on a grid: ε-differential privacy for a real value of L1
/// sensitivity Δ ([`Laplace::new`]), or for a sum of bounded terms summed exactly on the grid
/// ([`Laplace::for_sum`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Laplace {
    gamma: f64,
    t: u128,
    /// How far rounding to the grid can move the released value from the exact one.
    rounding: f64,
}

/// Grid bits below a sum's noise scale: finer than a single value's, because every term is
/// rounded and up to [`MAX_SUM_TERMS`] roundings add up.
const SUM_GRID_BITS: i32 = 40;

/// The most terms a sum may have (a table's rows are fewer).
pub const MAX_SUM_TERMS: u64 = 1 << 32;

impl Laplace {
    /// Noise for sensitivity `sensitivity` (> 0) and privacy `epsilon` (> 0).
    pub fn new(sensitivity: f64, epsilon: f64) -> Result<Laplace> {
        let (delta, eps) = (
            positive("sensitivity", sensitivity)?,
            positive("epsilon", epsilon)?,
        );
        let gamma = grid_for(delta / eps, GRID_BITS);
        // Rounded inputs differ by at most Δ + γ: scale (Δ + γ)/ε in units of γ, rounded up.
        let t = ((delta + gamma) / (eps * gamma)).ceil();
        Ok(Laplace {
            gamma,
            t: t as u128,
            rounding: gamma / 2.0,
        })
    }

    /// Noise for a sum of terms each at most `term_bound` in absolute value, of which one
    /// privacy unit contributes at most `max_terms`, with privacy `epsilon`. Each term is
    /// rounded to the grid ([`Laplace::term_units`]) and the sum is taken in integers, so it
    /// is exact: one unit moves it by at most `max_terms`·⌈bound/γ⌉ units, whatever the
    /// order or the values of the other terms. A floating-point sum would not be bounded so
    /// (Casacuberta, Shoemate, Vadhan and Wagaman, "Widespread underestimation of sensitivity
    /// in differentially private libraries", CCS 2022).
    pub fn for_sum(term_bound: f64, max_terms: u64, epsilon: f64) -> Result<Laplace> {
        let (bound, eps) = (
            positive("term bound", term_bound)?,
            positive("epsilon", epsilon)?,
        );
        if max_terms == 0 {
            return Err(Error::invalid("max_terms", "must be at least 1"));
        }
        let gamma = grid_for(bound * max_terms as f64 / eps, SUM_GRID_BITS);
        // Sensitivity in grid units: ⌈bound/γ⌉ is exact (γ is a power of two); the product
        // and the quotient round, by at most 2^-53 each, which the margin covers, so that
        // t ≥ units/ε holds exactly.
        let per_term = (bound / gamma).ceil();
        // Refused up front, so that no term can fail to round and no sum of up to
        // MAX_SUM_TERMS terms can overflow (a failure that depended on the rows would leak).
        let fits = per_term * MAX_SUM_TERMS as f64 <= MAX_GRID_UNITS;
        if !fits {
            return Err(Error::invalid(
                "epsilon",
                format!("{eps} is too large for a sum with these bounds"),
            ));
        }
        let units = per_term * max_terms as f64;
        let t = (units / eps * (1.0 + 2f64.powi(-50))).ceil();
        Ok(Laplace {
            gamma,
            t: t as u128,
            rounding: MAX_SUM_TERMS as f64 * gamma / 2.0,
        })
    }

    /// One term of a sum ([`Laplace::for_sum`]), clamped to ±`term_bound` and rounded to the
    /// grid: what it adds to the sum, in grid units.
    pub fn term_units(&self, term: f64, term_bound: f64) -> Result<i128> {
        to_grid(term.clamp(-term_bound, term_bound), self.gamma)
    }

    /// A sum of grid units plus noise.
    pub fn release_units(&self, units: i128, rng: &mut NoiseRng) -> f64 {
        (units + discrete_laplace(rng, 1, self.t)) as f64 * self.gamma
    }

    /// The noise's scale b (the standard deviation is b·√2): at least Δ/ε.
    pub fn scale(&self) -> f64 {
        self.t as f64 * self.gamma
    }

    /// `value` plus noise.
    pub fn release(&self, value: f64, rng: &mut NoiseRng) -> Result<f64> {
        let k = to_grid(value, self.gamma)?;
        Ok((k + discrete_laplace(rng, 1, self.t)) as f64 * self.gamma)
    }

    /// Half the width of an interval that holds the exact value with probability 1 − α:
    /// the noise's tail plus the most rounding to the grid can move it (γ/2 for one value;
    /// for a sum, γ/2 for each of the most terms it may have, which is public, whereas the
    /// number it has is not).
    pub fn half_width(&self, alpha: f64) -> f64 {
        laplace_tail(self.t as f64, alpha) * self.gamma + self.rounding
    }
}

/// The Gaussian mechanism on a grid, for vectors of `dims` coordinates with L2 sensitivity Δ:
/// ρ-zCDP with ρ = Δ²/(2σ²), and the Rényi-DP curve α·Δ²/(2σ²) of the continuous Gaussian
/// (the discrete Gaussian's Rényi divergences are no larger; CKS 2020, §4).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    gamma: f64,
    sigma_units: u128,
    /// The exact sampler for σ² = sigma_units².
    exact: DiscreteGaussianSampler,
    /// A precomputed sampler for the same σ², for many draws ([`Gaussian::tabulated`]).
    table: Option<Arc<DiscreteGaussianTable>>,
}

impl Gaussian {
    /// Noise of standard deviation at least `sigma` per coordinate, such that the noise
    /// multiplier σ/Δ holds for the rounded vector too.
    pub fn new(l2_sensitivity: f64, sigma: f64, dims: usize) -> Result<Gaussian> {
        let (delta, sigma) = (
            positive("sensitivity", l2_sensitivity)?,
            positive("sigma", sigma)?,
        );
        if dims == 0 {
            return Err(Error::invalid(
                "dims",
                "a vector has at least one coordinate",
            ));
        }
        let gamma = grid_for(sigma, GRID_BITS);
        // Rounding each coordinate moves a vector by at most γ/2·√d, two of them γ·√d.
        let rounded_delta = delta + gamma * (dims as f64).sqrt();
        let sigma_units = (sigma * rounded_delta / (delta * gamma)).ceil();
        if sigma_units * sigma_units > MAX_SIGMA2_TERM as f64 {
            return Err(Error::invalid(
                "dims",
                format!("{dims} coordinates are too many for one Gaussian release"),
            ));
        }
        let sigma_units = sigma_units as u128;
        Ok(Gaussian {
            gamma,
            sigma_units,
            exact: DiscreteGaussianSampler::new(sigma_units * sigma_units, 1)?,
            table: None,
        })
    }

    /// The same mechanism with its sampler precomputed ([`DiscreteGaussianTable`]): the same
    /// exact distribution at about a fifth of the time per draw, after about 0.35 ms of setup.
    pub fn tabulated(self) -> Result<Gaussian> {
        let table = DiscreteGaussianTable::new(self.sigma_units * self.sigma_units, 1)?;
        Ok(Gaussian {
            table: Some(Arc::new(table)),
            ..self
        })
    }

    /// The noise's standard deviation per coordinate: at least the σ asked for.
    pub fn sigma(&self) -> f64 {
        self.sigma_units as f64 * self.gamma
    }

    /// `value` plus noise.
    pub fn release(&self, value: f64, rng: &mut NoiseRng) -> Result<f64> {
        let mut v = [value];
        self.release_all(&mut v, rng)?;
        Ok(v[0])
    }

    /// Adds noise to every coordinate of `values`, in place: [`Gaussian::draw`] then
    /// [`Gaussian::add`].
    pub fn release_all(&self, values: &mut [f64], rng: &mut NoiseRng) -> Result<()> {
        let noise = self.draw(values.len(), rng);
        self.add(values, &noise)
    }

    /// The noise for `len` coordinates, in grid units. It does not depend on the values, so
    /// it can be drawn ahead, on another thread (as DP-SGD does).
    pub fn draw(&self, len: usize, rng: &mut NoiseRng) -> Vec<i128> {
        match &self.table {
            Some(table) => (0..len).map(|_| table.sample(rng)).collect(),
            None => (0..len).map(|_| self.exact.sample(rng)).collect(),
        }
    }

    /// Releases `values` with noise from [`Gaussian::draw`]: each value rounded to the grid,
    /// plus its noise, in grid units — so the output is a grid point whatever the value's
    /// low bits were. Each draw must be used once.
    pub fn add(&self, values: &mut [f64], noise: &[i128]) -> Result<()> {
        if values.len() != noise.len() {
            return Err(Error::invalid(
                "noise",
                format!("{} noise draws for {} values", noise.len(), values.len()),
            ));
        }
        for (v, &k) in values.iter_mut().zip(noise) {
            let units = to_grid(*v, self.gamma)? + k;
            // i64 when it fits: i128 → f64 is a software routine, i64 → f64 one instruction.
            *v = match i64::try_from(units) {
                Ok(units) => units as f64,
                Err(_) => units as f64,
            } * self.gamma;
        }
        Ok(())
    }

    /// Half the width of an interval that holds one coordinate's noise with probability
    /// 1 − α (normal quantile; the discrete Gaussian's tails are no heavier).
    pub fn half_width(&self, alpha: f64) -> f64 {
        normal_quantile(1.0 - alpha / 2.0) * self.sigma() + self.gamma
    }
}

/// The discrete Laplace mechanism: ε-differential privacy for an integer of integer
/// sensitivity Δ (a count has Δ = the most rows one privacy unit contributes).
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteLaplace {
    s: u128,
    t: u128,
}

impl DiscreteLaplace {
    /// Noise with P[Y = y] ∝ exp(−|y|·ε/Δ), ε rounded down to a multiple of 2^-32 (so never
    /// less private than asked).
    pub fn new(sensitivity: u64, epsilon: f64) -> Result<DiscreteLaplace> {
        let eps = positive("epsilon", epsilon)?;
        if sensitivity == 0 {
            return Err(Error::invalid("sensitivity", "must be at least 1"));
        }
        // exp(−|y|·s/t) with s/t ≤ ε/Δ.
        let t = u128::from(sensitivity) << 32;
        let s = (eps * 2f64.powi(32)).floor();
        if s < 1.0 || s > 2f64.powi(64) {
            return Err(Error::invalid(
                "epsilon",
                format!("{eps} is outside 2^-32..2^32"),
            ));
        }
        Ok(DiscreteLaplace { s: s as u128, t })
    }

    /// The scale t/s (≥ Δ/ε).
    pub fn scale(&self) -> f64 {
        self.t as f64 / self.s as f64
    }

    /// `value` plus noise.
    pub fn release(&self, value: i64, rng: &mut NoiseRng) -> i64 {
        let noisy = i128::from(value) + discrete_laplace(rng, self.s, self.t);
        noisy.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Half the width of an interval holding the noise with probability 1 − α.
    pub fn half_width(&self, alpha: f64) -> f64 {
        laplace_tail(self.scale(), alpha)
    }
}

/// The discrete Gaussian mechanism: ρ-zCDP with ρ = Δ²/(2σ²) for integers (CKS 2020).
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteGaussian {
    a: u128,
    b: u128,
}

impl DiscreteGaussian {
    /// Noise with σ² rounded up to a multiple of 2^-16.
    pub fn new(sigma: f64) -> Result<DiscreteGaussian> {
        let sigma = positive("sigma", sigma)?;
        let b = 1u128 << 16;
        let a = (sigma * sigma * b as f64).ceil();
        if a > MAX_SIGMA2_TERM as f64 {
            return Err(Error::invalid("sigma", format!("{sigma} is above 2^18")));
        }
        Ok(DiscreteGaussian {
            a: (a as u128).max(1),
            b,
        })
    }

    /// The noise's σ (≥ the σ asked for).
    pub fn sigma(&self) -> f64 {
        (self.a as f64 / self.b as f64).sqrt()
    }

    /// `value` plus noise.
    pub fn release(&self, value: i64, rng: &mut NoiseRng) -> Result<i64> {
        let noisy = i128::from(value) + discrete_gaussian(rng, self.a, self.b)?;
        Ok(noisy.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Half the width of an interval holding the noise with probability 1 − α.
    pub fn half_width(&self, alpha: f64) -> f64 {
        (normal_quantile(1.0 - alpha / 2.0) * self.sigma()).ceil()
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p_low = 0.02425;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Kolmogorov–Smirnov distance between samples and a CDF.
    fn ks(mut samples: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        samples.sort_by(f64::total_cmp);
        let n = samples.len() as f64;
        samples
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x);
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max)
    }

    /// KS critical value at significance 10⁻⁴: 2.0/√n (asymptotic, c(α) = √(−ln(α/2)/2)).
    fn ks_critical(n: usize) -> f64 {
        (-(1e-4f64 / 2.0).ln() / 2.0).sqrt() / (n as f64).sqrt()
    }

    #[test]
    fn a_sum_on_the_grid_is_exact_where_a_float_sum_is_not() {
        // Casacuberta et al. (CCS 2022), the security review's F-05 data: bounds [0, 1],
        // k = 1, ε = 1. The neighbour's partial sum sits just below a binade boundary, so
        // each tiny term rounds down for it and up for the other.
        let tail = std::iter::once(0.5).chain(std::iter::repeat_n(1.25 * 2f64.powi(-37), 1 << 18));
        let neighbour: Vec<f64> = std::iter::repeat_n(1.0, 65_535).chain(tail).collect();
        let with_one: Vec<f64> = std::iter::once(1.0)
            .chain(neighbour.iter().copied())
            .collect();
        let float = |d: &[f64]| d.iter().fold(0.0, |a, x| a + x);
        let moved = float(&with_one) - float(&neighbour);
        assert!(moved > 1.0 + 2f64.powi(-20), "float sums moved by {moved}");
        // On the grid, in integers: one row moves the sum by exactly its own term.
        let m = Laplace::for_sum(1.0, 1, 1.0).unwrap();
        let exact = |d: &[f64]| {
            d.iter()
                .map(|&x| m.term_units(x, 1.0).unwrap())
                .sum::<i128>()
        };
        let sensitivity_units = (1.0 / m.gamma).ceil();
        assert_eq!(
            (exact(&with_one) - exact(&neighbour)) as f64,
            sensitivity_units
        );
        // The noise's scale covers it: t ≥ sensitivity / ε, in grid units.
        assert!(m.t as f64 >= sensitivity_units);
        // An ε so large that some sum could overflow the grid is refused up front.
        assert!(Laplace::for_sum(1.0, 1, 1e30).is_err());
        // A term beyond its bound counts as the bound.
        assert_eq!(m.term_units(7.0, 1.0).unwrap() as f64, sensitivity_units);
    }

    #[test]
    fn laplace_release_is_laplace_around_the_value() {
        let mut rng = NoiseRng::insecure_seeded(10);
        let m = Laplace::new(1.0, 0.5).unwrap();
        let b = m.scale();
        assert!((2.0..2.0 * (1.0 + 1e-5)).contains(&b), "scale {b}");
        let n = 100_000;
        let samples: Vec<f64> = (0..n)
            .map(|_| m.release(10.0, &mut rng).unwrap() - 10.0)
            .collect();
        let cdf = |x: f64| {
            if x < 0.0 {
                0.5 * (x / b).exp()
            } else {
                1.0 - 0.5 * (-x / b).exp()
            }
        };
        let d = ks(samples.clone(), cdf);
        assert!(d < ks_critical(n), "KS distance {d}");
        // The 95% interval holds about 95% of the noise.
        let w = m.half_width(0.05);
        let inside = samples.iter().filter(|x| x.abs() <= w).count() as f64 / n as f64;
        assert!((0.945..0.96).contains(&inside), "coverage {inside}");
    }

    #[test]
    fn gaussian_release_is_gaussian_around_the_value() {
        // With either sampler: the release one value at a time, the tabulated one a vector.
        let mut rng = NoiseRng::insecure_seeded(11);
        let m = Gaussian::new(1.0, 3.0, 1000).unwrap();
        let tabulated = m.clone().tabulated().unwrap();
        let s = m.sigma();
        assert_eq!(tabulated.sigma(), s);
        assert!((3.0..3.0 * (1.0 + 1e-4)).contains(&s), "σ {s}");
        let n = 100_000;
        let one_by_one: Vec<f64> = (0..n)
            .map(|_| m.release(-5.5, &mut rng).unwrap() + 5.5)
            .collect();
        let mut vector = vec![-5.5; n];
        tabulated.release_all(&mut vector, &mut rng).unwrap();
        let vector: Vec<f64> = vector.iter().map(|v| v + 5.5).collect();
        for samples in [one_by_one, vector] {
            let cdf = |x: f64| 0.5 * (1.0 + erf(x / (s * std::f64::consts::SQRT_2)));
            let d = ks(samples.clone(), cdf);
            assert!(d < ks_critical(n), "KS distance {d}");
            let w = m.half_width(0.05);
            let inside = samples.iter().filter(|x| x.abs() <= w).count() as f64 / n as f64;
            assert!((0.945..0.955).contains(&inside), "coverage {inside}");
        }
    }

    /// erf by Abramowitz–Stegun 7.1.26 (error < 1.5e-7), for the KS test's CDF.
    fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.3275911 * x.abs());
        let y = 1.0
            - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
                + 0.254829592)
                * t
                * (-x * x).exp();
        y.copysign(x)
    }

    #[test]
    fn integer_mechanisms_are_at_least_as_noisy_as_asked() {
        let dl = DiscreteLaplace::new(3, 0.7).unwrap();
        assert!(dl.scale() >= 3.0 / 0.7);
        assert!(dl.scale() < 3.0 / 0.7 * (1.0 + 1e-8));
        let dg = DiscreteGaussian::new(2.5).unwrap();
        assert!(dg.sigma() >= 2.5 && dg.sigma() < 2.5001);
        let mut rng = NoiseRng::insecure_seeded(12);
        let n = 50_000;
        let mean = (0..n)
            .map(|_| dl.release(100, &mut rng) as f64)
            .sum::<f64>()
            / n as f64;
        assert!((mean - 100.0).abs() < 0.2, "mean {mean}");
        let var = (0..n)
            .map(|_| (dg.release(0, &mut rng).unwrap() as f64).powi(2))
            .sum::<f64>()
            / n as f64;
        assert!((var / 6.25 - 1.0).abs() < 0.03, "variance {var}");
    }

    #[test]
    fn bad_parameters_and_values_are_refused() {
        assert!(Laplace::new(0.0, 1.0).is_err());
        assert!(Laplace::new(1.0, f64::NAN).is_err());
        assert!(Gaussian::new(1.0, -1.0, 3).is_err());
        assert!(Gaussian::new(1.0, 1.0, 0).is_err());
        assert!(DiscreteLaplace::new(0, 1.0).is_err());
        let mut rng = NoiseRng::insecure_seeded(13);
        let m = Laplace::new(1.0, 1.0).unwrap();
        assert!(m.release(f64::INFINITY, &mut rng).is_err());
        assert!(m.release(1e300, &mut rng).is_err());
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-6);
    }
}
