//! Privacy accountants: how much privacy a sequence of releases has spent.
//!
//! * [`composition`] — basic and advanced composition of (ε, δ)-DP, and zCDP.
//! * [`rdp`] — Rényi DP of the Poisson-subsampled Gaussian (DP-SGD), as `dp_accounting` 0.6.
//! * [`pld`] — the privacy loss distribution of the same mechanism: the tight accountant.
//!
//! [`epsilon`] and [`calibrate`] put the two DP-SGD accountants behind one switch.

pub mod composition;
pub mod pld;
pub mod rdp;

use crate::error::{Error, Result};
pub use rdp::SubsampledGaussian;

/// Which accountant analyses the subsampled Gaussian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accountant {
    /// Rényi DP (Mironov, Talwar and Zhang 2019): fast, slightly loose.
    Rdp,
    /// Privacy loss distributions: tight (ε typically 5–10% lower), slower.
    Pld,
}

impl Accountant {
    /// The accountant's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Accountant::Rdp => "rdp",
            Accountant::Pld => "pld",
        }
    }
}

impl std::str::FromStr for Accountant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Accountant> {
        match s {
            "rdp" => Ok(Accountant::Rdp),
            "pld" => Ok(Accountant::Pld),
            other => Err(Error::invalid(
                "accountant",
                format!("\"{other}\" is not one of rdp, pld"),
            )),
        }
    }
}

/// ε for `delta` after the mechanism's steps, by `accountant` (rounded up).
pub fn epsilon(accountant: Accountant, mechanism: &SubsampledGaussian, delta: f64) -> Result<f64> {
    epsilon_after(accountant, mechanism, None, delta)
}

/// ε for `delta` of a Gaussian mechanism with noise multiplier `before` (for example the
/// private statistics a model is standardised with) followed by the mechanism's steps.
/// RDP adds the Gaussian's curve α/(2z²) to the steps' before converting; PLD composes the
/// two by basic composition, each at δ/2.
pub fn epsilon_after(
    accountant: Accountant,
    mechanism: &SubsampledGaussian,
    before: Option<f64>,
    delta: f64,
) -> Result<f64> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::invalid(
            "delta",
            format!("{delta} must be in (0, 1)"),
        ));
    }
    if let Some(z) = before
        && !(z.is_finite() && z > 0.0)
    {
        return Err(Error::invalid("noise", format!("{z} must be positive")));
    }
    match (accountant, before) {
        (Accountant::Rdp, None) => mechanism.epsilon(delta),
        (Accountant::Rdp, Some(z)) => {
            let orders = rdp::default_orders();
            let curve: Vec<f64> = mechanism
                .rdp(&orders)?
                .iter()
                .zip(&orders)
                .map(|(r, a)| r + a / (2.0 * z * z))
                .collect();
            Ok(rdp::epsilon(&orders, &curve, delta)?.0.next_up())
        }
        (Accountant::Pld, None) => pld::epsilon(mechanism, delta),
        (Accountant::Pld, Some(z)) => pld::epsilon_after(mechanism, z, delta),
    }
}

/// The smallest noise multiplier (to 10⁻⁶) at which `steps` steps with sampling rate
/// `sampling_rate` spend at most `target_epsilon` at `delta`. Like `dp_accounting`'s
/// `calibrate_dp_mechanism`: brackets [0, 1], [1, 3], [3, 7], … then narrows the bracket
/// (regula falsi, Illinois variant, with bisection where ε is infinite); the answer is
/// the bracket's upper end, so its ε never exceeds the target.
pub fn calibrate(
    accountant: Accountant,
    sampling_rate: f64,
    steps: u64,
    target_epsilon: f64,
    delta: f64,
) -> Result<f64> {
    calibrate_after(
        accountant,
        sampling_rate,
        steps,
        None,
        target_epsilon,
        delta,
    )
}

/// [`calibrate`] for steps that follow a Gaussian mechanism with noise multiplier `before`
/// (see [`epsilon_after`]).
pub fn calibrate_after(
    accountant: Accountant,
    sampling_rate: f64,
    steps: u64,
    before: Option<f64>,
    target_epsilon: f64,
    delta: f64,
) -> Result<f64> {
    if !(target_epsilon.is_finite() && target_epsilon > 0.0) {
        return Err(Error::invalid(
            "epsilon",
            format!("{target_epsilon} must be positive and finite"),
        ));
    }
    let eps = |sigma: f64| {
        epsilon_after(
            accountant,
            &SubsampledGaussian {
                sampling_rate,
                noise_multiplier: sigma,
                steps,
            },
            before,
            delta,
        )
    };
    let f = |sigma: f64| -> Result<f64> { Ok(eps(sigma)? - target_epsilon) };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mut f_hi = f(hi)?;
    let mut tries = 0;
    while f_hi > 0.0 {
        tries += 1;
        if tries > 30 {
            return Err(Error::invalid(
                "epsilon",
                format!("no noise multiplier below 2^31 reaches ε = {target_epsilon}"),
            ));
        }
        lo = hi;
        hi = 2.0 * hi + 1.0;
        f_hi = f(hi)?;
    }
    let mut f_lo = f(lo)?;
    let mut side = 0i8;
    while hi - lo > 1e-6 {
        let mid = if f_lo.is_finite() && f_lo > f_hi {
            // Regula falsi on the decreasing function; Illinois halving keeps it moving.
            let m = hi - f_hi * (hi - lo) / (f_hi - f_lo);
            m.clamp(
                lo + 0.1 * (hi - lo).min(1e-7),
                hi - (hi - lo).min(1e-7) * 0.1,
            )
        } else {
            0.5 * (lo + hi)
        };
        let f_mid = f(mid)?;
        if f_mid > 0.0 {
            lo = mid;
            f_lo = f_mid;
            if side == -1 {
                f_hi /= 2.0;
            }
            side = -1;
        } else {
            hi = mid;
            f_hi = f_mid;
            if side == 1 {
                f_lo /= 2.0;
            }
            side = 1;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_matches_dp_accounting() {
        // dp_accounting 0.6.0 calibrate_dp_mechanism (tolerance 1e-6).
        for (acc, q, t, eps, delta, want) in [
            (Accountant::Rdp, 0.01, 10_000, 1.0, 1e-5, 4.125804),
            (
                Accountant::Rdp,
                256.0 / 60_000.0,
                14_062,
                3.0,
                1e-5,
                1.014001,
            ),
            (Accountant::Rdp, 1.0, 100, 8.0, 1e-5, 6.376703),
            (Accountant::Pld, 0.01, 10_000, 1.0, 1e-5, 3.813240),
            (Accountant::Pld, 0.001, 1000, 0.5, 1e-6, 0.790254),
        ] {
            let sigma = calibrate(acc, q, t, eps, delta).unwrap();
            assert!(
                (sigma - want).abs() / want < 0.01,
                "{acc:?} q={q}: {sigma} vs {want}"
            );
            let spent = epsilon(
                acc,
                &SubsampledGaussian {
                    sampling_rate: q,
                    noise_multiplier: sigma,
                    steps: t,
                },
                delta,
            )
            .unwrap();
            assert!(spent <= eps, "{spent} > {eps}");
        }
        assert!(calibrate(Accountant::Rdp, 0.01, 100, 0.0, 1e-5).is_err());
        assert!("rdq".parse::<Accountant>().is_err());
    }
}
