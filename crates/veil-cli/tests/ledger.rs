//! End-to-end tests of `veil ledger` and `--ledger` through the built binary.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions, may unwrap

mod common;

use std::path::Path;

use common::{fails, ok, ok_json, run};

fn write(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, body).unwrap();
}

/// A ledger with a dataset (0), a transform of it (1) and a model directory (2) from both.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(
        p,
        &[
            "ledger",
            "init",
            "prov",
            "--origin",
            "example.com/veil/test",
        ],
    );
    write(p, "raw.csv", "a,b\n1,2\n3,4\n");
    write(p, "clean.csv", "a,b\n1,2\n");
    write(p, "model/weights.bin", "weights");
    write(p, "model/config.json", "{}");
    ok(p, &["key", "new", "-o", "me.key", "--unprotected"]);
    let add = |args: &[&str]| ok_json(p, &[&["ledger", "add", "prov"], args].concat());
    assert_eq!(
        add(&[
            "--kind",
            "dataset",
            "--file",
            "raw.csv",
            "--meta",
            "source=site-a"
        ])["index"],
        0
    );
    assert_eq!(
        add(&[
            "--kind",
            "transform",
            "--file",
            "clean.csv",
            "--parent",
            "0"
        ])["index"],
        1
    );
    let model = add(&[
        "--kind", "model", "--file", "model", "--parent", "1", "--parent", "0", "--sign", "me.key",
    ]);
    assert_eq!(model["index"], 2);
    assert_eq!(model["leaf_hash"].as_str().unwrap().len(), 64);
    dir
}

#[test]
fn prove_and_verify_offline_with_only_the_vkey() {
    let dir = setup();
    let p = dir.path();
    ok(
        p,
        &[
            "ledger",
            "prove",
            "prov",
            "--index",
            "2",
            "-o",
            "model.proof",
        ],
    );
    ok(
        p,
        &[
            "ledger",
            "entry",
            "prov",
            "--index",
            "2",
            "--raw",
            "-o",
            "model.entry",
        ],
    );
    let proof = std::fs::read_to_string(p.join("model.proof")).unwrap();
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 2\n"),
        "{proof}"
    );

    // The auditor has the vkey, the proof, the entry and the files: no database.
    std::fs::create_dir(p.join("auditor")).unwrap();
    for f in ["model.proof", "model.entry"] {
        std::fs::copy(p.join(f), p.join("auditor").join(f)).unwrap();
    }
    std::fs::copy(p.join("prov/log.vkey"), p.join("auditor/log.vkey")).unwrap();
    let verified = ok_json(
        p,
        &[
            "ledger",
            "verify",
            "--vkey",
            "auditor/log.vkey",
            "--proof",
            "auditor/model.proof",
            "--entry",
            "auditor/model.entry",
            "--file",
            "model",
        ],
    );
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["size"], 3);
    assert_eq!(verified["entry"]["kind"], "model");
    assert_eq!(verified["entry"]["parents"], serde_json::json!([0, 1]));

    // A file that is not the entry's subject, or a changed model, fails with 10.
    let verify_file = |file: &'static str| -> Vec<&'static str> {
        vec![
            "ledger",
            "verify",
            "--vkey",
            "auditor/log.vkey",
            "--proof",
            "auditor/model.proof",
            "--entry",
            "auditor/model.entry",
            "--file",
            file,
        ]
    };
    fails(
        p,
        &verify_file("raw.csv"),
        10,
        "is not a subject of the proven entry",
    );
    write(p, "model/weights.bin", "poisoned");
    fails(p, &verify_file("model"), 10, "is not a subject");

    // The model entry was signed by me.key: --expect-signer holds it to that identity.
    ok(p, &["key", "new", "-o", "stranger.key", "--unprotected"]);
    let mut signed = vec![
        "ledger",
        "verify",
        "--vkey",
        "auditor/log.vkey",
        "--proof",
        "auditor/model.proof",
        "--entry",
        "auditor/model.entry",
        "--expect-signer",
    ];
    ok(p, &[signed.as_slice(), &["me.pub"]].concat());
    signed.push("stranger.pub");
    fails(p, &signed, 9, "not signed by");

    // The readable entry names its signer; --json carries the exact bytes.
    let entry = ok_json(p, &["ledger", "entry", "prov", "--index", "2"]);
    assert_eq!(entry["signer"].as_str().unwrap().len(), 16);
    assert_eq!(entry["signer_ed25519"].as_str().unwrap().len(), 64);
    assert_eq!(entry["meta"], serde_json::json!({}));
    assert_eq!(
        ok_json(p, &["ledger", "entry", "prov", "--index", "0"])["meta"]["source"],
        "site-a"
    );
}

