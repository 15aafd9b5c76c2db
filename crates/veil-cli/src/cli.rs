//! The command-line grammar: `veil <noun> <verb>`, plus the everyday model verbs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use veil_ml::{Activation, ModelKind, OptimizerKind};

/// The top-level help after the commands; the exit codes are added from `exit::CODES`.
pub const AFTER_HELP: &str = "\
DATA is a CSV file (.csv, or gzip-compressed .csv.gz), a Parquet file (.parquet), or an
embedded dataset: builtin:breast-cancer (label malignant), builtin:digits (label digit).

Examples:
  veil demo
  veil data inspect builtin:breast-cancer
  veil train --data builtin:breast-cancer --label malignant --seed 42 --out bc.model
  veil eval --model bc.model --data builtin:breast-cancer
  veil predict --model bc.model --data patients.csv --out predictions.csv
  veil key new -o alice.key
  veil vault seal --to alice.pub --sign me.key train.csv -o train.csv.veil
  veil vault open -i alice.key --expect-signer me.pub train.csv.veil -o train.csv";

/// Veil keeps machine-learning data and models safe across their whole life: sealed files
/// for named recipients, a signed provenance log, differentially private statistics and
/// training, federated learning with secure aggregation, and inference on encrypted data.
#[derive(Debug, Parser)]
#[command(name = "veil", version, propagate_version = true)]
pub struct Cli {
    /// Print exactly one JSON object on stdout instead of a human report.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log what happens on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, convert and split tables.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a model and report its test metrics.
    Train(Box<TrainArgs>),
    /// Evaluate a model on labelled data.
    Eval(EvalArgs),
    /// Predict with a model.
    Predict(PredictArgs),
    /// Run the main job on embedded data and print a short report.
    Demo(DemoArgs),
    /// Create, show, split and combine identities.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Seal, open, inspect and re-address encrypted files.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Record datasets, transformations and models in a signed, append-only log; prove and
    /// verify entries; sign models.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Differential privacy: DP SQL queries under a persistent budget, and privacy
    /// accounting for DP-SGD.
    #[command(subcommand)]
    Dp(DpCommand),
    /// A development PKI for the network commands: a CA, and certificates for named parties.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Federated learning: train one model across parties that keep their data.
    #[command(subcommand)]
    Fl(FlCommand),
    /// Homomorphic encryption: compute on data that stays encrypted.
    #[command(subcommand)]
    He(HeCommand),
}

/// `veil he ...`
#[derive(Debug, Subcommand)]
pub enum HeCommand {
    /// Make a key set: the secret key (kept by the data owner, mode 0600) and, in separate
    /// files, the public key and (CKKS) the evaluation keys a server needs.
    #[command(after_help = "\
Files written in KEYS (a directory, created if missing; existing keys are kept unless
--force): CKKS — secret.key, public.key, evaluation.key (relinearisation and Galois keys
for every rotation by a power of two, so one key set serves any model); Paillier —
secret.json, public.json. Formats: docs/formats.md.

Examples:
  veil he keygen --out keys/
  veil he keygen --out keys-paillier/ --scheme paillier")]
    Keygen(HeKeygenArgs),
    /// Time each primitive: CKKS at N = 8192 ([60, 40, 40, 60]) and 16384 ([60, 40×6, 60])
    /// — encrypt, multiply+relinearise+rescale, rotate, decrypt — and Paillier-2048 —
    /// encrypt, decrypt, add. Medians; keys are made first and not timed.
    #[command(after_help = "\
Examples:
  veil he bench
  veil he bench --json --repeat 50")]
    Bench(HeBenchArgs),
    /// Serve a model for encrypted inference: clients send ciphertexts of their rows and get
    /// back ciphertexts of the scores. The service never receives a secret key, a plaintext
    /// feature or a plaintext score; the model's weights and standardisation stay here.
    #[command(after_help = "\
Evaluable models: logistic, softmax and linear regression (CKKS or Paillier) and MLPs with
the square activation (CKKS; `veil train --model mlp --activation square`). A model with
relu, or a DP-SGD model whose standardisation clamps, is refused at start with the layer
and the reason. One hidden layer needs CKKS keys made with --poly-degree 16384.

Examples:
  veil pki init pki
  veil pki issue pki --name scorer --ip 127.0.0.1
  veil pki issue pki --name clinic
  veil he serve --model cancer.model --listen 127.0.0.1:7443 --tls pki --name scorer")]
    Serve(HeServeArgs),
    /// Score a table's rows on an encrypted-inference service: encrypt each row, send the
    /// ciphertexts, decrypt the scores; prints predictions as `veil predict` does.
    #[command(after_help = "\
Rows are packed automatically: with CKKS, either one ciphertext per feature holding up to
N/2 rows (4,096 at N = 8192), or, for a linear model and few rows, a row's features side by
side in one ciphertext (the service then needs rotation keys, registered the first time);
inputs are encrypted at the level the model needs. With Paillier, one ciphertext per value.
The service's answer is checked to cover every row.

Examples:
  veil he keygen --out keys/
  veil he infer --server 127.0.0.1:7443 --tls pki --name clinic --keys keys/ --data builtin:breast-cancer --json
  veil he infer --server 127.0.0.1:7443 --tls pki --name clinic --keys keys-paillier/ --scheme paillier --data patient.csv")]
    Infer(HeInferArgs),
}

/// `veil he serve` options.
#[derive(Debug, Args)]
pub struct HeServeArgs {
    /// The model file to serve (`veil train --out`).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub server: ServerTlsArgs,
}

/// Where a server (the coordinator, the inference service) listens, and its identity.
#[derive(Debug, Args)]
pub struct ServerTlsArgs {
    /// Address to listen on, e.g. 0.0.0.0:7443 (port 0: any free port, reported at start).
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    /// PKI directory with ca.pem, NAME.pem and NAME.key.
    #[arg(long)]
    pub tls: PathBuf,
    /// This server's certificate name.
    #[arg(long)]
    pub name: String,
}

/// `veil he infer` options.
#[derive(Debug, Args)]
pub struct HeInferArgs {
    #[command(flatten)]
    pub peer: ClientTlsArgs,
    /// The key-set directory (`veil he keygen --out`); the secret key never leaves it.
    #[arg(long)]
    pub keys: PathBuf,
    /// Table to score (CSV/Parquet path or builtin:NAME); it needs the model's features.
    #[arg(long)]
    pub data: String,
    /// ckks or paillier (keys of that scheme must be in --keys).
    #[arg(long, default_value = "ckks")]
    pub scheme: veil_he::circuit::Scheme,
    /// Also write the predictions as CSV, as `veil predict --out` does.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// CKKS layout: auto (the cheaper for the model and the row count), row-per-slot (one
    /// feature of up to N/2 rows per ciphertext), or feature-packed (rows side by side,
    /// summed with rotations; linear models, few rows).
    #[arg(long, default_value = "auto")]
    pub layout: veil_he::service::LayoutChoice,
}

