//! Exact Bernoulli trials for probabilities that are not rational, such as c·e^(−γ)/w.
//!
//! A trial of Bernoulli(ρ) compares a uniform U ∈ [0, 1) with ρ. It needs only as many
//! digits of ρ as it takes for U to differ from it: one 64-bit word decides with probability
//! 1 − 2^-64, and only if U's first 64 bits equal ρ's are more digits worked out. So ρ need
//! not be rational: it is enough to have, for any precision p, integers lo ≤ 2^p·ρ ≤ hi
//! that close in on it ([`Ratio::bounds`]). They come from exact integer arithmetic
//! (`num-bigint`) on the Taylor series of exp, every term rounded outwards — no floating
//! point, so the trial has exactly the probability ρ.

use num_bigint::{BigInt, BigUint};
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::noise::NoiseRng;

/// ⌈x / 2^s⌉.
fn shift_up(x: &BigUint, s: u64) -> BigUint {
    if s == 0 {
        return x.clone();
    }
    (x + ((BigUint::one() << s) - 1u32)) >> s
}

/// ⌈x / y⌉ for y > 0.
fn div_up(x: &BigUint, y: &BigUint) -> BigUint {
    (x + y - 1u32) / y
}

/// lo ≤ 2^prec·e^(−f) ≤ hi for f = num/den ∈ [0, 1]. The Taylor series' terms fⁿ/n! do not
/// increase, so the sum of the first N of them is within the next term of e^(−f); each
/// term is computed from the one before with its quotient rounded down (for lo) and up
/// (for hi), so the bounds hold exactly.
fn exp_neg_unit(num: &BigUint, den: &BigUint, prec: u64) -> (BigUint, BigUint) {
    let one = BigUint::one() << prec;
    let (mut t_lo, mut t_hi) = (one.clone(), one.clone());
    let (mut sum_lo, mut sum_hi) = (BigInt::from(one.clone()), BigInt::from(one));
    let mut n = 1u32;
    loop {
        let step = den * n;
        t_lo = &t_lo * num / &step;
        t_hi = div_up(&(&t_hi * num), &step);
        if t_hi.is_zero() {
            break;
        }
        if t_hi <= BigUint::one() {
            // The remainder after these terms is at most this term: one unit.
            sum_lo -= BigInt::from(t_hi.clone());
            sum_hi += BigInt::from(t_hi);
            break;
        }
        if n % 2 == 1 {
            sum_lo -= BigInt::from(t_hi.clone());
            sum_hi -= BigInt::from(t_lo.clone());
        } else {
            sum_lo += BigInt::from(t_lo.clone());
            sum_hi += BigInt::from(t_hi.clone());
        }
        n += 1;
    }
    let unsigned = |v: BigInt| {
        if v.is_negative() {
            BigUint::zero()
        } else {
            v.magnitude().clone()
        }
    };
    (unsigned(sum_lo), unsigned(sum_hi))
}

/// lo ≤ 2^prec·e^(−num/den) ≤ hi (den > 0): e^(−γ) = (e^(−1))^⌊γ⌋ · e^(−(γ − ⌊γ⌋)), each factor
/// bounded by [`exp_neg_unit`] with 64 guard bits, the products rounded outwards.
pub(crate) fn exp_neg(num: u128, den: u128, prec: u64) -> (BigUint, BigUint) {
    debug_assert!(den > 0);
    let whole = u32::try_from(num / den).expect("exponent below 2^32");
    let guard = 64 + 2 * u64::from(32 - whole.leading_zeros());
    let wp = prec + guard;
    let den_big = BigUint::from(den);
    let (mut lo, mut hi) = exp_neg_unit(&BigUint::from(num % den), &den_big, wp);
    if whole > 0 {
        let (e_lo, e_hi) = exp_neg_unit(&den_big, &den_big, wp);
        let s = wp * u64::from(whole);
        lo = (lo * e_lo.pow(whole)) >> s;
        hi = shift_up(&(hi * e_hi.pow(whole)), s);
    }
    (lo >> guard, shift_up(&hi, guard))
}

