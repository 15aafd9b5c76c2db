//! End-to-end tests that run the built `veil` binary.

mod common;

use std::path::{Path, PathBuf};

use common::{ok_json, run, s, stderr};
use serde_json::Value;

fn veil(args: &[&str]) -> std::process::Output {
    run(Path::new("."), args)
}

#[test]
fn logistic_regression_meets_the_quality_target() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bc.model");
    let r = ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--seed",
            "42",
            "--out",
            s(&model),
        ],
    );
    assert_eq!(r["kind"], "logreg");
    let acc = r["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
    let auc = r["test_auc"].as_f64().unwrap();
    assert!((0.95..=1.0).contains(&auc), "test AUC {auc}");
    assert_eq!(r["test_rows"], 114);
}

#[test]
fn mlp_on_digits_meets_the_quality_target() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("digits.model");
    let r = ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            "builtin:digits",
            "--label",
            "digit",
            "--model",
            "mlp",
            "--seed",
            "42",
            "--out",
            s(&model),
        ],
    );
    let acc = r["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
    assert!(
        r.get("test_auc").is_none_or(Value::is_null),
        "no AUC for multiclass"
    );
}

#[test]
fn train_eval_predict_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test, model, preds) = (
        dir.path().join("train.csv"),
        dir.path().join("test.parquet"),
        dir.path().join("m.model"),
        dir.path().join("preds.csv"),
    );
    let split = ok_json(
        Path::new("."),
        &[
            "data",
            "split",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--train",
            s(&train),
            "--test",
            s(&test),
        ],
    );
    assert_eq!(
        (split["train_rows"].as_u64(), split["test_rows"].as_u64()),
        (Some(455), Some(114))
    );

    let trained = ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            s(&train),
            "--test-data",
            s(&test),
            "--label",
            "malignant",
            "--out",
            s(&model),
        ],
    );
    let evaluated = ok_json(
        Path::new("."),
        &["eval", "--model", s(&model), "--data", s(&test)],
    );
    // The model file alone (with its standardisation) reproduces the training-time test metrics.
    assert_eq!(evaluated["accuracy"], trained["test_accuracy"]);
    assert_eq!(evaluated["auc"], trained["test_auc"]);
    assert_eq!(evaluated["rows"], 114);

    let predicted = ok_json(
        Path::new("."),
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            s(&test),
            "--out",
            s(&preds),
        ],
    );
    let p = predicted["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 114);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
    // Predicted classes agree with the accuracy reported by eval.
    let labels = ok_json(Path::new("."), &["data", "inspect", s(&test)]);
    assert_eq!(labels["rows"], 114);
    let csv = std::fs::read_to_string(&preds).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("predicted,probability"));
    assert_eq!(lines.count(), 114);

    // A regression model predicts values, and eval reports MSE.
    let lin = dir.path().join("lin.model");
    let r = ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            s(&train),
            "--label",
            "perimeter_mean",
            "--features",
            "radius_mean,texture_mean",
            "--model",
            "linear",
            "--out",
            s(&lin),
        ],
    );
    // Perimeter is nearly proportional to radius.
    assert!(r["test_r2"].as_f64().unwrap() > 0.99, "{r}");
    let e = ok_json(
        Path::new("."),
        &["eval", "--model", s(&lin), "--data", s(&test)],
    );
    assert!(e["mse"].as_f64().is_some() && e.get("accuracy").is_none());
}

