//! From a table to a trained model: select, split, standardise, train, evaluate.
//!
//! This is the whole of `veil train` and the part of every other training path (DP-SGD,
//! federated, MPC) that is not specific to it: the rows are split (stratified by class) with
//! the user's seed, the standardisation is fitted on the training rows only, and the model
//! file carries it so that `veil eval` and `veil predict` take raw data.
//!
//! For regression the target is standardised too while training (so the default learning rate
//! suits any unit of measurement); the scaling is then folded into the output layer, so the
//! saved network predicts raw values directly.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Axis, Slice};
use serde::Serialize;
use veil_core::split::{Split, train_test_split};
use veil_core::{Role, Standardizer, Table};

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::metrics::{Evaluation, TestMetrics};
use crate::model::{Model, Predictions};
use crate::network::{Architecture, Network};
use crate::optim::OptimizerKind;
use crate::task::{ModelKind, Task};
use crate::train::{self, EpochStats, TrainConfig, TrainReport};

/// Which columns to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The label column.
    pub label: String,
    /// Feature columns; `None` means every column except the label and `drop`.
    pub features: Option<Vec<String>>,
    /// Columns to leave out when `features` is `None`.
    pub drop: Vec<String>,
    /// The label's classes, when they are known in advance (public): the task is built
    /// from them rather than from the label column's values, and a row with another label
    /// is an error. `None` takes the classes from the data.
    pub classes: Option<Vec<String>>,
}

impl Columns {
    /// The feature columns of `table`, checked to exist and not to include the label.
    pub fn resolve(&self, table: &Table) -> Result<Vec<String>> {
        table.column(&self.label, Role::Label)?;
        for d in &self.drop {
            table.column(d, Role::Column)?;
        }
        let features: Vec<String> = match &self.features {
            Some(f) => f.clone(),
            None => table
                .column_names()
                .filter(|c| *c != self.label && !self.drop.iter().any(|d| d == c))
                .map(str::to_string)
                .collect(),
        };
        for f in &features {
            table.column(f, Role::Feature)?;
            if *f == self.label {
                return Err(Error::config(
                    "features",
                    format!("the label \"{f}\" cannot also be a feature"),
                ));
            }
        }
        if features.is_empty() {
            return Err(Error::config("features", "no feature columns are left"));
        }
        Ok(features)
    }
}

/// Where the test rows come from.
#[derive(Debug, Clone, Copy)]
pub enum Holdout<'a> {
    /// A seeded (stratified) split of the training table.
    Split {
        /// Fraction of rows held out, in (0, 1).
        fraction: f64,
        /// Seed of the split.
        seed: u64,
    },
    /// A separate table.
    Table(&'a Table),
    /// No test rows: every row trains (DP-SGD, where held-out rows of the charged table
    /// would be evaluated without privacy).
    None,
}

/// Training and test data, ready for a model.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Feature columns, in order.
    pub features: Vec<String>,
    /// The label column.
    pub label: String,
    /// What is predicted.
    pub task: Task,
    /// Fitted on the training rows.
    pub standardizer: Standardizer,
    /// Standardised training features.
    pub x_train: Array2<f64>,
    /// Encoded training targets.
    pub y_train: Array1<f64>,
    /// Standardised test features.
    pub x_test: Array2<f64>,
    /// Encoded test targets.
    pub y_test: Array1<f64>,
    /// The row split, when the test rows came from the training table.
    pub split: Option<Split>,
}

impl Prepared {
    /// `model`'s metrics on the test rows (`None` when there are none). When the rows were
    /// kept raw and the model standardises them itself (DP-SGD's private standardisation),
    /// they go through the model's standardisation.
    pub fn evaluate(&self, model: &Model) -> Result<Option<Evaluation>> {
        if self.x_test.nrows() == 0 {
            return Ok(None);
        }
        let x_test = if model.standardizer == self.standardizer {
            self.x_test.clone()
        } else if self.standardizer == Standardizer::identity(self.features.len()) {
            model.standardizer.transform(self.x_test.view())?
        } else {
            return Err(Error::config(
                "standardisation",
                "the model standardises features that were already standardised",
            ));
        };
        model
            .evaluate_inputs(x_test.view(), &self.y_test.to_vec())
            .map(Some)
    }
}

