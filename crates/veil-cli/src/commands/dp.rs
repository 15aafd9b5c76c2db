//! `veil dp epsilon | calibrate`

use serde_json::json;
use veil_dp::accountant::{self, Accountant, SubsampledGaussian};

use veil_dp::budget::{Budget, BudgetStore};

use super::provenance::data_subject;
use crate::cli::{BudgetCommand, DpCommand, DpSgdParams};
use crate::report;

pub fn run(cmd: &DpCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DpCommand::Epsilon {
            noise_multiplier,
            params,
        } => {
            let acc: Accountant = params.accountant.parse()?;
            let mechanism = SubsampledGaussian {
                sampling_rate: params.sampling_rate,
                noise_multiplier: *noise_multiplier,
                steps: params.steps,
            };
            let eps = accountant::epsilon(acc, &mechanism, params.delta)?;
            if json {
                report::json(&json!({
                    "epsilon": eps, "delta": params.delta, "accountant": acc.name(),
                    "sampling_rate": params.sampling_rate, "noise_multiplier": noise_multiplier,
                    "steps": params.steps,
                }))
            } else {
                println!(
                    "ε = {eps:.6} at δ = {} ({} accountant; {} steps, sampling rate {}, noise multiplier {})",
                    params.delta,
                    acc.name(),
                    params.steps,
                    params.sampling_rate,
                    noise_multiplier
                );
                Ok(())
            }
        }
        DpCommand::Calibrate { epsilon, params } => calibrate(*epsilon, params, json),
        DpCommand::Budget(cmd) => budget(cmd, json),
    }
}

fn calibrate(target: f64, params: &DpSgdParams, json: bool) -> anyhow::Result<()> {
    let acc: Accountant = params.accountant.parse()?;
    let sigma = accountant::calibrate(
        acc,
        params.sampling_rate,
        params.steps,
        target,
        params.delta,
    )?;
    let spent = accountant::epsilon(
        acc,
        &SubsampledGaussian {
            sampling_rate: params.sampling_rate,
            noise_multiplier: sigma,
            steps: params.steps,
        },
        params.delta,
    )?;
    if json {
        report::json(&json!({
            "noise_multiplier": sigma, "epsilon": spent, "target_epsilon": target,
            "delta": params.delta, "accountant": acc.name(),
            "sampling_rate": params.sampling_rate, "steps": params.steps,
        }))
    } else {
        println!(
            "noise multiplier {sigma:.6}: ε = {spent:.6} ≤ {target} at δ = {} ({} accountant)",
            params.delta,
            acc.name()
        );
        Ok(())
    }
}

fn budget_json(dataset: &str, b: &Budget) -> serde_json::Value {
    json!({
        "dataset": dataset, "name": b.name,
        "epsilon": b.epsilon, "delta": b.delta,
        "spent_epsilon": b.spent_epsilon, "spent_delta": b.spent_delta,
        "remaining_epsilon": b.remaining_epsilon(), "remaining_delta": b.remaining_delta(),
        "releases": b.releases.iter().map(|r| json!({
            "time": r.time, "epsilon": r.epsilon, "delta": r.delta,
            "kind": r.kind, "description": r.description,
        })).collect::<Vec<_>>(),
    })
}

fn print_budget(b: &Budget) {
    println!(
        "{}: ε {:.6} of {} spent, {:.6} left; δ {:.3e} of {:.3e} spent ({} releases)",
        b.name,
        b.spent_epsilon,
        b.epsilon,
        b.remaining_epsilon(),
        b.spent_delta,
        b.delta,
        b.releases.len()
    );
    for r in &b.releases {
        println!(
            "  ε {:.6} δ {:.3e}  {}: {}",
            r.epsilon, r.delta, r.kind, r.description
        );
    }
}

fn budget(cmd: &BudgetCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BudgetCommand::Set {
            data,
            epsilon,
            delta,
            budget,
        } => {
            let dataset = veil_core::hex(&data_subject(data)?.sha256);
            let b = BudgetStore::open(budget)?.set(&dataset, data, *epsilon, *delta)?;
            if json {
                report::json(&budget_json(&dataset, &b))
            } else {
                print_budget(&b);
                Ok(())
            }
        }
        BudgetCommand::Show { data, budget } => {
            let dataset = veil_core::hex(&data_subject(data)?.sha256);
            let b = BudgetStore::open(budget)?
                .show(&dataset)?
                .ok_or_else(|| veil_dp::Error::NoBudget(format!("{data} ({dataset})")))?;
            if json {
                report::json(&budget_json(&dataset, &b))
            } else {
                print_budget(&b);
                Ok(())
            }
        }
    }
}
