//! Privacy loss (ε, δ): exact decimals, with arithmetic that never flatters a guarantee.
//!
//! Every (ε, δ) that Veil validates, composes, charges to a budget or prints is a
//! [`PrivacyLoss`]. ε is counted in integer units of 10⁻¹⁸ and δ in units of 10⁻³⁰, so
//! composition is exact addition: a budget of ε = 1 spent in ten releases of ε = 0.1 is spent
//! exactly, neither refused for a rounding error nor overspent by one.
//!
//! Floating point enters and leaves in three places only, each rounded toward the side that
//! keeps the guarantee true (the rule of OpenDP's privacy maps):
//!
//! | conversion | rounding | used for |
//! |---|---|---|
//! | [`PrivacyLoss::target`] | the shortest decimal that reads back as the float (what the user wrote), to the nearest unit | targets and budgets given by a user |
//! | [`PrivacyLoss::at_most`] | *up* to the next unit | guarantees computed by an accountant |
//! | [`PrivacyLoss::epsilon_floor`] | *down* to a float | calibrating a mechanism's noise |
//!
//! A mechanism calibrated to `loss.epsilon_floor()` spends at most `loss`, whatever the
//! float the user typed; an accountant's ε rounded up is at least the true one. The floats
//! that reports show ([`PrivacyLoss::epsilon`], [`PrivacyLoss::delta`]) are the nearest.
//!
//! | valid input | range |
//! |---|---|
//! | ε | finite, 0 ≤ ε ≤ 10⁹; 0 or at least 10⁻¹⁸ |
//! | δ | 0 ≤ δ < 1; 0 or at least 10⁻³⁰ |

use std::fmt;

use num_bigint::BigUint;
use num_traits::{ToPrimitive, Zero};

use crate::error::{Error, Result};

/// Decimal places of ε: it is counted in units of 10⁻¹⁸.
const EPSILON_PLACES: u32 = 18;
/// Decimal places of δ: it is counted in units of 10⁻³⁰.
const DELTA_PLACES: u32 = 30;
/// Units of ε per 1.
const EPSILON_SCALE: u128 = 10u128.pow(EPSILON_PLACES);
/// Units of δ per 1.
const DELTA_SCALE: u128 = 10u128.pow(DELTA_PLACES);
/// The largest ε accepted.
pub(crate) const MAX_EPSILON: f64 = 1e9;

/// A privacy loss (ε, δ), valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PrivacyLoss {
    epsilon: u128,
    delta: u128,
}

/// How a float is turned into units.
#[derive(Clone, Copy)]
enum Rounding {
    Nearest,
    Up,
}

/// `x · 10^places` in whole units, rounded as asked; `x` finite and non-negative.
fn to_units(x: f64, places: u32, rounding: Rounding) -> Option<u128> {
    match rounding {
        Rounding::Up => binary_units_up(x, 10u128.pow(places)),
        Rounding::Nearest => decimal_units(x, places),
    }
}

/// The float's exact value times `scale`, rounded up.
fn binary_units_up(x: f64, scale: u128) -> Option<u128> {
    let (mantissa, exponent) = decompose(x);
    let exact = BigUint::from(mantissa) * BigUint::from(scale);
    let units = if exponent >= 0 {
        exact << exponent.unsigned_abs()
    } else {
        let shift = exponent.unsigned_abs();
        let floor = &exact >> shift;
        let rest = exact - (&floor << shift);
        if rest.is_zero() { floor } else { floor + 1u8 }
    };
    units.to_u128()
}

/// The shortest decimal that reads back as `x` (what the user typed, for any decimal of at
/// most 17 significant digits), times `10^places`, rounded to the nearest unit.
fn decimal_units(x: f64, places: u32) -> Option<u128> {
    let text = format!("{x:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i64 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let shift = exponent - fraction.len() as i64 + i64::from(places);
    if shift >= 0 {
        digits.checked_mul(10u128.checked_pow(u32::try_from(shift).ok()?)?)
    } else if shift < -38 {
        Some(0)
    } else {
        let divisor = 10u128.pow(u32::try_from(-shift).ok()?);
        let (floor, rest) = (digits / divisor, digits % divisor);
        Some(if rest * 2 >= divisor {
            floor + 1
        } else {
            floor
        })
    }
}

/// `x = mantissa · 2^exponent` exactly, for finite non-negative `x`.
fn decompose(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    }
}

/// Whether the float `x` is at most `units / scale`, exactly.
fn float_at_most(x: f64, units: u128, scale: u128) -> bool {
    let (mantissa, exponent) = decompose(x);
    let lhs = BigUint::from(mantissa) * BigUint::from(scale);
    let rhs = BigUint::from(units);
    if exponent >= 0 {
        (lhs << exponent.unsigned_abs()) <= rhs
    } else {
        lhs <= (rhs << exponent.unsigned_abs())
    }
}

