//! `veil fl simulate | serve | join | bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use veil_core::Table;
use veil_fl::checkpoint::Checkpoint;
use veil_fl::coordinator::{Coordinator, Plan, SecurePlan};
use veil_fl::ddp::DpTarget;
use veil_fl::participant::{LocalData, participate};
use veil_fl::secagg::Graph;
use veil_fl::secagg::timed::{self, TimedRound};
use veil_fl::simulate::{Partition, Simulation, simulate};
use veil_ml::ModelKind;
use veil_net::transport::{bind, connect, ctrl_c, server, spawn};
use veil_net::{Limits, TlsIdentity, probe};

use crate::cli::{
    ClientTlsArgs, FlBenchArgs, FlCommand, FlJoinArgs, FlModelArgs, FlServeArgs, FlSimulateArgs,
};
use crate::report;

pub fn run(cmd: &FlCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        FlCommand::Simulate(args) => simulate_command(args, json),
        FlCommand::Serve(args) => serve(args, json),
        FlCommand::Join(args) => join(args, json),
        FlCommand::Bench(args) => bench(args, json),
    }
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn plan(
    t: &FlModelArgs,
    clients_per_round: usize,
    min_clients: usize,
    answer_timeout: Duration,
) -> veil_fl::Result<Plan> {
    Ok(Plan {
        kind: t.model,
        hidden: if t.model == ModelKind::Mlp {
            t.hidden.clone()
        } else {
            Vec::new()
        },
        activation: t.activation,
        rounds: t.rounds,
        clients_per_round,
        min_clients,
        local_epochs: t.local_epochs,
        lr: t.lr,
        batch_size: t.batch_size,
        answer_timeout,
        seed: t.seed,
        mu: t.mu,
        aggregator: t.aggregator.with_trim(t.trim).ok_or_else(|| {
            veil_fl::Error::InvalidParameter {
                name: "trim",
                why: format!("{} must be at least 0 and below 0.5", t.trim),
            }
        })?,
        secure: t.secagg.then_some(SecurePlan {
            threshold: t.threshold,
            neighbours: t.secagg_neighbours,
            dp: t.dp_epsilon.map(|epsilon| DpTarget {
                epsilon,
                delta: t.dp_delta,
                clip: t.dp_clip,
            }),
            clip: t.clip,
        }),
    })
}

fn all_aborted(rounds: usize, aborted: usize, plan: &Plan) -> anyhow::Result<()> {
    if rounds > 0 && aborted == rounds {
        let n = plan.clients_per_round;
        let threshold = plan.secure.map_or(0, |s| {
            s.threshold
                .unwrap_or_else(|| Graph::for_round(s.neighbours, n).default_threshold(n))
        });
        anyhow::bail!(veil_fl::Error::Aborted {
            stage: "every round",
            have: 0,
            threshold,
        });
    }
    Ok(())
}

