//! A client of a federated run: it joins the coordinator's stream, reports its schema and
//! the moments of its features, and trains locally whenever it is asked. Its rows never
//! leave it; what it sends is a count, sums, and parameter deltas.

use ndarray::Array2;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use veil_core::noise::NoiseRng;
use veil_core::{Standardizer, Table};
use veil_ml::train::fit;
use veil_ml::{Activation, Architecture, ModelKind, Network, OptimizerKind, Task, TrainConfig};

use std::collections::{BTreeMap, BTreeSet};

use veil_net::signed::{Signed, Signer};

use crate::contributions::Contributions;
use crate::error::{Error, ProtocolViolation, Result};
use crate::proto::client_message::Body as FromClient;
use crate::proto::coordinator_message::Body as ToClient;
use crate::proto::federation_client::FederationClient;
use crate::proto::{
    ClientMessage, Hello, Moments, Refusal, Schema, SecAggAdvert, SecAggConsistency, SecAggMasked,
    SecAggRoster, SecAggShareKeys, SecAggShares, SecAggStart, SecAggSurvivors, SecAggUnmask,
    SecAggUnmasking, Train, Update,
};
use crate::{secagg, wire};
use veil_core::fixed::{Quantizer, Wide};

/// What a client did in a run (or until it dropped out).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ParticipantReport {
    /// Rounds whose every step it answered.
    pub rounds: usize,
    /// Bytes of protocol messages it sent.
    pub bytes_sent: u64,
    /// True if the coordinator said the run was over; false if the client dropped out (a
    /// simulated dropout), and may join again.
    #[serde(skip)]
    pub finished: bool,
}

/// Simulated dropouts: in each round it is asked to train in, the client drops out with
/// probability `probability` — at one of the round's steps chosen at random (for secure
/// aggregation: before its keys, its shares, its masked input or its unmasking shares) — by
/// closing its stream, as a crashed client would.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// The probability of dropping out of a round.
    pub probability: f64,
    /// Where the decisions come from.
    pub rng: rand_chacha::ChaCha20Rng,
}

impl Dropout {
    /// The step (0–`steps`−1) at which to drop out of this round, if at all.
    fn decide(&mut self, steps: u8) -> Option<u8> {
        use rand::Rng;
        (self.rng.random::<f64>() < self.probability).then(|| self.rng.random_range(0..steps))
    }
}

fn protocol(violation: ProtocolViolation) -> Error {
    Error::Protocol(violation)
}

/// The client's data: its table and label column.
pub struct LocalData {
    table: Table,
    label: String,
    features: Vec<String>,
    x: Array2<f64>,
    local_epochs: Option<usize>,
}

impl LocalData {
    /// All columns but `label` are features, in table order.
    pub fn new(table: Table, label: &str) -> Result<LocalData> {
        let columns = veil_ml::pipeline::Columns {
            label: label.to_string(),
            ..Default::default()
        };
        let features = columns.resolve(&table)?;
        let x = table.feature_matrix(&features)?;
        Ok(LocalData {
            table,
            label: label.to_string(),
            features,
            x,
            local_epochs: None,
        })
    }

    /// Trains this many local epochs per round whatever the coordinator asks.
    pub fn with_local_epochs(mut self, epochs: usize) -> LocalData {
        self.local_epochs = Some(epochs.max(1));
        self
    }

    fn schema(&self) -> Result<Schema> {
        Ok(Schema {
            features: self.features.clone(),
            label: self.label.clone(),
            classes: self.table.class_labels(&self.label)?,
        })
    }

    fn moments(&self) -> Moments {
        let d = self.x.ncols();
        let (mut sum, mut sum_sq) = (vec![0.0; d], vec![0.0; d]);
        for row in self.x.rows() {
            for (j, v) in row.iter().enumerate() {
                sum[j] += v;
                sum_sq[j] += v * v;
            }
        }
        Moments {
            count: self.x.nrows() as f64,
            sum,
            sum_sq,
        }
    }

