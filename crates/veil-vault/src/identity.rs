//! Identities: who a file is sealed for, and who signed it.
//!
//! An identity holds two key pairs: X25519 for receiving (the file key is wrapped to it with
//! HPKE, RFC 9180) and Ed25519 for signing (RFC 8032). Its *key id* is the first 8 bytes of
//! `SHA-256("veil/v1 key id" ‖ x25519 public ‖ ed25519 public)`, shown as 16 hex digits.
//!
//! Files (PEM, RFC 7468; lines starting with `#` before the PEM block are comments):
//!
//! * `NAME.pub` — `VEIL PUBLIC IDENTITY`: `"VEILPK" ‖ 0x01 ‖ x25519 public (32) ‖ ed25519 public (32)`.
//! * `NAME.key` — `VEIL SECRET IDENTITY`: `"VEILID" ‖ 0x01 ‖ protection (1) ‖ x25519 public (32)
//!   ‖ ed25519 public (32) ‖ ...`, then for protection 0 the secrets in the clear — X25519
//!   secret (32) ‖ Ed25519 seed (32) — or for protection 1 (passphrase) the argon2id salt (16),
//!   memory KiB, passes and lanes (u32 big-endian each) and the 64 secret bytes encrypted with
//!   AES-256-GCM under the argon2id key (nonce zero; additional data: every byte before the
//!   ciphertext), 80 bytes. Secret files are written with mode 0600.
//!
//! See `docs/formats.md` for the byte-level specification.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::digest;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::kem::{Kem, X25519HkdfSha256};
use hpke::{Deserializable, Serializable};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead;
use crate::error::{Error, Result};
use crate::passphrase::{KdfParams, Passphrase};

const PUBLIC_LABEL: &str = "VEIL PUBLIC IDENTITY";
const SECRET_LABEL: &str = "VEIL SECRET IDENTITY";
const PUBLIC_MAGIC: &[u8; 6] = b"VEILPK";
const SECRET_MAGIC: &[u8; 6] = b"VEILID";
const VERSION: u8 = 1;

/// A short identifier of a public identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("key id", format!("\"{s}\" is not 16 hex digits"));
        // from_str_radix alone would take "+f": only hex digits are a key id.
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 8];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(KeyId(out))
    }
}

/// The public half of an identity: what others seal to and verify with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicIdentity {
    x25519: [u8; 32],
    ed25519: [u8; 32],
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({})", self.key_id())
    }
}

impl PublicIdentity {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"veil/v1 key id");
        ctx.update(&self.x25519);
        ctx.update(&self.ed25519);
        let mut id = [0u8; 8];
        id.copy_from_slice(&ctx.finish().as_ref()[..8]);
        KeyId(id)
    }

    /// The Ed25519 public key (what checks this identity's signatures).
    pub fn ed25519(&self) -> [u8; 32] {
        self.ed25519
    }

    /// The identity with these raw public keys (not validated; see [`PublicIdentity::from_pem`]).
    pub(crate) fn from_raw(x25519: [u8; 32], ed25519: [u8; 32]) -> Self {
        PublicIdentity { x25519, ed25519 }
    }

    /// The raw X25519 and Ed25519 public keys.
    pub(crate) fn raw(&self) -> ([u8; 32], [u8; 32]) {
        (self.x25519, self.ed25519)
    }

    /// The X25519 public key, as HPKE wants it.
    pub(crate) fn hpke_public(&self) -> Result<<X25519HkdfSha256 as Kem>::PublicKey> {
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&self.x25519)
            .map_err(|_| Error::invalid("recipient", "not a valid X25519 public key"))
    }

    /// Checks an Ed25519 signature by this identity (RFC 8032, strict verification).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<()> {
        let bad = || Error::BadSignature {
            signer: self.key_id(),
        };
        let key = VerifyingKey::from_bytes(&self.ed25519).map_err(|_| bad())?;
        key.verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| bad())
    }

    /// The PEM text of a `.pub` file.
    pub fn to_pem(&self) -> String {
        let mut body = Vec::with_capacity(71);
        body.extend_from_slice(PUBLIC_MAGIC);
        body.push(VERSION);
        body.extend_from_slice(&self.x25519);
        body.extend_from_slice(&self.ed25519);
        let pem = pem_rfc7468::encode_string(PUBLIC_LABEL, pem_rfc7468::LineEnding::LF, &body)
            .expect("71 bytes always encode");
        format!("# Veil public identity, key id {}\n{pem}", self.key_id())
    }

    /// Parses a `.pub` file's text; `path` names it in errors.
    pub fn from_pem(text: &str, path: &Path) -> Result<Self> {
        let body = decode_pem(text, PUBLIC_LABEL, path)?;
        if body.len() != 71 || &body[..6] != PUBLIC_MAGIC {
            return Err(Error::key_file(path, "not a Veil public identity"));
        }
        if body[6] != VERSION {
            return Err(Error::key_file(
                path,
                format!("public identity version {} is not supported", body[6]),
            ));
        }
        let public = PublicIdentity {
            x25519: body[7..39].try_into().expect("32 bytes"),
            ed25519: body[39..71].try_into().expect("32 bytes"),
        };
        public
            .hpke_public()
            .map_err(|_| Error::key_file(path, "invalid X25519 public key"))?;
        VerifyingKey::from_bytes(&public.ed25519)
            .map_err(|_| Error::key_file(path, "invalid Ed25519 public key"))?;
        Ok(public)
    }

    /// Reads a `.pub` file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_pem(&text, path)
    }
}

