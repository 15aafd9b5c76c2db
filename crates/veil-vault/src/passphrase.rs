//! Passphrases and the argon2id key-derivation function (RFC 9106).
//!
//! A passphrase becomes a 256-bit key-encryption key with argon2id over a random 16-byte salt.
//! The default cost is RFC 9106 §4's second recommended option — memory 64 MiB, 3 passes,
//! 4 lanes — and is stored beside every salt so that it can be raised later. Costs read from a
//! file are bounded (at most 1 GiB and 16 passes) so that a malicious file cannot make a
//! reader spend unbounded memory or time.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, HeaderProblem, Result};

/// A passphrase. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(String);

impl Passphrase {
    /// A passphrase from text; it must not be empty.
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        if text.is_empty() {
            return Err(Error::invalid("passphrase", "it is empty"));
        }
        Ok(Passphrase(text))
    }

    /// Reads the first line of a file (without its line ending) as a passphrase.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
        let line = text.lines().next().unwrap_or_default();
        Passphrase::new(line).map_err(|_| Error::key_file(path, "the passphrase file is empty"))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<secret>)")
    }
}

/// argon2id costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for KdfParams {
    /// RFC 9106 §4, second recommended option: 64 MiB, t = 3, p = 4.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            passes: 3,
            lanes: 4,
        }
    }
}

impl KdfParams {
    /// Cheap costs for tests only: 64 KiB, one pass. Never use them for real secrets.
    #[doc(hidden)]
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        }
    }

    /// The costs as stored in files: memory KiB, passes, lanes, each a big-endian u32.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        for (chunk, v) in out
            .chunks_exact_mut(4)
            .zip([self.memory_kib, self.passes, self.lanes])
        {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// Reverses [`KdfParams::to_bytes`] (the costs still need [`KdfParams::check`]).
    pub fn from_bytes(bytes: &[u8; 12]) -> Self {
        let word = |i: usize| {
            u32::from_be_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        };
        KdfParams {
            memory_kib: word(0),
            passes: word(1),
            lanes: word(2),
        }
    }

    /// The least a sealed file's passphrase stanza may cost: OWASP's minimum for argon2id
    /// (Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane). Costs below it are refused
    /// when sealing and when opening, so that a file cannot make its reader test
    /// passphrases almost for free (security review F-11).
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: 19 * 1024,
        passes: 2,
        lanes: 1,
    };

    /// [`KdfParams::check`], and at least [`KdfParams::FLOOR`].
    pub fn check_floor(&self) -> Result<()> {
        self.check()?;
        if self.memory_kib < Self::FLOOR.memory_kib || self.passes < Self::FLOOR.passes {
            return Err(Error::MalformedHeader(HeaderProblem::KdfCosts {
                memory_kib: self.memory_kib,
                passes: self.passes,
                lanes: self.lanes,
            }));
        }
        Ok(())
    }

    /// [`KdfParams::check_floor`] for costs about to be written: a usage error.
    pub fn check_for_writing(&self) -> Result<()> {
        self.check_floor().map_err(|_| {
            Error::invalid(
                "passphrase costs",
                format!(
                    "argon2id needs at least {} KiB and {} passes (OWASP's minimum)",
                    Self::FLOOR.memory_kib,
                    Self::FLOOR.passes
                ),
            )
        })
    }

    /// Checks costs read from a file against the bounds.
    pub fn check(&self) -> Result<()> {
        let ok = (1..=16).contains(&self.passes)
            && (1..=16).contains(&self.lanes)
            && self.memory_kib >= 8 * self.lanes
            && self.memory_kib <= 1024 * 1024;
        if ok {
            Ok(())
        } else {
            Err(Error::MalformedHeader(HeaderProblem::KdfCosts {
                memory_kib: self.memory_kib,
                passes: self.passes,
                lanes: self.lanes,
            }))
        }
    }

    /// Derives a 256-bit key from `passphrase` and `salt`.
    pub fn derive(&self, passphrase: &Passphrase, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        self.check()?;
        let params = Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|e| Error::invalid("argon2id parameters", e.to_string()))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
            .map_err(|e| Error::invalid("argon2id", e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9106 §5.3: the Argon2id test vector, through the same crate and version.
    #[test]
    fn rfc9106_argon2id_known_answer() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[4; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let argon =
            Argon2::new_with_secret(&[3; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        argon
            .hash_password_into(&[1; 32], &[2; 16], &mut out)
            .unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn derivation_depends_on_passphrase_salt_and_costs() {
        let p = KdfParams::insecure_for_tests();
        let a = p
            .derive(&Passphrase::new("correct horse").unwrap(), &[1; 16])
            .unwrap();
        let b = p
            .derive(&Passphrase::new("correct horse").unwrap(), &[1; 16])
            .unwrap();
        let c = p
            .derive(&Passphrase::new("correct horsf").unwrap(), &[1; 16])
            .unwrap();
        let d = p
            .derive(&Passphrase::new("correct horse").unwrap(), &[2; 16])
            .unwrap();
        let e = KdfParams { passes: 2, ..p }
            .derive(&Passphrase::new("correct horse").unwrap(), &[1; 16])
            .unwrap();
        assert_eq!(*a, *b);
        assert!(*a != *c && *a != *d && *a != *e);
    }

    #[test]
    fn hostile_costs_are_refused() {
        let huge = KdfParams {
            memory_kib: u32::MAX,
            passes: 3,
            lanes: 4,
        };
        assert!(huge.check().is_err());
        assert!(
            KdfParams {
                passes: 0,
                ..KdfParams::default()
            }
            .check()
            .is_err()
        );
        assert!(KdfParams::default().check().is_ok());
    }

    #[test]
    fn empty_passphrase_is_refused() {
        assert!(Passphrase::new("").is_err());
    }
}
