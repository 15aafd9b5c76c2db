//! The operations that need evaluation keys: ciphertext multiplication with
//! relinearisation, rescaling, and slot rotations (CKKS 2017 §3.4 and §4; Galois
//! automorphisms X → X^(3^k) as in Gentry, Halevi and Smart, "Homomorphic Evaluation of the
//! AES Circuit", CRYPTO 2012, §4.1).
//!
//! The Galois keys cover every rotation left by 2^i, so one key set serves any model: a
//! rotation by k (mod N/2; right rotations are left ones by N/2 − k) is the product of the
//! rotations by the powers of two in k.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::cipher::{Ciphertext, same_key};
use super::encoding::GENERATOR;
use super::keys::{KeyId, SecretKey};
use super::keyswitch::{KeySwitchKey, rescale as mod_down};
use super::params::Context;
use super::poly::{Ntt, RnsPoly, SecretPoly};
use crate::error::{CiphertextProblem, Error, KeyProblem, Result};

/// The keys a server needs to multiply and rotate: public, safe to share.
#[derive(Debug, Clone)]
pub struct EvaluationKeys {
    /// Absent from a subset made for rotations only.
    pub(crate) relin: Option<KeySwitchKey>,
    /// Per Galois element g (3^k mod 2N for k = 2^i), the key from σ_g(s) to s.
    pub(crate) galois: BTreeMap<usize, KeySwitchKey>,
    pub(crate) id: KeyId,
}

impl EvaluationKeys {
    /// The key set these keys belong to.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Only the relinearisation key: all a circuit without rotations needs, and a fraction
    /// of the size (the Galois keys are one such key per power-of-two rotation).
    pub fn relinearisation_only(&self) -> EvaluationKeys {
        EvaluationKeys {
            relin: self.relin.clone(),
            galois: BTreeMap::new(),
            id: self.id,
        }
    }

    /// Only the Galois key for a rotation left by `step` (a power of two), without the
    /// relinearisation key: what a server is sent, one key per message, for a circuit that
    /// rotates.
    pub fn rotation_key(&self, ctx: &Context, step: usize) -> Result<EvaluationKeys> {
        let g = galois_element(ctx.degree(), step as i64);
        let key = self
            .galois
            .get(&g)
            .ok_or(Error::Key(KeyProblem::NoRotation(step as i64)))?;
        Ok(EvaluationKeys {
            relin: None,
            galois: BTreeMap::from([(g, key.clone())]),
            id: self.id,
        })
    }

    /// Adds `other`'s keys (of the same key set) to these.
    pub fn merge(&mut self, other: EvaluationKeys) -> Result<()> {
        if other.id != self.id {
            return Err(Error::Key(KeyProblem::OtherKeySet("evaluation keys")));
        }
        if other.relin.is_some() {
            self.relin = other.relin;
        }
        self.galois.extend(other.galois);
        Ok(())
    }

    /// The rotations (left by 2^i) these keys can do.
    pub fn rotation_steps(&self, ctx: &Context) -> Vec<usize> {
        let slots = ctx.degree() / 2;
        (0..slots.trailing_zeros())
            .map(|i| 1usize << i)
            .filter(|&step| {
                self.galois
                    .contains_key(&galois_element(ctx.degree(), step as i64))
            })
            .collect()
    }

    fn check(&self, a: &Ciphertext) -> Result<()> {
        if a.key != self.id {
            return Err(Error::Ciphertext(CiphertextProblem::OtherKeySet));
        }
        Ok(())
    }
}

/// g with σ_g rotating slots left by `k` (negative: right): 3^k mod 2N.
fn galois_element(n: usize, k: i64) -> usize {
    let slots = (n / 2) as i64;
    let k = k.rem_euclid(slots) as u64;
    let two_n = 2 * n as u64;
    let (mut g, mut base, mut e) = (1u64, GENERATOR as u64, k);
    while e > 0 {
        if e & 1 == 1 {
            g = g * base % two_n;
        }
        base = base * base % two_n;
        e >>= 1;
    }
    g as usize
}

/// σ_g applied to a polynomial in NTT form: evaluation at ψ^e becomes evaluation at
/// ψ^(e·g), a permutation of the bit-reversed evaluation points.
fn automorphism(ctx: &Context, x: &RnsPoly<Ntt>, g: usize) -> RnsPoly<Ntt> {
    let n = ctx.degree();
    let source = ctx.galois_permutation(g, || {
        let bits = n.trailing_zeros();
        let brv = |i: usize| i.reverse_bits() >> (usize::BITS - bits);
        // Position k holds the evaluation at ψ^(2·brv(k)+1).
        (0..n)
            .map(|k| {
                let e = (2 * brv(k) + 1) * g % (2 * n);
                brv((e - 1) / 2)
            })
            .collect()
    });
    RnsPoly::from_parts(
        x.primes().to_vec(),
        x.limbs()
            .iter()
            .map(|limb| source.iter().map(|&s| limb[s]).collect())
            .collect(),
    )
}

