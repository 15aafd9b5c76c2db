//! Any bytes, as a consistency proof (the `veil.dev/consistency-proof@v1` text or its JSON
//! form) and, after the first NUL byte if there is one, the old checkpoint its holder kept
//! (otherwise the proof's own checkpoint). Parsing gives a proof or an error, never a
//! panic; a proof that parses writes out as text that parses to the same proof; and it
//! never verifies against a fixed log key that signed nothing here.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veil_ledger::{ConsistencyProof, NoteSigner, NoteVerifier};

fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        NoteSigner::new("fuzz.example/log", [5; 32])
            .expect("a valid name")
            .verifier()
    })
}

fuzz_target!(|data: &[u8]| {
    let (proof_bytes, old_bytes) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(proof_bytes);
    let Ok(proof) = ConsistencyProof::parse(&text) else {
        return;
    };
    let again = ConsistencyProof::parse(&proof.to_text()).expect("a proof's text parses");
    assert_eq!(again, proof, "a proof changed when written out as text");
    let old = match old_bytes {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => proof.checkpoint.clone(),
    };
    assert!(
        proof.verify(verifier(), &old).is_err(),
        "a proof verified against a key that signed nothing"
    );
});
