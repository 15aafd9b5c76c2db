//! Plaintexts, ciphertexts, encryption, decryption and the linear operations (CKKS 2017
//! §3.4; RNS form as in Cheon et al. 2018).
//!
//! A plaintext is m = round(Δ·embed⁻¹(z)) over the primes of its level; a ciphertext
//! (c₀, c₁) decrypts to c₀ + c₁·s ≈ m. Public-key encryption: c = u·(b, a) + (e₀ + m, e₁)
//! with u ternary and e₀, e₁ Gaussian. Sums keep the scale; a product with a plaintext
//! multiplies the scales (rescaling, next, divides by a prime to bring it back).

use super::keys::{KeyId, PublicKey, SecretKey, fresh_rng, gaussian, secret, ternary, uniform};
use super::params::Context;
use super::poly::{Ntt, RnsPoly};
use crate::error::{CiphertextProblem, Error, Result};

/// An encoded vector: a polynomial in NTT form over the first `level + 1` data primes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plaintext {
    /// m.
    pub poly: RnsPoly<Ntt>,
    /// Δ: the factor the values were multiplied by.
    pub scale: f64,
}

/// An encrypted vector: (c₀, c₁) in NTT form over the first `level + 1` data primes.
#[derive(Debug, Clone, PartialEq)]
pub struct Ciphertext {
    /// c₀ and c₁.
    pub c: [RnsPoly<Ntt>; 2],
    /// Δ of the encrypted values.
    pub scale: f64,
    /// The key set it was encrypted under.
    pub key: KeyId,
}

impl Ciphertext {
    /// The level: how many rescalings are left (primes in use − 1).
    pub fn level(&self) -> usize {
        self.c[0].primes().len() - 1
    }
}

/// Encodes `values` (at most N/2) at `scale` over the first `level + 1` data primes.
pub fn encode(ctx: &Context, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
    if level >= ctx.data_primes() {
        return Err(Error::out_of_range(
            "plaintext",
            format!(
                "level {level}: the chain has levels 0 to {}",
                ctx.data_primes() - 1
            ),
        ));
    }
    if !(scale.is_finite() && scale >= 1.0) || values.iter().any(|v| !v.is_finite()) {
        return Err(Error::out_of_range(
            "plaintext",
            "values and the scale must be finite (the scale at least 1)",
        ));
    }
    let slots: Vec<_> = values
        .iter()
        .map(|&v| rustfft::num_complex::Complex64::new(v, 0.0))
        .collect();
    let coeffs = ctx.encoder().embed_inverse(&slots)?;
    // The coefficients must stay well inside (−Q/2, Q/2) of the level.
    let level_bits: u32 = ctx.params().chain[..=level].iter().sum();
    let limit = 2f64.powi(level_bits.min(126) as i32 - 2);
    let scaled: Vec<i128> = coeffs
        .iter()
        .map(|c| {
            let v = (c * scale).round();
            if v.abs() < limit {
                Ok(v as i128)
            } else {
                Err(Error::out_of_range(
                    "plaintext",
                    format!(
                        "a value times the scale 2^{:.0} exceeds what level {level} holds",
                        scale.log2()
                    ),
                ))
            }
        })
        .collect::<Result<_>>()?;
    let primes: Vec<usize> = (0..=level).collect();
    let poly = RnsPoly::from_i128(ctx, &primes, &scaled)?.ntt(ctx)?;
    Ok(Plaintext { poly, scale })
}

/// The values of a plaintext: the real parts of its slots, divided by its scale.
pub fn decode(ctx: &Context, pt: &Plaintext) -> Result<Vec<f64>> {
    let coeffs: Vec<f64> = pt
        .poly
        .clone()
        .intt(ctx)?
        .to_centered_f64(ctx)?
        .into_iter()
        .map(|c| c / pt.scale)
        .collect();
    Ok(ctx.encoder().embed(&coeffs)?.iter().map(|z| z.re).collect())
}