    /// Local training from the global parameters: the update (local − global).
    fn train(&self, t: &Train) -> Result<Update> {
        let model = t
            .model
            .as_ref()
            .ok_or_else(|| protocol(ProtocolViolation::NoModel))?;
        let kind: ModelKind = model
            .kind
            .parse()
            .map_err(|_| protocol(ProtocolViolation::UnknownModel))?;
        let activation: Activation = model
            .activation
            .parse()
            .map_err(|_| protocol(ProtocolViolation::UnknownActivation))?;
        let task = if model.classes.len() == 2 && kind != ModelKind::Softmax {
            Task::Binary {
                classes: model.classes.clone(),
            }
        } else {
            Task::Multiclass {
                classes: model.classes.clone(),
            }
        };
        let (output, outputs) = task.output();
        let arch = Architecture {
            inputs: self.features.len(),
            hidden: model.hidden.iter().map(|&h| h as usize).collect(),
            activation,
            outputs,
            output,
        };
        let y = task.encode(&self.table, &self.label)?;
        let standardizer = Standardizer {
            mean: model.mean.clone(),
            scale: model.scale.clone(),
            clip: None,
        };
        let x = standardizer.transform(self.x.view())?;
        let mut net = Network::from_params(arch, t.params.clone().into())?;
        let config = TrainConfig {
            epochs: self
                .local_epochs
                .unwrap_or((t.local_epochs as usize).max(1)),
            batch_size: (t.batch_size as usize).max(1),
            optimizer: OptimizerKind::Sgd,
            lr: t.lr,
            momentum: 0.0,
            l2: 0.0,
            seed: t.seed,
            proximal: t.mu,
        };
        let report = fit(&mut net, x.view(), y.view(), &config, |_| {})?;
        let delta = net
            .params()
            .iter()
            .zip(&t.params)
            .map(|(l, g)| l - g)
            .collect();
        Ok(Update {
            round: t.round,
            weight: self.x.nrows() as f64,
            delta,
            loss: report.final_loss,
        })
    }
}

/// The answer to a secure-aggregation step, or, if the step failed, a refusal that says
/// why (logged here too); the client then sits the round out, and the coordinator goes on
/// without it at once, as with any dropout.
fn answer_or_refuse(r: Result<FromClient>) -> FromClient {
    r.unwrap_or_else(|e| {
        tracing::warn!("secure aggregation step refused: {e}");
        FromClient::Refusal(Refusal {
            reason: e.to_string(),
        })
    })
}

/// The answer to a middle step of the secure round in progress, or a refusal that ends
/// the round (also when there is no round to take it).
fn in_round(
    secure: &mut Option<SecureRound>,
    what: &str,
    step: impl FnOnce(&mut SecureRound) -> Result<FromClient>,
) -> FromClient {
    let answer = match secure.as_mut() {
        Some(r) => step(r),
        None => Err(out_of_turn(what)),
    };
    if answer.is_err() {
        *secure = None;
    }
    answer_or_refuse(answer)
}

/// A secure-aggregation message with no round in progress to take it: the round was
/// refused or finished, or the coordinator asks a stage out of turn.
fn out_of_turn(what: &str) -> Error {
    protocol(ProtocolViolation::Unsafe(format!(
        "{what} with no secure-aggregation round waiting for it"
    )))
}

/// Who this client is and whom it trusts: it signs its adverts and views as `signer`,
/// checks the others' against `signer`'s CA, and never accepts the coordinator (by its
/// certificate name) as a client of a round.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// This client's signing key and certificate, and the CA's verifier.
    pub signer: Signer,
    /// The name the coordinator was dialled by (a DNS name or IP address its certificate
    /// carries): a roster entry whose certificate would authenticate it is refused.
    pub coordinator: String,
    /// What this client insists on, whatever the coordinator asks.
    pub require: Requirements,
}

/// The protection a client insists on. The coordinator chooses how a run goes; a client
/// that may face a deviating one decides for itself what it will answer: with `secure`, no
/// update or statistics leave it in clear; with `dp`, its updates leave it only under
/// distributed DP, within its own cap on the privacy spent over every run it joins
/// ([`crate::contributions`]), and no statistics round is answered.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Requirements {
    /// Answer only under secure aggregation.
    pub secure: bool,
    /// Answer training only under distributed DP, spending at most (ε, δ) in all.
    pub dp: Option<(f64, f64)>,
}

impl Requirements {
    /// The δ at which a client's cap on ε is kept (`veil fl join --max-epsilon`).
    pub const DELTA: f64 = 1e-5;

