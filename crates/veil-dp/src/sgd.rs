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
use serde::Serialize;
use veil_ml::network::Network;
use veil_ml::optim::Optimizer;
use veil_ml::pipeline::{FitRequest, ModelConfig, Prepared, TrainedModel};
use veil_ml::train::TrainConfig;
use veil_ml::{Model, ModelKind, Task, TestMetrics};

use crate::accountant::{self, Accountant, SubsampledGaussian};
use crate::budget::{Accounting, Budget, Receipt};
use crate::error::{Error, Result};
use crate::loss::PrivacyLoss;
use crate::mechanism::Gaussian;
use crate::standardize::{StandardizationCost, private_standardizer};
use veil_core::Table;
use veil_core::noise::NoiseRng;

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
    /// δ of the reported guarantee. The run is charged the accountant's (ε, δ) rounded up
    /// ([`PrivacyLoss::at_most`]): to spend at most a loss `L`, give `L.delta_floor()`.
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
}

/// Models with at least this many parameters get their noise from a thread of its own,
/// drawn steps ahead: the step then only adds it (4,810 parameters: the draws take about as
/// long as the clipped gradients). Below it, a hand-off costs more than it saves.
const NOISE_AHEAD_MIN_PARAMS: usize = 1024;

/// A training run needing at least this many draws uses a [`Gaussian::tabulated`] sampler:
/// its table takes about 0.35 ms to build and saves about 150 ns a draw.
const TABLE_MIN_DRAWS: u64 = 10_000;

/// Trains `net` with DP-SGD on `x`, `y`; calls `on_epoch` with the epoch's number after
/// every epoch (and nothing else: no loss or other statistic of the records). The run is
/// paid for by `receipt`: refused, before any noise is drawn, unless the receipt covers the
/// (ε, δ) the accountant computes for it.
pub fn fit_private(
    net: &mut Network,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    config: &DpSgdConfig,
    receipt: Receipt,
    rng: &mut NoiseRng,
    on_epoch: impl FnMut(usize),
) -> Result<DpSgdReport> {
    check_clip(config.clip)?;
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
    receipt.redeem(&PrivacyLoss::at_most(epsilon, config.delta)?)?;
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

fn check_clip(clip: f64) -> Result<()> {
    if clip.is_finite() && clip > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid("clip", format!("{clip} must be positive")))
    }
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
    /// plus the step's noise `draws`, divided by the expected batch size; `None` when the
    /// model has diverged (the sum is not finite).
    fn noisy_gradient(
        &self,
        net: &Network,
        rows: &[usize],
        draws: &[i128],
    ) -> Result<Option<Array1<f64>>> {
        let mut sum = if rows.is_empty() {
            Array1::zeros(net.num_params())
        } else {
            let xb = self.x.select(Axis(0), rows);
            let yb = self.y.select(Axis(0), rows);
            net.clipped_gradient_sum(xb.view(), yb.view(), self.config.clip)?
                .1
        };
        if sum.iter().any(|g| !g.is_finite()) {
            return Ok(None);
        }
        let values = sum
            .as_slice_mut()
            .ok_or_else(|| Error::invalid("gradient", "not contiguous"))?;
        self.noise.add(values, draws)?;
        Ok(Some(sum / self.config.train.batch_size as f64))
    }

    /// The training loop: every step a Poisson sample, its noisy clipped gradient with the
    /// noise `next_noise` gives, and an optimiser step.
    fn steps(
        &self,
        net: &mut Network,
        rng: &mut NoiseRng,
        report: DpSgdReport,
        mut next_noise: impl FnMut(&mut NoiseRng) -> Result<Vec<i128>>,
        mut on_epoch: impl FnMut(usize),
    ) -> Result<DpSgdReport> {
        let t = &self.config.train;
        let mut optimizer = Optimizer::new(t.optimizer, t.lr, t.momentum, t.l2, net.weight_mask())?;
        let (n, q) = (self.x.nrows(), report.sampling_rate);
        let steps_per_epoch = report.steps / t.epochs as u64;
        let mut rows = Vec::with_capacity(t.batch_size * 2);
        for epoch in 1..=t.epochs {
            for _ in 0..steps_per_epoch {
                rows.clear();
                rows.extend((0..n).filter(|_| rng.unit() < q));
                let draws = next_noise(rng)?;
                let Some(grad) = self
                    .noisy_gradient(net, &rows, &draws)?
                    .filter(|g| g.iter().all(|v| v.is_finite()))
                else {
                    return Err(veil_ml::Error::Diverged {
                        epoch,
                        loss: f64::NAN,
                    }
                    .into());
                };
                optimizer.step(net.params_mut(), grad.view())?;
            }
            on_epoch(epoch);
        }
        Ok(report)
    }
}