fn same_shape(a: &Ciphertext, b_primes: &[usize], b_scale: f64) -> Result<()> {
    if a.c[0].primes() != b_primes {
        return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
            "operands at levels {} and {}: bring them to one level first",
            a.level(),
            b_primes.len().saturating_sub(1)
        ))));
    }
    if (a.scale / b_scale - 1.0).abs() > 1e-9 {
        return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
            "operands at scales 2^{:.2} and 2^{:.2}",
            a.scale.log2(),
            b_scale.log2()
        ))));
    }
    Ok(())
}

impl PublicKey {
    /// Encrypts `pt`.
    pub fn encrypt(&self, pt: &Plaintext) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        let primes = pt.poly.primes();
        let count = primes.len();
        let u = secret(ctx, primes, &ternary(ctx.degree(), &mut fresh_rng()))?;
        let e0 = secret(ctx, primes, &gaussian(ctx.degree())?)?;
        let e1 = secret(ctx, primes, &gaussian(ctx.degree())?)?;
        let mut c0 = self.b.truncated(count)?;
        c0.mul_assign(ctx, &u)?;
        c0.add_assign(ctx, &e0)?;
        c0.add_assign(ctx, &pt.poly)?;
        let mut c1 = self.a.truncated(count)?;
        c1.mul_assign(ctx, &u)?;
        c1.add_assign(ctx, &e1)?;
        Ok(Ciphertext {
            c: [c0, c1],
            scale: pt.scale,
            key: self.id,
        })
    }
}

impl SecretKey {
    /// Encrypts `pt` with the secret key: c = (−a·s + e + m, a) with a uniform and e
    /// Gaussian (CKKS 2017 §3.4, "SecretKeyEncrypt"; RLWE security as for public-key
    /// encryption). Cheaper than public-key encryption (one product, one error) and with less
    /// noise; for the key owner, who encrypts its own data.
    pub fn encrypt(&self, pt: &Plaintext) -> Result<Ciphertext> {
        self.encrypt_seeded(pt, veil_core::random::bytes())
    }

    /// Secret-key encryption with a = uniform(ChaCha20(seed)); the seed stands for a in
    /// the compact byte form ([`SecretKey::encrypt_to_bytes`]).
    pub(crate) fn encrypt_seeded(&self, pt: &Plaintext, seed: [u8; 32]) -> Result<Ciphertext> {
        use rand::SeedableRng;
        let ctx = &self.ctx;
        let primes = pt.poly.primes();
        // Checked before `uniform` indexes the chain with them.
        pt.poly.check_context(ctx)?;
        let a = uniform(ctx, primes, &mut rand_chacha::ChaCha20Rng::from_seed(seed));
        let e = secret(ctx, primes, &gaussian(ctx.degree())?)?;
        let mut c0 = a.clone();
        c0.mul_assign_leading(ctx, &self.s)?;
        c0.neg_assign(ctx);
        c0.add_assign(ctx, &e)?;
        c0.add_assign(ctx, &pt.poly)?;
        Ok(Ciphertext {
            c: [c0, a],
            scale: pt.scale,
            key: self.id,
        })
    }

    /// Decrypts `ct` to its plaintext c₀ + c₁·s.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext> {
        let ctx = &self.ctx;
        if ct.key != self.id {
            return Err(Error::Ciphertext(CiphertextProblem::OtherKeySet));
        }
        if ct.c[1].primes() != ct.c[0].primes() || ct.c[0].primes().len() > ctx.data_primes() {
            return Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
                "its primes are not these parameters'".into(),
            )));
        }
        let mut m = ct.c[1].clone();
        m.mul_assign_leading(ctx, &self.s)?;
        m.add_assign(ctx, &ct.c[0])?;
        Ok(Plaintext {
            poly: m,
            scale: ct.scale,
        })
    }
}

