//! Key files and sealed files as the `veil key` and `veil vault` commands handle them: which
//! kind of key file a text is, writing key pairs and shares (all or nothing), loading the
//! keys to open with, recipients, byte ranges, and the typed reports of each operation.

use std::path::{Path, PathBuf};

use serde::Serialize;
use veil_core::atomic::{Batch, Visibility};
use zeroize::Zeroizing;

use crate::age_compat;
use crate::custody::{self, Share};
use crate::error::{Error, Result};
use crate::header::Keyring;
use crate::identity::{Identity, KeyId, PublicIdentity};
use crate::passphrase::{KdfParams, Passphrase};
use crate::seal::{Inspection, OpenSummary, SealSummary};

/// The kinds of key file Veil reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileKind {
    /// A Veil public identity (`.pub`).
    PublicIdentity,
    /// A Veil secret identity (`.key`), protected or not.
    SecretIdentity,
    /// A share of a split secret identity.
    Share,
    /// An age identity file (`AGE-SECRET-KEY-1…`).
    AgeIdentity,
}

impl KeyFileKind {
    /// Recognises a key file by its PEM label (or age's key prefix).
    pub fn detect(text: &str) -> Option<KeyFileKind> {
        let has = |label: &str| text.contains(&format!("-----BEGIN {label}-----"));
        if has("VEIL PUBLIC IDENTITY") {
            Some(KeyFileKind::PublicIdentity)
        } else if has("VEIL IDENTITY SHARE") {
            Some(KeyFileKind::Share)
        } else if has("VEIL SECRET IDENTITY") {
            Some(KeyFileKind::SecretIdentity)
        } else if age_compat::is_age_identity(text) {
            Some(KeyFileKind::AgeIdentity)
        } else {
            None
        }
    }

    /// The kind's name for people.
    pub fn name(self) -> &'static str {
        match self {
            KeyFileKind::PublicIdentity => "public identity",
            KeyFileKind::SecretIdentity => "secret identity",
            KeyFileKind::Share => "identity share",
            KeyFileKind::AgeIdentity => "age identity",
        }
    }
}

/// What `veil key show` reports: a key file's key id and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyShown {
    /// The key id.
    pub key_id: String,
    /// The kind of file.
    pub kind: &'static str,
    /// For a secret identity: whether it is passphrase-protected.
    pub protected: Option<bool>,
}

/// A secret file's text (refused when others may read it: F-24), wiped when dropped.
fn read_secret_text(path: &Path) -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(veil_core::secret_file::read_to_string(
        path,
    )?))
}

/// The key id and kind of the key file at `path`; a secret identity's public keys are stored
/// in the clear, so no passphrase is needed.
pub fn show_key(path: &Path) -> Result<KeyShown> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
    let (key_id, kind, protected) = match KeyFileKind::detect(&text) {
        Some(KeyFileKind::PublicIdentity) => (
            PublicIdentity::from_pem(&text, path)?.key_id(),
            KeyFileKind::PublicIdentity,
            None,
        ),
        Some(KeyFileKind::Share) => (
            Share::from_pem(&text, path)?.key_id(),
            KeyFileKind::Share,
            None,
        ),
        Some(KeyFileKind::SecretIdentity) => (
            Identity::public_of_pem(&text, path)?.key_id(),
            KeyFileKind::SecretIdentity,
            Some(Identity::is_protected(&text, path)?),
        ),
        Some(KeyFileKind::AgeIdentity) | None => {
            return Err(Error::key_file(
                path,
                "not a Veil identity, public identity or share",
            ));
        }
    };
    Ok(KeyShown {
        key_id: key_id.to_string(),
        kind: kind.name(),
        protected,
    })
}

/// The public file beside a secret one: `alice.key` → `alice.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    secret.with_extension("pub")
}

/// Refuses to write a new key over an existing file, or a secret file named like its own
/// public file (`x.pub`): either would destroy a key with no way back.
pub fn check_new_key_paths(secret: &Path) -> Result<()> {
    let public = public_path(secret);
    if public == secret {
        return Err(Error::invalid(
            "-o",
            format!(
                "{} would be overwritten by its own public file: name the secret file otherwise (e.g. .key or .pem)",
                secret.display()
            ),
        ));
    }
    if let Some(existing) = [secret, public.as_path()].into_iter().find(|p| p.exists()) {
        return Err(Error::invalid(
            "-o",
            format!(
                "{} exists; a new key never replaces a file (remove it first or choose another name)",
                existing.display()
            ),
        ));
    }
    Ok(())
}

