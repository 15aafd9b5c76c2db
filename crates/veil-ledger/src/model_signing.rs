//! OpenSSF model signing with a key: bundles the PyPI `model-signing` tool (v1.x) verifies,
//! and verification of the bundles it makes.
//!
//! A bundle is a Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`) with no
//! transparency-log entries, whose verification material is a hint — the lowercase hex
//! SHA-256 of the signer's public key in SPKI PEM — and whose content is a DSSE envelope
//! (payload type `application/vnd.in-toto+json`) carrying an in-toto Statement v1:
//!
//! * one subject: the model's name and the SHA-256 over its resource digests in order
//!   ([`crate::manifest`]);
//! * predicate type `https://model_signing/signature/v1.0`, with the serialization settings
//!   (`method: files`, `hash_type: sha256`, `allow_symlinks`, `ignore_paths`) and the
//!   resources (`name`, `algorithm: sha256`, hex `digest`).
//!
//! The signature is ECDSA P-256 with SHA-256, DER-encoded, over the DSSE pre-authentication
//! encoding (DSSE protocol v1.0, "PAE"):
//! `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in ASCII decimal.
//! Verification is over the payload bytes exactly as carried, so any JSON formatting is
//! accepted; the model is then re-hashed and must match the signed manifest file for file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use veil_core::atomic::{Batch, Visibility};
use veil_core::hex;

use crate::entry::Entry;
use crate::error::{Error, ModelMismatch, Result};
use crate::ledger::Ledger;
use crate::manifest::{Manifest, Resource, digest_of, subject_of, subject_of_ignoring};

/// The bundle's media type.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model-signing predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// An ECDSA P-256 signing key.
pub struct SigningKey(p256::ecdsa::SigningKey);

/// An ECDSA P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey(p256::ecdsa::VerifyingKey);

fn bad_key(why: impl std::fmt::Display) -> Error {
    Error::malformed("ECDSA P-256 key", why.to_string())
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> SigningKey {
        loop {
            let bytes = Zeroizing::new(veil_core::random::bytes::<32>());
            // All but a 2^-128 fraction of 32-byte strings are valid scalars.
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(bytes.as_slice()) {
                return SigningKey(key);
            }
        }
    }

    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), unencrypted.
    pub fn from_pem(pem: &str) -> Result<SigningKey> {
        if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            let key = p256::SecretKey::from_sec1_pem(pem).map_err(bad_key)?;
            return Ok(SigningKey(key.into()));
        }
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(bad_key(
                "encrypted PEM keys are not supported (the OpenSSF tool cannot use them either)",
            ));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|e| bad_key(format!("not an unencrypted P-256 private key in PEM ({e})")))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| Zeroizing::new(pem.to_string()))
            .map_err(bad_key)
    }

    /// Reads a private key file (PKCS#8 or SEC1 PEM, unencrypted).
    pub fn load(path: &Path) -> Result<SigningKey> {
        let io = |e| veil_core::Error::io(path, e);
        let file = std::fs::File::open(path).map_err(io)?;
        let text = Zeroizing::new(std::io::read_to_string(&file).map_err(io)?);
        // A public key given by mistake is said to be one; a private key others may read is
        // refused (F-24).
        let key = SigningKey::from_pem(&text)?;
        veil_core::secret_file::check(&file, path)?;
        Ok(key)
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(*self.0.verifying_key())
    }
}

impl VerifyingKey {
    /// Reads a public key file (SPKI PEM).
    pub fn load(path: &Path) -> Result<VerifyingKey> {
        VerifyingKey::from_pem(
            &std::fs::read_to_string(path).map_err(|e| veil_core::Error::io(path, e))?,
        )
    }

    /// Parses an SPKI PEM public key (`PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<VerifyingKey> {
        p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(VerifyingKey)
            .map_err(|e| bad_key(format!("not a P-256 public key in SPKI PEM ({e})")))
    }

    /// The key as SPKI PEM, with LF line endings and an uncompressed point.
    pub fn to_pem(&self) -> Result<String> {
        self.0.to_public_key_pem(LineEnding::LF).map_err(bad_key)
    }

    /// The bundle's key hint: lowercase hex SHA-256 of [`VerifyingKey::to_pem`].
    pub fn hint(&self) -> Result<String> {
        Ok(hex(&Sha256::digest(self.to_pem()?.as_bytes())))
    }
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// What a verified bundle says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The subject's name (informational).
    pub name: String,
    /// The subject digest: SHA-256 over the resource digests.
    pub digest: [u8; 32],
    /// Number of files checked.
    pub files: usize,
}

