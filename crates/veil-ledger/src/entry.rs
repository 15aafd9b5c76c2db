//! Log entries and their one canonical encoding.
//!
//! An entry records one step in the life of data or a model: its *kind* (`dataset`,
//! `transform`, `model`, `evaluation`, `dp-release`, `fl-round`, …), a *name*, the SHA-256
//! digests of its *subjects* (the files it is about), the indexes of its *parent* entries,
//! free `key=value` *metadata*, the *time* it was added, and optionally the Ed25519 signature
//! of the party that added it. The Merkle leaf is the RFC 9162 leaf hash of exactly the
//! encoded bytes, so the encoding must be unique: [`Entry::decode`] accepts only bytes that
//! [`Entry::encode`] would produce (fields in order, parents ascending, metadata keys
//! ascending and unique, UTF-8 text, bounded lengths).
//!
//! Encoding (integers big-endian):
//!
//! | field | bytes |
//! |---|---|
//! | magic | `VEILENTRY` (9) |
//! | version | `0x01` |
//! | kind | length (1) ‖ ASCII `[a-z0-9-]`, 1–32 bytes |
//! | name | length (2) ‖ UTF-8, up to 4096 bytes |
//! | time | seconds since the Unix epoch (8) |
//! | subjects | count (2) ‖ each: SHA-256 (32) ‖ name length (2) ‖ UTF-8 name |
//! | parents | count (2) ‖ each: entry index (8), strictly ascending |
//! | metadata | count (2) ‖ each: key length (2) ‖ UTF-8 key ‖ value length (4) ‖ UTF-8 value; keys strictly ascending |
//! | signer | `0x00`, or `0x01` ‖ key id (8) ‖ Ed25519 public key (32) ‖ signature (64) |
//!
//! The signature is over `"veil/v1 ledger entry" ‖ 0x00 ‖` every byte before the signer
//! field `‖` key id `‖` public key.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::{Error, Result};

const MAGIC: &[u8; 9] = b"VEILENTRY";
const VERSION: u8 = 1;
const MAX_NAME: usize = 4096;
const MAX_ITEMS: usize = 4096;
const MAX_VALUE: usize = 1 << 20;

/// A file an entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The file's name (for people; the digest is what counts).
    pub name: String,
    /// SHA-256 of the file's content.
    pub sha256: [u8; 32],
}

/// Who signed an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySignature {
    /// The signer's key id.
    pub key_id: [u8; 8],
    /// The signer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// Something that can sign entries (an identity held by the caller).
pub trait EntrySigner {
    /// The signer's key id.
    fn key_id(&self) -> [u8; 8];
    /// The signer's Ed25519 public key.
    fn public_key(&self) -> [u8; 32];
    /// An Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// A log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What kind of step this is.
    pub kind: String,
    /// A name for people.
    pub name: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The files the entry is about.
    pub subjects: Vec<Subject>,
    /// Indexes of the entries this one derives from, ascending.
    pub parents: Vec<u64>,
    /// Free metadata, sorted by key.
    pub meta: Vec<(String, String)>,
    /// The adder's signature, if any.
    pub signature: Option<EntrySignature>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid("entry", message)
}

fn malformed(message: impl Into<String>) -> Error {
    Error::malformed("ledger entry", message)
}

