//! `veil dp epsilon | calibrate`

use serde_json::json;
use veil_dp::accountant::{self, Accountant, SubsampledGaussian};

use crate::cli::{DpCommand, DpSgdParams};
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
