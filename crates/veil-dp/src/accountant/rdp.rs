//! Rényi differential privacy of the Poisson-subsampled Gaussian mechanism, and its
//! conversion to (ε, δ).
//!
//! A mechanism is (α, r)-RDP if the Rényi divergence of order α between its outputs on
//! neighbouring datasets is at most r (Mironov 2017). RDP composes by adding r order by
//! order, which is what makes it the accountant of DP-SGD: T steps of the same mechanism
//! spend T·r(α).
//!
//! For one step of DP-SGD — each example kept with probability q, the kept gradients'
//! sum released with Gaussian noise of σ times the sensitivity — r(α) = log A_α / (α − 1)
//! (I. Mironov, K. Talwar and L. Zhang, "Rényi Differential Privacy of the Sampled Gaussian
//! Mechanism", 2019, §3.3), with, for integer α,
//!
//! A_α = Σ_{i=0..α} C(α, i) · qⁱ · (1 − q)^(α−i) · exp((i² − i)/(2σ²)),
//!
//! and for fractional α the two-sided series of their §3.3, summed until its terms fall 30
//! nats below the total (at most 1000 terms; an order whose series has not converged by
//! then is dropped, as ∞).
//!
//! Everything here reproduces Google's `dp_accounting` 0.6 `RdpAccountant` (add-or-remove
//! neighbours): the same 156 orders ([`DEFAULT_ORDERS`]), the same series and cut-offs, and
//! the same conversion to (ε, δ) — B. Balle, G. Barthe, M. Gaboardi, J. Hsu and T. Sato,
//! "Hypothesis Testing Interpretations and Rényi Differential Privacy" (AISTATS 2020),
//! Proposition 12: ε = r + ln(1 − 1/α) − ln(δ·α)/(α − 1), minimised over the orders.
//! The tests hold it to 130 values computed with `dp_accounting` 0.6.0.

use crate::error::{Error, Result};

/// `dp_accounting`'s default orders: 1.1, 1.2, …, 10.9, then 11 … 63, 128, 256, 512, 1024.
pub fn default_orders() -> Vec<f64> {
    let mut orders: Vec<f64> = (1..100).map(|x| 1.0 + f64::from(x) / 10.0).collect();
    orders.extend((11..64).map(f64::from));
    orders.extend([128.0, 256.0, 512.0, 1024.0]);
    orders
}

/// The number of default orders.
pub const DEFAULT_ORDERS: usize = 156;

/// ln(e^a + e^b), exact for −∞ arguments.
fn log_add(a: f64, b: f64) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// ln |C(n, k)| through ln|Γ|, defined for real n (the fractional series needs
/// C(α, i) with α − i < 0).
fn log_comb(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// ln Φ(x), the log of the standard normal CDF, accurate far into both tails.
pub fn log_ndtr(x: f64) -> f64 {
    if x > 6.0 {
        // Φ(x) = 1 − Φ(−x), with Φ(−x) < 1e-9: ln(1 − t) ≈ −t.
        (-0.5 * libm::erfc(x / std::f64::consts::SQRT_2)).ln_1p()
    } else if x > -20.0 {
        (0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)).ln()
    } else {
        // Asymptotic series: Φ(x) = φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶ + …).
        let x2 = x * x;
        let (mut term, mut sum) = (1.0, 1.0);
        for n in 1..12 {
            term *= -((2 * n - 1) as f64) / x2;
            sum += term;
        }
        -0.5 * x2 - (-x).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() + sum.ln()
    }
}

/// ln erfc(x) = ln 2 + ln Φ(−x·√2).
fn log_erfc(x: f64) -> f64 {
    std::f64::consts::LN_2 + log_ndtr(-x * std::f64::consts::SQRT_2)
}

fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    let a = alpha as f64;
    for i in 0..=alpha {
        let i = i as f64;
        let term = log_comb(a, i)
            + i * q.ln()
            + (a - i) * (-q).ln_1p()
            + (i * i - i) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, term);
    }
    log_a
}

fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let (mut last_s0, mut last_s1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let s2 = std::f64::consts::SQRT_2 * sigma;
    for i in 0..1000 {
        let i = f64::from(i);
        let j = alpha - i;
        let coef = log_comb(alpha, i);
        let log_t0 = coef + i * q.ln() + j * (-q).ln_1p();
        let log_t1 = coef + j * q.ln() + i * (-q).ln_1p();
        let log_e0 = 0.5f64.ln() + log_erfc((i - z0) / s2);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + (i * i - i) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        log_a0 = log_add(log_a0, log_s0);
        log_a1 = log_add(log_a1, log_s1);
        let total = log_add(log_a0, log_a1);
        if log_s0 < last_s0 && log_s1 < last_s1 && log_s0.max(log_s1) < total - 30.0 {
            return total;
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    f64::INFINITY
}

/// r(α) of one step of the Poisson-subsampled Gaussian with sampling rate `q` and noise
/// multiplier `sigma` (q = 1: the Gaussian itself, α/(2σ²)).
pub fn subsampled_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        0.0
    } else if alpha.is_infinite() || sigma == 0.0 {
        f64::INFINITY
    } else if q == 1.0 {
        alpha / (2.0 * sigma * sigma)
    } else {
        let log_a = if alpha.fract() == 0.0 {
            log_a_int(q, sigma, alpha as u64)
        } else {
            log_a_frac(q, sigma, alpha)
        };
        log_a / (alpha - 1.0)
    }
}

/// The smallest ε such that the RDP curve `rdp` (r at each of `orders`) implies (ε, δ)-DP,
/// and the order that attains it (Balle et al. 2020, Proposition 12; orders at or below
/// 1.01 are not used).
pub fn epsilon(orders: &[f64], rdp: &[f64], delta: f64) -> Result<(f64, f64)> {
    if !(0.0..=1.0).contains(&delta) {
        return Err(Error::invalid(
            "delta",
            format!("{delta} must be in [0, 1]"),
        ));
    }
    if delta == 0.0 {
        let eps = if rdp.iter().all(|&r| r == 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
        return Ok((eps, orders.first().copied().unwrap_or(f64::NAN)));
    }
    let mut best = (f64::INFINITY, f64::NAN);
    for (&a, &r) in orders.iter().zip(rdp) {
        if a < 1.0 {
            return Err(Error::invalid("order", format!("{a} is below 1")));
        }
        let eps = if r < 0.0 || delta * delta + (-r).exp_m1() > 0.0 {
            0.0
        } else if a > 1.01 {
            r + (-1.0 / a).ln_1p() - (delta * a).ln() / (a - 1.0)
        } else {
            f64::INFINITY
        };
        if eps < best.0 {
            best = (eps, a);
        }
    }
    Ok((best.0.max(0.0), best.1))
}

/// The parameters of DP-SGD as the accountant sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubsampledGaussian {
    /// Probability that each example is in a step's batch (Poisson sampling).
    pub sampling_rate: f64,
    /// Noise standard deviation divided by the clipping norm.
    pub noise_multiplier: f64,
    /// Number of steps.
    pub steps: u64,
}

