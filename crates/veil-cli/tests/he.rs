//! `veil he keygen` writes key sets; `veil he bench` times every primitive of the JSON
//! contract.

#![allow(clippy::unwrap_used)]

mod common;

use common::ok_json;

#[test]
fn bench_reports_every_primitive() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok_json(dir.path(), &["he", "bench", "--repeat", "1"]);
    for n in ["8192", "16384"] {
        for key in [
            "encrypt_ms",
            "mul_relin_rescale_ms",
            "rotate_ms",
            "decrypt_ms",
        ] {
            let ms = r["ckks"][n][key].as_f64().unwrap();
            assert!(ms > 0.0 && ms < 10_000.0, "{n} {key}: {ms}");
        }
    }
    for key in ["encrypt_ms", "decrypt_ms", "add_ms"] {
        assert!(r["paillier"]["2048"][key].as_f64().unwrap() > 0.0, "{key}");
    }
}

#[test]
fn keygen_writes_a_key_set_and_never_overwrites_it() {
    use common::fails;
    let dir = tempfile::tempdir().unwrap();
    let r = ok_json(dir.path(), &["he", "keygen", "--out", "keys"]);
    assert_eq!(r["scheme"], "ckks");
    assert_eq!(r["poly_degree"], 8192);
    for name in ["secret.key", "public.key", "evaluation.key"] {
        let path = dir.path().join("keys").join(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"VEILCKKS", "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode == 0o600, name == "secret.key", "{name}: {mode:o}");
        }
    }
    fails(dir.path(), &["he", "keygen", "--out", "keys"], 2, "--force");
    let p = ok_json(
        dir.path(),
        &["he", "keygen", "--out", "pk", "--scheme", "paillier"],
    );
    assert_eq!(p["bits"], 2048);
    let public = std::fs::read_to_string(dir.path().join("pk/public.json")).unwrap();
    assert!(public.contains("veil-paillier-public-key"));
    fails(
        dir.path(),
        &["he", "keygen", "--out", "x", "--poly-degree", "4096"],
        2,
        "8192 or 16384",
    );
}
