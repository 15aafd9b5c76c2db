//! Exact samplers for integer noise, after C. Canonne, G. Kamath and T. Steinke, "The
//! Discrete Gaussian for Differential Privacy" (NeurIPS 2020), §5.
//!
//! Noise drawn with floating point leaks: the set of doubles a textbook Laplace sampler can
//! output depends on the value it perturbs, so the output can reveal the input exactly
//! (I. Mironov, "On significance of the least significant bits for differential privacy",
//! CCS 2012). These samplers use only integer arithmetic and fair random integers, so each
//! output has exactly the probability the privacy proof assumes:
//!
//! * [`bernoulli_exp`] — Bernoulli(exp(−γ)) for rational γ ≥ 0 (Algorithm 1);
//! * [`discrete_laplace`] — P[Y = y] ∝ exp(−|y|·s/t) (Algorithm 2);
//! * [`discrete_gaussian`] — P[Y = y] ∝ exp(−y²/(2σ²)) for rational σ² (Algorithm 3);
//! * [`DiscreteGaussianTable`] — the same distribution, about five times faster per draw
//!   once a table for the σ² is built: rejection from a block envelope picked by an exact
//!   alias table (module `table`), with trials against irrational probabilities decided
//!   digit by digit from exact bounds (module `bounds`).
//!
//! Arithmetic is on `u128`. The only inexactness is where an intermediate would overflow,
//! which happens only for outputs so far in the tail that their probability is below
//! exp(−2^60); those candidates are rejected, a change no experiment can observe.

use crate::error::{Error, Result};
use crate::noise::NoiseRng;

mod alias;
mod bounds;
mod table;

pub use table::DiscreteGaussianTable;

/// The largest numerator or denominator of σ² that [`discrete_gaussian`] accepts (2^52):
/// every intermediate then fits in 128 bits.
pub const MAX_SIGMA2_TERM: u128 = 1 << 52;

/// Bernoulli(num/den), for 0 ≤ num ≤ den, den > 0.
///
/// A uniform U ∈ [0, 1) is compared with p = num/den one binary digit at a time: p's digits
/// come from long division, U's are fair random bits, and the first digit where they differ
/// decides U < p. The answer is exactly Bernoulli(p) and takes two random bits on average,
/// where drawing U as an integer below den takes 64 or 128.
fn bernoulli(rng: &mut NoiseRng, num: u128, den: u128) -> bool {
    if num >= den {
        return true;
    }
    if den <= 1 << 62 {
        let (num, den) = (num as u64, den as u64);
        // p < 2^-k: its first k digits are 0, so U < p needs U's first k bits to be 0 too.
        // One draw of k bits settles most small p (and its branch is predictable).
        let k = (num.leading_zeros() - den.leading_zeros()).saturating_sub(1);
        if k == 0 {
            return binary_digits(rng, num, den);
        }
        if rng.bits(k) != 0 {
            return false;
        }
        return binary_digits(rng, num << k, den);
    }
    if den > 1 << 126 {
        // Doubling the remainder could overflow: compare a uniform integer instead.
        return rng.below(den) < num;
    }
    binary_digits(rng, num, den)
}

/// The digit-by-digit comparison of [`bernoulli`] for num < den, in u64 (den ≤ 2^62, the
/// common case, measurably faster) or u128 (den ≤ 2^126): the remainder is doubled each
/// digit, so it must stay below twice the denominator.
fn binary_digits<T>(rng: &mut NoiseRng, num: T, den: T) -> bool
where
    T: Copy + PartialOrd + std::ops::Add<Output = T> + std::ops::Sub<Output = T> + From<u8>,
{
    let zero = T::from(0);
    let mut rest = num;
    loop {
        if rest == zero {
            // p's remaining digits are all 0: U < p would need U's to be too (probability 0).
            return false;
        }
        rest = rest + rest;
        let p_digit = rest >= den;
        if p_digit {
            rest = rest - den;
        }
        if rng.bit() != p_digit {
            return p_digit;
        }
    }
}

