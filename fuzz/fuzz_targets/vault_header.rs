//! Any bytes, as a sealed file: the header parser and the length check give a result or an
//! error, never a panic; and opening with a fixed identity never succeeds on garbage, with
//! or without an expected signer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_vault::{Identity, Keyring};

fuzz_target!(|data: &[u8]| {
    let _ = veil_vault::header::Header::read_from(&mut &data[..]);
    let _ = veil_vault::inspect(data);
    let identity = Identity::from_secret_bytes(&[7; 64]);
    let signer = *identity.public();
    let keyring = Keyring {
        identities: vec![identity],
        passphrase: None,
    };
    let opened = veil_vault::open(data, std::io::sink(), &keyring);
    assert!(opened.is_err(), "bytes not sealed for this identity opened");
    let verified = veil_vault::open_verified(
        std::io::Cursor::new(data),
        std::io::sink(),
        &keyring,
        &signer,
    );
    assert!(
        verified.is_err(),
        "bytes not signed by this identity opened as verified"
    );
});