/// `veil he keygen` options.
#[derive(Debug, Args)]
pub struct HeKeygenArgs {
    /// Directory for the key files.
    #[arg(long)]
    pub out: PathBuf,
    /// ckks (vectors of reals, multiplications, rotations) or paillier (sums).
    #[arg(long, default_value = "ckks")]
    pub scheme: veil_he::circuit::Scheme,
    /// CKKS ring degree: 8192 (two multiplications) or 16384 (six).
    #[arg(long, default_value_t = 8192)]
    pub poly_degree: usize,
    /// Paillier modulus size: 2048 or 3072.
    #[arg(long, default_value_t = 2048)]
    pub bits: u32,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

/// `veil he bench` options.
#[derive(Debug, Args)]
pub struct HeBenchArgs {
    /// Runs of each primitive (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
}

/// `veil fl ...`
#[derive(Debug, Subcommand)]
pub enum FlCommand {
    /// Run a coordinator and N clients on this machine, each client with its own shard of the
    /// data, every message over gRPC with mutual TLS on loopback; compare with training on
    /// the pooled data.
    #[command(after_help = "\
A fifth of the rows (stratified by --seed) is held out for testing; the rest is dealt to the
clients, evenly at random (iid) or per class by a Dirichlet(ALPHA) draw (small ALPHA: each
client sees few classes). The clients standardise with global statistics the coordinator
gathers from their counts, sums and sums of squares, then train locally each round; the
coordinator averages their updates weighted by their row counts (FedAvg).

Examples:
  veil fl simulate --data builtin:breast-cancer --label malignant --clients 5 --split dirichlet:0.5 --rounds 20
  veil fl simulate --data builtin:digits --label digit --model mlp --clients 10 --rounds 30 --json")]
    Simulate(Box<FlSimulateArgs>),
    /// Coordinate a federated training run: wait for clients over mutual TLS, run the rounds,
    /// checkpoint every round in --state, write the model to --out.
    #[command(after_help = "\
The coordinator authenticates clients by their certificates (DIR/ca.pem is the trust anchor;
DIR/NAME.pem and DIR/NAME.key are its own). A coordinator restarted with the same --state
resumes after the last completed round. Ctrl-C stops it cleanly; the state is kept.

Example:
  veil pki init pki && veil pki issue pki --name coordinator --ip 10.0.0.5
  veil fl serve --listen 0.0.0.0:7070 --tls pki --name coordinator --model logreg --rounds 20 \\
    --clients-per-round 3 --min-clients 3 --secagg --state fl-state --out model.veil")]
    Serve(Box<FlServeArgs>),
    /// Take part in a federated training run as a client: the data stays here.
    #[command(after_help = "\
Example:
  veil fl join --server 10.0.0.5:7070 --tls pki --name hospital-a --data patients.csv --label outcome \\
    --require-secagg --max-epsilon 8 --state fl-client")]
    Join(FlJoinArgs),
    /// Time one secure-aggregation round: N clients with updates of D parameters, a fraction
    /// dropping out after dealing their shares; prints coordinator and per-client time and
    /// bytes uploaded per client.
    #[command(after_help = "\
The round runs stage by stage in this process (no network), so the times are the
protocol's computation: key agreement, Shamir sharing, share encryption, mask expansion,
and on the coordinator the rebuilding of the dropped clients' keys and unmasking. Upload
sizes are those of the gRPC messages. The dropped clients leave after sharing and before
sending their masked vectors, which makes the coordinator remove their pairwise masks.

Examples:
  veil fl bench --clients 100 --params 100000 --dropout 0.1
  veil fl bench --clients 1000 --params 100000 --secagg-neighbours 20 --json")]
    Bench(FlBenchArgs),
}

/// `veil fl bench` options.
#[derive(Debug, Args)]
pub struct FlBenchArgs {
    /// Clients in the round.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Parameters in each client's update.
    #[arg(long, default_value_t = 100_000)]
    pub params: usize,
    /// Fraction of the clients that drop out after sharing.
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
    /// SecAgg+: each client shares with K neighbours only.
    #[arg(long, value_name = "K")]
    pub secagg_neighbours: Option<usize>,
    /// The threshold t [default: ⌊2m/3⌋+1 of the m clients a secret is shared among].
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Seed of the updates and of who drops out.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The model and training options shared by `veil fl serve` and `veil fl simulate`.
#[derive(Debug, Args)]
pub struct FlModelArgs {
    /// Model: logreg, softmax or mlp.
    #[arg(long, default_value = "logreg")]
    pub model: ModelKind,
    /// Hidden layer widths of an MLP, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub hidden: Vec<usize>,
    /// Hidden activation of an MLP: relu or square.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Rounds of federated averaging.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Local epochs per round.
    #[arg(long, default_value_t = 5)]
    pub local_epochs: usize,
    /// Local learning rate (SGD).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Local batch size.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Seed of the initial weights, client selection and local batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// FedProx's proximal weight μ: local training minimises loss + μ/2·‖w − w_global‖²,
    /// which keeps clients with unlike data from drifting apart (0: FedAvg).
    #[arg(long, default_value_t = 0.0)]
    pub mu: f64,
    /// How updates are combined without --secagg: fedavg (mean weighted by rows), or,
    /// against poisoned updates, median or trimmed-mean (coordinate-wise, unweighted).
    #[arg(long, default_value = "fedavg", conflicts_with = "secagg")]
    pub aggregator: veil_fl::aggregate::Aggregator,
    /// With --aggregator trimmed-mean: the fraction of values dropped from each side.
    #[arg(long, default_value_t = 0.2)]
    pub trim: f64,
    /// Aggregate the updates securely: the coordinator learns only their sum.
    #[arg(long)]
    pub secagg: bool,
    /// With --secagg: the fewest clients a round may be left with, and the shares that
    /// rebuild a secret [default: ⌊2n/3⌋+1 of the round's n clients; with
    /// --secagg-neighbours K, ⌊2(K+1)/3⌋+1 within each client's neighbourhood].
    #[arg(long, requires = "secagg")]
    pub threshold: Option<usize>,
    /// With --secagg: SecAgg+ — each client shares keys and masks with K neighbours on a
    /// random graph instead of with every other client (K = O(log n), e.g. 14 for 100
    /// clients): client work grows with K, not n, and a round may exceed 255 clients.
    #[arg(long, value_name = "K", requires = "secagg")]
    pub secagg_neighbours: Option<usize>,
    /// With --secagg: distributed DP — each client adds discrete Gaussian noise to its
    /// update so that the unmasked sums are (ε, δ)-DP at the client level over the whole
    /// run (Kairouz et al. 2021). Updates are then averaged unweighted.
    #[arg(long, value_name = "E", requires = "secagg")]
    pub dp_epsilon: Option<f64>,
    /// With --dp-epsilon: δ over the whole run.
    #[arg(long, value_name = "D", default_value_t = 1e-5)]
    pub dp_delta: f64,
    /// With --dp-epsilon: the L2 norm each client's update is clipped to.
    #[arg(long, value_name = "C", default_value_t = 1.0)]
    pub dp_clip: f64,
    /// With --dp-epsilon: a feature's public range, which standardises it (repeatable).
    #[arg(long, value_name = "COL=LO:HI", value_parser = parse_bounds, allow_hyphen_values = true, requires = "dp_epsilon")]
    pub bounds: Vec<(String, f64, f64)>,
    /// With --secagg: each coordinate of an update is clipped to ±CLIP before encoding.
    #[arg(long, default_value_t = 10.0, requires = "secagg")]
    pub clip: f64,
}

/// `veil fl serve` options.
#[derive(Debug, Args)]
pub struct FlServeArgs {
    #[command(flatten)]
    pub server: ServerTlsArgs,
    #[command(flatten)]
    pub train: FlModelArgs,
    /// Clients asked to train each round.
    #[arg(long)]
    pub clients_per_round: usize,
    /// Connected clients needed before training starts.
    #[arg(long)]
    pub min_clients: usize,
    /// Directory for the checkpoint (state.json), created if missing.
    #[arg(long)]
    pub state: PathBuf,
    /// Where to write the final model.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds to wait for each client's answer before leaving it out of a step.
    #[arg(long, default_value_t = 120)]
    pub answer_timeout: u64,
}

/// `veil fl join` options.
#[derive(Debug, Args)]
pub struct FlJoinArgs {
    #[command(flatten)]
    pub peer: ClientTlsArgs,
    /// This client's data (path or builtin:NAME).
    #[arg(long)]
    pub data: String,
    /// The label column.
    #[arg(long)]
    pub label: String,
    /// Local epochs per round [default: the coordinator's].
    #[arg(long)]
    pub local_epochs: Option<usize>,
    /// Keep this client's record of its distributed-DP contributions in DIR [default: memory].
    #[arg(long, value_name = "DIR")]
    pub state: Option<std::path::PathBuf>,
    /// Answer only under secure aggregation: never send an update or statistics in clear.
    #[arg(long)]
    pub require_secagg: bool,
    /// Train only under distributed DP, spending at most E (at δ = 1e-5) over all runs.
    #[arg(long, value_name = "E", requires = "state")]
    pub max_epsilon: Option<f64>,
}

/// How a client reaches its server (the coordinator, the inference service) over mutual TLS.
#[derive(Debug, Args)]
pub struct ClientTlsArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    pub server: veil_net::transport::ServerAddr,
    /// PKI directory with ca.pem, NAME.pem and NAME.key.
    #[arg(long)]
    pub tls: PathBuf,
    /// This client's certificate name.
    #[arg(long)]
    pub name: String,
    /// The server's certificate name [default: the HOST of --server].
    #[arg(long)]
    pub server_name: Option<String>,
    /// Seconds to keep trying to reach the server before giving up.
    #[arg(long, default_value_t = 60)]
    pub wait: u64,
}

/// `veil fl simulate` options.
#[derive(Debug, Args)]
pub struct FlSimulateArgs {
    /// The data (path or builtin:NAME).
    #[arg(long)]
    pub data: String,
    /// The column to predict.
    #[arg(long)]
    pub label: String,
    /// Number of clients.
    #[arg(long)]
    pub clients: usize,
    /// How rows are dealt: iid or dirichlet:ALPHA.
    #[arg(long, default_value = "iid")]
    pub split: veil_fl::simulate::Partition,
    /// Clients asked to train each round [default: all].
    #[arg(long)]
    pub clients_per_round: Option<usize>,
    /// Each selected client drops out of a round with this probability, at a random step
    /// of the protocol (it closes its connection and joins again later).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    #[command(flatten)]
    pub train: FlModelArgs,
}

/// `veil pki ...`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a certificate authority in DIR: DIR/ca.pem (give it to every party) and
    /// DIR/ca.key (keep it with the operator).
    #[command(after_help = "\
The CA (ECDSA P-256, valid until 2035) can issue certificates only to end entities. Its key
can mint any identity in the deployment: do not copy it to the machines that run parties.

Example:
  veil pki init pki/")]
    Init {
        /// The directory (created if missing).
        dir: PathBuf,
        /// Replace an existing CA (every certificate it issued stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue DIR/NAME.pem and DIR/NAME.key, signed by the CA in DIR, for TLS in its --role.
    #[command(after_help = "\
NAME is the identity peers authenticate: the certificate's first DNS name. Network commands
take --tls DIR --name NAME and use exactly DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key; copy
those three files (never ca.key) to the party's machine.

Examples:
  veil pki issue pki/ --name coordinator --dns fl.example.org --ip 10.0.0.5
  veil pki issue pki/ --name hospital-a --role client")]
    Issue {
        /// The CA's directory.
        dir: PathBuf,
        /// The party's name: lowercase letters, digits and hyphens (dots between labels).
        #[arg(long)]
        name: String,
        /// An IP address the party is reached at (repeatable), e.g. 127.0.0.1.
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        /// Another DNS name the party is reached at (repeatable).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// client (cannot serve: cannot impersonate a server), server, or both.
        #[arg(long, default_value = "both")]
        role: veil_net::pki::Role,
        /// Replace an existing certificate and key of that name.
        #[arg(long)]
        force: bool,
    },
}

/// The parameters of DP-SGD's subsampled Gaussian mechanism.
#[derive(Debug, Args)]
pub struct DpSgdParams {
    /// Probability that each example is in a step's batch (Poisson sampling), 0–1.
    #[arg(long, allow_negative_numbers = true)]
    pub sampling_rate: f64,
    /// Number of training steps.
    #[arg(long)]
    pub steps: u64,
    /// δ: the probability the ε guarantee may fail (e.g. 1e-5; below 1/number of records).
    #[arg(long, allow_negative_numbers = true)]
    pub delta: f64,
    /// rdp (Rényi DP, as Google's dp_accounting RdpAccountant) or pld (privacy loss
    /// distributions: tight, slower).
    #[arg(long, default_value = "rdp")]
    pub accountant: veil_dp::accountant::Accountant,
}

/// `veil dp budget ...`
#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Set, once, the total (ε, δ) that releases about a dataset may spend, and whom it protects.
    #[command(after_help = "\
A budget belongs to the table's content (the same rows as gzip, Parquet or reordered share
it), is set once and never reset, and protects each row, or each value of --privacy-unit COL
with at most K rows (checked): row-level releases (DP-SGD, queries without --privacy-unit)
are then charged K·ε and δ·K·e^((K−1)ε) (group privacy); other units are refused.