/// How much noise DP-SGD adds: calibrated to a target, or a fixed multiplier whose ε is
/// then computed (and charged) before training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// The smallest σ whose whole run — standardisation statistics and steps — spends at most
    /// this loss.
    Target(PrivacyLoss),
    /// A fixed noise multiplier σ; ε is reported at this δ.
    Multiplier {
        /// σ (> 0).
        sigma: f64,
        /// δ of the reported guarantee, in (0, 1).
        delta: f64,
    },
}

/// DP-SGD's settings on top of the model's.
///
/// | setting | valid values | default |
/// |---|---|---|
/// | `clip` | finite, > 0 | 1 |
/// | `noise` | a target with ε > 0 and 0 < δ < 1, or σ > 0 | — |
/// | `accountant` | RDP or PLD | PLD |
/// | `standardization` | noise (σ_h, σ_m) > 0, or none to keep features as given | (40, 80) |
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateTraining {
    /// Per-record clipping norm C.
    pub clip: f64,
    /// The noise.
    pub noise: Noise,
    /// The accountant.
    pub accountant: Accountant,
    /// Noise (σ_h, σ_m) of the private standardisation; `None` keeps the features as given.
    pub standardization: Option<(f64, f64)>,
}

impl PrivateTraining {
    /// Noise (σ_h, σ_m) of the private standardisation by default (see
    /// [`crate::standardize`]).
    pub const STANDARDIZATION_NOISE: (f64, f64) = (40.0, 80.0);

    /// The default settings with `noise`: clipping norm 1, the PLD accountant, and a private
    /// standardisation.
    pub fn new(noise: Noise) -> PrivateTraining {
        PrivateTraining {
            clip: 1.0,
            noise,
            accountant: Accountant::Pld,
            standardization: Some(PrivateTraining::STANDARDIZATION_NOISE),
        }
    }
}

/// The training loop's defaults under DP-SGD, for `kind`: batches of 128 rows in
/// expectation (Poisson sampling), 20 epochs, learning rate 0.05 (linear models) or 0.01
/// (MLPs), no weight decay (the noise regularises).
pub fn defaults(kind: Option<ModelKind>, seed: u64) -> ModelConfig {
    let mut config = ModelConfig::defaults(kind, seed);
    config.train.epochs = 20;
    config.train.batch_size = 128;
    config.train.lr = if kind == Some(ModelKind::Mlp) {
        0.01
    } else {
        0.05
    };
    config.train.l2 = 0.0;
    config
}

/// A DP-SGD run worked out before any noise is drawn: its schedule, noise and cost.
struct Plan {
    before: Option<f64>,
    sampling_rate: f64,
    steps: u64,
    noise_multiplier: f64,
    delta: f64,
    cost: PrivacyLoss,
}