impl SecretKey {
    /// The relinearisation key and Galois keys for all rotations left by 2^i.
    pub fn evaluation_keys(&self) -> Result<EvaluationKeys> {
        let ctx = &self.ctx;
        let s2 = SecretPoly::new(RnsPoly::product(ctx, &self.s, &self.s)?);
        let relin = KeySwitchKey::generate(self, &s2)?;
        let slots = ctx.degree() / 2;
        let mut galois = BTreeMap::new();
        let mut step = 1i64;
        while (step as usize) < slots {
            let g = galois_element(ctx.degree(), step);
            let sigma_s = SecretPoly::new(automorphism(ctx, &self.s, g));
            galois.insert(g, KeySwitchKey::generate(self, &sigma_s)?);
            step *= 2;
        }
        Ok(EvaluationKeys {
            relin: Some(relin),
            galois,
            id: self.id,
        })
    }
}

/// E(a·b) slot-wise, relinearised, at the scale product (rescale afterwards).
pub fn multiply(
    ctx: &Arc<Context>,
    keys: &EvaluationKeys,
    a: &Ciphertext,
    b: &Ciphertext,
) -> Result<Ciphertext> {
    same_key(a, b)?;
    keys.check(a)?;
    if a.c[0].primes() != b.c[0].primes() {
        return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
            "operands at levels {} and {}",
            a.level(),
            b.level()
        ))));
    }
    let mut d0 = RnsPoly::product(ctx, &a.c[0], &b.c[0])?;
    let mut d1 = RnsPoly::product_sum(ctx, [&a.c[0], &b.c[1]], [&a.c[1], &b.c[0]])?;
    let d2 = RnsPoly::product(ctx, &a.c[1], &b.c[1])?;
    let relin = keys
        .relin
        .as_ref()
        .ok_or_else(|| Error::Key(KeyProblem::NoRelinearisation))?;
    let [u0, u1] = relin.switch(ctx, &d2)?;
    d0.add_assign(ctx, &u0)?;
    d1.add_assign(ctx, &u1)?;
    Ok(Ciphertext {
        c: [d0, d1],
        scale: a.scale * b.scale,
        key: a.key,
    })
}

/// Divides by the last prime of the ciphertext's level: the scale drops by that prime
/// (≈ Δ) and the level by one.
pub fn rescale(ctx: &Context, a: &Ciphertext) -> Result<Ciphertext> {
    if a.level() == 0 {
        return Err(Error::out_of_range(
            "level",
            "the ciphertext is at level 0: the modulus chain is used up (choose parameters with more primes)",
        ));
    }
    if a.c[1].primes() != a.c[0].primes() {
        return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
            "halves over primes {:?} and {:?}",
            a.c[0].primes(),
            a.c[1].primes()
        ))));
    }
    a.c[0].check_context(ctx)?;
    let q = ctx.modulus(a.c[0].primes()[a.level()]).value() as f64;
    Ok(Ciphertext {
        c: [
            mod_down(ctx, a.c[0].clone())?,
            mod_down(ctx, a.c[1].clone())?,
        ],
        scale: a.scale / q,
        key: a.key,
    })
}

/// Rotates the slots left by `k` (right for negative k), as a product of the rotations by
/// powers of two the keys hold.
pub fn rotate(
    ctx: &Arc<Context>,
    keys: &EvaluationKeys,
    a: &Ciphertext,
    k: i64,
) -> Result<Ciphertext> {
    keys.check(a)?;
    // The automorphism permutes N residues per limb: each limb must have them.
    a.c[0].check_context(ctx)?;
    a.c[1].check_context(ctx)?;
    let slots = (ctx.degree() / 2) as i64;
    let mut k = k.rem_euclid(slots);
    let mut out = a.clone();
    let mut step = 1i64;
    while k > 0 {
        if k & 1 == 1 {
            out = rotate_by_key(ctx, keys, &out, step)?;
        }
        k >>= 1;
        step <<= 1;
    }
    Ok(out)
}

fn rotate_by_key(
    ctx: &Arc<Context>,
    keys: &EvaluationKeys,
    a: &Ciphertext,
    k: i64,
) -> Result<Ciphertext> {
    let g = galois_element(ctx.degree(), k);
    let key = keys
        .galois
        .get(&g)
        .ok_or(Error::Key(KeyProblem::NoRotation(k)))?;
    let c0 = automorphism(ctx, &a.c[0], g);
    let c1 = automorphism(ctx, &a.c[1], g);
    let [mut u0, u1] = key.switch(ctx, &c1)?;
    u0.add_assign(ctx, &c0)?;
    Ok(Ciphertext {
        c: [u0, u1],
        scale: a.scale,
        key: a.key,
    })
}

