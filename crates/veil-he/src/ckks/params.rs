//! Parameter sets and the context built from them: the ring degree N, the chain of primes,
//! the default scale, and their validation against the HomomorphicEncryption.org security
//! standard (M. Albrecht et al., "Homomorphic Encryption Security Standard", 2018, Table 1:
//! the largest log₂ q for 128-bit classical security with a uniform ternary secret and
//! error of standard deviation ≈ 3.2).
//!
//! A chain [b₀, b₁, …, b_L, b_P] (in bits) as SEAL writes it: b₀ is the first data prime,
//! which must hold the final result; b₁…b_L are the primes rescaling divides by, one per
//! multiplication (usually the scale's size); b_P is the special prime of key switching.
//! All count towards the security bound.

use std::sync::Arc;

use super::encoding::Encoder;
use super::math::modulus::Modulus;
use super::math::ntt::NttTable;
use super::math::primes::ntt_primes;
use crate::error::{Error, Result};

/// Maximum total log₂ q for 128-bit security (HE standard, Table 1, classical, ternary).
const MAX_BITS_128: [(usize, u32); 6] = [
    (1024, 27),
    (2048, 54),
    (4096, 109),
    (8192, 218),
    (16384, 438),
    (32768, 881),
];

/// A CKKS parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// N, the ring degree (N/2 slots).
    pub degree: usize,
    /// Bit sizes of the primes: data primes, then the special prime.
    pub chain: Vec<u32>,
    /// log₂ of the default scale Δ.
    pub scale_bits: u32,
}

impl Parameters {
    /// N = 8192 with [60, 40, 40, 60] and Δ = 2^40 (SEAL's usual example): two
    /// multiplications, 200 of the 218 bits allowed.
    pub fn n8192() -> Parameters {
        Parameters {
            degree: 8192,
            chain: vec![60, 40, 40, 60],
            scale_bits: 40,
        }
    }

    /// N = 16384 with [60, 40 × 6, 60] and Δ = 2^40: six multiplications, 360 of 438 bits.
    pub fn n16384() -> Parameters {
        Parameters {
            degree: 16384,
            chain: [vec![60], vec![40; 6], vec![60]].concat(),
            scale_bits: 40,
        }
    }

    /// The total modulus size, special prime included.
    pub fn total_bits(&self) -> u32 {
        self.chain.iter().sum()
    }

    /// Checks the set against the security standard and its own consistency.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::out_of_range("parameters", why));
        let Some(&(_, max)) = MAX_BITS_128.iter().find(|(n, _)| *n == self.degree) else {
            return bad(format!(
                "N = {} is not one of the standard's ring degrees (1024 to 32768)",
                self.degree
            ));
        };
        if self.total_bits() > max {
            return bad(format!(
                "{} bits of modulus at N = {} is below 128-bit security: the HomomorphicEncryption.org standard allows at most {max}",
                self.total_bits(),
                self.degree
            ));
        }
        if self.chain.len() < 2 {
            return bad("the chain needs at least one data prime and the special prime".into());
        }
        if let Some(b) = self.chain.iter().find(|b| !(20..=60).contains(*b)) {
            return bad(format!("a {b}-bit prime: each must be 20 to 60 bits"));
        }
        if self.scale_bits >= self.chain[0] {
            return bad(format!(
                "a scale of 2^{} does not fit the first prime of {} bits",
                self.scale_bits, self.chain[0]
            ));
        }
        Ok(())
    }
}

/// Everything derived from a parameter set: primes, NTT tables, the encoder.
#[derive(Debug)]
pub struct Context {
    params: Parameters,
    /// Data primes q₀…q_L, then the special prime P.
    moduli: Vec<Modulus>,
    ntt: Vec<NttTable>,
    encoder: Encoder,
    /// The slot permutation of each Galois automorphism used so far.
    galois: std::sync::Mutex<std::collections::BTreeMap<usize, Arc<Vec<usize>>>>,
}

impl Context {
    /// Builds the context for `params` (validated first).
    pub fn new(params: Parameters) -> Result<Arc<Context>> {
        params.validate()?;
        let n = params.degree;
        let mut chosen: Vec<u64> = Vec::with_capacity(params.chain.len());
        for &bits in &params.chain {
            let q = ntt_primes(bits, n, 1, &chosen)?[0];
            chosen.push(q);
        }
        let moduli: Vec<Modulus> = chosen.into_iter().map(Modulus::new).collect();
        let ntt = moduli
            .iter()
            .map(|m| NttTable::new(n, *m))
            .collect::<Result<_>>()?;
        Ok(Arc::new(Context {
            encoder: Encoder::new(n)?,
            params,
            moduli,
            ntt,
            galois: Default::default(),
        }))
    }

    /// The parameter set.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// N.
    pub fn degree(&self) -> usize {
        self.params.degree
    }

    /// The number of data primes (the top level + 1).
    pub fn data_primes(&self) -> usize {
        self.moduli.len() - 1
    }

    /// Prime i of the chain (the last is the special prime).
    pub fn modulus(&self, i: usize) -> &Modulus {
        &self.moduli[i]
    }

    /// The NTT table of prime i.
    pub fn ntt(&self, i: usize) -> &NttTable {
        &self.ntt[i]
    }

    /// The default scale Δ.
    pub fn scale(&self) -> f64 {
        2f64.powi(self.params.scale_bits as i32)
    }

    /// The slot encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The NTT-form permutation of Galois element g, made by `make` the first time.
    pub(crate) fn galois_permutation(
        &self,
        g: usize,
        make: impl FnOnce() -> Vec<usize>,
    ) -> Arc<Vec<usize>> {
        let mut cache = self
            .galois
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry(g).or_insert_with(|| Arc::new(make())).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_sets_are_secure_and_insecure_ones_are_refused() {
        for p in [Parameters::n8192(), Parameters::n16384()] {
            p.validate().unwrap();
        }
        let ctx = Context::new(Parameters::n8192()).unwrap();
        assert_eq!(ctx.data_primes(), 3);
        let bits: Vec<u32> = (0..4)
            .map(|i| 64 - ctx.modulus(i).value().leading_zeros())
            .collect();
        assert_eq!(bits, [60, 40, 40, 60]);
        assert_ne!(
            ctx.modulus(0).value(),
            ctx.modulus(3).value(),
            "distinct primes"
        );
        let too_big = Parameters {
            chain: vec![60, 60, 60, 60],
            ..Parameters::n8192()
        };
        let err = too_big.validate().unwrap_err().to_string();
        assert!(err.contains("at most 218"), "{err}");
        let odd = Parameters {
            degree: 6000,
            ..Parameters::n8192()
        };
        assert!(odd.validate().is_err());
        let scale = Parameters {
            scale_bits: 60,
            ..Parameters::n8192()
        };
        assert!(scale.validate().is_err());
    }
}