/// The in-toto statement for `manifest`, as the DSSE payload bytes.
fn statement(manifest: &Manifest) -> Vec<u8> {
    let resources: Vec<Value> = manifest
        .resources
        .iter()
        .map(|r| json!({"name": r.name, "algorithm": "sha256", "digest": hex(&r.sha256)}))
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.name, "digest": {"sha256": hex(&manifest.digest())}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": false,
                "ignore_paths": manifest.ignore_paths,
            },
            "resources": resources,
        },
    });
    serde_json::to_vec_pretty(&statement).expect("a JSON value serializes")
}

/// Hashes the model at `path` (a file or directory; `ignore` as in [`Manifest::of_path`])
/// and returns the signed bundle's JSON text and the manifest signed.
pub fn sign(path: &Path, ignore: &[String], key: &SigningKey) -> Result<(String, Manifest)> {
    let manifest = Manifest::of_path(path, ignore)?;
    let payload = statement(&manifest);
    let signature: DerSignature = key.0.sign(&pae(PAYLOAD_TYPE, &payload));
    let bundle = json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key.verifying_key().hint()?},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": B64.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": B64.encode(signature.as_bytes()), "keyid": ""}],
        },
    });
    Ok((bundle.to_string(), manifest))
}

fn malformed(why: &str) -> Error {
    Error::malformed("model-signing bundle", why)
}

fn field<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Result<&'a str> {
    field(value, path)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(&format!("no text field {}", path.join("."))))
}