impl SubsampledGaussian {
    /// Checks the ranges: q in [0, 1], σ ≥ 0 and finite.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.sampling_rate) {
            return Err(Error::invalid(
                "sampling-rate",
                format!("{} must be in [0, 1]", self.sampling_rate),
            ));
        }
        if !(self.noise_multiplier.is_finite() && self.noise_multiplier >= 0.0) {
            return Err(Error::invalid(
                "noise-multiplier",
                format!("{} must be finite and ≥ 0", self.noise_multiplier),
            ));
        }
        Ok(())
    }

    /// The RDP curve of all the steps at `orders`.
    pub fn rdp(&self, orders: &[f64]) -> Result<Vec<f64>> {
        self.validate()?;
        Ok(orders
            .iter()
            .map(|&a| {
                self.steps as f64
                    * subsampled_gaussian(self.sampling_rate, self.noise_multiplier, a)
            })
            .collect())
    }

    /// ε for `delta` with the default orders (ε rounded up to the next float).
    pub fn epsilon(&self, delta: f64) -> Result<f64> {
        let orders = default_orders();
        let (eps, _) = epsilon(&orders, &self.rdp(&orders)?, delta)?;
        Ok(eps.next_up())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn reference() -> Vec<serde_json::Value> {
        serde_json::from_str(include_str!("../../tests/data/dp_accounting_0.6.0.json"))
            .expect("reference JSON")
    }

    #[test]
    fn orders_are_dp_accountings() {
        let o = default_orders();
        assert_eq!(o.len(), DEFAULT_ORDERS);
        assert_eq!(
            (o[0], o[98], o[99], o[151], o[155]),
            (1.1, 10.9, 11.0, 63.0, 1024.0)
        );
        assert!(
            o[9] == 2.0 && o[9].fract() == 0.0,
            "2.0 takes the integer path"
        );
    }

    #[test]
    fn log_ndtr_in_both_tails() {
        // ln Φ(0) = −ln 2; Φ(−5) = 2.866515718791939e-7; ln Φ(−40) = −804.608442013754 (mpmath).
        assert!((log_ndtr(0.0) + std::f64::consts::LN_2).abs() < 1e-15);
        assert!((log_ndtr(-5.0) - 2.866515718791939e-7f64.ln()).abs() < 1e-12);
        assert!((log_ndtr(-40.0) + 804.608442013754).abs() < 1e-9);
        assert!(
            (log_ndtr(-19.999) - log_ndtr(-20.001)).abs() < 0.05,
            "continuous at −20"
        );
        assert!(log_ndtr(10.0) < 0.0 && log_ndtr(10.0) > -1e-22);
    }

    #[test]
    fn matches_dp_accounting_within_one_percent_everywhere() {
        // 130 cells: q 0.001–1, σ 0.5–10, T 1–10^5, δ 1e-5 and 1e-7, and the two published
        // points (q = 0.01, σ = 4, T = 10^4 → ε ≈ 1.0355; the TF Privacy MNIST setting).
        let mut worst = 0.0f64;
        for row in reference() {
            let acc = SubsampledGaussian {
                sampling_rate: row["q"].as_f64().unwrap(),
                noise_multiplier: row["sigma"].as_f64().unwrap(),
                steps: row["steps"].as_u64().unwrap(),
            };
            let want = row["rdp_epsilon"].as_f64().unwrap();
            let got = acc.epsilon(row["delta"].as_f64().unwrap()).unwrap();
            let rel = (got - want).abs() / want;
            assert!(rel < 0.01, "{row}: {got} vs {want}");
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "worst relative difference {worst}");
    }

    #[test]
    fn published_point() {
        let acc = SubsampledGaussian {
            sampling_rate: 0.01,
            noise_multiplier: 4.0,
            steps: 10_000,
        };
        let orders = default_orders();
        let (eps, order) = epsilon(&orders, &acc.rdp(&orders).unwrap(), 1e-5).unwrap();
        assert!((eps - 1.03549).abs() < 1e-4, "{eps}");
        assert_eq!(order, 17.0);
    }

    #[test]
    fn more_steps_or_less_noise_never_lower_epsilon() {
        let mut last = 0.0;
        for steps in [1, 10, 100, 1000, 10_000, 100_000] {
            let e = SubsampledGaussian {
                sampling_rate: 0.02,
                noise_multiplier: 1.2,
                steps,
            }
            .epsilon(1e-5)
            .unwrap();
            assert!(e >= last, "{steps}: {e} < {last}");
            last = e;
        }
        let mut last = f64::INFINITY;
        for sigma in [0.5, 0.7, 1.0, 2.0, 4.0, 10.0] {
            let e = SubsampledGaussian {
                sampling_rate: 0.02,
                noise_multiplier: sigma,
                steps: 1000,
            }
            .epsilon(1e-5)
            .unwrap();
            assert!(e <= last, "σ {sigma}: {e} > {last}");
            last = e;
        }
    }

    #[test]
    fn edge_cases() {
        let none = SubsampledGaussian {
            sampling_rate: 0.0,
            noise_multiplier: 1.0,
            steps: 100,
        };
        assert_eq!(none.epsilon(1e-5).unwrap(), 0.0f64.next_up());
        let no_noise = SubsampledGaussian {
            sampling_rate: 0.1,
            noise_multiplier: 0.0,
            steps: 1,
        };
        assert!(no_noise.epsilon(1e-5).unwrap().is_infinite());
        assert!(
            SubsampledGaussian {
                sampling_rate: 1.5,
                noise_multiplier: 1.0,
                steps: 1
            }
            .epsilon(1e-5)
            .is_err()
        );
        assert!(epsilon(&[2.0], &[1.0], 2.0).is_err());
    }
}
