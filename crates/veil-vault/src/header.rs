//! The header of a sealed file (`.veil` v1), byte by byte.
//!
//! All integers are big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `VEILSEAL` |
//! | 8 | 1 | version, `0x01` |
//! | 9 | 1 | flags: bit 0 = signed (a 64-byte signature trailer follows the payload); other bits 0 |
//! | 10 | 4 | segment size `S` in plaintext bytes, 16 ≤ S ≤ 2²⁶ |
//! | 14 | 32 | file salt |
//! | 46 | 32 | key commitment (see [`crate::schedule`]) |
//! | 78 | 8 | signer key id (zero when unsigned) |
//! | 86 | 2 | number of recipient stanzas `n`, 1 ≤ n ≤ 1024 |
//! | 88 | … | `n` stanzas |
//! | end − 32 | 32 | HMAC-SHA256 under the header key of every header byte before it |
//!
//! Stanzas:
//!
//! * `0x01` X25519 (89 bytes): type ‖ recipient key id (8) ‖ HPKE encapsulated key (32) ‖
//!   wrapped file key (48). HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256),
//!   HKDF-SHA256, ChaCha20-Poly1305; `info = "veil/v1 file key" ‖ file salt`, empty `aad`.
//! * `0x03` committing passphrase (109 bytes): type ‖ argon2id salt (16) ‖ memory KiB,
//!   passes, lanes (u32 each) ‖ commitment (32) ‖ wrapped file key (48). With `P` the
//!   argon2id output (32 bytes), the commitment is HMAC-SHA256(P, "veil/v1 passphrase
//!   commitment" ‖ file salt) and the file key is wrapped by AES-256-GCM under
//!   HMAC-SHA256(P, "veil/v1 passphrase key"), nonce zero, `aad = "veil/v1 passphrase" ‖
//!   file salt`. AES-GCM is not key-committing (one ciphertext can be made to decrypt under
//!   several keys, Len, Grubbs and Ristenpart, USENIX Security 2021); the commitment, checked
//!   in constant time before the unwrap, is, so one stanza opens under one passphrase only.
//!   argon2id costs must be at least OWASP's minimum (19 MiB, 2 passes).
//! * `0x02` passphrase (77 bytes, read only: written before `0x03`): the same without the
//!   commitment, the file key wrapped under `P` itself.
//!
//! Under a passphrase alone, every failure to read or unlock a header is one error,
//! [`Error::WrongPassphrase`]: which step failed would tell someone who crafted the file
//! something about the passphrase (a partitioning oracle, F-11).
//!
//! The first 86 bytes (magic through signer key id) are the file's *metadata*: they, with the
//! payload digest, are what the sender signs. The recipient stanzas are not signed, so
//! `rewrap` can change the recipients without breaking the signature; they are authenticated
//! by the header MAC, which any recipient can recompute.

use std::io::Read;

use aws_lc_rs::hmac;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};

use crate::aead;
use crate::error::{Error, HeaderProblem, Result};
use crate::identity::{Identity, KeyId, PublicIdentity};
use crate::passphrase::{KdfParams, Passphrase};
use crate::schedule::{FileKey, FileKeys, KEY_LEN};

/// The magic at the start of every sealed file.
pub const MAGIC: &[u8; 8] = b"VEILSEAL";
/// The version this build writes and reads.
pub const VERSION: u8 = 1;
/// Smallest segment size.
pub const MIN_SEGMENT: u32 = 16;
/// Largest segment size (64 MiB).
pub const MAX_SEGMENT: u32 = 1 << 26;
/// Default segment size: 1 MiB minus the 16-byte tag, so that every ciphertext segment is
/// exactly 1 MiB. Ciphertext segments then sit at a fixed offset modulo the page size, which
/// keeps AES-GCM's loads and stores from drifting against each other (measured: 16.1 GiB/s
/// against 11.9 GiB/s for 2²⁰-byte plaintext segments on one core of the benchmark machine)
/// and makes a random-access read of one segment one aligned 1 MiB read.
pub const DEFAULT_SEGMENT: u32 = (1 << 20) - 16;
/// Most recipient stanzas in one header.
pub const MAX_STANZAS: usize = 1024;
/// Length of the signature trailer of a signed file.
pub const SIGNATURE_LEN: u64 = 64;

