//! CKKS, approximate homomorphic encryption over the reals (J. H. Cheon, A. Kim, M. Kim and
//! Y. Song, "Homomorphic Encryption for Arithmetic of Approximate Numbers", ASIACRYPT 2017),
//! in its RNS variant (Cheon, Han, Kim, Kim and Song, "A Full RNS Variant of Approximate
//! Homomorphic Encryption", SAC 2018).
//!
//! Built so far: the ring arithmetic ([`math`]) and the canonical embedding ([`encoding`]).
//! Keys, encryption and the homomorphic operations come next.

pub mod encoding;
pub mod math;
