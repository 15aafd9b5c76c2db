//! The coordinator: it admits clients, agrees the standardisation, and runs the rounds of
//! federated averaging (McMahan et al., "Communication-Efficient Learning of Deep Networks
//! from Decentralized Data", AISTATS 2017, Algorithm 1: FedAvg weighted by example counts).
//!
//! Each client holds one bidirectional gRPC stream ([`crate::proto`]) over mutual TLS. The
//! coordinator reads a client's name from its verified certificate and refuses a hello that
//! claims another, a schema that differs from the first client's, or a name already
//! connected. Every answer is awaited with a timeout; a client that does not answer in time
//! (a straggler) is left out of that round, and one whose stream ends leaves the run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::IteratorRandom;
use rand_chacha::ChaCha20Rng;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use veil_core::Standardizer;
use veil_ml::task::sorted_classes;
use veil_ml::{Activation, Architecture, Model, ModelKind, Network, Task};

use crate::aggregate::Aggregator;
use crate::checkpoint::{Checkpoint, DpLedger};
use crate::clock::Clock;
use crate::ddp::{Contribution, Ddp, DpTarget};
use crate::error::{Error, Result};
use crate::proto::client_message::Body as FromClient;
use crate::proto::coordinator_message::Body as ToClient;
use crate::proto::federation_server::{Federation, FederationServer};
use crate::proto::{
    ClientMessage, CoordinatorMessage, Done, Moments, MomentsRequest, Schema, SecAggRoster,
    SecAggStart, SecAggSurvivors, SecAggUnmask, Train, Update, ViewSignature, Welcome,
};
use crate::secagg::{self, Session};
use crate::wire;
use veil_core::fixed::{Quantizer, Wide};

/// What the coordinator trains, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// logreg, softmax or mlp.
    pub kind: ModelKind,
    /// Hidden layer widths (MLP).
    pub hidden: Vec<usize>,
    /// Hidden activation (MLP).
    pub activation: Activation,
    /// Rounds of federated averaging.
    pub rounds: usize,
    /// Clients selected per round (at most the connected ones).
    pub clients_per_round: usize,
    /// Connected clients needed before training starts.
    pub min_clients: usize,
    /// Local epochs per round.
    pub local_epochs: usize,
    /// Local learning rate.
    pub lr: f64,
    /// Local batch size.
    pub batch_size: usize,
    /// How long the coordinator waits for each answer.
    pub answer_timeout: Duration,
    /// Seed of the initial weights and of the client selection (public).
    pub seed: u64,
    /// FedProx's proximal weight μ for local training (0: plain FedAvg).
    pub mu: f64,
    /// How visible updates are combined (secure aggregation always sums).
    pub aggregator: Aggregator,
    /// Secure aggregation of the updates, if set.
    pub secure: Option<SecurePlan>,
    /// Public bounds of feature columns (column, low, high). With distributed DP the
    /// standardisation comes from them (the centre and half-width of each range), never
    /// from the clients' data; a feature without bounds is used as given. Only used with
    /// distributed DP.
    pub bounds: Vec<(String, f64, f64)>,
}

/// How updates are securely aggregated ([`crate::secagg`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecurePlan {
    /// t, the fewest clients a round (or with SecAgg+, a neighbourhood) may be left with
    /// (default ⌊2m/3⌋ + 1 of the round's n clients, or of a neighbourhood's m = k + 1).
    pub threshold: Option<usize>,
    /// SecAgg+: each client shares with this many neighbours only (None: with everyone).
    pub neighbours: Option<usize>,
    /// Distributed DP: the (ε, δ) target over the run and the L2 clip of an update.
    pub dp: Option<DpTarget>,
    /// Each coordinate of a client's delta is clipped to ±clip before it is encoded.
    pub clip: f64,
}

impl Default for SecurePlan {
    /// Bonawitz et al.'s complete graph with the default threshold, no DP, updates clipped to
    /// ±10 per coordinate.
    fn default() -> SecurePlan {
        SecurePlan {
            threshold: None,
            neighbours: None,
            dp: None,
            clip: 10.0,
        }
    }
}

impl Default for Plan {
    /// `veil fl`'s defaults: logistic regression, 20 rounds of FedAvg with 5 local epochs
    /// (SGD, learning rate 0.1, batches of 16), seed 1, answers awaited 120 s; one client per
    /// round, without secure aggregation.
    fn default() -> Plan {
        Plan {
            kind: ModelKind::Logreg,
            hidden: Vec::new(),
            activation: Activation::Relu,
            rounds: 20,
            clients_per_round: 1,
            min_clients: 1,
            local_epochs: 5,
            lr: 0.1,
            batch_size: 16,
            answer_timeout: Duration::from_secs(120),
            seed: 1,
            mu: 0.0,
            aggregator: Aggregator::Mean,
            secure: None,
            bounds: Vec::new(),
        }
    }
}

impl SecurePlan {
    /// The threshold t for a round of `n` clients: the plan's, else its graph's default
    /// (⌊2m/3⌋+1 of the m clients a secret is shared among), within 2..=255.
    pub fn threshold(&self, n: usize) -> usize {
        self.threshold
            .unwrap_or_else(|| secagg::Graph::for_round(self.neighbours, n).default_threshold(n))
            .clamp(2, 255)
    }
}

impl Plan {
    /// The secure-aggregation threshold of a full round (0 without secure aggregation).
    pub fn threshold(&self) -> usize {
        self.secure
            .map_or(0, |s| s.threshold(self.clients_per_round))
    }
}

/// One round as it went.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundReport {
    /// 1-based.
    pub round: usize,
    /// Clients asked to train.
    pub selected: usize,
    /// Clients whose updates were used.
    pub answered: usize,
    /// Questions of the round (to any client, at any stage) that went unanswered until
    /// their deadline.
    pub timed_out: usize,
    /// Wall time of the round.
    pub seconds: f64,
    /// Whether the round aborted (no update applied).
    pub aborted: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The global model, carrying the global standardisation.
    pub model: Model,
    /// Every round.
    pub rounds: Vec<RoundReport>,
    /// Clients that left or were dropped during the run.
    pub dropped_clients: usize,
    /// With distributed DP: what the run has spent, over every process that ran it.
    pub dp: Option<DpSpent>,
}

