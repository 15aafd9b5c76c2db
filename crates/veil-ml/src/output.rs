//! Output layers and their losses.
//!
//! Each output pairs a link function with the loss whose gradient with respect to the
//! pre-activation `z` is simply `prediction − target` — the canonical link of a generalised
//! linear model — so backpropagation starts from the same expression for all three:
//!
//! | output | prediction | loss per example | ∂loss/∂z |
//! |---|---|---|---|
//! | `sigmoid` (binary) | `p = σ(z)` | `−y ln p − (1−y) ln(1−p)` | `p − y` |
//! | `softmax` (K classes) | `p = softmax(z)` | `−ln p_y` | `p − onehot(y)` |
//! | `identity` (regression) | `ŷ = z` | `½ (ŷ − y)²` | `ŷ − y` |
//!
//! Losses are computed from `z` in a numerically stable form (`log1p(exp(−|z|))`, log-sum-exp),
//! never from a probability that may have rounded to 0 or 1.
//!
//! Targets are `f64`: 0/1 for binary, the class index for softmax, the value for regression.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::names::named_enum;

/// An output layer: link function plus loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One logit, probability of the positive class; binary cross-entropy.
    Sigmoid,
    /// One logit per class; categorical cross-entropy.
    Softmax,
    /// One value; squared error.
    Identity,
}

impl Output {
    /// Checks that `y` holds valid targets for this output with `k` output units.
    pub fn check_targets(self, y: ArrayView1<'_, f64>, k: usize) -> Result<()> {
        let bad = match self {
            Output::Sigmoid => y.iter().position(|&v| v != 0.0 && v != 1.0),
            Output::Softmax => y
                .iter()
                .position(|&v| !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < k)),
            Output::Identity => y.iter().position(|v| !v.is_finite()),
        };
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::config(
                "targets",
                format!(
                    "target {} of row {} is not valid for a {} output",
                    y[i],
                    i + 1,
                    self.name()
                ),
            )),
        }
    }

    /// Turns pre-activations into predictions: probabilities, or values.
    pub fn predict(self, z: ArrayView2<'_, f64>) -> Array2<f64> {
        match self {
            Output::Sigmoid => z.mapv(sigmoid),
            Output::Softmax => {
                let mut p = z.to_owned();
                for mut row in p.rows_mut() {
                    let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    row.mapv_inplace(|v| (v - max).exp());
                    let sum = row.sum();
                    row /= sum;
                }
                p
            }
            Output::Identity => z.to_owned(),
        }
    }

    /// Per-example losses and ∂loss/∂z (one row per example).
    pub fn loss_and_delta(
        self,
        z: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> (Array1<f64>, Array2<f64>) {
        let mut delta = self.predict(z);
        let mut losses = Array1::zeros(z.nrows());
        for (i, (mut d, zi)) in delta.rows_mut().into_iter().zip(z.rows()).enumerate() {
            let target = y[i];
            losses[i] = match self {
                Output::Sigmoid => {
                    // −y ln σ(z) − (1−y) ln(1−σ(z)) = max(z,0) − z·y + ln(1 + e^{−|z|})
                    let v = zi[0];
                    d[0] -= target;
                    v.max(0.0) - v * target + (-v.abs()).exp().ln_1p()
                }
                Output::Softmax => {
                    let c = target as usize;
                    let max = zi.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    let lse = max + zi.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
                    d[c] -= 1.0;
                    lse - zi[c]
                }
                Output::Identity => {
                    let r = zi[0] - target;
                    d[0] = r;
                    0.5 * r * r
                }
            };
        }
        (losses, delta)
    }

    /// Mean loss over the rows.
    pub fn mean_loss(self, z: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.loss_and_delta(z, y)
            .0
            .mean_axis(Axis(0))
            .map_or(0.0, |m| m.into_scalar())
    }
}

/// The logistic function, computed without overflow for any `z`.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

named_enum!(Output, "output", { Sigmoid => "sigmoid", Softmax => "softmax", Identity => "identity" });

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn binary_cross_entropy_known_values() {
        // −ln σ(2) for y = 1 and −ln(1 − σ(2)) for y = 0.
        let (l, d) =
            Output::Sigmoid.loss_and_delta(array![[2.0], [2.0]].view(), array![1.0, 0.0].view());
        assert!((l[0] - 0.126_928_011_042_972_6).abs() < 1e-12);
        assert!((l[1] - 2.126_928_011_042_972_6).abs() < 1e-12);
        assert!((d[[0, 0]] - (sigmoid(2.0) - 1.0)).abs() < 1e-15);
        // Huge logits do not overflow.
        let (l, _) = Output::Sigmoid.loss_and_delta(array![[800.0]].view(), array![0.0].view());
        assert!((l[0] - 800.0).abs() < 1e-9);
    }

    #[test]
    fn softmax_cross_entropy_known_value() {
        // z = (1, 2, 3), y = 0: loss = ln(e + e² + e³) − 1 = 2.40760596444438.
        let (l, d) =
            Output::Softmax.loss_and_delta(array![[1.0, 2.0, 3.0]].view(), array![0.0].view());
        assert!((l[0] - 2.407_605_964_444_38).abs() < 1e-12);
        assert!((d.row(0).sum()).abs() < 1e-12, "softmax deltas sum to zero");
    }

    #[test]
    fn invalid_targets_are_rejected() {
        assert!(
            Output::Sigmoid
                .check_targets(array![0.0, 0.5].view(), 1)
                .is_err()
        );
        assert!(
            Output::Softmax
                .check_targets(array![0.0, 3.0].view(), 3)
                .is_err()
        );
        assert!(
            Output::Softmax
                .check_targets(array![0.0, 2.0].view(), 3)
                .is_ok()
        );
        assert!(
            Output::Identity
                .check_targets(array![f64::NAN].view(), 1)
                .is_err()
        );
    }
}