Examples:
  veil dp budget set --data patients.csv --epsilon 3 --delta 1e-6 --budget dp-budget/
  veil dp budget set --data visits.csv --privacy-unit patient_id --max-contributions 5 \\
    --epsilon 3 --delta 1e-6 --name \"visits 2026\" --budget dp-budget/")]
    Set {
        /// The dataset (path or builtin:NAME).
        #[arg(long)]
        data: String,
        /// Total ε.
        #[arg(long, allow_negative_numbers = true)]
        epsilon: f64,
        /// Total δ.
        #[arg(long, allow_negative_numbers = true)]
        delta: f64,
        /// The column whose values the budget protects (a patient id) [default: each row].
        #[arg(long, value_name = "COL", requires = "max_contributions")]
        privacy_unit: Option<String>,
        /// The most rows any one value of --privacy-unit has in the data.
        #[arg(long, value_name = "K", requires = "privacy_unit")]
        max_contributions: Option<u64>,
        /// A name for people [default: the --data argument].
        #[arg(long)]
        name: Option<String>,
        /// The budget directory (budget.db inside; created if missing).
        #[arg(long, value_name = "DIR")]
        budget: PathBuf,
    },
    /// Show a dataset's budget, what was spent and on which releases.
    #[command(
        after_help = "Example:\n  veil dp budget show --data patients.csv --budget dp-budget/ --json"
    )]
    Show {
        /// The dataset (path or builtin:NAME).
        #[arg(long)]
        data: String,
        /// The budget directory.
        #[arg(long, value_name = "DIR")]
        budget: PathBuf,
    },
}

