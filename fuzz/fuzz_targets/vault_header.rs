//! Any bytes, as a sealed file: the header parser and the length check give a result or an
//! error, never a panic; and opening with a fixed identity never succeeds on garbage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_vault::{Identity, Keyring};

fuzz_target!(|data: &[u8]| {
    let _ = veil_vault::header::Header::read_from(&mut &data[..]);
    let _ = veil_vault::inspect(data);
    let keyring = Keyring {
        identities: vec![Identity::from_secret_bytes(&[7; 64])],
        passphrase: None,
    };
    let opened = veil_vault::open(data, std::io::sink(), &keyring, None);
    assert!(opened.is_err(), "bytes not sealed for this identity opened");
});