#[test]
fn multiclass_predictions_are_class_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("softmax.model");
    ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            "builtin:digits",
            "--label",
            "digit",
            "--epochs",
            "5",
            "--out",
            s(&model),
        ],
    );
    let r = ok_json(
        Path::new("."),
        &["predict", "--model", s(&model), "--data", "builtin:digits"],
    );
    let rows = r["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 1797);
    for row in rows.iter().take(50) {
        let p: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(p.len(), 10);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert_eq!(r["classes"].as_array().unwrap().len(), 10);
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("writes a test file");
    p
}

/// A failed command: non-zero exit, a message with all of `needles`, and no output file.
fn assert_fails(args: &[&str], code: i32, needles: &[&str], out: &Path) {
    let o = veil(args);
    assert_eq!(o.status.code(), Some(code), "veil {args:?}: {}", stderr(&o));
    let err = stderr(&o);
    for n in needles {
        assert!(
            err.contains(n),
            "stderr of veil {args:?} lacks {n:?}: {err}"
        );
    }
    assert!(!out.exists(), "{} was written", out.display());
}

#[test]
fn bad_input_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.model");
    let ragged = write(&dir, "ragged.csv", "a,b,y\n1,2,0\n3,4,1\n5,1\n7,8,0\n");
    assert_fails(
        &[
            "train",
            "--data",
            s(&ragged),
            "--label",
            "y",
            "--out",
            s(&model),
        ],
        3,
        &["ragged.csv", "line 4", "ragged row"],
        &model,
    );
    let text = write(&dir, "text.csv", "a,b,y\n1,2,0\n3,4,1\n5,n/a,1\n7,8,0\n");
    assert_fails(
        &[
            "train",
            "--data",
            s(&text),
            "--label",
            "y",
            "--out",
            s(&model),
        ],
        3,
        &["line 4", "\"b\"", "non-numeric", "n/a"],
        &model,
    );
    assert_fails(
        &[
            "train",
            "--data",
            s(&text),
            "--label",
            "outcome",
            "--out",
            s(&model),
        ],
        3,
        &["label column \"outcome\" not found", "a, b, y"],
        &model,
    );
    let missing = dir.path().join("nope.csv");
    assert_fails(
        &[
            "train",
            "--data",
            s(&missing),
            "--label",
            "y",
            "--out",
            s(&model),
        ],
        4,
        &["nope.csv"],
        &model,
    );
    let empty = write(&dir, "empty.csv", "");
    assert_fails(&["data", "inspect", s(&empty)], 3, &["empty"], &model);
    let nan = write(&dir, "nan.csv", "a,y\n1,0\nNaN,1\n2,1\n3,0\n");
    assert_fails(
        &[
            "train",
            "--data",
            s(&nan),
            "--label",
            "y",
            "--out",
            s(&model),
        ],
        3,
        &["line 3", "\"a\"", "not a finite number"],
        &model,
    );
}

#[test]
fn failure_keeps_an_existing_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(&dir, "m.model", "precious");
    let ragged = write(&dir, "r.csv", "a,y\n1,0\n2\n");
    let o = veil(&[
        "train",
        "--data",
        s(&ragged),
        "--label",
        "y",
        "--out",
        s(&model),
    ]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "precious");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

/// Trains a small breast-cancer model (2 epochs) in `dir` and returns its path.
fn quick_model(dir: &tempfile::TempDir) -> PathBuf {
    let model = dir.path().join("m.model");
    ok_json(
        Path::new("."),
        &[
            "train",
            "--data",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--epochs",
            "2",
            "--out",
            s(&model),
        ],
    );
    model
}

#[test]
fn corrupt_model_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let model = quick_model(&dir);
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 3]).unwrap();
    let o = veil(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        "builtin:breast-cancer",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a valid Veil model file"));
}

#[test]
fn predict_needs_the_model_features() {
    let dir = tempfile::tempdir().unwrap();
    let model = quick_model(&dir);
    let other = write(&dir, "other.csv", "radius_mean,x\n1,2\n");
    let out = dir.path().join("p.csv");
    assert_fails(
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            s(&other),
            "--out",
            s(&out),
        ],
        3,
        &["feature column \"texture_mean\" not found"],
        &out,
    );
}

#[test]
fn inspect_and_export_csv_gzip_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok_json(
        Path::new("."),
        &["data", "inspect", "builtin:breast-cancer"],
    );
    assert_eq!(r["rows"], 569);
    let cols = r["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 31);
    let label = cols.iter().find(|c| c["name"] == "malignant").unwrap();
    assert_eq!(
        (label["type"].as_str(), label["distinct"].as_u64()),
        (Some("integer"), Some(2))
    );
    assert!((label["mean"].as_f64().unwrap() - 212.0 / 569.0).abs() < 1e-12);

    let pq = dir.path().join("bc.parquet");
    ok_json(
        Path::new("."),
        &["data", "export", "builtin:breast-cancer", "-o", s(&pq)],
    );
    let from_parquet = ok_json(Path::new("."), &["data", "inspect", s(&pq)]);
    assert_eq!(from_parquet["columns"], r["columns"]);

    // gzip-compressed CSV, with CRLF line ends and quoting.
    let csv = "id,\"note, free text\",x,y\r\n1,\"multi\r\nline\",0.5,a\r\n2,,1.5,b\r\n";
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, csv.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let gz_path = dir.path().join("t.csv.gz");
    std::fs::write(&gz_path, gz).unwrap();
    let t = ok_json(Path::new("."), &["data", "inspect", s(&gz_path)]);
    assert_eq!(t["rows"], 2);
    assert_eq!(t["columns"][1]["name"], "note, free text");
    assert_eq!(t["columns"][1]["missing"], 1);
}