#[test]
fn consistency_proof_lineage_list_and_audit() {
    let dir = setup();
    let p = dir.path();
    let cp = ok_json(p, &["ledger", "checkpoint", "prov"]);
    assert_eq!(cp["size"], 3);
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .starts_with("example.com/veil/test\n3\n")
    );
    write(p, "eval.txt", "accuracy 0.98");
    ok(
        p,
        &[
            "ledger",
            "add",
            "prov",
            "--kind",
            "evaluation",
            "--file",
            "eval.txt",
            "--parent",
            "2",
        ],
    );
    let c = ok_json(p, &["ledger", "prove", "prov", "--from", "2"]);
    assert_eq!(c["old_size"], 2);
    assert_eq!(c["new_size"], 4);
    assert!(!c["proof"].as_array().unwrap().is_empty());

    let tree = ok(p, &["ledger", "lineage", "prov", "3"]);
    assert!(tree.starts_with("#3 evaluation eval.txt"), "{tree}");
    for needle in [
        "#2 model model/",
        "#1 transform clean.csv",
        "#0 dataset raw.csv",
        "(shown above)",
    ] {
        assert!(tree.contains(needle), "{needle} in {tree}");
    }
    let dot = ok(p, &["ledger", "lineage", "prov", "3", "--dot"]);
    assert!(
        dot.starts_with("digraph lineage {") && dot.contains("e2 -> e0;"),
        "{dot}"
    );
    let lineage = ok_json(p, &["ledger", "lineage", "prov", "1"]);
    assert_eq!(lineage["entries"].as_array().unwrap().len(), 2);
    assert_eq!(ok_json(p, &["ledger", "list", "prov"])["size"], 4);
    assert_eq!(ok_json(p, &["ledger", "audit", "prov"])["ok"], true);

    // An auditor with the database and the verifier key only (no log.key) reads everything.
    std::fs::create_dir(p.join("copy")).unwrap();
    for f in ["ledger.db", "log.vkey", "checkpoint"] {
        std::fs::copy(p.join("prov").join(f), p.join("copy").join(f)).unwrap();
    }
    assert_eq!(ok_json(p, &["ledger", "audit", "copy"])["ok"], true);
    assert_eq!(ok_json(p, &["ledger", "list", "copy"])["size"], 4);
    ok(p, &["ledger", "lineage", "copy", "3"]);
    ok(p, &["ledger", "entry", "copy", "--index", "1"]);

    // Output options that cannot go together.
    fails(
        p,
        &["ledger", "entry", "prov", "--index", "1", "--raw", "--json"],
        2,
        "--raw",
    );
    fails(
        p,
        &["ledger", "lineage", "prov", "3", "--dot", "--json"],
        2,
        "--dot",
    );
}

