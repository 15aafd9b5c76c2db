//! `veil train`, `veil eval`, `veil predict`

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use veil_core::{Column, Table, Values};
use veil_dp::NoiseRng;
use veil_dp::sgd::{DpSgdReport, PrivateTraining, train_private};
use veil_ml::pipeline::{Columns, Holdout, ModelConfig, Prepared, prepare};
use veil_ml::{Evaluation, Model, ModelKind, OptimizerKind, Predictions, Task, model_file};

use super::provenance;
use crate::cli::{EvalArgs, PredictArgs, TrainArgs};
use crate::report;

/// The outcome of a training run, as reported by `veil train` and the demo.
pub struct Trained {
    pub model: Model,
    pub prepared: Prepared,
    pub test: Evaluation,
    pub seconds: f64,
    pub epochs: usize,
    pub final_loss: f64,
    /// What DP-SGD spent, for a private run.
    pub privacy: Option<DpSgdReport>,
}

impl Trained {
    /// The JSON report of `veil train`.
    pub fn to_json(&self, out: &Path, seed: u64) -> Value {
        let mut value = json!({
            "model": out,
            "kind": self.model.kind.name(),
            "task": self.model.task.name(),
            "label": self.model.label,
            "classes": self.model.task.classes(),
            "features": self.model.features.len(),
            "parameters": self.model.network.num_params(),
            "train_rows": self.prepared.x_train.nrows(),
            "test_rows": self.prepared.x_test.nrows(),
            "epochs": self.epochs,
            "final_loss": self.final_loss,
            "seed": seed,
            "train_seconds": self.seconds,
            "test_accuracy": self.test.accuracy,
            "test_auc": self.test.auc,
            "test_precision": self.test.precision,
            "test_recall": self.test.recall,
            "test_f1": self.test.f1,
            "test_log_loss": self.test.log_loss,
            "test_confusion_matrix": self.test.confusion_matrix,
            "test_mse": self.test.mse,
            "test_r2": self.test.r2,
        });
        if let Some(p) = &self.privacy {
            value["dp"] = json!(true);
            value["epsilon_spent"] = json!(p.epsilon);
            value["delta"] = json!(p.delta);
            value["noise_multiplier"] = json!(p.noise_multiplier);
            value["sampling_rate"] = json!(p.sampling_rate);
            value["steps"] = json!(p.steps);
        }
        value
    }
}

/// The model settings of `args`, with defaults filled in (DP-SGD has its own).
pub fn model_config(args: &TrainArgs) -> ModelConfig {
    let kind = args.model.or(args.hidden.as_ref().map(|_| ModelKind::Mlp));
    let mut config = ModelConfig::defaults(kind, args.seed);
    if let Some(hidden) = &args.hidden {
        config.hidden = hidden.clone();
    }
    config.activation = args.activation;
    config.train.optimizer = args.optimizer;
    if args.dp.dp {
        dp_defaults(&mut config);
    }
    if args.optimizer == OptimizerKind::Sgd {
        config.train.lr = 0.1;
    }
    if let Some(v) = args.epochs {
        config.train.epochs = v;
    }
    if let Some(v) = args.lr {
        config.train.lr = v;
    }
    if let Some(v) = args.batch_size {
        config.train.batch_size = v;
    }
    if let Some(v) = args.l2 {
        config.train.l2 = v;
    }
    config
}

/// The training defaults under `--dp`: batches of 128 in expectation, 20 epochs, no weight
/// decay, and a learning rate suited to the noisy gradients.
pub fn dp_defaults(config: &mut ModelConfig) {
    config.train.epochs = 20;
    config.train.batch_size = 128;
    config.train.lr = if config.kind == Some(ModelKind::Mlp) {
        0.01
    } else {
        0.05
    };
    config.train.l2 = 0.0;
}

/// The DP-SGD settings of `args`, if `--dp` was given.
pub fn private_training(
    args: &TrainArgs,
    model: &ModelConfig,
) -> anyhow::Result<Option<PrivateTraining>> {
    let dp = &args.dp;
    if !dp.dp {
        return Ok(None);
    }
    Ok(Some(PrivateTraining {
        model: model.clone(),
        clip: dp.clip.unwrap_or(1.0),
        epsilon: dp.epsilon.unwrap_or(f64::NAN),
        delta: dp.delta.unwrap_or(f64::NAN),
        noise_multiplier: dp.noise_multiplier,
        accountant: dp.accountant.parse()?,
        standardization: (!args.no_standardize).then_some(PRIVATE_STANDARDIZATION_NOISE),
    }))
}

/// Noise (σ_h, σ_m) of the private standardisation under `--dp`.
pub const PRIVATE_STANDARDIZATION_NOISE: (f64, f64) = (40.0, 80.0);