fn simulate_command(args: &FlSimulateArgs, json: bool) -> anyhow::Result<()> {
    let partition: Partition = args.split.parse()?;
    if !(0.0..1.0).contains(&args.dropout) {
        anyhow::bail!(veil_fl::Error::InvalidParameter {
            name: "dropout",
            why: format!("{} is not a probability below 1", args.dropout),
        });
    }
    let t = &args.train;
    let sim = Simulation {
        data: args.data.clone(),
        label: args.label.clone(),
        plan: plan(
            t,
            args.clients_per_round.unwrap_or(args.clients),
            args.clients,
            Duration::from_secs(120),
        )?,
        clients: args.clients,
        partition,
        seed: t.seed,
        dropout: args.dropout,
    };
    let r = runtime()?.block_on(simulate(&sim))?;
    all_aborted(r.rounds, r.aborted_rounds, &sim.plan)?;
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
            "model": t.model.to_string(),
            "shard_rows": r.shard_rows,
            "secagg": t.secagg,
            "secagg_neighbours": t.secagg_neighbours,
            "aggregator": sim.plan.aggregator.to_string(),
            "mu": t.mu,
            "dp_epsilon": r.dp.map(|(epsilon, _)| epsilon),
            "dp_delta": r.dp.map(|_| t.dp_delta),
            "dp_noise_sigma": r.dp.map(|(_, sigma)| sigma),
        }))
    } else {
        println!(
            "federated {}{}{}: test accuracy {:.4} (centralised {:.4}) after {} rounds over {} clients ({})",
            t.model,
            if t.secagg {
                " with secure aggregation"
            } else {
                ""
            },
            match sim.plan.aggregator {
                veil_fl::aggregate::Aggregator::Mean => String::new(),
                other => format!(" ({other})"),
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

fn serve(args: &FlServeArgs, json: bool) -> anyhow::Result<()> {
    let limits = Limits::default();
    let tls = TlsIdentity::load(&args.server.tls, &args.server.name)?;
    std::fs::create_dir_all(&args.state).map_err(|e| veil_core::Error::io(&args.state, e))?;
    let resume = Checkpoint::load(&args.state)?;
    let resumed_from = resume.as_ref().map(|c| c.round);
    let plan = plan(
        &args.train,
        args.clients_per_round,
        args.min_clients,
        Duration::from_secs(args.answer_timeout),
    )?;
    let coordinator = Coordinator::new(plan.clone(), limits.max_message_bytes)?;
    let state_dir = args.state.clone();
    let report = runtime()?.block_on(async {
        let incoming = bind(args.server.listen)?;
        let router = server(&tls, &limits)?
            .add_service(coordinator.service())
            .add_service(probe::service(&limits));
        let serving = spawn(router, incoming);
        if !json {
            eprintln!(
                "listening on {}; waiting for {} clients{}",
                args.server.listen,
                args.min_clients,
                resumed_from.map_or(String::new(), |r| format!(" (resuming after round {r})"))
            );
        }
        let outcome = tokio::select! {
            r = coordinator.run_resumable(resume, |c| c.save(&state_dir)) => Some(r),
            () = ctrl_c() => None,
        };
        match &outcome {
            Some(Ok(_)) => {}
            Some(Err(e)) => coordinator.close(&format!("the coordinator stopped: {e}")),
            None => coordinator.close("the coordinator was interrupted"),
        }
        // Give the clients a moment to read that the run is over, then stop serving (and
        // stop waiting for streams a client keeps open after that).
        tokio::time::sleep(Duration::from_millis(200)).await;
        serving.stop(Duration::from_secs(5)).await;
        anyhow::Ok(outcome)
    })?;
    let Some(report) = report else {
        anyhow::bail!(veil_fl::Error::Protocol(format!(
            "interrupted; the state after the last completed round is in {}",
            args.state.display()
        )));
    };
    let report = report?;
    let aborted = report.rounds.iter().filter(|r| r.aborted).count();
    if let Some(out) = &args.out {
        veil_ml::model_file::save(&report.model, out)?;
    }
    all_aborted(report.rounds.len(), aborted, &plan)?;
    if json {
        report::json(&json!({
            "rounds": report.rounds.len(),
            "aborted_rounds": aborted,
            "dropped_clients": report.dropped_clients,
            "resumed_from": resumed_from,
            "dp_epsilon": report.dp.map(|(epsilon, _)| epsilon),
            "dp_noise_sigma": report.dp.map(|(_, sigma)| sigma),
            "model": args.out.as_ref().map(|p| p.display().to_string()),
            "state": args.state.display().to_string(),
        }))
    } else {
        println!(
            "{} rounds ({} aborted, {} dropped clients){}",
            report.rounds.len(),
            aborted,
            report.dropped_clients,
            args.out.as_ref().map_or(String::new(), |p| format!(
                "; model written to {}",
                p.display()
            ))
        );
        Ok(())
    }
}

fn join(args: &FlJoinArgs, json: bool) -> anyhow::Result<()> {
    let limits = Limits::default();
    let tls = TlsIdentity::load(&args.peer.tls, &args.peer.name)?;
    let table = Table::load(&args.data)?;
    let mut data = LocalData::new(table, &args.label)?;
    if let Some(e) = args.local_epochs {
        data = data.with_local_epochs(e);
    }
    let data = Arc::new(data);
    let report = runtime()?.block_on(async {
        let channel = connect_waiting(&args.peer, &tls, &limits).await?;
        let run = participate(
            channel,
            &args.peer.name,
            data,
            limits.max_message_bytes,
            None,
        );
        tokio::select! {
            r = run => anyhow::Ok(Some(r?)),
            () = ctrl_c() => Ok(None),
        }
    })?;
    let Some(report) = report else {
        anyhow::bail!(veil_fl::Error::Protocol("interrupted".into()));
    };
    if json {
        report::json(&json!({
            "rounds": report.rounds,
            "bytes_sent": report.bytes_sent,
        }))
    } else {
        println!(
            "the run is over: trained in {} rounds, sent {:.1} KB",
            report.rounds,
            report.bytes_sent as f64 / 1e3
        );
        Ok(())
    }
}

/// The host part of HOST:PORT ([v6]:PORT too).
/// A channel to the server `peer` names, which may not be up yet: keeps trying for
/// `--wait` seconds.
pub(super) async fn connect_waiting(
    peer: &ClientTlsArgs,
    tls: &TlsIdentity,
    limits: &Limits,
) -> veil_net::Result<tonic::transport::Channel> {
    let server_name = match &peer.server_name {
        Some(n) => n.clone(),
        None => host_of(&peer.server),
    };
    let deadline = Instant::now() + Duration::from_secs(peer.wait);
    loop {
        match connect(&peer.server, &server_name, tls, limits).await {
            Ok(c) => return Ok(c),
            Err(e) if e.to_string().contains("tcp connect") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The host part of HOST:PORT (brackets of an IPv6 address removed).
fn host_of(server: &str) -> String {
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

fn bench(args: &FlBenchArgs, json: bool) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.dropout) || args.clients < 2 || args.params == 0 {
        anyhow::bail!(veil_fl::Error::InvalidParameter {
            name: "bench",
            why: "--clients must be at least 2, --params at least 1, --dropout in [0, 1)".into(),
        });
    }
    let graph = Graph::for_round(args.secagg_neighbours, args.clients);
    let t = timed::run(&TimedRound {
        clients: args.clients,
        params: args.params,
        dropout: args.dropout,
        graph,
        threshold: args.threshold,
        seed: args.seed,
    })?;
    let neighbours = match graph {
        Graph::Complete => args.clients - 1,
        Graph::Harary { neighbours } => neighbours,
    };
    if json {
        report::json(&json!({
            "tool": "veil",
            "version": env!("CARGO_PKG_VERSION"),
            "clients": args.clients,
            "params": args.params,
            "dropout": args.dropout,
            "dropped": t.dropped,
            "neighbours": neighbours,
            "threshold": t.threshold,
            "coordinator_seconds": t.coordinator.as_secs_f64(),
            "client_seconds": t.client.as_secs_f64(),
            "upload_bytes_per_client": t.upload_bytes_per_client,
            "masked_vector_bytes": t.masked_vector_bytes,
            "max_abs_error": t.max_abs_error,
        }))
    } else {
        println!(
            "one secure-aggregation round: {} clients x {} parameters, {} dropped after sharing, {} neighbours each, threshold {}",
            args.clients, args.params, t.dropped, neighbours, t.threshold
        );
        println!(
            "  coordinator {:.3} s; per client {:.3} s; uploaded per client {:.1} KB ({:.3}x the masked vector's {:.1} KB)",
            t.coordinator.as_secs_f64(),
            t.client.as_secs_f64(),
            t.upload_bytes_per_client / 1e3,
            t.upload_bytes_per_client / t.masked_vector_bytes as f64,
            t.masked_vector_bytes as f64 / 1e3
        );
        Ok(())
    }
}