#[test]
fn consistency_is_verified_offline_and_a_rewritten_log_fails() {
    let dir = setup();
    let p = dir.path();
    let old = ok(p, &["ledger", "checkpoint", "prov"]);
    write(p, "old.checkpoint", &old);
    write(p, "later.csv", "a\n9\n");
    ok(
        p,
        &[
            "ledger",
            "add",
            "prov",
            "--kind",
            "dataset",
            "--file",
            "later.csv",
        ],
    );
    write(
        p,
        "grow.json",
        &ok(p, &["ledger", "prove", "prov", "--from", "3", "--json"]),
    );
    let check = [
        "ledger",
        "verify-consistency",
        "--vkey",
        "prov/log.vkey",
        "--old",
        "old.checkpoint",
        "--proof",
        "grow.json",
    ];
    let v = ok_json(p, &check);
    assert_eq!(
        (v["old_size"].as_u64(), v["new_size"].as_u64()),
        (Some(3), Some(4))
    );

    // A proof from another size than the kept checkpoint is a usage mistake, said so.
    write(
        p,
        "other.json",
        &ok(p, &["ledger", "prove", "prov", "--from", "2", "--json"]),
    );
    fails(
        p,
        &[
            "ledger",
            "verify-consistency",
            "--vkey",
            "prov/log.vkey",
            "--old",
            "old.checkpoint",
            "--proof",
            "other.json",
        ],
        2,
        "make it with --from 3",
    );

    // The operator rewrites entry 2 and everything after it, hashes and all.
    let db = rusqlite::Connection::open(p.join("prov/ledger.db")).unwrap();
    db.execute_batch(
        "DELETE FROM entries WHERE idx >= 2; DELETE FROM subjects WHERE idx >= 2;
         DELETE FROM subject_lookup WHERE idx >= 2; UPDATE lookup_state SET indexed = 0;
         DELETE FROM checkpoints; DELETE FROM nodes WHERE (idx + 1) << level > 2;",
    )
    .unwrap();
    write(p, "forged.bin", "a model trained on poisoned data");
    ok(
        p,
        &[
            "ledger",
            "add",
            "prov",
            "--kind",
            "model",
            "--file",
            "forged.bin",
            "--parent",
            "1",
        ],
    );
    ok(
        p,
        &[
            "ledger",
            "add",
            "prov",
            "--kind",
            "dataset",
            "--file",
            "later.csv",
        ],
    );
    // The newest checkpoint is also kept outside the database: the audit notices.
    fails(
        p,
        &["ledger", "audit", "prov"],
        10,
        "not among the stored checkpoints",
    );
    // With that file gone too, the audit says so rather than passing; a kept checkpoint
    // shows what was rewritten.
    std::fs::remove_file(p.join("prov/checkpoint")).unwrap();
    fails(
        p,
        &["ledger", "audit", "prov"],
        10,
        "prov/checkpoint is missing",
    );
    fails(
        p,
        &["ledger", "audit", "prov", "--checkpoint", "old.checkpoint"],
        10,
        "were rewritten",
    );
    write(
        p,
        "grow.json",
        &ok(p, &["ledger", "prove", "prov", "--from", "3", "--json"]),
    );
    fails(p, &check, 10, "does not verify");
    write(p, "bad.json", "{\"old_size\": 3}");
    fails(
        p,
        &[
            "ledger",
            "verify-consistency",
            "--vkey",
            "prov/log.vkey",
            "--old",
            "old.checkpoint",
            "--proof",
            "bad.json",
        ],
        3,
        "malformed consistency proof",
    );
}