/// A secret identity. Secrets are zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Identity {
    x25519_secret: [u8; 32],
    ed25519_seed: [u8; 32],
    #[zeroize(skip)]
    public: PublicIdentity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({}, <secret>)", self.public.key_id())
    }
}

impl Identity {
    /// A new random identity (keys from the operating system's CSPRNG).
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; 64]);
        veil_core::random::fill(secret.as_mut());
        Self::from_secret_bytes(&secret)
    }

    /// The identity with the X25519 secret `bytes[..32]` and Ed25519 seed `bytes[32..]`.
    pub fn from_secret_bytes(bytes: &[u8; 64]) -> Self {
        let x25519_secret: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
        let ed25519_seed: [u8; 32] = bytes[32..].try_into().expect("32 bytes");
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&x25519_secret)
            .expect("every 32-byte string is an X25519 secret key");
        let x25519: [u8; 32] = X25519HkdfSha256::sk_to_pk(&sk).to_bytes().into();
        let ed25519 = SigningKey::from_bytes(&ed25519_seed)
            .verifying_key()
            .to_bytes();
        Identity {
            x25519_secret,
            ed25519_seed,
            public: PublicIdentity { x25519, ed25519 },
        }
    }

    /// The 64 secret bytes (X25519 secret ‖ Ed25519 seed), for key splitting.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 64]> {
        let mut out = Zeroizing::new([0u8; 64]);
        out[..32].copy_from_slice(&self.x25519_secret);
        out[32..].copy_from_slice(&self.ed25519_seed);
        out
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The X25519 private key, as HPKE wants it.
    pub(crate) fn hpke_private(&self) -> <X25519HkdfSha256 as Kem>::PrivateKey {
        <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&self.x25519_secret)
            .expect("every 32-byte string is an X25519 secret key")
    }

    /// An Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(&self.ed25519_seed)
            .sign(message)
            .to_bytes()
    }

    /// The PEM text of a `.key` file, protected by `passphrase` when given.
    pub fn to_pem(
        &self,
        protection: Option<(&Passphrase, KdfParams)>,
    ) -> Result<Zeroizing<String>> {
        let mut body = Zeroizing::new(Vec::with_capacity(200));
        body.extend_from_slice(SECRET_MAGIC);
        body.push(VERSION);
        body.push(u8::from(protection.is_some()));
        body.extend_from_slice(&self.public.x25519);
        body.extend_from_slice(&self.public.ed25519);
        match protection {
            None => body.extend_from_slice(self.secret_bytes().as_ref()),
            Some((passphrase, params)) => {
                params.check_for_writing()?;
                let salt: [u8; 16] = veil_core::random::bytes();
                body.extend_from_slice(&salt);
                body.extend_from_slice(&params.to_bytes());
                let kek = params.derive(passphrase, &salt)?;
                let wrapped = aead::Key::new(&kek).wrap(&body, self.secret_bytes().as_ref());
                body.extend_from_slice(&wrapped);
            }
        }
        let pem = pem_rfc7468::encode_string(SECRET_LABEL, pem_rfc7468::LineEnding::LF, &body)
            .map_err(|e| Error::invalid("identity", e.to_string()))?;
        let protected = if protection.is_some() {
            "passphrase-protected"
        } else {
            "UNPROTECTED"
        };
        Ok(Zeroizing::new(format!(
            "# Veil secret identity ({protected}), key id {}. Keep this file secret.\n{pem}",
            self.public.key_id()
        )))
    }

    /// The public identity stored (in the clear) in a `.key` file, without its passphrase.
    pub fn public_of_pem(text: &str, path: &Path) -> Result<PublicIdentity> {
        let body = Zeroizing::new(decode_pem(text, SECRET_LABEL, path)?);
        if body.len() < 72 || &body[..6] != SECRET_MAGIC {
            return Err(Error::key_file(path, "not a Veil secret identity"));
        }
        Ok(PublicIdentity {
            x25519: body[8..40].try_into().expect("32 bytes"),
            ed25519: body[40..72].try_into().expect("32 bytes"),
        })
    }

    /// True when the `.key` text is passphrase-protected.
    pub fn is_protected(text: &str, path: &Path) -> Result<bool> {
        let body = Zeroizing::new(decode_pem(text, SECRET_LABEL, path)?);
        Ok(body.get(7) == Some(&1))
    }

    /// Parses a `.key` file's text; `passphrase` is asked for only if the file is protected.
    pub fn from_pem(
        text: &str,
        path: &Path,
        passphrase: impl FnOnce() -> Result<Passphrase>,
    ) -> Result<Self> {
        let body = Zeroizing::new(decode_pem(text, SECRET_LABEL, path)?);
        let bad = |m: &str| Error::key_file(path, m.to_string());
        if body.len() < 72 || &body[..6] != SECRET_MAGIC {
            return Err(bad("not a Veil secret identity"));
        }
        if body[6] != VERSION {
            return Err(bad("unsupported identity version"));
        }
        let secret: Zeroizing<Vec<u8>> = match body[7] {
            0 if body.len() == 72 + 64 => Zeroizing::new(body[72..].to_vec()),
            1 if body.len() == 72 + 28 + 80 => {
                let salt = &body[72..88];
                let params = KdfParams::from_bytes(body[88..100].try_into().expect("12 bytes"));
                // As for sealed files (F-11): no argon2id costs a reader could test
                // passphrases against for free.
                params.check_floor()?;
                let kek = params.derive(&passphrase()?, salt)?;
                aead::Key::new(&kek)
                    .unwrap(&body[..100], &body[100..])
                    .map_err(|_| Error::WrongPassphrase)?
            }
            _ => return Err(bad("malformed secret identity")),
        };
        let secret: [u8; 64] = secret
            .as_slice()
            .try_into()
            .map_err(|_| bad("malformed secret identity"))?;
        let identity = Identity::from_secret_bytes(&secret);
        let stored = PublicIdentity {
            x25519: body[8..40].try_into().expect("32 bytes"),
            ed25519: body[40..72].try_into().expect("32 bytes"),
        };
        if identity.public != stored {
            // Under a passphrase this is the wrong-passphrase error too: AES-GCM is not
            // key-committing, so a crafted file could open under several passphrases, and
            // a second error would say which group the right one is in (F-11).
            if body[7] == 1 {
                return Err(Error::WrongPassphrase);
            }
            return Err(bad(
                "the secret keys do not match the public keys stored beside them",
            ));
        }
        Ok(identity)
    }
}