/// Refuses ciphertexts of different key sets.
pub(crate) fn same_key(a: &Ciphertext, b: &Ciphertext) -> Result<()> {
    if a.key != b.key {
        return Err(Error::Ciphertext(CiphertextProblem::OtherKeySet));
    }
    Ok(())
}

/// E(a + b).
pub fn add(ctx: &Context, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
    same_key(a, b)?;
    same_shape(a, b.c[0].primes(), b.scale)?;
    let mut out = a.clone();
    out.c[0].add_assign(ctx, &b.c[0])?;
    out.c[1].add_assign(ctx, &b.c[1])?;
    Ok(out)
}

/// E(a + p) for a plaintext p at the same level and scale.
pub fn add_plain(ctx: &Context, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext> {
    same_shape(a, p.poly.primes(), p.scale)?;
    let mut out = a.clone();
    out.c[0].add_assign(ctx, &p.poly)?;
    Ok(out)
}

/// E(a·p) slot-wise for a plaintext p at the same level; the scales multiply.
pub fn mul_plain(ctx: &Context, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext> {
    same_shape(a, p.poly.primes(), a.scale)?;
    let mut out = a.clone();
    out.c[0].mul_assign(ctx, &p.poly)?;
    out.c[1].mul_assign(ctx, &p.poly)?;
    out.scale = a.scale * p.scale;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::params::Parameters;
    use super::*;

    fn context() -> &'static std::sync::Arc<Context> {
        static CTX: std::sync::OnceLock<std::sync::Arc<Context>> = std::sync::OnceLock::new();
        CTX.get_or_init(|| Context::new(Parameters::n8192()).unwrap())
    }

    fn keys() -> &'static (SecretKey, PublicKey) {
        static KEYS: std::sync::OnceLock<(SecretKey, PublicKey)> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let sk = SecretKey::generate(context());
            let pk = sk.public_key().unwrap();
            (sk, pk)
        })
    }

    fn max_error(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]
        #[test]
        fn encrypted_sums_and_plaintext_products_match_the_plain_computation(
            x in proptest::collection::vec(-100.0f64..100.0, 1..64),
            w in proptest::collection::vec(-2.0f64..2.0, 64),
        ) {
            let ctx = context();
            let (sk, pk) = keys();
            let level = ctx.data_primes() - 1;
            let scale = ctx.scale();
            let ex = pk.encrypt(&encode(ctx, &x, level, scale).unwrap()).unwrap();
            // Fresh: within 2^-20 of the values (noise ≈ N·σ / Δ).
            let back = decode(ctx, &sk.decrypt(&ex).unwrap()).unwrap();
            prop_assert!(max_error(&back[..x.len()], &x) < 1e-6, "{}", max_error(&back[..x.len()], &x));
            prop_assert!(back[x.len()..].iter().all(|v| v.abs() < 1e-6));
            // With the secret key: less noise (only e), and it adds to a public-key one.
            let sym = sk.encrypt(&encode(ctx, &x, level, scale).unwrap()).unwrap();
            let back = decode(ctx, &sk.decrypt(&sym).unwrap()).unwrap();
            prop_assert!(max_error(&back[..x.len()], &x) < 1e-8, "{}", max_error(&back[..x.len()], &x));
            let both = decode(ctx, &sk.decrypt(&add(ctx, &ex, &sym).unwrap()).unwrap()).unwrap();
            let twice: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
            prop_assert!(max_error(&both[..x.len()], &twice) < 1e-6);
            // x + x, x + w, x·w.
            let w = &w[..x.len()];
            let pw = encode(ctx, w, level, scale).unwrap();
            let sum = decode(ctx, &sk.decrypt(&add(ctx, &ex, &ex).unwrap()).unwrap()).unwrap();
            prop_assert!(max_error(&sum[..x.len()], &twice) < 1e-6);
            let plus = decode(ctx, &sk.decrypt(&add_plain(ctx, &ex, &pw).unwrap()).unwrap()).unwrap();
            let want: Vec<f64> = x.iter().zip(w).map(|(a, b)| a + b).collect();
            prop_assert!(max_error(&plus[..x.len()], &want) < 1e-6);
            let prod = mul_plain(ctx, &ex, &pw).unwrap();
            prop_assert_eq!(prod.scale, scale * scale);
            let got = decode(ctx, &sk.decrypt(&prod).unwrap()).unwrap();
            let want: Vec<f64> = x.iter().zip(w).map(|(a, b)| a * b).collect();
            prop_assert!(max_error(&got[..x.len()], &want) < 1e-5, "{}", max_error(&got[..x.len()], &want));
        }
    }

    /// A ciphertext whose halves are over different primes (its fields are public) was
    /// caught only by a `debug_assert`: a release build added the limbs it could pair and
    /// returned a ciphertext that decrypts to garbage.
    #[test]
    fn halves_over_other_primes_are_an_error_in_release_builds() {
        let ctx = context();
        let (_, pk) = keys();
        let scale = ctx.scale();
        let top = pk.encrypt(&encode(ctx, &[1.0], 2, scale).unwrap()).unwrap();
        let low = pk.encrypt(&encode(ctx, &[1.0], 1, scale).unwrap()).unwrap();
        let odd = Ciphertext {
            c: [low.c[0].clone(), top.c[1].clone()],
            ..low.clone()
        };
        let unlike = |r: Result<Ciphertext>| {
            matches!(r, Err(Error::Ciphertext(CiphertextProblem::Unlike(_))))
        };
        assert!(unlike(add(ctx, &odd, &low)), "a sum");
        assert!(unlike(add(ctx, &low, &odd)), "a sum");
        let p = encode(ctx, &[2.0], 1, scale).unwrap();
        assert!(unlike(mul_plain(ctx, &odd, &p)), "a plaintext product");
        assert!(add(ctx, &low, &low).is_ok());
    }

    #[test]
    fn mismatched_operands_and_out_of_range_values_are_refused() {
        let ctx = context();
        let (_, pk) = keys();
        let scale = ctx.scale();
        let top = pk.encrypt(&encode(ctx, &[1.0], 2, scale).unwrap()).unwrap();
        let low = pk.encrypt(&encode(ctx, &[1.0], 1, scale).unwrap()).unwrap();
        assert!(
            add(ctx, &top, &low)
                .unwrap_err()
                .to_string()
                .contains("levels")
        );
        let other_scale = pk
            .encrypt(&encode(ctx, &[1.0], 2, scale * 2.0).unwrap())
            .unwrap();
        assert!(
            add(ctx, &top, &other_scale)
                .unwrap_err()
                .to_string()
                .contains("scales")
        );
        assert!(encode(ctx, &[1.0], 3, scale).is_err(), "no level 3");
        assert!(encode(ctx, &[f64::NAN], 2, scale).is_err());
        assert!(
            encode(ctx, &[1e30], 0, scale).is_err(),
            "too large for level 0"
        );
        assert!(
            encode(ctx, &vec![0.0; 4097], 2, scale).is_err(),
            "4,096 slots"
        );
        // Another key set's secret key refuses to decrypt; forcing it gives noise.
        let stranger = SecretKey::generate(ctx);
        let err = stranger.decrypt(&top).unwrap_err().to_string();
        assert!(err.contains("another key set"), "{err}");
        let forged = Ciphertext {
            key: stranger.id(),
            ..top.clone()
        };
        let garbage = decode(ctx, &stranger.decrypt(&forged).unwrap()).unwrap();
        assert!((garbage[0] - 1.0).abs() > 1.0, "{}", garbage[0]);
        let theirs = stranger.public_key().unwrap();
        let other = theirs
            .encrypt(&encode(ctx, &[1.0], 2, scale).unwrap())
            .unwrap();
        assert!(add(ctx, &top, &other).is_err());
    }
}
