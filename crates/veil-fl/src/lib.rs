//! # veil-fl — federated learning across institutions
//!
//! Level 3 of the Veil workspace. Parties train on their own data and send updates; a
//! coordinator combines them. With secure aggregation ([`secagg`]) the coordinator learns
//! only the sum of the updates, never one party's, even when parties drop out mid-round.
//! Updates enter the aggregation through `veil_core::fixed`: real vectors to Z_2^32 without
//! overflow or bias.

pub mod aggregate;
pub mod checkpoint;
pub mod clock;
pub mod contributions;
pub mod coordinator;
pub mod ddp;
pub mod error;
pub mod participant;
pub mod process;
pub mod proto;
pub mod secagg;
pub mod simulate;
pub mod wire;

pub use error::{Error, Result};