/// Bernoulli(exp(−num/den)) for num/den ∈ [0, 1]: draw Bernoulli(γ/k) for k = 1, 2, … until
/// one fails; the number of successes is even with probability exp(−γ).
fn bernoulli_exp_unit(rng: &mut NoiseRng, num: u128, den: u128) -> bool {
    let mut k: u128 = 1;
    // γ/k ≤ 1/k: with k past 2^64 (reached with probability below 1/(2^64)!) the product
    // would overflow; the success probability there is below 2^-64, taken as a failure.
    while let Some(den_k) = den.checked_mul(k) {
        if !bernoulli(rng, num, den_k) {
            break;
        }
        k += 1;
    }
    k % 2 == 1
}

/// Bernoulli(exp(−num/den)) for any rational num/den ≥ 0 (den > 0): CKS 2020, Algorithm 1.
pub fn bernoulli_exp(rng: &mut NoiseRng, num: u128, den: u128) -> bool {
    debug_assert!(den > 0);
    let (whole, frac) = (num / den, num % den);
    // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)).
    let mut k = 0u128;
    while k < whole {
        if !bernoulli_exp_unit(rng, 1, 1) {
            return false;
        }
        k += 1;
    }
    bernoulli_exp_unit(rng, frac, den)
}

/// A geometric variable: P[G = g] ∝ exp(−g·s/t) for g ≥ 0 and integers s, t ≥ 1 (CKS 2020,
/// Algorithm 2 before the sign: U uniform below t kept with probability e^(−U/t), plus t
/// times a geometric count of e^(−1) trials, divided by s).
fn geometric(rng: &mut NoiseRng, s: u128, t: u128) -> u128 {
    loop {
        let u = rng.below(t);
        // u/t < 1 and 1/1 = 1: straight to the unit-interval case (no division).
        if !bernoulli_exp_unit(rng, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_unit(rng, 1, 1) {
            v += 1;
        }
        if let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) {
            return x / s;
        }
    }
}

/// The discrete Laplace distribution with scale t/s: P[Y = y] ∝ exp(−|y|·s/t), for integers
/// s, t ≥ 1 (CKS 2020, Algorithm 2).
pub fn discrete_laplace(rng: &mut NoiseRng, s: u128, t: u128) -> i128 {
    debug_assert!(s > 0 && t > 0);
    loop {
        let y = geometric(rng, s, t);
        let negative = rng.coin();
        if negative && y == 0 {
            continue;
        }
        let y = i128::try_from(y).unwrap_or(i128::MAX);
        return if negative { -y } else { y };
    }
}

/// σ² = a/b must have a and b in 1..=[`MAX_SIGMA2_TERM`].
pub fn check_sigma2(a: u128, b: u128) -> Result<()> {
    if a == 0 || b == 0 || a > MAX_SIGMA2_TERM || b > MAX_SIGMA2_TERM {
        return Err(Error::invalid(
            "sigma^2",
            format!("σ² = {a}/{b}: numerator and denominator must be in 1..=2^52"),
        ));
    }
    Ok(())
}

/// The discrete Gaussian distribution with σ² = a/b: P[Y = y] ∝ exp(−y²/(2σ²))
/// (CKS 2020, Algorithm 3: discrete Laplace proposals of scale t = ⌊σ⌋ + 1, accepted with
/// probability exp(−(|y| − σ²/t)²/(2σ²))). `a` and `b` must be in 1..=[`MAX_SIGMA2_TERM`].
pub fn discrete_gaussian(rng: &mut NoiseRng, a: u128, b: u128) -> Result<i128> {
    check_sigma2(a, b)?;
    Ok(sample_discrete_gaussian(rng, a, b))
}

/// A discrete Gaussian whose σ² = a/b has been checked: drawing from it cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussianSampler {
    a: u128,
    b: u128,
}

impl DiscreteGaussianSampler {
    /// σ² = a/b, with `a` and `b` in 1..=[`MAX_SIGMA2_TERM`].
    pub fn new(a: u128, b: u128) -> Result<DiscreteGaussianSampler> {
        check_sigma2(a, b)?;
        Ok(DiscreteGaussianSampler { a, b })
    }

