//! Any bytes, as each thing the homomorphic-encryption side reads from a file or a peer: a
//! CKKS secret key, public key, evaluation keys and ciphertext (full or seeded, against a
//! fixed context), a Paillier ciphertext for a fixed key, and Paillier key files. Each
//! parser gives a result or an error, never a panic; a CKKS ciphertext that parses
//! re-encodes to a ciphertext that parses to the same value.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use veil_he::ckks::cipher::Ciphertext;
use veil_he::ckks::eval::EvaluationKeys;
use veil_he::ckks::keys::{PublicKey, SecretKey};
use veil_he::ckks::params::{Context, Parameters};
use veil_he::paillier;

fn context() -> &'static Arc<Context> {
    static CTX: OnceLock<Arc<Context>> = OnceLock::new();
    CTX.get_or_init(|| Context::new(Parameters::n8192()).expect("a standard parameter set"))
}

fn paillier_key() -> &'static paillier::SecretKey {
    static KEY: OnceLock<paillier::SecretKey> = OnceLock::new();
    KEY.get_or_init(|| paillier::SecretKey::generate(2048).expect("a key"))
}

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let _ = SecretKey::from_bytes(data);
    let _ = PublicKey::from_bytes(data);
    let _ = EvaluationKeys::from_bytes(data);
    if let Ok(ct) = Ciphertext::from_bytes(ctx, data) {
        let again = Ciphertext::from_bytes(ctx, &ct.to_bytes(ctx)).expect("re-encoded parses");
        assert_eq!(again, ct);
    }
    let pk = paillier_key().public();
    if let Ok(c) = pk.from_bytes(data) {
        let _ = paillier_key().decrypt(&c);
    }
    let dir = std::env::temp_dir().join(format!("veil-fuzz-he-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("key.json");
    if std::fs::write(&file, data).is_ok() {
        let _ = paillier::read_public(&file);
        let _ = paillier::read_secret(&file);
    }
});
