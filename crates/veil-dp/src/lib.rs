//! # veil-dp — differential privacy with exact noise and exact accounting
//!
//! Level 2 of the Veil workspace. Differential privacy is the one protection with a
//! mathematical guarantee: whatever an attacker already knows, a released statistic or a
//! trained model reveals almost nothing about any single person. The guarantee holds only if
//! the noise has exactly the distribution the proof assumes and the privacy loss of every
//! release is counted; this crate does both.
//!
//! * [`sample`] (from `veil-core`, shared with HE and federated learning) — exact integer
//!   samplers (Canonne, Kamath and Steinke 2020), and a tabulated discrete Gaussian as exact
//!   and six times faster for many draws, drawing from [`NoiseRng`];
//! * [`mechanism`] — Laplace and Gaussian noise for real values on a fine grid, discrete
//!   Laplace and discrete Gaussian for integers, each with its guarantee and interval;
//! * [`accountant`] — composition, zCDP, and the RDP and PLD accountants of DP-SGD (held to
//!   Google's `dp_accounting` 0.6);
//! * [`query`] — DP SQL: aggregates with contribution bounding, clamping, partition
//!   selection and 95% intervals;
//! * [`sgd`] — DP-SGD: Poisson sampling, per-record clipping, exact Gaussian noise;
//! * [`budget`] — a persistent privacy budget per dataset (SQLite), charged before noise.

pub mod accountant;
pub mod budget;
pub mod error;
pub mod loss;
pub mod mechanism;
pub mod query;
pub mod sgd;
pub mod standardize;

pub use error::{Error, Result};
pub use loss::PrivacyLoss;
pub use veil_core::noise::NoiseRng;
pub use veil_core::sample;
