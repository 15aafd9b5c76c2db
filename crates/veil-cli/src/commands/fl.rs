//! `veil fl simulate | serve | join | bench`

use std::time::Duration;

use veil_fl::coordinator::{Plan, SecurePlan};
use veil_fl::ddp::DpTarget;
use veil_fl::participant::Requirements;
use veil_fl::simulate::{Simulation, simulate};
use veil_ml::ModelKind;
use veil_net::transport::{Peer, ctrl_c};
use veil_net::{Limits, TlsIdentity};

use super::runtime;
use crate::cli::{ClientTlsArgs, FlCommand, FlModelArgs};
use crate::report::show;

pub fn run(cmd: &FlCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        FlCommand::Simulate(args) => {
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
                partition: args.split,
                seed: t.seed,
                dropout: args.dropout,
            };
            let r = runtime()?.block_on(simulate(&sim))?;
            show(json, &r, |r| print!("{r}"))
        }
        FlCommand::Serve(args) => {
            let limits = Limits::default();
            let tls = TlsIdentity::load(&args.server.tls, &args.server.name)?;
            let plan = plan(
                &args.train,
                args.clients_per_round,
                args.min_clients,
                Duration::from_secs(args.answer_timeout),
            )?;
            let served = runtime()?.block_on(veil_fl::process::serve(
                plan,
                args.server.listen,
                &tls,
                &limits,
                &args.state,
                args.out.as_deref(),
                |l| {
                    if !json {
                        eprintln!(
                            "listening on {}; waiting for {} clients{}",
                            l.listening,
                            l.min_clients,
                            l.resumed_from
                                .map_or(String::new(), |r| format!(" (resuming after round {r})"))
                        );
                    }
                },
                ctrl_c(),
            ))?;
            show(json, &served, |s| {
                println!(
                    "{} rounds ({} aborted, {} dropped clients){}",
                    s.rounds,
                    s.aborted_rounds,
                    s.dropped_clients,
                    s.model.as_ref().map_or(String::new(), |p| format!(
                        "; model written to {}",
                        p.display()
                    ))
                );
            })
        }
        FlCommand::Join(args) => {
            let limits = Limits::default();
            let tls = TlsIdentity::load(&args.peer.tls, &args.peer.name)?;
            let report = runtime()?.block_on(veil_fl::process::join(
                &peer(&args.peer),
                &tls,
                &limits,
                &args.data,
                &args.label,
                args.local_epochs,
                (
                    args.state.as_deref(),
                    Requirements::new(args.require_secagg, args.max_epsilon),
                ),
                ctrl_c(),
            ))?;
            show(json, &report, |r| {
                println!(
                    "the run is over: trained in {} rounds, sent {:.1} KB",
                    r.rounds,
                    r.bytes_sent as f64 / 1e3
                );
            })
        }
        FlCommand::Bench(args) => {
            let b = veil_fl::secagg::timed::bench(
                args.clients,
                args.params,
                args.dropout,
                args.secagg_neighbours,
                args.threshold,
                args.seed,
            )?;
            show(json, &b, |t| {
                println!(
                    "one secure-aggregation round: {} clients x {} parameters, {} dropped after sharing, {} neighbours each, threshold {}",
                    t.clients, t.params, t.dropped, t.neighbours, t.threshold
                );
                println!(
                    "  coordinator {:.3} s; per client {:.3} s; uploaded per client {:.1} KB ({:.3}x the masked vector's {:.1} KB)",
                    t.coordinator_seconds,
                    t.client_seconds,
                    t.upload_bytes_per_client / 1e3,
                    t.upload_bytes_per_client / t.masked_vector_bytes as f64,
                    t.masked_vector_bytes as f64 / 1e3
                );
            })
        }
    }
}

/// The server a client dials.
pub(super) fn peer(args: &ClientTlsArgs) -> Peer {
    Peer {
        addr: args.server.clone(),
        server_name: args.server_name.clone(),
        wait: Duration::from_secs(args.wait),
    }
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
        aggregator: match t.secagg {
            true => veil_fl::aggregate::Aggregator::Unweighted,
            false => t.aggregator.with_trim(t.trim)?,
        },
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
        bounds: t.bounds.clone(),
    })
}