/// Decodes the PEM block with `label`, ignoring `#` comment lines before it.
fn decode_pem(text: &str, label: &str, path: &Path) -> Result<Vec<u8>> {
    let pem: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let (found, body) = pem_rfc7468::decode_vec(pem.trim_start().as_bytes())
        .map_err(|_| Error::key_file(path, format!("not a PEM file of type {label}")))?;
    if found != label {
        return Err(Error::key_file(
            path,
            format!("holds a {found}, expected a {label}"),
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("test.key")
    }

    #[test]
    fn unprotected_round_trip() {
        let id = Identity::generate();
        let text = id.to_pem(None).unwrap();
        let back = Identity::from_pem(&text, p(), || unreachable!("no passphrase needed")).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(*back.secret_bytes(), *id.secret_bytes());
        let public = PublicIdentity::from_pem(&id.public().to_pem(), p()).unwrap();
        assert_eq!(public.key_id(), id.public().key_id());
    }

    #[test]
    fn protected_round_trip_and_wrong_passphrase() {
        let id = Identity::generate();
        let pass = Passphrase::new("hunter2").unwrap();
        let text = id.to_pem(Some((&pass, KdfParams::FLOOR))).unwrap();
        assert!(Identity::is_protected(&text, p()).unwrap());
        let back = Identity::from_pem(&text, p(), || Ok(pass.clone())).unwrap();
        assert_eq!(back.public(), id.public());
        let wrong = Identity::from_pem(&text, p(), || Passphrase::new("hunter3"));
        assert!(matches!(wrong, Err(Error::WrongPassphrase)));
        // A protected file whose secret does not match its public keys (what an AES-GCM
        // collision built for several passphrases gives) is the same error (F-11); one
        // with costs below the floor is refused before any passphrase is tried.
        let craft = |params: KdfParams| {
            let other = Identity::generate();
            let mut body = SECRET_MAGIC.to_vec();
            body.extend([VERSION, 1]);
            body.extend_from_slice(&other.public.x25519);
            body.extend_from_slice(&other.public.ed25519);
            body.extend_from_slice(&[5u8; 16]);
            body.extend_from_slice(&params.to_bytes());
            let kek = params.derive(&pass, &[5u8; 16]).unwrap();
            let wrapped = aead::Key::new(&kek).wrap(&body, id.secret_bytes().as_ref());
            body.extend_from_slice(&wrapped);
            pem_rfc7468::encode_string(SECRET_LABEL, pem_rfc7468::LineEnding::LF, &body).unwrap()
        };
        let mismatched = Identity::from_pem(&craft(KdfParams::FLOOR), p(), || Ok(pass.clone()));
        assert!(matches!(mismatched, Err(Error::WrongPassphrase)));
        let cheap = craft(KdfParams::insecure_for_tests());
        let refused = Identity::from_pem(&cheap, p(), || unreachable!("refused before"));
        assert!(matches!(refused, Err(Error::MalformedHeader(_))));
    }

    #[test]
    fn signatures_verify_only_for_the_signer_and_message() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let sig = a.sign(b"message");
        assert!(a.public().verify(b"message", &sig).is_ok());
        assert!(a.public().verify(b"messagf", &sig).is_err());
        assert!(b.public().verify(b"message", &sig).is_err());
    }

    /// RFC 8032 §7.1, TEST 1: the empty message under the documented secret key.
    #[test]
    fn ed25519_known_answer() {
        let seed: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let mut secret = [0u8; 64];
        secret[32..].copy_from_slice(&seed);
        let id = Identity::from_secret_bytes(&secret);
        let sig = id.sign(b"");
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn tampered_or_foreign_files_are_rejected() {
        let id = Identity::generate();
        let public = id.public().to_pem();
        assert!(Identity::from_pem(&public, p(), || unreachable!()).is_err());
        assert!(PublicIdentity::from_pem("hello", p()).is_err());
        // Swap the public keys stored in a secret file for another identity's.
        let other = Identity::generate();
        let mut body = decode_pem(&id.to_pem(None).unwrap(), SECRET_LABEL, p()).unwrap();
        body[8..72].copy_from_slice(
            &decode_pem(&other.to_pem(None).unwrap(), SECRET_LABEL, p()).unwrap()[8..72],
        );
        let forged =
            pem_rfc7468::encode_string(SECRET_LABEL, pem_rfc7468::LineEnding::LF, &body).unwrap();
        assert!(Identity::from_pem(&forged, p(), || unreachable!()).is_err());
    }

    #[test]
    fn key_id_parses_from_its_display() {
        let id = Identity::generate().public().key_id();
        assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        assert!("xyz".parse::<KeyId>().is_err());
        // One spelling: a sign that from_str_radix would accept is refused.
        assert!("+f+f+f+f+f+f+f+f".parse::<KeyId>().is_err());
    }
}
