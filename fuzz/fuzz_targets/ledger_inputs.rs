//! Any bytes, as each thing an auditor reads: a ledger entry, a verifier key, a checkpoint,
//! a signed note, a tlog-proof and a model-signing bundle. Each parser gives a result or an
//! error, never a panic; an entry that decodes re-encodes to the same bytes; and nothing
//! verifies against a fixed key that never signed it. The model a bundle is checked against
//! is one empty directory made once per process, so every input is checked against the
//! same, cheap model.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veil_ledger::model_signing::{self, SigningKey};
use veil_ledger::{Checkpoint, Entry, NoteSigner, NoteVerifier, TlogProof};

fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        NoteSigner::new("fuzz.example/log", [5; 32])
            .expect("a valid name")
            .verifier()
    })
}

fn model_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::from_pem(include_str!(
            "../../crates/veil-ledger/tests/openssf/key.pem"
        ))
        .expect("the test key parses")
    })
}

/// An empty directory, made once per process: the model every bundle is checked against.
fn empty_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("veil-fuzz-ledger-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::decode(data) {
        assert_eq!(entry.encode().expect("a decoded entry encodes"), data);
    }
    let text = String::from_utf8_lossy(data);
    let _ = NoteVerifier::parse(&text);
    let _ = Checkpoint::parse(&text);
    let verifier = verifier();
    assert!(
        verifier.open(&text).is_err(),
        "garbage verified as a signed note"
    );
    if let Ok(proof) = TlogProof::parse(&text) {
        let _ = proof.to_text();
        assert!(proof.verify(verifier, &[0; 32]).is_err());
    }
    let verified = model_signing::verify(empty_model(), &text, &model_key().verifying_key(), &[]);
    assert!(verified.is_err(), "garbage verified as a model signature");
});
