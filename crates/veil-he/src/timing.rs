//! The time of each primitive, as `veil he bench` reports it: medians of repeated runs of
//! CKKS at N = 8192 ([60, 40, 40, 60]) and 16384 ([60, 40 × 6, 60]) — encryption of a full
//! vector (with encoding), multiplication with relinearisation and rescaling, a rotation by
//! one slot, decryption with decoding — and of Paillier-2048 — encryption, CRT decryption,
//! addition. Keys are made first and not timed.

use std::time::Instant;

use crypto_bigint::BoxedUint;

use crate::ckks::cipher::{decode, encode};
use crate::ckks::eval::{multiply, rescale, rotate};
use crate::ckks::keys::SecretKey as CkksSecretKey;
use crate::ckks::params::{Context, Parameters};
use crate::error::Result;
use crate::paillier::SecretKey as PaillierSecretKey;

/// Medians of one CKKS parameter set, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CkksTimes {
    /// Encode and encrypt N/2 values.
    pub encrypt_ms: f64,
    /// Multiply two ciphertexts, relinearise, rescale.
    pub mul_relin_rescale_ms: f64,
    /// Rotate by one slot.
    pub rotate_ms: f64,
    /// Decrypt and decode.
    pub decrypt_ms: f64,
}

/// Medians of Paillier-2048, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PaillierTimes {
    /// Encrypt (fresh randomness).
    pub encrypt_ms: f64,
    /// CRT decryption.
    pub decrypt_ms: f64,
    /// Homomorphic addition.
    pub add_ms: f64,
}

/// What `veil he bench` reports: every primitive's median, by scheme and parameter set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Times {
    /// CKKS.
    pub ckks: CkksSets,
    /// Paillier.
    pub paillier: PaillierSets,
}

/// CKKS times by ring degree.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CkksSets {
    /// N = 8192.
    #[serde(rename = "8192")]
    pub n8192: CkksTimes,
    /// N = 16384.
    #[serde(rename = "16384")]
    pub n16384: CkksTimes,
}

/// Paillier times by modulus size.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PaillierSets {
    /// 2048-bit n.
    #[serde(rename = "2048")]
    pub n2048: PaillierTimes,
}

/// A table of medians, one parameter set per line.
impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "medians in ms          encrypt  mul+relin+rescale  rotate  decrypt"
        )?;
        for (name, c) in [
            ("CKKS N = 8192", &self.ckks.n8192),
            ("CKKS N = 16384", &self.ckks.n16384),
        ] {
            writeln!(
                f,
                "{name:<20} {:>9.3} {:>18.3} {:>7.3} {:>8.3}",
                c.encrypt_ms, c.mul_relin_rescale_ms, c.rotate_ms, c.decrypt_ms
            )?;
        }
        let p = &self.paillier.n2048;
        writeln!(
            f,
            "Paillier-2048        {:>9.3}   (add {:.4})              {:>8.3}",
            p.encrypt_ms, p.add_ms, p.decrypt_ms
        )
    }
}

impl Times {
    /// The report of the three measurements.
    pub fn new(n8192: CkksTimes, n16384: CkksTimes, paillier2048: PaillierTimes) -> Times {
        Times {
            ckks: CkksSets { n8192, n16384 },
            paillier: PaillierSets {
                n2048: paillier2048,
            },
        }
    }
}

/// The median time of `reps` runs of `f`, in milliseconds.
fn median_ms<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    f()?; // warm-up
    let mut times = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f().map(|_| start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Times CKKS with `params`, each primitive `reps` times.
pub fn ckks(params: Parameters, reps: usize) -> Result<CkksTimes> {
    let ctx = Context::new(params)?;
    let sk = CkksSecretKey::generate(&ctx);
    let pk = sk.public_key()?;
    let keys = sk.evaluation_keys()?;
    let values: Vec<f64> = (0..ctx.degree() / 2)
        .map(|i| (i as f64 * 0.001).sin())
        .collect();
    let top = ctx.data_primes() - 1;
    let ct = pk.encrypt(&encode(&ctx, &values, top, ctx.scale())?)?;
    Ok(CkksTimes {
        encrypt_ms: median_ms(reps, || {
            pk.encrypt(&encode(&ctx, &values, top, ctx.scale())?)
        })?,
        mul_relin_rescale_ms: median_ms(reps, || rescale(&ctx, &multiply(&ctx, &keys, &ct, &ct)?))?,
        rotate_ms: median_ms(reps, || rotate(&ctx, &keys, &ct, 1))?,
        decrypt_ms: median_ms(reps, || decode(&ctx, &sk.decrypt(&ct)?))?,
    })
}

/// Times Paillier-2048, each primitive `reps` times.
pub fn paillier(reps: usize) -> Result<PaillierTimes> {
    let sk = PaillierSecretKey::generate(2048)?;
    let pk = sk.public();
    let m = BoxedUint::from(123_456_789u64);
    let (a, b) = (pk.encrypt(&m)?, pk.encrypt(&m)?);
    Ok(PaillierTimes {
        encrypt_ms: median_ms(reps, || pk.encrypt(&m))?,
        decrypt_ms: median_ms(reps, || Ok(sk.decrypt(&a)))?,
        add_ms: median_ms(reps, || Ok(pk.add(&a, &b)))?,
    })
}