    /// Secure aggregation if `secure`; with `max_epsilon`, distributed DP too, within ε at
    /// [`Requirements::DELTA`].
    pub fn new(secure: bool, max_epsilon: Option<f64>) -> Requirements {
        Requirements {
            secure: secure || max_epsilon.is_some(),
            dp: max_epsilon.map(|e| (e, Requirements::DELTA)),
        }
    }

    /// Refuses a request that would give less than required: `secure` is whether it comes
    /// under secure aggregation, `dp` whether under distributed DP.
    fn check(&self, what: &str, secure: bool, dp: bool) -> Result<()> {
        if (self.secure || self.dp.is_some()) && !secure {
            return Err(protocol(ProtocolViolation::Unsafe(format!(
                "{what} in clear: this client answers only under secure aggregation"
            ))));
        }
        if self.dp.is_some() && !dp {
            return Err(protocol(ProtocolViolation::Unsafe(format!(
                "{what} without distributed DP: this client requires it"
            ))));
        }
        Ok(())
    }
}

/// A client's state in one secure-aggregation round.
struct SecureRound {
    /// The statistics round rather than a training round.
    moments: bool,
    session: secagg::Session,
    client: secagg::Client,
    input: Vec<u32>,
    /// The roster's clients, by id: name and certificate, as checked at the roster.
    peers: BTreeMap<secagg::ClientId, (String, Vec<u8>)>,
    /// The statement this client signed for its view of the round.
    view: Vec<u8>,
}

impl SecureRound {
    /// Stage 0: the input — for a training round, clip(δ) after training (with distributed
    /// DP, clipped, rounded and noised, once `contributions` has recorded it); for the
    /// statistics round, the row count, sums and sums of squares — encoded for the sum,
    /// and this client's keys.
    fn start(
        data: &LocalData,
        start: &SecAggStart,
        contributions: &Contributions,
        credentials: &Credentials,
    ) -> Result<(SecureRound, SecAggAdvert)> {
        let session = secagg::Session(
            start
                .session
                .as_slice()
                .try_into()
                .map_err(|_| protocol(ProtocolViolation::BadSession))?,
        );
        let what = if start.moments {
            "statistics"
        } else {
            "an update"
        };
        credentials
            .require
            .check(what, true, start.ddp.is_some() && !start.moments)?;
        let input = match (&start.train, &start.ddp) {
            _ if start.moments => {
                let m = data.moments();
                let values: Vec<f64> = std::iter::once(m.count)
                    .chain(m.sum)
                    .chain(m.sum_sq)
                    .collect();
                Wide::encode(&values, start.clients as usize)?
            }
            (None, _) => return Err(protocol(ProtocolViolation::NoTask)),
            // DP-FedAvg: the update itself, unweighted (a row count would be a sensitivity
            // of its own), clipped, rounded and noised — at most once per contribution
            // number and run.
            (Some(train), Some(ddp)) => {
                let (ddp, contribution) = wire::ddp_in(ddp)?;
                let cap = credentials.require.dp;
                contributions.admit(&contribution, &ddp, start.threshold as usize, cap)?;
                ddp.encode(
                    &data.train(train)?.delta,
                    &session,
                    &mut NoiseRng::from_os(),
                )?
            }
            // FedAvg, unweighted: a row count in the sum would reveal this client's size.
            (Some(train), None) => {
                let update = data.train(train)?;
                let clip = start.clip;
                if !(clip.is_finite() && clip > 0.0) {
                    return Err(protocol(ProtocolViolation::BadClip(clip)));
                }
                let values: Vec<f64> = update.delta.iter().map(|d| d.clamp(-clip, clip)).collect();
                let quantizer = Quantizer::new(start.bound, start.clients as usize)?;
                quantizer.encode(&values, &mut NoiseRng::from_os())?
            }
        };
        let config = secagg::Config {
            threshold: start.threshold as usize,
            dims: input.len(),
        };
        let (client, advert) = secagg::Client::new(start.id, session, config)?;
        let signed = credentials
            .signer
            .sign(secagg::ADVERT_CONTEXT, &advert.statement(&session))?;
        Ok((
            SecureRound {
                moments: start.moments,
                session,
                client,
                input,
                peers: BTreeMap::new(),
                view: Vec::new(),
            },
            wire::advert_out(&advert, &signed),
        ))
    }