/// Bounds on 2^prec·e^(−j²·g) for j = 0, 1, …, n, where g = num/den: each from the one
/// before, e^(−(j+1)²g) = e^(−j²g)·e^(−(2j+1)g) with e^(−(2j+1)g) = e^(−(2j−1)g)·e^(−2g), the
/// products rounded outwards — two multiplications a term instead of a series each. The
/// rounding errors add up, one unit per product: 256 guard bits leave the bounds within
/// 2^-100 relative for the n ≤ 2,000 and j²g ≤ 60 of a table.
pub(crate) fn exp_neg_squares(
    num: u128,
    den: u128,
    n: usize,
    prec: u64,
) -> Vec<(BigUint, BigUint)> {
    let wp = prec + 256;
    let product = |a: &(BigUint, BigUint), b: &(BigUint, BigUint)| {
        ((&a.0 * &b.0) >> wp, shift_up(&(&a.1 * &b.1), wp))
    };
    let twice = exp_neg(2 * num, den, wp);
    let mut step = exp_neg(num, den, wp);
    let mut term = (BigUint::one() << wp, BigUint::one() << wp);
    let mut out = Vec::with_capacity(n + 1);
    for _ in 0..=n {
        out.push((&term.0 >> 256u32, shift_up(&term.1, 256)));
        term = product(&term, &step);
        step = product(&step, &twice);
    }
    out
}

/// ρ = (num/den) · e^(−γ) [/ (1 − e^(−x))], a probability in (0, 1] known exactly by its
/// rational parameters: γ = gamma.0/gamma.1 and x = geometric.0/geometric.1.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ratio {
    pub num: u128,
    pub den: u128,
    pub gamma: (u128, u128),
    pub geometric: Option<(u128, u128)>,
}

fn bits(v: u128) -> u64 {
    u64::from(128 - v.leading_zeros())
}

impl Ratio {
    /// Integers lo ≤ 2^prec·ρ ≤ hi, where hi − lo shrinks as prec grows.
    pub fn bounds(&self, prec: u64) -> (BigUint, BigUint) {
        // Extra working precision for what the division by den and by 1 − e^(−x) magnify.
        let mut extra = 64 + bits(self.num).saturating_sub(bits(self.den));
        if let Some((x_num, x_den)) = self.geometric {
            extra += bits(x_den).saturating_sub(bits(x_num)) + 2;
        }
        let wp = prec + extra;
        let (e_lo, e_hi) = exp_neg(self.gamma.0, self.gamma.1, wp);
        let one = BigUint::one() << wp;
        // The denominator den·(1 − e^(−x)), also at precision wp.
        let (d_lo, d_hi) = match self.geometric {
            Some((x_num, x_den)) => {
                let (x_lo, x_hi) = exp_neg(x_num, x_den, wp);
                let den = BigUint::from(self.den);
                (&den * (&one - x_hi.min(one.clone())), den * (&one - x_lo))
            }
            None => {
                let d = BigUint::from(self.den) << wp;
                (d.clone(), d)
            }
        };
        let cap = BigUint::one() << prec;
        let lo = ((e_lo * self.num) << prec) / d_hi;
        let hi = if d_lo.is_zero() {
            cap.clone()
        } else {
            div_up(&((e_hi * self.num) << prec), &d_lo)
        };
        // ρ ≤ 1 by construction.
        (lo.min(cap.clone()), hi.min(cap))
    }

    /// How a trial against this ρ starts (ρ < 1 must be irrational, so that the bounds
    /// eventually settle every digit).
    pub fn start(&self) -> Start {
        self.start_from(self.bounds(128))
    }

    /// [`Ratio::start`] given bounds lo ≤ 2^128·ρ ≤ hi already known.
    pub fn start_from(&self, (lo, hi): (BigUint, BigUint)) -> Start {
        if self.gamma.0 == 0 && self.geometric.is_none() && self.num == self.den {
            return Start::Certain;
        }
        // ρ ≥ 1 − 2^-k for the k leading ones of its lower bound.
        let missing = (BigUint::one() << 64u32) - (&lo >> 64u32);
        let ones = 64 - missing.bits().min(64) as u32;
        if ones >= MIN_ONES {
            return Start::Ones(ones.min(MAX_ONES));
        }
        let (mut lo, mut hi, mut prec): (BigUint, BigUint, u64) = (lo, hi, 128);
        loop {
            let (word_lo, word_hi) = (&lo >> (prec - 64), &hi >> (prec - 64));
            if word_lo == word_hi {
                return Start::Word(word_lo.to_u64().expect("ρ < 1"));
            }
            prec += 64;
            (lo, hi) = self.bounds(prec);
        }
    }
}

