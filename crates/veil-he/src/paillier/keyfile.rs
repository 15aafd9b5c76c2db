//! Paillier key files: JSON, versioned (docs/formats.md, "Paillier keys").
//!
//! - public: `{"format": "veil-paillier-public-key", "version": 1, "bits": 2048, "n": HEX}`
//! - secret: `{"format": "veil-paillier-secret-key", "version": 1, "bits": 2048, "p": HEX,
//!   "q": HEX}`, written with mode 0600.
//!
//! HEX is big-endian hexadecimal without a prefix. Both are written atomically.

use std::path::Path;

use crypto_bigint::BoxedUint;
use serde::{Deserialize, Serialize};
use veil_core::atomic::{Batch, Visibility};
use zeroize::Zeroizing;

use super::{PublicKey, SecretKey};
use crate::error::{Error, KeyProblem, Result};

const PUBLIC: &str = "veil-paillier-public-key";
const SECRET: &str = "veil-paillier-secret-key";

#[derive(Serialize, Deserialize)]
struct PublicFile {
    format: String,
    version: u32,
    bits: u32,
    n: String,
}

#[derive(Serialize, Deserialize)]
struct SecretFile {
    format: String,
    version: u32,
    bits: u32,
    p: String,
    q: String,
}

fn to_hex(x: &BoxedUint) -> String {
    veil_core::hex(&x.to_be_bytes())
}

fn from_hex(hex: &str, what: &str) -> Result<BoxedUint> {
    let bad = || Error::Key(KeyProblem::Malformed(format!("{what} is not hexadecimal")));
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return Err(bad());
    }
    let bytes = Zeroizing::new(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>>>()?,
    );
    BoxedUint::from_be_slice(&bytes, (bytes.len() * 8) as u32).map_err(|_| bad())
}

fn stage(
    batch: &mut Batch,
    path: &Path,
    visibility: Visibility,
    json: &impl Serialize,
) -> Result<()> {
    batch.add_with(path, visibility, |w| {
        serde_json::to_writer_pretty(&mut *w, json)
            .map_err(|e| veil_core::Error::io(path, e.into()))?;
        Ok::<_, Error>(())
    })
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path, format: &str) -> Result<T> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| veil_core::Error::io(path, e))?);
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Key(KeyProblem::Malformed(format!(
            "{}: not JSON ({e})",
            path.display()
        )))
    })?;
    match (
        value.get("format").and_then(|f| f.as_str()),
        value.get("version"),
    ) {
        (Some(f), Some(v)) if f == format && v == 1 => {}
        (Some(f), _) if f != format => {
            return Err(Error::Key(KeyProblem::Malformed(format!(
                "{} is a {f}, not a {format}",
                path.display()
            ))));
        }
        _ => {
            return Err(Error::Key(KeyProblem::Malformed(format!(
                "{}: not a version-1 {format}",
                path.display()
            ))));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::Key(KeyProblem::Malformed(format!("{}: {e}", path.display()))))
}

/// Adds the public key's file to `batch`.
pub fn stage_public(batch: &mut Batch, path: &Path, key: &PublicKey) -> Result<()> {
    stage(
        batch,
        path,
        Visibility::Public,
        &PublicFile {
            format: PUBLIC.into(),
            version: 1,
            bits: key.bits,
            n: to_hex(&key.n),
        },
    )
}

/// Adds the secret key's file (mode 0600) to `batch`.
pub fn stage_secret(batch: &mut Batch, path: &Path, key: &SecretKey) -> Result<()> {
    let (p, q) = key.factors();
    let file = SecretFile {
        format: SECRET.into(),
        version: 1,
        bits: key.public.bits,
        p: to_hex(p),
        q: to_hex(q),
    };
    let result = stage(batch, path, Visibility::Secret, &file);
    let (mut p, mut q) = (file.p, file.q);
    zeroize::Zeroize::zeroize(&mut p);
    zeroize::Zeroize::zeroize(&mut q);
    result
}

/// Reads a public key.
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let file: PublicFile = read(path, PUBLIC)?;
    let key = PublicKey::from_modulus(from_hex(&file.n, "n")?)?;
    if key.bits != file.bits {
        return Err(Error::Key(KeyProblem::Malformed(format!(
            "{}: says {} bits, n has {}",
            path.display(),
            file.bits,
            key.bits
        ))));
    }
    Ok(key)
}

/// Reads a secret key.
pub fn read_secret(path: &Path) -> Result<SecretKey> {
    let file: SecretFile = read(path, SECRET)?;
    let key = SecretKey::from_factors(from_hex(&file.p, "p")?, from_hex(&file.q, "q")?)?;
    if key.public.bits != file.bits {
        return Err(Error::Key(KeyProblem::Malformed(format!(
            "{}: says {} bits, n has {}",
            path.display(),
            file.bits,
            key.public.bits
        ))));
    }
    Ok(key)
}