/// A secret identity written with its public file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewIdentity {
    /// The key id.
    pub key_id: String,
    /// The secret file (mode 0600).
    pub secret: PathBuf,
    /// The public file beside it.
    pub public: PathBuf,
    /// Whether the secret file is passphrase-protected.
    pub protected: bool,
}

/// Writes `identity` to `secret` (mode 0600; protected by `protection` if given, with
/// argon2id at the default costs) and its public half beside it: both files or neither, and
/// never over an existing file ([`check_new_key_paths`]).
pub fn write_identity(
    secret: &Path,
    identity: &Identity,
    protection: Option<&Passphrase>,
) -> Result<NewIdentity> {
    check_new_key_paths(secret)?;
    let text = identity.to_pem(protection.map(|p| (p, KdfParams::default())))?;
    let public = public_path(secret);
    let mut batch = Batch::new();
    batch.add(secret, Visibility::Secret, text.as_bytes())?;
    batch.add(
        &public,
        Visibility::Public,
        identity.public().to_pem().as_bytes(),
    )?;
    batch.commit()?;
    Ok(NewIdentity {
        key_id: identity.public().key_id().to_string(),
        secret: secret.to_path_buf(),
        public,
        protected: protection.is_some(),
    })
}

/// Reads a Veil secret identity; `passphrase` is asked only if the file is protected.
pub fn load_identity(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Passphrase>,
) -> Result<Identity> {
    Identity::from_pem(&read_secret_text(path)?, path, passphrase)
}

/// What `veil key split` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharesWritten {
    /// The identity split.
    pub key_id: String,
    /// The share files (mode 0600).
    pub shares: Vec<PathBuf>,
    /// How many restore it.
    pub threshold: u8,
}

/// Splits `identity` into `shares` shares, any `threshold` of which restore it, written to
/// `dir/share-1` … `dir/share-N` (the directory is created): every share or none.
pub fn write_shares(
    dir: &Path,
    identity: &Identity,
    shares: u8,
    threshold: u8,
) -> Result<SharesWritten> {
    let parts = custody::split(identity, shares, threshold)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut batch = Batch::new();
    let mut written = Vec::with_capacity(parts.len());
    for share in &parts {
        let path = dir.join(format!("share-{}", share.index()));
        batch.add(&path, Visibility::Secret, share.to_pem()?.as_bytes())?;
        written.push(path);
    }
    batch.commit()?;
    Ok(SharesWritten {
        key_id: identity.public().key_id().to_string(),
        shares: written,
        threshold,
    })
}

/// Restores an identity from share files.
pub fn combine_files(paths: &[PathBuf]) -> Result<Identity> {
    let shares = paths
        .iter()
        .map(|p| Share::from_pem(&read_secret_text(p)?, p))
        .collect::<Result<Vec<_>>>()?;
    custody::combine(&shares)
}

/// Veil public identities from `.pub` files; an age recipient (`age1…`) is refused with the
/// way to seal for it.
pub fn recipients(specs: &[String]) -> Result<Vec<PublicIdentity>> {
    specs
        .iter()
        .map(|r| {
            if r.starts_with("age1") {
                return Err(Error::invalid(
                    "--to",
                    format!(
                        "{r} is an age recipient: seal with --format age, or give a Veil .pub file"
                    ),
                ));
            }
            PublicIdentity::load(Path::new(r))
        })
        .collect()
}

/// The keys to open with: Veil identities and a passphrase in a [`Keyring`], and age
/// identity files' texts.
pub struct Keys {
    /// Veil identities and passphrase.
    pub keyring: Keyring,
    /// The texts of age identity files, in the order given.
    pub age: Vec<Zeroizing<String>>,
}

