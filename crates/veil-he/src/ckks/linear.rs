//! Products with real constants, and sums of them: a dense layer evaluated on ciphertexts
//! that each hold one input of many rows (slot r is row r).
//!
//! A constant c multiplies every slot alike, so it need not be encoded as a plaintext
//! polynomial: the constant polynomial round(c·q) has the same value at every NTT evaluation
//! point, and multiplying a ciphertext by it is one Shoup product per residue. Scaling c by
//! the level's last prime q (rather than by Δ) makes the following rescaling, which divides
//! by q, return the sum to the inputs' scale exactly, so the layers of a circuit keep one
//! scale. Adding a constant likewise adds round(c·scale) to every evaluation of c₀.

use rayon::prelude::*;

use super::cipher::Ciphertext;
use super::eval::rescale;
use super::math::modulus::Shoup;
use super::params::Context;
use super::poly::{Ntt, RnsPoly};
use crate::error::{CiphertextProblem, Error, Result};

/// The largest |c·q| (or |c·scale|) a constant may reach: well inside i128 and Q.
const LIMIT: f64 = 9.0e30; // ≈ 2^102.8

/// round(x) as residues modulo each of `primes`.
fn residues(ctx: &Context, primes: &[usize], x: f64, what: &str) -> Result<Vec<u64>> {
    let v = x.round();
    if !(v.is_finite() && v.abs() < LIMIT) {
        return Err(Error::out_of_range(
            "weighted sum",
            format!("the {what} {x:e} (after scaling) is too large for the ciphertext's level"),
        ));
    }
    let v = v as i128;
    Ok(primes
        .iter()
        .map(|&p| {
            let m = ctx.modulus(p);
            let r = m.reduce_u128(v.unsigned_abs());
            if v < 0 { m.neg(r) } else { r }
        })
        .collect())
}

/// Σ wⱼ·ctⱼ, accumulated one input at a time (so that inputs can be dropped as they are
/// used), then rescaled by [`WeightedSum::finish`].
#[derive(Debug, Clone)]
pub struct WeightedSum {
    acc: [RnsPoly<Ntt>; 2],
    scale: f64,
    key: super::keys::KeyId,
    /// The level's last prime, the factor the weights are scaled by.
    q: f64,
    terms: usize,
}

impl WeightedSum {
    /// An empty sum of ciphertexts shaped like `like` (same level, scale and key set).
    pub fn new(ctx: &Context, like: &Ciphertext) -> Result<WeightedSum> {
        if like.level() == 0 {
            return Err(Error::out_of_range(
                "weighted sum",
                "the inputs are at level 0: no rescaling is left for a dense layer (the \
                 circuit is deeper than the modulus chain)",
            ));
        }
        let primes = like.c[0].primes();
        Ok(WeightedSum {
            acc: [RnsPoly::zero(ctx, primes)?, RnsPoly::zero(ctx, primes)?],
            scale: like.scale,
            key: like.key,
            q: ctx.modulus(primes[like.level()]).value() as f64,
            terms: 0,
        })
    }

    /// Adds w·ct.
    pub fn add(&mut self, ctx: &Context, ct: &Ciphertext, w: f64) -> Result<()> {
        WeightedSum::add_all(ctx, std::slice::from_mut(self), &[ct], |_, _| w)
    }