#[test]
fn audit_catches_a_modified_row_with_the_first_bad_index() {
    let dir = setup();
    let p = dir.path();
    ok(p, &["ledger", "checkpoint", "prov"]);
    ok(p, &["ledger", "audit", "prov"]);
    let db = rusqlite::Connection::open(p.join("prov/ledger.db")).unwrap();
    // Change one byte of entry 1 (inside its name).
    db.execute(
        "UPDATE entries SET data = CAST(REPLACE(CAST(data AS TEXT), 'clean', 'cleaN') AS BLOB) WHERE idx = 1",
        [],
    )
    .unwrap();
    fails(p, &["ledger", "audit", "prov"], 10, "first bad index 1");
    let o = run(p, &["ledger", "audit", "prov", "--json"]);
    assert_eq!(o.status.code(), Some(10));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["first_bad_index"], 1);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = setup();
    let p = dir.path();
    ok(
        p,
        &[
            "ledger",
            "prove",
            "prov",
            "--index",
            "0",
            "-o",
            "small.proof",
        ],
    );
    ok(
        p,
        &[
            "ledger", "entry", "prov", "--index", "0", "--raw", "-o", "e0",
        ],
    );
    write(p, "more.csv", "x\n1\n");
    ok(
        p,
        &[
            "ledger", "add", "prov", "--kind", "dataset", "--file", "more.csv",
        ],
    );
    ok(
        p,
        &["ledger", "prove", "prov", "--index", "0", "-o", "big.proof"],
    );
    let verify = |proof: &'static str, vkey: &'static str| -> Vec<&'static str> {
        vec![
            "ledger", "verify", "--vkey", vkey, "--proof", proof, "--entry", "e0",
        ]
    };
    let call = |args: Vec<&str>, code: i32, needle: &str| fails(p, &args, code, needle);
    ok(p, &verify("small.proof", "prov/log.vkey"));

    // A proof for another tree size: the path of size 3 with the checkpoint of size 4.
    let small = std::fs::read_to_string(p.join("small.proof")).unwrap();
    let big = std::fs::read_to_string(p.join("big.proof")).unwrap();
    let mixed = format!(
        "{}\n\n{}",
        small.split_once("\n\n").unwrap().0,
        big.split_once("\n\n").unwrap().1
    );
    write(p, "mixed.proof", &mixed);
    call(
        verify("mixed.proof", "prov/log.vkey"),
        10,
        "does not verify",
    );

    // A checkpoint signed by another log's key.
    ok(
        p,
        &[
            "ledger",
            "init",
            "other",
            "--origin",
            "example.com/veil/test",
        ],
    );
    call(
        verify("small.proof", "other/log.vkey"),
        10,
        "not signed by the expected key",
    );

    // Malformed proof, entry and vkey files.
    write(
        p,
        "bad.proof",
        "c2sp.org/tlog-proof@v1\nindex 0\nnot base64!\n\ncheckpoint\n",
    );
    call(
        verify("bad.proof", "prov/log.vkey"),
        3,
        "malformed tlog-proof",
    );
    write(p, "bad.vkey", "not a key");
    call(
        verify("small.proof", "bad.vkey"),
        3,
        "malformed verifier key",
    );
    std::fs::write(p.join("e0"), b"VEILENTRY garbage").unwrap();
    call(
        verify("small.proof", "prov/log.vkey"),
        3,
        "malformed ledger entry",
    );

    // Unknown kind, missing parent, missing file, entry out of range, not a ledger.
    fails(
        p,
        &[
            "ledger", "add", "prov", "--kind", "modle", "--file", "raw.csv",
        ],
        2,
        "unknown entry kind",
    );
    fails(
        p,
        &[
            "ledger", "add", "prov", "--kind", "model", "--file", "raw.csv", "--parent", "40",
        ],
        2,
        "parent entry 40 does not exist",
    );
    fails(
        p,
        &[
            "ledger",
            "add",
            "prov",
            "--kind",
            "model",
            "--file",
            "absent.csv",
        ],
        4,
        "absent.csv",
    );
    fails(
        p,
        &[
            "ledger", "add", "prov", "--kind", "model", "--file", "raw.csv", "--meta", "novalue",
        ],
        2,
        "KEY=VALUE",
    );
    fails(p, &["ledger", "prove", "prov", "--index", "99"], 2, "99");
    fails(
        p,
        &["ledger", "entry", "prov", "--index", "99"],
        2,
        "no entry 99",
    );
    fails(p, &["ledger", "list", "nowhere"], 2, "holds no ledger");
    fails(
        p,
        &["ledger", "init", "prov", "--origin", "again"],
        2,
        "already holds a ledger",
    );
    assert_eq!(
        ok_json(p, &["ledger", "list", "prov"])["size"],
        4,
        "nothing was added by failures"
    );
}

#[test]
fn two_processes_append_concurrently() {
    let dir = setup();
    let p = dir.path();
    for w in 0..2 {
        write(p, &format!("w{w}.txt"), &format!("writer {w}"));
    }
    std::thread::scope(|s| {
        for w in 0..2 {
            s.spawn(move || {
                let file = format!("w{w}.txt");
                for _ in 0..12 {
                    ok(
                        p,
                        &[
                            "ledger", "add", "prov", "--kind", "dataset", "--file", &file,
                        ],
                    );
                }
            });
        }
    });
    assert_eq!(ok_json(p, &["ledger", "list", "prov"])["size"], 27);
    ok(p, &["ledger", "checkpoint", "prov"]);
    assert_eq!(ok_json(p, &["ledger", "audit", "prov"])["ok"], true);
}

