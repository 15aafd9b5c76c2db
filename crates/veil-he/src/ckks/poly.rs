//! Polynomials of Z_Q\[X\]/(X^N + 1) in residue-number-system form: one vector of N residues
//! per prime of Q = q₀·q₁·…, which the chain's primes index (Cheon et al. 2018 §2.2).
//!
//! A polynomial a = Σ aᵢXⁱ has two representations, and its type says which it is in:
//!
//! - [`Coeff`]: the coefficients aᵢ mod q, i = 0..N;
//! - [`Ntt`]: the evaluations a(ψ^(2k+1)) mod q at the N primitive 2N-th roots of unity
//!   (bit-reversed order; see [`super::math::ntt`]), where a product in the ring is the
//!   product of evaluations.
//!
//! [`RnsPoly::ntt`] and [`RnsPoly::intt`] move between them, in place. Sums work in either
//! form; products exist only in NTT form, where key switching and every ciphertext and key
//! live, so a coefficient-form operand in a product does not compile:
//!
//! ```compile_fail,E0308
//! # use veil_he::ckks::params::{Context, Parameters};
//! # use veil_he::ckks::poly::RnsPoly;
//! # fn main() -> veil_he::Result<()> {
//! let ctx = Context::new(Parameters::n8192())?;
//! let x = RnsPoly::from_signed(&ctx, &[0, 1], &vec![1; 8192])?; // coefficient form
//! let mut y = x.clone().ntt(&ctx)?; // NTT form
//! y.mul_assign(&ctx, &x)?; // expected `&RnsPoly<Ntt>`, found `&RnsPoly<Coeff>`
//! # Ok(())
//! # }
//! ```
//!
//! nor does a product of two polynomials in coefficient form:
//!
//! ```compile_fail,E0599
//! # use veil_he::ckks::params::{Context, Parameters};
//! # use veil_he::ckks::poly::RnsPoly;
//! # fn main() -> veil_he::Result<()> {
//! let ctx = Context::new(Parameters::n8192())?;
//! let mut x = RnsPoly::from_signed(&ctx, &[0, 1], &vec![1; 8192])?;
//! let y = x.clone();
//! x.mul_assign(&ctx, &y)?; // no method `mul_assign` for `RnsPoly<Coeff>`
//! # Ok(())
//! # }
//! ```
//!
//! while the same product in NTT form does:
//!
//! ```
//! # use veil_he::ckks::params::{Context, Parameters};
//! # use veil_he::ckks::poly::RnsPoly;
//! # fn main() -> veil_he::Result<()> {
//! let ctx = Context::new(Parameters::n8192())?;
//! let x = RnsPoly::from_signed(&ctx, &[0, 1], &vec![1; 8192])?.ntt(&ctx)?;
//! let mut y = x.clone();
//! y.mul_assign(&ctx, &x)?;
//! # Ok(())
//! # }
//! ```
//!
//! The primes are checked at run time, once per operation rather than per coefficient:
//! operands over different primes, or made for another ring degree, are an
//! [`Error::Ciphertext`] in every build. Secret polynomials (the key s, s², σ(s), and the
//! errors and ternary masks of key generation and encryption) live in a `SecretPoly`, which
//! wipes its residues when dropped.

use std::marker::PhantomData;

use zeroize::Zeroize;

use super::math::modulus::Modulus;
use super::params::Context;
use crate::error::{CiphertextProblem, Error, Result};

/// The representation of a polynomial: [`Coeff`] or [`Ntt`].
pub trait Representation:
    private::Sealed + std::fmt::Debug + Clone + Copy + PartialEq + Eq
{
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Coeff {}
    impl Sealed for super::Ntt {}
}

/// Coefficient form: residues of the coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coeff;

/// NTT form: residues of the evaluations at the primitive 2N-th roots of unity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ntt;

impl Representation for Coeff {}
impl Representation for Ntt {}

/// A polynomial over some primes of a context's chain, in representation `R`.
///
/// Invariants, kept by every constructor: the primes are strictly increasing indices into
/// the chain, at least one; there is one limb per prime; every limb has N residues, each
/// below its prime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RnsPoly<R: Representation> {
    /// Indices into the context's chain, one per limb.
    primes: Vec<usize>,
    /// `limbs[k][i]`: coefficient (or evaluation) i modulo prime `primes[k]`.
    limbs: Vec<Vec<u64>>,
    form: PhantomData<R>,
}

