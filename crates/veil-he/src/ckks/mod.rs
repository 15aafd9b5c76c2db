//! CKKS, approximate homomorphic encryption over the reals (J. H. Cheon, A. Kim, M. Kim and
//! Y. Song, "Homomorphic Encryption for Arithmetic of Approximate Numbers", ASIACRYPT 2017),
//! in its RNS variant (Cheon, Han, Kim, Kim and Song, "A Full RNS Variant of Approximate
//! Homomorphic Encryption", SAC 2018).
//!
//! Built so far: the ring arithmetic ([`math`]), the canonical embedding ([`encoding`]),
//! parameter sets validated against the HomomorphicEncryption.org standard ([`params`]),
//! RNS polynomials ([`poly`]), keys ([`keys`]), encryption, decryption, sums and
//! plaintext products ([`cipher`]); ciphertext multiplication, relinearisation, rescaling
//! and rotations ([`eval`], over [`keyswitch`]); products with real constants and their sums,
//! the dense layers of a model ([`linear`]); versioned byte formats for keys and
//! ciphertexts ([`serial`]).

pub mod cipher;
pub mod encoding;
pub mod eval;
pub mod keys;
pub mod keyswitch;
pub mod linear;
pub mod math;
pub mod params;
pub mod poly;
pub mod serial;