/// Selects, encodes, splits and standardises. `kind` steers the task (see [`Task::infer`]);
/// `standardize: false` keeps raw features (the identity transform is recorded).
pub fn prepare(
    table: &Table,
    columns: &Columns,
    kind: Option<ModelKind>,
    holdout: Holdout<'_>,
    standardize: bool,
) -> Result<Prepared> {
    table.require_rows()?;
    let features = columns.resolve(table)?;
    let task = match &columns.classes {
        Some(classes) => Task::from_classes(&columns.label, classes, kind)?,
        None => Task::infer(table, &columns.label, kind)?,
    };
    let x = table.feature_matrix(&features)?;
    let y = task.encode(table, &columns.label)?;
    let (x_train, y_train, x_test, y_test, split) = match holdout {
        Holdout::Split { fraction, seed } => {
            let strata: Option<Vec<usize>> = (!matches!(task, Task::Regression))
                .then(|| y.iter().map(|&v| v as usize).collect());
            let split = train_test_split(x.nrows(), strata.as_deref(), fraction, seed)?;
            (
                x.select(Axis(0), &split.train),
                y.select(Axis(0), &split.train),
                x.select(Axis(0), &split.test),
                y.select(Axis(0), &split.test),
                Some(split),
            )
        }
        Holdout::Table(test) => {
            test.require_rows()?;
            (
                x,
                y,
                test.feature_matrix(&features)?,
                task.encode(test, &columns.label)?,
                None,
            )
        }
        Holdout::None => (
            x,
            y,
            Array2::zeros((0, features.len())),
            Array1::zeros(0),
            None,
        ),
    };
    let standardizer = if standardize {
        Standardizer::fit(x_train.view())?
    } else {
        Standardizer::identity(features.len())
    };
    let (mut x_train, mut x_test) = (x_train, x_test);
    standardizer.transform_in_place(&mut x_train)?;
    standardizer.transform_in_place(&mut x_test)?;
    Ok(Prepared {
        features,
        label: columns.label.clone(),
        task,
        standardizer,
        x_train,
        y_train,
        x_test,
        y_test,
        split,
    })
}

/// The model's shape and training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Model kind; `None` picks the linear model suited to the task.
    pub kind: Option<ModelKind>,
    /// Hidden layer widths (MLP only).
    pub hidden: Vec<usize>,
    /// Hidden activation (MLP only).
    pub activation: Activation,
    /// The training loop.
    pub train: TrainConfig,
}

impl ModelConfig {
    /// Settings that train every model kind well on the embedded datasets and on typical
    /// standardised tabular data: Adam, L2 10⁻⁴, batches of 32; linear models 100 epochs at
    /// learning rate 0.01; MLPs one hidden layer of 64 ReLU units, 60 epochs at 0.003.
    pub fn defaults(kind: Option<ModelKind>, seed: u64) -> Self {
        let mlp = kind == Some(ModelKind::Mlp);
        ModelConfig {
            kind,
            hidden: if mlp { vec![64] } else { Vec::new() },
            activation: Activation::Relu,
            train: TrainConfig {
                epochs: if mlp { 60 } else { 100 },
                batch_size: 32,
                optimizer: OptimizerKind::Adam,
                lr: if mlp { 0.003 } else { 0.01 },
                momentum: 0.9,
                l2: 1e-4,
                seed,
                proximal: 0.0,
            },
        }
    }

    /// These settings with `optimizer`, at its default learning rate when that is not
    /// Adam's (SGD with momentum: 0.1).
    pub fn with_optimizer(mut self, optimizer: OptimizerKind) -> Self {
        if optimizer == OptimizerKind::Sgd && self.train.optimizer != OptimizerKind::Sgd {
            self.train.lr = 0.1;
        }
        self.train.optimizer = optimizer;
        self
    }