/// Leading ones of ρ worth a trial by bits rather than by word, and the most such bits used
/// (a trial goes past them, to the exact bounds, with probability 2^-20: about 5 µs in a
/// million draws).
const MIN_ONES: u32 = 12;
const MAX_ONES: u32 = 20;

/// How a Bernoulli(ρ) trial starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Start {
    /// ρ = 1.
    Certain,
    /// ρ ≥ 1 − 2^-k: unless k random bits are all ones, U < 1 − 2^-k ≤ ρ.
    Ones(u32),
    /// ⌊2^64·ρ⌋: one random word below it accepts, above it rejects.
    Word(u64),
}

/// A Bernoulli(ρ) trial, using first the `spare.1` random bits in `spare.0` that the caller
/// has left over. The start decides it but for probability 2^-20 (`Ones`) or 2^-64
/// (`Word`); then [`continue_trial`].
#[inline(always)]
pub(crate) fn trial(rng: &mut NoiseRng, start: Start, ratio: &Ratio, spare: (u64, u32)) -> bool {
    match start {
        Start::Certain => true,
        Start::Ones(k) => {
            let ones = u64::MAX >> (64 - k);
            let (bits, have) = spare;
            let bits = if k <= have {
                bits & ones
            } else {
                (bits & ((1 << have) - 1)) | (rng.bits(k - have) << have)
            };
            bits != ones || continue_trial(rng, ratio, BigUint::from(ones), u64::from(k))
        }
        Start::Word(lead) => {
            let u = rng.word();
            if u != lead {
                return u < lead;
            }
            continue_trial(rng, ratio, BigUint::from(u), 64)
        }
    }
}

