//! The mini-batch training loop.
//!
//! Each epoch visits the training rows in a fresh order drawn from a ChaCha8 generator seeded
//! by the user's seed (so a seed reproduces a run exactly), splits them into batches of
//! `batch_size` rows (the last may be smaller) and takes one optimiser step per batch with the
//! batch's mean gradient.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerKind};

/// Settings of the training loop.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training data (≥ 1).
    pub epochs: usize,
    /// Rows per batch (≥ 1).
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum (ignored by Adam).
    pub momentum: f64,
    /// L2 regularisation strength on the weights.
    pub l2: f64,
    /// Seed of the batch order (and, through the caller, of the initial weights).
    pub seed: u64,
    /// FedProx's proximal weight μ ≥ 0 (0: none). Each step's gradient gains μ(w − w₀),
    /// w₀ being the parameters `fit` started from, so that training minimises
    /// F(w) + μ/2·‖w − w₀‖² (Li et al., "Federated Optimization in Heterogeneous Networks",
    /// MLSys 2020, eq. 2): local training stays near the global model it was given.
    pub proximal: f64,
}

/// Progress after one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// The epoch just finished (1-based).
    pub epoch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// Mean training loss over the epoch's batches (before each step).
    pub loss: f64,
}

/// What a training run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainReport {
    /// Epochs run.
    pub epochs: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Mean training loss in the last epoch.
    pub final_loss: f64,
}

/// Trains `net` on `x`, `y`, calling `on_epoch` after every epoch.
pub fn fit(
    net: &mut Network,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<TrainReport> {
    if config.epochs == 0 {
        return Err(Error::config("epochs", "at least one epoch is needed"));
    }
    if config.batch_size == 0 {
        return Err(Error::config(
            "batch size",
            "at least one row per batch is needed",
        ));
    }
    if x.nrows() == 0 {
        return Err(Error::config("training data", "there are no training rows"));
    }
    if !(config.proximal.is_finite() && config.proximal >= 0.0) {
        return Err(Error::config(
            "proximal weight",
            format!("{} must be a non-negative number", config.proximal),
        ));
    }
    let anchor = (config.proximal > 0.0).then(|| net.params().to_owned());
    let mut optimizer = Optimizer::new(
        config.optimizer,
        config.lr,
        config.momentum,
        config.l2,
        net.weight_mask(),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..x.nrows()).collect();
    let mut report = TrainReport {
        epochs: 0,
        steps: 0,
        final_loss: f64::NAN,
    };
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(config.batch_size) {
            let xb = x.select(Axis(0), batch);
            let yb = y.select(Axis(0), batch);
            let (loss, mut grad) = net.gradient(xb.view(), yb.view())?;
            if let Some(anchor) = &anchor {
                let mu = config.proximal;
                grad.iter_mut()
                    .zip(net.params().iter().zip(anchor))
                    .for_each(|(g, (w, w0))| *g += mu * (w - w0));
            }
            if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                return Err(Error::Diverged { epoch, loss });
            }
            optimizer.step(net.params_mut(), grad.view())?;
            total += loss * batch.len() as f64;
            report.steps += 1;
        }
        report.epochs = epoch;
        report.final_loss = total / x.nrows() as f64;
        on_epoch(&EpochStats {
            epoch,
            epochs: config.epochs,
            loss: report.final_loss,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2};

    use super::*;
    use crate::activation::Activation;
    use crate::network::Architecture;
    use crate::output::Output;

    fn line() -> Network {
        let arch = Architecture {
            inputs: 1,
            hidden: vec![],
            activation: Activation::Relu,
            outputs: 1,
            output: Output::Identity,
        };
        Network::init(arch, 1).unwrap()
    }

    fn config(proximal: f64) -> TrainConfig {
        TrainConfig {
            epochs: 200,
            batch_size: 16,
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.0,
            l2: 0.0,
            seed: 3,
            proximal,
        }
    }

    /// How far training moves a linear regression of y = 3x from its start, for a
    /// proximal weight μ.
    fn distance_moved(proximal: f64) -> f64 {
        let x = Array2::from_shape_fn((64, 1), |(i, _)| i as f64 / 32.0 - 1.0);
        let y = Array1::from_shape_fn(64, |i| 3.0 * x[(i, 0)]);
        let mut net = line();
        let start = net.params().to_owned();
        fit(&mut net, x.view(), y.view(), &config(proximal), |_| {}).unwrap();
        (&net.params() - &start).mapv(|d| d * d).sum().sqrt()
    }

    #[test]
    fn a_proximal_term_keeps_training_near_its_start() {
        let free = distance_moved(0.0);
        assert!((free - 3.0).abs() < 0.05, "unconstrained fit moved {free}");
        let (some, much) = (distance_moved(1.0), distance_moved(10.0));
        assert!(
            some < 0.8 * free && much < 0.3 * some,
            "{free} {some} {much}"
        );
        let (x, y) = (Array2::zeros((2, 1)), Array1::zeros(2));
        assert!(fit(&mut line(), x.view(), y.view(), &config(-1.0), |_| {}).is_err());
    }
}
