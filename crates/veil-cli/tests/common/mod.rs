//! Helpers shared by the end-to-end tests: run the built `veil` in a directory and check
//! its exit code and output.

#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `veil ARGS` in `dir` with no standard input.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("veil runs")
}

/// The standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "veil {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8")
}

/// Runs a `--json` command that must succeed; returns its one JSON object.
pub fn ok_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(dir, &all);
    assert_eq!(text.trim().lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).expect("stdout is one JSON object")
}

/// Runs a command that must fail with `code` and say `needle` on stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) {
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "veil {args:?}: {err}");
    assert!(
        err.contains(needle),
        "veil {args:?}: stderr lacks {needle:?}: {err}"
    );
}

/// A PKI in `dir/pki`: a CA, a certificate for `server` valid for 127.0.0.1, and one for
/// each of `clients`.
pub fn loopback_pki(dir: &Path, server: &str, clients: &[&str]) {
    ok_json(dir, &["pki", "init", "pki"]);
    ok_json(
        dir,
        &["pki", "issue", "pki", "--name", server, "--ip", "127.0.0.1"],
    );
    for name in clients {
        ok_json(dir, &["pki", "issue", "pki", "--name", name]);
    }
}
