//! DP-SGD: training with a differential-privacy guarantee for every training record.
//!
//! M. Abadi, A. Chu, I. Goodfellow, H. B. McMahan, I. Mironov, K. Talwar and L. Zhang, "Deep
//! Learning with Differential Privacy" (CCS 2016), Algorithm 1, with Poisson sampling as the
//! accountants assume (Mironov, Talwar and Zhang 2019):
//!
//! 1. every step, each training record joins the batch independently with probability
//!    q = B/n (B the expected batch size), drawn from [`NoiseRng`] — the sample must be
//!    secret for the subsampling to amplify privacy, so a user's seed never decides it;
//! 2. each record's gradient is clipped to L2 norm at most C (computed from the layers'
//!    activations and deltas, without materialising per-record gradients);
//! 3. the clipped gradients are summed and Gaussian noise of σ·C per coordinate is added
//!    ([`crate::mechanism::Gaussian`], exact on a fine grid; for runs of many draws from its
//!    tabulated sampler, and for models of 1,024 parameters or more drawn ahead on a thread
//!    of its own while this one computes gradients — the noise does not depend on the data);
//! 4. the optimiser steps with the noisy sum divided by B (the *expected* batch size, so
//!    the sensitivity does not depend on the realised batch).
//!
//! The guarantee: T steps are the T-fold composition of the Poisson-subsampled Gaussian
//! with rate q and noise multiplier σ, accounted by [`crate::accountant`]. Everything the
//! optimiser does with the noisy sums (momentum, Adam, L2 on the weights) is
//! post-processing. The weights' initialisation and the batch order's seed are public.

use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use veil_ml::network::Network;
use veil_ml::optim::Optimizer;
use veil_ml::pipeline::{ModelConfig, Prepared};
use veil_ml::train::{EpochStats, TrainConfig};
use veil_ml::{Model, Task};

use crate::accountant::{self, Accountant, SubsampledGaussian};
use crate::error::{Error, Result};
use crate::mechanism::Gaussian;
use crate::rng::NoiseRng;
use crate::standardize::{StandardizationCost, private_standardizer};

/// DP-SGD's settings on top of the ordinary training loop's.
#[derive(Debug, Clone, PartialEq)]
pub struct DpSgdConfig {
    /// Epochs, expected batch size, optimiser, learning rate, L2, and the public seed of
    /// the weights' initialisation.
    pub train: TrainConfig,
    /// Per-record gradient clipping norm C.
    pub clip: f64,
    /// Noise multiplier σ: the noise's standard deviation is σ·C.
    pub noise_multiplier: f64,
    /// δ of the reported guarantee.
    pub delta: f64,
    /// The accountant that turns (q, σ, T) into ε.
    pub accountant: Accountant,
    /// The noise multiplier of a Gaussian release made before training (the private
    /// standardisation), which the reported ε includes.
    pub before: Option<f64>,
}

/// The privacy parameters of a DP-SGD run over `n` records: (sampling rate, steps).
pub fn schedule(n: usize, train: &TrainConfig) -> Result<(f64, u64)> {
    if n == 0 {
        return Err(Error::invalid(
            "training data",
            "there are no training rows",
        ));
    }
    if train.batch_size == 0 || train.epochs == 0 {
        return Err(Error::invalid(
            "batch size / epochs",
            "DP-SGD needs at least one record per batch and one epoch",
        ));
    }
    let q = (train.batch_size as f64 / n as f64).min(1.0);
    let steps_per_epoch = (1.0 / q).round().max(1.0) as u64;
    Ok((q, steps_per_epoch * train.epochs as u64))
}

/// What a DP-SGD run spent and did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpSgdReport {
    /// ε spent (at `delta`), by the configured accountant.
    pub epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q.
    pub sampling_rate: f64,
    /// Steps taken T.
    pub steps: u64,
    /// Epochs run.
    pub epochs: usize,
    /// Mean loss over the last epoch's sampled records (itself not private: for progress
    /// display only, never released).
    pub final_loss: f64,
}

/// Models with at least this many parameters get their noise from a thread of its own,
/// drawn steps ahead: the step then only adds it (4,810 parameters: the draws take about as
/// long as the clipped gradients). Below it, a hand-off costs more than it saves.
const NOISE_AHEAD_MIN_PARAMS: usize = 1024;

/// A training run needing at least this many draws uses a [`Gaussian::tabulated`] sampler:
/// its table takes about 0.35 ms to build and saves about 150 ns a draw.
const TABLE_MIN_DRAWS: u64 = 10_000;