    /// The network shape for `prepared`'s task.
    pub fn architecture(&self, prepared: &Prepared) -> Result<(ModelKind, Architecture)> {
        let kind = self
            .kind
            .unwrap_or_else(|| ModelKind::linear_for(&prepared.task));
        if kind != ModelKind::Mlp && !self.hidden.is_empty() {
            return Err(Error::config(
                "hidden layers",
                format!("--hidden applies to --model mlp, not {kind}"),
            ));
        }
        if kind == ModelKind::Mlp && self.hidden.is_empty() {
            return Err(Error::config(
                "hidden layers",
                "an MLP needs at least one hidden layer",
            ));
        }
        let (output, outputs) = prepared.task.output();
        Ok((
            kind,
            Architecture {
                inputs: prepared.features.len(),
                hidden: self.hidden.clone(),
                activation: self.activation,
                outputs,
                output,
            },
        ))
    }
}

/// Trains a model on `prepared`'s training rows.
pub fn train(
    prepared: &Prepared,
    config: &ModelConfig,
    on_epoch: impl FnMut(&EpochStats),
) -> Result<(Model, TrainReport)> {
    let (kind, arch) = config.architecture(prepared)?;
    let mut network = Network::init(arch, config.train.seed)?;
    let report = if prepared.task == Task::Regression {
        let (mean, scale) = target_scaling(&prepared.y_train);
        let y = prepared.y_train.mapv(|v| (v - mean) / scale);
        let report = train::fit(
            &mut network,
            prepared.x_train.view(),
            y.view(),
            &config.train,
            on_epoch,
        )?;
        fold_target_scaling(&mut network, mean, scale)?;
        report
    } else {
        train::fit(
            &mut network,
            prepared.x_train.view(),
            prepared.y_train.view(),
            &config.train,
            on_epoch,
        )?
    };
    let model = Model {
        kind,
        network,
        features: prepared.features.clone(),
        standardizer: prepared.standardizer.clone(),
        label: prepared.label.clone(),
        task: prepared.task.clone(),
    };
    Ok((model, report))
}

/// What `veil train` is asked to do: the data, the columns, the model's settings, where the
/// test rows come from, and where the model file goes.
#[derive(Debug, Clone)]
pub struct FitRequest<'a> {
    /// Training data (a path or `builtin:NAME`).
    pub data: &'a str,
    /// Separate test data; `None` holds out `test_fraction` of `data` (stratified, seeded).
    pub test_data: Option<&'a str>,
    /// Which columns to use.
    pub columns: Columns,
    /// The model's shape and training settings.
    pub config: ModelConfig,
    /// The fraction held out when there is no `test_data`; `None` holds out nothing (every
    /// row trains and, without `test_data`, nothing is evaluated).
    pub test_fraction: Option<f64>,
    /// Standardise the features (fitted on the training rows).
    pub standardize: bool,
    /// Where the model file goes (written atomically).
    pub out: &'a Path,
}

impl FitRequest<'_> {
    /// Loads the data and prepares it; `standardize: false` keeps the features raw whatever
    /// the request says (a training path that standardises in its own way).
    pub fn prepare(&self, standardize: bool) -> Result<Prepared> {
        self.prepare_from(&Table::load(self.data)?, standardize)
    }

    /// [`FitRequest::prepare`] with the training data already loaded (a path that needs the
    /// table itself, such as DP-SGD charging the table's budget).
    pub fn prepare_from(&self, table: &Table, standardize: bool) -> Result<Prepared> {
        let test_table = self.test_data.map(Table::load).transpose()?;
        let holdout = match (&test_table, self.test_fraction) {
            (Some(t), _) => Holdout::Table(t),
            (None, Some(fraction)) => Holdout::Split {
                fraction,
                seed: self.config.train.seed,
            },
            (None, None) => Holdout::None,
        };
        prepare(
            table,
            &self.columns,
            self.config.kind,
            holdout,
            standardize && self.standardize,
        )
    }
}

/// What every training report says about the model it wrote: its file, its shape, and the
/// run that made it.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedModel {
    /// The model file written.
    #[serde(rename = "model")]
    pub path: PathBuf,
    /// The model kind.
    pub kind: &'static str,
    /// The task.
    pub task: &'static str,
    /// The label column.
    pub label: String,
    /// The classes, in the model's order (empty for regression).
    pub classes: Vec<String>,
    /// Feature columns.
    pub features: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Epochs run.
    pub epochs: usize,
    /// The seed of the initial weights and the batch order (and of the split, if any).
    pub seed: u64,
    /// Wall time of the training loop.
    pub train_seconds: f64,
}