/// The privacy a distributed-DP run has spent: the composition of every sum unmasked
/// since it began, counted across coordinator restarts from `state.json`'s ledger.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DpSpent {
    /// ε at `delta` over the sums unmasked so far (at most the target).
    pub epsilon: f64,
    /// δ of the target.
    pub delta: f64,
    /// Each client's noise σ.
    pub sigma: f64,
    /// Sums unmasked (each counted before its unmasking shares were asked for).
    pub unmasked: usize,
    /// Contributions asked of the clients: rounds begun, of the planned rounds.
    pub begun: usize,
}

type Outbox = mpsc::Sender<Result<CoordinatorMessage, Status>>;

struct Member {
    name: String,
    /// The certificate (DER) it authenticated with: its secure-aggregation adverts must be
    /// signed by this certificate's key.
    certificate: Vec<u8>,
    classes: Vec<String>,
    outbox: Outbox,
    /// The client's messages with the step each answers.
    inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<(u64, FromClient)>>>,
}

struct Shared {
    plan: Plan,
    max_message_bytes: usize,
    members: Mutex<BTreeMap<u32, Member>>,
    schema: Mutex<Option<(Vec<String>, String)>>,
    next_id: AtomicU32,
    /// The step number of the next question to a client.
    next_step: AtomicU64,
    /// Set when the run is over: a client joining late is told so at once.
    finished: std::sync::atomic::AtomicBool,
    /// Where answer deadlines come from.
    clock: Clock,
    /// Answers that did not come in time, over the run.
    timed_out: std::sync::atomic::AtomicUsize,
    /// Told whenever a client joins or leaves.
    membership: tokio::sync::Notify,
}

/// The coordinator: a gRPC service for the clients and the loop that runs the rounds.
#[derive(Clone)]
pub struct Coordinator {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep going with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends `body` as step `step` (0: a message that asks nothing).
fn send(outbox: &Outbox, step: u64, body: ToClient) -> bool {
    outbox
        .try_send(Ok(CoordinatorMessage {
            step,
            body: Some(body),
        }))
        .is_ok()
}

impl Coordinator {
    /// A coordinator for `plan`, accepting messages up to `max_message_bytes`.
    pub fn new(plan: Plan, max_message_bytes: usize) -> Result<Coordinator> {
        Coordinator::with_clock(plan, max_message_bytes, Clock::Real)
    }