    /// One draw (CKS 2020, Algorithm 3).
    pub fn sample(&self, rng: &mut NoiseRng) -> i128 {
        sample_discrete_gaussian(rng, self.a, self.b)
    }
}

/// [`discrete_gaussian`] for σ² = a/b already checked.
fn sample_discrete_gaussian(rng: &mut NoiseRng, a: u128, b: u128) -> i128 {
    let t = (a / b).isqrt() + 1;
    // (|y| − σ²/t)² / (2σ²) = (|y|·b·t − a)² / (2·a·b·t²)
    let bt = b * t;
    let den = 2 * a * b * t * t;
    loop {
        let y = discrete_laplace(rng, 1, t);
        let Some(num) = y
            .unsigned_abs()
            .checked_mul(bt)
            .map(|ybt| ybt.abs_diff(a))
            .and_then(|d| d.checked_mul(d))
        else {
            continue;
        };
        if bernoulli_exp(rng, num, den) {
            return y;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn bernoulli_by_binary_digits_has_the_exact_rate() {
        let mut rng = NoiseRng::insecure_seeded(11);
        // 1/3 never terminates in binary, 5/8 does, and the ends are certain.
        for (num, den) in [
            (1u128, 3u128),
            (5, 8),
            (2, 7),
            (0, 5),
            (5, 5),
            (1, 1 << 100),
        ] {
            let n = 200_000;
            let hits = (0..n).filter(|_| bernoulli(&mut rng, num, den)).count() as f64;
            let p = num as f64 / den as f64;
            // Five standard deviations of a binomial(200,000, p).
            let tol = 5.0 * (n as f64 * p * (1.0 - p)).sqrt() + 1e-9;
            assert!((hits - n as f64 * p).abs() <= tol, "{num}/{den}: {hits}");
        }
    }

    /// Pearson's chi-square statistic of `counts` against `expected` probabilities (which
    /// must sum to 1 over the bins), merging bins until each expects at least 5 samples.
    pub fn chi_square(counts: &[u64], expected: &[f64]) -> (f64, usize) {
        let n: u64 = counts.iter().sum();
        let (mut stat, mut bins) = (0.0, 0usize);
        let (mut c_acc, mut p_acc) = (0u64, 0.0);
        for (&c, &p) in counts.iter().zip(expected) {
            c_acc += c;
            p_acc += p;
            if p_acc * n as f64 >= 5.0 {
                let e = p_acc * n as f64;
                stat += (c_acc as f64 - e).powi(2) / e;
                bins += 1;
                c_acc = 0;
                p_acc = 0.0;
            }
        }
        if p_acc > 0.0 || c_acc > 0 {
            let e = (p_acc * n as f64).max(1e-12);
            stat += (c_acc as f64 - e).powi(2) / e;
            bins += 1;
        }
        (stat, bins.saturating_sub(1))
    }

    /// The chi-square quantile at 1 − 10⁻⁴ for `df` degrees of freedom (Wilson–Hilferty).
    pub fn chi_square_critical(df: usize) -> f64 {
        let k = df as f64;
        let z = 3.719; // standard normal quantile at 1 − 10⁻⁴
        k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
    }

    /// Histogram of samples over `lo..=hi`, tails folded into the end bins.
    fn histogram(samples: &[i128], lo: i128, hi: i128) -> Vec<u64> {
        let mut counts = vec![0u64; (hi - lo + 1) as usize];
        for &y in samples {
            counts[(y.clamp(lo, hi) - lo) as usize] += 1;
        }
        counts
    }

    fn expected_from(weight: impl Fn(i128) -> f64, lo: i128, hi: i128, reach: i128) -> Vec<f64> {
        let total: f64 = (-reach..=reach).map(&weight).sum();
        let mut p: Vec<f64> = (lo..=hi).map(|y| weight(y) / total).collect();
        let below: f64 = (-reach..lo).map(&weight).sum::<f64>() / total;
        let above: f64 = (hi + 1..=reach).map(&weight).sum::<f64>() / total;
        p[0] += below;
        *p.last_mut().expect("bins") += above;
        p
    }

    #[test]
    fn bernoulli_exp_has_the_right_rate() {
        // Tolerance: 5 standard errors of a proportion over 200,000 draws.
        let mut rng = NoiseRng::insecure_seeded(1);
        for (num, den) in [
            (0u128, 1u128),
            (1, 3),
            (1, 1),
            (5, 2),
            (7, 1),
            (123_456, 100_000),
        ] {
            let n = 200_000;
            let hits = (0..n).filter(|_| bernoulli_exp(&mut rng, num, den)).count();
            let p = (-(num as f64) / den as f64).exp();
            let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
            let got = hits as f64 / n as f64;
            assert!(
                (got - p).abs() <= 5.0 * se + 1e-9,
                "{num}/{den}: {got} vs {p}"
            );
        }
    }

    #[test]
    fn discrete_laplace_matches_its_pmf() {
        // Chi-square goodness of fit, 200,000 draws per scale, rejected at p < 10⁻⁴.
        let mut rng = NoiseRng::insecure_seeded(2);
        for (s, t) in [(1u128, 1u128), (1, 3), (2, 5), (1, 20)] {
            let samples: Vec<i128> = (0..200_000)
                .map(|_| discrete_laplace(&mut rng, s, t))
                .collect();
            let scale = t as f64 / s as f64;
            let reach = (60.0 * scale) as i128 + 10;
            let (lo, hi) = (-(8.0 * scale) as i128 - 2, (8.0 * scale) as i128 + 2);
            let expected = expected_from(|y| (-(y.abs() as f64) / scale).exp(), lo, hi, reach);
            let (stat, df) = chi_square(&histogram(&samples, lo, hi), &expected);
            assert!(
                stat < chi_square_critical(df),
                "s={s} t={t}: χ²={stat:.1} df={df}"
            );
        }
    }

    #[test]
    fn discrete_gaussian_matches_its_pmf() {
        let mut rng = NoiseRng::insecure_seeded(3);
        for (a, b) in [(1u128, 1u128), (1, 4), (9, 1), (49, 2), (400, 1)] {
            let samples: Vec<i128> = (0..200_000)
                .map(|_| discrete_gaussian(&mut rng, a, b).unwrap())
                .collect();
            let sigma2 = a as f64 / b as f64;
            let sigma = sigma2.sqrt();
            let reach = (40.0 * sigma) as i128 + 10;
            let (lo, hi) = (-(5.0 * sigma) as i128 - 2, (5.0 * sigma) as i128 + 2);
            let expected = expected_from(
                |y| (-((y * y) as f64) / (2.0 * sigma2)).exp(),
                lo,
                hi,
                reach,
            );
            let (stat, df) = chi_square(&histogram(&samples, lo, hi), &expected);
            assert!(
                stat < chi_square_critical(df),
                "σ²={a}/{b}: χ²={stat:.1} df={df}"
            );
            // And its variance is σ² (within 2% for these sample sizes).
            let var = samples.iter().map(|&y| (y * y) as f64).sum::<f64>() / samples.len() as f64;
            assert!(
                (var / sigma2 - 1.0).abs() < 0.02 || sigma2 < 0.5,
                "σ²={sigma2}: var {var}"
            );
        }
    }

    #[test]
    fn large_scales_stay_exact_in_128_bits() {
        let mut rng = NoiseRng::insecure_seeded(4);
        let sigma = (1u128 << 21) as f64;
        let draws: Vec<i128> = (0..20_000)
            .map(|_| discrete_gaussian(&mut rng, 1 << 42, 1).unwrap())
            .collect();
        let sd = (draws.iter().map(|&y| (y * y) as f64).sum::<f64>() / draws.len() as f64).sqrt();
        assert!((sd / sigma - 1.0).abs() < 0.02, "{sd} vs {sigma}");
        assert!(discrete_gaussian(&mut rng, 0, 1).is_err());
        assert!(discrete_gaussian(&mut rng, MAX_SIGMA2_TERM + 1, 1).is_err());
    }
}