/// Trains `net` with DP-SGD on `x`, `y`; calls `on_epoch` after every epoch.
pub fn fit_private(
    net: &mut Network,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    config: &DpSgdConfig,
    rng: &mut NoiseRng,
    on_epoch: impl FnMut(&EpochStats),
) -> Result<DpSgdReport> {
    if !(config.clip.is_finite() && config.clip > 0.0) {
        return Err(Error::invalid(
            "clip",
            format!("{} must be positive", config.clip),
        ));
    }
    if !(config.noise_multiplier.is_finite() && config.noise_multiplier > 0.0) {
        return Err(Error::invalid(
            "noise-multiplier",
            format!("{} must be positive", config.noise_multiplier),
        ));
    }
    let (q, steps) = schedule(x.nrows(), &config.train)?;
    let epsilon = accountant::epsilon_after(
        config.accountant,
        &SubsampledGaussian {
            sampling_rate: q,
            noise_multiplier: config.noise_multiplier,
            steps,
        },
        config.before,
        config.delta,
    )?;
    let params = net.num_params();
    let mut noise = Gaussian::new(config.clip, config.noise_multiplier * config.clip, params)?;
    if params as u64 * steps >= TABLE_MIN_DRAWS {
        noise = noise.tabulated()?;
    }
    let report = DpSgdReport {
        epsilon,
        delta: config.delta,
        noise_multiplier: config.noise_multiplier,
        sampling_rate: q,
        steps,
        epochs: config.train.epochs,
        final_loss: f64::NAN,
    };
    let run = Run {
        x,
        y,
        config,
        noise: &noise,
    };
    if params < NOISE_AHEAD_MIN_PARAMS {
        return run.steps(
            net,
            rng,
            report,
            |rng| Ok(noise.draw(params, rng)),
            on_epoch,
        );
    }
    // The noise does not depend on the data, so a second thread draws it (from a generator
    // of its own) while this one computes gradients, two steps ahead at most. Leaving the
    // scope drops the receiver, which ends the drawing thread at its next send.
    let mut noise_rng = rng.fork();
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(2);
        let noise = &noise;
        scope.spawn(move || while sender.send(noise.draw(params, &mut noise_rng)).is_ok() {});
        let next = |_: &mut NoiseRng| {
            receiver
                .recv()
                .map_err(|_| Error::invalid("noise", "the thread drawing noise stopped"))
        };
        run.steps(net, rng, report, next, on_epoch)
    })
}

/// What every step of one DP-SGD run shares.
struct Run<'a, 'v> {
    x: ArrayView2<'v, f64>,
    y: ArrayView1<'v, f64>,
    config: &'a DpSgdConfig,
    noise: &'a Gaussian,
}

impl Run<'_, '_> {
    /// One DP-SGD gradient: the clipped per-record gradients of the sampled `rows`, summed,
    /// plus the step's noise `draws`, divided by the expected batch size.
    fn noisy_gradient(
        &self,
        net: &Network,
        rows: &[usize],
        draws: &[i128],
    ) -> Result<(f64, Array1<f64>)> {
        let (loss, mut sum) = if rows.is_empty() {
            (0.0, Array1::zeros(net.num_params()))
        } else {
            let xb = self.x.select(Axis(0), rows);
            let yb = self.y.select(Axis(0), rows);
            let (losses, clipped, _) =
                net.clipped_gradient_sum(xb.view(), yb.view(), self.config.clip)?;
            (losses.sum(), clipped)
        };
        let values = sum
            .as_slice_mut()
            .ok_or_else(|| Error::invalid("gradient", "not contiguous"))?;
        self.noise.add(values, draws)?;
        Ok((loss, sum / self.config.train.batch_size as f64))
    }

    /// The training loop: every step a Poisson sample, its noisy clipped gradient with the
    /// noise `next_noise` gives, and an optimiser step.
    fn steps(
        &self,
        net: &mut Network,
        rng: &mut NoiseRng,
        mut report: DpSgdReport,
        mut next_noise: impl FnMut(&mut NoiseRng) -> Result<Vec<i128>>,
        mut on_epoch: impl FnMut(&EpochStats),
    ) -> Result<DpSgdReport> {
        let t = &self.config.train;
        let mut optimizer = Optimizer::new(t.optimizer, t.lr, t.momentum, t.l2, net.weight_mask())?;
        let (n, q) = (self.x.nrows(), report.sampling_rate);
        let steps_per_epoch = report.steps / t.epochs as u64;
        let mut rows = Vec::with_capacity(t.batch_size * 2);
        for epoch in 1..=t.epochs {
            let (mut total, mut seen) = (0.0, 0usize);
            for _ in 0..steps_per_epoch {
                rows.clear();
                rows.extend((0..n).filter(|_| rng.unit() < q));
                let draws = next_noise(rng)?;
                let (loss, grad) = self.noisy_gradient(net, &rows, &draws)?;
                if grad.iter().any(|g| !g.is_finite()) {
                    return Err(veil_ml::Error::Diverged {
                        epoch,
                        loss: (total + loss) / (seen + rows.len()).max(1) as f64,
                    }
                    .into());
                }
                optimizer.step(net.params_mut(), grad.view())?;
                total += loss;
                seen += rows.len();
            }
            report.final_loss = total / seen.max(1) as f64;
            on_epoch(&EpochStats {
                epoch,
                epochs: t.epochs,
                loss: report.final_loss,
            });
        }
        Ok(report)
    }
}

