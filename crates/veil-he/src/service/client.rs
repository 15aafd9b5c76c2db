//! The client: encrypts the rows of a table, streams them to the service, decrypts the
//! scores and turns them into predictions exactly as `veil predict` does.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::Serialize;
use tokio_stream::wrappers::ReceiverStream;
use veil_core::Table;
use veil_ml::{Output, Predictions, Task};

use super::proto::inference_client::InferenceClient;
use super::proto::{
    DescribeRequest, Input, KeysUpload, ModelInfo, Open, ScoreReply, ScoreRequest, score_request,
};
use super::{FEATURE_PACKED, PAILLIER_BATCH_ROWS, ROW_PER_SLOT, packed};
use crate::circuit::Scheme;
use crate::ckks::cipher::{Ciphertext, decode, encode};
use crate::ckks::eval::EvaluationKeys;
use crate::ckks::keys::SecretKey;
use crate::error::{Error, KeyProblem, Result};
use crate::keyset;
use crate::paillier::{self, EncryptedNumber};

/// How rows were laid out in ciphertexts.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// `row-per-slot` (CKKS: one feature of many rows per ciphertext) or `value-per-ciphertext`
    /// (Paillier).
    pub name: &'static str,
    /// Rows that share one batch.
    pub rows_per_batch: usize,
    /// Batches in the job.
    pub batches: usize,
    /// Ciphertexts sent per batch.
    pub ciphertexts_per_batch: usize,
    /// CKKS: the level inputs were encrypted at (the circuit's depth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<usize>,
    /// Feature-packed: the slots each row occupies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
}

/// Which CKKS layout to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutChoice {
    /// The cheaper one for the model and row count ([`choose_layout`]).
    Auto,
    /// One feature of many rows per ciphertext.
    RowPerSlot,
    /// One row's features side by side; linear models only.
    FeaturePacked,
}

impl std::str::FromStr for LayoutChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<LayoutChoice> {
        match s {
            "auto" => Ok(LayoutChoice::Auto),
            ROW_PER_SLOT => Ok(LayoutChoice::RowPerSlot),
            FEATURE_PACKED => Ok(LayoutChoice::FeaturePacked),
            _ => Err(Error::out_of_range(
                "--layout",
                format!("unknown layout \"{s}\" (one of: auto, {ROW_PER_SLOT}, {FEATURE_PACKED})"),
            )),
        }
    }
}

/// The CKKS layout for `rows` rows of a model with `features` inputs, `outputs` outputs
/// and `hidden` hidden layers, under keys with `slots` slots and `levels` levels.
///
/// Feature-packed is possible for a model without hidden layers and keys with its two
/// levels. It is chosen when it costs fewer operations: per packed ciphertext, one
/// encryption and log₂(block) rotations per output (a rotation costs about an encryption at
/// N = 8192: 2.2 against 2.3 ms), against one encryption per feature for every N/2 rows.
/// One breast-cancer row: 1 + 5 = 6 against 30, packed; 569 rows: 5 × 6 = 30 against 30,
/// one row per slot.
pub fn choose_layout(
    features: usize,
    outputs: usize,
    hidden: usize,
    rows: usize,
    slots: usize,
    levels: usize,
) -> &'static str {
    let block = packed::block(features);
    if hidden > 0 || levels < packed::DEPTH || block > slots {
        return ROW_PER_SLOT;
    }
    let packed_cost = rows.div_ceil(slots / block) * (1 + outputs * packed::rotations(block).len());
    let rows_cost = features * rows.div_ceil(slots);
    if packed_cost < rows_cost {
        FEATURE_PACKED
    } else {
        ROW_PER_SLOT
    }
}

/// What the client needs besides the data.
#[derive(Debug, Clone)]
pub struct InferenceOptions {
    /// The scheme.
    pub scheme: Scheme,
    /// The key-set directory (`veil he keygen --out`).
    pub keys: std::path::PathBuf,
    /// The largest gRPC message.
    pub max_message_bytes: usize,
    /// The CKKS layout.
    pub layout: LayoutChoice,
}