/// `veil dp ...`
#[derive(Debug, Subcommand)]
pub enum DpCommand {
    /// ε spent by DP-SGD: T steps of the Poisson-subsampled Gaussian mechanism.
    #[command(after_help = "\
Agrees with Google's dp_accounting 0.6 (RdpAccountant, PLDAccountant; add-or-remove-one
neighbours); ε is rounded up.

Examples:
  veil dp epsilon --sampling-rate 0.01 --noise-multiplier 4 --steps 10000 --delta 1e-5
  veil dp epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 --steps 14062 --delta 1e-5 --accountant pld --json")]
    Epsilon {
        /// Noise standard deviation divided by the clipping norm.
        #[arg(long, allow_negative_numbers = true)]
        noise_multiplier: f64,
        #[command(flatten)]
        params: DpSgdParams,
    },
    /// Set or show a dataset's persistent privacy budget.
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Answer an aggregate SQL query with differential privacy: noisy counts, sums,
    /// means, variances and percentiles, each with a 95% interval.
    Query(Box<DpQueryArgs>),
    /// The smallest noise multiplier that keeps DP-SGD within a target ε.
    #[command(after_help = "\
Example:
  veil dp calibrate --sampling-rate 0.01 --steps 10000 --epsilon 1 --delta 1e-5")]
    Calibrate {
        /// The ε to stay within.
        #[arg(long, allow_negative_numbers = true)]
        epsilon: f64,
        #[command(flatten)]
        params: DpSgdParams,
    },
}

/// `veil dp query`
#[derive(Debug, Args)]
#[command(after_help = "\
The query is SELECT <GROUP BY columns and aggregates> FROM data [WHERE ...] [GROUP BY ...].
Aggregates: COUNT(*), COUNT(col), SUM, AVG, VARIANCE, STDDEV, MEDIAN, and
PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY col); all but COUNT need --bounds for their column,
and values are clamped to them. Filters: =, <>, <, <=, >, >=, AND, OR, NOT, IN, BETWEEN,
IS [NOT] NULL. Joins, subqueries and window functions are refused.

Each privacy unit (a --privacy-unit value; else each row) keeps at most --max-contributions
rows. GROUP BY releases every key of --keys; without keys, groups are found by partition
selection, which needs --delta. ε is split evenly over the noisy measurements; the split is
printed. Intervals hold the noise-free answer on the clamped, bounded data with
probability 95%. The query is charged to the dataset's budget (--budget DIR, or the
directory in VEIL_BUDGET; see `veil dp budget`) and refused, before any noise, if it would
exceed it; --no-budget releases without any budget.

Examples:
  veil dp query --data builtin:breast-cancer --epsilon 1 --no-budget \\
    --sql \"SELECT malignant, COUNT(*), AVG(radius_mean) FROM data GROUP BY malignant\" \\
    --keys malignant=0,1 --bounds radius_mean=5:30
  veil dp query --data visits.csv --privacy-unit patient_id --max-contributions 5 \\
    --sql \"SELECT sex, COUNT(*), MEDIAN(age) FROM data WHERE age > 18 GROUP BY sex\" \\
    --bounds age=0:120 --epsilon 1 --delta 1e-6 --budget dp-budget/ --json")]
pub struct DpQueryArgs {
    /// The table (CSV, Parquet or builtin:NAME); in SQL it is called data.
    #[arg(long)]
    pub data: String,
    /// The query.
    #[arg(long)]
    pub sql: String,
    /// ε of the whole query (split over its measurements).
    #[arg(long, allow_negative_numbers = true)]
    pub epsilon: f64,
    /// δ for partition selection (GROUP BY without --keys) [default: 0].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub delta: f64,
    /// The column that identifies a person (or other unit to protect) [default: each row is
    /// a unit].
    #[arg(long, value_name = "COL")]
    pub privacy_unit: Option<String>,
    /// The most rows one privacy unit contributes; more are dropped at random [default: 1].
    #[arg(long, value_name = "K", requires = "privacy_unit")]
    pub max_contributions: Option<u64>,
    /// Public bounds of a column: values are clamped to [LO, HI]. Repeat for more columns.
    #[arg(long, value_name = "COL=LO:HI", value_parser = parse_bounds, allow_hyphen_values = true)]
    pub bounds: Vec<(String, f64, f64)>,
    /// The public keys of a GROUP BY column, all released. Repeat for more columns.
    #[arg(long, value_name = "COL=A,B,...", value_parser = parse_keys)]
    pub keys: Vec<(String, Vec<String>)>,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

fn parse_bounds(s: &str) -> Result<(String, f64, f64), String> {
    let bad = || format!("\"{s}\" is not COL=LO:HI (for example age=0:120)");
    let (col, range) = s.split_once('=').ok_or_else(bad)?;
    let (lo, hi) = range.split_once(':').ok_or_else(bad)?;
    let (lo, hi): (f64, f64) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if col.is_empty() || !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(format!("{s}: needs a column and finite LO < HI"));
    }
    Ok((col.to_string(), lo, hi))
}