#[test]
fn digest_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let abc = write(&dir, "abc.txt", "abc");
    let r = ok_json(Path::new("."), &["data", "digest", s(&abc)]);
    // FIPS 180-4 example: SHA-256("abc").
    assert_eq!(
        r["files"][0]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(r["files"][0]["bytes"], 3);
    let o = veil(&["data", "digest", s(&dir.path().join("missing"))]);
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn demo_runs_twice_with_the_same_result_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(["demo", "--json"])
            .env("TMPDIR", tmp.path())
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let (a, b) = (demo(), demo());
    assert_eq!(a["ok"], true);
    // Everything but the DP stage is deterministic; its noise comes from the OS.
    let stages = |v: &Value| v["stages"].as_array().unwrap()[..4].to_vec();
    assert_eq!(stages(&a), stages(&b));
    assert!(a["stages"][0]["test_accuracy"].as_f64().unwrap() >= 0.95);
    let (pa, pb) = (&a["stages"][4], &b["stages"][4]);
    assert_eq!(pa["stage"], "privacy");
    assert_eq!(pa["budget"], pb["budget"]);
    assert_eq!(pa["budget"]["spent_epsilon"], 2.5);
    assert_eq!(pa["budget"]["over_budget_refused"], true);
    let spent = pa["dp_sgd"]["epsilon_spent"].as_f64().unwrap();
    assert!(spent <= 2.0 && spent > 1.99, "{spent}");
    assert!(
        pa["dp_sgd"]["test_accuracy"].as_f64().unwrap() > 0.85,
        "{pa}"
    );
    assert_eq!(pa["query"]["rows"].as_array().unwrap().len(), 2);
    // Five hospitals with secure aggregation and dropouts: as good as pooling the data.
    let fed = &a["stages"][5];
    assert_eq!(fed["stage"], "federated");
    assert_eq!(
        (fed["rounds"].as_u64(), fed["secure_aggregation"].as_bool()),
        (Some(20), Some(true))
    );
    assert!(fed["aborted_rounds"].as_u64().unwrap() < 20);
    let (federated, pooled) = (
        fed["test_accuracy"].as_f64().unwrap(),
        a["stages"][0]["test_accuracy"].as_f64().unwrap(),
    );
    assert!(
        (federated - pooled).abs() <= 0.02,
        "{federated} vs {pooled}"
    );
    // A service diagnosed the encrypted test records as the plaintext model does.
    let he = &a["stages"][6];
    assert_eq!(he["stage"], "encrypted_inference");
    assert_eq!(he["rows"], 114);
    assert_eq!(he["diagnoses_identical"], true);
    assert!(
        he["max_probability_difference"].as_f64().unwrap() < 1e-3,
        "{he}"
    );
    let provenance = &a["stages"][3];
    assert_eq!(provenance["stage"], "provenance");
    assert_eq!(provenance["verified_offline"], true);
    assert_eq!(provenance["lineage_entries"], 3, "model ← split ← dataset");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the demo left files behind"
    );

    let kept = tmp.path().join("kept");
    let o = veil(&["demo", "--dir", s(&kept)]);
    assert!(o.status.success());
    assert!(kept.join("breast-cancer.model").exists());
    // The kept ledger verifies with the CLI alone, and a second run appends to it.
    let verify = [
        "ledger",
        "verify",
        "--vkey",
        "provenance/log.vkey",
        "--proof",
        "breast-cancer.model.proof",
        "--entry",
        "breast-cancer.model.entry",
        "--file",
        "breast-cancer.model",
    ];
    assert!(run(&kept, &verify).status.success());
    assert!(veil(&["demo", "--dir", s(&kept)]).status.success());
    let list = run(&kept, &["ledger", "list", "provenance", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        list["size"], 16,
        "9 entries, then 7: the datasets are found again, not logged twice"
    );
    assert!(
        run(&kept, &verify).status.success(),
        "the second run proves its own model"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        &["--help"][..],
        &["train", "--help"],
        &["eval", "--help"],
        &["predict", "--help"],
        &["demo", "--help"],
        &["data", "inspect", "--help"],
        &["data", "export", "--help"],
        &["data", "split", "--help"],
        &["data", "digest", "--help"],
        &["ledger", "--help"],
        &["ledger", "init", "--help"],
        &["ledger", "add", "--help"],
        &["ledger", "checkpoint", "--help"],
        &["ledger", "prove", "--help"],
        &["ledger", "entry", "--help"],
        &["ledger", "verify", "--help"],
        &["ledger", "verify-consistency", "--help"],
        &["ledger", "lineage", "--help"],
        &["ledger", "list", "--help"],
        &["ledger", "audit", "--help"],
        &["ledger", "sign-model", "--help"],
        &["ledger", "verify-model", "--help"],
    ] {
        let o = veil(cmd);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Example"), "veil {cmd:?} has no example");
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(
        veil(&["train", "--data", "builtin:digits"]).status.code(),
        Some(2)
    );
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.model");
    assert_fails(
        &[
            "train",
            "--data",
            "builtin:digits",
            "--label",
            "digit",
            "--lr",
            "-1",
            "--out",
            s(&model),
        ],
        2,
        &["learning rate"],
        &model,
    );
    assert_fails(
        &[
            "train",
            "--data",
            "builtin:digits",
            "--label",
            "digit",
            "--test-fraction",
            "1.5",
            "--out",
            s(&model),
        ],
        2,
        &["test fraction"],
        &model,
    );
}

#[test]
fn help_says_what_veil_does_and_lists_every_exit_code() {
    let o = veil(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    assert!(
        help.starts_with("Veil keeps machine-learning data"),
        "{help}"
    );
    assert!(!help.contains("level 4"), "{help}");
    for code in 1..=12 {
        assert!(
            help.contains(&format!("\n  {code:>2}  ")),
            "exit code {code} missing: {help}"
        );
    }
    assert!(help.contains("  12  a network peer"), "{help}");
    assert!(help.contains("   6  training diverged"), "{help}");
}

#[test]
fn each_failure_exits_with_the_code_of_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let code = |args: &[&str]| run(p, args).status.code();
    // DP-SGD steps so large that the weights overflow: training diverged.
    let diverge = [
        "train",
        "--data",
        "builtin:breast-cancer",
        "--label",
        "malignant",
        "--dp",
        "--no-budget",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--optimizer",
        "sgd",
        "--lr",
        "1.7e308",
        "--out",
        "d.model",
    ];
    assert_eq!(code(&diverge), Some(6), "{}", stderr(&run(p, &diverge)));
    assert!(!p.join("d.model").exists());
    // A missing data file is a file-system error, in federated simulation too.
    let simulate = [
        "fl",
        "simulate",
        "--data",
        "missing.csv",
        "--label",
        "y",
        "--clients",
        "2",
    ];
    assert_eq!(code(&simulate), Some(4), "{}", stderr(&run(p, &simulate)));
    // An age file opened with another identity: the wrong key.
    use age::secrecy::ExposeSecret;
    let (alice, eve) = (
        age::x25519::Identity::generate(),
        age::x25519::Identity::generate(),
    );
    std::fs::write(p.join("plain.txt"), b"hello").unwrap();
    std::fs::write(p.join("eve.txt"), eve.to_string().expose_secret()).unwrap();
    // A secret file: only its owner may read it, or it is refused before its content.
    #[cfg(unix)]
    std::fs::set_permissions(
        p.join("eve.txt"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let recipient = alice.to_public().to_string();
    let seal = [
        "vault",
        "seal",
        "--format",
        "age",
        "--to",
        &recipient,
        "plain.txt",
        "-o",
        "sealed.age",
    ];
    assert_eq!(code(&seal), Some(0), "{}", stderr(&run(p, &seal)));
    let open = [
        "vault",
        "open",
        "-i",
        "eve.txt",
        "sealed.age",
        "-o",
        "out.txt",
    ];
    assert_eq!(code(&open), Some(8), "{}", stderr(&run(p, &open)));
    assert!(!p.join("out.txt").exists());
}