/// The outcome of a job.
#[derive(Debug, Clone, Serialize)]
pub struct Inference {
    /// Per row, as `veil predict` gives them.
    pub predictions: Predictions,
    /// The predicted class of each row (empty for regression).
    pub predicted: Vec<String>,
    /// The model's classes.
    pub classes: Vec<String>,
    /// What the model predicts.
    #[serde(skip)]
    pub task: Task,
    /// Rows scored.
    pub rows: usize,
    /// The scheme.
    pub scheme: &'static str,
    /// How rows were packed.
    pub layout: Layout,
    /// Bytes of ciphertext (and key) sent and received.
    pub bytes_sent: usize,
    /// Bytes of rotation keys registered with the service before the job (feature-packed,
    /// the first time a key set is used with a service).
    pub key_bytes_registered: usize,
    /// Bytes of ciphertext received.
    pub bytes_received: usize,
    /// Seconds spent encrypting, and from the first message to the last reply.
    pub encrypt_seconds: f64,
    /// Seconds from opening the job to the last reply (encryption overlaps the service's work).
    pub seconds: f64,
    /// The service's address, when it was dialled by [`super::infer_at`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// The client's keys for one scheme.
enum Keys {
    /// The secret key both encrypts (cheaper than with the public key, and less noisy) and
    /// decrypts.
    Ckks {
        secret: SecretKey,
    },
    Paillier(paillier::SecretKey),
}

fn key_file(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| Error::Io(veil_core::Error::io(&path, e)))
}

/// Says so when `dir` holds the other scheme's key set (`veil he keygen --scheme`) and not
/// this one's; any other failure is told as it is.
fn other_scheme(dir: &Path, scheme: Scheme, e: Error) -> Error {
    let (ours, theirs, flag) = match scheme {
        Scheme::Ckks => (
            keyset::CKKS_SECRET,
            keyset::PAILLIER_SECRET,
            "--scheme paillier",
        ),
        Scheme::Paillier => (
            keyset::PAILLIER_SECRET,
            keyset::CKKS_SECRET,
            "--scheme ckks",
        ),
    };
    if !dir.join(ours).exists() && dir.join(theirs).exists() {
        return Error::Key(KeyProblem::OtherScheme {
            dir: dir.display().to_string(),
            file: theirs,
            flag,
        });
    }
    e
}

impl Keys {
    fn load(scheme: Scheme, dir: &Path) -> Result<Keys> {
        Keys::load_scheme(scheme, dir).map_err(|e| other_scheme(dir, scheme, e))
    }

    fn load_scheme(scheme: Scheme, dir: &Path) -> Result<Keys> {
        match scheme {
            Scheme::Ckks => {
                let path = dir.join(keyset::CKKS_SECRET);
                let bytes = zeroize::Zeroizing::new(veil_core::secret_file::read(&path)?);
                let secret = SecretKey::from_bytes(&bytes)?;
                Ok(Keys::Ckks { secret })
            }
            Scheme::Paillier => Ok(Keys::Paillier(paillier::read_secret(
                &dir.join(keyset::PAILLIER_SECRET),
            )?)),
        }
    }
}