/// Refuses a prime list that is empty, not increasing, or outside `ctx`'s chain.
fn check_primes(ctx: &Context, primes: &[usize]) -> Result<()> {
    let increasing = primes.windows(2).all(|w| w[0] < w[1]);
    match primes.last() {
        Some(&last) if increasing && last <= ctx.data_primes() => Ok(()),
        _ => Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
            format!(
                "a polynomial over primes {primes:?}: they must be increasing indices into the \
                 chain of {} primes",
                ctx.data_primes() + 1
            ),
        ))),
    }
}

impl<R: Representation> RnsPoly<R> {
    /// The zero polynomial over `primes` (increasing indices into the chain).
    pub fn zero(ctx: &Context, primes: &[usize]) -> Result<RnsPoly<R>> {
        check_primes(ctx, primes)?;
        Ok(RnsPoly::from_parts(
            primes.to_vec(),
            vec![vec![0; ctx.degree()]; primes.len()],
        ))
    }

    /// A polynomial from limbs the caller has made to the type's invariants.
    pub(crate) fn from_parts(primes: Vec<usize>, limbs: Vec<Vec<u64>>) -> RnsPoly<R> {
        debug_assert_eq!(primes.len(), limbs.len());
        RnsPoly {
            primes,
            limbs,
            form: PhantomData,
        }
    }

    /// Indices into the context's chain, one per limb.
    pub fn primes(&self) -> &[usize] {
        &self.primes
    }

    /// `limbs()[k][i]`: coefficient (or evaluation) i modulo prime `primes()[k]`.
    pub fn limbs(&self) -> &[Vec<u64>] {
        &self.limbs
    }

    /// The limbs, to change in place (the caller keeps each residue below its prime).
    pub(crate) fn limbs_mut(&mut self) -> &mut [Vec<u64>] {
        &mut self.limbs
    }

    /// The primes and the limbs, the latter to change in place.
    pub(crate) fn parts_mut(&mut self) -> (&[usize], &mut [Vec<u64>]) {
        (&self.primes, &mut self.limbs)
    }

    /// Removes and returns the last prime and its limb, if another stays.
    pub(crate) fn pop_limb(&mut self) -> Option<(usize, Vec<u64>)> {
        if self.primes.len() < 2 {
            return None;
        }
        Some((self.primes.pop()?, self.limbs.pop()?))
    }

    /// The number of residues per limb (N of the context it was made for).
    fn degree(&self) -> usize {
        self.limbs.first().map_or(0, Vec::len)
    }

    /// Refuses a polynomial made for another ring degree or chain than `ctx`'s.
    pub(crate) fn check_context(&self, ctx: &Context) -> Result<()> {
        let fits = self.limbs.iter().all(|l| l.len() == ctx.degree())
            && self.primes.last().is_some_and(|&p| p <= ctx.data_primes());
        if !fits {
            return Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
                format!(
                    "a polynomial of degree {} over primes {:?}, for N = {} with {} primes",
                    self.degree(),
                    self.primes,
                    ctx.degree(),
                    ctx.data_primes() + 1
                ),
            )));
        }
        Ok(())
    }

    /// Refuses operands not both made for `ctx`, or over different primes; with `leading`,
    /// `other` may have more primes after `self`'s.
    fn check_operand(&self, ctx: &Context, other: &RnsPoly<R>, leading: bool) -> Result<()> {
        self.check_context(ctx)?;
        other.check_context(ctx)?;
        let fits = if leading {
            other.primes.starts_with(&self.primes)
        } else {
            other.primes == self.primes
        };
        if !fits {
            return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
                "polynomials over primes {:?} and {:?}",
                self.primes, other.primes
            ))));
        }
        Ok(())
    }

    /// self[k][i] = op(q_k, self[k][i], other[k][i]) for each of self's limbs k.
    fn zip_with(
        &mut self,
        ctx: &Context,
        other: &RnsPoly<R>,
        leading: bool,
        op: impl Fn(&Modulus, u64, u64) -> u64,
    ) -> Result<()> {
        self.check_operand(ctx, other, leading)?;
        for ((limb, other), &p) in self.limbs.iter_mut().zip(&other.limbs).zip(&self.primes) {
            let m = ctx.modulus(p);
            limb.iter_mut()
                .zip(other)
                .for_each(|(a, b)| *a = op(m, *a, *b));
        }
        Ok(())
    }

    /// self += other.
    pub fn add_assign(&mut self, ctx: &Context, other: &RnsPoly<R>) -> Result<()> {
        self.zip_with(ctx, other, false, |m, a, b| m.add(a, b))
    }

    /// self −= other.
    pub fn sub_assign(&mut self, ctx: &Context, other: &RnsPoly<R>) -> Result<()> {
        self.zip_with(ctx, other, false, |m, a, b| m.sub(a, b))
    }

    /// −self.
    pub fn neg_assign(&mut self, ctx: &Context) {
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            let m = ctx.modulus(p);
            limb.iter_mut().for_each(|a| *a = m.neg(*a));
        }
    }

    /// The same polynomial over its first `count` primes (at least one).
    pub(crate) fn truncated(&self, count: usize) -> Result<RnsPoly<R>> {
        if count == 0 || count > self.primes.len() {
            return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
                "{count} primes of a polynomial over {:?}",
                self.primes
            ))));
        }
        Ok(RnsPoly::from_parts(
            self.primes[..count].to_vec(),
            self.limbs[..count].to_vec(),
        ))
    }
}

