//! End-to-end tests of `veil key` and `veil vault` through the built binary.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{fails, ok};

struct Setup {
    dir: tempfile::TempDir,
    plain: Vec<u8>,
}

/// `vault seal` of data.bin to bob, signed by alice, into `out`.
fn seal_signed_args(out: &str) -> Vec<&str> {
    let signed = [
        "vault",
        "seal",
        "--to",
        "bob.pub",
        "--sign",
        "alice.key",
        "data.bin",
    ];
    [&signed[..], &["-o", out]].concat()
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["alice", "bob", "mallory"] {
            ok(
                dir.path(),
                &["key", "new", "-o", &format!("{name}.key"), "--unprotected"],
            );
        }
        let plain: Vec<u8> = (0..2_500_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(dir.path().join("data.bin"), &plain).expect("writes");
        Setup { dir, plain }
    }

    fn p(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn seal_signed(&self, out: &str) {
        ok(self.p(), &seal_signed_args(out));
    }
}

#[test]
fn seal_open_inspect_round_trip_with_signature() {
    let s = Setup::new();
    s.seal_signed("data.veil");
    let info: serde_json::Value =
        serde_json::from_str(&ok(s.p(), &["vault", "inspect", "data.veil", "--json"])).unwrap();
    let bob_id = ok(s.p(), &["key", "show", "bob.pub"]).trim().to_string();
    let alice_id = ok(s.p(), &["key", "show", "alice.pub"]).trim().to_string();
    assert_eq!(info["recipients"], serde_json::json!([bob_id]));
    assert_eq!(info["signer"], alice_id);
    assert_eq!(info["plaintext_bytes"], 2_500_000);
    assert_eq!(info["segment_size"], (1 << 20) - 16);
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "--expect-signer",
            "alice.pub",
            "data.veil",
            "-o",
            "out.bin",
        ],
    );
    assert_eq!(std::fs::read(s.path("out.bin")).unwrap(), s.plain);

    // Random access, and the same through stdin/stdout.
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "--range",
            "1048000:5000",
            "data.veil",
            "-o",
            "slice.bin",
        ],
    );
    assert_eq!(
        std::fs::read(s.path("slice.bin")).unwrap(),
        &s.plain[1_048_000..1_053_000]
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["vault", "seal", "--to", "bob.pub", "-", "-o", "-"])
        .current_dir(s.p())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through pipes")
        .unwrap();
    let sealed = child.wait_with_output().unwrap().stdout;
    std::fs::write(s.path("piped.veil"), sealed).unwrap();
    assert_eq!(
        ok(
            s.p(),
            &["vault", "open", "-i", "bob.key", "piped.veil", "-o", "-"]
        ),
        "through pipes"
    );
}

#[test]
fn secret_files_are_private_and_protected_by_default() {
    let s = Setup::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("alice.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Without a terminal and without a passphrase file, a protected key cannot be made.
    fails(
        s.p(),
        &["key", "new", "-o", "x.key"],
        2,
        "--passphrase-file",
    );
    std::fs::write(s.path("pass"), "open sesame\n").unwrap();
    ok(
        s.p(),
        &["key", "new", "-o", "carol.key", "--passphrase-file", "pass"],
    );
    ok(
        s.p(),
        &[
            "vault",
            "seal",
            "--to",
            "carol.pub",
            "data.bin",
            "-o",
            "c.veil",
        ],
    );
    fails(
        s.p(),
        &["vault", "open", "-i", "carol.key", "c.veil", "-o", "c.bin"],
        2,
        "no terminal",
    );
    std::fs::write(s.path("wrong"), "open sesam\n").unwrap();
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "carol.key",
            "--key-passphrase-file",
            "wrong",
            "c.veil",
            "-o",
            "c.bin",
        ],
        8,
        "wrong passphrase",
    );
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "carol.key",
            "--key-passphrase-file",
            "pass",
            "c.veil",
            "-o",
            "c.bin",
        ],
    );
    assert!(
        !std::fs::read_to_string(s.path("carol.key"))
            .unwrap()
            .contains("UNPROTECTED")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(s.path(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        // Decrypted plaintext is the owner's only, whatever the umask.
        assert_eq!(mode("c.bin"), 0o600);
        // Other new outputs follow the umask: under 077, a sealed file is not widened.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 077 && exec \"$0\" vault seal --to carol.pub data.bin -o private.veil")
            .arg(env!("CARGO_BIN_EXE_veil"))
            .current_dir(s.p())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(mode("private.veil"), 0o600);
    }
}

#[test]
fn bad_input_has_distinct_errors_and_writes_nothing() {
    let s = Setup::new();
    s.seal_signed("data.veil");
    std::fs::write(s.path("out.bin"), b"keep me").unwrap();
    let sealed = std::fs::read(s.path("data.veil")).unwrap();
    let variant = |name: &str, bytes: &[u8]| std::fs::write(s.path(name), bytes).unwrap();

    let mut flipped = sealed.clone();
    flipped[1_500_000] ^= 0x20;
    variant("flipped.veil", &flipped);
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "flipped.veil",
            "-o",
            "out.bin",
        ],
        7,
        "does not authenticate",
    );

    variant("truncated.veil", &sealed[..sealed.len() - 100]);
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "truncated.veil",
            "-o",
            "out.bin",
        ],
        7,
        "",
    );

    let mut version = sealed.clone();
    version[8] = 9;
    variant("future.veil", &version);
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "future.veil",
            "-o",
            "out.bin",
        ],
        7,
        "version 9",
    );
    variant("plain.txt", b"just some text, not sealed");
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "plain.txt",
            "-o",
            "out.bin",
        ],
        7,
        "not a Veil sealed file",
    );

    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "mallory.key",
            "data.veil",
            "-o",
            "out.bin",
        ],
        8,
        "no identity or passphrase",
    );
    fails(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "bob.key",
            "--expect-signer",
            "mallory.pub",
            "data.veil",
            "-o",
            "out.bin",
        ],
        9,
        "not by the expected signer",
    );
    assert_eq!(
        std::fs::read(s.path("out.bin")).unwrap(),
        b"keep me",
        "the existing output is untouched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(s.p())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".veil-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn rewrap_in_place_keeps_the_signature() {
    let s = Setup::new();
    s.seal_signed("data.veil");
    let bob_id = ok(s.p(), &["key", "show", "bob.pub"]).trim().to_string();
    ok(
        s.p(),
        &[
            "vault",
            "rewrap",
            "-i",
            "bob.key",
            "--to",
            "mallory.pub",
            "--remove",
            &bob_id,
            "data.veil",
        ],
    );
    fails(
        s.p(),
        &["vault", "open", "-i", "bob.key", "data.veil", "-o", "x"],
        8,
        "",
    );
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "mallory.key",
            "--expect-signer",
            "alice.pub",
            "data.veil",
            "-o",
            "out.bin",
        ],
    );
    assert_eq!(std::fs::read(s.path("out.bin")).unwrap(), s.plain);
}