fn parse_keys(s: &str) -> Result<(String, Vec<String>), String> {
    let (col, keys) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not COL=A,B,... (for example sex=F,M)"))?;
    let keys: Vec<String> = keys.split(',').map(str::to_string).collect();
    if col.is_empty() || keys.iter().any(String::is_empty) {
        return Err(format!("{s}: needs a column and non-empty keys"));
    }
    Ok((col.to_string(), keys))
}

/// `--ledger DIR`: record what a command did in a ledger.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// Record this step in the ledger in DIR: inputs become parents (found by content digest,
    /// or logged as datasets first), outputs the new entry's subjects.
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
}

const LEDGER_HELP: &str = "\
A ledger is a directory: ledger.db (SQLite), log.key (the log's Ed25519 signing key, mode
0600) and log.vkey (its public verifier key, all an auditor needs). Entries have a kind
(dataset, transform, model, evaluation, dp-release, fl-round, mpc-session, he-inference,
signature), subjects (SHA-256 of files; a directory is hashed as a manifest of its files),
parent entries and key=value metadata. Formats: docs/formats.md.

Examples:
  veil ledger init prov --origin example.com/veil/prov
  veil ledger add prov --kind dataset --file train.csv --meta source=hospital-a
  veil ledger add prov --kind model --file bc.model --parent 0 --sign me.key
  veil ledger prove prov --index 1 -o bc.proof
  veil ledger entry prov --index 1 --raw -o bc.entry
  veil ledger verify --vkey prov/log.vkey --proof bc.proof --entry bc.entry --file bc.model
  veil ledger lineage prov 1 --dot | dot -Tsvg > lineage.svg
  veil ledger audit prov";

/// `veil ledger add`
#[derive(Debug, Args)]
pub struct LedgerAddArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    /// What the entry records: dataset, transform, model, evaluation, dp-release,
    /// fl-round, mpc-session, he-inference or signature.
    #[arg(long)]
    pub kind: String,
    /// A file (or directory) the entry is about; repeatable.
    #[arg(long = "file", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// A name for people [default: the first file's name].
    #[arg(long)]
    pub name: Option<String>,
    /// The index of an entry this one derives from; repeatable.
    #[arg(long = "parent", value_name = "INDEX")]
    pub parents: Vec<u64>,
    /// Free metadata, KEY=VALUE; repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Sign the entry as this Veil identity.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    #[command(flatten)]
    pub key_passphrase: KeyPassphraseArgs,
}