/// A private training run: the model's shape, DP-SGD's settings and the privacy target.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateTraining {
    /// Model kind, hidden layers, activation and the training loop's settings (the batch
    /// size is the expected batch size B).
    pub model: ModelConfig,
    /// Per-record clipping norm C.
    pub clip: f64,
    /// The target ε (used to calibrate σ when `noise_multiplier` is `None`).
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// A fixed noise multiplier instead of calibrating one.
    pub noise_multiplier: Option<f64>,
    /// The accountant.
    pub accountant: Accountant,
    /// Noise (σ_h, σ_m) of the private standardisation; `None` keeps the features as given.
    pub standardization: Option<(f64, f64)>,
}

/// Trains a classification model with DP-SGD on `prepared` (whose features must be raw:
/// `prepare(…, standardize = false)`): private standardisation, σ calibrated so that the
/// whole run — statistics and steps — spends at most the target ε, then DP-SGD. Returns the
/// model (carrying the private standardisation) and what was spent.
pub fn train_private(
    prepared: &Prepared,
    config: &PrivateTraining,
    rng: &mut NoiseRng,
    on_epoch: impl FnMut(&EpochStats),
) -> Result<(Model, DpSgdReport)> {
    if prepared.task == Task::Regression {
        return Err(Error::invalid(
            "model",
            "DP-SGD here trains classifiers (logreg, softmax, mlp); regression targets would need private scaling too",
        ));
    }
    let features = prepared.features.len();
    let (standardizer, before) = match config.standardization {
        Some((sigma_h, sigma_m)) => (
            private_standardizer(prepared.x_train.view(), sigma_h, sigma_m, rng)?,
            Some(StandardizationCost::new(features, sigma_h, sigma_m).combined()),
        ),
        None => (veil_core::Standardizer::identity(features), None),
    };
    let x = standardizer.transform(prepared.x_train.view())?;
    let train = &config.model.train;
    let (q, steps) = schedule(x.nrows(), train)?;
    let noise_multiplier = match config.noise_multiplier {
        Some(s) => s,
        None => accountant::calibrate_after(
            config.accountant,
            q,
            steps,
            before,
            config.epsilon,
            config.delta,
        )?,
    };
    let (kind, arch) = config.model.architecture(prepared)?;
    let mut network = Network::init(arch, train.seed)?;
    let dp = DpSgdConfig {
        train: train.clone(),
        clip: config.clip,
        noise_multiplier,
        delta: config.delta,
        accountant: config.accountant,
        before,
    };
    let report = fit_private(
        &mut network,
        x.view(),
        prepared.y_train.view(),
        &dp,
        rng,
        on_epoch,
    )?;
    let model = Model {
        kind,
        network,
        features: prepared.features.clone(),
        standardizer,
        label: prepared.label.clone(),
        task: prepared.task.clone(),
    };
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Slice};
    use veil_ml::{Activation, Architecture, Output};

    fn network() -> Network {
        Network::init(
            Architecture {
                inputs: 3,
                hidden: vec![8],
                activation: Activation::Relu,
                outputs: 1,
                output: Output::Sigmoid,
            },
            7,
        )
        .unwrap()
    }

    #[test]
    fn every_example_is_clipped_before_the_sum_so_one_record_moves_it_at_most_c() {
        // Records with huge features: unclipped gradients are far above C.
        let x = Array2::from_shape_fn((50, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64 * 100.0);
        let y = Array1::from_shape_fn(50, |i| (i % 2) as f64);
        let net = network();
        let (_, _, norms) = net.clipped_gradient_sum(x.view(), y.view(), 0.5).unwrap();
        assert!(norms.iter().any(|&n| n > 10.0));
        // The clipped sum moves by at most C when a record is removed: the sensitivity the
        // noise is calibrated to.
        let all = net.clipped_gradient_sum(x.view(), y.view(), 0.5).unwrap().1;
        let rest = net
            .clipped_gradient_sum(
                x.slice_axis(Axis(0), Slice::from(1..)),
                y.slice_axis(Axis(0), Slice::from(1..)),
                0.5,
            )
            .unwrap()
            .1;
        let diff = &all - &rest;
        assert!(diff.dot(&diff).sqrt() <= 0.5 + 1e-9);
    }

    #[test]
    fn a_large_model_gets_its_noise_from_a_thread_of_its_own_at_the_calibrated_scale() {
        // 1,501 parameters (noise drawn ahead, tabulated sampler), plain SGD with lr = 1 and
        // a clip so small that the clipped sums are negligible: the weights then move by the
        // noise alone, T steps of N(0, (σC/B)²) each. Their spread is checked within 6%
        // (3.3 standard errors of a standard deviation over 1,501 coordinates).
        let wide = || {
            Network::init(
                Architecture {
                    inputs: 3,
                    hidden: vec![300],
                    activation: Activation::Relu,
                    outputs: 1,
                    output: Output::Sigmoid,
                },
                3,
            )
            .unwrap()
        };
        assert!(wide().num_params() >= NOISE_AHEAD_MIN_PARAMS);
        let x = Array2::from_shape_fn((200, 3), |(i, j)| ((i + j) % 5) as f64 - 2.0);
        let y = Array1::from_shape_fn(200, |i| (i % 2) as f64);
        let config = DpSgdConfig {
            train: TrainConfig {
                epochs: 4,
                batch_size: 100,
                optimizer: veil_ml::OptimizerKind::Sgd,
                lr: 1.0,
                momentum: 0.0,
                l2: 0.0,
                seed: 1,
                proximal: 0.0,
            },
            clip: 1e-6,
            noise_multiplier: 10.0,
            delta: 1e-5,
            accountant: Accountant::Rdp,
            before: None,
        };
        let train = |seed: u64, config: &DpSgdConfig| {
            let mut net = wide();
            let mut rng = NoiseRng::insecure_seeded(seed);
            fit_private(&mut net, x.view(), y.view(), config, &mut rng, |_| {}).map(|r| (net, r))
        };
        let (net, report) = train(9, &config).unwrap();
        assert!(net.num_params() as u64 * report.steps >= TABLE_MIN_DRAWS);
        let moved = &net.params() - &wide().params();
        let scale = 10.0 * 1e-6 / 100.0 * (report.steps as f64).sqrt();
        let sd = (moved.dot(&moved) / moved.len() as f64).sqrt() / scale;
        assert!((sd - 1.0).abs() < 0.06, "spread {sd}");
        // The same seed gives the same run; a run that diverges stops with an error (and
        // its noise thread with it).
        assert_eq!(train(9, &config).unwrap().0, net);
        let diverging = DpSgdConfig {
            train: TrainConfig {
                lr: 1e300,
                ..config.train.clone()
            },
            clip: 1.0,
            ..config.clone()
        };
        assert!(train(9, &diverging).is_err());
    }

    #[test]
    fn the_schedule_and_the_reported_epsilon_follow_the_accountant() {
        let x = Array2::from_shape_fn((200, 3), |(i, j)| ((i + j) % 5) as f64 - 2.0);
        let y = Array1::from_shape_fn(200, |i| f64::from(u8::from(x[[i, 0]] > 0.0)));
        let mut net = network();
        let config = DpSgdConfig {
            train: TrainConfig {
                epochs: 3,
                batch_size: 20,
                optimizer: veil_ml::OptimizerKind::Adam,
                lr: 0.05,
                momentum: 0.9,
                l2: 0.0,
                seed: 1,
                proximal: 0.0,
            },
            clip: 1.0,
            noise_multiplier: 1.0,
            delta: 1e-5,
            accountant: Accountant::Rdp,
            before: None,
        };
        let mut epochs = 0;
        let report = fit_private(
            &mut net,
            x.view(),
            y.view(),
            &config,
            &mut NoiseRng::insecure_seeded(5),
            |_| epochs += 1,
        )
        .unwrap();
        assert_eq!((epochs, report.steps, report.sampling_rate), (3, 30, 0.1));
        let want = SubsampledGaussian {
            sampling_rate: 0.1,
            noise_multiplier: 1.0,
            steps: 30,
        }
        .epsilon(1e-5)
        .unwrap();
        assert_eq!(report.epsilon, want);
        let bad = DpSgdConfig {
            clip: 0.0,
            ..config.clone()
        };
        assert!(
            fit_private(
                &mut net,
                x.view(),
                y.view(),
                &bad,
                &mut NoiseRng::insecure_seeded(1),
                |_| {}
            )
            .is_err()
        );
    }
}