    /// Stage 1: checks every roster entry — signed for this session and id by a
    /// certificate of the CA, one name per entry, never the coordinator's, this client's
    /// own under its own name — then deals shares (review F-08: no sybils).
    fn share_keys(
        &mut self,
        roster: &SecAggRoster,
        credentials: &Credentials,
    ) -> Result<SecAggShareKeys> {
        let refuse = |why: String| protocol(ProtocolViolation::Unsafe(why));
        let verifier = credentials.signer.verifier();
        let (mut adverts, mut names) = (Vec::new(), BTreeSet::new());
        for entry in &roster.adverts {
            let (advert, signed) = wire::advert_in(entry.id, entry)?;
            let name = verifier
                .verify(
                    secagg::ADVERT_CONTEXT,
                    &advert.statement(&self.session),
                    &signed,
                )
                .map_err(|e| refuse(format!("roster entry {}: {e}", advert.id)))?;
            let coordinator =
                veil_net::signed::names_server(&signed.certificate, &credentials.coordinator);
            if coordinator || !names.insert(name.clone()) {
                return Err(refuse(format!(
                    "roster entry {} is signed by {name:?}, the coordinator or a name listed twice",
                    advert.id
                )));
            }
            let own = advert.id == self.client.id();
            if own != (name == credentials.signer.name()) {
                return Err(refuse(format!(
                    "roster entry {} is signed by {name:?}: this client's entry must be its own, under its own name",
                    advert.id
                )));
            }
            self.peers.insert(advert.id, (name, signed.certificate));
            adverts.push(advert);
        }
        Ok(wire::share_keys_out(&self.client.share_keys(&adverts)?))
    }

    fn masked(&mut self, shares: &SecAggShares) -> Result<SecAggMasked> {
        self.client.receive_shares(&wire::shares_in(shares))?;
        Ok(SecAggMasked {
            masked: self.client.masked_input(&self.input, &shares.u2)?.masked,
        })
    }

    /// Stage 3, first half: this client's signature on its view of U2 and U3.
    fn consistency(
        &mut self,
        survivors: &SecAggSurvivors,
        credentials: &Credentials,
    ) -> Result<SecAggConsistency> {
        self.view = self.client.survivors(&survivors.u3)?;
        Ok(SecAggConsistency {
            signature: credentials
                .signer
                .sign(secagg::VIEW_CONTEXT, &self.view)?
                .signature,
        })
    }

    /// Stage 3: the unmasking shares, once the signatures that verify — each by the
    /// certificate its signer's advert carried, over exactly this client's view — are at
    /// least t of its roster.
    fn unmasking(
        mut self,
        unmask: &SecAggUnmask,
        credentials: &Credentials,
    ) -> Result<SecAggUnmasking> {
        let verifier = credentials.signer.verifier();
        let confirmed: Vec<secagg::ClientId> = unmask
            .signatures
            .iter()
            .filter(|s| {
                self.peers.get(&s.id).is_some_and(|(name, certificate)| {
                    let signed = Signed {
                        certificate: certificate.clone(),
                        signature: s.signature.clone(),
                    };
                    verifier
                        .verify(secagg::VIEW_CONTEXT, &self.view, &signed)
                        .is_ok_and(|signer| signer == *name)
                })
            })
            .map(|s| s.id)
            .collect();
        Ok(wire::unmasking_out(&self.client.unmask(&confirmed)?))
    }
}