impl Entry {
    /// Checks the rules the encoding enforces; `encode` and `decode` both call it.
    pub fn validate(&self) -> Result<()> {
        let kind_ok = (1..=32).contains(&self.kind.len())
            && self
                .kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !kind_ok {
            return Err(invalid(format!(
                "kind \"{}\" must be 1–32 characters of a-z, 0-9 and -",
                self.kind
            )));
        }
        if self.name.len() > MAX_NAME || self.subjects.iter().any(|s| s.name.len() > MAX_NAME) {
            return Err(invalid("names are limited to 4096 bytes"));
        }
        if self.subjects.len() > MAX_ITEMS
            || self.parents.len() > MAX_ITEMS
            || self.meta.len() > MAX_ITEMS
        {
            return Err(invalid("at most 4096 subjects, parents and metadata pairs"));
        }
        if self.parents.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                "parents must be strictly ascending (sorted, no repeats)",
            ));
        }
        if self.meta.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(invalid(
                "metadata keys must be strictly ascending (sorted, no repeats)",
            ));
        }
        if self
            .meta
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > MAX_NAME || v.len() > MAX_VALUE)
        {
            return Err(invalid(
                "metadata keys must be 1–4096 bytes and values at most 1 MiB",
            ));
        }
        Ok(())
    }

    /// The bytes the signature covers (everything before the signer field).
    fn unsigned_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.kind.len() as u8);
        out.extend_from_slice(self.kind.as_bytes());
        put16(&mut out, self.name.as_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&(self.subjects.len() as u16).to_be_bytes());
        for s in &self.subjects {
            out.extend_from_slice(&s.sha256);
            put16(&mut out, s.name.as_bytes());
        }
        out.extend_from_slice(&(self.parents.len() as u16).to_be_bytes());
        for p in &self.parents {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.extend_from_slice(&(self.meta.len() as u16).to_be_bytes());
        for (k, v) in &self.meta {
            put16(&mut out, k.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        out
    }

    /// What the signer signs: a context string, the entry, and the signer's own key id and
    /// public key, so that neither can be swapped under the signature.
    fn signing_message(unsigned: &[u8], key_id: &[u8; 8], public_key: &[u8; 32]) -> Vec<u8> {
        [
            b"veil/v1 ledger entry\0".as_slice(),
            unsigned,
            key_id.as_slice(),
            public_key.as_slice(),
        ]
        .concat()
    }

    /// Signs the entry (replacing any signature).
    pub fn sign(&mut self, signer: &dyn EntrySigner) -> Result<()> {
        self.validate()?;
        let (key_id, public_key) = (signer.key_id(), signer.public_key());
        let message = Self::signing_message(&self.unsigned_bytes(), &key_id, &public_key);
        self.signature = Some(EntrySignature {
            key_id,
            public_key,
            signature: signer.sign(&message),
        });
        Ok(())
    }

    /// Checks the entry's signature, if it has one (strict Ed25519, RFC 8032).
    pub fn verify_signature(&self) -> Result<()> {
        let Some(sig) = &self.signature else {
            return Ok(());
        };
        let key = VerifyingKey::from_bytes(&sig.public_key).map_err(|_| Error::EntrySignature)?;
        key.verify_strict(
            &Self::signing_message(&self.unsigned_bytes(), &sig.key_id, &sig.public_key),
            &Signature::from_bytes(&sig.signature),
        )
        .map_err(|_| Error::EntrySignature)
    }

    /// The SHA-256 digests of the entry's subjects.
    pub fn subject_digests(&self) -> Vec<[u8; 32]> {
        self.subjects.iter().map(|s| s.sha256).collect()
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut out = self.unsigned_bytes();
        match &self.signature {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&s.key_id);
                out.extend_from_slice(&s.public_key);
                out.extend_from_slice(&s.signature);
            }
        }
        Ok(out)
    }

    /// Parses canonical bytes; anything else (trailing bytes, unsorted fields, bad UTF-8, a
    /// signature that does not verify) is an error.
    pub fn decode(bytes: &[u8]) -> Result<Entry> {
        let mut r = Reader(veil_core::cursor::ByteCursor::new(bytes));
        if r.take(9)? != MAGIC {
            return Err(malformed("not a Veil ledger entry"));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(malformed(format!(
                "entry version {version} is not supported"
            )));
        }
        let kind_len = usize::from(r.u8()?);
        let kind = r.text(kind_len)?;
        let name_len = usize::from(r.u16()?);
        let name = r.text(name_len)?;
        let time = r.u64()?;
        let mut subjects = Vec::new();
        for _ in 0..r.u16()? {
            let sha256 = r.take(32)?.try_into().expect("32 bytes");
            let len = usize::from(r.u16()?);
            subjects.push(Subject {
                name: r.text(len)?,
                sha256,
            });
        }
        let mut parents = Vec::new();
        for _ in 0..r.u16()? {
            parents.push(r.u64()?);
        }
        let mut meta = Vec::new();
        for _ in 0..r.u16()? {
            let klen = usize::from(r.u16()?);
            let key = r.text(klen)?;
            let vlen = r.u32()? as usize;
            meta.push((key, r.text(vlen)?));
        }
        let signature = match r.u8()? {
            0 => None,
            1 => Some(EntrySignature {
                key_id: r.take(8)?.try_into().expect("8 bytes"),
                public_key: r.take(32)?.try_into().expect("32 bytes"),
                signature: r.take(64)?.try_into().expect("64 bytes"),
            }),
            other => return Err(malformed(format!("unknown signer flag {other}"))),
        };
        if !r.0.is_empty() {
            return Err(malformed("trailing bytes after the entry"));
        }
        let entry = Entry {
            kind,
            name,
            time,
            subjects,
            parents,
            meta,
            signature,
        };
        entry.validate().map_err(|e| match e {
            Error::Invalid { why, .. } => malformed(why),
            other => other,
        })?;
        entry.verify_signature()?;
        Ok(entry)
    }
}