/// Checks `bundle` (JSON text) against the model at `path` and the signer's public `key`:
/// the signature over the statement, then every file of the model against the manifest
/// (no file missing, extra or changed). `ignore` adds paths to leave out, on top of the
/// defaults and the bundle's own `ignore_paths`.
pub fn verify(
    path: &Path,
    bundle: &str,
    key: &VerifyingKey,
    ignore: &[String],
) -> Result<Verified> {
    let bundle: Value = serde_json::from_str(bundle).map_err(|_| malformed("not JSON"))?;
    if text(&bundle, &["mediaType"])? != MEDIA_TYPE {
        return Err(malformed(&format!("the media type is not {MEDIA_TYPE}")));
    }
    if let Some(hint) =
        field(&bundle, &["verificationMaterial", "publicKey", "hint"]).and_then(Value::as_str)
        && hint != key.hint()?
    {
        return Err(Error::ModelSignature(ModelMismatch::OtherKey));
    }
    if text(&bundle, &["dsseEnvelope", "payloadType"])? != PAYLOAD_TYPE {
        return Err(malformed(&format!(
            "the payload type is not {PAYLOAD_TYPE}"
        )));
    }
    let payload = B64
        .decode(text(&bundle, &["dsseEnvelope", "payload"])?)
        .map_err(|_| malformed("the payload is not base64"))?;
    let sig = field(&bundle, &["dsseEnvelope", "signatures"])
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .ok_or_else(|| malformed("no signature"))?;
    let sig = B64
        .decode(text(sig, &["sig"])?)
        .map_err(|_| malformed("the signature is not base64"))?;
    let sig = Signature::from_der(&sig).map_err(|_| malformed("the signature is not DER ECDSA"))?;
    key.0
        .verify(&pae(PAYLOAD_TYPE, &payload), &sig)
        .map_err(|_| Error::ModelSignature(ModelMismatch::BadSignature))?;

    // The statement is authentic; now check that it is about this model.
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|_| malformed("the statement is not JSON"))?;
    if text(&statement, &["_type"])? != STATEMENT_TYPE
        || text(&statement, &["predicateType"])? != PREDICATE_TYPE
    {
        return Err(malformed("not an in-toto v1 model-signing v1.0 statement"));
    }
    let subjects = field(&statement, &["subject"])
        .and_then(Value::as_array)
        .filter(|s| s.len() == 1)
        .ok_or_else(|| malformed("the statement must have exactly one subject"))?;
    let subject_digest = unhex(&text(&subjects[0], &["digest", "sha256"])?.to_ascii_lowercase())
        .ok_or_else(|| malformed("the subject digest is not SHA-256 hex"))?;
    let serialization = field(&statement, &["predicate", "serialization"])
        .ok_or_else(|| malformed("no serialization settings"))?;
    if text(serialization, &["method"])? != "files"
        || text(serialization, &["hash_type"])? != "sha256"
    {
        return Err(malformed(
            "only the \"files\" serialization with sha256 is supported",
        ));
    }
    if serialization.get("allow_symlinks").and_then(Value::as_bool) != Some(false) {
        return Err(malformed(
            "only bundles made without following symbolic links are supported",
        ));
    }
    let mut ignore_paths: Vec<String> = ignore.to_vec();
    if let Some(list) = serialization.get("ignore_paths").and_then(Value::as_array) {
        ignore_paths.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    let resources = field(&statement, &["predicate", "resources"])
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no resources"))?
        .iter()
        .map(|r| {
            if text(r, &["algorithm"])? != "sha256" {
                return Err(malformed("a resource is not hashed with sha256"));
            }
            Ok(Resource {
                name: text(r, &["name"])?.to_string(),
                sha256: unhex(&text(r, &["digest"])?.to_ascii_lowercase())
                    .ok_or_else(|| malformed("a resource digest is not SHA-256 hex"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if digest_of(&resources) != subject_digest {
        return Err(Error::ModelSignature(ModelMismatch::Inconsistent));
    }

    let actual = Manifest::of_path(path, &ignore_paths)?;
    let signed: BTreeMap<&str, &[u8; 32]> = resources
        .iter()
        .map(|r| (r.name.as_str(), &r.sha256))
        .collect();
    if signed.len() != resources.len() {
        return Err(malformed("a file is listed twice"));
    }
    let found: BTreeMap<&str, &[u8; 32]> = actual
        .resources
        .iter()
        .map(|r| (r.name.as_str(), &r.sha256))
        .collect();
    let mut problems = Vec::new();
    for (name, digest) in &found {
        match signed.get(name) {
            None => problems.push(format!("extra file {name}")),
            Some(d) if d != digest => problems.push(format!("{name} was changed")),
            Some(_) => {}
        }
    }
    problems.extend(
        signed
            .keys()
            .filter(|name| !found.contains_key(*name))
            .map(|name| format!("missing file {name}")),
    );
    if !problems.is_empty() {
        return Err(Error::ModelSignature(ModelMismatch::Changed {
            model: path.display().to_string(),
            changes: problems,
        }));
    }
    Ok(Verified {
        name: text(&subjects[0], &["name"])
            .unwrap_or_default()
            .to_string(),
        digest: subject_digest,
        files: resources.len(),
    })
}

/// A new ECDSA P-256 signing key pair, as `veil key new --ecdsa-p256` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewKey {
    /// Always `ecdsa-p256`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The private key file (PKCS#8 PEM, mode 0600, unencrypted as the OpenSSF tool needs).
    pub secret: PathBuf,
    /// The public key file (SPKI PEM).
    pub public: PathBuf,
    /// The public key's hint, as bundles carry it.
    pub key_hint: String,
}

/// Makes a signing key and writes `secret` and `public`, both or neither; an existing file at
/// either is refused.
pub fn new_key_pair(secret: &Path, public: &Path) -> Result<NewKey> {
    if let Some(existing) = [secret, public].into_iter().find(|p| p.exists()) {
        return Err(Error::invalid(
            "-o",
            format!(
                "{} exists; a new key never replaces a file (remove it first or choose another name)",
                existing.display()
            ),
        ));
    }
    let key = SigningKey::generate();
    let mut batch = Batch::new();
    batch.add(secret, Visibility::Secret, key.to_pem()?.as_bytes())?;
    batch.add(
        public,
        Visibility::Public,
        key.verifying_key().to_pem()?.as_bytes(),
    )?;
    batch.commit()?;
    Ok(NewKey {
        kind: "ecdsa-p256",
        secret: secret.to_path_buf(),
        public: public.to_path_buf(),
        key_hint: key.verifying_key().hint()?,
    })
}

/// What `veil ledger sign-model` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedModel {
    /// The bundle written.
    pub bundle: PathBuf,
    /// The subject's name.
    pub name: String,
    /// Files signed.
    pub files: usize,
    /// The subject digest, hex.
    pub sha256: String,
    /// The ledger entry recording the signature, if a ledger was given.
    pub ledger_index: Option<u64>,
}

/// What `veil ledger verify-model` established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelVerified {
    /// Always true: a failed check is an error.
    pub verified: bool,
    /// The subject's name.
    pub name: String,
    /// The subject digest, hex.
    pub sha256: String,
    /// Files checked.
    pub files: usize,
}

/// The path of `file` relative to `dir`, if `dir` is a directory that holds it: a bundle
/// written inside the model is not part of what it signs.
fn inside(dir: &Path, file: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let file = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .canonicalize()
        .ok()?
        .join(file.file_name()?);
    let rel = file.strip_prefix(&dir).ok()?;
    Some(rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/"))
}

/// Signs the model file or directory `model` with `key` into the bundle `out` (leaving out
/// `ignore_paths` and the bundle itself), and, with a ledger, records a `signature` entry whose
/// parent is the model's entry (found by digest).
pub fn sign_path(
    model: &Path,
    key: &SigningKey,
    out: &Path,
    ignore_paths: &[String],
    ledger: Option<&mut Ledger>,
) -> Result<SignedModel> {
    if let (Ok(a), Ok(b)) = (model.canonicalize(), out.canonicalize())
        && a == b
    {
        return Err(Error::invalid(
            "-o",
            format!(
                "{} is the model itself: write the bundle elsewhere",
                out.display()
            ),
        ));
    }
    let mut ignore = ignore_paths.to_vec();
    ignore.extend(inside(model, out));
    let subject = subject_of_ignoring(model, &ignore)?;
    let (bundle, manifest) = sign(model, &ignore, key)?;
    let mut ledger = ledger;
    // Find the model's entry before writing anything.
    let parents: Vec<u64> = match ledger.as_mut() {
        Some(l) => l.find_subject(&subject.sha256)?.into_iter().collect(),
        None => Vec::new(),
    };
    veil_core::atomic::write_atomic_bytes(out, bundle.as_bytes())?;
    let ledger_index = match ledger {
        Some(ledger) => {
            let entry = Entry {
                kind: "signature".into(),
                name: format!("model signature of {}", subject.name),
                time: veil_core::time::unix_now(),
                subjects: vec![subject_of(out)?],
                parents,
                meta: vec![
                    (
                        "bundle_subject_sha256".into(),
                        veil_core::hex(&manifest.digest()),
                    ),
                    ("format".into(), PREDICATE_TYPE.into()),
                    ("key_hint".into(), key.verifying_key().hint()?),
                ],
                signature: None,
            };
            Some(ledger.add(&entry)?.0)
        }
        None => None,
    };
    Ok(SignedModel {
        bundle: out.to_path_buf(),
        name: manifest.name.clone(),
        files: manifest.resources.len(),
        sha256: veil_core::hex(&manifest.digest()),
        ledger_index,
    })
}

/// Verifies the bundle file `bundle` against the model `model` (leaving out `ignore_paths`
/// and the bundle itself) and the signer's public key.
pub fn verify_path(
    model: &Path,
    bundle: &Path,
    key: &VerifyingKey,
    ignore_paths: &[String],
) -> Result<ModelVerified> {
    let text = std::fs::read_to_string(bundle).map_err(|e| veil_core::Error::io(bundle, e))?;
    let mut ignore = ignore_paths.to_vec();
    ignore.extend(inside(model, bundle));
    let verified = verify(model, &text, key, &ignore)?;
    Ok(ModelVerified {
        verified: true,
        name: verified.name,
        sha256: veil_core::hex(&verified.digest),
        files: verified.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/openssf")
            .join(name)
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(fixture(name)).unwrap()
    }

    #[test]
    fn verifies_bundles_made_by_the_openssf_tool() {
        // Made with `model_signing sign key` (PyPI model-signing 1.1.1); see tests/openssf/README.md.
        let public = VerifyingKey::from_pem(&read("pub.pem")).unwrap();
        let verified = verify(&fixture("m2"), &read("m2.json"), &public, &[]).unwrap();
        assert_eq!(verified.files, 6);
        assert_eq!(verified.name, "m2");
        let single = verify(&fixture("single.bin"), &read("single.json"), &public, &[]).unwrap();
        assert_eq!(single.files, 1);

        // Our manifest of the same model is the one the tool signed.
        let ours = Manifest::of_path(&fixture("m2"), &[]).unwrap();
        assert_eq!(ours.digest(), verified.digest);
        let names: Vec<&str> = ours.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [".hidden", "Z.txt", "a b.txt", "d/x", "d-x", "\u{fc}.txt"]
        );

        // The same key in SEC1 form signs bundles that verify.
        let key = SigningKey::from_pem(&read("key.pem")).unwrap();
        assert_eq!(key.verifying_key(), public);
        assert_eq!(
            public.hint().unwrap(),
            hex(&Sha256::digest(read("pub.pem").as_bytes()))
        );
    }

    #[test]
    fn dsse_pae_matches_the_specification_example() {
        // DSSE protocol v1.0, "Signature definition".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn sign_verify_and_every_tamper_fails() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), [7u8; 1000]).unwrap();
        std::fs::write(model.join("sub/config.json"), "{}").unwrap();
        let key = SigningKey::generate();
        let public = key.verifying_key();
        let (bundle, manifest) = sign(&model, &[], &key).unwrap();
        assert_eq!(manifest.resources.len(), 2);
        let ok = verify(&model, &bundle, &public, &[]).unwrap();
        assert_eq!(ok.digest, manifest.digest());

        let other = SigningKey::generate().verifying_key();
        assert!(matches!(
            verify(&model, &bundle, &other, &[]),
            Err(Error::ModelSignature(_))
        ));
        // The key survives its PEM forms.
        let again = SigningKey::from_pem(&key.to_pem().unwrap()).unwrap();
        assert_eq!(again.verifying_key(), public);
        assert_eq!(
            VerifyingKey::from_pem(&public.to_pem().unwrap()).unwrap(),
            public
        );

        // A changed, added or removed file.
        std::fs::write(model.join("weights.bin"), [8u8; 1000]).unwrap();
        let err = verify(&model, &bundle, &public, &[]).unwrap_err();
        assert!(err.to_string().contains("weights.bin was changed"), "{err}");
        std::fs::write(model.join("weights.bin"), [7u8; 1000]).unwrap();
        std::fs::write(model.join("extra.txt"), "x").unwrap();
        let err = verify(&model, &bundle, &public, &[]).unwrap_err();
        assert!(err.to_string().contains("extra file extra.txt"), "{err}");
        verify(&model, &bundle, &public, &["extra.txt".into()]).unwrap();
        std::fs::remove_file(model.join("extra.txt")).unwrap();
        std::fs::remove_file(model.join("sub/config.json")).unwrap();
        let err = verify(&model, &bundle, &public, &[]).unwrap_err();
        assert!(
            err.to_string().contains("missing file sub/config.json"),
            "{err}"
        );
        std::fs::write(model.join("sub/config.json"), "{}").unwrap();

        // A re-signed statement by someone else, a flipped payload byte, malformed bundles.
        let mut value: Value = serde_json::from_str(&bundle).unwrap();
        let payload = B64
            .decode(value["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let mut flipped = payload.clone();
        flipped[40] ^= 1;
        value["dsseEnvelope"]["payload"] = json!(B64.encode(&flipped));
        assert!(matches!(
            verify(&model, &value.to_string(), &public, &[]),
            Err(Error::ModelSignature(_))
        ));
        for bad in ["", "{}", "[1]", &bundle[..bundle.len() / 2]] {
            assert!(
                matches!(
                    verify(&model, bad, &public, &[]),
                    Err(Error::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }
}
