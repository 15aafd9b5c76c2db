//! `veil dp epsilon | calibrate | budget | query`

use serde::Serialize;
use veil_core::Table;
use veil_dp::accountant::{self, SubsampledGaussian};
use veil_dp::budget::{Accounting, Budget, BudgetStore, BudgetUnit};
use veil_dp::query::QueryOptions;
use veil_dp::{NoiseRng, PrivacyLoss};
use veil_ledger::{Keyed, Step, Subject};

use super::{open_ledger, record};
use crate::cli::{BudgetArgs, BudgetCommand, DpCommand, DpQueryArgs, DpSgdParams};
use crate::exit::Usage;
use crate::report::{self, Recorded, show};

/// The budget store a release is charged to: `--budget DIR` (or `VEIL_BUDGET`), or none
/// with `--no-budget` (which clap refuses together with `--budget`); one of them is needed.
pub(super) fn budget_store(args: &BudgetArgs) -> anyhow::Result<Option<BudgetStore>> {
    let from_env = || std::env::var_os("VEIL_BUDGET").filter(|dir| !dir.is_empty());
    match (
        args.budget.clone().or_else(|| from_env().map(Into::into)),
        args.no_budget,
    ) {
        (_, true) => Ok(None),
        (Some(dir), false) => Ok(Some(BudgetStore::open(&dir)?)),
        (None, false) => Err(Usage(
            "a differentially private release is charged to the data's privacy budget: give \
             --budget DIR (or set VEIL_BUDGET), or --no-budget to release without one"
                .into(),
        )
        .into()),
    }
}

/// Where a release is accounted: `store`, or nowhere.
pub(super) fn accounting(store: &mut Option<BudgetStore>) -> Accounting<'_> {
    match store {
        Some(store) => Accounting::Budget(store),
        None => Accounting::Unbudgeted,
    }
}

/// One line about what a release was charged.
pub(super) fn charged(budget: Option<&Budget>, data: &str) -> String {
    match budget {
        Some(b) => format!(
            "charged to the budget of {data}{}: ε {:.6} of {} spent, {:.6} left",
            b.releases
                .last()
                .map(|r| r.charged_as())
                .unwrap_or_default(),
            b.spent.epsilon(),
            b.total.epsilon(),
            b.remaining().epsilon()
        ),
        None => "not charged to any budget (--no-budget)".into(),
    }
}

/// What `veil dp epsilon` and `veil dp calibrate` report.
#[derive(Serialize)]
struct Accounted {
    #[serde(skip_serializing_if = "Option::is_none")]
    target_epsilon: Option<f64>,
    noise_multiplier: f64,
    epsilon: f64,
    delta: f64,
    accountant: &'static str,
    sampling_rate: f64,
    steps: u64,
}

fn accounted(
    params: &DpSgdParams,
    noise_multiplier: f64,
    target_epsilon: Option<f64>,
) -> anyhow::Result<Accounted> {
    let epsilon = accountant::epsilon(
        params.accountant,
        &SubsampledGaussian {
            sampling_rate: params.sampling_rate,
            noise_multiplier,
            steps: params.steps,
        },
        params.delta,
    )?;
    Ok(Accounted {
        target_epsilon,
        noise_multiplier,
        epsilon,
        delta: params.delta,
        accountant: params.accountant.name(),
        sampling_rate: params.sampling_rate,
        steps: params.steps,
    })
}

pub fn run(cmd: &DpCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DpCommand::Epsilon {
            noise_multiplier,
            params,
        } => show(json, &accounted(params, *noise_multiplier, None)?, |r| {
            println!(
                "ε = {:.6} at δ = {} ({} accountant; {} steps, sampling rate {}, noise multiplier {})",
                r.epsilon, r.delta, r.accountant, r.steps, r.sampling_rate, r.noise_multiplier
            );
        }),
        DpCommand::Calibrate { epsilon, params } => {
            let sigma = accountant::calibrate(
                params.accountant,
                params.sampling_rate,
                params.steps,
                *epsilon,
                params.delta,
            )?;
            show(json, &accounted(params, sigma, Some(*epsilon))?, |r| {
                println!(
                    "noise multiplier {:.6}: ε = {:.6} ≤ {epsilon} at δ = {} ({} accountant)",
                    r.noise_multiplier, r.epsilon, r.delta, r.accountant
                );
            })
        }
        DpCommand::Budget(cmd) => budget(cmd, json),
        DpCommand::Query(args) => query(args, json),
    }
}

fn budget(cmd: &BudgetCommand, json: bool) -> anyhow::Result<()> {
    let (data, dir) = match cmd {
        BudgetCommand::Set { data, budget, .. } | BudgetCommand::Show { data, budget } => {
            (data, budget)
        }
    };
    let table = Table::load(data)?;
    let mut store = BudgetStore::open(dir)?;
    let b = match cmd {
        BudgetCommand::Set {
            epsilon,
            delta,
            privacy_unit,
            max_contributions,
            name,
            ..
        } => {
            let unit = BudgetUnit::from_options(privacy_unit.as_deref(), *max_contributions)?;
            let total = PrivacyLoss::target(*epsilon, *delta)?;
            store.set(&table, name.as_deref().unwrap_or(data), total, unit)?
        }
        BudgetCommand::Show { .. } => {
            let dataset = data.clone();
            store
                .show(&table)?
                .ok_or(veil_dp::Error::NoBudget { dataset })?
        }
    };
    show(json, &b, |b| print!("{b}"))
}

/// Runs a DP SQL query: checks it, charges the budget, then draws the noise.
fn query(args: &DpQueryArgs, json: bool) -> anyhow::Result<()> {
    let mut ledger = open_ledger(args.ledger.ledger.as_deref(), &[&args.data])?;
    let mut store = budget_store(&args.budget)?;
    let table = Table::load(&args.data)?;
    let options = QueryOptions {
        epsilon: args.epsilon,
        delta: args.delta,
        privacy_unit: args.privacy_unit.clone(),
        max_contributions: args.max_contributions,
        bounds: args.bounds.clone(),
        keys: args.keys.clone(),
    };
    let release = veil_dp::query::run(
        &args.sql,
        &table,
        &options,
        accounting(&mut store),
        &mut NoiseRng::from_os(),
    )?;
    let index = record(ledger.as_mut(), || {
        Ok(Step {
            kind: "dp-release",
            name: format!("DP query on {}", args.data),
            inputs: vec![Subject::of_source(&args.data)?],
            outputs: Vec::new(),
            meta: release.provenance(&args.sql),
            keyed: Keyed::Inputs,
        })
    })?;
    let recorded = Recorded {
        report: &release,
        ledger_index: index,
    };
    show(json, &recorded, |_| {
        print!("{release}");
        println!("{}", charged(release.budget.as_ref(), &args.data));
        report::say_recorded(index);
    })
}