/// `veil ledger ...`
#[derive(Debug, Subcommand)]
#[command(after_help = LEDGER_HELP)]
pub enum LedgerCommand {
    /// Create a ledger directory and the log's signing key.
    #[command(after_help = "\
The key is kept unprotected (mode 0600) so that checkpoints can be signed unattended;
--passphrase-file seals it under a passphrase, which commands that sign then need.

Example:
  veil ledger init prov --origin example.com/veil/prov")]
    Init {
        /// The ledger directory (created if missing; must not hold a ledger).
        dir: PathBuf,
        /// The log's name: the first line of its checkpoints and the name of its key.
        #[arg(long)]
        origin: String,
        /// Protect log.key with the passphrase in this file (first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Append an entry; prints its index and leaf hash.
    #[command(after_help = "\
Examples:
  veil ledger add prov --kind dataset --file train.csv --meta source=hospital-a
  veil ledger add prov --kind model --file model-dir/ --parent 0 --parent 1 --sign me.key")]
    Add(LedgerAddArgs),
    /// Sign and print a checkpoint of the log (origin, size, root hash).
    #[command(after_help = "Example:\n  veil ledger checkpoint prov > checkpoint.txt")]
    Checkpoint {
        /// The ledger directory.
        dir: PathBuf,
        /// The passphrase of a protected log key, in this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Prove that an entry is in the log (tlog-proof), or that the log grew from an
    /// earlier size without rewriting it (consistency proof).
    #[command(after_help = "\
Examples:
  veil ledger prove prov --index 3 -o entry3.proof
  veil ledger prove prov --from 2 --json")]
    Prove {
        /// The ledger directory.
        dir: PathBuf,
        /// The entry to prove (a c2sp.org/tlog-proof@v1 text).
        #[arg(long, conflicts_with = "from", required_unless_present = "from")]
        index: Option<u64>,
        /// The earlier tree size to prove consistency from.
        #[arg(long)]
        from: Option<u64>,
        /// Write the proof to this file instead of stdout.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// The passphrase of a protected log key, in this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Show an entry, or write its exact bytes (the Merkle leaf data).
    #[command(after_help = "\
Examples:
  veil ledger entry prov --index 3
  veil ledger entry prov --index 3 --raw -o entry3.bin")]
    Entry {
        /// The ledger directory.
        dir: PathBuf,
        /// The entry's index.
        #[arg(long)]
        index: u64,
        /// The exact encoded bytes instead of a readable view.
        #[arg(long)]
        raw: bool,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Verify a proof offline: the checkpoint's signature, the entry's inclusion, and
    /// optionally that files are the entry's subjects. Needs no ledger.
    #[command(after_help = "\
Example:
  veil ledger verify --vkey log.vkey --proof entry3.proof --entry entry3.bin --file model.safetensors")]
    Verify {
        /// The log's verifier key (log.vkey).
        #[arg(long)]
        vkey: PathBuf,
        /// The tlog-proof file.
        #[arg(long)]
        proof: PathBuf,
        /// The entry's exact bytes (from `veil ledger entry --raw`).
        #[arg(long)]
        entry: PathBuf,
        /// A file (or directory) that must be one of the entry's subjects; repeatable.
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Require the entry to be signed by this Veil public identity (.pub).
        #[arg(long, value_name = "PUB")]
        expect_signer: Option<PathBuf>,
    },
    /// Verify offline that the log grew from an old checkpoint without rewriting it: a
    /// consistency proof from `veil ledger prove --from M --json`.
    #[command(after_help = "\
Keep a checkpoint (`veil ledger checkpoint DIR > old.checkpoint`); later, ask the log for a
consistency proof from its size and check it. Exits 10 if the log was rewritten or forked.

Example:
  veil ledger prove prov --from 3 --json > grow.json
  veil ledger verify-consistency --vkey log.vkey --old old.checkpoint --proof grow.json")]
    VerifyConsistency {
        /// The log's verifier key (log.vkey).
        #[arg(long)]
        vkey: PathBuf,
        /// The signed checkpoint you kept.
        #[arg(long)]
        old: PathBuf,
        /// The consistency proof (JSON from `prove --from`).
        #[arg(long)]
        proof: PathBuf,
    },
    /// Show where an entry came from: its parents, their parents, down to the datasets.
    #[command(after_help = "\
Examples:
  veil ledger lineage prov 7
  veil ledger lineage prov 7 --dot | dot -Tsvg > lineage.svg")]
    Lineage {
        /// The ledger directory.
        dir: PathBuf,
        /// The entry.
        index: u64,
        /// Print Graphviz DOT instead of a tree.
        #[arg(long)]
        dot: bool,
    },
    /// List the entries of the log.
    #[command(after_help = "Example:\n  veil ledger list prov --json")]
    List {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// Recompute every leaf and subtree hash from the stored entries and check them, the
    /// subject index and every checkpoint the log signed; exits 10 on any problem.
    #[command(after_help = "\
Checks the checkpoints table, DIR/checkpoint (the newest signed checkpoint, kept outside the
database) and any --checkpoint you kept: a log rewritten along with its hashes no longer has
their roots. A log with entries but no DIR/checkpoint fails unless you give --checkpoint (run
`veil ledger checkpoint` once on a log that was never checkpointed). Reads only; needs no key.

Examples:
  veil ledger audit prov
  veil ledger audit prov --vkey trusted/log.vkey --checkpoint monday.checkpoint")]
    Audit {
        /// The ledger directory.
        dir: PathBuf,
        /// The verifier key to check checkpoints with [default: DIR/log.vkey].
        #[arg(long)]
        vkey: Option<PathBuf>,
        /// A signed checkpoint you kept (from `veil ledger checkpoint`): the log must still
        /// have its root. Repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Sign a model file or directory into an OpenSSF model-signing bundle (ECDSA P-256).
    #[command(after_help = "\
The bundle is what the PyPI model-signing tool writes and reads (`model_signing verify key
MODEL --signature bundle.json --public_key KEY.pub`): a DSSE envelope around an in-toto
statement listing the SHA-256 of every file. Git files (.git, .github, .gitignore,
.gitattributes) and the bundle itself are left out.

Examples:
  veil key new --ecdsa-p256 -o signer.pem
  veil ledger sign-model model-dir/ --key signer.pem -o model.sig.json
  veil ledger sign-model bc.model --key signer.pem -o bc.sig.json --ledger prov")]
    SignModel {
        /// The model: a file or a directory.
        model: PathBuf,
        /// The ECDSA P-256 private key (PEM: PKCS#8 or SEC1, unencrypted).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the bundle (JSON).
        #[arg(short, long)]
        out: PathBuf,
        /// A path inside the model to leave out, relative to its root; repeatable.
        #[arg(long = "ignore-paths", value_name = "PATH")]
        ignore_paths: Vec<String>,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Verify an OpenSSF model-signing bundle against a model and the signer's public key.
    #[command(after_help = "\
Exits 9 if the signature does not verify or any file was changed, added or removed.

Example:
  veil ledger verify-model model-dir/ --bundle model.sig.json --key signer.pub")]
    VerifyModel {
        /// The model: a file or a directory.
        model: PathBuf,
        /// The bundle (JSON).
        #[arg(long, alias = "signature")]
        bundle: PathBuf,
        /// The signer's ECDSA P-256 public key (SPKI PEM).
        #[arg(long, alias = "public-key")]
        key: PathBuf,
        /// A path inside the model to leave out, relative to its root; repeatable.
        #[arg(long = "ignore-paths", value_name = "PATH")]
        ignore_paths: Vec<String>,
    },
}

/// Where the passphrase of a secret identity comes from.
#[derive(Debug, Args)]
pub struct KeyPassphraseArgs {
    /// Read the passphrase of passphrase-protected identities (-i, --sign) from this file
    /// (first line); without it, Veil asks on the terminal.
    #[arg(long, value_name = "FILE")]
    pub key_passphrase_file: Option<PathBuf>,
}

/// How a new secret file is protected.
#[derive(Debug, Args)]
pub struct ProtectionArgs {
    /// Protect the secret file with the passphrase in this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "unprotected")]
    pub passphrase_file: Option<PathBuf>,
    /// Write the secret file in the clear (mode 0600 still applies).
    #[arg(long)]
    pub unprotected: bool,
}

/// `veil key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an identity: NAME.key (secret, mode 0600) and NAME.pub beside it.
    #[command(after_help = "\
The secret file is protected by a passphrase (argon2id + AES-256-GCM), asked on the terminal
or read with --passphrase-file; --unprotected writes it in the clear.

Examples:
  veil key new -o alice.key
  veil key new -o ci.key --unprotected
  veil key new --ecdsa-p256 -o signer.pem

--ecdsa-p256 makes an ECDSA P-256 key for OpenSSF model signing instead: KEY.pem (PKCS#8,
mode 0600, unencrypted, as the OpenSSF tool needs) and KEY.pub (SPKI PEM).")]
    New {
        /// The secret identity file to write; the public file gets the extension .pub.
        #[arg(short, long)]
        out: PathBuf,
        /// Make an ECDSA P-256 signing key (for `veil ledger sign-model`) instead of an identity.
        #[arg(long, conflicts_with_all = ["passphrase_file", "unprotected"])]
        ecdsa_p256: bool,
        #[command(flatten)]
        protection: ProtectionArgs,
    },
    /// Print the key id of a public or secret identity, or of a share.
    #[command(
        after_help = "Examples:\n  veil key show alice.pub\n  veil key show alice.key --json"
    )]
    Show {
        /// The file.
        file: PathBuf,
    },
    /// Split a secret identity into shares, any THRESHOLD of which restore it.
    #[command(
        after_help = "Example:\n  veil key split --shares 5 --threshold 3 alice.key -o shares/"
    )]
    Split {
        /// Number of shares (2 to 255).
        #[arg(long)]
        shares: u8,
        /// Shares needed to restore (2 to --shares).
        #[arg(long)]
        threshold: u8,
        /// The secret identity.
        key: PathBuf,
        /// Directory for share-1 ... share-N (created if missing).
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        passphrase: KeyPassphraseArgs,
    },
    /// Restore a secret identity from shares.
    #[command(
        after_help = "Example:\n  veil key combine shares/share-1 shares/share-3 shares/share-4 -o alice.key"
    )]
    Combine {
        /// Share files.
        #[arg(required = true)]
        shares: Vec<PathBuf>,
        /// The identity file to write.
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        protection: ProtectionArgs,
    },
}