#[test]
fn a_passphrase_protected_log_key_signs_only_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "pass.txt", "correct horse battery staple\n");
    write(p, "wrong.txt", "wrong\n");
    ok(
        p,
        &[
            "ledger",
            "init",
            "prov",
            "--origin",
            "example.com/p",
            "--passphrase-file",
            "pass.txt",
        ],
    );
    assert!(
        !std::fs::read(p.join("prov/log.key"))
            .unwrap()
            .starts_with(b"veil-ledger-key")
    );
    write(p, "d.csv", "a\n1\n");
    ok(
        p,
        &[
            "ledger", "add", "prov", "--kind", "dataset", "--file", "d.csv",
        ],
    );
    fails(
        p,
        &["ledger", "checkpoint", "prov"],
        2,
        "give the passphrase in a file",
    );
    fails(
        p,
        &[
            "ledger",
            "checkpoint",
            "prov",
            "--passphrase-file",
            "wrong.txt",
        ],
        8,
        "passphrase",
    );
    let cp = ok_json(
        p,
        &[
            "ledger",
            "checkpoint",
            "prov",
            "--passphrase-file",
            "pass.txt",
        ],
    );
    assert_eq!(cp["size"], 1);
}

#[test]
fn ledger_flag_records_lineage_of_a_model_back_to_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(
        p,
        &["ledger", "init", "prov", "--origin", "example.com/veil/ml"],
    );
    ok(p, &["key", "new", "-o", "alice.key", "--unprotected"]);
    ok(
        p,
        &["data", "export", "builtin:breast-cancer", "-o", "bc.csv"],
    );
    let sealed = ok_json(
        p,
        &[
            "vault",
            "seal",
            "--to",
            "alice.pub",
            "bc.csv",
            "-o",
            "bc.veil",
            "--ledger",
            "prov",
        ],
    );
    assert_eq!(
        sealed["ledger_index"], 1,
        "the plaintext was logged as dataset 0 first"
    );
    let opened = ok_json(
        p,
        &[
            "vault",
            "open",
            "-i",
            "alice.key",
            "bc.veil",
            "-o",
            "copy.csv",
            "--ledger",
            "prov",
        ],
    );
    assert_eq!(opened["ledger_index"], 2);
    let trained = ok_json(
        p,
        &[
            "train",
            "--data",
            "copy.csv",
            "--label",
            "malignant",
            "--epochs",
            "5",
            "--out",
            "bc.model",
            "--ledger",
            "prov",
        ],
    );
    assert_eq!(trained["ledger_index"], 3);
    let lineage = ok_json(p, &["ledger", "lineage", "prov", "3"]);
    let kinds: Vec<&str> = lineage["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model", "transform", "transform", "dataset"]);
    let model = &lineage["entries"][0];
    assert_eq!(model["meta"]["label"], "malignant");
    assert!(
        model["meta"]["test_accuracy"]
            .as_str()
            .unwrap()
            .starts_with("0.")
    );
    // The plaintext is data: the log holds a digest keyed with the ledger's digest.key, not
    // its SHA-256, which would let anyone with the log confirm a guess of the file (F-17);
    // the sealed file keeps its SHA-256.
    let dataset = &lineage["entries"][3];
    let digest = ok_json(p, &["data", "digest", "bc.csv"]);
    assert_ne!(
        dataset["subjects"][0]["sha256"],
        digest["files"][0]["sha256"]
    );
    assert_eq!(dataset["meta"]["subject_digest"], "hmac-sha256");
    let seal = &lineage["entries"][2];
    let sealed = ok_json(p, &["data", "digest", "bc.veil"]);
    assert_eq!(seal["subjects"][0]["sha256"], sealed["files"][0]["sha256"]);
    assert!(seal["meta"].get("subject_digest").is_none());
    // Opened again, the same plaintext has the same keyed digest: the training run's
    // lineage went through the open back to the seal and the dataset above.
    assert_eq!(
        lineage["entries"][1]["subjects"][0]["sha256"],
        dataset["subjects"][0]["sha256"]
    );

    // A second model on embedded data: the builtin's bytes are the dataset.
    let t2 = ok_json(
        p,
        &[
            "train",
            "--data",
            "builtin:digits",
            "--label",
            "digit",
            "--epochs",
            "2",
            "--out",
            "d.model",
            "--ledger",
            "prov",
        ],
    );
    assert_eq!(t2["ledger_index"], 5);
    assert_eq!(
        ok_json(p, &["ledger", "entry", "prov", "--index", "4"])["name"],
        "builtin:digits"
    );

    // Streams cannot be recorded, and nothing is written when the ledger is missing.
    fails(
        p,
        &[
            "vault",
            "seal",
            "--to",
            "alice.pub",
            "-",
            "-o",
            "x.veil",
            "--ledger",
            "prov",
        ],
        2,
        "not - (a stream)",
    );
    fails(
        p,
        &[
            "vault",
            "seal",
            "--to",
            "alice.pub",
            "bc.csv",
            "-o",
            "y.veil",
            "--ledger",
            "nowhere",
        ],
        2,
        "holds no ledger",
    );
    assert!(!p.join("y.veil").exists());
}

