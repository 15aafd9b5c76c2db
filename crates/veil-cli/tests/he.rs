//! `veil he bench`: every primitive of the JSON contract is timed.

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