impl<R: Representation> Zeroize for RnsPoly<R> {
    /// Overwrites every residue with zero (the primes are public and stay).
    fn zeroize(&mut self) {
        self.limbs.iter_mut().for_each(|l| l.zeroize());
    }
}

impl RnsPoly<Coeff> {
    /// The polynomial with small signed coefficients `coeffs` (N of them), over `primes`.
    pub fn from_signed(ctx: &Context, primes: &[usize], coeffs: &[i64]) -> Result<RnsPoly<Coeff>> {
        RnsPoly::from_integers(ctx, primes, coeffs)
    }

    /// The polynomial with integer coefficients `coeffs` (N of them, |c| < 2^127), over
    /// `primes`.
    pub fn from_i128(ctx: &Context, primes: &[usize], coeffs: &[i128]) -> Result<RnsPoly<Coeff>> {
        RnsPoly::from_integers(ctx, primes, coeffs)
    }

    /// Residues of `coeffs` straight into the limbs, with no intermediate copy (they may be
    /// a secret's).
    fn from_integers<T: Copy + Into<i128>>(
        ctx: &Context,
        primes: &[usize],
        coeffs: &[T],
    ) -> Result<RnsPoly<Coeff>> {
        check_primes(ctx, primes)?;
        if coeffs.len() != ctx.degree() {
            return Err(Error::out_of_range(
                "polynomial",
                format!("{} coefficients for degree {}", coeffs.len(), ctx.degree()),
            ));
        }
        let limbs = primes
            .iter()
            .map(|&p| {
                let m = ctx.modulus(p);
                coeffs
                    .iter()
                    .map(|&c| {
                        let c: i128 = c.into();
                        let r = m.reduce_u128(c.unsigned_abs());
                        if c < 0 { m.neg(r) } else { r }
                    })
                    .collect()
            })
            .collect();
        Ok(RnsPoly::from_parts(primes.to_vec(), limbs))
    }

    /// To NTT form, in place.
    pub fn ntt(self, ctx: &Context) -> Result<RnsPoly<Ntt>> {
        self.check_context(ctx)?;
        Ok(self.ntt_unchecked(ctx))
    }

    /// To NTT form, in place, for a polynomial checked against `ctx`.
    fn ntt_unchecked(mut self, ctx: &Context) -> RnsPoly<Ntt> {
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            ctx.ntt(p).forward(limb);
        }
        self.with_form()
    }

    /// The coefficients as reals: each lifted to (−Q/2, Q/2) exactly by Garner's
    /// mixed-radix conversion, then rounded to f64 (53 bits of relative precision).
    pub fn to_centered_f64(&self, ctx: &Context) -> Result<Vec<f64>> {
        self.check_context(ctx)?;
        let crt = Garner::new(ctx, &self.primes);
        let n = ctx.degree();
        let mut residues = vec![0u64; self.primes.len()];
        Ok((0..n)
            .map(|i| {
                for (r, limb) in residues.iter_mut().zip(&self.limbs) {
                    *r = limb[i];
                }
                crt.centered(&residues)
            })
            .collect())
    }
}

