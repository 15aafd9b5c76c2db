//! The coordinator and a client as processes of their own (`veil fl serve`, `veil fl join`):
//! over mutual TLS, the coordinator checkpointing every round and both stopping cleanly when
//! told to (Ctrl-C).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use veil_core::Table;
use veil_net::transport::{Peer, bind, server, spawn};
use veil_net::{Limits, TlsIdentity, probe};

use crate::checkpoint::Checkpoint;
use crate::contributions::Contributions;
use crate::coordinator::{Coordinator, Plan};
use crate::error::{Error, Result};
use crate::participant::{Credentials, LocalData, ParticipantReport, Requirements, participate};

/// A client's record of its distributed-DP contributions, in its `--state` directory.
pub const CONTRIBUTIONS: &str = "contributions.json";

/// What a coordinator tells once it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The address it listens on.
    pub listening: String,
    /// The clients it waits for before training.
    pub min_clients: usize,
    /// The last completed round of the run it resumes, if it resumes one.
    pub resumed_from: Option<usize>,
}

/// What `veil fl serve` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Served {
    /// Rounds run (this process).
    pub rounds: usize,
    /// Rounds in which no update could be used.
    pub aborted_rounds: usize,
    /// Clients that left or were dropped.
    pub dropped_clients: usize,
    /// The last completed round of the run it resumed, if it resumed one.
    pub resumed_from: Option<usize>,
    /// With distributed DP: ε spent, over every sum unmasked since the run began (this
    /// process and those it resumed), at `dp_delta`.
    pub dp_epsilon: Option<f64>,
    /// With distributed DP: δ.
    pub dp_delta: Option<f64>,
    /// With distributed DP: each client's noise σ.
    pub dp_noise_sigma: Option<f64>,
    /// With distributed DP: the sums unmasked since the run began.
    pub dp_sums_unmasked: Option<usize>,
    /// Where the model was written.
    pub model: Option<PathBuf>,
    /// The checkpoint directory.
    pub state: PathBuf,
}

/// Coordinates the run of `plan` on `listen` with mutual TLS as `tls` (and the probe
/// service), checkpointing every round in `state` (resuming the run there, if any) and
/// writing the model to `out`; `ready` is told once it listens. When `stop` resolves first,
/// the clients are told and the state after the last completed round is kept.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    plan: Plan,
    listen: SocketAddr,
    tls: &TlsIdentity,
    limits: &Limits,
    state: &Path,
    out: Option<&Path>,
    ready: impl FnOnce(&Listening),
    stop: impl Future<Output = ()>,
) -> Result<Served> {
    std::fs::create_dir_all(state).map_err(|e| veil_core::Error::io(state, e))?;
    let resume = Checkpoint::load(state)?;
    let resumed_from = resume.as_ref().map(|c| c.round);
    let min_clients = plan.min_clients;
    let coordinator = Coordinator::new(plan, limits.max_message_bytes)?;
    let incoming = bind(listen)?;
    let listening = incoming
        .local_addr()
        .map_or(listen.to_string(), |a| a.to_string());
    let router = server(tls, limits)?
        .add_service(coordinator.service())
        .add_service(probe::service(limits));
    let serving = spawn(router, incoming);
    ready(&Listening {
        listening,
        min_clients,
        resumed_from,
    });
    let outcome = tokio::select! {
        r = coordinator.run_resumable(resume, |c| c.save(state)) => Some(r),
        () = stop => None,
    };
    match &outcome {
        Some(Ok(_)) => {}
        Some(Err(e)) => coordinator.close(&format!("the coordinator stopped: {e}")),
        None => coordinator.close("the coordinator was interrupted"),
    }
    // Give the clients a moment to read that the run is over, then stop serving (and stop
    // waiting for streams a client keeps open after that).
    tokio::time::sleep(Duration::from_millis(200)).await;
    serving.stop(Duration::from_secs(5)).await;
    let report = outcome.ok_or_else(|| Error::Interrupted {
        state: Some(state.display().to_string()),
    })??;
    if let Some(out) = out {
        veil_ml::model_file::save(&report.model, out)?;
    }
    Ok(Served {
        rounds: report.rounds.len(),
        aborted_rounds: report.rounds.iter().filter(|r| r.aborted).count(),
        dropped_clients: report.dropped_clients,
        resumed_from,
        dp_epsilon: report.dp.map(|d| d.epsilon),
        dp_delta: report.dp.map(|d| d.delta),
        dp_noise_sigma: report.dp.map(|d| d.sigma),
        dp_sums_unmasked: report.dp.map(|d| d.unmasked),
        model: out.map(Path::to_path_buf),
        state: state.to_path_buf(),
    })
}

/// Takes part in the run coordinated at `peer` as `tls`'s party, with the table `data` and
/// its label column `label` (`local_epochs` overrides the coordinator's), keeping the
/// record of its distributed-DP contributions in `state/contributions.json` (in memory
/// only without `state`) and answering only what `require` allows; stops when `stop`
/// resolves first.
#[allow(clippy::too_many_arguments)]
pub async fn join(
    peer: &Peer,
    tls: &TlsIdentity,
    limits: &Limits,
    data: &str,
    label: &str,
    local_epochs: Option<usize>,
    (state, require): (Option<&Path>, Requirements),
    stop: impl Future<Output = ()>,
) -> Result<ParticipantReport> {
    let contributions = match state {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| veil_core::Error::io(dir, e))?;
            Contributions::open(&dir.join(CONTRIBUTIONS))?
        }
        None => Contributions::in_memory(),
    };
    let mut local = LocalData::new(Table::load(data)?, label)?;
    if let Some(e) = local_epochs {
        local = local.with_local_epochs(e);
    }
    let channel = peer.connect(tls, limits).await?;
    let credentials = Credentials {
        signer: tls.signer()?,
        coordinator: peer.name(),
        require,
    };
    let run = participate(
        channel,
        &credentials,
        Arc::new(local),
        limits.max_message_bytes,
        Arc::new(contributions),
        None,
    );
    tokio::select! {
        r = run => r,
        () = stop => Err(Error::Interrupted { state: None }),
    }
}