impl Keys {
    /// Loads each identity file (a Veil `.key`, asking `passphrase` for a protected one, or
    /// an age identity file) and the passphrase in `passphrase_file`; at least one key is
    /// needed.
    pub fn load(
        identities: &[PathBuf],
        passphrase_file: Option<&Path>,
        mut passphrase: impl FnMut(&Path) -> Result<Passphrase>,
    ) -> Result<Keys> {
        let mut keys = Keys {
            keyring: Keyring::default(),
            age: Vec::new(),
        };
        for path in identities {
            let text = read_secret_text(path)?;
            if age_compat::is_age_identity(&text) {
                keys.age.push(text);
            } else {
                let identity = Identity::from_pem(&text, path, || passphrase(path))?;
                keys.keyring.identities.push(identity);
            }
        }
        keys.keyring.passphrase = passphrase_file.map(Passphrase::from_file).transpose()?;
        if keys.keyring.identities.is_empty()
            && keys.keyring.passphrase.is_none()
            && keys.age.is_empty()
        {
            return Err(Error::invalid(
                "keys",
                "give an identity (-i KEY) or --passphrase-file to open with",
            ));
        }
        Ok(keys)
    }
}

/// A byte range of a plaintext: `OFFSET:LEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte.
    pub offset: u64,
    /// How many bytes (fewer at the end of the plaintext).
    pub len: u64,
}

impl std::str::FromStr for ByteRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<ByteRange> {
        let bad = |why: String| Error::invalid("--range", why);
        let (a, b) = text
            .split_once(':')
            .ok_or_else(|| bad("takes OFFSET:LEN, e.g. 1048576:4096".into()))?;
        let number = |t: &str, what: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| bad(format!("{what} \"{t}\" is not a byte count")))
        };
        Ok(ByteRange {
            offset: number(a, "offset")?,
            len: number(b, "length")?,
        })
    }
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.offset, self.len)
    }
}

/// What `veil vault seal` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sealed {
    /// Where the sealed file went (`-`: standard output).
    pub output: String,
    /// `veil` or `age`.
    pub format: &'static str,
    /// Plaintext bytes sealed.
    pub plaintext_bytes: u64,
    /// Format-specific facts.
    #[serde(flatten)]
    pub detail: SealDetail,
    /// Who can open it: key ids (and `passphrase`), or age recipients.
    pub recipients: Vec<String>,
}

/// What a seal reports beyond the common facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SealDetail {
    /// A `.veil` file.
    Veil {
        /// Sealed bytes written.
        sealed_bytes: u64,
        /// Segments.
        segments: u64,
        /// The signer's key id, if signed.
        signer: Option<String>,
    },
    /// An age file.
    Age {},
}

impl Sealed {
    /// The report of a `.veil` seal.
    pub fn veil(
        output: &str,
        summary: &SealSummary,
        recipients: &[PublicIdentity],
        passphrase: bool,
        signer: Option<&Identity>,
    ) -> Sealed {
        let mut names: Vec<String> = recipients.iter().map(|r| r.key_id().to_string()).collect();
        if passphrase {
            names.push("passphrase".into());
        }
        Sealed {
            output: output.to_string(),
            format: "veil",
            plaintext_bytes: summary.plaintext_len,
            detail: SealDetail::Veil {
                sealed_bytes: summary.sealed_len,
                segments: summary.segments,
                signer: signer.map(|s| s.public().key_id().to_string()),
            },
            recipients: names,
        }
    }

    /// The report of an age seal.
    pub fn age(output: &str, plaintext_bytes: u64, recipients: Vec<String>) -> Sealed {
        Sealed {
            output: output.to_string(),
            format: "age",
            plaintext_bytes,
            detail: SealDetail::Age {},
            recipients,
        }
    }

    /// What a provenance record of the seal keeps.
    pub fn provenance(&self) -> Vec<(String, String)> {
        let mut meta = vec![
            ("format".to_string(), self.format.to_string()),
            ("recipients".to_string(), self.recipients.join(",")),
            ("op".to_string(), "seal".to_string()),
        ];
        if let SealDetail::Veil {
            signer: Some(id), ..
        } = &self.detail
        {
            meta.push(("signer".into(), id.clone()));
        }
        meta
    }
}

/// What `veil vault open` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opened {
    /// Where the plaintext went (`-`: standard output).
    pub output: String,
    /// `veil` or `age`.
    pub format: &'static str,
    /// Plaintext bytes written.
    pub plaintext_bytes: u64,
    /// The signer's key id, if the file is signed.
    pub signer: Option<String>,
    /// Whether the signature was checked against an expected signer and holds.
    pub signature_verified: bool,
    /// The byte range opened, if only part was.
    #[serde(skip)]
    pub range: Option<ByteRange>,
}