impl TrainedModel {
    /// The summary of `model`, written to `path` after `epochs` epochs in `train_seconds`.
    pub fn of(model: &Model, path: &Path, epochs: usize, seed: u64, train_seconds: f64) -> Self {
        TrainedModel {
            path: path.to_path_buf(),
            kind: model.kind.name(),
            task: model.task.name(),
            label: model.label.clone(),
            classes: model.task.classes().to_vec(),
            features: model.features.len(),
            parameters: model.network.num_params(),
            epochs,
            seed,
            train_seconds,
        }
    }

    /// What a provenance record keeps of it: the model kind, label, seed, epochs and
    /// parameter count.
    pub fn provenance(&self) -> Vec<(String, String)> {
        vec![
            ("model".to_string(), self.kind.to_string()),
            ("label".to_string(), self.label.clone()),
            ("seed".to_string(), self.seed.to_string()),
            ("epochs".to_string(), self.epochs.to_string()),
            ("parameters".to_string(), self.parameters.to_string()),
        ]
    }
}

/// A finished training run: the model (saved), and what `veil train` reports about it.
#[derive(Debug, Clone, Serialize)]
pub struct Trained {
    /// The model and the run.
    #[serde(flatten)]
    pub summary: TrainedModel,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Mean training loss in the last epoch.
    pub final_loss: f64,
    /// The test metrics, each under a `test_` key.
    #[serde(flatten)]
    pub metrics: TestMetrics,
    /// The model itself.
    #[serde(skip)]
    pub model: Model,
    /// The test metrics (`None` without test rows).
    #[serde(skip)]
    pub test: Option<Evaluation>,
}

impl Trained {
    /// Evaluates `model` (trained with `seed` in `seconds`) on `prepared`'s test rows (see
    /// [`Prepared::evaluate`]) and saves it to `out`.
    pub fn finish(
        model: Model,
        prepared: &Prepared,
        run: &TrainReport,
        seconds: f64,
        seed: u64,
        out: &Path,
    ) -> Result<Trained> {
        let test = prepared.evaluate(&model)?;
        crate::model_file::save(&model, out)?;
        Ok(Trained {
            summary: TrainedModel::of(&model, out, run.epochs, seed, seconds),
            train_rows: prepared.x_train.nrows(),
            test_rows: prepared.x_test.nrows(),
            final_loss: run.final_loss,
            metrics: test.as_ref().map(TestMetrics::from).unwrap_or_default(),
            model,
            test,
        })
    }

    /// The settings and results a provenance record of this run keeps (sorted by key): the
    /// model kind, label, seed, epochs, parameter count and the headline test metrics.
    pub fn provenance(&self) -> Vec<(String, String)> {
        let mut meta = self.summary.provenance();
        meta.extend(self.metrics.provenance());
        meta.sort();
        meta
    }
}

/// Loads, prepares, trains (calling `on_epoch` after every epoch), evaluates on the test rows
/// and saves the model: all of `veil train` without `--dp`.
pub fn fit(request: &FitRequest<'_>, on_epoch: impl FnMut(&EpochStats)) -> Result<Trained> {
    let prepared = request.prepare(true)?;
    let start = std::time::Instant::now();
    let (model, run) = train(&prepared, &request.config, on_epoch)?;
    let seconds = start.elapsed().as_secs_f64();
    let seed = request.config.train.seed;
    Trained::finish(model, &prepared, &run, seconds, seed, request.out)
}

/// What `veil eval` reports: the metrics, the model file and its kind.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The metrics.
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// The model file.
    pub model: PathBuf,
    /// Its kind.
    pub kind: &'static str,
}

/// Evaluates the model in `model` on the labelled table `data` (its label column, or `label`).
pub fn evaluate(model: &Path, data: &str, label: Option<&str>) -> Result<EvalReport> {
    let mut loaded = crate::model_file::load(model)?;
    if let Some(label) = label {
        loaded.label = label.to_string();
    }
    let evaluation = loaded.evaluate(&Table::load(data)?)?;
    Ok(EvalReport {
        evaluation,
        model: model.to_path_buf(),
        kind: loaded.kind.name(),
    })
}