impl RnsPoly<Ntt> {
    /// From NTT form, in place.
    pub fn intt(mut self, ctx: &Context) -> Result<RnsPoly<Coeff>> {
        self.check_context(ctx)?;
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            ctx.ntt(p).inverse(limb);
        }
        Ok(self.with_form())
    }

    /// self ·= other.
    pub fn mul_assign(&mut self, ctx: &Context, other: &RnsPoly<Ntt>) -> Result<()> {
        self.zip_with(ctx, other, false, |m, a, b| m.mul(a, b))
    }

    /// self ·= other over self's primes, which must be the first of other's: a product
    /// with a polynomial over more of the chain (the secret key, a public key) without
    /// copying its leading limbs out.
    pub(crate) fn mul_assign_leading(&mut self, ctx: &Context, other: &RnsPoly<Ntt>) -> Result<()> {
        self.zip_with(ctx, other, true, |m, a, b| m.mul(a, b))
    }

    /// x·y as a new polynomial.
    pub fn product(ctx: &Context, x: &RnsPoly<Ntt>, y: &RnsPoly<Ntt>) -> Result<RnsPoly<Ntt>> {
        x.check_operand(ctx, y, false)?;
        let limbs = x
            .limbs
            .iter()
            .zip(&y.limbs)
            .zip(&x.primes)
            .map(|((a, b), &p)| {
                let m = ctx.modulus(p);
                a.iter().zip(b).map(|(&a, &b)| m.mul(a, b)).collect()
            })
            .collect();
        Ok(RnsPoly::from_parts(x.primes.clone(), limbs))
    }

    /// x₀·y₀ + x₁·y₁, with one reduction per coefficient (the sum of two products of
    /// residues below 2^62 fits in 128 bits).
    pub fn product_sum(
        ctx: &Context,
        [x0, y0]: [&RnsPoly<Ntt>; 2],
        [x1, y1]: [&RnsPoly<Ntt>; 2],
    ) -> Result<RnsPoly<Ntt>> {
        x0.check_operand(ctx, y0, false)?;
        x0.check_operand(ctx, x1, false)?;
        x0.check_operand(ctx, y1, false)?;
        let limbs = (0..x0.limbs.len())
            .map(|k| {
                let m = ctx.modulus(x0.primes[k]);
                let (a0, b0, a1, b1) = (&x0.limbs[k], &y0.limbs[k], &x1.limbs[k], &y1.limbs[k]);
                (0..a0.len())
                    .map(|i| {
                        m.reduce_u128(
                            u128::from(a0[i]) * u128::from(b0[i])
                                + u128::from(a1[i]) * u128::from(b1[i]),
                        )
                    })
                    .collect()
            })
            .collect();
        Ok(RnsPoly::from_parts(x0.primes.clone(), limbs))
    }
}

impl<R: Representation> RnsPoly<R> {
    /// The same limbs, declared to be in representation `S` (after transforming them).
    fn with_form<S: Representation>(self) -> RnsPoly<S> {
        RnsPoly::from_parts(self.primes, self.limbs)
    }

    /// An empty placeholder (no limbs, nothing allocated), to move a polynomial out of a
    /// [`SecretPoly`].
    fn empty() -> RnsPoly<R> {
        RnsPoly::from_parts(Vec::new(), Vec::new())
    }
}

/// A polynomial that holds a secret (the key, or the randomness of an encryption), wiped
/// when dropped: the only copy of its residues, unless code reads them out.
pub(crate) struct SecretPoly<R: Representation>(RnsPoly<R>);

impl<R: Representation> SecretPoly<R> {
    /// Takes charge of `poly`, made for the purpose (no other copy of its residues exists).
    pub(crate) fn new(poly: RnsPoly<R>) -> SecretPoly<R> {
        SecretPoly(poly)
    }
}

impl SecretPoly<Coeff> {
    /// To NTT form, in place: the limbs stay in the same memory, still in charge.
    pub(crate) fn ntt(mut self, ctx: &Context) -> Result<SecretPoly<Ntt>> {
        // Checked while `self` still holds the limbs, so that they are wiped on an error.
        self.0.check_context(ctx)?;
        let poly = std::mem::replace(&mut self.0, RnsPoly::empty());
        Ok(SecretPoly(poly.ntt_unchecked(ctx)))
    }
}

impl<R: Representation> std::fmt::Debug for SecretPoly<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretPoly")
            .field("primes", &self.0.primes)
            .finish_non_exhaustive()
    }
}

impl<R: Representation> std::ops::Deref for SecretPoly<R> {
    type Target = RnsPoly<R>;

    fn deref(&self) -> &RnsPoly<R> {
        &self.0
    }
}

