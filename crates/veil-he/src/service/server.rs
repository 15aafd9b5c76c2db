//! The service: evaluates its model's circuit on each job's ciphertexts as they stream in.
//!
//! CKKS: the first dense layer is accumulated as the input ciphertexts arrive (one
//! [`WeightedSum`] per unit, fed a group of inputs at a time), so a batch never holds more
//! than a group of inputs in memory; when its
//! last feature arrives the rest of the circuit runs — bias, square (multiply, relinearise,
//! rescale), the next dense layer — and the outputs go back. Paillier: the same on fixed-point
//! integers, one ciphertext per row. Anything out of order, for other parameters or keys, or
//! too shallow for the circuit ends the job with a status saying what, never with a wrong
//! answer.

use std::sync::Arc;

use crypto_bigint::BoxedUint;
use rayon::prelude::*;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::proto::inference_server::{Inference, InferenceServer};
use super::proto::{
    DescribeRequest, Input, KeysRegistered, KeysUpload, ModelInfo, Open, ScoreReply, ScoreRequest,
    score_request,
};
use super::{FEATURE_PACKED, PAILLIER_BATCH_ROWS, model_info, packed};
use crate::circuit::{Circuit, Scheme};
use crate::ckks::cipher::Ciphertext;
use crate::ckks::eval::{EvaluationKeys, multiply, rescale};
use crate::ckks::keys::KeyId;
use crate::ckks::linear::{WeightedSum, add_constant};
use crate::ckks::params::{Context, Parameters};
use crate::error::{CiphertextProblem, Error, KeyProblem, Result};
use crate::paillier::{self, EncryptedNumber, FRACTION_BITS};

/// An encrypted-inference service for one model.
#[derive(Clone)]
pub struct Service {
    circuit: Arc<Circuit>,
    info: ModelInfo,
    max_message_bytes: usize,
    keys: Arc<std::sync::Mutex<KeyCache>>,
    /// Jobs running, per client certificate.
    jobs: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// Key sets kept for the feature-packed layout, and the memory they may take; one client
/// may hold at most a quarter of the sets and half the memory, so no client can push out
/// everyone else's keys (F-12).
const MAX_KEY_SETS: usize = 16;
const MAX_KEY_BYTES: usize = 512 << 20;
const MAX_PEER_KEY_SETS: usize = MAX_KEY_SETS / 4;
const MAX_PEER_KEY_BYTES: usize = MAX_KEY_BYTES / 2;
/// Jobs (and key registrations) one client may run at once.
const MAX_PEER_JOBS: usize = 4;
/// How long a job waits for the client's next message before it is ended.
const JOB_IDLE: std::time::Duration = std::time::Duration::from_secs(120);

/// A lookup of a client's registered keys for a key set.
type Lookup<'a> = dyn Fn(&str, KeyId) -> Option<(Arc<Context>, Arc<EvaluationKeys>)> + 'a;

/// One client's registered keys for one key set.
struct Registered {
    peer: String,
    id: KeyId,
    ctx: Arc<Context>,
    keys: Arc<EvaluationKeys>,
    /// Their size as registered (about what they take in memory).
    bytes: usize,
}

/// Rotation keys registered by clients, per client certificate and key set: a client's
/// keys serve only that client's jobs, so no one can plant keys under another's key-set id.
/// The least recently registered key sets are dropped beyond [`MAX_KEY_SETS`] or
/// [`MAX_KEY_BYTES`], and a client's own beyond [`MAX_PEER_KEY_SETS`] or
/// [`MAX_PEER_KEY_BYTES`]; a client whose keys were dropped registers them again.
#[derive(Default)]
struct KeyCache {
    entries: std::collections::VecDeque<Registered>,
}

impl KeyCache {
    fn get(&self, peer: &str, id: KeyId) -> Option<(Arc<Context>, Arc<EvaluationKeys>)> {
        self.entries
            .iter()
            .find(|e| e.peer == peer && e.id == id)
            .map(|e| (e.ctx.clone(), e.keys.clone()))
    }

