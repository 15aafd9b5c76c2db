//! `veil dp epsilon | calibrate | budget | query`

use serde_json::{Value, json};
use veil_core::Table;
use veil_dp::NoiseRng;
use veil_dp::accountant::{self, Accountant, SubsampledGaussian};
use veil_dp::budget::{Budget, BudgetStore};
use veil_dp::query::{Cell, QueryOptions, QueryRelease, Share, prepare};

use super::provenance::{self, data_subject};
use crate::cli::{BudgetCommand, DpCommand, DpQueryArgs, DpSgdParams};
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
        DpCommand::Query(args) => query(args, json),
    }
}

/// Runs a DP SQL query: checks it, charges the budget, then draws the noise.
fn query(args: &DpQueryArgs, json: bool) -> anyhow::Result<()> {
    let mut ledger = provenance::open(args.ledger.ledger.as_deref())?;
    let table = Table::load(&args.data)?;
    let options = QueryOptions {
        epsilon: args.epsilon,
        delta: args.delta,
        privacy_unit: args.privacy_unit.clone(),
        max_contributions: args.max_contributions,
        bounds: args.bounds.clone(),
        keys: args.keys.clone(),
    };
    let prepared = prepare(&args.sql, &table, &options)?;
    let (epsilon, delta) = prepared.cost();
    // The dataset's digest keys its budget and its ledger entry; skip hashing when neither.
    let dataset = match args.budget.is_some() || ledger.is_some() {
        true => Some(data_subject(&args.data)?),
        false => None,
    };
    let budget = match (&args.budget, &dataset) {
        (Some(dir), Some(dataset)) => Some(BudgetStore::open(dir)?.charge(
            &veil_core::hex(&dataset.sha256),
            epsilon,
            delta,
            "dp-query",
            &args.sql,
        )?),
        _ => None,
    };
    let release = prepared.release(&mut NoiseRng::from_os())?;
    let mut value = release_json(&release, &options);
    let index = match (ledger.as_mut(), dataset) {
        (Some(ledger), Some(dataset)) => {
            let body = serde_json::to_string(&value)?;
            let mut meta = vec![
                ("sql".to_string(), args.sql.clone()),
                ("epsilon".to_string(), epsilon.to_string()),
                ("delta".to_string(), delta.to_string()),
                (
                    "release_sha256".to_string(),
                    veil_core::hex(&veil_core::Sha256Digest::of_bytes(body.as_bytes()).0),
                ),
            ];
            if body.len() <= 1 << 20 {
                meta.push(("release".to_string(), body));
            }
            if let Some(unit) = &options.privacy_unit {
                meta.push(("privacy_unit".to_string(), unit.clone()));
                meta.push((
                    "max_contributions".to_string(),
                    options.max_contributions.unwrap_or(1).to_string(),
                ));
            }
            Some(provenance::record(
                ledger,
                provenance::Step {
                    kind: "dp-release",
                    name: format!("DP query on {}", args.data),
                    inputs: vec![dataset],
                    outputs: Vec::new(),
                    meta,
                },
            )?)
        }
        _ => None,
    };
    if json {
        if let Some(b) = &budget {
            value["budget"] = json!({
                "remaining_epsilon": b.remaining_epsilon(), "remaining_delta": b.remaining_delta(),
                "spent_epsilon": b.spent_epsilon, "spent_delta": b.spent_delta,
            });
        }
        provenance::with_index(&mut value, index);
        return report::json(&value);
    }
    print_release(&release);
    match &budget {
        Some(b) => println!(
            "charged to the budget of {}: ε {:.6} of {} spent, {:.6} left",
            args.data,
            b.spent_epsilon,
            b.epsilon,
            b.remaining_epsilon()
        ),
        None => println!("not charged to any budget (no --budget)"),
    }
    provenance::say(index);
    Ok(())
}

fn share_json(s: &Share) -> Value {
    json!({
        "measurement": s.measurement.to_string(), "epsilon": s.epsilon, "delta": s.delta,
        "sensitivity": s.sensitivity, "mechanism": s.mechanism, "outputs": s.outputs,
    })
}

fn release_json(r: &QueryRelease, options: &QueryOptions) -> Value {
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            let mut obj = serde_json::Map::new();
            for (name, cell) in r.columns.iter().zip(row) {
                obj.insert(
                    name.clone(),
                    match cell {
                        Cell::Key(k) => json!(k),
                        Cell::Estimate { value, ci95 } => {
                            json!({"value": value, "ci95": [ci95.0, ci95.1]})
                        }
                    },
                );
            }
            Value::Object(obj)
        })
        .collect();
    json!({
        "columns": r.columns,
        "rows": rows,
        "epsilon": r.epsilon,
        "delta": r.delta,
        "confidence": 0.95,
        "budget_split": r.shares.iter().map(share_json).collect::<Vec<_>>(),
        "partition_selection": r.selection_threshold.map(|t| json!({"threshold": t})),
        "privacy_unit": options.privacy_unit,
        "max_contributions": options.max_contributions.unwrap_or(1),
    })
}

/// A number for people: integers as such, others to 4 significant decimals.
fn show(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}

fn print_release(r: &QueryRelease) {
    let cells: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Cell::Key(k) => k.clone().unwrap_or_else(|| "NULL".into()),
                    Cell::Estimate { value, ci95 } => {
                        format!("{} [{}, {}]", show(*value), show(ci95.0), show(ci95.1))
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..r.columns.len())
        .map(|j| {
            cells
                .iter()
                .map(|row| row[j].chars().count())
                .chain([r.columns[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |items: &[String]| {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&r.columns));
    for row in &cells {
        println!("{}", line(row));
    }
    if r.rows.is_empty() {
        println!("(no group passed partition selection)");
    }
    println!(
        "values with 95% intervals for the noise; ε = {} δ = {} spent, split:",
        r.epsilon, r.delta
    );
    for s in &r.shares {
        let used = if s.outputs.is_empty() {
            String::new()
        } else {
            format!(" → {}", s.outputs.join(", "))
        };
        println!(
            "  ε {:.4}{}  {} ({} noise, sensitivity {}){used}",
            s.epsilon,
            if s.delta > 0.0 {
                format!(" δ {:e}", s.delta)
            } else {
                String::new()
            },
            s.measurement,
            s.mechanism,
            show(s.sensitivity)
        );
    }
    if let Some(t) = r.selection_threshold {
        println!("  groups released when their noisy count of units reached {t}");
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
