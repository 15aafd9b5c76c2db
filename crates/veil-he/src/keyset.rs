//! A key set on disk: the files `veil he keygen` writes and the inference client reads.
//!
//! | scheme | files (in one directory) |
//! |---|---|
//! | CKKS | `secret.key` (mode 0600), `public.key`, `evaluation.key` (relinearisation and Galois keys for every power-of-two rotation) |
//! | Paillier | `secret.json` (mode 0600), `public.json` |
//!
//! A set is written all or nothing ([`veil_core::atomic::Batch`]): a failure leaves the
//! directory as it was, and an existing set is replaced only when asked.
//!
//! | parameter set | security |
//! |---|---|
//! | CKKS N = 8192, [60, 40, 40, 60] | 128-bit (HomomorphicEncryption.org standard, Table 1) |
//! | CKKS N = 16384, [60, 40×6, 60] | 128-bit (same) |
//! | Paillier, 2048-bit n | 112-bit (NIST SP 800-57 Part 1, Table 2) |
//! | Paillier, 3072-bit n | 128-bit (same) |

use std::path::{Path, PathBuf};

use serde::Serialize;
use veil_core::atomic::{Batch, Visibility};

use crate::circuit::Scheme;
use crate::ckks::keys::SecretKey as CkksSecretKey;
use crate::ckks::params::{Context, Parameters};
use crate::error::{Error, Result};
use crate::paillier;

/// The CKKS secret key's file.
pub const CKKS_SECRET: &str = "secret.key";
/// The CKKS public key's file.
pub const CKKS_PUBLIC: &str = "public.key";
/// The CKKS evaluation keys' file.
pub const CKKS_EVALUATION: &str = "evaluation.key";
/// The Paillier secret key's file.
pub const PAILLIER_SECRET: &str = "secret.json";
/// The Paillier public key's file.
pub const PAILLIER_PUBLIC: &str = "public.json";

/// Which key set to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// CKKS with ring degree N.
    Ckks {
        /// N: 8192 or 16384.
        degree: usize,
    },
    /// Paillier with a modulus of this many bits.
    Paillier {
        /// 2048 or 3072.
        bits: u32,
    },
}

impl KeySpec {
    /// The key set of `scheme` at the size given for it (`poly_degree` for CKKS, `bits` for
    /// Paillier); only the sets in the table above are made.
    pub fn new(scheme: Scheme, poly_degree: usize, bits: u32) -> Result<KeySpec> {
        match scheme {
            Scheme::Ckks if [8192, 16384].contains(&poly_degree) => Ok(KeySpec::Ckks {
                degree: poly_degree,
            }),
            Scheme::Paillier if paillier::KEY_BITS.contains(&bits) => {
                Ok(KeySpec::Paillier { bits })
            }
            Scheme::Ckks => Err(Error::out_of_range(
                "--poly-degree",
                format!(
                    "{poly_degree}: CKKS keys are made for N = 8192 or 16384 (two or six multiplications), at 128-bit security"
                ),
            )),
            Scheme::Paillier => Err(Error::out_of_range(
                "--bits",
                format!("{bits}: Paillier keys are 2048 bits (112-bit security) or 3072 (128-bit)"),
            )),
        }
    }

    /// The files of this set, the secret one first.
    pub fn files(&self) -> &'static [&'static str] {
        match self {
            KeySpec::Ckks { .. } => &[CKKS_SECRET, CKKS_PUBLIC, CKKS_EVALUATION],
            KeySpec::Paillier { .. } => &[PAILLIER_SECRET, PAILLIER_PUBLIC],
        }
    }

    /// The security level of the set, in bits (see the table above).
    pub fn security_bits(&self) -> u32 {
        match self {
            KeySpec::Ckks { .. } => 128,
            KeySpec::Paillier { bits } => paillier::security_bits(*bits),
        }
    }
}

/// What `veil he keygen` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySetWritten {
    /// `ckks` or `paillier`.
    pub scheme: &'static str,
    /// The parameters.
    #[serde(flatten)]
    pub parameters: KeySetParameters,
    /// The security level, in bits.
    pub security_bits: u32,
    /// The files, the secret one first.
    pub files: Vec<PathBuf>,
}

/// The parameters of a written key set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KeySetParameters {
    /// CKKS.
    Ckks {
        /// N.
        poly_degree: usize,
        /// Bit sizes of the modulus chain's primes.
        coeff_modulus_bits: Vec<u32>,
        /// log₂ of the default scale.
        scale_bits: u32,
        /// The key set's id, hex (ciphertexts and evaluation keys carry it).
        key_id: String,
    },
    /// Paillier.
    Paillier {
        /// Bits of the modulus n.
        bits: u32,
    },
}

/// Makes the key set `spec` and writes it into `dir` (created if missing). Existing key files
/// there are replaced only with `force`; either way the set is written all or nothing.
pub fn generate(dir: &Path, spec: KeySpec, force: bool) -> Result<KeySetWritten> {
    let paths: Vec<PathBuf> = spec.files().iter().map(|n| dir.join(n)).collect();
    if !force && let Some(existing) = paths.iter().find(|p| p.exists()) {
        return Err(Error::out_of_range(
            "--out",
            format!(
                "{} exists: keys are never overwritten without --force",
                existing.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| veil_core::Error::io(dir, e))?;
    let mut batch = Batch::new();
    let (scheme, parameters) = match spec {
        KeySpec::Ckks { degree } => {
            let params = if degree == 16384 {
                Parameters::n16384()
            } else {
                Parameters::n8192()
            };
            let ctx = Context::new(params.clone())?;
            let sk = CkksSecretKey::generate(&ctx);
            batch.add(&paths[0], Visibility::Secret, &sk.to_bytes())?;
            batch.add(&paths[1], Visibility::Public, &sk.public_key()?.to_bytes())?;
            batch.add(
                &paths[2],
                Visibility::Public,
                &sk.evaluation_keys()?.to_bytes(&ctx),
            )?;
            (
                Scheme::Ckks,
                KeySetParameters::Ckks {
                    poly_degree: params.degree,
                    coeff_modulus_bits: params.chain.clone(),
                    scale_bits: params.scale_bits,
                    key_id: veil_core::hex(&sk.id().0),
                },
            )
        }
        KeySpec::Paillier { bits } => {
            let sk = paillier::SecretKey::generate(bits)?;
            paillier::stage_secret(&mut batch, &paths[0], &sk)?;
            paillier::stage_public(&mut batch, &paths[1], sk.public())?;
            (Scheme::Paillier, KeySetParameters::Paillier { bits })
        }
    };
    batch.commit()?;
    Ok(KeySetWritten {
        scheme: scheme.name(),
        parameters,
        security_bits: spec.security_bits(),
        files: paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_is_written_whole_and_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let spec = KeySpec::new(Scheme::Paillier, 0, 2048).unwrap();
        let written = generate(dir.path(), spec, false).unwrap();
        assert_eq!(written.security_bits, 112);
        let before: Vec<Vec<u8>> = written
            .files
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert!(generate(dir.path(), spec, false).is_err());
        let after: Vec<Vec<u8>> = written
            .files
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(before, after, "a refused keygen changes nothing");
        assert!(KeySpec::new(Scheme::Ckks, 4096, 0).is_err());
        assert!(KeySpec::new(Scheme::Paillier, 0, 1024).is_err());
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(
            (json["scheme"].as_str(), json["bits"].as_u64()),
            (Some("paillier"), Some(2048))
        );
    }
}