    /// Adds `keys` (`bytes` long as sent) to what `peer` has registered for their key set;
    /// the rotations held now.
    fn add(
        &mut self,
        peer: &str,
        ctx: Arc<Context>,
        keys: EvaluationKeys,
        bytes: usize,
    ) -> Result<Vec<usize>> {
        let id = keys.id();
        let at = self
            .entries
            .iter()
            .position(|e| e.peer == peer && e.id == id);
        let (mut merged, mut total) = match at.and_then(|at| self.entries.remove(at)) {
            Some(old) if old.ctx.params() == ctx.params() => {
                (Arc::unwrap_or_clone(old.keys), old.bytes)
            }
            _ => (keys.clone(), 0),
        };
        merged.merge(keys)?;
        total += bytes;
        if total > MAX_PEER_KEY_BYTES {
            return Err(Error::out_of_range(
                "keys",
                format!(
                    "{total} bytes of rotation keys for one key set; a client may register at most {MAX_PEER_KEY_BYTES}"
                ),
            ));
        }
        let steps = merged.rotation_steps(&ctx);
        self.entries.push_back(Registered {
            peer: peer.to_string(),
            id,
            ctx,
            keys: Arc::new(merged),
            bytes: total,
        });
        // This client's oldest go first, then anyone's, never the set just registered.
        loop {
            let own: Vec<usize> = (0..self.entries.len())
                .filter(|&i| self.entries[i].peer == peer)
                .collect();
            let own_bytes: usize = own.iter().map(|&i| self.entries[i].bytes).sum();
            if own.len() > 1 && (own.len() > MAX_PEER_KEY_SETS || own_bytes > MAX_PEER_KEY_BYTES) {
                self.entries.remove(own[0]);
            } else if self.entries.len() > MAX_KEY_SETS
                || (self.entries.len() > 1
                    && self.entries.iter().map(|e| e.bytes).sum::<usize>() > MAX_KEY_BYTES)
            {
                self.entries.pop_front();
            } else {
                break;
            }
        }
        Ok(steps)
    }
}

impl Service {
    /// A service for `model` (refused, with the layer and the reason, if no scheme can
    /// evaluate it).
    pub fn new(model: &veil_ml::Model, max_message_bytes: usize) -> Result<Service> {
        let circuit = Circuit::from_model(model)?;
        let info = model_info(&circuit, model.kind.name(), &model.label);
        Ok(Service {
            circuit: Arc::new(circuit),
            info,
            max_message_bytes,
            keys: Default::default(),
            jobs: Default::default(),
        })
    }

