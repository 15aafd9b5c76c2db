//! `veil fl simulate`

use std::time::Duration;

use serde_json::json;
use veil_fl::coordinator::{Plan, SecurePlan};
use veil_fl::simulate::{Partition, Simulation, simulate};
use veil_ml::ModelKind;

use crate::cli::{FlCommand, FlSimulateArgs};
use crate::report;

pub fn run(cmd: &FlCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        FlCommand::Simulate(args) => simulate_command(args, json),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn simulate_command(args: &FlSimulateArgs, json: bool) -> anyhow::Result<()> {
    let partition: Partition = args.split.parse()?;
    let sim = Simulation {
        data: args.data.clone(),
        label: args.label.clone(),
        plan: Plan {
            kind: args.model,
            hidden: if args.model == ModelKind::Mlp {
                args.hidden.clone()
            } else {
                Vec::new()
            },
            activation: args.activation,
            rounds: args.rounds,
            clients_per_round: args.clients_per_round.unwrap_or(args.clients),
            min_clients: args.clients,
            local_epochs: args.local_epochs,
            lr: args.lr,
            batch_size: args.batch_size,
            answer_timeout: Duration::from_secs(120),
            seed: args.seed,
            secure: args.secagg.then_some(SecurePlan {
                threshold: args.threshold,
                clip: args.clip,
            }),
        },
        clients: args.clients,
        partition,
        seed: args.seed,
        dropout: args.dropout,
    };
    if !(0.0..1.0).contains(&args.dropout) {
        anyhow::bail!(veil_fl::Error::InvalidParameter {
            name: "dropout",
            why: format!("{} is not a probability below 1", args.dropout),
        });
    }
    let r = runtime()?.block_on(simulate(&sim))?;
    if r.rounds > 0 && r.aborted_rounds == r.rounds {
        anyhow::bail!(veil_fl::Error::Aborted {
            stage: "every round",
            have: 0,
            threshold: args.threshold.unwrap_or(2 * args.clients / 3 + 1),
        });
    }
    if json {
        report::json(&json!({
            "test_accuracy": r.test_accuracy,
            "centralised_accuracy": r.centralised_accuracy,
            "rounds": r.rounds,
            "aborted_rounds": r.aborted_rounds,
            "dropped_clients": r.dropped_clients,
            "bytes_sent_per_client": r.bytes_sent_per_client,
            "round_seconds": r.round_seconds,
            "clients": args.clients,
            "split": args.split,
            "model": args.model.to_string(),
            "shard_rows": r.shard_rows,
            "secagg": args.secagg,
        }))
    } else {
        println!(
            "federated {}{}: test accuracy {:.4} (centralised {:.4}) after {} rounds over {} clients ({})",
            args.model,
            if args.secagg {
                " with secure aggregation"
            } else {
                ""
            },
            r.test_accuracy,
            r.centralised_accuracy,
            r.rounds,
            args.clients,
            args.split
        );
        println!(
            "  rows per client {:?}; {:.1} KB sent per client; {:.3} s per round; {} aborted rounds, {} dropped clients",
            r.shard_rows,
            r.bytes_sent_per_client / 1e3,
            r.round_seconds,
            r.aborted_rounds,
            r.dropped_clients
        );
        Ok(())
    }
}
