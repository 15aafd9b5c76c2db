//! The feature-packed CKKS layout, for few rows and a linear model: a row's features sit
//! side by side, row r of a batch in slots r·b … r·b + d − 1 (b, the block, is d rounded up
//! to a power of two), so one ciphertext holds N/(2b) rows — one row is one ciphertext
//! instead of one per feature.
//!
//! Evaluating output k: multiply by the weights laid out the same way (slot r·b + j holds
//! w_kj), rescale, then sum each block into its first slot with log₂ b rotations (by 1, 2,
//! 4, …, b/2: after them slot r·b holds Σⱼ w_kj·x_rj); add the bias; multiply by a mask that
//! keeps slot r·b of each row and zeroes the rest, and rescale. The mask keeps an honest
//! client from partial sums of weights times its features; it does not protect the model
//! from a malicious one, whose Galois keys the service cannot check (and one-hot rows read
//! a linear model's weights in any layout). Two levels, and the Galois keys for the
//! rotations by powers of two below b.

use rayon::prelude::*;

use super::super::ckks::cipher::{Ciphertext, add, encode, mul_plain};
use super::super::ckks::eval::{EvaluationKeys, rescale, rotate};
use super::super::ckks::linear::add_constant;
use super::super::ckks::params::Context;
use crate::circuit::Dense;
use crate::error::{Error, Result};

/// The levels the layout spends.
pub const DEPTH: usize = 2;

/// The block for `features`: the next power of two.
pub fn block(features: usize) -> usize {
    features.next_power_of_two()
}

/// The rotations the layout needs for `block`: 1, 2, 4, …, block/2.
pub fn rotations(block: usize) -> Vec<usize> {
    (0..block.trailing_zeros()).map(|i| 1 << i).collect()
}

/// The slots of `rows` (each `features` wide) packed in blocks of `block`.
pub fn pack(rows: &[Vec<f64>], block: usize) -> Vec<f64> {
    let mut slots = vec![0.0; rows.len() * block];
    for (r, row) in rows.iter().enumerate() {
        slots[r * block..r * block + row.len()].copy_from_slice(row);
    }
    slots
}

/// The scores of output `k` for `rows` rows, from the slots of a decrypted result.
pub fn unpack(slots: &[f64], rows: usize, block: usize) -> Vec<f64> {
    (0..rows).map(|r| slots[r * block]).collect()
}

/// A plaintext vector at the level of `like`, scaled by its last prime (so the rescaling
/// after the product restores `like`'s scale).
fn plain(ctx: &Context, like: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
    let q = ctx.modulus(like.level()).value() as f64;
    let pt = encode(ctx, values, like.level(), q)?;
    rescale(ctx, &mul_plain(ctx, like, &pt)?)
}

/// E(z_k) for every output k of `layer`, for `rows` rows packed in `ct` with `block`.
pub fn evaluate(
    ctx: &std::sync::Arc<Context>,
    keys: &EvaluationKeys,
    ct: &Ciphertext,
    layer: &Dense,
    rows: usize,
    block: usize,
) -> Result<Vec<Ciphertext>> {
    if ct.level() < DEPTH {
        return Err(Error::out_of_range(
            "layout",
            format!(
                "an input at level {}: the feature-packed layout needs {DEPTH}",
                ct.level()
            ),
        ));
    }
    let features = layer.weights.ncols();
    let mut mask = vec![0.0; rows * block];
    for r in 0..rows {
        mask[r * block] = 1.0;
    }
    (0..layer.bias.len())
        .into_par_iter()
        .map(|k| {
            let w: Vec<f64> = layer.weights.row(k).to_vec();
            debug_assert_eq!(w.len(), features);
            let mut z = plain(ctx, ct, &pack(&vec![w; rows], block))?;
            for step in rotations(block) {
                z = add(ctx, &z, &rotate(ctx, keys, &z, step as i64)?)?;
            }
            add_constant(ctx, &mut z, layer.bias[k])?;
            plain(ctx, &z, &mask)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::super::super::ckks::cipher::decode;
    use super::super::super::ckks::keys::SecretKey;
    use super::super::super::ckks::params::Parameters;
    use super::*;

    #[test]
    fn packed_scores_match_the_plain_ones_and_hide_the_other_slots() {
        let ctx = Context::new(Parameters::n8192()).unwrap();
        let sk = SecretKey::generate(&ctx);
        let pk = sk.public_key().unwrap();
        let keys = sk.evaluation_keys().unwrap();
        let layer = Dense {
            weights: array![[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]],
            bias: array![0.1, -2.0],
        };
        let rows = vec![vec![1.0, 2.0, 3.0], vec![-4.0, 0.5, 10.0]];
        let b = block(3);
        assert_eq!((b, rotations(b)), (4, vec![1, 2]));
        let ct = pk
            .encrypt(&encode(&ctx, &pack(&rows, b), 2, ctx.scale()).unwrap())
            .unwrap();
        let out = evaluate(&ctx, &keys, &ct, &layer, rows.len(), b).unwrap();
        for (k, z) in out.iter().enumerate() {
            assert_eq!(z.level(), 0);
            let slots = decode(&ctx, &sk.decrypt(z).unwrap()).unwrap();
            for (r, row) in rows.iter().enumerate() {
                let want = layer.bias[k]
                    + row
                        .iter()
                        .zip(layer.weights.row(k))
                        .map(|(x, w)| x * w)
                        .sum::<f64>();
                assert!((unpack(&slots, 2, b)[r] - want).abs() < 1e-4);
            }
            // Only the score slots carry anything.
            let rest = slots
                .iter()
                .enumerate()
                .filter(|(i, _)| i % b != 0 || *i >= 2 * b)
                .map(|(_, v)| v.abs())
                .fold(0.0, f64::max);
            assert!(rest < 1e-4, "{rest}");
        }
        let low = pk
            .encrypt(&encode(&ctx, &pack(&rows, b), 1, ctx.scale()).unwrap())
            .unwrap();
        assert!(evaluate(&ctx, &keys, &low, &layer, 2, b).is_err());
    }
}
