//! # veil-he — homomorphic encryption
//!
//! Level 3 of the Veil workspace: computing on data that stays encrypted. A clinic encrypts
//! a patient's record; a service evaluates a model on the ciphertext; only the clinic can
//! decrypt the answer.
//!
//! - [`paillier`]: additive homomorphic encryption (Paillier 1999) — sums of encrypted
//!   values and products with plaintext weights, enough for linear and logistic scores.
//! - [`ckks`]: approximate homomorphic encryption of real vectors (CKKS, RNS variant) at
//!   N = 8192 and 16384 at 128-bit security, encryption, sums and products with
//!   relinearisation and rescaling, rotations.
//! - [`circuit`]: a Veil model as additions and multiplications — the standardisation folded
//!   into the first layer, square activations — or the reason it cannot be one.
//! - [`service`]: the encrypted-inference service (gRPC over mutual TLS) and its client.
//! - [`keyset`]: key sets on disk, written all or nothing.
//! - [`timing`]: the time of each primitive, for `veil he bench`.
//!
//! **Threat model.** The party computing on ciphertexts holds only public material and
//! learns nothing about the plaintexts (semantic security of the scheme). Ciphertexts are
//! malleable by design; their integrity comes from the authenticated channel they travel
//! on. Secret keys never leave the data owner, are written to files readable by the owner
//! only, and are zeroized in memory when dropped.

pub mod circuit;
pub mod ckks;
pub mod error;
pub mod keyset;
pub mod paillier;
pub mod service;
pub mod timing;

pub use error::{Error, Result};
