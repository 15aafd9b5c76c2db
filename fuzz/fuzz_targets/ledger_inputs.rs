//! Any bytes, as each thing an auditor reads: a ledger entry, a verifier key, a checkpoint,
//! a signed note, a tlog-proof and a model-signing bundle. Each parser gives a result or an
//! error, never a panic; an entry that decodes re-encodes to the same bytes; and nothing
//! verifies against a fixed key that never signed it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_ledger::model_signing::{self, SigningKey};
use veil_ledger::{Checkpoint, Entry, NoteSigner, NoteVerifier, TlogProof};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::decode(data) {
        assert_eq!(entry.encode().expect("a decoded entry encodes"), data);
    }
    let text = String::from_utf8_lossy(data);
    let _ = NoteVerifier::parse(&text);
    let _ = Checkpoint::parse(&text);
    let verifier = NoteSigner::new("fuzz.example/log", [5; 32])
        .expect("a valid name")
        .verifier();
    assert!(verifier.open(&text).is_err(), "garbage verified as a signed note");
    if let Ok(proof) = TlogProof::parse(&text) {
        let _ = proof.to_text();
        assert!(proof.verify(&verifier, &[0; 32]).is_err());
    }
    let key = SigningKey::from_pem(include_str!(
        "../../crates/veil-ledger/tests/openssf/key.pem"
    ))
    .expect("the test key parses");
    let model = std::env::temp_dir();
    let verified = model_signing::verify(&model, &text, &key.verifying_key(), &[]);
    assert!(verified.is_err(), "garbage verified as a model signature");
});