#[cfg(test)]
mod tests {
    use super::super::cipher::{decode, encode};
    use super::super::keys::PublicKey;
    use super::super::params::Parameters;
    use super::*;

    fn setup() -> &'static (Arc<Context>, SecretKey, PublicKey, EvaluationKeys) {
        static SETUP: std::sync::OnceLock<(Arc<Context>, SecretKey, PublicKey, EvaluationKeys)> =
            std::sync::OnceLock::new();
        SETUP.get_or_init(|| {
            let ctx = Context::new(Parameters::n8192()).unwrap();
            let sk = SecretKey::generate(&ctx);
            let pk = sk.public_key().unwrap();
            let keys = sk.evaluation_keys().unwrap();
            (ctx, sk, pk, keys)
        })
    }

    fn max_error(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn multiply_relinearise_rescale_twice_then_level_zero_refuses() {
        let (ctx, sk, pk, keys) = setup();
        let x: Vec<f64> = (0..4096).map(|i| ((i as f64) * 0.01).sin() * 3.0).collect();
        let y: Vec<f64> = (0..4096).map(|i| ((i as f64) * 0.02).cos() * 2.0).collect();
        let top = ctx.data_primes() - 1;
        let ex = pk
            .encrypt(&encode(ctx, &x, top, ctx.scale()).unwrap())
            .unwrap();
        let ey = pk
            .encrypt(&encode(ctx, &y, top, ctx.scale()).unwrap())
            .unwrap();
        let xy = rescale(ctx, &multiply(ctx, keys, &ex, &ey).unwrap()).unwrap();
        assert_eq!(xy.level(), top - 1);
        let got = decode(ctx, &sk.decrypt(&xy).unwrap()).unwrap();
        let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        let err = max_error(&got, &want);
        assert!(err < 1e-4, "x·y error {err}");
        // (x·y)·(x·y) at the next level, then rescale to level 0.
        let xy2 = rescale(ctx, &multiply(ctx, keys, &xy, &xy).unwrap()).unwrap();
        assert_eq!(xy2.level(), 0);
        let got = decode(ctx, &sk.decrypt(&xy2).unwrap()).unwrap();
        let want2: Vec<f64> = want.iter().map(|v| v * v).collect();
        let err = max_error(&got, &want2);
        assert!(err < 1e-2, "(x·y)² error {err}");
        // Depth beyond the chain: a clear error, not a wrong answer.
        let err = rescale(ctx, &multiply(ctx, keys, &xy2, &xy2).unwrap()).unwrap_err();
        assert!(err.to_string().contains("level 0"), "{err}");
    }

    /// Before, a ciphertext whose halves are over different primes went through a release
    /// build's multiplication (only `debug_assert`s compared the primes) and came out as
    /// garbage.
    #[test]
    fn multiplying_halves_over_other_primes_is_an_error_in_release_builds() {
        let (ctx, _, pk, keys) = setup();
        let top = pk
            .encrypt(&encode(ctx, &[1.0], 2, ctx.scale()).unwrap())
            .unwrap();
        let low = pk
            .encrypt(&encode(ctx, &[1.0], 1, ctx.scale()).unwrap())
            .unwrap();
        let odd = Ciphertext {
            c: [low.c[0].clone(), top.c[1].clone()],
            ..low.clone()
        };
        for result in [
            multiply(ctx, keys, &odd, &low),
            multiply(ctx, keys, &low, &odd),
            rescale(ctx, &odd),
            rotate(ctx, keys, &odd, 1),
        ] {
            assert!(
                matches!(result, Err(Error::Ciphertext(CiphertextProblem::Unlike(_)))),
                "{result:?}"
            );
        }
        multiply(ctx, keys, &low, &low).unwrap();
    }

    #[test]
    fn rotations_by_any_amount_move_the_slots() {
        let (ctx, sk, pk, keys) = setup();
        let x: Vec<f64> = (0..4096).map(|i| i as f64 / 100.0).collect();
        let top = ctx.data_primes() - 1;
        let ex = pk
            .encrypt(&encode(ctx, &x, top, ctx.scale()).unwrap())
            .unwrap();
        for k in [1i64, 2, 5, 100, -1, -37, 4095] {
            let got = decode(
                ctx,
                &sk.decrypt(&rotate(ctx, keys, &ex, k).unwrap()).unwrap(),
            )
            .unwrap();
            let mut want = x.clone();
            want.rotate_left(k.rem_euclid(4096) as usize);
            let err = max_error(&got, &want);
            assert!(err < 1e-4, "rotation by {k}: error {err}");
        }
    }
}