fn plan(prepared: &Prepared, config: &ModelConfig, private: &PrivateTraining) -> Result<Plan> {
    if prepared.task == Task::Regression {
        return Err(Error::invalid(
            "model",
            "DP-SGD here trains classifiers (logreg, softmax, mlp); regression targets would need private scaling too",
        ));
    }
    let before = private.standardization.map(|(sigma_h, sigma_m)| {
        StandardizationCost::new(prepared.features.len(), sigma_h, sigma_m).combined()
    });
    check_clip(private.clip)?;
    let (sampling_rate, steps) = schedule(prepared.x_train.nrows(), &config.train)?;
    // δ is the chance the guarantee fails outright; at 1/n or more, releasing one random
    // record whole would meet it (Dwork and Roth 2014, §2.3), so it is refused.
    let rows = prepared.x_train.nrows() as f64;
    let asked_delta = match private.noise {
        Noise::Target(target) => target.delta(),
        Noise::Multiplier { delta, .. } => delta,
    };
    if asked_delta * rows >= 1.0 {
        return Err(Error::invalid(
            "delta",
            format!(
                "{asked_delta} is not below one over the training rows: a guarantee with that \
                 δ would allow publishing a record"
            ),
        ));
    }
    let (noise_multiplier, delta, cost) = match private.noise {
        Noise::Target(target) => {
            let delta = target.delta_floor();
            let sigma = accountant::calibrate_after(
                private.accountant,
                sampling_rate,
                steps,
                before,
                target.epsilon_floor(),
                delta,
            )?;
            (sigma, delta, target)
        }
        Noise::Multiplier { sigma, delta } => {
            let epsilon = accountant::epsilon_after(
                private.accountant,
                &SubsampledGaussian {
                    sampling_rate,
                    noise_multiplier: sigma,
                    steps,
                },
                before,
                delta,
            )?;
            (sigma, delta, PrivacyLoss::at_most(epsilon, delta)?)
        }
    };
    // Everything that could refuse the run is checked before it is charged: the noise
    // mechanism too, which has a limit on the model's size.
    let (_, arch) = config.architecture(prepared)?;
    Gaussian::new(
        private.clip,
        noise_multiplier * private.clip,
        arch.num_params(),
    )?;
    Ok(Plan {
        before,
        sampling_rate,
        steps,
        noise_multiplier,
        delta,
        cost,
    })
}

/// What `veil train --dp` reports: the model, what the run spent, and metrics on test data
/// outside the charged table when there is some.
///
/// It carries nothing computed from the charged table but the model itself: no training
/// loss, no row counts and no sampling rate (q = B/n would give n exactly). The class set is
/// public: given in advance (`classes_from: "given"`), or read from the label column and
/// released as it is (`"data"`: a class that only one record has appears in it).
#[derive(Debug, Clone, Serialize)]
pub struct PrivatelyTrained {
    /// The model and the run.
    #[serde(flatten)]
    pub summary: TrainedModel,
    /// Where the classes came from: `given` (public, in advance) or `data` (the label
    /// column's values, released without DP).
    pub classes_from: &'static str,
    /// Always true: the model was trained with DP-SGD.
    pub dp: bool,
    /// ε spent (at `delta`), by the accountant, standardisation included.
    pub epsilon_spent: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Steps taken.
    pub steps: u64,
    /// Metrics on the separate test data (absent without it): computed on data the budget
    /// does not cover, and released without DP.
    #[serde(flatten)]
    pub test: Option<TestMetrics>,
    /// What the test metrics are, or why there are none.
    pub test_metrics_note: &'static str,
    /// The model.
    #[serde(skip)]
    pub model: Model,
    /// What was charged.
    #[serde(skip)]
    pub cost: PrivacyLoss,
    /// The budget after the charge (`None` without a budget).
    #[serde(skip)]
    pub budget: Option<Budget>,
}

impl PrivatelyTrained {
    /// Why a run without separate test data reports no metrics.
    pub const NO_TEST_DATA: &'static str = "none: every row of the charged table trained the \
         model, and metrics on them would be released without DP; give --test-data (data \
         outside the charged table) to evaluate";
    /// What the metrics of a run with separate test data are.
    pub const TEST_DATA: &'static str = "computed on --test-data, outside the charged table: \
         not covered by the budget and released without DP";

    /// What a provenance record of this release keeps (sorted by key): the model kind,
    /// label, seed, epochs and parameter count, what it spent, and the test metrics on the
    /// separate test data, marked as such.
    pub fn provenance(&self) -> Vec<(String, String)> {
        let mut meta = self.summary.provenance();
        meta.extend([
            ("dp_epsilon".to_string(), self.epsilon_spent.to_string()),
            ("dp_delta".to_string(), self.delta.to_string()),
            (
                "dp_noise_multiplier".to_string(),
                self.noise_multiplier.to_string(),
            ),
            ("dp_steps".to_string(), self.steps.to_string()),
            ("classes_from".to_string(), self.classes_from.to_string()),
        ]);
        if let Some(test) = &self.test {
            meta.extend(test.provenance());
            meta.push(("test_data".to_string(), "outside the budget".to_string()));
        }
        meta.sort();
        meta
    }
}