const FLAG_SIGNED: u8 = 1;
const METADATA_LEN: usize = 86;
const MAC_LEN: usize = 32;
const X25519_STANZA: u8 = 1;
const PASSPHRASE_STANZA: u8 = 2;
const COMMITTING_PASSPHRASE_STANZA: u8 = 3;
const WRAPPED_LEN: usize = 48;

/// One way to obtain the file key.
#[derive(Clone, PartialEq, Eq)]
pub enum Stanza {
    /// The file key sealed to an X25519 public key with HPKE.
    X25519 {
        /// The recipient's key id.
        key_id: KeyId,
        /// HPKE encapsulated key.
        enc: [u8; 32],
        /// HPKE ciphertext of the file key.
        wrapped: [u8; WRAPPED_LEN],
    },
    /// The file key encrypted under a passphrase-derived key.
    Passphrase {
        /// argon2id salt.
        salt: [u8; 16],
        /// argon2id costs.
        params: KdfParams,
        /// The key commitment (`None` in a stanza of type `0x02`, written by an older Veil).
        commitment: Option<[u8; 32]>,
        /// AES-256-GCM ciphertext of the file key.
        wrapped: [u8; WRAPPED_LEN],
    },
}

impl Stanza {
    /// The recipient's key id, or `None` for a passphrase.
    pub fn key_id(&self) -> Option<KeyId> {
        match self {
            Stanza::X25519 { key_id, .. } => Some(*key_id),
            Stanza::Passphrase { .. } => None,
        }
    }

    /// How the stanza is shown: a key id, or `passphrase`.
    pub fn label(&self) -> String {
        self.key_id()
            .map_or_else(|| "passphrase".to_string(), |k| k.to_string())
    }

    /// Wraps `key` for `recipient`.
    pub fn for_recipient(
        key: &FileKey,
        salt: &[u8; KEY_LEN],
        recipient: &PublicIdentity,
    ) -> Result<Stanza> {
        let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeS::Base,
            &recipient.hpke_public()?,
            &wrap_info(salt),
            &key.0,
            b"",
        )
        .map_err(|e| Error::invalid("recipient", format!("HPKE encapsulation failed: {e}")))?;
        Ok(Stanza::X25519 {
            key_id: recipient.key_id(),
            enc: enc.to_bytes().into(),
            wrapped: ct
                .as_slice()
                .try_into()
                .map_err(|_| Error::invalid("recipient", "unexpected HPKE ciphertext size"))?,
        })
    }

    /// Wraps `key` under `passphrase`.
    pub fn for_passphrase(
        key: &FileKey,
        salt: &[u8; KEY_LEN],
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<Stanza> {
        params.check_for_writing()?;
        let kdf_salt: [u8; 16] = veil_core::random::bytes();
        let stretched = params.derive(passphrase, &kdf_salt)?;
        let (kek, commitment) = passphrase_keys(&stretched, salt);
        let wrapped = aead::Key::new(&kek).wrap(&passphrase_aad(salt), &key.0);
        Ok(Stanza::Passphrase {
            salt: kdf_salt,
            params,
            commitment: Some(commitment),
            wrapped: wrapped
                .as_slice()
                .try_into()
                .expect("32-byte key plus 16-byte tag"),
        })
    }
}

fn wrap_info(salt: &[u8; KEY_LEN]) -> Vec<u8> {
    [b"veil/v1 file key".as_slice(), salt].concat()
}

fn passphrase_aad(salt: &[u8; KEY_LEN]) -> Vec<u8> {
    [b"veil/v1 passphrase".as_slice(), salt].concat()
}

/// The wrapping key and the commitment of a `0x03` stanza, from the argon2id output.
fn passphrase_keys(
    stretched: &[u8; KEY_LEN],
    file_salt: &[u8; KEY_LEN],
) -> (zeroize::Zeroizing<[u8; KEY_LEN]>, [u8; KEY_LEN]) {
    let prf = hmac::Key::new(hmac::HMAC_SHA256, stretched);
    let mut kek = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    kek.copy_from_slice(hmac::sign(&prf, b"veil/v1 passphrase key").as_ref());
    let commitment = hmac::sign(
        &prf,
        &[b"veil/v1 passphrase commitment".as_slice(), file_salt].concat(),
    );
    (kek, commitment.as_ref().try_into().expect("32 bytes"))
}

