//! Key switching: turning a ciphertext term d·s' (for s' = s² after a multiplication, or
//! σ(s) after a rotation) into one under s, with the special prime P keeping the added noise
//! small (the hybrid method with one digit per data prime, as SEAL does it; Cheon et al.
//! 2018 §3.3, "Modulus raising" and "Key switching").
//!
//! The key for s' holds, for each data prime q_j, a pair over all primes (data and P):
//! (b_j, a_j) with b_j = −a_j·s + e_j + P·s'·[i = j] in limb i. Switching d at level l
//! decomposes d into its residues d_j = \[d\]_{q_j} (each small: < q_j), computes
//! Σ_j d_j·(b_j, a_j) over q₀…q_l and P, which is ≈ P·d·s' − (…)·s, and divides by P
//! (rounding) to drop back to q₀…q_l: the result (u₀, u₁) satisfies u₀ + u₁·s ≈ d·s'.

use std::sync::Arc;

use super::keys::{SecretKey, fresh_rng, gaussian, secret, uniform};
use super::params::Context;
use super::poly::{Ntt, RnsPoly};
use crate::error::{CiphertextProblem, Error, Result};

/// A key-switching key from s' to s.
#[derive(Debug, Clone)]
pub struct KeySwitchKey {
    /// (b_j, a_j) per data prime j, each over all primes, NTT form.
    pub(crate) digits: Vec<[RnsPoly<Ntt>; 2]>,
}

/// Residues of `x` (each < q_from, taken as centred) modulo prime `to`, into `out`.
fn lift_into(ctx: &Context, x: &[u64], from: usize, to: usize, out: &mut [u64]) {
    let (qf, mt) = (ctx.modulus(from).value(), ctx.modulus(to));
    let half = qf / 2;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > half {
            mt.neg(mt.reduce(qf - v))
        } else {
            mt.reduce(v)
        };
    }
}

impl KeySwitchKey {
    /// The key that switches s' (in NTT form over all primes) to `sk`.
    pub(crate) fn generate(sk: &SecretKey, s_prime: &RnsPoly<Ntt>) -> Result<KeySwitchKey> {
        let ctx = &sk.ctx;
        let all: Vec<usize> = (0..=ctx.data_primes()).collect();
        let special = ctx.data_primes();
        let p = ctx.modulus(special).value();
        let mut rng = fresh_rng();
        let digits = (0..ctx.data_primes())
            .map(|j| {
                let a = uniform(ctx, &all, &mut rng);
                let e = secret(ctx, &all, &gaussian(ctx.degree())?)?;
                let mut b = a.clone();
                b.mul_assign(ctx, &sk.s)?;
                b.neg_assign(ctx);
                b.add_assign(ctx, &e)?;
                // + P·s' in limb j (s', s² or σ(s), is over every prime, as s is).
                let m = ctx.modulus(j);
                let pj = m.reduce(p);
                for (x, s) in b.limbs_mut()[j].iter_mut().zip(&s_prime.limbs()[j]) {
                    *x = m.add(*x, m.mul(pj, *s));
                }
                Ok([b, a])
            })
            .collect::<Result<_>>()?;
        Ok(KeySwitchKey { digits })
    }