/// What was trained and spent, and the test accuracy or why there is none (human output).
impl std::fmt::Display for PrivatelyTrained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.summary;
        writeln!(
            f,
            "trained {} on every row with DP-SGD ({} features, {} parameters) in {:.2} s",
            m.kind, m.features, m.parameters, m.train_seconds
        )?;
        writeln!(
            f,
            "ε = {:.4} at δ = {} ({} steps, noise multiplier {:.3})",
            self.epsilon_spent, self.delta, self.steps, self.noise_multiplier
        )?;
        match self.test.as_ref().and_then(|m| m.test_accuracy) {
            Some(a) => writeln!(f, "test accuracy {a:.3} ({})", self.test_metrics_note)?,
            None => writeln!(f, "test metrics: {}", self.test_metrics_note)?,
        }
        writeln!(f, "model written to {}", m.path.display())
    }
}

/// Trains a classifier with DP-SGD: all of `veil train --dp`. Loads the data with raw
/// features, works out the schedule, the noise and what the run costs, charges that to
/// `accounting` — before any noise is drawn, so a refused charge draws none — then
/// standardises privately, trains on every row of `request.data`, evaluates on
/// `request.test_data` when given, and saves the model. `on_epoch` gets each finished
/// epoch's number.
///
/// A request that holds out part of the charged table (`test_fraction`) is refused: the
/// held-out rows' metrics would be released without DP.
pub fn fit(
    request: &FitRequest<'_>,
    private: &PrivateTraining,
    accounting: Accounting<'_>,
    rng: &mut NoiseRng,
    on_epoch: impl FnMut(usize),
) -> Result<PrivatelyTrained> {
    if request.test_fraction.is_some() {
        return Err(Error::invalid(
            "test fraction",
            "DP-SGD trains on every row of the charged table: metrics on held-out rows of it \
             would be released without DP; evaluate on separate data (--test-data)",
        ));
    }
    let table = Table::load(request.data)?;
    if let Some(test) = request.test_data
        && Table::load(test)?.content_digest() == table.content_digest()
    {
        return Err(Error::invalid(
            "test data",
            "--test-data holds the same rows as --data: metrics on them would be released \
                 without DP; evaluate on data outside the charged table",
        ));
    }
    let prepared = request.prepare_from(&table, false)?;
    let plan = plan(&prepared, &request.config, private)?;
    let description = format!(
        "veil train --model {} --dp",
        request.config.kind.map_or("auto", |k| k.name())
    );
    // DP-SGD protects each row: a budget per patient is charged through group privacy.
    let receipt = accounting.charge(&table, None, plan.cost, "dp-sgd", &description)?;
    drop(table);
    let budget = receipt.budget().cloned();
    let start = std::time::Instant::now();
    let (model, report) = train_planned(
        &prepared,
        &request.config,
        private,
        &plan,
        receipt,
        rng,
        on_epoch,
    )?;
    let train_seconds = start.elapsed().as_secs_f64();
    let test = prepared.evaluate(&model)?.as_ref().map(TestMetrics::from);
    veil_ml::model_file::save(&model, request.out)?;
    Ok(PrivatelyTrained {
        summary: TrainedModel::of(
            &model,
            request.out,
            report.epochs,
            request.config.train.seed,
            train_seconds,
        ),
        classes_from: if request.columns.classes.is_some() {
            "given"
        } else {
            "data"
        },
        dp: true,
        epsilon_spent: report.epsilon,
        // The guarantee holds at the calibrated δ, at most the one charged; this is the one
        // charged, as the user gave it.
        delta: plan.cost.delta(),
        noise_multiplier: report.noise_multiplier,
        steps: report.steps,
        test_metrics_note: if test.is_some() {
            PrivatelyTrained::TEST_DATA
        } else {
            PrivatelyTrained::NO_TEST_DATA
        },
        test,
        model,
        cost: plan.cost,
        budget,
    })
}

