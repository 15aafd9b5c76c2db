//! Paillier key files: JSON, versioned (docs/formats.md, "Paillier keys").
//!
//! - public: `{"format": "veil-paillier-public-key", "version": 1, "bits": 2048, "n": HEX}`
//! - secret: `{"format": "veil-paillier-secret-key", "version": 1, "bits": 2048, "p": HEX,
//!   "q": HEX}`, written with mode 0600.
//!
//! HEX is big-endian hexadecimal without a prefix. Both are written atomically.
//!
//! A secret key file is parsed from a copy of its text that is wiped when dropped, with p and
//! q borrowed from it rather than copied into strings of their own, and its hexadecimal is
//! written from wiped strings. (The write buffer of `veil_core::atomic` is not wiped.)

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

/// A secret key file, its text fields borrowed: read, from the file's text (which is wiped),
/// so that p and q are never copied into a string of their own; written, from wiped
/// hexadecimal strings.
#[derive(Serialize, Deserialize)]
struct SecretFile<'a> {
    format: &'a str,
    version: u32,
    bits: u32,
    p: &'a str,
    q: &'a str,
}

/// The fields that say what a key file is (serde skips the others without copying them).
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// `x` in hexadecimal, wiped when dropped (as is the byte string it is made from).
fn to_hex(x: &BoxedUint) -> Zeroizing<String> {
    Zeroizing::new(veil_core::hex(&Zeroizing::new(x.to_be_bytes())))
}

fn from_hex(hex: &str, what: &str) -> Result<BoxedUint> {
    let bad = || Error::Key(KeyProblem::Malformed(format!("{what} is not hexadecimal")));
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return Err(bad());
    }
    // Allocated once at full size: growing would leave copies of the first bytes behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(hex.len() / 2));
    for i in (0..hex.len()).step_by(2) {
        bytes.push(u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?);
    }
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

/// The text of the key file at `path`, if it says it is a version-1 `format`; wiped when
/// dropped. A secret key file that other users may read is refused (F-24), once it is known
/// to be one (a public key given by mistake is said to be one).
fn read_text(path: &Path, format: &str) -> Result<Zeroizing<String>> {
    let io = |e| veil_core::Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    let text = Zeroizing::new(std::io::read_to_string(&file).map_err(io)?);
    let header = match serde_json::from_str::<Header>(&text) {
        Ok(header) => Some(header),
        Err(e) if e.is_data() => None,
        Err(e) => {
            return Err(Error::Key(KeyProblem::Malformed(format!(
                "{}: not JSON ({e})",
                path.display()
            ))));
        }
    };
    let (found, version) = header.map_or((None, None), |h| (h.format, h.version));
    match (found.as_ref().and_then(|f| f.as_str()), version) {
        (Some(f), Some(v)) if f == format && v == 1 => {
            if format == SECRET {
                veil_core::secret_file::check(&file, path)?;
            }
            Ok(text)
        }
        (Some(f), _) if f != format => Err(Error::Key(KeyProblem::Malformed(format!(
            "{} is a {f}, not a {format}",
            path.display()
        )))),
        _ => Err(Error::Key(KeyProblem::Malformed(format!(
            "{}: not a version-1 {format}",
            path.display()
        )))),
    }
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
            n: to_hex(&key.n).as_str().to_owned(),
        },
    )
}

/// Adds the secret key's file (mode 0600) to `batch`.
pub fn stage_secret(batch: &mut Batch, path: &Path, key: &SecretKey) -> Result<()> {
    let (p, q) = key.factors();
    let (p, q) = (to_hex(p), to_hex(q));
    stage(
        batch,
        path,
        Visibility::Secret,
        &SecretFile {
            format: SECRET,
            version: 1,
            bits: key.public.bits,
            p: &p,
            q: &q,
        },
    )
}

/// Reads a public key.
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let file: PublicFile = serde_json::from_str(&read_text(path, PUBLIC)?)
        .map_err(|e| Error::Key(KeyProblem::Malformed(format!("{}: {e}", path.display()))))?;
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
    let text = read_text(path, SECRET)?;
    // serde's message may quote the value of a field (p written as a number, say): only
    // where the problem is is passed on.
    let file: SecretFile<'_> = serde_json::from_str(&text).map_err(|e| {
        Error::Key(KeyProblem::Malformed(format!(
            "{}: bits, p or q is missing or not of its type (p and q are hexadecimal strings \
             without escapes), at line {} column {}",
            path.display(),
            e.line(),
            e.column()
        )))
    })?;
    let p = Zeroizing::new(from_hex(file.p, "p")?);
    let q = Zeroizing::new(from_hex(file.q, "q")?);
    let key = SecretKey::from_secret_factors(p, q)?;
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