    /// Refuses an input of another key set, level, scale or ring degree than the sum's.
    pub fn check(&self, ct: &Ciphertext) -> Result<()> {
        if ct.key != self.key {
            return Err(Error::Ciphertext(CiphertextProblem::OtherKeySet));
        }
        let primes = self.acc[0].primes();
        if ct.c.iter().any(|c| c.primes() != primes) || (ct.scale / self.scale - 1.0).abs() > 1e-9 {
            return Err(Error::Ciphertext(CiphertextProblem::Unlike(format!(
                "an input at level {} and scale 2^{:.2} in a sum at level {} and scale 2^{:.2}",
                ct.level(),
                ct.scale.log2(),
                primes.len() - 1,
                self.scale.log2()
            ))));
        }
        // The same primes; the limbs must also be as long as the sum's.
        let degree = self.acc[0].limbs()[0].len();
        if ct
            .c
            .iter()
            .any(|c| c.limbs().iter().any(|l| l.len() != degree))
        {
            return Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
                format!("an input of another ring degree in a sum for N = {degree}"),
            )));
        }
        Ok(())
    }

    /// Adds Σⱼ weight(k, j)·`inputs[j]` to each `sums[k]` (all alike in level, scale and key
    /// set) — what [`WeightedSum::add`] does pair by pair, arranged for the memory: the work
    /// is split by residue limb, and within a limb by tiles of coefficients, so that each
    /// input's tile stays in cache while every sum uses it and each accumulator is read and
    /// written once per call instead of once per input. Up to eight products, each below q,
    /// are summed before one reduction (nine values below q < 2^60 fit in a word).
    pub fn add_all(
        ctx: &Context,
        sums: &mut [WeightedSum],
        inputs: &[&Ciphertext],
        weight: impl Fn(usize, usize) -> f64 + Sync,
    ) -> Result<()> {
        let Some(first) = sums.first() else {
            return Ok(());
        };
        let primes = first.acc[0].primes().to_vec();
        for sum in sums.iter() {
            if sum.acc[0].primes() != primes || sum.key != first.key || sum.scale != first.scale {
                return Err(Error::Ciphertext(CiphertextProblem::Unlike(
                    "sums of unlike inputs".into(),
                )));
            }
            for acc in &sum.acc {
                acc.check_context(ctx)?;
            }
        }
        for ct in inputs {
            first.check(ct)?;
        }
        // weights[k][j][limb], as Shoup constants.
        let weights = (0..sums.len())
            .map(|k| {
                (0..inputs.len())
                    .map(|j| {
                        let r = residues(ctx, &primes, weight(k, j) * first.q, "weight")?;
                        Ok(r.iter()
                            .zip(&primes)
                            .map(|(&w, &p)| ctx.modulus(p).shoup(w))
                            .collect::<Vec<Shoup>>())
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let limbs = primes.len();
        let mut buckets: Vec<Vec<&mut [u64]>> = (0..2 * limbs).map(|_| Vec::new()).collect();
        for sum in sums.iter_mut() {
            for (half, poly) in sum.acc.iter_mut().enumerate() {
                for (l, limb) in poly.limbs_mut().iter_mut().enumerate() {
                    buckets[half * limbs + l].push(limb.as_mut_slice());
                }
            }
        }
        const TILE: usize = 1024;
        const GROUP: usize = 8;
        buckets
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut accs)| {
                let (half, l) = (b / limbs, b % limbs);
                let m = ctx.modulus(primes[l]);
                debug_assert!(m.value() < 1 << 60, "nine residues must fit in a word");
                // This limb's weights, unit by unit.
                let w: Vec<Vec<Shoup>> = weights
                    .iter()
                    .map(|wk| wk.iter().map(|wj| wj[l]).collect())
                    .collect();
                let sources: Vec<&[u64]> = inputs
                    .iter()
                    .map(|ct| ct.c[half].limbs()[l].as_slice())
                    .collect();
                let n = sources.first().map_or(0, |s| s.len());
                let mut partial = [0u64; TILE];
                for start in (0..n).step_by(TILE) {
                    let end = (start + TILE).min(n);
                    let partial = &mut partial[..end - start];
                    for (acc, wk) in accs.iter_mut().zip(&w) {
                        let acc = &mut acc[start..end];
                        for (srcs, ws) in sources.chunks(GROUP).zip(wk.chunks(GROUP)) {
                            partial.copy_from_slice(acc);
                            for (src, &wj) in srcs.iter().zip(ws) {
                                for (p, &x) in partial.iter_mut().zip(&src[start..end]) {
                                    *p += m.mul_shoup(x, wj);
                                }
                            }
                            for (a, &p) in acc.iter_mut().zip(partial.iter()) {
                                *a = m.reduce(p);
                            }
                        }
                    }
                }
            });
        for sum in sums.iter_mut() {
            sum.terms += inputs.len();
        }
        Ok(())
    }

    /// The sum, rescaled: one level down, at the inputs' scale.
    pub fn finish(self, ctx: &Context) -> Result<Ciphertext> {
        if self.terms == 0 {
            return Err(Error::out_of_range("weighted sum", "an empty weighted sum"));
        }
        rescale(
            ctx,
            &Ciphertext {
                c: self.acc,
                scale: self.scale * self.q,
                key: self.key,
            },
        )
    }
}

/// E(a + c) for a real constant c added to every slot.
pub fn add_constant(ctx: &Context, a: &mut Ciphertext, c: f64) -> Result<()> {
    a.c[0].check_context(ctx)?;
    let (primes, limbs) = a.c[0].parts_mut();
    let r = residues(ctx, primes, c * a.scale, "constant")?;
    for ((limb, &p), &rp) in limbs.iter_mut().zip(primes).zip(&r) {
        let m = ctx.modulus(p);
        for x in limb.iter_mut() {
            *x = m.add(*x, rp);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::cipher::{decode, encode};
    use super::super::keys::{PublicKey, SecretKey};
    use super::super::params::Parameters;
    use super::*;

    fn keys() -> &'static (std::sync::Arc<Context>, SecretKey, PublicKey) {
        static KEYS: std::sync::OnceLock<(std::sync::Arc<Context>, SecretKey, PublicKey)> =
            std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let ctx = Context::new(Parameters::n8192()).unwrap();
            let sk = SecretKey::generate(&ctx);
            let pk = sk.public_key().unwrap();
            (ctx, sk, pk)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4))]
        #[test]
        fn a_weighted_sum_plus_a_constant_matches_the_plain_computation(
            x in proptest::collection::vec(proptest::collection::vec(-300.0f64..300.0, 16), 3),
            w in proptest::collection::vec(-5.0f64..5.0, 3),
            b in -50.0f64..50.0,
        ) {
            let (ctx, sk, pk) = keys();
            let level = 1;
            let cts: Vec<_> = x
                .iter()
                .map(|v| pk.encrypt(&encode(ctx, v, level, ctx.scale()).unwrap()).unwrap())
                .collect();
            let mut sum = WeightedSum::new(ctx, &cts[0]).unwrap();
            for (ct, &wj) in cts.iter().zip(&w) {
                sum.add(ctx, ct, wj).unwrap();
            }
            let mut out = sum.finish(ctx).unwrap();
            prop_assert_eq!(out.level(), 0);
            prop_assert!((out.scale / ctx.scale() - 1.0).abs() < 1e-12);
            add_constant(ctx, &mut out, b).unwrap();
            let got = decode(ctx, &sk.decrypt(&out).unwrap()).unwrap();
            for r in 0..16 {
                let want = b + (0..3).map(|j| w[j] * x[j][r]).sum::<f64>();
                prop_assert!((got[r] - want).abs() < 1e-5, "{} vs {}", got[r], want);
            }
        }
    }

    #[test]
    fn level_zero_inputs_mixed_levels_and_huge_weights_are_refused() {
        let (ctx, _, pk) = keys();
        let at = |level| {
            pk.encrypt(&encode(ctx, &[1.0], level, ctx.scale()).unwrap())
                .unwrap()
        };
        let err = WeightedSum::new(ctx, &at(0)).unwrap_err().to_string();
        assert!(err.contains("deeper than the modulus chain"), "{err}");
        let mut sum = WeightedSum::new(ctx, &at(2)).unwrap();
        assert!(sum.add(ctx, &at(1), 1.0).is_err());
        assert!(sum.add(ctx, &at(2), 1e40).is_err());
        assert!(sum.add(ctx, &at(2), f64::NAN).is_err());
        let stranger = SecretKey::generate(ctx).public_key().unwrap();
        let theirs = stranger
            .encrypt(&encode(ctx, &[1.0], 2, ctx.scale()).unwrap())
            .unwrap();
        assert!(sum.add(ctx, &theirs, 1.0).is_err());
        assert!(sum.clone().finish(ctx).is_err(), "nothing added yet");
        sum.add(ctx, &at(2), 1.0).unwrap();
        assert_eq!(sum.finish(ctx).unwrap().level(), 1);
    }
}