/// Output formats of `veil vault seal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SealFormat {
    /// Veil's sealed format (.veil v1).
    Veil,
    /// age (age-encryption.org/v1), for the age tool.
    Age,
}

/// `veil vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Encrypt a file for recipients (and/or a passphrase), optionally signed.
    #[command(after_help = "\
IN and OUT may be - for stdin and stdout. OUT is replaced atomically, only on success.

Examples:
  veil vault seal --to alice.pub --to bob.pub --sign carol.key train.csv -o train.csv.veil
  veil vault seal --passphrase-file pass.txt model.safetensors -o model.veil
  veil vault seal --format age --to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p data.csv -o data.csv.age")]
    Seal {
        /// Recipient: a .pub file (or, with --format age, an age1... key).
        #[arg(long = "to", value_name = "RECIPIENT")]
        to: Vec<String>,
        /// Also let whoever knows the passphrase in this file open it.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Sign as this secret identity.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "veil")]
        format: SealFormat,
        /// Plaintext bytes per segment (16 B to 64 MiB); the default makes each encrypted
        /// segment, with its 16-byte tag, exactly 1 MiB.
        #[arg(long, default_value_t = (1 << 20) - 16)]
        segment_size: u32,
        #[command(flatten)]
        key_passphrase: KeyPassphraseArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The file to seal, or -.
        input: String,
        /// The sealed file, or -.
        #[arg(short, long)]
        out: String,
    },
    /// Decrypt a sealed (or age) file.
    #[command(after_help = "\
--range OFFSET:LEN decrypts only the segments holding those bytes. With --expect-signer the
sender's signature over the whole file is checked before any plaintext is written out.

Examples:
  veil vault open -i bob.key --expect-signer carol.pub train.csv.veil -o train.csv
  veil vault open -i bob.key --range 1048576:4096 big.veil -o slice.bin
  veil vault open -i age-identity.txt data.csv.age -o data.csv")]
    Open {
        /// Secret identity to open with (a Veil .key or an age identity file); repeatable.
        #[arg(short = 'i', long = "identity", value_name = "KEY")]
        identities: Vec<PathBuf>,
        /// Open with the passphrase in this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Require a valid signature by this public identity.
        #[arg(long, value_name = "PUB")]
        expect_signer: Option<PathBuf>,
        /// Only the plaintext bytes OFFSET..OFFSET+LEN.
        #[arg(long, value_name = "OFFSET:LEN")]
        range: Option<veil_vault::files::ByteRange>,
        #[command(flatten)]
        key_passphrase: KeyPassphraseArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The sealed file, or -.
        input: String,
        /// Where to write the plaintext, or -.
        #[arg(short, long)]
        out: String,
    },
    /// Show a sealed file's version, sizes, recipients and signer (no key needed).
    #[command(
        after_help = "Examples:\n  veil vault inspect train.csv.veil\n  veil vault inspect train.csv.veil --json"
    )]
    Inspect {
        /// The sealed file, or -.
        file: String,
    },
    /// Change the recipients without re-encrypting the payload (a signature stays valid).
    #[command(after_help = "\
Rewrites FILE in place, atomically, unless -o is given. A removed recipient who kept an old
copy (or its file key) can still read that copy; re-seal to revoke.

Example:
  veil vault rewrap -i alice.key --to carol.pub --remove 3f2a9c0d1e2b4a5c train.csv.veil")]
    Rewrap {
        /// A secret identity that can open the file.
        #[arg(short = 'i', long = "identity", value_name = "KEY")]
        identities: Vec<PathBuf>,
        /// Open with the passphrase in this file instead.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Add a recipient (.pub file); repeatable.
        #[arg(long = "to", value_name = "PUB")]
        to: Vec<PathBuf>,
        /// Remove a recipient by key id (or `passphrase`); repeatable.
        #[arg(long, value_name = "KEYID")]
        remove: Vec<String>,
        #[command(flatten)]
        key_passphrase: KeyPassphraseArgs,
        /// The sealed file.
        file: PathBuf,
        /// Write the result here instead of replacing FILE.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Measure raw AES-256-GCM and Veil's sealing speed on this machine (in memory).
    #[command(after_help = "Example:\n  veil vault bench --json")]
    Bench {
        /// MiB of data to seal per measurement.
        #[arg(long, default_value_t = 256)]
        mib: usize,
    },
}

/// `veil data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show the schema, row count and per-column statistics of a table.
    #[command(
        after_help = "Examples:\n  veil data inspect builtin:digits\n  veil data inspect patients.csv.gz --json"
    )]
    Inspect {
        /// The table (path or builtin:NAME).
        data: String,
    },
    /// Write a table as CSV or Parquet (chosen by the output's extension).
    #[command(
        after_help = "Examples:\n  veil data export builtin:breast-cancer -o breast-cancer.parquet\n  veil data export records.parquet -o records.csv"
    )]
    Export {
        /// The table (path or builtin:NAME).
        data: String,
        /// Output file: .csv or .parquet. Replaced atomically, only on success.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Print the SHA-256 digest of files (streamed: any size, constant memory).
    #[command(
        after_help = "Examples:\n  veil data digest train.csv test.csv\n  veil data digest model.safetensors --json"
    )]
    Digest {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Split a table into training and test files (seeded; stratified by the label).
    #[command(
        after_help = "Example:\n  veil data split builtin:breast-cancer --label malignant --seed 42 --train train.csv --test test.csv"
    )]
    Split {
        /// The table (path or builtin:NAME).
        data: String,
        /// Label column to stratify by (omit for a plain random split).
        #[arg(long)]
        label: Option<String>,
        /// Fraction of rows for the test file.
        #[arg(long, default_value_t = 0.2)]
        test_fraction: f64,
        /// Seed of the split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output file for the training rows (.csv or .parquet).
        #[arg(long)]
        train: PathBuf,
        /// Output file for the test rows (.csv or .parquet).
        #[arg(long)]
        test: PathBuf,
    },
}