/// What can open a sealed file: identities and, optionally, a passphrase.
#[derive(Default)]
pub struct Keyring {
    /// Secret identities to try.
    pub identities: Vec<Identity>,
    /// A passphrase to try.
    pub passphrase: Option<Passphrase>,
}

/// A parsed header.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// The signer's key id, when the file is signed.
    pub signer: Option<KeyId>,
    /// The file salt.
    pub salt: [u8; KEY_LEN],
    /// The key commitment.
    pub commitment: [u8; KEY_LEN],
    /// Recipient stanzas.
    pub stanzas: Vec<Stanza>,
    /// The header MAC.
    pub mac: [u8; MAC_LEN],
}

impl Keyring {
    /// `result`, or under a passphrase alone, for any failure to read or unlock a header,
    /// [`Error::WrongPassphrase`]: one error whatever failed (F-11).
    pub(crate) fn conceal<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Err(
                Error::MalformedHeader(_)
                | Error::HeaderTampered
                | Error::KeyCommitment
                | Error::NoMatchingKey { .. },
            ) if self.passphrase.is_some() && self.identities.is_empty() => {
                Err(Error::WrongPassphrase)
            }
            other => other,
        }
    }
}

impl Header {
    /// The signed metadata: magic through signer key id (86 bytes).
    pub fn metadata(&self) -> [u8; METADATA_LEN] {
        let mut m = [0u8; METADATA_LEN];
        m[..8].copy_from_slice(MAGIC);
        m[8] = VERSION;
        m[9] = if self.signer.is_some() {
            FLAG_SIGNED
        } else {
            0
        };
        m[10..14].copy_from_slice(&self.segment_size.to_be_bytes());
        m[14..46].copy_from_slice(&self.salt);
        m[46..78].copy_from_slice(&self.commitment);
        m[78..86].copy_from_slice(&self.signer.map_or([0; 8], |k| k.0));
        m
    }

    /// Every byte the MAC covers.
    fn authenticated_bytes(&self) -> Vec<u8> {
        let mut out = self.metadata().to_vec();
        out.extend_from_slice(&(self.stanzas.len() as u16).to_be_bytes());
        for s in &self.stanzas {
            match s {
                Stanza::X25519 {
                    key_id,
                    enc,
                    wrapped,
                } => {
                    out.push(X25519_STANZA);
                    out.extend_from_slice(&key_id.0);
                    out.extend_from_slice(enc);
                    out.extend_from_slice(wrapped);
                }
                Stanza::Passphrase {
                    salt,
                    params,
                    commitment,
                    wrapped,
                } => {
                    out.push(match commitment {
                        Some(_) => COMMITTING_PASSPHRASE_STANZA,
                        None => PASSPHRASE_STANZA,
                    });
                    out.extend_from_slice(salt);
                    out.extend_from_slice(&params.to_bytes());
                    if let Some(c) = commitment {
                        out.extend_from_slice(c);
                    }
                    out.extend_from_slice(wrapped);
                }
            }
        }
        out
    }