    /// A coordinator whose answer deadlines pass on `clock` (a test's [`Clock::Manual`]).
    pub fn with_clock(plan: Plan, max_message_bytes: usize, clock: Clock) -> Result<Coordinator> {
        if plan.rounds == 0 || plan.clients_per_round == 0 || plan.min_clients == 0 {
            return Err(Error::InvalidParameter {
                name: "rounds / clients",
                why: "rounds, clients per round and minimum clients must be at least 1".into(),
            });
        }
        if !(plan.mu.is_finite() && plan.mu >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "mu",
                why: format!("{} must be a non-negative number", plan.mu),
            });
        }
        if let Some(SecurePlan {
            neighbours: None, ..
        }) = plan.secure
            && plan.clients_per_round > 255
        {
            return Err(Error::InvalidParameter {
                name: "clients per round",
                why: format!(
                    "secure aggregation with everyone sharing with everyone takes at most 255 clients a round, not {}: share with a few neighbours only (SecAgg+)",
                    plan.clients_per_round
                ),
            });
        }
        if let Some(SecurePlan {
            neighbours: Some(k),
            ..
        }) = plan.secure
            && !(2..=253).contains(&k)
        {
            return Err(Error::InvalidParameter {
                name: "neighbours",
                why: format!("{k} neighbours: SecAgg+ needs between 2 and 253"),
            });
        }
        if plan.secure.is_some() && plan.aggregator != Aggregator::Unweighted {
            return Err(Error::InvalidParameter {
                name: "aggregator",
                why: format!(
                    "{}: under secure aggregation the coordinator sees only the sum of the updates, each client counting once (unweighted); a row count summed beside them would reveal every client's size over rounds",
                    plan.aggregator
                ),
            });
        }
        let dp = matches!(plan.secure, Some(SecurePlan { dp: Some(_), .. }));
        if !plan.bounds.is_empty() && !dp {
            return Err(Error::InvalidParameter {
                name: "bounds",
                why: "public bounds set the standardisation of a distributed-DP run; without distributed DP the standardisation comes from the clients' statistics".into(),
            });
        }
        if let Some((column, lo, hi)) = plan
            .bounds
            .iter()
            .find(|(_, lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi))
        {
            return Err(Error::InvalidParameter {
                name: "bounds",
                why: format!("{column}={lo}:{hi}: the low bound must be below the high one"),
            });
        }
        Ok(Coordinator {
            shared: Arc::new(Shared {
                plan,
                max_message_bytes,
                members: Mutex::new(BTreeMap::new()),
                schema: Mutex::new(None),
                next_id: AtomicU32::new(1),
                next_step: AtomicU64::new(1),
                finished: std::sync::atomic::AtomicBool::new(false),
                clock,
                timed_out: std::sync::atomic::AtomicUsize::new(0),
                membership: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The gRPC service to add to a server.
    pub fn service(&self) -> FederationServer<Coordinator> {
        FederationServer::new(self.clone())
            .max_decoding_message_size(self.shared.max_message_bytes)
            .max_encoding_message_size(self.shared.max_message_bytes)
    }

    /// Ends the run early: every connected client (and any that joins later) is told it is
    /// over, with `reason`, so that it stops waiting and closes its stream.
    pub fn close(&self, reason: &str) {
        self.shared.finished.store(true, Ordering::SeqCst);
        for m in lock(&self.shared.members).values() {
            send(
                &m.outbox,
                0,
                ToClient::Done(Done {
                    reason: reason.to_string(),
                    refused: true,
                }),
            );
        }
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        lock(&self.shared.members).len()
    }

    /// Resolves once at least `n` clients are connected.
    pub async fn until_connected(&self, n: usize) {
        loop {
            let changed = self.shared.membership.notified();
            if self.connected() >= n {
                return;
            }
            changed.await;
        }
    }

    fn admit(
        &self,
        (name, certificate): (String, Vec<u8>),
        schema: Schema,
        outbox: Outbox,
    ) -> Result<(u32, mpsc::Sender<(u64, FromClient)>), Status> {
        {
            let mut fixed = lock(&self.shared.schema);
            match &*fixed {
                Some((features, label))
                    if *features != schema.features || *label != schema.label =>
                {
                    return Err(Status::failed_precondition(format!(
                        "schema mismatch: this run trains on label {label:?} with features {features:?}; the client has label {:?} with features {:?}",
                        schema.label, schema.features
                    )));
                }
                Some(_) => {}
                None => *fixed = Some((schema.features.clone(), schema.label.clone())),
            }
        }
        let mut members = lock(&self.shared.members);
        if members.values().any(|m| m.name == name) {
            // A code of its own: a client that dropped out and rejoins before its old stream
            // is seen closed tries again.
            return Err(Status::already_exists(format!(
                "a client named {name} is already connected"
            )));
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (to_inbox, inbox) = mpsc::channel(4);
        members.insert(
            id,
            Member {
                name,
                certificate,
                classes: schema.classes,
                outbox,
                inbox: Arc::new(tokio::sync::Mutex::new(inbox)),
            },
        );
        self.shared.membership.notify_waiters();
        Ok((id, to_inbox))
    }

    fn name_of(&self, id: u32) -> String {
        lock(&self.shared.members)
            .get(&id)
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// The seed of a client's local batch order in a round: from the run's seed, the round
    /// and the client's name (FNV-1a), so that a seeded run repeats whatever order the
    /// clients connected in.
    fn local_seed(&self, round: usize, id: u32) -> u64 {
        let name_hash = self
            .name_of(id)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        self.shared.plan.seed ^ ((round as u64) << 32) ^ name_hash
    }

    fn leave(&self, id: u32) {
        if let Some(m) = lock(&self.shared.members).remove(&id) {
            tracing::info!(client = %m.name, "client left");
        }
        self.shared.membership.notify_waiters();
    }

    /// Sends `body` to client `id` as a new step and waits for its answer to that step;
    /// `None` if it is gone or late. Answers to other steps (late or replayed) that come
    /// first are discarded.
    async fn ask(&self, id: u32, body: ToClient) -> Option<FromClient> {
        let (outbox, inbox, name) = {
            let members = lock(&self.shared.members);
            let m = members.get(&id)?;
            (m.outbox.clone(), m.inbox.clone(), m.name.clone())
        };
        let step = self.shared.next_step.fetch_add(1, Ordering::Relaxed);
        if !send(&outbox, step, body) {
            return None;
        }
        let deadline = self
            .shared
            .clock
            .deadline(self.shared.plan.answer_timeout, &name);
        tokio::pin!(deadline);
        let mut inbox = inbox.lock().await;
        loop {
            tokio::select! {
                received = inbox.recv() => match received {
                    Some((answered, answer)) if answered == step => return Some(answer),
                    Some((answered, answer)) => tracing::warn!(
                        client = id,
                        step,
                        answered,
                        "discarded {} answering another step (late or replayed)",
                        kind(&answer)
                    ),
                    None => return None,
                },
                () = &mut deadline => {
                    self.shared.timed_out.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!(client = id, "no answer in time: left out of this step");
                    return None;
                }
            }
        }
    }

    /// The certificate client `id` authenticated with (empty if it is gone).
    fn certificate_of(&self, id: u32) -> Vec<u8> {
        lock(&self.shared.members)
            .get(&id)
            .map(|m| m.certificate.clone())
            .unwrap_or_default()
    }

    /// A client's advert, kept only if it is signed for this session and id by the very
    /// certificate the client authenticated with, so that one client's bad advert cannot
    /// make every other client refuse the roster.
    fn checked_advert(
        &self,
        id: u32,
        advert: &crate::proto::SecAggAdvert,
        session: &Session,
    ) -> Result<(secagg::Advert, veil_net::signed::Signed)> {
        let (advert, signed) = wire::advert_in(id, advert)?;
        if self.certificate_of(id) != signed.certificate {
            return Err(Error::rejected(
                id,
                "an advert signed with a certificate other than the client's own",
            ));
        }
        veil_net::signed::check_signature(
            secagg::ADVERT_CONTEXT,
            &advert.statement(session),
            &signed,
        )
        .map_err(|e| Error::rejected(id, format!("its advert: {e}")))?;
        Ok((advert, signed))
    }

    /// Asks every client in `ids` at once; their answers, in id order.
    async fn ask_all(
        &self,
        ids: &[u32],
        body: impl Fn(u32) -> ToClient,
    ) -> Vec<(u32, Option<FromClient>)> {
        let mut tasks = tokio::task::JoinSet::new();
        for &id in ids {
            let (me, body) = (self.clone(), body(id));
            tasks.spawn(async move { (id, me.ask(id, body).await) });
        }
        let mut answers: Vec<(u32, Option<FromClient>)> = tasks.join_all().await;
        answers.sort_by_key(|(id, _)| *id);
        answers
    }

    /// A round without secure aggregation: the answering clients' deltas combined by the
    /// plan's aggregator, and how many answered (`None` if none did).
    async fn plain_round(
        &self,
        round: usize,
        selected: &[u32],
        train: &impl Fn(u32) -> Train,
        dims: usize,
    ) -> (Option<Vec<f64>>, usize) {
        let mut updates = Vec::new();
        for (id, answer) in self
            .ask_all(selected, |id| ToClient::Train(train(id)))
            .await
        {
            match answer {
                Some(FromClient::Update(Update {
                    round: r,
                    weight,
                    delta,
                    ..
                })) if r == round as u64
                    && delta.len() == dims
                    && weight.is_finite()
                    && weight > 0.0
                    && delta.iter().all(|v| v.is_finite()) =>
                {
                    updates.push((self.name_of(id), weight, delta));
                }
                None => {}
                Some(other) => tracing::warn!(
                    client = id,
                    round,
                    "rejected {}: not an update for this round of {dims} finite values and a positive weight",
                    kind(&other)
                ),
            }
        }
        // Summed in the order of the clients' names, which (unlike their ids, given in the
        // order they connected) a seeded run reproduces.
        updates.sort_by(|a, b| a.0.cmp(&b.0));
        let updates: Vec<(f64, Vec<f64>)> = updates.into_iter().map(|(_, w, d)| (w, d)).collect();
        (
            self.shared.plan.aggregator.combine(&updates, dims),
            updates.len(),
        )
    }

    /// One secure aggregation over `selected` ([`crate::secagg`], stages 0–3): each
    /// client's stage-0 message comes from `start` (given its id, the session and the
    /// threshold), and its input has `dims` lanes. Returns the unmasked sum, the clients
    /// in it and the session, or `None` if the round aborted (logged; nothing was
    /// unmasked).
    async fn secure_sum(
        &self,
        selected: &[u32],
        secure: &SecurePlan,
        dims: usize,
        start: impl Fn(u32, &Session, usize) -> SecAggStart,
        before_unmask: &mut (dyn FnMut() -> Result<()> + Send),
    ) -> Result<Option<(Vec<u32>, Vec<u32>, Session)>> {
        let n = selected.len();
        let graph = secagg::Graph::for_round(secure.neighbours, n);
        let threshold = secure.threshold(n);
        let abort = |e: &Error| {
            tracing::info!("secure aggregation: {e}");
            Ok(None)
        };
        if n < threshold {
            return abort(&Error::Aborted {
                stage: "selection",
                have: n,
                threshold,
            });
        }
        let session = Session::random();
        let config = secagg::Config { threshold, dims };
        let mut server = secagg::Server::new(session, config, graph)?;
        let start = |id: u32| ToClient::SecaggStart(start(id, &session, threshold));
        let mut signed_adverts = BTreeMap::new();
        for (id, answer) in self.ask_all(selected, start).await {
            match answer {
                Some(FromClient::Advert(a)) => match self.checked_advert(id, &a, &session) {
                    Ok((advert, signed)) => match server.advert(advert) {
                        Ok(()) => {
                            signed_adverts.insert(id, signed);
                        }
                        Err(e) => tracing::warn!("{e}"),
                    },
                    Err(e) => tracing::warn!("{e}"),
                },
                other => unexpected(id, "keys", other.as_ref()),
            }
        }
        let u1 = match server.close_roster() {
            Ok(u1) => u1,
            Err(e) => return abort(&e),
        };
        let roster = |id: u32| {
            ToClient::Roster(SecAggRoster {
                adverts: server
                    .roster_for(id)
                    .iter()
                    .map(|a| wire::advert_out(a, &signed_adverts[&a.id]))
                    .collect(),
            })
        };
        for (id, answer) in self.ask_all(&u1, roster).await {
            match answer {
                Some(FromClient::ShareKeys(m)) => {
                    if let Err(e) = wire::share_keys_in(id, &m).and_then(|m| server.share_keys(m)) {
                        tracing::warn!("{e}");
                    }
                }
                other => unexpected(id, "shares", other.as_ref()),
            }
        }
        let u2 = match server.u2() {
            Ok(u) => u,
            Err(e) => return abort(&e),
        };
        // Every client is told the whole round's U2 (and below U3): the views they sign.
        let shares = |id: u32| ToClient::Shares(wire::shares_out(&u2, &server.shares_for(id)));
        for (id, answer) in self.ask_all(&u2, shares).await {
            match answer {
                Some(FromClient::Masked(m)) => {
                    let masked = secagg::MaskedInput {
                        from: id,
                        masked: m.masked,
                    };
                    if let Err(e) = server.masked_input(masked) {
                        tracing::warn!("{e}");
                    }
                }
                other => unexpected(id, "a masked input", other.as_ref()),
            }
        }
        let u3 = match server.u3() {
            Ok(u) => u,
            Err(e) => return abort(&e),
        };
        // The consistency check (§4.3): each survivor signs its view of U2 and U3; a client
        // reveals shares only on t signatures of exactly its view.
        let survivors = |_| ToClient::Survivors(SecAggSurvivors { u3: u3.clone() });
        let mut views = Vec::new();
        for (id, answer) in self.ask_all(&u3, survivors).await {
            match answer {
                // Checked here too, before the sum is counted as spent: one client's bad
                // signature must not cost the round (the clients check it anyway).
                Some(FromClient::Consistency(c)) => {
                    let view = secagg::view_statement(&session, &u2, &u3);
                    let certificate = self.certificate_of(id);
                    let signed = veil_net::signed::Signed {
                        certificate,
                        signature: c.signature,
                    };
                    match veil_net::signed::check_signature(secagg::VIEW_CONTEXT, &view, &signed) {
                        Ok(()) => views.push(ViewSignature {
                            id,
                            signature: signed.signature,
                        }),
                        Err(e) => tracing::warn!(client = id, "its signed view: {e}"),
                    }
                }
                other => unexpected(id, "a signed view", other.as_ref()),
            }
        }
        if views.len() < threshold {
            return abort(&Error::Aborted {
                stage: "consistency check",
                have: views.len(),
                threshold,
            });
        }
        // From here the sum can be unmasked: the caller counts it first (write-ahead).
        before_unmask()?;
        let signers: Vec<u32> = views.iter().map(|v| v.id).collect();
        // Each client gets the signatures of its roster only (with SecAgg+, of its
        // neighbours: O(k), not O(n)).
        let unmask = |id: u32| {
            let near: BTreeSet<u32> = server.roster_for(id).iter().map(|a| a.id).collect();
            ToClient::Unmask(SecAggUnmask {
                signatures: views
                    .iter()
                    .filter(|v| near.contains(&v.id))
                    .cloned()
                    .collect(),
            })
        };
        for (id, answer) in self.ask_all(&signers, unmask).await {
            match answer {
                Some(FromClient::Unmasking(m)) => {
                    if let Err(e) = server.unmasking(wire::unmasking_in(id, &m)) {
                        tracing::warn!("{e}");
                    }
                }
                other => unexpected(id, "unmasking shares", other.as_ref()),
            }
        }
        match server.finish() {
            Ok(sum) => Ok(Some((sum, u3, session))),
            Err(e) => abort(&e),
        }
    }

    /// A round of FedAvg under secure aggregation: each client sends its delta, clipped
    /// and encoded in Z_2^32, masked; the coordinator unmasks only their sum. Returns the
    /// (unweighted) mean delta and how many clients are in it, or `None` if the round
    /// aborted (fewer than t clients left at some stage). No row count travels: summed over
    /// the subsets of clients different rounds hold, counts would give away each client's
    /// (review F-10).
    async fn secure_round(
        &self,
        selected: &[u32],
        train: &impl Fn(u32) -> Train,
        secure: &SecurePlan,
        dims: usize,
    ) -> Result<(Option<Vec<f64>>, usize)> {
        let n = selected.len();
        // Every coordinate is clipped to ±clip.
        let bound = secure.clip;
        let quantizer = Quantizer::new(bound, n)?;
        let start = |id: u32, session: &Session, threshold: usize| SecAggStart {
            train: Some(train(id)),
            session: session.0.to_vec(),
            threshold: threshold as u32,
            id,
            clip: secure.clip,
            bound,
            clients: n as u32,
            moments: false,
            ddp: None,
        };
        let Some((sum, u3, _)) = self
            .secure_sum(selected, secure, dims, start, &mut || Ok(()))
            .await?
        else {
            return Ok((None, 0));
        };
        let clients = u3.len() as f64;
        let average = quantizer
            .decode_sum(&sum)
            .iter()
            .map(|s| s / clients)
            .collect();
        Ok((Some(average), u3.len()))
    }

    /// A round of DP-FedAvg with distributed DP ([`crate::ddp`]): each client clips,
    /// rounds and noises its delta (its contribution `contribution` to the run); the
    /// coordinator counts the sum as spent (`before_unmask`), then unmasks the noisy sum of
    /// at least `threshold` clients and returns their mean, and how many are in it.
    #[allow(clippy::too_many_arguments)]
    async fn private_round(
        &self,
        selected: &[u32],
        train: &impl Fn(u32) -> Train,
        secure: &SecurePlan,
        (ddp, threshold): (&Ddp, usize),
        contribution: &Contribution,
        dims: usize,
        before_unmask: &mut (dyn FnMut() -> Result<()> + Send),
    ) -> Result<(Option<Vec<f64>>, usize)> {
        let n = selected.len();
        let start = |id: u32, session: &Session, threshold: usize| SecAggStart {
            train: Some(train(id)),
            session: session.0.to_vec(),
            threshold: threshold as u32,
            id,
            clip: ddp.clip,
            bound: 0.0,
            clients: n as u32,
            moments: false,
            ddp: Some(wire::ddp_out(ddp, contribution)),
        };
        // The accounting assumes the noise of at least `threshold` clients in every sum.
        let secure = SecurePlan {
            threshold: Some(threshold),
            ..*secure
        };
        let Some((sum, u3, session)) = self
            .secure_sum(selected, &secure, ddp.padded, start, before_unmask)
            .await?
        else {
            return Ok((None, 0));
        };
        let mean = ddp.decode_mean(&sum, &session, dims, u3.len());
        Ok((Some(mean), u3.len()))
    }

    /// The clients' summed row counts, feature sums and sums of squares, sent in clear;
    /// a client whose statistics are malformed or missing is dropped.
    async fn plain_moments(
        &self,
        ids: &[u32],
        d: usize,
        dropped: &mut BTreeSet<u32>,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let (mut count, mut sum, mut sum_sq) = (0.0, vec![0.0; d], vec![0.0; d]);
        for (id, answer) in self
            .ask_all(ids, |_| ToClient::MomentsRequest(MomentsRequest {}))
            .await
        {
            match answer {
                Some(FromClient::Moments(Moments {
                    count: c,
                    sum: s,
                    sum_sq: q,
                })) if s.len() == d && q.len() == d && c.is_finite() && c >= 0.0 => {
                    count += c;
                    sum.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
                    sum_sq.iter_mut().zip(&q).for_each(|(a, b)| *a += b);
                }
                other => {
                    tracing::warn!(
                        client = id,
                        "left out: moments malformed or missing (got {})",
                        other.as_ref().map_or("no answer", kind)
                    );
                    dropped.insert(id);
                    self.leave(id);
                }
            }
        }
        (count, sum, sum_sq)
    }

    /// The clients' summed row counts, feature sums and sums of squares, by secure
    /// aggregation ([`Wide`] fixed point), so that the coordinator never sees one client's
    /// statistics. A few attempts are made if rounds abort.
    async fn secure_moments(
        &self,
        ids: &[u32],
        secure: &SecurePlan,
        d: usize,
    ) -> Result<(f64, Vec<f64>, Vec<f64>)> {
        const ATTEMPTS: usize = 3;
        let n = ids.len();
        let start = |id: u32, session: &Session, threshold: usize| SecAggStart {
            train: None,
            session: session.0.to_vec(),
            threshold: threshold as u32,
            id,
            clip: 0.0,
            bound: 0.0,
            clients: n as u32,
            moments: true,
            ddp: None,
        };
        for attempt in 1..=ATTEMPTS {
            if let Some((sum, u3, _)) = self
                .secure_sum(
                    ids,
                    secure,
                    (2 * d + 1) * Wide::LIMBS,
                    start,
                    &mut || Ok(()),
                )
                .await?
            {
                let sums = Wide::decode_sum(&sum);
                tracing::info!(clients = u3.len(), "statistics securely aggregated");
                return Ok((sums[0], sums[1..=d].to_vec(), sums[d + 1..].to_vec()));
            }
            tracing::warn!(attempt, "the secure aggregation of the statistics aborted");
        }
        Err(Error::Aborted {
            stage: "statistics",
            have: 0,
            threshold: secure.threshold(ids.len()),
        })
    }

    /// Waits for the minimum number of clients, then runs the plan from the start; tells
    /// every client when it is over.
    pub async fn run(&self) -> Result<RunReport> {
        self.run_resumable(None, |_| Ok(())).await
    }

    /// The run's starting point: the global standardisation from every client's counts,
    /// sums and sums of squares, the union of their classes, and the initial weights.
    async fn first_state(
        &self,
        features: &[String],
        label: &str,
        dropped: &mut BTreeSet<u32>,
    ) -> Result<Checkpoint> {
        let plan = &self.shared.plan;
        let ids: Vec<u32> = lock(&self.shared.members).keys().copied().collect();
        let d = features.len();
        let (rows, mean, scale) = if self.dp_target().is_some() {
            let (mean, scale) = self.public_standardisation(features)?;
            (None, mean, scale)
        } else {
            let (count, sum, sum_sq) = match &plan.secure {
                Some(secure) => self.secure_moments(&ids, secure, d).await?,
                None => self.plain_moments(&ids, d, dropped).await,
            };
            if count < 2.0 {
                return Err(Error::InvalidParameter {
                    name: "data",
                    why: "the clients hold fewer than two rows in all".into(),
                });
            }
            let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
            let scale: Vec<f64> = sum_sq
                .iter()
                .zip(&mean)
                .map(|(q, m)| {
                    let var = (q / count - m * m).max(0.0);
                    if var > 1e-24 { var.sqrt() } else { 1.0 }
                })
                .collect();
            (Some(count), mean, scale)
        };
        let classes = {
            let members = lock(&self.shared.members);
            let all: BTreeSet<String> = members
                .values()
                .flat_map(|m| m.classes.iter().cloned())
                .collect();
            sorted_classes(&all.into_iter().collect::<Vec<_>>())
        };
        let network = Network::init(
            self.architecture(d, &task_for(plan.kind, &classes)?),
            plan.seed,
        )?;
        Ok(Checkpoint {
            round: 0,
            kind: plan.kind.to_string(),
            hidden: plan.hidden.clone(),
            activation: plan.activation.to_string(),
            features: features.to_vec(),
            label: label.to_string(),
            classes,
            rows,
            mean,
            scale,
            params: network.params().to_vec(),
            dp: None,
        })
    }

    /// The distributed-DP target, if the plan has one.
    fn dp_target(&self) -> Option<DpTarget> {
        self.shared.plan.secure.and_then(|s| s.dp)
    }

    /// The standardisation of a distributed-DP run, from public bounds only: each bounded
    /// feature is centred on its range and scaled by its half-width; the others are used
    /// as given. Nothing in it depends on a client's data (review F-07).
    fn public_standardisation(&self, features: &[String]) -> Result<(Vec<f64>, Vec<f64>)> {
        let bounds = &self.shared.plan.bounds;
        if let Some((column, ..)) = bounds.iter().find(|(c, ..)| !features.contains(c)) {
            return Err(Error::InvalidParameter {
                name: "bounds",
                why: format!("{column:?} is not a feature of this run (features: {features:?})"),
            });
        }
        let unscaled: Vec<&String> = features
            .iter()
            .filter(|f| !bounds.iter().any(|(c, ..)| c == *f))
            .collect();
        if !unscaled.is_empty() {
            tracing::warn!(
                ?unscaled,
                "features without --bounds are used as given (unscaled) in this distributed-DP run"
            );
        }
        Ok(features
            .iter()
            .map(
                |f| match bounds.iter().rev().find(|(column, ..)| column == f) {
                    Some((_, lo, hi)) => ((lo + hi) / 2.0, (hi - lo) / 2.0),
                    None => (0.0, 1.0),
                },
            )
            .unzip())
    }

    /// The privacy ledger of a distributed-DP run: the saved one, if it was made for the
    /// same plan, else a new one calibrated now. A resume with other DP parameters is
    /// refused: the rounds already spent were calibrated for the old plan, and the ε of
    /// the new one would not cover them (review F-01).
    fn dp_ledger(
        &self,
        saved: Option<DpLedger>,
        round: usize,
        dims: usize,
    ) -> Result<Option<DpLedger>> {
        let plan = &self.shared.plan;
        let refuse = |why: String| Error::InvalidParameter { name: "state", why };
        let (threshold, clients) = (plan.threshold(), plan.clients_per_round);
        match (self.dp_target(), saved) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(refuse(
                "the saved run has distributed DP: resume it with the same --dp-* options, or use a fresh --state directory".into(),
            )),
            (Some(_), None) if round > 0 => Err(refuse(
                "the saved run has no privacy ledger (it trained without distributed DP, or with a Veil whose state.json did not keep one): use a fresh --state directory".into(),
            )),
            (Some(target), None) => {
                let (mechanism, _) = Ddp::calibrate(&target, plan.rounds, dims, clients, threshold)?;
                Ok(Some(DpLedger {
                    run: veil_core::digest::hex(&veil_core::random::bytes::<32>()),
                    epsilon: target.epsilon,
                    delta: target.delta,
                    clip: target.clip,
                    rounds: plan.rounds,
                    clients_per_round: clients,
                    threshold,
                    dims,
                    mechanism,
                    begun: 0,
                    unmasked: 0,
                }))
            }
            (Some(target), Some(l)) => {
                let same = (l.epsilon, l.delta, l.clip) == (target.epsilon, target.delta, target.clip)
                    && (l.rounds, l.clients_per_round, l.threshold, l.dims)
                        == (plan.rounds, clients, threshold, dims);
                if !same {
                    return Err(refuse(format!(
                        "the saved run spends ε = {} at δ = {} (clip {}) over {} rounds of {} clients with threshold {}; resuming with other DP parameters would report an ε that does not cover the {} sums already unmasked: resume with those, or use a fresh --state directory",
                        l.epsilon, l.delta, l.clip, l.rounds, l.clients_per_round, l.threshold, l.unmasked
                    )));
                }
                Ok(Some(l))
            }
        }
    }

    fn architecture(&self, inputs: usize, task: &Task) -> Architecture {
        let (output, outputs) = task.output();
        Architecture {
            inputs,
            hidden: self.shared.plan.hidden.clone(),
            activation: self.shared.plan.activation,
            outputs,
            output,
        }
    }

    /// Runs the plan from `resume` (a checkpoint of an earlier run of the same plan) or
    /// from the start, calling `on_round` with a checkpoint after every round — and, with
    /// distributed DP, also before a round begins and before its sum is unmasked, so that
    /// a checkpoint saved by `on_round` always counts what was spent; tells every client
    /// when it is over. An error from `on_round` stops the run.
    pub async fn run_resumable(
        &self,
        resume: Option<Checkpoint>,
        mut on_round: impl FnMut(&Checkpoint) -> Result<()> + Send,
    ) -> Result<RunReport> {
        let plan = &self.shared.plan;
        let mut resume = resume;
        // A resume whose DP parameters differ is refused before anyone is waited for.
        let resumed_dp = match resume.as_mut() {
            Some(c) => Some(self.dp_ledger(c.dp.take(), c.round, c.params.len())?),
            None => None,
        };
        self.until_connected(plan.min_clients).await;
        let (features, label) =
            lock(&self.shared.schema)
                .clone()
                .ok_or_else(|| Error::InvalidParameter {
                    name: "schema",
                    why: "no client has said what its data looks like".into(),
                })?;
        let mut dropped = BTreeSet::new();
        let mut state = match resume {
            Some(c) => {
                let same = c.kind == plan.kind.to_string()
                    && c.hidden == plan.hidden
                    && c.activation == plan.activation.to_string()
                    && c.features == features
                    && c.label == label;
                if !same {
                    return Err(Error::InvalidParameter {
                        name: "state",
                        why: "the saved run trained another model or on other columns: use a fresh --state directory".into(),
                    });
                }
                c
            }
            None => self.first_state(&features, &label, &mut dropped).await?,
        };
        let task = task_for(plan.kind, &state.classes)?;
        let mut network = Network::from_params(
            self.architecture(features.len(), &task),
            state.params.clone().into(),
        )?;
        let model_msg = crate::proto::Model {
            kind: plan.kind.to_string(),
            hidden: plan.hidden.iter().map(|&h| h as u32).collect(),
            activation: plan.activation.to_string(),
            classes: state.classes.clone(),
            mean: state.mean.clone(),
            scale: state.scale.clone(),
        };

        // Distributed DP: the mechanism and what the run has spent, across restarts.
        state.dp = match resumed_dp {
            Some(ledger) => ledger,
            None => self.dp_ledger(None, 0, network.params().len())?,
        };
        if let Some(l) = &state.dp {
            tracing::info!(
                epsilon_planned = l.mechanism.epsilon_after(l.delta, l.rounds, l.threshold)?,
                epsilon_spent = l.epsilon_spent()?,
                delta = l.delta,
                sigma = l.mechanism.sigma(),
                threshold = l.threshold,
                begun = l.begun,
                unmasked = l.unmasked,
                "distributed DP"
            );
        }
        let mut rng = ChaCha20Rng::seed_from_u64(plan.seed ^ state.round as u64);
        let mut rounds = Vec::with_capacity(plan.rounds);
        for round in state.round + 1..=plan.rounds {
            // Write-ahead: a contribution number is counted as asked for before anyone is
            // asked, and never asked for again, even if this process dies mid-round.
            let contribution = match &mut state.dp {
                Some(l) if l.begun >= l.rounds => {
                    tracing::warn!(
                        begun = l.begun,
                        "every contribution the distributed-DP plan allows has been asked for (rounds cut short by restarts count too): the run stops here"
                    );
                    break;
                }
                Some(l) => {
                    l.begun += 1;
                    let c = Contribution {
                        run: l.run.clone(),
                        number: l.begun,
                        rounds: l.rounds,
                    };
                    on_round(&state)?;
                    Some(c)
                }
                None => None,
            };
            let start = Instant::now();
            let late_before = self.shared.timed_out.load(Ordering::SeqCst);
            // Clients that dropped out may be joining again: give them a moment.
            let grace = Duration::from_millis(500);
            let _ = tokio::time::timeout(grace, self.until_connected(plan.min_clients)).await;
            let connected: Vec<u32> = lock(&self.shared.members).keys().copied().collect();
            let mut selected = connected
                .iter()
                .copied()
                .choose_multiple(&mut rng, plan.clients_per_round);
            selected.sort_unstable();
            let params = network.params().to_vec();
            let train = |id: u32| Train {
                seed: self.local_seed(round, id),
                round: round as u64,
                model: Some(model_msg.clone()),
                params: params.clone(),
                local_epochs: plan.local_epochs as u32,
                lr: plan.lr,
                batch_size: plan.batch_size as u32,
                mu: plan.mu,
            };
            let (average, answered) = match (plan.secure, contribution) {
                (Some(secure), Some(contribution)) => {
                    let ledger = state.dp.clone().ok_or_else(|| Error::InvalidParameter {
                        name: "state",
                        why: "a distributed-DP round without its ledger".into(),
                    })?;
                    let mut spend = || {
                        if let Some(l) = &mut state.dp {
                            l.unmasked += 1;
                        }
                        on_round(&state)
                    };
                    self.private_round(
                        &selected,
                        &train,
                        &secure,
                        (&ledger.mechanism, ledger.threshold),
                        &contribution,
                        params.len(),
                        &mut spend,
                    )
                    .await?
                }
                (Some(secure), None) => {
                    self.secure_round(&selected, &train, &secure, params.len())
                        .await?
                }
                (None, _) => {
                    self.plain_round(round, &selected, &train, params.len())
                        .await
                }
            };
            if let Some(avg) = &average {
                let new: Vec<f64> = params.iter().zip(avg).map(|(p, a)| p + a).collect();
                network = Network::from_params(network.architecture().clone(), new.into())?;
            }
            for id in &selected {
                if !lock(&self.shared.members).contains_key(id) {
                    dropped.insert(*id);
                }
            }
            state.round = round;
            state.params = network.params().to_vec();
            on_round(&state)?;
            rounds.push(RoundReport {
                round,
                selected: selected.len(),
                answered,
                timed_out: self.shared.timed_out.load(Ordering::SeqCst) - late_before,
                seconds: start.elapsed().as_secs_f64(),
                aborted: average.is_none(),
            });
            tracing::info!(round, answered, selected = selected.len(), "round done");
        }
        self.shared.finished.store(true, Ordering::SeqCst);
        for m in lock(&self.shared.members).values() {
            send(
                &m.outbox,
                0,
                ToClient::Done(Done {
                    reason: "training finished".into(),
                    refused: false,
                }),
            );
        }
        if !rounds.is_empty() && rounds.iter().all(|r| r.aborted) {
            return Err(Error::AllAborted {
                threshold: plan.threshold(),
            });
        }
        let dp = match &state.dp {
            Some(l) => Some(DpSpent {
                epsilon: l.epsilon_spent()?,
                delta: l.delta,
                sigma: l.mechanism.sigma(),
                unmasked: l.unmasked,
                begun: l.begun,
            }),
            None => None,
        };
        Ok(RunReport {
            model: Model {
                kind: plan.kind,
                network,
                features,
                standardizer: Standardizer {
                    mean: state.mean,
                    scale: state.scale,
                    clip: None,
                },
                label,
                task,
            },
            rounds,
            dropped_clients: dropped.len(),
            dp,
        })
    }
}

/// Logs an answer of the wrong kind for a secure-aggregation stage, or a client's refusal
/// to answer (no answer is not logged here: the timeout already was).
fn unexpected(id: u32, wanted: &str, got: Option<&FromClient>) {
    match got {
        Some(FromClient::Refusal(r)) => {
            // The client's own words, bounded.
            let reason: String = r.reason.chars().take(300).collect();
            tracing::warn!(client = id, "refused to send {wanted}: {reason}")
        }
        Some(got) => tracing::warn!(client = id, "rejected {} where {wanted} was due", kind(got)),
        None => {}
    }
}

/// What kind of message a client sent, for logs: never its content, which may be an update,
/// statistics or secret shares.
fn kind(body: &FromClient) -> &'static str {
    match body {
        FromClient::Hello(_) => "a hello",
        FromClient::Moments(_) => "moments",
        FromClient::Update(_) => "an update",
        FromClient::Advert(_) => "a key advert",
        FromClient::ShareKeys(_) => "shares",
        FromClient::Masked(_) => "a masked input",
        FromClient::Unmasking(_) => "unmasking shares",
        FromClient::Refusal(_) => "a refusal",
        FromClient::Consistency(_) => "a signed view",
    }
}

/// The task for a model kind and the global classes.
fn task_for(kind: ModelKind, classes: &[String]) -> Result<Task> {
    let classes = classes.to_vec();
    match (kind, classes.len()) {
        (_, 0 | 1) => Err(Error::InvalidParameter {
            name: "label",
            why: format!(
                "the clients' labels have {} class(es); at least two are needed",
                classes.len()
            ),
        }),
        (ModelKind::Logreg, 2) | (ModelKind::Mlp, 2) => Ok(Task::Binary { classes }),
        (ModelKind::Logreg, k) => Err(Error::InvalidParameter {
            name: "model",
            why: format!(
                "logistic regression needs two classes, the clients have {k}: use softmax"
            ),
        }),
        _ => Ok(Task::Multiclass { classes }),
    }
}

fn refuse(reason: String) -> Status {
    Status::permission_denied(reason)
}

#[tonic::async_trait]
impl Federation for Coordinator {
    type JoinStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn join(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let peer = veil_net::tls::peer_name(&request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let certificate = veil_net::tls::peer_certificate_der(&request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let mut inbound = request.into_inner();
        let hello =
            match tokio::time::timeout(self.shared.plan.answer_timeout, inbound.message()).await {
                Ok(Ok(Some(ClientMessage {
                    body: Some(FromClient::Hello(h)),
                    ..
                }))) => h,
                _ => {
                    return Err(Status::invalid_argument(
                        "the first message must be a hello",
                    ));
                }
            };
        if hello.name != peer {
            tracing::warn!(claimed = %hello.name, certificate = %peer, "client claims another name");
            return Err(refuse(format!(
                "the hello says {:?} but the certificate is {peer:?}",
                hello.name
            )));
        }
        let schema = hello.schema.unwrap_or_default();
        let (outbox, outgoing) = mpsc::channel(8);
        if self.shared.finished.load(Ordering::SeqCst) {
            send(
                &outbox,
                0,
                ToClient::Done(Done {
                    reason: "the run is over".into(),
                    refused: false,
                }),
            );
            return Ok(Response::new(ReceiverStream::new(outgoing)));
        }
        let (id, to_inbox) = self
            .admit((peer.clone(), certificate), schema, outbox.clone())
            .inspect_err(|status| {
                tracing::warn!(client = %peer, "refused: {}", status.message());
            })?;
        tracing::info!(client = %peer, id, "client joined");
        send(&outbox, 0, ToClient::Welcome(Welcome { id }));
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(ClientMessage {
                        step,
                        body: Some(body),
                    })) => {
                        if to_inbox.send((step, body)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Some(ClientMessage { body: None, .. })) => {
                        tracing::warn!(client = id, "empty message ignored");
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            me.leave(id);
        });
        Ok(Response::new(ReceiverStream::new(outgoing)))
    }
}
