//! The key schedule of a sealed file.
//!
//! Each file has a random 256-bit *file key* `K` and a random 256-bit *file salt* `s` (stored in
//! the header). HKDF-SHA256 (RFC 5869) extracts `PRK = HKDF-Extract(s, K)` and expands three
//! independent values from it:
//!
//! | label (HKDF info) | use |
//! |---|---|
//! | `veil/v1 payload key` | the AES-256-GCM key of every payload segment |
//! | `veil/v1 header key` | the HMAC-SHA256 key that authenticates the header |
//! | `veil/v1 key commitment` | 32 bytes stored in the header |
//!
//! The *key commitment* makes the file key-committing: AES-GCM alone is not (a ciphertext can
//! be crafted to decrypt under two keys, Dodis et al., CRYPTO 2018 "Fast message franking";
//! Albertini et al., USENIX Security 2022 "How to abuse and fix authenticated encryption
//! without key commitment"). A reader recomputes the commitment from the file key it
//! unwrapped and compares it in constant time with the header's before using the key, so a
//! file opens to one plaintext only, whichever recipient opens it.

use aws_lc_rs::hkdf;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// Length of the file key, the salt, the derived keys and the commitment.
pub const KEY_LEN: usize = 32;

/// A file key. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FileKey(pub(crate) [u8; KEY_LEN]);

impl FileKey {
    /// A fresh random file key.
    pub fn random() -> Self {
        FileKey(veil_core::random::bytes())
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<secret>)")
    }
}

/// The keys derived from a file key and salt.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FileKeys {
    pub(crate) payload: [u8; KEY_LEN],
    pub(crate) header: [u8; KEY_LEN],
    pub(crate) commitment: [u8; KEY_LEN],
}

impl FileKeys {
    /// Derives the payload key, header key and key commitment.
    pub fn derive(key: &FileKey, salt: &[u8; KEY_LEN]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&key.0);
        let expand = |label: &[u8]| {
            let mut out = [0u8; KEY_LEN];
            prk.expand(&[label], hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(&mut out))
                .expect("HKDF-SHA256 can always expand 32 bytes");
            out
        };
        FileKeys {
            payload: expand(b"veil/v1 payload key"),
            header: expand(b"veil/v1 header key"),
            commitment: expand(b"veil/v1 key commitment"),
        }
    }

    /// Checks the header's commitment against this key's, in constant time.
    pub fn check_commitment(&self, stored: &[u8; KEY_LEN]) -> Result<()> {
        if bool::from(self.commitment.ct_eq(stored)) {
            Ok(())
        } else {
            Err(Error::KeyCommitment)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_distinct_and_depend_on_key_and_salt() {
        let (k1, k2) = (FileKey([1; 32]), FileKey([2; 32]));
        let a = FileKeys::derive(&k1, &[7; 32]);
        let b = FileKeys::derive(&k2, &[7; 32]);
        let c = FileKeys::derive(&k1, &[8; 32]);
        assert_ne!(a.payload, a.header);
        assert_ne!(a.header, a.commitment);
        assert_ne!(a.commitment, b.commitment);
        assert_ne!(a.commitment, c.commitment);
        assert!(a.check_commitment(&a.commitment).is_ok());
        assert!(matches!(
            a.check_commitment(&b.commitment),
            Err(Error::KeyCommitment)
        ));
    }

    // RFC 5869 Appendix A.1 (HKDF-SHA256, test case 1), through the same aws-lc-rs calls.
    #[test]
    fn hkdf_known_answer() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let mut okm = [0u8; 42];
        hkdf::Salt::new(hkdf::HKDF_SHA256, &salt)
            .extract(&ikm)
            .expand(&[&info], Len(42))
            .unwrap()
            .fill(&mut okm)
            .unwrap();
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }
}
