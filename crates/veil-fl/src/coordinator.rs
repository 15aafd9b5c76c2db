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
use std::sync::atomic::{AtomicU32, Ordering};
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

use crate::error::{Error, Result};
use crate::proto::client_message::Body as FromClient;
use crate::proto::coordinator_message::Body as ToClient;
use crate::proto::federation_server::{Federation, FederationServer};
use crate::proto::{
    ClientMessage, CoordinatorMessage, Done, Moments, MomentsRequest, Schema, Train, Update,
    Welcome,
};

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
    /// Wall time of the round.
    pub seconds: f64,
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
}

type Outbox = mpsc::Sender<Result<CoordinatorMessage, Status>>;

struct Member {
    name: String,
    classes: Vec<String>,
    outbox: Outbox,
    inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<FromClient>>>,
}

struct Shared {
    plan: Plan,
    max_message_bytes: usize,
    members: Mutex<BTreeMap<u32, Member>>,
    schema: Mutex<Option<(Vec<String>, String)>>,
    next_id: AtomicU32,
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

fn send(outbox: &Outbox, body: ToClient) -> bool {
    outbox
        .try_send(Ok(CoordinatorMessage { body: Some(body) }))
        .is_ok()
}

impl Coordinator {
    /// A coordinator for `plan`, accepting messages up to `max_message_bytes`.
    pub fn new(plan: Plan, max_message_bytes: usize) -> Result<Coordinator> {
        if plan.rounds == 0 || plan.clients_per_round == 0 || plan.min_clients == 0 {
            return Err(Error::InvalidParameter {
                name: "rounds / clients",
                why: "rounds, clients per round and minimum clients must be at least 1".into(),
            });
        }
        Ok(Coordinator {
            shared: Arc::new(Shared {
                plan,
                max_message_bytes,
                members: Mutex::new(BTreeMap::new()),
                schema: Mutex::new(None),
                next_id: AtomicU32::new(1),
            }),
        })
    }

    /// The gRPC service to add to a server.
    pub fn service(&self) -> FederationServer<Coordinator> {
        FederationServer::new(self.clone())
            .max_decoding_message_size(self.shared.max_message_bytes)
            .max_encoding_message_size(self.shared.max_message_bytes)
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        lock(&self.shared.members).len()
    }

    fn admit(
        &self,
        name: String,
        schema: Schema,
        outbox: Outbox,
    ) -> Result<(u32, mpsc::Sender<FromClient>), String> {
        {
            let mut fixed = lock(&self.shared.schema);
            match &*fixed {
                Some((features, label))
                    if *features != schema.features || *label != schema.label =>
                {
                    return Err(format!(
                        "schema mismatch: this run trains on label {label:?} with features {features:?}; the client has label {:?} with features {:?}",
                        schema.label, schema.features
                    ));
                }
                Some(_) => {}
                None => *fixed = Some((schema.features.clone(), schema.label.clone())),
            }
        }
        let mut members = lock(&self.shared.members);
        if members.values().any(|m| m.name == name) {
            return Err(format!("a client named {name} is already connected"));
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (to_inbox, inbox) = mpsc::channel(4);
        members.insert(
            id,
            Member {
                name,
                classes: schema.classes,
                outbox,
                inbox: Arc::new(tokio::sync::Mutex::new(inbox)),
            },
        );
        Ok((id, to_inbox))
    }

    fn leave(&self, id: u32) {
        if let Some(m) = lock(&self.shared.members).remove(&id) {
            tracing::info!(client = %m.name, "client left");
        }
    }

    /// Sends `body` to client `id` and waits for its answer; `None` if it is gone or late.
    async fn ask(&self, id: u32, body: ToClient) -> Option<FromClient> {
        let (outbox, inbox) = {
            let members = lock(&self.shared.members);
            let m = members.get(&id)?;
            (m.outbox.clone(), m.inbox.clone())
        };
        if !send(&outbox, body) {
            return None;
        }
        let mut inbox = inbox.lock().await;
        match tokio::time::timeout(self.shared.plan.answer_timeout, inbox.recv()).await {
            Ok(Some(answer)) => Some(answer),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(client = id, "no answer in time: left out of this step");
                None
            }
        }
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

    /// Waits for the minimum number of clients, then runs the plan; tells every client
    /// when it is over.
    pub async fn run(&self) -> Result<RunReport> {
        let plan = &self.shared.plan;
        while self.connected() < plan.min_clients {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (features, label) =
            lock(&self.shared.schema)
                .clone()
                .ok_or_else(|| Error::InvalidParameter {
                    name: "schema",
                    why: "no client has said what its data looks like".into(),
                })?;
        let ids: Vec<u32> = lock(&self.shared.members).keys().copied().collect();
        let mut dropped = BTreeSet::new();

        // The global standardisation from every client's counts, sums and sums of squares.
        let d = features.len();
        let (mut count, mut sum, mut sum_sq) = (0.0, vec![0.0; d], vec![0.0; d]);
        for (id, answer) in self
            .ask_all(&ids, |_| ToClient::MomentsRequest(MomentsRequest {}))
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
                    tracing::warn!(client = id, "bad or missing moments: {other:?}");
                    dropped.insert(id);
                    self.leave(id);
                }
            }
        }
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