    /// (u₀, u₁) over the primes of `d` (data primes only) with u₀ + u₁·s ≈ d·s'.
    pub(crate) fn switch(&self, ctx: &Arc<Context>, d: &RnsPoly<Ntt>) -> Result<[RnsPoly<Ntt>; 2]> {
        let level_primes = d.primes().to_vec();
        let special = ctx.data_primes();
        // A key has a digit per data prime, each over every prime (as generated, and as
        // deserialised: checked there); `d` must be over data primes of this context.
        if let Some([b, _]) = self.digits.first() {
            b.check_context(ctx)?;
        }
        if self.digits.len() != special || level_primes.last().is_some_and(|&p| p >= special) {
            return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
                "a key switch of a polynomial over primes {level_primes:?} with a key for {} \
                 data primes, in a chain of {special}",
                self.digits.len()
            ))));
        }
        let mut targets = level_primes.clone();
        targets.push(special);
        let n = ctx.degree();
        let coeffs = d.clone().intt(ctx)?;
        // Σ_j d_j·key_j accumulates unreduced in 128 bits: each product is below 2^122 and
        // there are at most 16 digits, so one reduction per coefficient at the end suffices.
        // The accumulator (a megabyte at N = 8192) is kept per thread: allocating it afresh
        // costs a page fault per 4 KiB on every switch.
        let [u0, u1] = SCRATCH.with_borrow_mut(|acc| {
            acc.clear();
            acc.resize(2 * targets.len() * n, 0);
            let mut lifted = vec![0u64; n];
            for (j, digit) in coeffs.limbs().iter().enumerate() {
                let key = &self.digits[level_primes[j]];
                for (slot, &t) in targets.iter().enumerate() {
                    let source: &[u64] = if t == level_primes[j] {
                        &d.limbs()[j]
                    } else {
                        lift_into(ctx, digit, level_primes[j], t, &mut lifted);
                        ctx.ntt(t).forward(&mut lifted);
                        &lifted
                    };
                    // The key's limb for prime t is limb t (every prime is in the key).
                    for (half, key_poly) in key.iter().enumerate() {
                        let at = (2 * slot + half) * n;
                        for ((a, &x), &k) in acc[at..at + n]
                            .iter_mut()
                            .zip(source)
                            .zip(&key_poly.limbs()[t])
                        {
                            *a += u128::from(x) * u128::from(k);
                        }
                    }
                }
            }
            [0, 1].map(|half| {
                RnsPoly::from_parts(
                    targets.clone(),
                    targets
                        .iter()
                        .enumerate()
                        .map(|(slot, &t)| {
                            let m = ctx.modulus(t);
                            let at = (2 * slot + half) * n;
                            acc[at..at + n].iter().map(|&a| m.reduce_u128(a)).collect()
                        })
                        .collect(),
                )
            })
        });
        Ok([mod_down(ctx, u0)?, mod_down(ctx, u1)?])
    }
}

thread_local! {
    /// The accumulator of [`KeySwitchKey::switch`], reused by each thread's later calls.
    static SCRATCH: std::cell::RefCell<Vec<u128>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Divides `u` (NTT form over data primes and, last, P) by P with rounding, dropping P.
fn mod_down(ctx: &Context, mut u: RnsPoly<Ntt>) -> Result<RnsPoly<Ntt>> {
    u.check_context(ctx)?;
    let Some((special, mut top)) = u.pop_limb() else {
        return Err(Error::out_of_range(
            "level",
            "a polynomial over one prime has none left to divide by",
        ));
    };
    ctx.ntt(special).inverse(&mut top);
    let p = ctx.modulus(special).value();
    let mut t = vec![0u64; top.len()];
    let (primes, limbs) = u.parts_mut();
    for (limb, &i) in limbs.iter_mut().zip(primes) {
        let m = ctx.modulus(i);
        lift_into(ctx, &top, special, i, &mut t);
        ctx.ntt(i).forward(&mut t);
        let p_inv = m.shoup(m.inv(m.reduce(p)));
        for (x, y) in limb.iter_mut().zip(&t) {
            *x = m.mul_shoup(m.sub(*x, *y), p_inv);
        }
    }
    Ok(u)
}

/// Divides a polynomial at level l (NTT form over q₀…q_l) by q_l with rounding, dropping
/// q_l: rescaling (CKKS 2017 §3.4, RNS form of Cheon et al. 2018).
pub(crate) fn rescale(ctx: &Context, u: RnsPoly<Ntt>) -> Result<RnsPoly<Ntt>> {
    mod_down(ctx, u)
}