/// Predictions for the rows of `table` from the service on `channel`, which never sees
/// them in the clear.
pub async fn infer(
    channel: tonic::transport::Channel,
    table: &Table,
    options: &InferenceOptions,
) -> Result<Inference> {
    let mut client = InferenceClient::new(channel)
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);
    let scheme = options.scheme;
    let keys = Keys::load(scheme, &options.keys)?;
    let key_id = match &keys {
        Keys::Ckks { secret } => secret.id().0.to_vec(),
        Keys::Paillier(_) => Vec::new(),
    };
    let info = client
        .describe(DescribeRequest { key_id })
        .await
        .map_err(|s| veil_net::Error::call("describe", s))?
        .into_inner();
    if !info.schemes.iter().any(|s| s == scheme.name()) {
        let why = info
            .refusals
            .iter()
            .find(|r| r.starts_with(scheme.name()))
            .cloned()
            .unwrap_or_else(|| format!("the service does not offer {}", scheme.name()));
        return Err(Error::unevaluable(why));
    }
    let task = task_of(&info)?;
    let output: Output = info.output.parse().map_err(Error::protocol)?;
    let x = table.feature_matrix(&info.features)?;
    let rows = x.nrows();
    if rows == 0 {
        return Err(Error::out_of_range(
            "rows",
            "the table has no rows to score",
        ));
    }
    let plan = Plan::new(&keys, &info, rows, options.layout, &options.keys)?;

    let started = Instant::now();
    let key_bytes_registered =
        register_rotations(&mut client, &keys, &info, &plan, options).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<ScoreRequest>(4);
    let open_bytes = plan.open.key.len();
    tx.send(ScoreRequest {
        body: Some(score_request::Body::Open(plan.open.clone())),
    })
    .await
    .map_err(|_| Error::protocol("the job's stream closed"))?;
    let mut replies = client
        .score(ReceiverStream::new(rx))
        .await
        .map_err(|s| veil_net::Error::call("score", s))?
        .into_inner();
    let producer = {
        let (keys, x, layout) = (keys, x, plan.layout.clone());
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let sent = send_inputs(&keys, x.view(), &layout, &tx);
            (keys, sent, t.elapsed().as_secs_f64())
        })
    };
    let outputs = info.outputs as usize;
    let mut z = Array2::<f64>::from_elem((rows, outputs), f64::NAN);
    let mut received = vec![vec![false; outputs]; plan.layout.batches];
    let mut replies_got = Vec::new();
    let mut bytes_received = 0;
    loop {
        match replies.message().await {
            Ok(Some(reply)) => {
                bytes_received += reply.ciphertexts.iter().map(Vec::len).sum::<usize>();
                replies_got.push(reply);
            }
            Ok(None) => break,
            Err(status) => {
                // If encryption failed first (say, a value too large for the scale), its
                // error is the cause and the service's refusal a consequence.
                drop(replies);
                if let Ok(Ok((_, Err(e), _))) =
                    tokio::time::timeout(std::time::Duration::from_secs(5), producer).await
                {
                    return Err(e);
                }
                return Err(Error::protocol(format!(
                    "the service: {}",
                    status.message()
                )));
            }
        }
        if replies_got.len() == plan.layout.batches * outputs {
            break;
        }
    }
    let (keys, sent, encrypt_seconds) = producer
        .await
        .map_err(|e| Error::protocol(format!("the encryption task failed: {e}")))?;
    let bytes_sent = sent? + open_bytes;
    for reply in &replies_got {
        place(&keys, reply, &plan.layout, rows, &mut z, &mut received)?;
    }
    if received.iter().flatten().any(|&got| !got) {
        return Err(Error::protocol(
            "the service ended the job without every output",
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    let probabilities = output.predict(z.view());
    let predictions = Predictions::from_outputs(&task, probabilities.view());
    Ok(Inference {
        predicted: predictions.labels(&task),
        predictions,
        classes: task.classes().to_vec(),
        task,
        rows,
        scheme: scheme.name(),
        layout: plan.layout,
        bytes_sent,
        key_bytes_registered,
        bytes_received,
        encrypt_seconds,
        seconds,
        server: None,
    })
}

fn task_of(info: &ModelInfo) -> Result<Task> {
    let classes = info.classes.clone();
    Ok(match info.task.as_str() {
        "binary" => Task::Binary { classes },
        "multiclass" => Task::Multiclass { classes },
        "regression" => Task::Regression,
        other => return Err(Error::protocol(format!("an unknown task \"{other}\""))),
    })
}

/// The job's Open message and layout.
struct Plan {
    open: Open,
    layout: Layout,
}

impl Plan {
    fn new(
        keys: &Keys,
        info: &ModelInfo,
        rows: usize,
        choice: LayoutChoice,
        dir: &Path,
    ) -> Result<Plan> {
        let features = info.features.len();
        let depth = info.depth as usize;
        match keys {
            Keys::Ckks { secret } => {
                let ctx = secret.context();
                let levels = ctx.data_primes() - 1;
                if depth > levels {
                    return Err(Error::out_of_range(
                        "depth",
                        format!(
                            "the model needs {depth} rescalings (a dense layer and a square per \
                         hidden layer, then the output layer); these keys (N = {}, chain {:?}) \
                         allow {levels}: make keys with --poly-degree 16384",
                            ctx.degree(),
                            ctx.params().chain
                        ),
                    ));
                }
                let slots = ctx.degree() / 2;
                let layout = match choice {
                    LayoutChoice::Auto => choose_layout(
                        features,
                        info.outputs as usize,
                        info.hidden_layers as usize,
                        rows,
                        slots,
                        levels,
                    ),
                    LayoutChoice::RowPerSlot => ROW_PER_SLOT,
                    LayoutChoice::FeaturePacked => FEATURE_PACKED,
                };
                if layout == FEATURE_PACKED {
                    let block = packed::block(features);
                    if info.hidden_layers > 0 || levels < packed::DEPTH || block > slots {
                        return Err(Error::out_of_range(
                            "--layout",
                            format!(
                                "the feature-packed layout needs a model without hidden layers, \
                             {} levels and at most {slots} features",
                                packed::DEPTH
                            ),
                        ));
                    }
                    let batch_rows = rows.min(slots / block);
                    return Ok(Plan {
                        open: Open {
                            scheme: "ckks".into(),
                            poly_degree: ctx.degree() as u32,
                            key: Vec::new(),
                            rows: rows as u64,
                            batch_rows: batch_rows as u32,
                            layout: FEATURE_PACKED.into(),
                            block: block as u32,
                            key_id: secret.id().0.to_vec(),
                        },
                        layout: Layout {
                            name: FEATURE_PACKED,
                            rows_per_batch: batch_rows,
                            batches: rows.div_ceil(batch_rows),
                            ciphertexts_per_batch: 1,
                            level: Some(packed::DEPTH),
                            block: Some(block),
                        },
                    });
                }
                let key = if info.hidden_layers > 0 {
                    evaluation_keys(secret, dir)?
                        .relinearisation_only()
                        .to_bytes(ctx)
                } else {
                    Vec::new()
                };
                let batch_rows = rows.min(slots);
                Ok(Plan {
                    open: Open {
                        scheme: "ckks".into(),
                        poly_degree: ctx.degree() as u32,
                        key,
                        rows: rows as u64,
                        batch_rows: batch_rows as u32,
                        layout: ROW_PER_SLOT.into(),
                        block: 0,
                        key_id: secret.id().0.to_vec(),
                    },
                    layout: Layout {
                        name: ROW_PER_SLOT,
                        rows_per_batch: batch_rows,
                        batches: rows.div_ceil(batch_rows),
                        ciphertexts_per_batch: features,
                        level: Some(depth),
                        block: None,
                    },
                })
            }
            Keys::Paillier(sk) => {
                let batch_rows = rows.min(PAILLIER_BATCH_ROWS);
                Ok(Plan {
                    open: Open {
                        scheme: "paillier".into(),
                        poly_degree: 0,
                        key: sk.public().modulus().to_be_bytes().to_vec(),
                        rows: rows as u64,
                        batch_rows: batch_rows as u32,
                        layout: String::new(),
                        block: 0,
                        key_id: Vec::new(),
                    },
                    layout: Layout {
                        name: "value-per-ciphertext",
                        rows_per_batch: batch_rows,
                        batches: rows.div_ceil(batch_rows),
                        ciphertexts_per_batch: features * batch_rows,
                        level: None,
                        block: None,
                    },
                })
            }
        }
    }
}

/// The key set's evaluation keys (`evaluation.key`), checked to belong with `secret`.
fn evaluation_keys(secret: &SecretKey, dir: &Path) -> Result<EvaluationKeys> {
    let (theirs, eval) = EvaluationKeys::from_bytes(&key_file(dir, keyset::CKKS_EVALUATION)?)?;
    if eval.id() != secret.id() || theirs.params() != secret.context().params() {
        return Err(Error::Key(KeyProblem::OtherKeySet(
            "evaluation.key (beside secret.key)",
        )));
    }
    Ok(eval)
}

/// Registers the rotation keys a feature-packed job needs that the service does not hold
/// yet, one key per call; the bytes sent.
async fn register_rotations(
    client: &mut InferenceClient<tonic::transport::Channel>,
    keys: &Keys,
    info: &ModelInfo,
    plan: &Plan,
    options: &InferenceOptions,
) -> Result<usize> {
    let (Some(block), Keys::Ckks { secret }) = (plan.layout.block, keys) else {
        return Ok(0);
    };
    let missing: Vec<usize> = packed::rotations(block)
        .into_iter()
        .filter(|&s| !info.cached_rotations.contains(&(s as u32)))
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let ctx = secret.context();
    let eval = evaluation_keys(secret, &options.keys)?;
    let mut sent = 0;
    for step in missing {
        let bytes = eval.rotation_key(ctx, step)?.to_bytes(ctx);
        sent += bytes.len();
        client
            .register_keys(KeysUpload { keys: bytes })
            .await
            .map_err(|s| veil_net::Error::call("register rotation keys", s))?;
    }
    Ok(sent)
}

/// Encrypts and sends every input, batch by batch and feature by feature; the bytes sent.
/// Features are encrypted a few at a time in parallel, and sent in order.
fn send_inputs(
    keys: &Keys,
    x: ArrayView2<'_, f64>,
    layout: &Layout,
    tx: &tokio::sync::mpsc::Sender<ScoreRequest>,
) -> Result<usize> {
    let (rows, features) = x.dim();
    let group = rayon::current_num_threads().max(1) * 2;
    let mut sent = 0;
    for batch in 0..layout.batches {
        let lo = batch * layout.rows_per_batch;
        let hi = (lo + layout.rows_per_batch).min(rows);
        if let (Some(block), Keys::Ckks { secret }) = (layout.block, keys) {
            let ctx = secret.context();
            let rows: Vec<Vec<f64>> = (lo..hi).map(|r| x.row(r).to_vec()).collect();
            let pt = encode(ctx, &packed::pack(&rows, block), packed::DEPTH, ctx.scale())?;
            let bytes = secret.encrypt_to_bytes(&pt)?;
            sent += bytes.len();
            let input = Input {
                batch: batch as u32,
                feature: 0,
                ciphertexts: vec![bytes],
            };
            let message = ScoreRequest {
                body: Some(score_request::Body::Input(input)),
            };
            if tx.blocking_send(message).is_err() {
                return Ok(sent);
            }
            continue;
        }
        for start in (0..features).step_by(group) {
            let end = (start + group).min(features);
            let inputs: Vec<Input> = (start..end)
                .into_par_iter()
                .map(|j| {
                    let column: Vec<f64> = x
                        .column(j)
                        .slice_axis(Axis(0), Slice::from(lo..hi))
                        .to_vec();
                    Ok(Input {
                        batch: batch as u32,
                        feature: j as u32,
                        ciphertexts: encrypt_column(keys, &column, layout)?,
                    })
                })
                .collect::<Result<_>>()?;
            for input in inputs {
                sent += input.ciphertexts.iter().map(Vec::len).sum::<usize>();
                let message = ScoreRequest {
                    body: Some(score_request::Body::Input(input)),
                };
                if tx.blocking_send(message).is_err() {
                    // The service ended the job; its status says why.
                    return Ok(sent);
                }
            }
        }
    }
    Ok(sent)
}

fn encrypt_column(keys: &Keys, column: &[f64], layout: &Layout) -> Result<Vec<Vec<u8>>> {
    match keys {
        Keys::Ckks { secret } => {
            let ctx = secret.context();
            let level = layout.level.unwrap_or(0);
            Ok(vec![secret.encrypt_to_bytes(&encode(
                ctx,
                column,
                level,
                ctx.scale(),
            )?)?])
        }
        Keys::Paillier(sk) => {
            let pk = sk.public();
            column
                .par_iter()
                .map(|&v| Ok(pk.to_bytes(&pk.encrypt_real(v)?.ciphertext)))
                .collect()
        }
    }
}

/// Decrypts one reply into its rows of `z`.
fn place(
    keys: &Keys,
    reply: &ScoreReply,
    layout: &Layout,
    rows: usize,
    z: &mut Array2<f64>,
    received: &mut [Vec<bool>],
) -> Result<()> {
    let (batch, k) = (reply.batch as usize, reply.output as usize);
    let seen = received
        .get_mut(batch)
        .and_then(|b| b.get_mut(k))
        .ok_or_else(|| Error::protocol(format!("a reply for batch {batch} output {k}")))?;
    if *seen {
        return Err(Error::protocol(format!(
            "two replies for batch {batch} output {k}"
        )));
    }
    *seen = true;
    let lo = batch * layout.rows_per_batch;
    let count = layout.rows_per_batch.min(rows - lo);
    let values: Vec<f64> = match keys {
        Keys::Ckks { secret } => {
            let ctx = secret.context();
            let [bytes] = reply.ciphertexts.as_slice() else {
                return Err(Error::protocol("a CKKS reply of several ciphertexts"));
            };
            let ct = Ciphertext::from_bytes(ctx, bytes)?;
            let slots: Vec<f64> = decode(ctx, &secret.decrypt(&ct)?)?
                .into_iter()
                .map(without_noise_bits)
                .collect();
            match layout.block {
                Some(block) => packed::unpack(&slots, count, block),
                None => slots,
            }
        }
        Keys::Paillier(sk) => {
            if reply.ciphertexts.len() != count || reply.fraction_bits > 200 {
                return Err(Error::protocol(format!(
                    "a Paillier reply of {} values at {} bits for {count} rows",
                    reply.ciphertexts.len(),
                    reply.fraction_bits
                )));
            }
            reply
                .ciphertexts
                .par_iter()
                .map(|b| {
                    Ok(sk.decrypt_real(&EncryptedNumber {
                        ciphertext: sk.public().from_bytes(b)?,
                        scale: reply.fraction_bits,
                    }))
                })
                .collect::<Result<_>>()?
        }
    };
    for (r, v) in values.into_iter().take(count).enumerate() {
        z[[lo + r, k]] = v;
    }
    Ok(())
}

/// The grid decrypted CKKS values are rounded to: 2^-20, about 10⁻⁶, the precision a fresh
/// ciphertext has at Δ = 2^40 (docs/he.md).
const CKKS_RESULT_GRID: f64 = 1.0 / (1u64 << 20) as f64;

/// A decrypted CKKS value rounded to [`CKKS_RESULT_GRID`], dropping the lowest bits of the
/// encryption's noise. Not a defence against key recovery from decryptions handed back
/// (Li and Micciancio, EUROCRYPT 2021): a reply's noise is well above the grid, and the
/// rounded value still depends on it (docs/he.md).
fn without_noise_bits(value: f64) -> f64 {
    (value / CKKS_RESULT_GRID).round() * CKKS_RESULT_GRID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypted_values_lose_their_noise_bits() {
        // A value and the same value with noise below the grid decrypt to one number.
        let v = 0.731_058_578_630_004_9_f64;
        let on_grid = 0.75;
        assert_eq!(without_noise_bits(on_grid + 3.0e-8), on_grid);
        assert_eq!(without_noise_bits(on_grid - 3.0e-8), on_grid);
        assert!((without_noise_bits(v) - v).abs() <= CKKS_RESULT_GRID / 2.0);
        assert_eq!(
            without_noise_bits(v) / CKKS_RESULT_GRID,
            (v / CKKS_RESULT_GRID).round()
        );
    }

    #[test]
    fn the_layout_is_the_cheaper_one_for_the_model_and_the_rows() {
        // Breast cancer (30 features, one output) at N = 8192: packed for one row up to the
        // rows whose rotations cost as much as a ciphertext per feature.
        assert_eq!(choose_layout(30, 1, 0, 1, 4096, 2), FEATURE_PACKED);
        assert_eq!(choose_layout(30, 1, 0, 500, 4096, 2), FEATURE_PACKED);
        assert_eq!(choose_layout(30, 1, 0, 569, 4096, 2), ROW_PER_SLOT);
        assert_eq!(choose_layout(30, 1, 0, 4096, 4096, 2), ROW_PER_SLOT);
        // Ten outputs make rotations dearer; hidden layers and one level rule it out.
        assert_eq!(choose_layout(64, 10, 0, 1, 4096, 2), FEATURE_PACKED);
        assert_eq!(choose_layout(64, 10, 0, 100, 4096, 2), ROW_PER_SLOT);
        assert_eq!(choose_layout(30, 1, 1, 1, 8192, 6), ROW_PER_SLOT);
        assert_eq!(choose_layout(30, 1, 0, 1, 4096, 1), ROW_PER_SLOT);
        assert_eq!(choose_layout(5000, 1, 0, 1, 4096, 2), ROW_PER_SLOT);
    }
}