/// What `veil predict` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PredictReport {
    /// The model file.
    pub model: PathBuf,
    /// Rows predicted.
    pub rows: usize,
    /// The classes, in the model's order (empty for regression).
    pub classes: Vec<String>,
    /// The predictions, row by row.
    pub predictions: Predictions,
    /// The predicted class of each row (empty for regression).
    pub predicted: Vec<String>,
    /// The predictions as a table (the `--out` file's content).
    #[serde(skip)]
    pub table: Table,
}

/// Predicts the rows of `data` with the model in `model`; with `out`, also writes the
/// predictions there (CSV or Parquet, by extension).
pub fn predict(model: &Path, data: &str, out: Option<&Path>) -> Result<PredictReport> {
    let loaded = crate::model_file::load(model)?;
    let table = Table::load(data)?;
    let predictions = loaded.predict(&table)?;
    let rows = predictions.to_table(&loaded.task)?;
    if let Some(out) = out {
        rows.save(out)?;
    }
    Ok(PredictReport {
        model: model.to_path_buf(),
        rows: table.num_rows(),
        classes: loaded.task.classes().to_vec(),
        predicted: predictions.labels(&loaded.task),
        predictions,
        table: rows,
    })
}

fn target_scaling(y: &Array1<f64>) -> (f64, f64) {
    let column = y.view().insert_axis(Axis(1));
    match Standardizer::fit(column) {
        Ok(s) => (s.mean[0], s.scale[0]),
        Err(_) => (0.0, 1.0),
    }
}

/// Rewrites the output layer so that `z' = scale·z + mean`: `W' = scale·W`, `b' = scale·b + mean`.
fn fold_target_scaling(network: &mut Network, mean: f64, scale: f64) -> Result<()> {
    let mut params = network.params().to_owned();
    let n = params.len();
    let (outputs, inputs) = *network.layer_shapes().last().expect("at least one layer");
    let start = n - (outputs * inputs + outputs);
    params
        .slice_axis_mut(Axis(0), Slice::from(start..))
        .mapv_inplace(|v| v * scale);
    params
        .slice_axis_mut(Axis(0), Slice::from(n - outputs..))
        .mapv_inplace(|v| v + mean);
    network.set_params(params.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_regression_recovers_raw_coefficients() {
        // y = 1000·a − 3·b + 50 000 exactly; the folded model must predict raw values.
        let mut text = String::from("a,b,y\n");
        for i in 0..200 {
            let (a, b) = (f64::from(i % 17) / 3.0, f64::from((i * 7) % 23));
            text.push_str(&format!("{a},{b},{}\n", 1000.0 * a - 3.0 * b + 50_000.5));
        }
        let table = Table::from_csv_bytes("r.csv", text.as_bytes()).unwrap();
        let columns = Columns {
            label: "y".into(),
            ..Default::default()
        };
        let prepared = prepare(
            &table,
            &columns,
            None,
            Holdout::Split {
                fraction: 0.2,
                seed: 1,
            },
            true,
        )
        .unwrap();
        assert_eq!(prepared.task, Task::Regression);
        let mut config = ModelConfig::defaults(None, 1);
        config.train.l2 = 0.0;
        config.train.epochs = 300;
        let (model, _) = train(&prepared, &config, |_| {}).unwrap();
        let eval = model
            .evaluate_inputs(prepared.x_test.view(), &prepared.y_test.to_vec())
            .unwrap();
        assert!(eval.mse.unwrap() < 1.0, "{eval:?}");
        assert!(eval.r2.unwrap() > 0.9999);
    }

    #[test]
    fn columns_resolution() {
        let table = Table::from_csv_bytes("c.csv", b"id,a,b,y\nx,1,2,0\n").unwrap();
        let mut columns = Columns {
            label: "y".into(),
            drop: vec!["id".into()],
            ..Default::default()
        };
        assert_eq!(columns.resolve(&table).unwrap(), ["a", "b"]);
        columns.features = Some(vec!["a".into(), "y".into()]);
        assert!(columns.resolve(&table).is_err());
        columns.features = Some(vec!["nope".into()]);
        assert!(
            columns
                .resolve(&table)
                .unwrap_err()
                .to_string()
                .contains("feature column \"nope\"")
        );
        columns.label = "missing".into();
        assert!(
            columns
                .resolve(&table)
                .unwrap_err()
                .to_string()
                .contains("label column \"missing\"")
        );
    }
}