#[test]
fn model_signing_round_trip_and_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "model/weights.bin", "weights");
    write(p, "model/tokenizer/vocab.txt", "a b c");
    write(p, "model/.git/HEAD", "ref: main");
    let key = ok_json(p, &["key", "new", "--ecdsa-p256", "-o", "signer.pem"]);
    assert_eq!(key["key_hint"].as_str().unwrap().len(), 64);
    ok(p, &["key", "new", "--ecdsa-p256", "-o", "other.pem"]);
    ok(
        p,
        &["ledger", "init", "prov", "--origin", "example.com/veil/sig"],
    );
    ok(
        p,
        &[
            "ledger", "add", "prov", "--kind", "model", "--file", "model",
        ],
    );
    let signed = ok_json(
        p,
        &[
            "ledger",
            "sign-model",
            "model",
            "--key",
            "signer.pem",
            "-o",
            "model/model.sig",
            "--ledger",
            "prov",
        ],
    );
    assert_eq!(
        signed["files"], 2,
        "git files and the bundle itself are left out"
    );
    assert_eq!(signed["ledger_index"], 1);
    let entry = ok_json(p, &["ledger", "entry", "prov", "--index", "1"]);
    assert_eq!(
        entry["parents"],
        serde_json::json!([0]),
        "the signature links to the model's entry, although the bundle went inside the model"
    );
    let verified = ok_json(
        p,
        &[
            "ledger",
            "verify-model",
            "model",
            "--bundle",
            "model/model.sig",
            "--key",
            "signer.pub",
        ],
    );
    assert_eq!(verified["sha256"], signed["sha256"]);
    fails(
        p,
        &[
            "ledger",
            "verify-model",
            "model",
            "--bundle",
            "model/model.sig",
            "--key",
            "other.pub",
        ],
        9,
        "another key",
    );
    write(p, "model/tokenizer/vocab.txt", "a b c d");
    fails(
        p,
        &[
            "ledger",
            "verify-model",
            "model",
            "--bundle",
            "model/model.sig",
            "--key",
            "signer.pub",
        ],
        9,
        "tokenizer/vocab.txt was changed",
    );
    write(p, "not-json.sig", "{");
    fails(
        p,
        &[
            "ledger",
            "verify-model",
            "model",
            "--bundle",
            "not-json.sig",
            "--key",
            "signer.pub",
        ],
        3,
        "malformed model-signing bundle",
    );
    fails(
        p,
        &[
            "ledger",
            "sign-model",
            "model",
            "--key",
            "signer.pub",
            "-o",
            "x.sig",
        ],
        3,
        "private key",
    );

    // Nothing is destroyed: a bundle over its own model, a key over an existing file or
    // a secret key named like its public file.
    write(p, "single.bin", "weights");
    fails(
        p,
        &[
            "ledger",
            "sign-model",
            "single.bin",
            "--key",
            "signer.pem",
            "-o",
            "single.bin",
        ],
        2,
        "the model itself",
    );
    assert_eq!(
        std::fs::read_to_string(p.join("single.bin")).unwrap(),
        "weights"
    );
    let before = std::fs::read(p.join("signer.pem")).unwrap();
    fails(
        p,
        &["key", "new", "--ecdsa-p256", "-o", "signer.pem"],
        2,
        "exists",
    );
    fails(
        p,
        &["key", "new", "-o", "signer.pem", "--unprotected"],
        2,
        "exists",
    );
    assert_eq!(std::fs::read(p.join("signer.pem")).unwrap(), before);
    fails(
        p,
        &["key", "new", "--ecdsa-p256", "-o", "k.pub"],
        2,
        "its own public file",
    );
    assert!(!p.join("k.pub").exists());
}
