//! Composition of (ε, δ)-differential privacy and of zero-concentrated DP.
//!
//! * Basic composition (Dwork, McSherry, Nissim and Smith 2006; Dwork and Roth 2014,
//!   Theorem 3.16): k mechanisms that are (εᵢ, δᵢ)-DP together are (Σεᵢ, Σδᵢ)-DP.
//! * Advanced composition (Dwork, Rothblum and Vadhan 2010; Dwork and Roth 2014,
//!   Theorem 3.20): k mechanisms that are each (ε, δ)-DP are, for any δ' > 0,
//!   (ε·√(2k·ln(1/δ')) + k·ε·(e^ε − 1), k·δ + δ')-DP.
//! * zCDP (Bun and Steinke 2016): ρ-zCDP mechanisms compose by adding ρ; pure ε-DP implies
//!   (ε²/2)-zCDP (their Proposition 1.4); ρ-zCDP is the Rényi-DP curve ε(α) = ρ·α, which
//!   [`crate::accountant::rdp`] converts to (ε, δ) with the conversion of Balle et al. 2020
//!   (tighter than Bun and Steinke's ρ + 2√(ρ·ln(1/δ)), which is also given).
//!
//! Every ε returned is rounded up to the next float, so rounding never makes a guarantee
//! look better than it is.

use crate::error::{Error, Result};

/// A privacy guarantee (ε, δ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsDelta {
    /// ε ≥ 0.
    pub epsilon: f64,
    /// δ in [0, 1).
    pub delta: f64,
}

fn check(eps: f64, delta: f64) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::invalid(
            "epsilon",
            format!("{eps} must be finite and ≥ 0"),
        ));
    }
    if !(0.0..1.0).contains(&delta) {
        return Err(Error::invalid(
            "delta",
            format!("{delta} must be in [0, 1)"),
        ));
    }
    Ok(())
}

/// Basic composition: the sum of the ε and of the δ.
pub fn basic(parts: &[EpsDelta]) -> Result<EpsDelta> {
    let mut total = EpsDelta {
        epsilon: 0.0,
        delta: 0.0,
    };
    for p in parts {
        check(p.epsilon, p.delta)?;
        total.epsilon += p.epsilon;
        total.delta += p.delta;
    }
    total.epsilon = total.epsilon.next_up();
    total.delta = total.delta.next_up().min(1.0);
    Ok(total)
}

/// Advanced composition of `k` mechanisms that are each (ε, δ)-DP, with slack δ'.
pub fn advanced(each: EpsDelta, k: u64, delta_slack: f64) -> Result<EpsDelta> {
    check(each.epsilon, each.delta)?;
    if !(delta_slack > 0.0 && delta_slack < 1.0) {
        return Err(Error::invalid(
            "delta'",
            format!("{delta_slack} must be in (0, 1)"),
        ));
    }
    let (e, k) = (each.epsilon, k as f64);
    let epsilon = e * (2.0 * k * (1.0 / delta_slack).ln()).sqrt() + k * e * e.exp_m1();
    Ok(EpsDelta {
        epsilon: epsilon.next_up(),
        delta: (k * each.delta + delta_slack).next_up().min(1.0),
    })
}

/// ρ of a pure ε-DP mechanism as zCDP: ε²/2.
pub fn pure_to_zcdp(epsilon: f64) -> Result<f64> {
    check(epsilon, 0.0)?;
    Ok((epsilon * epsilon / 2.0).next_up())
}

/// Bun and Steinke's conversion (Proposition 1.3): ρ-zCDP ⇒ (ρ + 2√(ρ·ln(1/δ)), δ)-DP.
pub fn zcdp_to_dp_simple(rho: f64, delta: f64) -> Result<f64> {
    if !(rho.is_finite() && rho >= 0.0) {
        return Err(Error::invalid(
            "rho",
            format!("{rho} must be finite and ≥ 0"),
        ));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::invalid(
            "delta",
            format!("{delta} must be in (0, 1)"),
        ));
    }
    Ok((rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()).next_up())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_composition_adds() {
        let t = basic(&[
            EpsDelta {
                epsilon: 0.5,
                delta: 1e-6,
            },
            EpsDelta {
                epsilon: 0.25,
                delta: 0.0,
            },
            EpsDelta {
                epsilon: 1.0,
                delta: 1e-6,
            },
        ])
        .unwrap();
        assert!(t.epsilon >= 1.75 && t.epsilon < 1.75 + 1e-12);
        assert!(t.delta >= 2e-6 && t.delta < 2e-6 + 1e-18);
        assert!(
            basic(&[EpsDelta {
                epsilon: -1.0,
                delta: 0.0
            }])
            .is_err()
        );
        assert!(
            basic(&[EpsDelta {
                epsilon: 1.0,
                delta: 1.0
            }])
            .is_err()
        );
    }

    #[test]
    fn advanced_composition_matches_the_theorem_and_beats_basic_for_many_small_steps() {
        // Dwork–Roth Theorem 3.20 with ε = 0.01, k = 10,000, δ' = 1e-6:
        // 0.01·√(20000·ln 1e6) + 10000·0.01·(e^0.01 − 1) = 5.2565 + 1.00502 = 6.2615.
        let t = advanced(
            EpsDelta {
                epsilon: 0.01,
                delta: 0.0,
            },
            10_000,
            1e-6,
        )
        .unwrap();
        assert!((t.epsilon - 6.26150).abs() < 1e-4, "{}", t.epsilon);
        assert!(t.epsilon < 100.0, "basic composition would give 100");
        assert!(
            advanced(
                EpsDelta {
                    epsilon: 0.1,
                    delta: 0.0
                },
                10,
                0.0
            )
            .is_err()
        );
    }

    #[test]
    fn zcdp_conversions() {
        assert!((pure_to_zcdp(1.0).unwrap() - 0.5).abs() < 1e-15);
        // ρ = 0.5, δ = 1e-5: 0.5 + 2·√(0.5·11.5129) = 5.2985.
        let e = zcdp_to_dp_simple(0.5, 1e-5).unwrap();
        assert!((e - 5.29848).abs() < 1e-4, "{e}");
        assert!(zcdp_to_dp_simple(0.5, 0.0).is_err());
    }
}
