//! Any text, as each key file Veil reads: a public identity, a secret identity (whose
//! passphrase, if it asks for one, cannot be had), the public half and the protection flag
//! of a secret identity, an identity share, and the kind detection of `veil key show`. Each
//! gives a result or an error, never a panic; a public identity or a share that parses
//! writes out a file that parses to the same thing, a secret identity that opens agrees with
//! the public half stored beside it and is not protected, and a file that parses is
//! recognised as a key file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use veil_vault::custody::Share;
use veil_vault::files::KeyFileKind;
use veil_vault::{Identity, PublicIdentity};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.key");
    let kind = KeyFileKind::detect(&text);

    if let Ok(public) = PublicIdentity::from_pem(&text, path) {
        assert_eq!(kind, Some(KeyFileKind::PublicIdentity));
        let again = PublicIdentity::from_pem(&public.to_pem(), path).expect("written back parses");
        assert!(
            again == public,
            "a public identity changed when written back"
        );
    }

    let public_half = Identity::public_of_pem(&text, path);
    let protected = Identity::is_protected(&text, path);
    let no_passphrase = || {
        Err(veil_vault::Error::NoPassphrase {
            file: path.display().to_string(),
            why: "none is given while fuzzing".into(),
        })
    };
    if let Ok(identity) = Identity::from_pem(&text, path, no_passphrase) {
        assert!(
            kind.is_some(),
            "a secret identity not recognised as a key file"
        );
        let stored = public_half.expect("an identity that opens has a public half");
        assert!(
            stored == *identity.public(),
            "the secret keys do not match the public half"
        );
        assert!(!protected.expect("an identity that opens has a protection flag"));
    }

    if let Ok(share) = Share::from_pem(&text, path) {
        assert!(kind.is_some(), "a share not recognised as a key file");
        let pem = share.to_pem().expect("a share that parses writes out");
        let again = Share::from_pem(&pem, path).expect("written back parses");
        assert_eq!(*again.to_pem().expect("writes out again"), *pem);
        assert_eq!(
            (again.index(), again.threshold(), again.key_id()),
            (share.index(), share.threshold(), share.key_id())
        );
    }
});
