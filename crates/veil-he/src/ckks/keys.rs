//! CKKS keys and the randomness they and encryptions are made of.
//!
//! - The secret s has coefficients uniform in {−1, 0, 1} (the standard's ternary secret).
//! - Errors are discrete Gaussians of σ² = 10.24 (σ = 3.2, the standard's value), drawn
//!   exactly by veil-dp's sampler.
//! - Uniform polynomials come from ChaCha20 seeded by the operating system.
//!
//! The public key is (b, a) = (−a·s + e, a) over the data primes (RLWE, CKKS 2017 §3.4).
//!
//! The secrets — s, the errors of keys (from which s follows: s = (e − b)/a), and the
//! ternary masks and errors of encryptions (from which the message follows) — are drawn
//! into zeroizing buffers and held as `SecretPoly`s, which wipe them when dropped.

use std::sync::Arc;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use veil_core::noise::NoiseRng;
use veil_core::sample::DiscreteGaussianTable;
use zeroize::Zeroizing;

use super::params::Context;
use super::poly::{Coeff, Ntt, RnsPoly, SecretPoly};
use crate::error::{Error, Result};

/// σ² of the error distribution, as a fraction: 256/25 = 10.24.
const ERROR_SIGMA2: (u128, u128) = (256, 25);

/// A fresh ChaCha20 generator seeded by the operating system.
pub(crate) fn fresh_rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed(veil_core::random::bytes())
}

/// N coefficients uniform in {−1, 0, 1}, wiped when dropped.
pub(crate) fn ternary(n: usize, rng: &mut ChaCha20Rng) -> Zeroizing<Vec<i64>> {
    // Allocated once at full size: growing would leave copies behind.
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    while out.len() < n {
        let byte = (rng.next_u32() & 0xff) as u8;
        // 255 = 3·85: bytes below it are uniform mod 3.
        if byte < 255 {
            out.push(i64::from(byte % 3) - 1);
        }
    }
    out
}

/// N discrete Gaussian coefficients of σ = 3.2, wiped when dropped.
pub(crate) fn gaussian(n: usize) -> Result<Zeroizing<Vec<i64>>> {
    let table = DiscreteGaussianTable::new(ERROR_SIGMA2.0, ERROR_SIGMA2.1).map_err(|e| {
        Error::out_of_range("error distribution", format!("the error distribution: {e}"))
    })?;
    let mut rng = NoiseRng::from_os();
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    out.extend((0..n).map(|_| table.sample(&mut rng) as i64));
    Ok(out)
}

/// A secret polynomial over `primes`, in NTT form, from small coefficients.
pub(crate) fn secret(ctx: &Context, primes: &[usize], coeffs: &[i64]) -> Result<SecretPoly<Ntt>> {
    SecretPoly::<Coeff>::new(RnsPoly::from_signed(ctx, primes, coeffs)?).ntt(ctx)
}

/// A polynomial uniform over `primes`, in NTT form (uniform there too).
pub(crate) fn uniform(ctx: &Context, primes: &[usize], rng: &mut ChaCha20Rng) -> RnsPoly<Ntt> {
    let limbs = primes
        .iter()
        .map(|&p| {
            let m = ctx.modulus(p);
            let q = m.value();
            // Rejection from the largest multiple of q below 2^64. (Deterministic in the
            // generator: a seeded ciphertext's c₁ is rebuilt from its seed by this.)
            let zone = u64::MAX - u64::MAX % q;
            (0..ctx.degree())
                .map(|_| {
                    loop {
                        let x = rng.random::<u64>();
                        if x < zone {
                            break m.reduce(x);
                        }
                    }
                })
                .collect()
        })
        .collect();
    RnsPoly::from_parts(primes.to_vec(), limbs)
}

/// A key set's random identity: carried by its keys and by every ciphertext made with
/// them, so that a ciphertext for another key set is refused rather than misdecrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(pub [u8; 16]);

/// The secret key s, in NTT form over every prime of the chain (the special one included),
/// wiped when dropped.
pub struct SecretKey {
    pub(crate) ctx: Arc<Context>,
    pub(crate) s: SecretPoly<Ntt>,
    pub(crate) id: KeyId,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").finish_non_exhaustive()
    }
}

/// The public encryption key (b, a), in NTT form over the data primes.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub(crate) ctx: Arc<Context>,
    pub(crate) b: RnsPoly<Ntt>,
    pub(crate) a: RnsPoly<Ntt>,
    pub(crate) id: KeyId,
}

impl PublicKey {
    /// The key set's identity.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl SecretKey {
    /// A fresh secret key.
    pub fn generate(ctx: &Arc<Context>) -> SecretKey {
        let all: Vec<usize> = (0..=ctx.data_primes()).collect();
        let coeffs = ternary(ctx.degree(), &mut fresh_rng());
        // The chain's own primes and N coefficients: what `secret` checks holds.
        let s = match secret(ctx, &all, &coeffs) {
            Ok(s) => s,
            Err(e) => unreachable!("the whole chain of a context is a valid prime list: {e}"),
        };
        SecretKey {
            ctx: ctx.clone(),
            s,
            id: KeyId(veil_core::random::bytes()),
        }
    }

    /// The key set's identity.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The context the key belongs to.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The public key that goes with this secret key.
    pub fn public_key(&self) -> Result<PublicKey> {
        let ctx = &self.ctx;
        let data: Vec<usize> = (0..ctx.data_primes()).collect();
        let a = uniform(ctx, &data, &mut fresh_rng());
        let e = secret(ctx, &data, &gaussian(ctx.degree())?)?;
        // b = −a·s + e.
        let mut b = a.clone();
        b.mul_assign_leading(ctx, &self.s)?;
        b.neg_assign(ctx);
        b.add_assign(ctx, &e)?;
        Ok(PublicKey {
            ctx: ctx.clone(),
            b,
            a,
            id: self.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_randomness_has_the_distributions_asked_for() {
        // Ternary: each value about a third of 30,000 (within 5 standard deviations).
        let t = ternary(30_000, &mut fresh_rng());
        for v in [-1, 0, 1] {
            let count = t.iter().filter(|&&x| x == v).count() as f64;
            assert!(
                (count - 10_000.0).abs() < 5.0 * (30_000.0f64 * 2.0 / 9.0).sqrt(),
                "{v}: {count}"
            );
        }
        // Gaussian: variance 10.24 within 5% over 100,000 draws, mean near 0.
        let g = gaussian(100_000).unwrap();
        let mean = g.iter().sum::<i64>() as f64 / g.len() as f64;
        let var = g.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / g.len() as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var / 10.24 - 1.0).abs() < 0.05, "{var}");
    }
}
