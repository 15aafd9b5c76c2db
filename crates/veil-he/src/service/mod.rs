//! The encrypted-inference service and its client, over gRPC with mutual TLS (veil-net).
//!
//! **Protocol** (`proto/veil/he/v1/inference.proto`). The client asks `Describe` for the
//! model's feature columns, task, output link and depth, then opens one `Score` stream: an
//! `Open` message (scheme, parameters, the one evaluation key the model needs, row count and
//! batch size), then the encrypted inputs batch by batch, feature by feature. The service
//! answers each batch with the encrypted output pre-activations as soon as its last feature
//! has arrived; the client decrypts them and applies the output link.
//!
//! **Layout** (chosen by the client from the model and the row count, [`choose_layout`]).
//! Row per slot: one feature of many rows in a ciphertext — slot r holds row r of the
//! batch, up to N/2 rows — so a dense layer is a sum of ciphertexts times constants (no
//! rotations), any number of features fits, and a batch costs one encryption per feature
//! however many rows it holds. Feature-packed (`packed`), for a linear model and few rows:
//! a row's features side by side, so one row is one ciphertext, summed by rotations with
//! keys the client registers once per key set. Inputs are encrypted at the level the
//! circuit needs, not at the top of the chain. Paillier has no slots: one ciphertext per
//! value.
//!
//! **What each side learns.** The service holds only public material (the Paillier modulus,
//! a CKKS relinearisation key, rotation keys) and ciphertexts: it learns the row count and the model's
//! input width, which it already knows, and nothing about features or scores (IND-CPA of
//! the scheme). The client learns the model's output pre-activations, as it would from
//! `veil predict`'s probabilities; the model's weights and standardisation stay with the
//! service (they are folded into the circuit). Two limits, documented in docs/he.md: a
//! result ciphertext's noise is not flooded, so it is not proven to hide more about the
//! weights than the scores do; and, as for any prediction API, many queries let a client
//! fit a copy of the model.

mod client;
mod packed;
mod server;

#[allow(missing_docs, clippy::all)]
pub mod proto {
    //! Messages and stubs generated from `proto/veil/he/v1/inference.proto`.
    tonic::include_proto!("veil.he.v1");
}

pub use client::{Inference, InferenceOptions, Layout, LayoutChoice, choose_layout, infer};
pub use server::Service;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use veil_core::Table;
use veil_net::transport::{Peer, bind, server, spawn};
use veil_net::{Limits, TlsIdentity, probe};

use crate::circuit::{Circuit, Scheme};
use crate::error::{Error, Result};

/// What `veil he serve` reports once it listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serving {
    /// The address listened on (the port the system chose, for port 0).
    pub listening: String,
    /// The model file served.
    pub model: PathBuf,
    /// The model kind.
    pub kind: String,
    /// Its feature columns.
    pub features: usize,
    /// Its outputs.
    pub outputs: u32,
    /// CKKS rescalings its evaluation spends.
    pub depth: u32,
    /// The schemes that can evaluate it.
    pub schemes: Vec<String>,
    /// For each other scheme, why not.
    #[serde(skip)]
    pub refusals: Vec<String>,
}

/// Serves the model in `model` for encrypted inference on `listen`, with mutual TLS as
/// `tls` (and the probe service), until `stop` resolves; `ready` is told what is served once
/// the service listens. Open jobs get up to five seconds to finish.
pub async fn serve(
    model: &Path,
    listen: SocketAddr,
    tls: &TlsIdentity,
    limits: &Limits,
    ready: impl FnOnce(&Serving),
    stop: impl Future<Output = ()>,
) -> Result<Serving> {
    let loaded = veil_ml::model_file::load(model)?;
    let service = Service::new(&loaded, limits.max_message_bytes)?;
    let info = service.info().clone();
    let incoming = bind(listen)?;
    let listening = incoming
        .local_addr()
        .map_or(listen.to_string(), |a| a.to_string());
    let router = server(tls, limits)?
        .add_service(service.service())
        .add_service(probe::service(limits));
    let serving = spawn(router, incoming);
    let report = Serving {
        listening,
        model: model.to_path_buf(),
        kind: info.kind,
        features: info.features.len(),
        outputs: info.outputs,
        depth: info.depth,
        schemes: info.schemes,
        refusals: info.refusals,
    };
    ready(&report);
    stop.await;
    serving.stop(Duration::from_secs(5)).await;
    Ok(report)
}