/// What to train: data, columns, settings and where the model goes.
pub struct FitRequest<'a> {
    pub data: &'a str,
    pub test_data: Option<&'a str>,
    pub columns: Columns,
    pub config: ModelConfig,
    pub test_fraction: f64,
    pub standardize: bool,
    pub out: &'a Path,
    /// Train with DP-SGD instead (private standardisation included).
    pub dp: Option<PrivateTraining>,
}

/// Loads, prepares, trains with a progress bar, evaluates on the test rows and saves.
pub fn fit(request: &FitRequest<'_>, json: bool) -> anyhow::Result<Trained> {
    let FitRequest {
        data,
        test_data,
        columns,
        config,
        test_fraction: holdout_fraction,
        standardize,
        out,
        dp,
    } = request;
    let table = Table::load(data)?;
    let test_table = test_data.map(Table::load).transpose()?;
    let holdout = match &test_table {
        Some(t) => Holdout::Table(t),
        None => Holdout::Split {
            fraction: *holdout_fraction,
            seed: config.train.seed,
        },
    };
    // DP-SGD standardises privately itself: it takes the raw features.
    let prepared = prepare(
        &table,
        columns,
        config.kind,
        holdout,
        *standardize && dp.is_none(),
    )?;
    tracing::info!(
        train = prepared.x_train.nrows(),
        test = prepared.x_test.nrows(),
        features = prepared.features.len(),
        task = prepared.task.name(),
        "prepared {data}"
    );
    let bar = report::bar(config.train.epochs as u64, "training", json);
    let start = Instant::now();
    let on_epoch = |e: &veil_ml::train::EpochStats| {
        bar.set_position(e.epoch as u64);
        bar.set_message(format!("loss {:.4}", e.loss));
        tracing::debug!(epoch = e.epoch, loss = e.loss, "epoch done");
    };
    let (model, epochs, final_loss, privacy) = match dp {
        None => {
            let result = veil_ml::pipeline::train(&prepared, config, on_epoch);
            bar.finish_and_clear();
            let (model, run) = result?;
            (model, run.epochs, run.final_loss, None)
        }
        Some(dp) => {
            let mut rng = NoiseRng::from_os();
            let result = train_private(&prepared, dp, &mut rng, on_epoch);
            bar.finish_and_clear();
            let (model, run) = result?;
            (model, run.epochs, run.final_loss, Some(run))
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let x_test = if dp.is_some() {
        model.standardizer.transform(prepared.x_test.view())?
    } else {
        prepared.x_test.clone()
    };
    let test = model.evaluate_inputs(x_test.view(), &prepared.y_test.to_vec())?;
    model_file::save(&model, out)
        .with_context(|| format!("saving the model to {}", out.display()))?;
    Ok(Trained {
        model,
        prepared,
        test,
        seconds,
        epochs,
        final_loss,
        privacy,
    })
}

pub fn train(args: &TrainArgs, json: bool) -> anyhow::Result<()> {
    let mut ledger = provenance::open(args.ledger.ledger.as_deref())?;
    let config = model_config(args);
    let dp = private_training(args, &config)?;
    if let (Some(dir), Some(dp)) = (&args.dp.budget, &dp) {
        // Calibrated noise spends at most the target: charge it before any training.
        let dataset = veil_core::hex(&provenance::data_subject(&args.data)?.sha256);
        let what = format!(
            "veil train --model {} --dp",
            config.kind.map_or("auto", |k| k.name())
        );
        veil_dp::budget::BudgetStore::open(dir)?
            .charge(&dataset, dp.epsilon, dp.delta, "dp-sgd", &what)?;
    }
    let request = FitRequest {
        data: &args.data,
        test_data: args.test_data.as_deref(),
        columns: Columns {
            label: args.label.clone(),
            features: args.columns.features.clone(),
            drop: args.columns.drop.clone(),
        },
        config,
        test_fraction: args.test_fraction,
        standardize: !args.no_standardize,
        out: &args.out,
        dp,
    };
    let trained = fit(&request, json)?;
    let index = ledger
        .as_mut()
        .map(|l| record_training(l, &request, &trained))
        .transpose()?;
    if json {
        let mut value = trained.to_json(&args.out, args.seed);
        provenance::with_index(&mut value, index);
        return report::json(&value);
    }
    let m = &trained.model;
    println!(
        "trained {} on {} ({} training rows, {} features, {} parameters) in {:.2} s",
        m.kind,
        args.data,
        trained.prepared.x_train.nrows(),
        m.features.len(),
        m.network.num_params(),
        trained.seconds
    );
    print_evaluation("test", &trained.test);
    println!("model written to {}", args.out.display());
    provenance::say(index);
    Ok(())
}

/// Records a finished training run in a ledger: the data become parents, the model file the
/// subject, the settings and test metrics metadata. Returns the entry's index.
pub fn record_training(
    ledger: &mut veil_ledger::Ledger,
    request: &FitRequest<'_>,
    trained: &Trained,
) -> anyhow::Result<u64> {
    let mut inputs = vec![provenance::data_subject(request.data)?];
    if let Some(test) = request.test_data {
        inputs.push(provenance::data_subject(test)?);
    }
    let m = &trained.model;
    let mut meta = vec![
        ("model".to_string(), m.kind.name().to_string()),
        ("label".to_string(), m.label.clone()),
        ("seed".to_string(), request.config.train.seed.to_string()),
        ("epochs".to_string(), trained.epochs.to_string()),
        ("parameters".to_string(), m.network.num_params().to_string()),
    ];
    if let Some(p) = &trained.privacy {
        // A DP-SGD model is also a differentially private release: say what it spent.
        meta.extend([
            ("dp_epsilon".to_string(), p.epsilon.to_string()),
            ("dp_delta".to_string(), p.delta.to_string()),
            (
                "dp_noise_multiplier".to_string(),
                p.noise_multiplier.to_string(),
            ),
            ("dp_steps".to_string(), p.steps.to_string()),
        ]);
    }
    let metrics = [
        ("test_accuracy", trained.test.accuracy),
        ("test_auc", trained.test.auc),
        ("test_mse", trained.test.mse),
        ("test_r2", trained.test.r2),
    ];
    for (name, value) in metrics {
        if let Some(v) = value {
            meta.push((name.to_string(), format!("{v:.6}")));
        }
    }
    let outputs = vec![veil_ledger::manifest::subject_of(request.out)?];
    let step = provenance::Step {
        kind: "model",
        name: outputs[0].name.clone(),
        inputs,
        outputs,
        meta,
    };
    provenance::record(ledger, step)
}

/// Prints the headline metrics of an evaluation.
pub fn print_evaluation(what: &str, e: &Evaluation) {
    if e.mse.is_some() {
        println!(
            "{what} ({} rows): MSE {}  R² {}",
            e.rows,
            report::metric(e.mse),
            report::metric(e.r2)
        );
    } else {
        let auc = e.auc.map(|a| format!("  AUC {a:.3}")).unwrap_or_default();
        println!(
            "{what} ({} rows): accuracy {}{auc}  precision {}  recall {}  F1 {}",
            e.rows,
            report::metric(e.accuracy),
            report::metric(e.precision),
            report::metric(e.recall),
            report::metric(e.f1)
        );
    }
}

pub fn eval(args: &EvalArgs, json: bool) -> anyhow::Result<()> {
    let mut model = model_file::load(&args.model)?;
    if let Some(label) = &args.label {
        model.label = label.clone();
    }
    let table = Table::load(&args.data)?;
    let evaluation = model.evaluate(&table)?;
    if json {
        let mut value = serde_json::to_value(&evaluation)?;
        value["model"] = json!(args.model);
        value["kind"] = json!(model.kind.name());
        return report::json(&value);
    }
    print_evaluation(
        &format!("{} on {}", args.model.display(), args.data),
        &evaluation,
    );
    Ok(())
}

pub fn predict(args: &PredictArgs, json: bool) -> anyhow::Result<()> {
    let model = model_file::load(&args.model)?;
    let table = Table::load(&args.data)?;
    let predictions = model.predict(&table)?;
    let predicted = predictions.labels(&model.task);
    if let Some(out) = &args.out {
        predictions_table(&model.task, &predictions, &predicted)?.save(out)?;
    }
    if json {
        return report::json(&json!({
            "model": args.model,
            "rows": table.num_rows(),
            "classes": model.task.classes(),
            "predictions": predictions,
            "predicted": predicted,
        }));
    }
    match &args.out {
        Some(out) => println!(
            "wrote {} predictions to {}",
            table.num_rows(),
            out.display()
        ),
        None => predictions_table(&model.task, &predictions, &predicted)?
            .write_csv(std::io::stdout().lock())?,
    }
    Ok(())
}

/// Predictions as a table: `predicted,probability` (binary), `predicted,p_<class>...`
/// (multiclass) or `prediction` (regression).
pub(super) fn predictions_table(
    task: &Task,
    predictions: &Predictions,
    predicted: &[String],
) -> anyhow::Result<Table> {
    let predicted_col = || {
        Column::new(
            "predicted",
            Values::String(predicted.iter().cloned().map(Some).collect()),
        )
    };
    let columns = match predictions {
        Predictions::Positive(p) => vec![
            predicted_col(),
            Column::new(
                "probability",
                Values::Float(p.iter().copied().map(Some).collect()),
            ),
        ],
        Predictions::Classes(rows) => {
            let mut cols = vec![predicted_col()];
            for (j, class) in task.classes().iter().enumerate() {
                cols.push(Column::new(
                    format!("p_{class}"),
                    Values::Float(rows.iter().map(|r| Some(r[j])).collect()),
                ));
            }
            cols
        }
        Predictions::Values(v) => vec![Column::new(
            "prediction",
            Values::Float(v.iter().copied().map(Some).collect()),
        )],
    };
    Ok(Table::new("predictions", columns)?)
}
