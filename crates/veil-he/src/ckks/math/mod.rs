//! The arithmetic CKKS runs on: word-sized primes (Barrett and Shoup reduction),
//! NTT-friendly prime chains, and the negacyclic NTT over Z_q\[X\]/(X^N + 1).

pub mod modulus;
pub mod ntt;
pub mod primes;