/// The largest float not above `units / scale`.
fn floor_float(units: u128, scale: u128) -> f64 {
    let mut x = units as f64 / scale as f64;
    while x > 0.0 && !float_at_most(x, units, scale) {
        x = x.next_down();
    }
    while float_at_most(x.next_up(), units, scale) {
        x = x.next_up();
    }
    x
}

fn check(epsilon: f64, delta: f64) -> Result<()> {
    if !(epsilon.is_finite() && (0.0..=MAX_EPSILON).contains(&epsilon)) {
        return Err(Error::invalid(
            "epsilon",
            format!("{epsilon} must be a number from 0 to {MAX_EPSILON}"),
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

impl PrivacyLoss {
    /// No loss at all.
    pub const ZERO: PrivacyLoss = PrivacyLoss {
        epsilon: 0,
        delta: 0,
    };

    fn from_floats(epsilon: f64, delta: f64, rounding: Rounding) -> Result<PrivacyLoss> {
        check(epsilon, delta)?;
        let too_large = || Error::invalid("epsilon", format!("{epsilon} is too large"));
        let loss = PrivacyLoss {
            epsilon: to_units(epsilon, EPSILON_PLACES, rounding).ok_or_else(too_large)?,
            delta: to_units(delta, DELTA_PLACES, rounding).ok_or_else(too_large)?,
        };
        if loss.delta >= DELTA_SCALE {
            return Err(Error::invalid(
                "delta",
                format!("{delta} rounds to 1; δ must be below 1"),
            ));
        }
        // A positive value that rounds to nothing would silently change the guarantee's kind
        // (an approximate-DP δ becoming pure DP turns off partition selection).
        if epsilon > 0.0 && loss.epsilon == 0 {
            return Err(Error::invalid(
                "epsilon",
                format!("{epsilon} is below the smallest ε Veil accounts (1e-18); use 0 or more"),
            ));
        }
        if delta > 0.0 && loss.delta == 0 {
            return Err(Error::invalid(
                "delta",
                format!("{delta} is below the smallest δ Veil accounts (1e-30); use 0 or more"),
            ));
        }
        Ok(loss)
    }

    /// A target or budget a user asked for: the decimal they wrote (the shortest decimal
    /// that reads back as the float), to 18 places of ε and 30 of δ.
    pub fn target(epsilon: f64, delta: f64) -> Result<PrivacyLoss> {
        PrivacyLoss::from_floats(epsilon, delta, Rounding::Nearest)
    }

    /// A guarantee computed in floating point (an accountant's ε): rounded up, so that the
    /// loss it stands for is never larger than this.
    pub fn at_most(epsilon: f64, delta: f64) -> Result<PrivacyLoss> {
        PrivacyLoss::from_floats(epsilon, delta, Rounding::Up)
    }

    /// ε, to the nearest float (for reports).
    pub fn epsilon(&self) -> f64 {
        self.epsilon as f64 / EPSILON_SCALE as f64
    }

    /// δ, to the nearest float (for reports).
    pub fn delta(&self) -> f64 {
        self.delta as f64 / DELTA_SCALE as f64
    }

    /// The largest float ε not above this one: what a mechanism is calibrated to, so that it
    /// spends at most this loss.
    pub fn epsilon_floor(&self) -> f64 {
        floor_float(self.epsilon, EPSILON_SCALE)
    }

    /// The largest float δ not above this one.
    pub fn delta_floor(&self) -> f64 {
        floor_float(self.delta, DELTA_SCALE)
    }

    /// Basic composition (Dwork and Roth 2014, Theorem 3.16): ε and δ add up, exactly.
    /// Refused if δ would reach 1 (the guarantee would say nothing).
    pub fn compose(self, other: PrivacyLoss) -> Result<PrivacyLoss> {
        let delta = self.delta + other.delta;
        if delta >= DELTA_SCALE {
            return Err(Error::invalid(
                "delta",
                "the composed δ reaches 1: the guarantee would say nothing",
            ));
        }
        Ok(PrivacyLoss {
            epsilon: self.epsilon.saturating_add(other.epsilon),
            delta,
        })
    }

    /// Whether this loss is at least `other` in both ε and δ.
    pub fn covers(&self, other: &PrivacyLoss) -> bool {
        other.epsilon <= self.epsilon && other.delta <= self.delta
    }

    /// What is left of this loss after `spent`, or `None` if `spent` is larger in ε or δ.
    pub fn checked_sub(&self, spent: &PrivacyLoss) -> Option<PrivacyLoss> {
        Some(PrivacyLoss {
            epsilon: self.epsilon.checked_sub(spent.epsilon)?,
            delta: self.delta.checked_sub(spent.delta)?,
        })
    }

    /// What is left of this loss after `spent`, never below zero.
    pub fn saturating_sub(&self, spent: &PrivacyLoss) -> PrivacyLoss {
        PrivacyLoss {
            epsilon: self.epsilon.saturating_sub(spent.epsilon),
            delta: self.delta.saturating_sub(spent.delta),
        }
    }

    /// ε split into `parts` equal shares, each rounded down, with no δ: `parts` releases of
    /// the share compose to at most this ε.
    pub fn epsilon_share(&self, parts: usize) -> PrivacyLoss {
        PrivacyLoss {
            epsilon: self.epsilon / parts.max(1) as u128,
            delta: 0,
        }
    }

    /// What this loss is for a group of `k` units: a mechanism that is (ε, δ)-DP for one
    /// unit is (kε, k·e^{(k−1)ε}·δ)-DP for `k` (group privacy; Vadhan 2017, "The Complexity
    /// of Differential Privacy", Lemma 2.2; Dwork and Roth 2014, Theorem 2.2 for δ = 0). ε is
    /// multiplied exactly; δ's factor is computed in floating point from ε and δ rounded up,
    /// and the result rounded up again. Refused when δ would reach 1.
    pub fn for_groups(&self, k: u64) -> Result<PrivacyLoss> {
        if k <= 1 {
            return Ok(*self);
        }
        let epsilon = self
            .epsilon
            .checked_mul(u128::from(k))
            .filter(|&e| e <= (MAX_EPSILON as u128) * EPSILON_SCALE)
            .ok_or_else(|| {
                Error::invalid(
                    "epsilon",
                    format!("{k} × ε = {} is too large", self.epsilon()),
                )
            })?;
        if self.delta == 0 {
            return Ok(PrivacyLoss { epsilon, delta: 0 });
        }
        let up = |x: f64| x * (1.0 + 4.0 * f64::EPSILON);
        let eps = up(self.epsilon as f64 / EPSILON_SCALE as f64);
        let delta = up(self.delta as f64 / DELTA_SCALE as f64);
        let group_delta = up(delta * k as f64 * ((k.saturating_sub(1)) as f64 * eps).exp());
        if group_delta.is_nan() || group_delta >= 1.0 {
            return Err(Error::invalid(
                "delta",
                format!(
                    "for groups of {k}, δ = {} becomes {group_delta:.3e}: the guarantee would say nothing",
                    self.delta()
                ),
            ));
        }
        let rounded = PrivacyLoss::at_most(0.0, group_delta)?;
        Ok(PrivacyLoss {
            epsilon,
            delta: rounded.delta,
        })
    }

    /// This loss's δ alone.
    pub fn delta_only(&self) -> PrivacyLoss {
        PrivacyLoss {
            epsilon: 0,
            delta: self.delta,
        }
    }

    /// The exact units, as stored: `(ε in 10⁻¹⁸, δ in 10⁻³⁰)`.
    pub fn units(&self) -> (u128, u128) {
        (self.epsilon, self.delta)
    }

    /// A loss from stored units (checked as [`PrivacyLoss::compose`] would).
    pub fn from_units(epsilon: u128, delta: u128) -> Result<PrivacyLoss> {
        if delta >= DELTA_SCALE {
            return Err(Error::invalid("delta", "stored δ is 1 or more"));
        }
        Ok(PrivacyLoss { epsilon, delta })
    }
}

impl fmt::Display for PrivacyLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ε = {}, δ = {}", self.epsilon(), self.delta())
    }
}

impl serde::Serialize for PrivacyLoss {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PrivacyLoss", 2)?;
        st.serialize_field("epsilon", &self.epsilon())?;
        st.serialize_field("delta", &self.delta())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_privacy_multiplies_epsilon_exactly_and_inflates_delta() {
        let pure = PrivacyLoss::target(0.1, 0.0).unwrap();
        assert_eq!(
            pure.for_groups(5).unwrap(),
            PrivacyLoss::target(0.5, 0.0).unwrap()
        );
        assert_eq!(pure.for_groups(1).unwrap(), pure);
        let approx = PrivacyLoss::target(1.0, 1e-6).unwrap();
        let g = approx.for_groups(3).unwrap();
        assert_eq!(g.epsilon(), 3.0);
        // 3 · e² · 1e-6 = 2.2167e-5, rounded up.
        let expected = 3.0 * 2f64.exp() * 1e-6;
        assert!(
            g.delta() >= expected && g.delta() < expected * (1.0 + 1e-12),
            "{g}"
        );
        assert!(approx.for_groups(40).is_err(), "δ would pass 1");
        assert!(
            PrivacyLoss::target(1e9, 0.0)
                .unwrap()
                .for_groups(2)
                .is_err()
        );
    }
    use proptest::prelude::*;

    #[test]
    fn a_positive_value_never_rounds_to_nothing() {
        // δ = 1e-31 would otherwise become δ = 0: pure DP, and no partition selection.
        assert!(PrivacyLoss::target(1.0, 1e-31).is_err());
        assert!(PrivacyLoss::target(1e-19, 0.0).is_err());
        assert_eq!(PrivacyLoss::target(1.0, 1e-30).unwrap().units().1, 1);
        assert_eq!(PrivacyLoss::target(1.0, 0.0).unwrap().units().1, 0);
        // Rounding up never reaches zero.
        assert_eq!(
            PrivacyLoss::at_most(1e-300, 1e-300).unwrap().units(),
            (1, 1)
        );
    }

    #[test]
    fn ten_tenths_are_exactly_one() {
        let tenth = PrivacyLoss::target(0.1, 0.0).unwrap();
        let mut total = PrivacyLoss::ZERO;
        for _ in 0..10 {
            total = total.compose(tenth).unwrap();
        }
        let one = PrivacyLoss::target(1.0, 0.0).unwrap();
        assert_eq!(total, one);
        assert!(one.covers(&total));
        // One unit more is refused: no slack.
        let more = total
            .compose(PrivacyLoss::from_units(1, 0).unwrap())
            .unwrap();
        assert!(!one.covers(&more));
    }

    #[test]
    fn computed_guarantees_round_up_and_calibration_rounds_down() {
        // The float nearest 0.1 is above 0.1: as a computed ε it costs one unit more.
        let computed = PrivacyLoss::at_most(0.1, 0.0).unwrap();
        let target = PrivacyLoss::target(0.1, 0.0).unwrap();
        assert_eq!(target.units().0, 100_000_000_000_000_000);
        assert!(computed.units().0 > target.units().0);
        // The float a mechanism is calibrated to is at most the decimal 0.1.
        let floor = target.epsilon_floor();
        assert!(floor < 0.1 && floor.next_up() == 0.1, "{floor}");
        assert_eq!(PrivacyLoss::target(2.0, 0.0).unwrap().epsilon_floor(), 2.0);
        // δ keeps its small values.
        let d = PrivacyLoss::target(1.0, 1e-25).unwrap();
        assert!(d.delta() > 0.0 && d.delta_floor() <= 1e-25);
    }

    #[test]
    fn invalid_losses_are_refused() {
        for (e, d) in [
            (-1.0, 0.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, 0.0),
            (2e9, 0.0),
            (1.0, 1.0),
            (1.0, -1e-9),
        ] {
            assert!(PrivacyLoss::target(e, d).is_err(), "{e} {d}");
        }
        let half = PrivacyLoss::target(0.0, 0.5).unwrap();
        assert!(half.compose(half).is_err(), "δ reaching 1");
    }

    proptest! {
        #[test]
        fn the_floor_is_the_largest_float_not_above(e in 0.0f64..1e6, d in 0.0f64..0.999) {
            let loss = PrivacyLoss::target(e, d).unwrap();
            let (fe, fd) = (loss.epsilon_floor(), loss.delta_floor());
            let (ue, ud) = loss.units();
            prop_assert!(float_at_most(fe, ue, EPSILON_SCALE));
            prop_assert!(!float_at_most(fe.next_up(), ue, EPSILON_SCALE));
            prop_assert!(float_at_most(fd, ud, DELTA_SCALE));
            prop_assert!(!float_at_most(fd.next_up(), ud, DELTA_SCALE));
            // Rounded up, a computed guarantee covers the float it came from.
            let up = PrivacyLoss::at_most(e, d).unwrap();
            prop_assert!(float_at_most(e, up.units().0, EPSILON_SCALE));
            prop_assert!(float_at_most(d, up.units().1, DELTA_SCALE));
        }

        #[test]
        fn shares_compose_to_at_most_the_whole(e in 0.0f64..100.0, k in 1usize..50) {
            let whole = PrivacyLoss::target(e, 0.0).unwrap();
            let share = whole.epsilon_share(k);
            let mut total = PrivacyLoss::ZERO;
            for _ in 0..k {
                total = total.compose(share).unwrap();
            }
            prop_assert!(whole.covers(&total));
        }
    }
}
