//! `veil train`, `veil eval`, `veil predict`

use veil_dp::NoiseRng;
use veil_dp::sgd::{Noise, PrivateTraining};
use veil_ledger::{Keyed, Step, Subject};
use veil_ml::pipeline::{self, Columns, FitRequest, ModelConfig, Trained};
use veil_ml::{Evaluation, ModelKind};

use super::{dp, open_ledger, record};
use crate::cli::{EvalArgs, PredictArgs, TrainArgs};
use crate::report::{self, Recorded, show};

/// The model settings of `args`: the library's defaults (DP-SGD's with `--dp`) with the
/// options given.
fn model_config(args: &TrainArgs) -> ModelConfig {
    let kind = args.model.or(args.hidden.as_ref().map(|_| ModelKind::Mlp));
    let mut config = if args.dp.dp {
        veil_dp::sgd::defaults(kind, args.seed)
    } else {
        ModelConfig::defaults(kind, args.seed)
    }
    .with_optimizer(args.optimizer);
    if let Some(hidden) = &args.hidden {
        config.hidden = hidden.clone();
    }
    config.activation = args.activation;
    let t = &mut config.train;
    t.epochs = args.epochs.unwrap_or(t.epochs);
    t.lr = args.lr.unwrap_or(t.lr);
    t.batch_size = args.batch_size.unwrap_or(t.batch_size);
    t.l2 = args.l2.unwrap_or(t.l2);
    config
}

/// The DP-SGD settings of `args`.
fn private_training(args: &TrainArgs) -> anyhow::Result<PrivateTraining> {
    let dp = &args.dp;
    let delta = dp.delta.unwrap_or_default();
    let noise = match (dp.noise_multiplier, dp.epsilon) {
        (Some(sigma), _) => Noise::Multiplier { sigma, delta },
        (None, epsilon) => Noise::Target(veil_dp::PrivacyLoss::target(
            epsilon.unwrap_or_default(),
            delta,
        )?),
    };
    Ok(PrivateTraining {
        clip: dp.clip.unwrap_or(1.0),
        noise,
        accountant: dp.accountant,
        standardization: (!args.no_standardize).then_some(PrivateTraining::STANDARDIZATION_NOISE),
    })
}

/// The provenance step of a training run: the data are its inputs, the model file its
/// output, the run's settings and metrics its metadata.
pub(super) fn training_step(
    request: &FitRequest<'_>,
    meta: Vec<(String, String)>,
) -> veil_ledger::Result<Step> {
    let mut inputs = vec![Subject::of_source(request.data)?];
    if let Some(test) = request.test_data {
        inputs.push(Subject::of_source(test)?);
    }
    let output = veil_ledger::manifest::subject_of(request.out)?;
    Ok(Step {
        kind: "model",
        name: output.name.clone(),
        inputs,
        outputs: vec![output],
        meta,
        keyed: Keyed::Inputs,
    })
}

pub fn train(args: &TrainArgs, json: bool) -> anyhow::Result<()> {
    let mut ledger = open_ledger(args.ledger.ledger.as_deref(), &[])?;
    let config = model_config(args);
    let request = FitRequest {
        data: &args.data,
        test_data: args.test_data.as_deref(),
        columns: Columns {
            label: args.label.clone(),
            features: args.columns.features.clone(),
            drop: args.columns.drop.clone(),
            classes: args.classes.clone(),
        },
        config,
        // DP-SGD trains on every row (clap refuses --test-fraction with --dp).
        test_fraction: (!args.dp.dp).then(|| args.test_fraction.unwrap_or(0.2)),
        standardize: !args.no_standardize,
        out: &args.out,
    };
    let bar = report::bar(request.config.train.epochs as u64, "training", json);
    if !args.dp.dp {
        let trained = pipeline::fit(&request, |e| {
            bar.set_position(e.epoch as u64);
            bar.set_message(format!("loss {:.4}", e.loss));
            tracing::debug!(epoch = e.epoch, loss = e.loss, "epoch done");
        });
        bar.finish_and_clear();
        let trained = trained?;
        let index = record(ledger.as_mut(), || {
            training_step(&request, trained.provenance())
        })?;
        let recorded = Recorded {
            report: &trained,
            ledger_index: index,
        };
        return show(json, &recorded, |_| say_trained(args, &trained, index));
    }
    let private = private_training(args)?;
    let mut store = dp::budget_store(&args.dp.budget)?;
    let trained = veil_dp::sgd::fit(
        &request,
        &private,
        dp::accounting(&mut store),
        &mut NoiseRng::from_os(),
        |epoch| bar.set_position(epoch as u64),
    );
    bar.finish_and_clear();
    let trained = trained?;
    let index = record(ledger.as_mut(), || {
        training_step(&request, trained.provenance())
    })?;
    let recorded = Recorded {
        report: &trained,
        ledger_index: index,
    };
    show(json, &recorded, |t| {
        print!("{}", t.report);
        println!("{}", dp::charged(t.report.budget.as_ref(), &args.data));
        report::say_recorded(index);
    })
}

fn say_trained(args: &TrainArgs, t: &Trained, index: Option<u64>) {
    let m = &t.summary;
    println!(
        "trained {} on {} ({} training rows, {} features, {} parameters) in {:.2} s",
        m.kind, args.data, t.train_rows, m.features, m.parameters, m.train_seconds
    );
    if let Some(test) = &t.test {
        print_evaluation("test", test);
    }
    println!("model written to {}", m.path.display());
    report::say_recorded(index);
}

/// Prints the headline metrics of an evaluation.
pub(super) fn print_evaluation(what: &str, e: &Evaluation) {
    println!("{what} {e}");
}

pub fn eval(args: &EvalArgs, json: bool) -> anyhow::Result<()> {
    let evaluated = pipeline::evaluate(&args.model, &args.data, args.label.as_deref())?;
    show(json, &evaluated, |r| {
        print_evaluation(
            &format!("{} on {}", args.model.display(), args.data),
            &r.evaluation,
        );
    })
}

pub fn predict(args: &PredictArgs, json: bool) -> anyhow::Result<()> {
    let predicted = pipeline::predict(&args.model, &args.data, args.out.as_deref())?;
    if json {
        return show(json, &predicted, |_| {});
    }
    match &args.out {
        Some(out) => println!("wrote {} predictions to {}", predicted.rows, out.display()),
        None => predicted.table.write_csv(std::io::stdout().lock())?,
    }
    Ok(())
}