fn put16(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The entry's fields, read front to back; running out of bytes is a malformed entry.
struct Reader<'a>(veil_core::cursor::ByteCursor<'a>);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        self.0
            .take(n)
            .ok_or_else(|| malformed("the entry is cut short"))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.0
            .array()
            .ok_or_else(|| malformed("the entry is cut short"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn text(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| malformed("text in the entry is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    struct Key(SigningKey);

    impl EntrySigner for Key {
        fn key_id(&self) -> [u8; 8] {
            [7; 8]
        }
        fn public_key(&self) -> [u8; 32] {
            self.0.verifying_key().to_bytes()
        }
        fn sign(&self, message: &[u8]) -> [u8; 64] {
            self.0.sign(message).to_bytes()
        }
    }

    fn sample() -> Entry {
        Entry {
            kind: "model".into(),
            name: "diagnosis v1".into(),
            time: 1_763_780_000,
            subjects: vec![Subject {
                name: "bc.model".into(),
                sha256: [0xab; 32],
            }],
            parents: vec![0, 3],
            meta: vec![
                ("epochs".into(), "100".into()),
                ("lr".into(), "0.01".into()),
            ],
            signature: None,
        }
    }

    #[test]
    fn round_trip_signed_and_unsigned() {
        let mut e = sample();
        assert_eq!(Entry::decode(&e.encode().unwrap()).unwrap(), e);
        e.sign(&Key(SigningKey::from_bytes(&[5; 32]))).unwrap();
        let bytes = e.encode().unwrap();
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        // Any change to a signed entry breaks its signature.
        let mut tampered = bytes.clone();
        let name_at = 9 + 1 + 1 + 5 + 2;
        tampered[name_at] ^= 0x01;
        assert!(Entry::decode(&tampered).is_err());
        // So does a change to the signer's key id (it is signed too), at 8 + 32 + 64 from the end.
        let mut relabelled = bytes.clone();
        let key_id_at = bytes.len() - 104;
        relabelled[key_id_at] ^= 0x01;
        assert!(matches!(
            Entry::decode(&relabelled),
            Err(Error::EntrySignature)
        ));
    }

    #[test]
    fn non_canonical_forms_are_rejected() {
        let mut e = sample();
        e.parents = vec![3, 0];
        assert!(e.encode().is_err());
        let mut e = sample();
        e.meta.reverse();
        assert!(e.encode().is_err());
        let mut e = sample();
        e.kind = "Model!".into();
        assert!(e.encode().is_err());
        let mut bytes = sample().encode().unwrap();
        bytes.push(0);
        assert!(Entry::decode(&bytes).is_err(), "trailing bytes");
        assert!(Entry::decode(b"VEILENTRY\x02").is_err(), "unknown version");
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut with_magic = b"VEILENTRY\x01".to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = Entry::decode(&bytes);
            if let Ok(e) = Entry::decode(&with_magic) {
                // Whatever decodes re-encodes to the same bytes: the encoding is unique.
                prop_assert_eq!(e.encode().unwrap(), with_magic);
            }
        }
    }
}