/// Which columns a command uses.
#[derive(Debug, Args)]
pub struct ColumnArgs {
    /// Feature columns, comma-separated (default: every column but the label and --drop).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Columns to leave out of the features, comma-separated (identifiers, free text, ...).
    #[arg(long, value_delimiter = ',')]
    pub drop: Vec<String>,
}

/// `veil train`
#[derive(Debug, Args)]
#[command(after_help = "\
The defaults train well without tuning: Adam, L2 1e-4, batches of 32; linear models 100
epochs at learning rate 0.01; MLPs one hidden layer of 64 ReLU units, 60 epochs at 0.003.
Features are standardised with statistics of the training rows, and the model file carries
them, so `veil eval` and `veil predict` take raw data.

With --dp the defaults change: batches of 128 rows in expectation (Poisson sampling), 20
epochs, learning rate 0.05 (linear models) or 0.01 (MLPs), clipping norm 1, no L2; the
features are standardised from noisy statistics, and σ is calibrated so that the whole run
spends at most --epsilon. The run is charged to the training data's budget (--budget DIR or
VEIL_BUDGET) before any training, or, with --no-budget, to none. It trains on every row of
--data and reports the model, ε, δ, σ and steps (with the batch size they give n, which is
public), no loss; test metrics only on --test-data (outside the charged table), labelled.

Examples:
  veil train --data builtin:breast-cancer --label malignant --seed 42 --out bc.model
  veil train --data builtin:digits --label digit --model mlp --hidden 64,32 --out digits.model
  veil train --data train.csv --test-data test.csv --label outcome --drop patient_id --out m.model --json
  veil train --data train.csv --test-data test.csv --label malignant --classes 0,1 --dp --epsilon 1 --delta 1e-5 --budget dp-budget/ --out dp.model")]
pub struct TrainArgs {
    /// Training data (path or builtin:NAME).
    #[arg(long)]
    pub data: String,
    /// The column to predict.
    #[arg(long)]
    pub label: String,
    /// Model: logreg, softmax, linear or mlp (default: the linear model for the label; mlp if --hidden is given).
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// Hidden layer widths of an MLP, comma-separated [default: 64].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Hidden activation of an MLP: relu, or square (for homomorphic inference).
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Passes over the training data [default: 100 linear, 60 mlp].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate [default: 0.01 linear, 0.003 mlp; 0.1 with sgd].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Rows per mini-batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Optimiser: adam or sgd (with momentum 0.9).
    #[arg(long, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// L2 regularisation strength on the weights [default: 1e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub l2: Option<f64>,
    /// Seed of the split, the initial weights and the batch order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of rows held out for testing [default: 0.2] (ignored with --test-data; not
    /// with --dp, which trains on every row).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "dp")]
    pub test_fraction: Option<f64>,
    /// Separate test data, instead of holding out part of --data.
    #[arg(long)]
    pub test_data: Option<String>,
    /// The label's classes, comma-separated, when they are known in advance: a row with
    /// another label is an error. Without it the classes are the label column's values
    /// (with --dp they are then released as they are, outside ε).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Keep raw features (no standardisation).
    #[arg(long)]
    pub no_standardize: bool,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Where to write the model (safetensors). Replaced atomically, only on success.
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    #[command(flatten)]
    pub dp: DpTrainArgs,
}

/// `veil train --dp ...`: differentially private training (DP-SGD).
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("dp_noise").multiple(true)))]
pub struct DpTrainArgs {
    /// Train with DP-SGD: every training record is protected by (ε, δ)-differential
    /// privacy, the feature standardisation included.
    #[arg(long, requires_all = ["delta", "dp_noise"])]
    pub dp: bool,
    /// The ε to spend (the noise is calibrated to it).
    #[arg(
        long,
        requires = "dp",
        group = "dp_noise",
        allow_negative_numbers = true
    )]
    pub epsilon: Option<f64>,
    /// δ (below 1/number of training rows; e.g. 1e-5).
    #[arg(long, requires = "dp", allow_negative_numbers = true)]
    pub delta: Option<f64>,
    /// Per-record gradient clipping norm [default: 1].
    #[arg(long, requires = "dp", allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// A fixed noise multiplier instead of calibrating one to --epsilon (ε is then reported).
    #[arg(
        long,
        requires = "dp",
        group = "dp_noise",
        allow_negative_numbers = true
    )]
    pub noise_multiplier: Option<f64>,
    /// The accountant that calibrates the noise: pld (privacy loss distributions, tight) or
    /// rdp (Rényi DP, looser: about 12% more noise for the same ε).
    #[arg(long, requires = "dp", default_value = "pld")]
    pub accountant: veil_dp::accountant::Accountant,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// Where a differentially private release is charged.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// Charge the release to the data's budget in DIR (see `veil dp budget`): refused,
    /// before any noise is drawn, if it would exceed it. Without it, the directory in the
    /// environment variable VEIL_BUDGET.
    #[arg(long, value_name = "DIR")]
    pub budget: Option<PathBuf>,
    /// Release without charging any budget (overrides VEIL_BUDGET). Nothing then records
    /// what was spent or stops the same data from being released again and again, each
    /// time with more privacy lost: only for data that is not sensitive, or whose releases
    /// are accounted elsewhere.
    #[arg(long, conflicts_with = "budget")]
    pub no_budget: bool,
}

/// `veil eval`
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  veil eval --model bc.model --data test.csv --json")]
pub struct EvalArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data (path or builtin:NAME).
    #[arg(long)]
    pub data: String,
    /// The label column [default: the one the model was trained on].
    #[arg(long)]
    pub label: Option<String>,
}

/// `veil predict`
#[derive(Debug, Args)]
#[command(after_help = "\
Predictions are, per row in order: the probability of the positive class (binary models),
one probability per class (multiclass), or the value (regression). --out writes them as CSV
(or Parquet, by extension) with the predicted class; without --out they go to stdout.

Examples:
  veil predict --model bc.model --data patients.csv --out predictions.csv
  veil predict --model digits.model --data builtin:digits --json")]
pub struct PredictArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Data with the model's feature columns (path or builtin:NAME).
    #[arg(long)]
    pub data: String,
    /// Write predictions to this file (.csv or .parquet) instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// `veil demo`
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  veil demo\n  veil demo --dir demo-output --json")]
pub struct DemoArgs {
    /// Keep the demo's files in this directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}