/// Serves the model in `model` on a free loopback port, in this process, and scores
/// `table`'s rows on it with the key set in `options` — both sides over mutual TLS with a
/// throwaway PKI made in `pki_dir` (a new directory: an existing CA there is refused, not
/// replaced): the whole encrypted-inference round trip on one machine (the demo, tests).
pub async fn score_on_loopback(
    model: &Path,
    table: &Table,
    options: &InferenceOptions,
    pki_dir: &Path,
) -> Result<Inference> {
    veil_net::pki::loopback(pki_dir, "scorer", &["clinic"])?;
    let limits = Limits {
        max_message_bytes: options.max_message_bytes,
        ..Limits::default()
    };
    let (scorer, clinic) = (
        TlsIdentity::load(pki_dir, "scorer")?,
        TlsIdentity::load(pki_dir, "clinic")?,
    );
    let (listening_tx, listening_rx) = tokio::sync::oneshot::channel::<String>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let loopback = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    let serving = serve(
        model,
        loopback,
        &scorer,
        &limits,
        |s| {
            let _ = listening_tx.send(s.listening.clone());
        },
        async {
            let _ = stop_rx.await;
        },
    );
    let client = async {
        let addr = listening_rx
            .await
            .map_err(|_| Error::protocol("the service stopped before it listened"))?;
        let peer = Peer {
            addr: addr.parse()?,
            server_name: Some("scorer".into()),
            wait: Duration::from_secs(10),
        };
        let inference = infer_at(&peer, &clinic, &limits, table, options).await;
        let _ = stop_tx.send(());
        inference
    };
    let (served, inference) = tokio::join!(serving, client);
    served?;
    inference
}

/// Scores `table`'s rows on the service at `peer` (see [`infer`]): dials it with mutual TLS,
/// waiting for it as the peer says.
pub async fn infer_at(
    peer: &Peer,
    tls: &TlsIdentity,
    limits: &Limits,
    table: &Table,
    options: &InferenceOptions,
) -> Result<Inference> {
    let channel = peer.connect(tls, limits).await?;
    let mut inference = infer(channel, table, options).await?;
    inference.server = Some(peer.addr.to_string());
    Ok(inference)
}

/// Paillier rows per batch message.
const PAILLIER_BATCH_ROWS: usize = 64;

/// The CKKS layouts' names on the wire and in reports.
const ROW_PER_SLOT: &str = "row-per-slot";
const FEATURE_PACKED: &str = "feature-packed";

/// What `Describe` says about a model.
fn model_info(circuit: &Circuit, kind: &str, label: &str) -> proto::ModelInfo {
    let mut schemes = Vec::new();
    let mut refusals = Vec::new();
    for scheme in [Scheme::Ckks, Scheme::Paillier] {
        match circuit.check(scheme) {
            Ok(()) => schemes.push(scheme.name().to_string()),
            Err(e) => refusals.push(format!("{}: {e}", scheme.name())),
        }
    }
    proto::ModelInfo {
        kind: kind.to_string(),
        features: circuit.features.clone(),
        task: circuit.task.name().to_string(),
        classes: circuit.task.classes().to_vec(),
        output: circuit.output.name().to_string(),
        outputs: circuit.outputs() as u32,
        hidden_layers: circuit.hidden_layers() as u32,
        depth: circuit.depth() as u32,
        schemes,
        refusals,
        label: label.to_string(),
        cached_rotations: Vec::new(),
    }
}
