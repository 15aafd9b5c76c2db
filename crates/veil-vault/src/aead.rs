//! AES-256-GCM (NIST SP 800-38D) from aws-lc-rs, in the two shapes Veil uses: sealing a
//! buffer in place with a detached tag (payload segments), and wrapping a short secret.
//!
//! Nonces are never random here: every key is used with a counter nonce under a key that is
//! itself unique (a fresh per-file payload key, or a key-encryption key derived from a fresh
//! salt), so a (key, nonce) pair never repeats.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Length of a GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of a GCM nonce.
pub const NONCE_LEN: usize = 12;

/// An AES-256-GCM key.
pub struct Key(LessSafeKey);

/// Authentication failed.
#[derive(Debug)]
pub struct Unauthentic;

impl Key {
    /// A key from 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 takes a 32-byte key");
        Key(LessSafeKey::new(unbound))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .expect("AES-GCM sealing cannot fail for inputs under 64 GiB");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Encrypts `input` into `output` (same length) and writes the tag into `tag`.
    pub fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        input: &[u8],
        output: &mut [u8],
        tag: &mut [u8],
    ) {
        self.0
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                input,
                output,
                &[],
                tag,
            )
            .expect("output and tag buffers are sized by the caller");
    }

    /// Decrypts `buf` (ciphertext followed by its tag) in place; returns the plaintext length.
    pub fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, Unauthentic> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map(|plain| plain.len())
            .map_err(|_| Unauthentic)
    }

    /// Encrypts a short secret under a single-use key (nonce zero): ciphertext ‖ tag.
    pub fn wrap(&self, aad: &[u8], secret: &[u8]) -> Vec<u8> {
        let mut out = secret.to_vec();
        let tag = self.seal([0; NONCE_LEN], aad, &mut out);
        out.extend_from_slice(&tag);
        out
    }

    /// Reverses [`Key::wrap`]; the plaintext is zeroized when dropped.
    pub fn unwrap(
        &self,
        aad: &[u8],
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Unauthentic> {
        let mut buf = zeroize::Zeroizing::new(wrapped.to_vec());
        let n = self.open([0; NONCE_LEN], aad, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The AES-256-GCM test case 16 of McGrew and Viega, "The Galois/Counter Mode of Operation",
    /// with additional data.
    #[test]
    fn gcm_spec_test_case_16() {
        let key: [u8; 32] =
            unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .try_into()
                .unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let mut pt = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let tag = Key::new(&key).seal(nonce, &aad, &mut pt);
        assert_eq!(
            pt,
            unhex(
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            )
        );
        assert_eq!(tag.to_vec(), unhex("76fc6ece0f4e1768cddf8853bb2d551b"));
    }

    #[test]
    fn wrap_round_trip_and_tamper() {
        let k = Key::new(&[9; 32]);
        let w = k.wrap(b"ad", b"secret");
        assert_eq!(&*k.unwrap(b"ad", &w).unwrap(), b"secret");
        assert!(k.unwrap(b"other", &w).is_err());
        let mut bad = w.clone();
        bad[0] ^= 1;
        assert!(k.unwrap(b"ad", &bad).is_err());
    }
}
