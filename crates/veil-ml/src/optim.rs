//! Optimisers: mini-batch SGD with momentum, and Adam.
//!
//! Both take the mean gradient of a batch and update the flat parameter vector in place. L2
//! regularisation `λ/2·‖w‖²` over the weights (not the biases) is added to the gradient as
//! `λ·w` before the update ("coupled" weight decay, as PyTorch's `weight_decay`).
//!
//! * SGD with heavy-ball momentum: `v ← μ·v + g`, `θ ← θ − η·v`.
//! * Adam: Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
//!   Algorithm 1, with β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸.

use ndarray::{Array1, ArrayView1, ArrayViewMut1, Zip};

use crate::error::{Error, Result};
use crate::names::named_enum;

/// Which optimiser to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerKind {
    /// Stochastic gradient descent with momentum.
    Sgd,
    /// Adam.
    Adam,
}

named_enum!(OptimizerKind, "optimizer", { Sgd => "sgd", Adam => "adam" });

/// An optimiser with its state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    momentum: f64,
    l2: f64,
    mask: Array1<f64>,
    m: Array1<f64>,
    v: Array1<f64>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

impl Optimizer {
    /// A new optimiser for parameters whose L2 mask is `mask` (1 = weight, 0 = bias).
    ///
    /// | parameter | valid range |
    /// |---|---|
    /// | `lr` | finite, > 0 |
    /// | `momentum` (SGD only) | [0, 1) |
    /// | `l2` | finite, ≥ 0 |
    pub fn new(
        kind: OptimizerKind,
        lr: f64,
        momentum: f64,
        l2: f64,
        mask: Array1<f64>,
    ) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::config(
                "learning rate",
                format!("{lr} must be a positive number"),
            ));
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::config(
                "momentum",
                format!("{momentum} must be in [0, 1)"),
            ));
        }
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(Error::config(
                "l2",
                format!("{l2} must be a non-negative number"),
            ));
        }
        let p = mask.len();
        Ok(Optimizer {
            kind,
            lr,
            momentum,
            l2,
            mask,
            m: Array1::zeros(p),
            v: Array1::zeros(if kind == OptimizerKind::Adam { p } else { 0 }),
            t: 0,
        })
    }

    /// Applies one update with the batch's mean gradient `grad`.
    pub fn step(
        &mut self,
        mut params: ArrayViewMut1<'_, f64>,
        grad: ArrayView1<'_, f64>,
    ) -> Result<()> {
        if params.len() != self.mask.len() || grad.len() != self.mask.len() {
            return Err(Error::shape("optimizer step", self.mask.len(), grad.len()));
        }
        let l2 = self.l2;
        let full = |g: f64, w: f64, mask: f64| g + l2 * mask * w;
        match self.kind {
            OptimizerKind::Sgd => {
                let (lr, mu) = (self.lr, self.momentum);
                Zip::from(&mut params)
                    .and(&grad)
                    .and(&self.mask)
                    .and(&mut self.m)
                    .for_each(|w, &g, &mask, vel| {
                        *vel = mu * *vel + full(g, *w, mask);
                        *w -= lr * *vel;
                    });
            }
            OptimizerKind::Adam => {
                self.t = self.t.saturating_add(1);
                let c1 = 1.0 - BETA1.powi(self.t);
                let c2 = 1.0 - BETA2.powi(self.t);
                let lr = self.lr;
                Zip::from(&mut params)
                    .and(&grad)
                    .and(&self.mask)
                    .and(&mut self.m)
                    .and(&mut self.v)
                    .for_each(|w, &g, &mask, m, v| {
                        let g = full(g, *w, mask);
                        *m = BETA1 * *m + (1.0 - BETA1) * g;
                        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + EPSILON);
                    });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        // After one step, m̂ = g and v̂ = g², so each parameter moves by lr·sign(g).
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.1, 0.0, 0.0, array![1.0, 1.0]).unwrap();
        let mut w = array![1.0, -2.0];
        opt.step(w.view_mut(), array![3.0, -0.5].view()).unwrap();
        assert!(
            (w[0] - 0.9).abs() < 1e-7 && (w[1] + 1.9).abs() < 1e-7,
            "{w}"
        );
    }

    #[test]
    fn sgd_with_l2_skips_biases() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.5, 0.0, 0.1, array![1.0, 0.0]).unwrap();
        let mut w = array![2.0, 2.0];
        opt.step(w.view_mut(), array![0.0, 0.0].view()).unwrap();
        assert_eq!(w, array![2.0 - 0.5 * 0.2, 2.0]);
    }

    #[test]
    fn minimises_a_quadratic() {
        for kind in [OptimizerKind::Sgd, OptimizerKind::Adam] {
            let mut opt = Optimizer::new(kind, 0.05, 0.5, 0.0, array![1.0, 1.0]).unwrap();
            let mut w = array![3.0, -4.0];
            for _ in 0..2000 {
                let g = w.mapv(|v| 2.0 * (v - 1.0));
                opt.step(w.view_mut(), g.view()).unwrap();
            }
            assert!(w.iter().all(|v| (v - 1.0).abs() < 1e-3), "{kind}: {w}");
        }
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let mask = array![1.0];
        assert!(Optimizer::new(OptimizerKind::Adam, 0.0, 0.0, 0.0, mask.clone()).is_err());
        assert!(Optimizer::new(OptimizerKind::Adam, f64::NAN, 0.0, 0.0, mask.clone()).is_err());
        assert!(Optimizer::new(OptimizerKind::Sgd, 0.1, 1.0, 0.0, mask.clone()).is_err());
        assert!(Optimizer::new(OptimizerKind::Sgd, 0.1, 0.0, -1.0, mask).is_err());
    }
}