#[test]
fn key_split_and_combine() {
    let s = Setup::new();
    ok(
        s.p(),
        &[
            "key",
            "split",
            "--shares",
            "5",
            "--threshold",
            "3",
            "alice.key",
            "-o",
            "shares",
        ],
    );
    ok(
        s.p(),
        &[
            "key",
            "combine",
            "shares/share-1",
            "shares/share-3",
            "shares/share-5",
            "-o",
            "restored.key",
            "--unprotected",
        ],
    );
    assert_eq!(
        ok(s.p(), &["key", "show", "restored.key"]),
        ok(s.p(), &["key", "show", "alice.key"])
    );
    ok(
        s.p(),
        &[
            "vault",
            "seal",
            "--to",
            "alice.pub",
            "data.bin",
            "-o",
            "a.veil",
        ],
    );
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "restored.key",
            "a.veil",
            "-o",
            "a.bin",
        ],
    );
    fails(
        s.p(),
        &[
            "key",
            "combine",
            "shares/share-2",
            "shares/share-4",
            "-o",
            "nope.key",
            "--unprotected",
        ],
        3,
        "2 distinct share(s) given, but 3 are needed",
    );
    assert!(!s.path("nope.key").exists());
}

fn age_tool() -> Option<()> {
    let found = Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("skipping age interop: the `age` tool is not installed (apt-get install age)");
    }
    found.then_some(())
}

#[test]
fn age_interop_both_ways() {
    if age_tool().is_none() {
        return;
    }
    let s = Setup::new();
    let keygen = Command::new("age-keygen")
        .args(["-o", "age.txt"])
        .current_dir(s.p())
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let identity = std::fs::read_to_string(s.path("age.txt")).unwrap();
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen prints the public key")
        .to_string();

    // Veil writes, age reads.
    ok(
        s.p(),
        &[
            "vault", "seal", "--format", "age", "--to", &recipient, "data.bin", "-o", "v.age",
        ],
    );
    let o = Command::new("age")
        .args(["-d", "-i", "age.txt", "-o", "from-age.bin", "v.age"])
        .current_dir(s.p())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(s.path("from-age.bin")).unwrap(), s.plain);

    // age writes, Veil reads.
    let o = Command::new("age")
        .args(["-r", &recipient, "-o", "a.age", "data.bin"])
        .current_dir(s.p())
        .output()
        .unwrap();
    assert!(o.status.success());
    ok(
        s.p(),
        &[
            "vault",
            "open",
            "-i",
            "age.txt",
            "a.age",
            "-o",
            "from-veil.bin",
        ],
    );
    assert_eq!(std::fs::read(s.path("from-veil.bin")).unwrap(), s.plain);
}

/// A secret key that other users may read is refused, as ssh refuses one (F-24); `chmod
/// 600` makes it usable again.
#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new();
    s.seal_signed("data.veil");
    let open = [
        "vault",
        "open",
        "-i",
        "bob.key",
        "data.veil",
        "-o",
        "out.bin",
    ];
    for mode in [0o644, 0o660, 0o602] {
        std::fs::set_permissions(s.path("bob.key"), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        fails(s.p(), &open, 4, "chmod 600");
        assert!(!s.path("out.bin").exists());
    }
    std::fs::set_permissions(s.path("bob.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    ok(s.p(), &open);
    assert_eq!(std::fs::read(s.path("out.bin")).expect("opened"), s.plain);
    // Signing keys too.
    std::fs::set_permissions(s.path("alice.key"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    fails(
        s.p(),
        &seal_signed_args("x.veil"),
        4,
        "other users may read",
    );
}