/// Takes part in the run of the coordinator on `channel` as `credentials` say (the name is
/// that of this client's certificate) until the coordinator says it is over.
pub async fn participate(
    channel: Channel,
    credentials: &Credentials,
    data: std::sync::Arc<LocalData>,
    max_message_bytes: usize,
    contributions: std::sync::Arc<Contributions>,
    mut dropout: Option<&mut Dropout>,
) -> Result<ParticipantReport> {
    let (outbox, outgoing) = mpsc::channel::<ClientMessage>(4);
    let mut report = ParticipantReport {
        rounds: 0,
        bytes_sent: 0,
        finished: false,
    };
    // The step of the current round at which this client drops out, if it does.
    let mut drop_at: Option<u8> = None;
    // Every answer echoes the step of the coordinator's question (0 for the hello).
    let send = |step: u64, body: FromClient, report: &mut ParticipantReport| {
        let msg = ClientMessage {
            step,
            body: Some(body),
        };
        report.bytes_sent += msg.encoded_len() as u64;
        outbox
            .try_send(msg)
            .map_err(|_| protocol(ProtocolViolation::Closed))
    };
    send(
        0,
        FromClient::Hello(Hello {
            name: credentials.signer.name().to_string(),
            schema: Some(data.schema()?),
        }),
        &mut report,
    )?;
    let mut client = FederationClient::new(channel)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let mut inbound = client
        .join(ReceiverStream::new(outgoing))
        .await
        .map_err(|s| veil_net::Error::call("join", s))?
        .into_inner();
    // The secure-aggregation round in progress, and the answer to send for it.
    let mut secure: Option<SecureRound> = None;
    let mut pending: Option<(u64, FromClient)> = None;
    loop {
        if let Some((step, body)) = pending.take() {
            send(step, body, &mut report)?;
        }
        let message = inbound
            .message()
            .await
            .map_err(|s| veil_net::Error::call("coordinator", s))?
            .ok_or(protocol(ProtocolViolation::Closed))?;
        let step = message.step;
        match message.body {
            Some(ToClient::Welcome(_)) => {}
            Some(ToClient::MomentsRequest(_)) => {
                let answer = match credentials.require.check("statistics", false, false) {
                    Ok(()) => FromClient::Moments(data.moments()),
                    Err(e) => answer_or_refuse(Err(e)),
                };
                send(step, answer, &mut report)?
            }
            Some(ToClient::Train(t)) => {
                if let Err(e) = credentials.require.check("an update", false, false) {
                    send(step, answer_or_refuse(Err(e)), &mut report)?;
                    continue;
                }
                if dropout.as_mut().and_then(|d| d.decide(1)).is_some() {
                    return Ok(report);
                }
                let d = data.clone();
                let update = tokio::task::spawn_blocking(move || d.train(&t)).await??;
                send(step, FromClient::Update(update), &mut report)?;
                report.rounds += 1;
            }
            Some(ToClient::SecaggStart(start)) => {
                // Simulated dropouts leave training rounds, not the statistics.
                drop_at = dropout
                    .as_mut()
                    .filter(|_| !start.moments)
                    .and_then(|d| d.decide(4));
                if drop_at == Some(0) {
                    return Ok(report);
                }
                let (d, record, who) = (data.clone(), contributions.clone(), credentials.clone());
                let prepared = tokio::task::spawn_blocking(move || {
                    SecureRound::start(&d, &start, &record, &who)
                })
                .await?;
                let (round, answer) = match prepared {
                    Ok((round, advert)) => (Some(round), Ok(FromClient::Advert(advert))),
                    Err(e) => (None, Err(e)),
                };
                secure = round;
                pending = Some((step, answer_or_refuse(answer)));
            }
            Some(ToClient::Roster(roster)) => {
                if drop_at == Some(1) {
                    return Ok(report);
                }
                let answer = in_round(&mut secure, "a roster", |r| {
                    r.share_keys(&roster, credentials)
                        .map(FromClient::ShareKeys)
                });
                pending = Some((step, answer));
            }
            Some(ToClient::Shares(shares)) => {
                if drop_at == Some(2) {
                    return Ok(report);
                }
                let answer = in_round(&mut secure, "shares", |r| {
                    r.masked(&shares).map(FromClient::Masked)
                });
                pending = Some((step, answer));
            }
            Some(ToClient::Survivors(survivors)) => {
                if drop_at == Some(3) {
                    return Ok(report);
                }
                let answer = in_round(&mut secure, "survivors", |r| {
                    r.consistency(&survivors, credentials)
                        .map(FromClient::Consistency)
                });
                pending = Some((step, answer));
            }
            Some(ToClient::Unmask(unmask)) => {
                let moments_round = secure.as_ref().is_some_and(|r| r.moments);
                let answer = match secure.take() {
                    Some(r) => r.unmasking(&unmask, credentials).map(FromClient::Unmasking),
                    None => Err(out_of_turn("signatures")),
                };
                report.rounds += usize::from(answer.is_ok() && !moments_round);
                pending = Some((step, answer_or_refuse(answer)));
            }
            Some(ToClient::Done(done)) => {
                if done.refused {
                    return Err(Error::Refused {
                        reason: done.reason,
                    });
                }
                report.finished = true;
                return Ok(report);
            }
            None => return Err(protocol(ProtocolViolation::Empty)),
        }
    }
}