        let classes = {
            let members = lock(&self.shared.members);
            let all: BTreeSet<String> = members
                .values()
                .flat_map(|m| m.classes.iter().cloned())
                .collect();
            sorted_classes(&all.into_iter().collect::<Vec<_>>())
        };
        let task = match (plan.kind, classes.len()) {
            (_, 0 | 1) => {
                return Err(Error::InvalidParameter {
                    name: "label",
                    why: format!(
                        "the clients' labels have {} class(es); at least two are needed",
                        classes.len()
                    ),
                });
            }
            (ModelKind::Logreg, 2) | (ModelKind::Mlp, 2) => Task::Binary { classes },
            (ModelKind::Logreg, k) => {
                return Err(Error::InvalidParameter {
                    name: "model",
                    why: format!(
                        "logistic regression needs two classes, the clients have {k}: use softmax"
                    ),
                });
            }
            _ => Task::Multiclass { classes },
        };
        let (output, outputs) = task.output();
        let arch = Architecture {
            inputs: d,
            hidden: plan.hidden.clone(),
            activation: plan.activation,
            outputs,
            output,
        };
        let mut network = Network::init(arch, plan.seed).map_err(|e| Error::InvalidParameter {
            name: "model",
            why: e.to_string(),
        })?;
        let model_msg = crate::proto::Model {
            kind: plan.kind.to_string(),
            hidden: plan.hidden.iter().map(|&h| h as u32).collect(),
            activation: plan.activation.to_string(),
            classes: task.classes().to_vec(),
            mean: mean.clone(),
            scale: scale.clone(),
        };

        let mut rng = ChaCha20Rng::seed_from_u64(plan.seed);
        let mut rounds = Vec::with_capacity(plan.rounds);
        for round in 1..=plan.rounds {
            let start = Instant::now();
            let connected: Vec<u32> = lock(&self.shared.members).keys().copied().collect();
            let mut selected = connected
                .iter()
                .copied()
                .choose_multiple(&mut rng, plan.clients_per_round);
            selected.sort_unstable();
            let params = network.params().to_vec();
            let train = |id: u32| {
                ToClient::Train(Train {
                    seed: plan.seed ^ ((round as u64) << 32) ^ u64::from(id),
                    round: round as u64,
                    model: Some(model_msg.clone()),
                    params: params.clone(),
                    local_epochs: plan.local_epochs as u32,
                    lr: plan.lr,
                    batch_size: plan.batch_size as u32,
                    mu: 0.0,
                })
            };
            let (mut total_weight, mut avg) = (0.0, vec![0.0; params.len()]);
            let mut answered = 0;
            for (id, answer) in self.ask_all(&selected, train).await {
                match answer {
                    Some(FromClient::Update(Update {
                        round: r,
                        weight,
                        delta,
                        ..
                    })) if r == round as u64
                        && delta.len() == params.len()
                        && weight.is_finite()
                        && weight > 0.0
                        && delta.iter().all(|v| v.is_finite()) =>
                    {
                        total_weight += weight;
                        avg.iter_mut()
                            .zip(&delta)
                            .for_each(|(a, v)| *a += weight * v);
                        answered += 1;
                    }
                    None => {
                        dropped.insert(id);
                    }
                    Some(other) => {
                        tracing::warn!(client = id, round, "rejected update: {other:?}");
                    }
                }
            }
            if answered > 0 {
                let new: Vec<f64> = params
                    .iter()
                    .zip(&avg)
                    .map(|(p, a)| p + a / total_weight)
                    .collect();
                network = Network::from_params(network.architecture().clone(), new.into())
                    .map_err(|e| Error::InvalidParameter {
                        name: "model",
                        why: e.to_string(),
                    })?;
            }
            rounds.push(RoundReport {
                round,
                selected: selected.len(),
                answered,
                seconds: start.elapsed().as_secs_f64(),
            });
            tracing::info!(round, answered, selected = selected.len(), "round done");
        }
        for m in lock(&self.shared.members).values() {
            send(
                &m.outbox,
                ToClient::Done(Done {
                    reason: "training finished".into(),
                    refused: false,
                }),
            );
        }
        Ok(RunReport {
            model: Model {
                kind: plan.kind,
                network,
                features,
                standardizer: Standardizer {
                    mean,
                    scale,
                    clip: None,
                },
                label,
                task,
            },
            rounds,
            dropped_clients: dropped.len(),
        })
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
        let mut inbound = request.into_inner();
        let hello =
            match tokio::time::timeout(self.shared.plan.answer_timeout, inbound.message()).await {
                Ok(Ok(Some(ClientMessage {
                    body: Some(FromClient::Hello(h)),
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
        let (id, to_inbox) =
            self.admit(peer.clone(), schema, outbox.clone())
                .map_err(|reason| {
                    tracing::warn!(client = %peer, "refused: {reason}");
                    refuse(reason)
                })?;
        tracing::info!(client = %peer, id, "client joined");
        send(&outbox, ToClient::Welcome(Welcome { id }));
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(ClientMessage { body: Some(body) })) => {
                        if to_inbox.send(body).await.is_err() {
                            break;
                        }
                    }
                    Ok(Some(ClientMessage { body: None })) => {
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
