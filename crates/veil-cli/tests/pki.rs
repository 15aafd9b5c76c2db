//! `veil pki init | issue` end to end: the files, their permissions, the JSON, and the
//! refusals (overwriting without --force, a bad name, a missing CA).

mod common;

use common::{fails, ok, ok_json};

#[test]
fn a_ca_and_its_certificates_are_written_once_and_kept_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(
        d,
        &["pki", "issue", "pki", "--name", "a"],
        4,
        "veil pki init pki",
    );
    let ca = ok_json(d, &["pki", "init", "pki"]);
    assert_eq!(ca["certificate"], "pki/ca.pem");
    assert_eq!(ca["key"], "pki/ca.key");
    let ca_pem = std::fs::read(d.join("pki/ca.pem")).unwrap();
    fails(d, &["pki", "init", "pki"], 2, "--force");
    let issued = ok_json(
        d,
        &[
            "pki",
            "issue",
            "pki",
            "--name",
            "coordinator",
            "--ip",
            "127.0.0.1",
            "--dns",
            "fl.example.org",
        ],
    );
    assert_eq!(issued["certificate"], "pki/coordinator.pem");
    assert!(ok(d, &["pki", "issue", "pki", "--name", "hospital-a"]).contains("hospital-a.pem"));
    fails(
        d,
        &["pki", "issue", "pki", "--name", "hospital-a"],
        2,
        "--force",
    );
    ok(
        d,
        &["pki", "issue", "pki", "--name", "hospital-a", "--force"],
    );
    fails(
        d,
        &["pki", "issue", "pki", "--name", "Hospital A"],
        2,
        "invalid name",
    );
    fails(
        d,
        &["pki", "issue", "pki", "--name", "x", "--ip", "not-an-ip"],
        2,
        "--ip",
    );
    // The refused init left the CA as it was; keys are readable by their owner only.
    assert_eq!(std::fs::read(d.join("pki/ca.pem")).unwrap(), ca_pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca.key", "coordinator.key", "hospital-a.key"] {
            let mode = std::fs::metadata(d.join("pki").join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
}
