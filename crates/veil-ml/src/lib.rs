//! # veil-ml — the models every Veil training path shares
//!
//! Level 1 of the Veil workspace. It holds the models (logistic, softmax and linear regression,
//! and a multi-layer perceptron with ReLU or `square` activations), their losses, mini-batch
//! training with SGD or Adam, evaluation metrics, and the model file format.
//!
//! Two APIs carry the rest of Veil:
//!
//! * **Flat parameter vectors** — [`Network::params`] / [`Network::set_params`]: a model is one
//!   `Vec<f64>` in a documented layout (see [`network`]), which is what federated averaging,
//!   secure aggregation, MPC and homomorphic inference exchange.
//! * **Per-example gradients** — [`Network::per_example_gradients`]: an `n × p` matrix whose
//!   row `i` is the gradient of example `i`'s loss, which DP-SGD clips and noises.
//!
//! ```
//! use veil_core::Table;
//! use veil_ml::pipeline::{Columns, Holdout, ModelConfig, prepare, train};
//!
//! let table = Table::load("builtin:breast-cancer")?;
//! let columns = Columns { label: "malignant".into(), ..Default::default() };
//! let data = prepare(&table, &columns, None, Holdout::Split { fraction: 0.2, seed: 42 }, true)?;
//! let (model, _report) = train(&data, &ModelConfig::defaults(None, 42), |_epoch| {})?;
//! let eval = model.evaluate_inputs(data.x_test.view(), &data.y_test.to_vec())?;
//! assert!(eval.accuracy.unwrap() > 0.9);
//!
//! // One row of gradients per example, one column per parameter.
//! use ndarray::{Axis, Slice};
//! let x = data.x_train.slice_axis(Axis(0), Slice::from(..8));
//! let y = data.y_train.slice_axis(Axis(0), Slice::from(..8));
//! let (_, grads) = model.network.per_example_gradients(x, y)?;
//! assert_eq!(grads.dim(), (8, model.network.num_params()));
//! # Ok::<(), veil_ml::Error>(())
//! ```
//!
//! ## Threat model
//!
//! Training data and model files are untrusted input: a malformed model file is rejected with
//! a specific error, never a panic. Nothing here protects privacy by itself — the crates above
//! (`veil-dp`, `veil-fl`, `veil-mpc`, `veil-he`) do, through the two APIs above. A seed fixes
//! data splits, initial weights and batch order only.

pub mod activation;
pub mod error;
pub mod metrics;
pub mod model;
pub mod model_file;
mod names;
pub mod network;
pub mod optim;
pub mod output;
pub mod pipeline;
pub mod task;
pub mod train;

pub use activation::Activation;
pub use error::{Error, Result};
pub use metrics::{Evaluation, TestMetrics};
pub use model::{Model, Predictions};
pub use network::{Architecture, Network};
pub use optim::OptimizerKind;
pub use output::Output;
pub use task::{ModelKind, Task};
pub use train::TrainConfig;