/// The private standardisation and DP-SGD of a planned run, paid for by `receipt`.
fn train_planned(
    prepared: &Prepared,
    config: &ModelConfig,
    private: &PrivateTraining,
    plan: &Plan,
    receipt: Receipt,
    rng: &mut NoiseRng,
    on_epoch: impl FnMut(usize),
) -> Result<(Model, DpSgdReport)> {
    let features = prepared.features.len();
    let standardizer = match private.standardization {
        Some((sigma_h, sigma_m)) => {
            private_standardizer(prepared.x_train.view(), sigma_h, sigma_m, rng)?
        }
        None => veil_core::Standardizer::identity(features),
    };
    let x = standardizer.transform(prepared.x_train.view())?;
    let (kind, arch) = config.architecture(prepared)?;
    let mut network = Network::init(arch, config.train.seed)?;
    let dp = DpSgdConfig {
        train: config.train.clone(),
        clip: private.clip,
        noise_multiplier: plan.noise_multiplier,
        delta: plan.delta,
        accountant: private.accountant,
        before: plan.before,
    };
    let report = fit_private(
        &mut network,
        x.view(),
        prepared.y_train.view(),
        &dp,
        receipt,
        rng,
        on_epoch,
    )?;
    debug_assert_eq!(
        (report.sampling_rate, report.steps),
        (plan.sampling_rate, plan.steps)
    );
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
    use crate::budget::BudgetUnit;

    /// Breast cancer split 80/20 into `train.csv` and `test.csv` in `dir`.
    fn split_breast_cancer(dir: &std::path::Path) -> (String, String) {
        let table = veil_core::Table::load("builtin:breast-cancer").unwrap();
        let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
        veil_core::split::split_table(&table, Some("malignant"), 0.2, 42, (&train, &test)).unwrap();
        let path = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
        (path(train), path(test))
    }

    #[test]
    fn a_run_is_charged_before_any_noise_and_refused_when_it_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dp.model");
        let (train, test) = split_breast_cancer(dir.path());
        let request = FitRequest {
            data: &train,
            test_data: Some(&test),
            columns: veil_ml::pipeline::Columns {
                label: "malignant".into(),
                ..Default::default()
            },
            config: defaults(Some(ModelKind::Logreg), 42),
            test_fraction: None,
            standardize: true,
            out: &out,
        };
        let target = PrivacyLoss::target(1.0, 1e-5).unwrap();
        let private = PrivateTraining::new(Noise::Target(target));
        let mut store = crate::budget::BudgetStore::open(dir.path()).unwrap();
        let table = Table::load(&train).unwrap();
        let budget = PrivacyLoss::target(1.5, 1e-5).unwrap();
        store.set(&table, "bc", budget, BudgetUnit::Row).unwrap();
        let mut rng = NoiseRng::insecure_seeded(1);
        let trained = fit(
            &request,
            &private,
            Accounting::Budget(&mut store),
            &mut rng,
            |_| {},
        )
        .unwrap();
        assert!(trained.epsilon_spent <= 1.0, "{}", trained.epsilon_spent);
        assert_eq!(trained.cost, target);
        assert_eq!(trained.budget.as_ref().unwrap().spent, target);
        let test_accuracy = trained.test.as_ref().unwrap().test_accuracy.unwrap();
        assert!(test_accuracy > 0.8, "{test_accuracy}");
        assert_eq!(trained.test_metrics_note, PrivatelyTrained::TEST_DATA);
        // A second run no longer fits: refused before training, and no model is written.
        std::fs::remove_file(&out).unwrap();
        let refused = fit(
            &request,
            &private,
            Accounting::Budget(&mut store),
            &mut rng,
            |_| panic!("no epoch may run"),
        );
        assert!(matches!(refused, Err(Error::BudgetExceeded { .. })));
        assert!(!out.exists());
        // Settings that cannot run are refused before the charge: nothing is spent; so is a
        // δ of 1/n or more (n = 455 training rows here), and a hold-out of the charged table.
        let loose = PrivateTraining::new(Noise::Target(PrivacyLoss::target(1.0, 0.01).unwrap()));
        let refused = fit(&request, &loose, Accounting::Unbudgeted, &mut rng, |_| {
            panic!("no epoch may run")
        });
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("one over the training rows")),
            "{refused:?}"
        );
        let held_out = FitRequest {
            test_fraction: Some(0.2),
            ..request.clone()
        };
        let refused = fit(
            &held_out,
            &private,
            Accounting::Unbudgeted,
            &mut rng,
            |_| panic!("no epoch may run"),
        );
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("--test-data")),
            "{refused:?}"
        );
        let other = tempfile::tempdir().unwrap();
        let mut store = crate::budget::BudgetStore::open(other.path()).unwrap();
        store.set(&table, "bc", target, BudgetUnit::Row).unwrap();
        let no_clip = PrivateTraining {
            clip: 0.0,
            ..PrivateTraining::new(Noise::Target(target))
        };
        let refused = fit(
            &request,
            &no_clip,
            Accounting::Budget(&mut store),
            &mut rng,
            |_| panic!("no epoch may run"),
        );
        assert!(
            matches!(refused, Err(Error::InvalidParameter { .. })),
            "{refused:?}"
        );
        assert_eq!(
            store.show(&table).unwrap().unwrap().spent,
            PrivacyLoss::ZERO
        );
        // A fixed multiplier is charged what the accountant computes for it.
        let fixed = PrivateTraining::new(Noise::Multiplier {
            sigma: 2.0,
            delta: 1e-5,
        });
        let run = fit(&request, &fixed, Accounting::Unbudgeted, &mut rng, |_| {}).unwrap();
        assert_eq!(
            run.cost,
            PrivacyLoss::at_most(run.epsilon_spent, 1e-5).unwrap()
        );
        assert!(run.budget.is_none());
    }

    #[test]
    fn a_run_that_diverges_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dp.model");
        // Steps this large overflow the weights to infinities, whose sums are NaN.
        let mut config = defaults(Some(ModelKind::Logreg), 42);
        config.train.optimizer = veil_ml::OptimizerKind::Sgd;
        config.train.lr = f64::MAX;
        let request = FitRequest {
            data: "builtin:breast-cancer",
            test_data: None,
            columns: veil_ml::pipeline::Columns {
                label: "malignant".into(),
                ..Default::default()
            },
            config,
            test_fraction: None,
            standardize: true,
            out: &out,
        };
        let private = PrivateTraining::new(Noise::Multiplier {
            sigma: 1.0,
            delta: 1e-5,
        });
        let mut rng = NoiseRng::insecure_seeded(2);
        let err = fit(&request, &private, Accounting::Unbudgeted, &mut rng, |_| {}).unwrap_err();
        assert!(
            matches!(err, Error::Ml(veil_ml::Error::Diverged { .. })),
            "{err}"
        );
        assert_eq!(err.kind(), veil_core::ErrorKind::Diverged);
    }
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
            let paid = Receipt::unbudgeted(PrivacyLoss::at_most(1e6, 1e-5).unwrap());
            fit_private(&mut net, x.view(), y.view(), config, paid, &mut rng, |_| {})
                .map(|r| (net, r))
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
        let want = SubsampledGaussian {
            sampling_rate: 0.1,
            noise_multiplier: 1.0,
            steps: 30,
        }
        .epsilon(1e-5)
        .unwrap();
        let exact = PrivacyLoss::at_most(want, 1e-5).unwrap();
        // A receipt for one unit of ε less than the run costs is refused before any step.
        let short = PrivacyLoss::from_units(exact.units().0 - 1, exact.units().1).unwrap();
        let refused = fit_private(
            &mut net,
            x.view(),
            y.view(),
            &config,
            Receipt::unbudgeted(short),
            &mut NoiseRng::insecure_seeded(5),
            |_| panic!("no epoch may run"),
        );
        assert!(refused.is_err());
        let mut epochs = 0;
        let report = fit_private(
            &mut net,
            x.view(),
            y.view(),
            &config,
            Receipt::unbudgeted(exact),
            &mut NoiseRng::insecure_seeded(5),
            |_| epochs += 1,
        )
        .unwrap();
        assert_eq!((epochs, report.steps, report.sampling_rate), (3, 30, 0.1));
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
                Receipt::unbudgeted(exact),
                &mut NoiseRng::insecure_seeded(1),
                |_| {}
            )
            .is_err()
        );
    }
}