    /// The encoded header, MAC included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.authenticated_bytes();
        out.extend_from_slice(&self.mac);
        out
    }

    /// Length of the encoded header.
    pub fn encoded_len(&self) -> u64 {
        self.to_bytes().len() as u64
    }

    /// Sets the MAC for `keys`.
    pub fn seal_mac(&mut self, keys: &FileKeys) {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &keys.header),
            &self.authenticated_bytes(),
        );
        self.mac.copy_from_slice(tag.as_ref());
    }

    /// Checks the MAC (constant time).
    pub fn check_mac(&self, keys: &FileKeys) -> Result<()> {
        hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, &keys.header),
            &self.authenticated_bytes(),
            &self.mac,
        )
        .map_err(|_| Error::HeaderTampered)
    }

    /// Reads and parses a header; fails on the first malformed field.
    pub fn read_from<R: Read>(input: &mut R) -> Result<Header> {
        let mut fixed = [0u8; METADATA_LEN + 2];
        read_exact(input, &mut fixed[..8])?;
        if &fixed[..8] != MAGIC {
            return Err(Error::NotSealed);
        }
        read_exact(input, &mut fixed[8..])?;
        if fixed[8] != VERSION {
            return Err(Error::UnsupportedVersion(fixed[8]));
        }
        let flags = fixed[9];
        if flags & !FLAG_SIGNED != 0 {
            return Err(Error::MalformedHeader(HeaderProblem::UnknownFlags(flags)));
        }
        let segment_size = u32::from_be_bytes(fixed[10..14].try_into().expect("4 bytes"));
        if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&segment_size) {
            return Err(Error::MalformedHeader(HeaderProblem::SegmentSize(
                segment_size,
            )));
        }
        let signer_id = KeyId(fixed[78..86].try_into().expect("8 bytes"));
        let signer = (flags & FLAG_SIGNED != 0).then_some(signer_id);
        if signer.is_none() && signer_id.0 != [0; 8] {
            return Err(Error::MalformedHeader(HeaderProblem::SignerOfUnsigned));
        }
        let count = usize::from(u16::from_be_bytes(
            fixed[86..88].try_into().expect("2 bytes"),
        ));
        if !(1..=MAX_STANZAS).contains(&count) {
            return Err(Error::MalformedHeader(HeaderProblem::StanzaCount(count)));
        }
        let mut stanzas = Vec::with_capacity(count);
        for _ in 0..count {
            let mut kind = [0u8; 1];
            read_exact(input, &mut kind)?;
            stanzas.push(match kind[0] {
                X25519_STANZA => {
                    let mut b = [0u8; 88];
                    read_exact(input, &mut b)?;
                    Stanza::X25519 {
                        key_id: KeyId(b[..8].try_into().expect("8 bytes")),
                        enc: b[8..40].try_into().expect("32 bytes"),
                        wrapped: b[40..].try_into().expect("48 bytes"),
                    }
                }
                PASSPHRASE_STANZA | COMMITTING_PASSPHRASE_STANZA => {
                    let committing = kind[0] == COMMITTING_PASSPHRASE_STANZA;
                    let mut b = [0u8; 108];
                    let b = &mut b[..if committing { 108 } else { 76 }];
                    read_exact(input, b)?;
                    let params = KdfParams::from_bytes(b[16..28].try_into().expect("12 bytes"));
                    params.check_floor()?;
                    Stanza::Passphrase {
                        salt: b[..16].try_into().expect("16 bytes"),
                        params,
                        commitment: committing.then(|| b[28..60].try_into().expect("32 bytes")),
                        wrapped: b[b.len() - WRAPPED_LEN..].try_into().expect("48 bytes"),
                    }
                }
                other => {
                    return Err(Error::MalformedHeader(HeaderProblem::UnknownStanza(other)));
                }
            });
        }
        let mut mac = [0u8; MAC_LEN];
        read_exact(input, &mut mac)?;
        Ok(Header {
            segment_size,
            signer,
            salt: fixed[14..46].try_into().expect("32 bytes"),
            commitment: fixed[46..78].try_into().expect("32 bytes"),
            stanzas,
            mac,
        })
    }

    /// Recovers the file key with `keyring`, checks the key commitment and the header MAC,
    /// and returns the derived keys.
    ///
    /// When the key came from a passphrase, any failure is [`Error::WrongPassphrase`].
    pub fn unlock(&self, keyring: &Keyring) -> Result<(FileKey, FileKeys)> {
        let (key, by_passphrase) = self.unwrap_file_key(keyring)?;
        let keys = FileKeys::derive(&key, &self.salt);
        match keys
            .check_commitment(&self.commitment)
            .and_then(|()| self.check_mac(&keys))
        {
            Ok(()) => Ok((key, keys)),
            Err(_) if by_passphrase => Err(Error::WrongPassphrase),
            Err(e) => Err(e),
        }
    }

    /// The file key, and whether a passphrase gave it.
    fn unwrap_file_key(&self, keyring: &Keyring) -> Result<(FileKey, bool)> {
        for stanza in &self.stanzas {
            match stanza {
                Stanza::X25519 {
                    key_id,
                    enc,
                    wrapped,
                } => {
                    let Some(identity) = keyring
                        .identities
                        .iter()
                        .find(|i| i.public().key_id() == *key_id)
                    else {
                        continue;
                    };
                    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc)
                        .map_err(|_| Error::HeaderTampered)?;
                    let plain = zeroize::Zeroizing::new(
                        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                            &OpModeR::Base,
                            &identity.hpke_private(),
                            &enc,
                            &wrap_info(&self.salt),
                            wrapped,
                            b"",
                        )
                        .map_err(|_| Error::HeaderTampered)?,
                    );
                    return Ok((file_key(&plain)?, false));
                }
                Stanza::Passphrase {
                    salt,
                    params,
                    commitment,
                    wrapped,
                } => {
                    let Some(passphrase) = &keyring.passphrase else {
                        continue;
                    };
                    let stretched = params.derive(passphrase, salt)?;
                    let kek = match commitment {
                        Some(expected) => {
                            let (kek, actual) = passphrase_keys(&stretched, &self.salt);
                            aws_lc_rs::constant_time::verify_slices_are_equal(&actual, expected)
                                .map_err(|_| Error::WrongPassphrase)?;
                            kek
                        }
                        None => stretched,
                    };
                    let plain = aead::Key::new(&kek)
                        .unwrap(&passphrase_aad(&self.salt), wrapped)
                        .map_err(|_| Error::WrongPassphrase)?;
                    return Ok((file_key(&plain).map_err(|_| Error::WrongPassphrase)?, true));
                }
            }
        }
        Err(Error::NoMatchingKey {
            recipients: self
                .stanzas
                .iter()
                .map(Stanza::label)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

fn file_key(bytes: &[u8]) -> Result<FileKey> {
    let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| Error::HeaderTampered)?;
    Ok(FileKey(key))
}

fn read_exact<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<()> {
    input.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::MalformedHeader(HeaderProblem::CutShort)
        } else {
            Error::io("sealed input", e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_with(stanza: Stanza, key: &FileKey, salt: [u8; KEY_LEN]) -> Header {
        let keys = FileKeys::derive(key, &salt);
        let mut header = Header {
            segment_size: MIN_SEGMENT,
            signer: None,
            salt,
            commitment: keys.commitment,
            stanzas: vec![stanza],
            mac: [0; MAC_LEN],
        };
        header.seal_mac(&keys);
        header
    }

    #[test]
    fn a_passphrase_stanza_commits_to_its_passphrase_and_old_stanzas_still_open() {
        let pass = Passphrase::new("correct horse").unwrap();
        let keyring = Keyring {
            identities: vec![],
            passphrase: Some(pass.clone()),
        };
        let (key, salt, params) = (FileKey::random(), [7u8; KEY_LEN], KdfParams::FLOOR);
        // A stanza of type 0x02, as an older Veil wrote it: the file key under argon2id's
        // output itself, no commitment.
        let kdf_salt = [9u8; 16];
        let stretched = params.derive(&pass, &kdf_salt).unwrap();
        let wrapped = aead::Key::new(&stretched).wrap(&passphrase_aad(&salt), &key.0);
        let legacy = Stanza::Passphrase {
            salt: kdf_salt,
            params,
            commitment: None,
            wrapped: wrapped.as_slice().try_into().unwrap(),
        };
        let bytes = header_with(legacy, &key, salt).to_bytes();
        assert_eq!(bytes[88], PASSPHRASE_STANZA);
        let read = Header::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(read.unlock(&keyring).unwrap().0.0, key.0);
        // A committing stanza round-trips through its bytes.
        let good = Stanza::for_passphrase(&key, &salt, &pass, params).unwrap();
        let bytes = header_with(good.clone(), &key, salt).to_bytes();
        assert_eq!(bytes[88], COMMITTING_PASSPHRASE_STANZA);
        let read = Header::read_from(&mut &bytes[..]).unwrap();
        assert!(read.stanzas[0] == good);
        assert_eq!(read.unlock(&keyring).unwrap().0.0, key.0);
        // The same wrapped key (which AES-GCM alone would open) under another commitment is
        // refused: the commitment is checked, and first.
        let Stanza::Passphrase {
            salt: s,
            params: p,
            commitment: Some(mut c),
            wrapped: w,
        } = good
        else {
            unreachable!("a committing passphrase stanza")
        };
        c[0] ^= 1;
        let forged = Stanza::Passphrase {
            salt: s,
            params: p,
            commitment: Some(c),
            wrapped: w,
        };
        assert!(matches!(
            header_with(forged, &key, salt).unlock(&keyring),
            Err(Error::WrongPassphrase)
        ));
    }
}