impl<R: Representation> std::ops::DerefMut for SecretPoly<R> {
    fn deref_mut(&mut self) -> &mut RnsPoly<R> {
        &mut self.0
    }
}

impl<R: Representation> Drop for SecretPoly<R> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Garner's algorithm for one set of primes: residues to mixed-radix digits
/// x = v₀ + v₁q₀ + v₂q₀q₁ + …, with word-size arithmetic only (D. Knuth, TAOCP vol. 2,
/// §4.3.2).
struct Garner {
    moduli: Vec<Modulus>,
    /// inv[i] = (q₀⋯q_{i−1})⁻¹ mod q_i.
    inv: Vec<u64>,
    /// The digits of (Q − 1)/2, to tell the upper half (negative numbers).
    half: Vec<u64>,
}

impl Garner {
    fn new(ctx: &Context, primes: &[usize]) -> Garner {
        let moduli: Vec<_> = primes.iter().map(|&p| *ctx.modulus(p)).collect();
        let inv = moduli
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let prefix = moduli[..i]
                    .iter()
                    .fold(1u64, |acc, q| m.mul(acc, m.reduce(q.value())));
                m.inv(prefix)
            })
            .collect();
        let mut garner = Garner {
            moduli,
            inv,
            half: Vec::new(),
        };
        // (Q − 1)/2 mod q_i = (q_i − 1)·2⁻¹ mod q_i, since Q ≡ 0.
        let half_residues: Vec<u64> = garner
            .moduli
            .iter()
            .map(|m| m.mul(m.value() - 1, m.inv(2)))
            .collect();
        garner.half = garner.digits(&half_residues);
        garner
    }

    fn digits(&self, residues: &[u64]) -> Vec<u64> {
        let mut digits: Vec<u64> = Vec::with_capacity(residues.len());
        for (i, (m, &x)) in self.moduli.iter().zip(residues).enumerate() {
            // (v₀ + v₁q₀ + … + v_{i−1}q₀⋯q_{i−2}) mod q_i, by Horner from the top digit.
            let mut partial = 0u64;
            for j in (0..i).rev() {
                partial = m.add(
                    m.mul(partial, m.reduce(self.moduli[j].value())),
                    m.reduce(digits[j]),
                );
            }
            digits.push(m.mul(m.sub(x, partial), self.inv[i]));
        }
        digits
    }

    fn value(&self, digits: &[u64]) -> f64 {
        digits
            .iter()
            .zip(&self.moduli)
            .rev()
            .fold(0.0, |acc, (&v, m)| acc * m.value() as f64 + v as f64)
    }

    /// The residues' integer in (−Q/2, Q/2], as an f64.
    fn centered(&self, residues: &[u64]) -> f64 {
        let digits = self.digits(residues);
        let upper = digits.iter().rev().cmp(self.half.iter().rev()) == std::cmp::Ordering::Greater;
        if upper {
            let negated: Vec<u64> = self
                .moduli
                .iter()
                .zip(residues)
                .map(|(m, &r)| m.neg(r))
                .collect();
            -self.value(&self.digits(&negated))
        } else {
            self.value(&digits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::Parameters;
    use super::*;

    fn context() -> &'static std::sync::Arc<Context> {
        static CTX: std::sync::OnceLock<std::sync::Arc<Context>> = std::sync::OnceLock::new();
        CTX.get_or_init(|| Context::new(Parameters::n8192()).unwrap())
    }

    #[test]
    fn big_signed_coefficients_come_back_exactly_through_three_primes() {
        let ctx = context();
        let primes = [0, 1, 2];
        let mut coeffs = vec![0i128; 8192];
        let samples = [
            0i128,
            1,
            -1,
            (1 << 100) + 12345,
            -(1 << 120) - 7,
            (1 << 126) + 1,
            -(1 << 126),
        ];
        coeffs[..samples.len()].copy_from_slice(&samples);
        let p = RnsPoly::from_i128(ctx, &primes, &coeffs).unwrap();
        let back = p
            .ntt(ctx)
            .unwrap()
            .intt(ctx)
            .unwrap()
            .to_centered_f64(ctx)
            .unwrap();
        for (got, want) in back.iter().zip(&samples) {
            assert_eq!(*got, *want as f64);
        }
    }

    fn ntt_poly(ctx: &Context, primes: &[usize], seed: i64) -> RnsPoly<Ntt> {
        let coeffs: Vec<i64> = (0..ctx.degree() as i64)
            .map(|i| (i * seed) % 7 - 3)
            .collect();
        RnsPoly::from_signed(ctx, primes, &coeffs)
            .unwrap()
            .ntt(ctx)
            .unwrap()
    }

    fn unlike(result: Result<impl std::fmt::Debug>) -> bool {
        matches!(result, Err(Error::Ciphertext(CiphertextProblem::Unlike(_))))
    }

    /// Before, only a `debug_assert` compared the primes: a release build zipped the limbs
    /// it had and returned a polynomial that is wrong modulo every prime.
    #[test]
    fn operands_over_other_primes_are_an_error_in_every_build() {
        let ctx = context();
        let (top, low) = (ntt_poly(ctx, &[0, 1, 2], 3), ntt_poly(ctx, &[0, 1], 5));
        let shifted = ntt_poly(ctx, &[1, 2], 5);
        for other in [&low, &shifted] {
            let mut x = top.clone();
            assert!(unlike(x.add_assign(ctx, other)));
            assert!(unlike(x.sub_assign(ctx, other)));
            assert!(unlike(x.mul_assign(ctx, other)));
            assert_eq!(x, top, "a refused operation leaves its operand alone");
            assert!(unlike(RnsPoly::product(ctx, &top, other)));
            assert!(unlike(RnsPoly::product_sum(
                ctx,
                [&top, &top],
                [&top, other]
            )));
            assert!(unlike(RnsPoly::product_sum(
                ctx,
                [&top, other],
                [&top, &top]
            )));
        }
        // Over fewer primes than the other operand: only a product with its leading primes.
        let mut x = low.clone();
        assert!(unlike(x.mul_assign(ctx, &top)));
        x.mul_assign_leading(ctx, &top).unwrap();
        let mut y = shifted.clone();
        assert!(unlike(y.mul_assign_leading(ctx, &top)));
        // Alike operands go through.
        let mut z = top.clone();
        z.add_assign(ctx, &top).unwrap();
        z.mul_assign(ctx, &top).unwrap();
        RnsPoly::product_sum(ctx, [&top, &top], [&top, &top]).unwrap();
    }

    #[test]
    fn polynomials_of_another_ring_or_bad_prime_lists_are_refused() {
        let ctx = context();
        let big = Context::new(Parameters::n16384()).unwrap();
        let other_ring = ntt_poly(&big, &[0, 1], 3);
        let mut x = ntt_poly(ctx, &[0, 1], 3);
        let err = x.add_assign(ctx, &other_ring).unwrap_err();
        assert!(
            matches!(&err, Error::Ciphertext(CiphertextProblem::OtherParameters(w)) if w.contains("degree 16384")),
            "{err}"
        );
        assert!(other_ring.clone().intt(ctx).is_err());
        for primes in [&[][..], &[1, 0], &[0, 0], &[0, 4]] {
            assert!(RnsPoly::<Ntt>::zero(ctx, primes).is_err(), "{primes:?}");
            assert!(RnsPoly::from_signed(ctx, primes, &[0; 8192]).is_err());
        }
        assert!(RnsPoly::from_signed(ctx, &[0], &[0; 4096]).is_err());
        assert!(x.truncated(0).is_err() && x.truncated(3).is_err());
        assert_eq!(x.truncated(1).unwrap().primes(), [0]);
    }

    #[test]
    fn a_secret_polynomial_changes_form_in_place_and_zeroizes() {
        let ctx = context();
        let coeffs: Vec<i64> = (0..8192).map(|i| i % 3 - 1).collect();
        let s = SecretPoly::new(RnsPoly::from_signed(ctx, &[0, 1], &coeffs).unwrap());
        let at: Vec<*const u64> = s.limbs().iter().map(|l| l.as_ptr()).collect();
        let s = s.ntt(ctx).unwrap();
        // The same memory, transformed: no copy of the residues was left behind.
        let now: Vec<*const u64> = s.limbs().iter().map(|l| l.as_ptr()).collect();
        assert_eq!(at, now);
        let plain = RnsPoly::from_signed(ctx, &[0, 1], &coeffs).unwrap();
        assert_eq!(*s, plain.ntt(ctx).unwrap());
        let mut copy = (*s).clone();
        copy.zeroize();
        assert!(copy.limbs().iter().flatten().all(|&x| x == 0));
        assert_eq!(copy.primes(), [0, 1]);
    }
}
