//! The command-line grammar: `veil <noun> <verb>`, plus the everyday model verbs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use veil_ml::{Activation, ModelKind, OptimizerKind};

const AFTER_HELP: &str = "\
DATA is a CSV file (.csv, or gzip-compressed .csv.gz), a Parquet file (.parquet), or an
embedded dataset: builtin:breast-cancer (label malignant), builtin:digits (label digit).

Exit codes: 0 success, 1 internal error, 2 invalid arguments or options, 3 invalid input
data, 4 file-system error, 5 invalid model file, 6 training diverged.

Examples:
  veil demo
  veil data inspect builtin:breast-cancer
  veil train --data builtin:breast-cancer --label malignant --seed 42 --out bc.model
  veil eval --model bc.model --data builtin:breast-cancer
  veil predict --model bc.model --data patients.csv --out predictions.csv";

/// Veil keeps machine-learning data and models safe: sealed files, provenance, privacy.
#[derive(Debug, Parser)]
#[command(name = "veil", version, about, after_help = AFTER_HELP, propagate_version = true)]
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
    Train(TrainArgs),
    /// Evaluate a model on labelled data.
    Eval(EvalArgs),
    /// Predict with a model.
    Predict(PredictArgs),
    /// Run the main job on embedded data and print a short report.
    Demo(DemoArgs),
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

Examples:
  veil train --data builtin:breast-cancer --label malignant --seed 42 --out bc.model
  veil train --data builtin:digits --label digit --model mlp --hidden 64,32 --out digits.model
  veil train --data train.csv --test-data test.csv --label outcome --drop patient_id --out m.model --json")]
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
    /// Fraction of rows held out for testing (ignored with --test-data).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub test_fraction: f64,
    /// Separate test data, instead of holding out part of --data.
    #[arg(long)]
    pub test_data: Option<String>,
    /// Keep raw features (no standardisation).
    #[arg(long)]
    pub no_standardize: bool,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Where to write the model (safetensors). Replaced atomically, only on success.
    #[arg(long, short)]
    pub out: PathBuf,
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