impl Opened {
    /// The report of an opened `.veil` file.
    pub fn veil(output: &str, summary: &OpenSummary, range: Option<ByteRange>) -> Opened {
        Opened {
            output: output.to_string(),
            format: "veil",
            plaintext_bytes: summary.plaintext_len,
            signer: summary.signer.map(|s| s.to_string()),
            signature_verified: summary.signature_verified,
            range,
        }
    }

    /// The report of an opened age file.
    pub fn age(output: &str, plaintext_bytes: u64) -> Opened {
        Opened {
            output: output.to_string(),
            format: "age",
            plaintext_bytes,
            signer: None,
            signature_verified: false,
            range: None,
        }
    }

    /// What a provenance record of the open keeps.
    pub fn provenance(&self) -> Vec<(String, String)> {
        let mut meta = vec![
            ("format".to_string(), self.format.to_string()),
            ("op".to_string(), "open".to_string()),
        ];
        if let Some(s) = &self.signer {
            meta.push(("signer".into(), s.clone()));
            meta.push((
                "signature_verified".into(),
                self.signature_verified.to_string(),
            ));
        }
        if let Some(range) = self.range {
            meta.push(("range".into(), range.to_string()));
        }
        meta
    }
}

/// What `veil vault inspect` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspected {
    /// The file.
    pub file: String,
    /// Format version.
    pub version: u8,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// Plaintext bytes.
    pub plaintext_bytes: u64,
    /// Segments.
    pub segments: u64,
    /// Recipients: key ids, and `passphrase`.
    pub recipients: Vec<String>,
    /// The signer's key id, if signed.
    pub signer: Option<String>,
    /// Header bytes.
    pub header_bytes: u64,
}

impl Inspected {
    /// The report of `inspection` of `file`.
    pub fn of(file: &str, inspection: Inspection) -> Inspected {
        Inspected {
            file: file.to_string(),
            version: inspection.version,
            segment_size: inspection.segment_size,
            plaintext_bytes: inspection.plaintext_len,
            segments: inspection.segments,
            recipients: inspection.recipients,
            signer: inspection.signer.map(|s: KeyId| s.to_string()),
            header_bytes: inspection.header_len,
        }
    }
}

/// What `veil vault rewrap` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrapped {
    /// The file written.
    pub output: PathBuf,
    /// Its recipients now.
    pub recipients: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_written_in_pairs_recognised_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("alice.key");
        check_new_key_paths(&secret).unwrap();
        let alice = Identity::generate();
        let written = write_identity(&secret, &alice, None).unwrap();
        assert_eq!(written.public, dir.path().join("alice.pub"));
        assert!(check_new_key_paths(&secret).is_err());
        assert!(check_new_key_paths(&dir.path().join("x.pub")).is_err());
        // Writing (a restored identity, say) over it is refused by the writer itself.
        assert!(write_identity(&secret, &Identity::generate(), None).is_err());
        assert_eq!(
            load_identity(&secret, || unreachable!()).unwrap().public(),
            alice.public()
        );
        let shown = show_key(&secret).unwrap();
        assert_eq!(
            (shown.kind, shown.protected),
            ("secret identity", Some(false))
        );
        assert_eq!(show_key(&written.public).unwrap().key_id, written.key_id);
        let shares = write_shares(&dir.path().join("shares"), &alice, 3, 2).unwrap();
        assert_eq!(show_key(&shares.shares[0]).unwrap().kind, "identity share");
        let back = combine_files(&shares.shares[1..]).unwrap();
        assert_eq!(back.public(), alice.public());
        std::fs::write(dir.path().join("junk"), "hello").unwrap();
        assert!(show_key(&dir.path().join("junk")).is_err());
        assert_eq!(
            KeyFileKind::detect("# created\nAGE-SECRET-KEY-1QQQ"),
            Some(KeyFileKind::AgeIdentity)
        );
        assert!(recipients(&["age1abc".into()]).is_err());
    }

    #[test]
    fn byte_ranges_parse() {
        let r: ByteRange = "1048576:4096".parse().unwrap();
        assert_eq!(
            (r.offset, r.len, r.to_string().as_str()),
            (1_048_576, 4096, "1048576:4096")
        );
        for bad in ["", "12", "a:1", "1:-2", ":"] {
            assert!(bad.parse::<ByteRange>().is_err(), "{bad:?}");
        }
    }
}