/// The rest of a trial whose uniform U is known to lie in [prefix, prefix + 1)/2^prec:
/// another 64 bits of U at a time against ever finer bounds on ρ, until the interval of U
/// falls on one side of ρ's.
#[cold]
pub(crate) fn continue_trial(
    rng: &mut NoiseRng,
    ratio: &Ratio,
    mut prefix: BigUint,
    mut prec: u64,
) -> bool {
    loop {
        prefix = (prefix << 64) + rng.word();
        prec += 64;
        let (lo, hi) = ratio.bounds(prec);
        // U < (prefix + 1)/2^prec ≤ lo/2^prec ≤ ρ, or U ≥ prefix/2^prec ≥ hi/2^prec ≥ ρ.
        if prefix < lo {
            return true;
        }
        if prefix >= hi {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f64(v: &BigUint, prec: u64) -> f64 {
        let shift = v.bits().saturating_sub(60);
        (v >> shift).to_f64().unwrap() * 2f64.powi(shift as i32 - prec as i32)
    }

    #[test]
    fn exp_bounds_bracket_the_value_and_are_tight() {
        for (num, den) in [
            (0u128, 1u128),
            (1, 3),
            (1, 1),
            (5, 2),
            (123_456, 1000),
            (7, 1 << 40),
        ] {
            let want = (-(num as f64) / den as f64).exp();
            for prec in [64u64, 128, 300] {
                let (lo, hi) = exp_neg(num, den, prec);
                assert!(lo <= hi);
                assert!(
                    &hi - &lo <= BigUint::from(4u32),
                    "{num}/{den} at {prec}: width"
                );
                let mid = to_f64(&lo, prec);
                let tol = 1e-13 * want + 4.0 * 2f64.powi(-(prec as i32));
                assert!((mid - want).abs() <= tol, "{num}/{den}: {mid} vs {want}");
            }
        }
        // e^(−1) to 100 decimal digits (OEIS A068985), against the bounds at 340 bits.
        let digits = "3678794411714423215955237701614608674458111310317678345078368016974614957448998033571472743459196437";
        let (lo, hi) = exp_neg(1, 1, 340);
        let scale = BigUint::from(10u32).pow(100);
        let want = BigUint::parse_bytes(digits.as_bytes(), 10).unwrap();
        assert!((&lo * &scale) >> 340u32 <= want);
        assert!(want <= div_up(&(&hi * &scale), &(BigUint::one() << 340u32)));
    }

    #[test]
    fn squares_by_recurrence_agree_with_direct_bounds() {
        // e^(−j²·g) for g = 3/700, j ≤ 100 (up to e^(−42.9)): both bound pairs overlap and
        // the recurrence's stays within 4 units.
        for (j, (lo, hi)) in exp_neg_squares(3, 700, 100, 128).into_iter().enumerate() {
            let j = j as u128;
            let (d_lo, d_hi) = exp_neg(3 * j * j, 700, 128);
            assert!(lo <= d_hi && d_lo <= hi, "j = {j}");
            assert!(&hi - &lo <= BigUint::from(4u32), "j = {j}");
        }
    }

    #[test]
    fn ratio_bounds_tighten_with_precision() {
        let r = Ratio {
            num: 1000,
            den: 3,
            gamma: (100, 17),
            geometric: Some((1, 1000)),
        };
        let want = 1000.0 / 3.0 * (-100.0f64 / 17.0).exp() / (1.0 - (-0.001f64).exp());
        // This ρ is above 1: bounds clamp at 1, so check a smaller one too.
        assert_eq!(r.bounds(64).0, BigUint::one() << 64u32);
        assert!(want > 1.0);
        let r = Ratio {
            num: 1,
            den: 3000,
            ..r
        };
        let want = want / 1e6;
        let (lo, hi) = r.bounds(200);
        assert!(&hi - &lo <= BigUint::from(8u32));
        assert!((to_f64(&lo, 200) / want - 1.0).abs() < 1e-12);
    }

    #[test]
    fn trials_have_the_rate_of_the_ratio() {
        let mut rng = NoiseRng::insecure_seeded(5);
        let ratios = [
            Ratio {
                num: 7,
                den: 10,
                gamma: (1, 4),
                geometric: None,
            },
            Ratio {
                num: 1,
                den: 1,
                gamma: (9, 2),
                geometric: None,
            },
            Ratio {
                num: 1,
                den: 2000,
                gamma: (3, 1),
                geometric: Some((1, 100)),
            },
        ];
        for r in &ratios {
            let p = to_f64(&r.bounds(100).0, 100);
            assert!(matches!(r.start(), Start::Word(_)));
            // From the first word (the fast path) and from nothing (the lazy path alone):
            // five standard errors over 100,000 and 20,000 trials.
            let (n, n_lazy) = (100_000, 20_000);
            let fast = (0..n)
                .filter(|_| trial(&mut rng, r.start(), r, (0, 0)))
                .count() as f64
                / n as f64;
            let lazy = (0..n_lazy)
                .filter(|_| continue_trial(&mut rng, r, BigUint::zero(), 0))
                .count() as f64
                / n_lazy as f64;
            let tol = |n: usize| 5.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!((fast - p).abs() < tol(n), "{r:?}: {fast} vs {p}");
            assert!((lazy - p).abs() < tol(n_lazy), "{r:?}: {lazy} vs {p}");
        }
    }

    #[test]
    fn a_trial_that_ties_its_start_continues_with_the_right_odds() {
        // Given U's first 64 bits equal ρ's, U < ρ has probability frac(2^64·ρ); given U's
        // first k bits are all ones, (ρ − (1 − 2^-k))·2^k.
        let mut rng = NoiseRng::insecure_seeded(6);
        let n = 20_000;
        let word = Ratio {
            num: 7,
            den: 10,
            gamma: (1, 4),
            geometric: None,
        };
        let near_one = Ratio {
            num: 1 << 40,
            den: (1 << 40) + 3,
            gamma: (1, 1 << 50),
            geometric: None,
        };
        let near_one_start = near_one.start();
        for r in [word, near_one] {
            let (prefix, k) = match r.start() {
                Start::Word(lead) => (BigUint::from(lead), 64),
                Start::Ones(k) => (BigUint::from(u64::MAX >> (64 - k)), u64::from(k)),
                Start::Certain => unreachable!(),
            };
            let (lo, _) = r.bounds(k + 64);
            let p = to_f64(&(lo - (&prefix << 64u32)), 64);
            let hits = (0..n)
                .filter(|_| continue_trial(&mut rng, &r, prefix.clone(), k))
                .count() as f64
                / n as f64;
            assert!(
                (hits - p).abs() < 5.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "{r:?}: {hits} vs {p}"
            );
        }
        assert_eq!(near_one_start, Start::Ones(20));
        assert_eq!(
            Ratio {
                num: 5,
                den: 5,
                gamma: (0, 1),
                geometric: None
            }
            .start(),
            Start::Certain
        );
    }
}
