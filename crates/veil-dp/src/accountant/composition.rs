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
use crate::loss::PrivacyLoss;

/// Basic composition: the sum of the ε and of the δ (exact, see [`PrivacyLoss::compose`]).
pub fn basic(parts: &[PrivacyLoss]) -> Result<PrivacyLoss> {
    parts
        .iter()
        .try_fold(PrivacyLoss::ZERO, |total, p| total.compose(*p))
}

/// Advanced composition of `k` mechanisms that are each `each`-DP, with slack δ'; the ε
/// computed in floating point is rounded up.
pub fn advanced(each: PrivacyLoss, k: u64, delta_slack: f64) -> Result<PrivacyLoss> {
    if !(delta_slack > 0.0 && delta_slack < 1.0) {
        return Err(Error::invalid(
            "delta'",
            format!("{delta_slack} must be in (0, 1)"),
        ));
    }
    let (e, k) = (each.epsilon(), k as f64);
    let epsilon = e * (2.0 * k * (1.0 / delta_slack).ln()).sqrt() + k * e * e.exp_m1();
    PrivacyLoss::at_most(
        epsilon.next_up(),
        (k * each.delta() + delta_slack).next_up(),
    )
}

/// ρ of a pure ε-DP mechanism as zCDP: ε²/2.
pub fn pure_to_zcdp(epsilon: f64) -> Result<f64> {
    PrivacyLoss::at_most(epsilon, 0.0)?;
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

    fn loss(epsilon: f64, delta: f64) -> PrivacyLoss {
        PrivacyLoss::target(epsilon, delta).unwrap()
    }

    #[test]
    fn basic_composition_adds() {
        let t = basic(&[loss(0.5, 1e-6), loss(0.25, 0.0), loss(1.0, 1e-6)]).unwrap();
        assert_eq!(t, loss(1.75, 2e-6));
        assert!(basic(&[loss(0.0, 0.6), loss(0.0, 0.6)]).is_err());
    }

    #[test]
    fn advanced_composition_matches_the_theorem_and_beats_basic_for_many_small_steps() {
        // Dwork–Roth Theorem 3.20 with ε = 0.01, k = 10,000, δ' = 1e-6:
        // 0.01·√(20000·ln 1e6) + 10000·0.01·(e^0.01 − 1) = 5.2565 + 1.00502 = 6.2615.
        let t = advanced(loss(0.01, 0.0), 10_000, 1e-6).unwrap();
        assert!((t.epsilon() - 6.26150).abs() < 1e-4, "{}", t.epsilon());
        assert!(t.epsilon() < 100.0, "basic composition would give 100");
        assert!(advanced(loss(0.1, 0.0), 10, 0.0).is_err());
    }

    #[test]
    fn zcdp_conversions() {
        assert!((pure_to_zcdp(1.0).unwrap() - 0.5).abs() < 1e-15);
        // ρ = 0.5, δ = 1e-5: 0.5 + 2·√(0.5·11.5129) = 5.2985.
        let e = zcdp_to_dp_simple(0.5, 1e-5).unwrap();
        assert!((e - 5.29848).abs() < 1e-4, "{e}");
        assert!(zcdp_to_dp_simple(0.5, 0.0).is_err());
        assert!(pure_to_zcdp(-1.0).is_err());
    }
}