    /// What `Describe` answers.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The gRPC service to add to a server.
    pub fn service(&self) -> InferenceServer<Service> {
        InferenceServer::new(self.clone())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }
}

/// The context of `params`, if they are one of this service's parameter sets: keys a client
/// sends are read in it, and other parameters are refused before any context is built.
fn service_context(params: &Parameters) -> Result<Arc<Context>> {
    let n = params.degree as u32;
    if [Parameters::n8192(), Parameters::n16384()].contains(params) {
        return context(n);
    }
    Err(Error::out_of_range(
        "keys",
        format!(
            "CKKS parameters (N = {n}, chain {:?}) that are not this service's (N = 8192 or 16384, Veil's chains)",
            params.chain
        ),
    ))
}

/// The context of the parameter set with ring degree `n`, built once per process (its NTT
/// tables take longer to make than a small job takes to score).
fn context(n: u32) -> Result<Arc<Context>> {
    static CONTEXTS: [std::sync::OnceLock<Arc<Context>>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let (slot, params) = match n {
        8192 => (0, Parameters::n8192()),
        16384 => (1, Parameters::n16384()),
        n => {
            return Err(Error::out_of_range(
                "job",
                format!("CKKS with N = {n}: this service uses N = 8192 or 16384"),
            ));
        }
    };
    if let Some(ctx) = CONTEXTS[slot].get() {
        return Ok(ctx.clone());
    }
    let ctx = Context::new(params)?;
    Ok(CONTEXTS[slot].get_or_init(|| ctx).clone())
}

/// A job's evaluation state.
enum Job {
    Ckks(CkksJob),
    Paillier(PaillierJob),
}

/// Where the inputs of a job have got to.
struct Progress {
    rows: usize,
    batch_rows: usize,
    batch: usize,
    feature: usize,
    features: usize,
}

impl Progress {
    fn new(open: &Open, features: usize, max_batch: usize) -> Result<Progress> {
        let (rows, batch_rows) = (open.rows as usize, open.batch_rows as usize);
        if rows == 0 || batch_rows == 0 || batch_rows > max_batch {
            return Err(Error::protocol(format!(
                "{rows} rows in batches of {batch_rows}: need at least one row, and batches \
                 of 1 to {max_batch} rows"
            )));
        }
        Ok(Progress {
            rows,
            batch_rows,
            batch: 0,
            feature: 0,
            features,
        })
    }

    fn batches(&self) -> usize {
        self.rows.div_ceil(self.batch_rows)
    }

    /// Rows in the current batch.
    fn rows_now(&self) -> usize {
        self.batch_rows
            .min(self.rows - self.batch * self.batch_rows)
    }

    /// Checks that `input` is the next one expected.
    fn require_next(&self, input: &Input) -> Result<()> {
        if self.batch >= self.batches() {
            return Err(Error::protocol("an input after the last batch of the job"));
        }
        if (input.batch as usize, input.feature as usize) != (self.batch, self.feature) {
            return Err(Error::protocol(format!(
                "input for batch {} feature {} where batch {} feature {} was due",
                input.batch, input.feature, self.batch, self.feature
            )));
        }
        Ok(())
    }

    /// Moves past the input just used; true when it finished its batch.
    fn advance(&mut self) -> bool {
        self.feature += 1;
        if self.feature == self.features {
            self.feature = 0;
            self.batch += 1;
            return true;
        }
        false
    }

    fn done(&self) -> bool {
        self.batch == self.batches()
    }
}

struct CkksJob {
    ctx: Arc<Context>,
    keys: Option<Arc<EvaluationKeys>>,
    progress: Progress,
    first: Vec<WeightedSum>,
    /// Inputs received but not yet added to `first` (they are added [`INPUT_GROUP`] at a
    /// time, which reads each accumulator once per group rather than once per input).
    pending: Vec<Ciphertext>,
    /// The feature-packed layout's block, or `None` for one row per slot.
    block: Option<usize>,
}

/// Inputs added to the first layer's sums at a time.
const INPUT_GROUP: usize = 32;

struct PaillierJob {
    key: paillier::PublicKey,
    progress: Progress,
    /// Per output unit, per row of the batch, the running sum.
    sums: Vec<Vec<Option<EncryptedNumber>>>,
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::protocol(e.to_string())
}

impl Job {
    /// The job `open` asks for; `registered` looks up a client's registered keys (taking
    /// the cache's lock only for the lookup).
    fn open(circuit: &Circuit, open: &Open, peer: &str, registered: &Lookup<'_>) -> Result<Job> {
        let scheme: Scheme = open.scheme.parse()?;
        circuit.check(scheme)?;
        let features = circuit.features.len();
        match scheme {
            Scheme::Ckks => {
                let ctx = context(open.poly_degree)?;
                let levels = ctx.data_primes() - 1;
                if circuit.depth() > levels {
                    return Err(Error::out_of_range(
                        "job",
                        format!(
                            "the model needs {} rescalings ({} dense layers and {} squares); the \
                         chain {:?} allows {levels}: make keys with --poly-degree 16384",
                            circuit.depth(),
                            circuit.layers.len(),
                            circuit.hidden_layers(),
                            ctx.params().chain
                        ),
                    ));
                }
                if open.layout == FEATURE_PACKED {
                    return CkksJob::packed(circuit, open, ctx, peer, registered).map(Job::Ckks);
                }
                if !open.layout.is_empty() && open.layout != super::ROW_PER_SLOT {
                    return Err(bad(format!("an unknown layout \"{}\"", open.layout)));
                }
                let keys = if circuit.hidden_layers() > 0 {
                    let (theirs, keys) =
                        EvaluationKeys::from_bytes_in(&open.key, &service_context)?;
                    if theirs.params() != ctx.params() {
                        return Err(Error::Key(KeyProblem::OtherDegree {
                            what: "a relinearisation key",
                            theirs: theirs.degree(),
                            ours: ctx.degree(),
                        }));
                    }
                    Some(Arc::new(keys))
                } else {
                    None
                };
                let progress = Progress::new(open, features, ctx.degree() / 2)?;
                Ok(Job::Ckks(CkksJob {
                    ctx,
                    keys,
                    progress,
                    first: Vec::new(),
                    pending: Vec::new(),
                    block: None,
                }))
            }
            Scheme::Paillier => {
                let n = BoxedUint::from_be_slice(&open.key, (open.key.len() * 8) as u32).map_err(
                    |_| {
                        Error::Key(KeyProblem::Malformed(
                            "an unreadable Paillier modulus".into(),
                        ))
                    },
                )?;
                let key = paillier::PublicKey::from_modulus(n)?;
                let progress = Progress::new(open, features, PAILLIER_BATCH_ROWS)?;
                Ok(Job::Paillier(PaillierJob {
                    key,
                    progress,
                    sums: Vec::new(),
                }))
            }
        }
    }

    /// Takes one input; returns the replies when it completed a batch.
    fn input(&mut self, circuit: &Circuit, input: &Input) -> Result<Vec<ScoreReply>> {
        match self {
            Job::Ckks(job) => job.input(circuit, input),
            Job::Paillier(job) => job.input(circuit, input),
        }
    }

    fn done(&self) -> bool {
        match self {
            Job::Ckks(job) => job.progress.done(),
            Job::Paillier(job) => job.progress.done(),
        }
    }
}

impl CkksJob {
    /// A job in the feature-packed layout, with the rotation keys `peer` registered.
    fn packed(
        circuit: &Circuit,
        open: &Open,
        ctx: Arc<Context>,
        peer: &str,
        registered: &Lookup<'_>,
    ) -> Result<CkksJob> {
        if circuit.hidden_layers() > 0 {
            return Err(Error::unevaluable(
                "the feature-packed layout evaluates models without hidden layers",
            ));
        }
        let slots = ctx.degree() / 2;
        let block = open.block as usize;
        if !block.is_power_of_two() || block < circuit.features.len() || block > slots {
            return Err(bad(format!(
                "a block of {block} slots for {} features: a power of two from the feature \
                 count to {slots}",
                circuit.features.len()
            )));
        }
        let id: [u8; 16] = open
            .key_id
            .as_slice()
            .try_into()
            .map_err(|_| bad("a key-set id of 16 bytes"))?;
        let (theirs, keys) =
            registered(peer, KeyId(id)).ok_or_else(|| Error::Key(KeyProblem::NotRegistered))?;
        if theirs.params() != ctx.params() {
            return Err(Error::Key(KeyProblem::OtherDegree {
                what: "rotation keys",
                theirs: theirs.degree(),
                ours: ctx.degree(),
            }));
        }
        let held = keys.rotation_steps(&ctx);
        if let Some(missing) = packed::rotations(block)
            .into_iter()
            .find(|s| !held.contains(s))
        {
            return Err(Error::Key(KeyProblem::NoRotation(missing as i64)));
        }
        let progress = Progress::new(open, 1, slots / block)?;
        Ok(CkksJob {
            ctx,
            keys: Some(keys),
            progress,
            first: Vec::new(),
            pending: Vec::new(),
            block: Some(block),
        })
    }

    fn input(&mut self, circuit: &Circuit, input: &Input) -> Result<Vec<ScoreReply>> {
        self.progress.require_next(input)?;
        let [bytes] = input.ciphertexts.as_slice() else {
            return Err(bad(format!(
                "{} ciphertexts for one CKKS input (one per feature and batch)",
                input.ciphertexts.len()
            )));
        };
        let ctx = self.ctx.clone();
        let ctx = &ctx;
        let ct = Ciphertext::from_bytes(ctx, bytes)?;
        if ct.level() < circuit.depth() {
            return Err(Error::out_of_range(
                "job",
                format!(
                    "an input at level {}: the model needs {} rescalings (encrypt at level {} or \
                 above)",
                    ct.level(),
                    circuit.depth(),
                    circuit.depth()
                ),
            ));
        }
        if let Some(keys) = &self.keys
            && keys.id() != ct.key
        {
            return Err(Error::Ciphertext(CiphertextProblem::OtherKeySet));
        }
        if let (Some(block), Some(keys)) = (self.block, &self.keys) {
            let rows = self.progress.rows_now();
            let outputs = packed::evaluate(ctx, keys, &ct, &circuit.layers[0], rows, block)?;
            self.progress.advance();
            return Ok(replies(ctx, self.progress.batch as u32 - 1, &outputs));
        }
        let layer = &circuit.layers[0];
        if self.progress.feature == 0 {
            self.first = (0..layer.bias.len())
                .map(|_| WeightedSum::new(ctx, &ct))
                .collect::<Result<_>>()?;
        }
        // Checked now, not when its group is added: a bad input ends the job at once.
        if let Some(sum) = self.first.first() {
            sum.check(&ct)?;
        }
        let j = self.progress.feature;
        self.pending.push(ct);
        let last = j + 1 == circuit.features.len();
        if self.pending.len() == INPUT_GROUP || last {
            let start = j + 1 - self.pending.len();
            let inputs: Vec<&Ciphertext> = self.pending.iter().collect();
            WeightedSum::add_all(ctx, &mut self.first, &inputs, |k, i| {
                layer.weights[[k, start + i]]
            })?;
            self.pending.clear();
        }
        if !self.progress.advance() {
            return Ok(Vec::new());
        }
        let batch = self.progress.batch as u32 - 1;
        let outputs = self.finish(circuit)?;
        Ok(replies(ctx, batch, &outputs))
    }

    /// The rest of the circuit, once the first layer's sums are complete.
    fn finish(&mut self, circuit: &Circuit) -> Result<Vec<Ciphertext>> {
        let ctx = &self.ctx;
        let first = std::mem::take(&mut self.first);
        let mut a: Vec<Ciphertext> = first
            .into_par_iter()
            .zip(
                circuit.layers[0]
                    .bias
                    .as_slice()
                    .expect("a contiguous bias"),
            )
            .map(|(sum, &b)| {
                let mut z = sum.finish(ctx)?;
                add_constant(ctx, &mut z, b)?;
                Ok(z)
            })
            .collect::<Result<_>>()?;
        for layer in &circuit.layers[1..] {
            let keys = self
                .keys
                .as_ref()
                .ok_or_else(|| Error::Key(KeyProblem::NoRelinearisation))?;
            let squared: Vec<Ciphertext> = a
                .par_iter()
                .map(|z| rescale(ctx, &multiply(ctx, keys, z, z)?))
                .collect::<Result<_>>()?;
            let mut sums = (0..layer.bias.len())
                .map(|_| WeightedSum::new(ctx, &squared[0]))
                .collect::<Result<Vec<_>>>()?;
            let inputs: Vec<&Ciphertext> = squared.iter().collect();
            WeightedSum::add_all(ctx, &mut sums, &inputs, |k, j| layer.weights[[k, j]])?;
            a = sums
                .into_par_iter()
                .zip(layer.bias.as_slice().expect("a contiguous bias"))
                .map(|(sum, &b)| {
                    let mut z = sum.finish(ctx)?;
                    add_constant(ctx, &mut z, b)?;
                    Ok(z)
                })
                .collect::<Result<_>>()?;
        }
        Ok(a)
    }
}

/// One reply per output ciphertext of a batch.
fn replies(ctx: &Context, batch: u32, outputs: &[Ciphertext]) -> Vec<ScoreReply> {
    outputs
        .iter()
        .enumerate()
        .map(|(k, ct)| ScoreReply {
            batch,
            output: k as u32,
            ciphertexts: vec![ct.to_bytes(ctx)],
            fraction_bits: 0,
        })
        .collect()
}

impl PaillierJob {
    fn input(&mut self, circuit: &Circuit, input: &Input) -> Result<Vec<ScoreReply>> {
        self.progress.require_next(input)?;
        let rows = self.progress.rows_now();
        if input.ciphertexts.len() != rows {
            return Err(bad(format!(
                "{} Paillier ciphertexts for a batch of {rows} rows",
                input.ciphertexts.len()
            )));
        }
        let key = &self.key;
        let xs: Vec<EncryptedNumber> = input
            .ciphertexts
            .par_iter()
            .map(|b| {
                Ok(EncryptedNumber {
                    ciphertext: key.from_bytes(b)?,
                    scale: FRACTION_BITS,
                })
            })
            .collect::<Result<_>>()?;
        let layer = &circuit.layers[0];
        let j = self.progress.feature;
        if j == 0 {
            self.sums = vec![vec![None; rows]; layer.bias.len()];
        }
        for (k, sums) in self.sums.iter_mut().enumerate() {
            let w = layer.weights[[k, j]];
            sums.par_iter_mut()
                .zip(&xs)
                .try_for_each(|(sum, x)| -> Result<()> {
                    let term = key.mul_real(x, w)?;
                    *sum = Some(match sum.take() {
                        None => term,
                        Some(s) => key.add_numbers(&s, &term)?,
                    });
                    Ok(())
                })?;
        }
        if !self.progress.advance() {
            return Ok(Vec::new());
        }
        let batch = self.progress.batch as u32 - 1;
        let sums = std::mem::take(&mut self.sums);
        sums.into_iter()
            .enumerate()
            .map(|(k, row_sums)| {
                let b = layer.bias[k];
                let cts = row_sums
                    .into_par_iter()
                    .map(|s| {
                        let s = key.add_real(&s.expect("every row summed"), b)?;
                        Ok(key.to_bytes(&s.ciphertext))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(ScoreReply {
                    batch,
                    output: k as u32,
                    ciphertexts: cts,
                    fraction_bits: 2 * FRACTION_BITS,
                })
            })
            .collect()
    }
}

/// The status a job ends with: what was wrong with the client's request.
fn refusal(e: &Error) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl Inference for Service {
    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> std::result::Result<Response<ModelInfo>, Status> {
        let peer = veil_net::tls::peer_name(&request).unwrap_or_default();
        let mut info = self.info.clone();
        if let Ok(id) = <[u8; 16]>::try_from(request.get_ref().key_id.as_slice())
            && let Some((ctx, keys)) = self.cache().get(&peer, KeyId(id))
        {
            info.cached_rotations = keys
                .rotation_steps(&ctx)
                .into_iter()
                .map(|s| s as u32)
                .collect();
        }
        Ok(Response::new(info))
    }

    async fn register_keys(
        &self,
        request: Request<KeysUpload>,
    ) -> std::result::Result<Response<KeysRegistered>, Status> {
        // Parsing keys is work like a job's: it takes one of the client's job slots.
        let (peer, _slot) = self.slot(&request)?;
        let bytes = request.get_ref().keys.len();
        let (ctx, keys) = tokio::task::block_in_place(|| {
            EvaluationKeys::from_bytes_in(&request.get_ref().keys, &service_context)
        })
        .map_err(|e| refusal(&e))?;
        let steps = self
            .cache()
            .add(&peer, ctx, keys, bytes)
            .map_err(|e| refusal(&e))?;
        tracing::info!(peer, ?steps, "registered rotation keys");
        Ok(Response::new(KeysRegistered {
            rotations: steps.into_iter().map(|s| s as u32).collect(),
        }))
    }

    type ScoreStream = ReceiverStream<std::result::Result<ScoreReply, Status>>;

    async fn score(
        &self,
        request: Request<Streaming<ScoreRequest>>,
    ) -> std::result::Result<Response<Self::ScoreStream>, Status> {
        let (peer, running) = self.slot(&request)?;
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let service = self.clone();
        tokio::spawn(async move {
            let _running = running;
            let result = run_job(&service, &peer, &mut inbound, &tx).await;
            match result {
                Ok(rows) => tracing::info!(peer, rows, "scored a job"),
                Err(e) => {
                    tracing::warn!(peer, error = %e, "refused a job");
                    let _ = tx.send(Err(refusal(&e))).await;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl Service {
    /// The client's certificate name and one of its job slots, or the status that refuses
    /// the call (no name, or [`MAX_PEER_JOBS`] jobs and registrations already running).
    fn slot<T>(&self, request: &Request<T>) -> std::result::Result<(String, JobSlot), Status> {
        let peer = veil_net::tls::peer_name(request)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let slot = JobSlot::take(&self.jobs, &peer).ok_or_else(|| {
            Status::resource_exhausted(format!(
                "{MAX_PEER_JOBS} jobs or key registrations of this client are running: wait for one to finish"
            ))
        })?;
        Ok((peer, slot))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs one job to its end; the number of rows scored.
/// One of a client's [`MAX_PEER_JOBS`] job slots, given back when dropped.
struct JobSlot {
    jobs: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    peer: String,
}

impl JobSlot {
    fn take(
        jobs: &Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
        peer: &str,
    ) -> Option<JobSlot> {
        let mut running = jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = running.entry(peer.to_string()).or_default();
        if *count >= MAX_PEER_JOBS {
            return None;
        }
        *count += 1;
        Some(JobSlot {
            jobs: jobs.clone(),
            peer: peer.to_string(),
        })
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        let mut running = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.peer);
            }
        }
    }
}

/// The client's next message, or an error when none comes within [`JOB_IDLE`].
async fn next_message(inbound: &mut Streaming<ScoreRequest>) -> Result<Option<ScoreRequest>> {
    match tokio::time::timeout(JOB_IDLE, inbound.message()).await {
        Err(_) => Err(bad(format!(
            "the client sent nothing for {} s: the job is ended",
            JOB_IDLE.as_secs()
        ))),
        Ok(m) => m.map_err(|s| bad(format!("the client's stream failed: {}", s.message()))),
    }
}

async fn run_job(
    service: &Service,
    peer: &str,
    inbound: &mut Streaming<ScoreRequest>,
    tx: &tokio::sync::mpsc::Sender<std::result::Result<ScoreReply, Status>>,
) -> Result<usize> {
    let open = match next_message(inbound).await?.and_then(|m| m.body) {
        Some(score_request::Body::Open(open)) => open,
        _ => return Err(bad("a job starts with an Open message")),
    };
    let circuit = &service.circuit;
    // Opening may parse a relinearisation key: off the network threads, and with the key
    // cache locked only to look a key set up.
    let mut job = tokio::task::block_in_place(|| {
        Job::open(circuit, &open, peer, &|p, id| service.cache().get(p, id))
    })?;
    while !job.done() {
        let input = match next_message(inbound).await?.and_then(|m| m.body) {
            Some(score_request::Body::Input(input)) => input,
            Some(score_request::Body::Open(_)) => return Err(bad("a second Open in one job")),
            None => return Err(bad("the client ended the job before its last input")),
        };
        // The arithmetic is CPU-bound: keep it off the threads that drive the network.
        let replies = tokio::task::block_in_place(|| job.input(circuit, &input))?;
        for reply in replies {
            match tokio::time::timeout(JOB_IDLE, tx.send(Ok(reply))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(bad("the client went away")),
                Err(_) => {
                    return Err(bad(format!(
                        "the client took no reply for {} s: the job is ended",
                        JOB_IDLE.as_secs()
                    )));
                }
            }
        }
    }
    Ok(open.rows as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::keys::SecretKey;

    #[test]
    fn the_key_cache_is_per_client_merges_and_stays_bounded() {
        let ctx = Context::new(Parameters::n8192()).unwrap();
        let eval = SecretKey::generate(&ctx).evaluation_keys().unwrap();
        let id = eval.id();
        let one = || eval.rotation_key(&ctx, 1).unwrap();
        let mut cache = KeyCache::default();
        assert_eq!(cache.add("a", ctx.clone(), one(), 10).unwrap(), vec![1]);
        let two = eval.rotation_key(&ctx, 2).unwrap();
        assert_eq!(cache.add("a", ctx.clone(), two, 10).unwrap(), vec![1, 2]);
        assert!(cache.get("b", id).is_none(), "another client's keys");
        assert_eq!(
            cache.get("a", id).unwrap().1.rotation_steps(&ctx),
            vec![1, 2]
        );
        for peer in 0..MAX_KEY_SETS {
            cache
                .add(&peer.to_string(), ctx.clone(), one(), 10)
                .unwrap();
        }
        assert_eq!(cache.entries.len(), MAX_KEY_SETS);
        assert!(
            cache.get("a", id).is_none(),
            "the oldest key set went first"
        );
        cache
            .add("big", ctx.clone(), one(), MAX_PEER_KEY_BYTES)
            .unwrap();
        let bytes: usize = cache.entries.iter().map(|e| e.bytes).sum();
        assert!(bytes <= MAX_KEY_BYTES, "bounded in bytes too");
        assert!(cache.get("big", id).is_some());
        assert!(cache.entries.len() > 1, "one client holds at most half");
        assert!(
            cache
                .add("huge", ctx.clone(), one(), MAX_PEER_KEY_BYTES + 1)
                .is_err(),
            "more than a client may hold"
        );
        // One client's key sets beyond its quota push out its own oldest, not others'.
        let mut cache = KeyCache::default();
        cache.add("other", ctx.clone(), one(), 10).unwrap();
        let sets: Vec<EvaluationKeys> = (0..=MAX_PEER_KEY_SETS)
            .map(|_| {
                let eval = SecretKey::generate(&ctx).evaluation_keys().unwrap();
                eval.rotation_key(&ctx, 1).unwrap()
            })
            .collect();
        let first = sets[0].id();
        for keys in sets {
            cache.add("greedy", ctx.clone(), keys, 10).unwrap();
        }
        let greedy = cache.entries.iter().filter(|e| e.peer == "greedy").count();
        assert_eq!(greedy, MAX_PEER_KEY_SETS);
        assert!(cache.get("greedy", first).is_none());
        assert!(cache.get("other", id).is_some());
    }

    #[test]
    fn keys_for_other_parameters_are_refused_before_a_context_is_built() {
        let ctx = context(8192).unwrap();
        let eval = SecretKey::generate(&ctx).evaluation_keys().unwrap();
        let mut bytes = eval.rotation_key(&ctx, 1).unwrap().to_bytes(&ctx);
        assert!(EvaluationKeys::from_bytes_in(&bytes, &service_context).is_ok());
        // The same bytes claiming N = 32768: the service's provider refuses them, and it is
        // the only way to a context here, so none is built.
        bytes[10..14].copy_from_slice(&32768u32.to_le_bytes());
        let e = EvaluationKeys::from_bytes_in(&bytes, &service_context).unwrap_err();
        assert!(e.to_string().contains("not this service's"), "{e}");
        // A job slot per client, given back when its job ends.
        let jobs = Arc::default();
        let slots: Vec<JobSlot> = (0..MAX_PEER_JOBS)
            .map(|_| JobSlot::take(&jobs, "a").unwrap())
            .collect();
        assert!(JobSlot::take(&jobs, "a").is_none());
        assert!(JobSlot::take(&jobs, "b").is_some());
        drop(slots);
        assert!(JobSlot::take(&jobs, "a").is_some());
    }
}
