//! Signed notes and checkpoints, as C2SP specifies them (`c2sp.org/signed-note`,
//! `c2sp.org/tlog-checkpoint`) and Go's `golang.org/x/mod/sumdb/note` reads them.
//!
//! * A *verifier key* is `<name>+<hex key id>+<base64(0x01 ‖ Ed25519 public key)>`, with
//!   key id = the first 4 bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
//! * A *signed note* is its text (ending in a newline), a blank line, and one line per
//!   signature: `— <name> <base64(key id ‖ Ed25519 signature of the text)>`.
//! * A *checkpoint* is a note whose text is the log's origin, the tree size in decimal and the
//!   base64 root hash, one per line, then optional extension lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ProofFailure, Result};
use crate::merkle::Hash;

const ALG_ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let mut id = [0u8; 4];
    id.copy_from_slice(&h.finalize()[..4]);
    id
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(Error::invalid(
            "origin",
            format!("note key name \"{name}\" must be non-empty, without spaces or '+'"),
        ));
    }
    Ok(())
}

/// A key that verifies signed notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    public: [u8; 32],
}

impl NoteVerifier {
    /// Parses `<name>+<hex id>+<base64(0x01 ‖ key)>`; the id must match the key.
    pub fn parse(vkey: &str) -> Result<Self> {
        let bad = |why: &str| Error::malformed("verifier key", why);
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<hex key id>+<base64 key>"));
        };
        check_name(name)?;
        let key = B64
            .decode(key_b64)
            .map_err(|_| bad("the key is not base64"))?;
        if key.len() != 33 || key[0] != ALG_ED25519 {
            return Err(bad("not an Ed25519 key (type 0x01, 32 bytes)"));
        }
        let public: [u8; 32] = key[1..].try_into().expect("32 bytes");
        VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 public key"))?;
        let id = key_id(name, &public);
        if id_hex.len() != 8 || u32::from_str_radix(id_hex, 16).ok() != Some(u32::from_be_bytes(id))
        {
            return Err(bad("the key id does not match the key"));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id,
            public,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that `note` carries a valid signature by this key and returns its text.
    /// Signatures by other keys are ignored, as C2SP allows (witness cosignatures).
    pub fn open(&self, note: &str) -> Result<String> {
        let split = note
            .rfind("\n\n")
            .ok_or(Error::ProofFailed(ProofFailure::NotANote))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(Error::ProofFailed(ProofFailure::Unsigned));
        }
        let mut verified = false;
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(Error::ProofFailed(ProofFailure::BadSignatureLine))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(Error::ProofFailed(ProofFailure::BadSignatureLine))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| Error::ProofFailed(ProofFailure::BadSignatureLine))?;
            if name != self.name || blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let sig = Signature::from_bytes(&blob[4..].try_into().expect("64 bytes"));
            let key = VerifyingKey::from_bytes(&self.public)
                .map_err(|_| Error::ProofFailed(ProofFailure::BadKey))?;
            key.verify_strict(text.as_bytes(), &sig)
                .map_err(|_| Error::ProofFailed(ProofFailure::BadSignature))?;
            verified = true;
        }
        if verified {
            Ok(text.to_string())
        } else {
            Err(Error::ProofFailed(ProofFailure::NotSignedByKey))
        }
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.id),
            B64.encode(key)
        )
    }
}

/// A key that signs notes. The seed is zeroized on drop.
pub struct NoteSigner {
    name: String,
    seed: Zeroizing<[u8; 32]>,
}

impl NoteSigner {
    /// A signer named `name` with the Ed25519 seed `seed`.
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        Ok(NoteSigner {
            name: name.to_string(),
            seed: Zeroizing::new(seed),
        })
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> NoteVerifier {
        let public = SigningKey::from_bytes(&self.seed)
            .verifying_key()
            .to_bytes();
        NoteVerifier {
            name: self.name.clone(),
            id: key_id(&self.name, &public),
            public,
        }
    }

    /// Signs `text` (which must end in a newline) into a signed note.
    pub fn sign(&self, text: &str) -> Result<String> {
        if !text.ends_with('\n') || text.ends_with("\n\n") {
            return Err(Error::invalid(
                "note",
                "a note's text must end in exactly one newline",
            ));
        }
        let sig = SigningKey::from_bytes(&self.seed)
            .sign(text.as_bytes())
            .to_bytes();
        let mut blob = self.verifier().id.to_vec();
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// A checkpoint: the log's origin, size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (its name).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// The Merkle root of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text of the checkpoint.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint's note text (extension lines are allowed and ignored).
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let bad = |why: &str| Error::malformed("checkpoint", why);
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size_line = lines.next().ok_or_else(|| bad("no size line"))?;
        let size = canonical_u64(size_line)
            .ok_or_else(|| bad("the size is not a canonical decimal number"))?;
        let root_line = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        if !text.ends_with('\n') {
            return Err(bad("the text must end in a newline"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// A number written the one canonical way: ASCII digits only (no sign, no spaces), and no
/// leading zero unless it is 0.
pub(crate) fn canonical_u64(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note's documented example key, text and signed note.
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIG: &str = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    fn go_signer() -> NoteSigner {
        // PRIVATE+KEY+<name>+<id>+<base64>: the base64 may itself contain '+'.
        let b64 = GO_SKEY.splitn(5, '+').nth(4).unwrap();
        let raw = B64.decode(b64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        NoteSigner::new("PeterNeumann", raw[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(canonical_u64("0"), Some(0));
        assert_eq!(canonical_u64("5"), Some(5));
        for other in [
            "",
            "+5",
            "05",
            " 5",
            "5 ",
            "-0",
            "0x5",
            "18446744073709551616",
        ] {
            assert_eq!(canonical_u64(other), None, "{other:?}");
        }
    }

    #[test]
    fn reproduces_the_go_note_byte_for_byte() {
        let signer = go_signer();
        assert_eq!(signer.verifier().to_string(), GO_VKEY);
        let note = signer.sign(GO_TEXT).unwrap();
        assert_eq!(note, format!("{GO_TEXT}\n\u{2014} PeterNeumann {GO_SIG}\n"));
        let verifier = NoteVerifier::parse(GO_VKEY).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), GO_TEXT);
    }

    #[test]
    fn c2sp_spec_example_verifies() {
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        assert_eq!(
            NoteVerifier::parse(vkey).unwrap().open(note).unwrap(),
            "This is an example message.\n"
        );
    }

    #[test]
    fn tampered_notes_and_other_keys_fail() {
        let signer = go_signer();
        let note = signer.sign(GO_TEXT).unwrap();
        let verifier = signer.verifier();
        assert!(
            verifier
                .open(&note.replace("cryptography", "cryptographY"))
                .is_err()
        );
        let other = NoteSigner::new("PeterNeumann", [9; 32]).unwrap();
        assert!(other.verifier().open(&note).is_err());
        assert!(
            NoteVerifier::parse(
                "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
        assert!(verifier.open(GO_TEXT).is_err());
    }

    #[test]
    fn checkpoint_round_trip_and_strict_parsing() {
        let c = Checkpoint {
            origin: "example.com/veil".into(),
            size: 42,
            root: [7; 32],
        };
        assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
        assert!(
            Checkpoint::parse("o\n042\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").is_err()
        );
        assert!(Checkpoint::parse("o\n1\nshort\n").is_err());
        let signer = NoteSigner::new("example.com/veil", [3; 32]).unwrap();
        let note = signer.sign(&c.to_text()).unwrap();
        let text = signer.verifier().open(&note).unwrap();
        assert_eq!(Checkpoint::parse(&text).unwrap(), c);
    }
}
