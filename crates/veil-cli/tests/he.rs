//! `veil he keygen` writes key sets; `veil he serve` and `veil he infer` score encrypted
//! rows as `veil predict` does. (`veil he bench` is a benchmark: bench/RESULTS.md records it.)

#![allow(clippy::unwrap_used)]

mod common;

use common::ok_json;

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

/// `veil he serve` of `model` as the certificate "scorer", on any free loopback port.
fn serve_args(model: &str) -> [&str; 10] {
    [
        "he",
        "serve",
        "--model",
        model,
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "pki",
        "--name",
        "scorer",
    ]
}

/// A `veil he serve` process, stopped when dropped.
struct Served {
    child: std::process::Child,
    addr: String,
}

impl Served {
    fn start(dir: &std::path::Path, model: &str) -> Served {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(serve_args(model))
            .arg("--json")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&line).expect("serve says where");
        Served {
            child,
            addr: info["listening"].as_str().unwrap().to_string(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probabilities(v: &serde_json::Value) -> Vec<f64> {
    v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| match p.as_array() {
            Some(row) => row.iter().map(|x| x.as_f64().unwrap()).collect(),
            None => vec![p.as_f64().unwrap()],
        })
        .collect()
}

/// `veil he infer` as the certificate "clinic" on `served`.
fn infer_args(served: &Served, keys: &str, scheme: &str, data: &str) -> Vec<String> {
    [
        "he",
        "infer",
        "--server",
        &served.addr,
        "--tls",
        "pki",
        "--name",
        "clinic",
        "--keys",
        keys,
        "--scheme",
        scheme,
        "--data",
        data,
    ]
    .map(str::to_string)
    .to_vec()
}

/// Scores `data` on the service (with `--layout layout`) and with `veil predict`; returns
/// the largest difference in probability, after checking that the classes are identical,
/// and the layout used.
fn compare(
    d: &std::path::Path,
    served: &Served,
    model: &str,
    [keys, scheme, layout]: [&str; 3],
    data: &str,
) -> (f64, String) {
    let mut args = infer_args(served, keys, scheme, data);
    args.extend(["--layout".to_string(), layout.to_string()]);
    let encrypted = ok_json(d, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let plain = ok_json(d, &["predict", "--model", model, "--data", data]);
    assert_eq!(encrypted["rows"], plain["rows"]);
    assert_eq!(encrypted["classes"], plain["classes"]);
    assert_eq!(
        encrypted["predicted"], plain["predicted"],
        "{model} {scheme}"
    );
    let (e, p) = (probabilities(&encrypted), probabilities(&plain));
    assert_eq!(e.len(), p.len());
    let diff = e
        .iter()
        .zip(&p)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let layout = encrypted["layout"]["name"].as_str().unwrap().to_string();
    (diff, layout)
}

#[test]
fn encrypted_inference_matches_veil_predict_and_refuses_what_it_cannot_compute() {
    use common::fails;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::loopback_pki(d, "scorer", &["clinic"]);
    let cancer = ["--data", "builtin:breast-cancer", "--label", "malignant"];
    let digits = ["--data", "builtin:digits", "--label", "digit"];
    let train = |data: &[&str], extra: &[&str], out: &str| {
        let mut args = vec!["train", "--out", out];
        args.extend_from_slice(data);
        args.extend_from_slice(extra);
        ok_json(d, &args);
    };
    train(&cancer, &[], "cancer.model");
    train(&digits, &[], "softmax.model");
    let square = ["--model", "mlp", "--hidden", "16", "--activation", "square"];
    train(&digits, &square, "square.model");
    train(&digits, &["--model", "mlp", "--hidden", "8"], "relu.model");
    ok_json(d, &["he", "keygen", "--out", "k8"]);
    ok_json(
        d,
        &["he", "keygen", "--out", "k16", "--poly-degree", "16384"],
    );
    ok_json(d, &["he", "keygen", "--out", "kp", "--scheme", "paillier"]);
    // A few rows for Paillier, whose encryption costs milliseconds per value.
    let csv = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/breast_cancer_wisconsin.csv"),
    )
    .unwrap();
    let head: Vec<&str> = csv.lines().take(9).collect();
    std::fs::write(d.join("eight.csv"), head.join("\n") + "\n").unwrap();
    let digits_csv = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits_8x8.csv"),
    )
    .unwrap();
    let head: Vec<&str> = digits_csv.lines().take(9).collect();
    std::fs::write(d.join("eight-digits.csv"), head.join("\n") + "\n").unwrap();

    let logreg = Served::start(d, "cancer.model");
    let ckks = ["k8", "ckks", "auto"];
    let (diff, layout) = compare(d, &logreg, "cancer.model", ckks, "builtin:breast-cancer");
    assert!(diff < 1e-3, "CKKS logreg: {diff}");
    assert_eq!(
        layout, "row-per-slot",
        "569 rows: one ciphertext per feature"
    );
    let (diff, layout) = compare(d, &logreg, "cancer.model", ckks, "eight.csv");
    assert!(diff < 1e-3, "CKKS logreg, 8 rows: {diff}");
    assert_eq!(layout, "feature-packed", "8 rows: one ciphertext");
    let paillier = ["kp", "paillier", "auto"];
    let (diff, _) = compare(d, &logreg, "cancer.model", paillier, "eight.csv");
    assert!(diff < 1e-9, "Paillier logreg: {diff}");
    let softmax = Served::start(d, "softmax.model");
    let (diff, _) = compare(d, &softmax, "softmax.model", ckks, "builtin:digits");
    assert!(diff < 1e-3, "CKKS softmax: {diff}");
    let packed = ["k8", "ckks", "feature-packed"];
    let (diff, layout) = compare(d, &softmax, "softmax.model", packed, "eight-digits.csv");
    assert!(diff < 1e-3, "CKKS softmax, feature-packed: {diff}");
    assert_eq!(layout, "feature-packed");
    let mlp = Served::start(d, "square.model");
    let k16 = ["k16", "ckks", "auto"];
    let (diff, _) = compare(d, &mlp, "square.model", k16, "builtin:digits");
    assert!(diff < 1e-3, "CKKS square MLP: {diff}");

    let infer = infer_args;
    let refuse = |args: Vec<String>, code: i32, needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(d, &args, code, needle);
    };
    // Deeper than the chain of N = 8192; squares under Paillier; the wrong table.
    refuse(
        infer(&mlp, "k8", "ckks", "builtin:digits"),
        2,
        "--poly-degree 16384",
    );
    refuse(
        infer(&mlp, "kp", "paillier", "builtin:digits"),
        5,
        "layer 2",
    );
    // A Paillier key set under the default scheme says which flag it needs.
    refuse(
        infer(&logreg, "kp", "ckks", "eight.csv"),
        8,
        "use --scheme paillier",
    );
    refuse(
        infer(&logreg, "k8", "ckks", "builtin:digits"),
        3,
        "radius_mean",
    );
    // A key set whose evaluation keys are another's: eight rows take the feature-packed
    // layout, whose rotation keys come from evaluation.key.
    // (A key set the service has not seen: k8's rotation keys are registered already.)
    ok_json(d, &["he", "keygen", "--out", "fresh"]);
    ok_json(d, &["he", "keygen", "--out", "other"]);
    std::fs::create_dir(d.join("mixed")).unwrap();
    std::fs::copy(d.join("fresh/secret.key"), d.join("mixed/secret.key")).unwrap();
    std::fs::copy(
        d.join("other/evaluation.key"),
        d.join("mixed/evaluation.key"),
    )
    .unwrap();
    refuse(
        infer(&logreg, "mixed", "ckks", "eight.csv"),
        8,
        "another key set",
    );
    // A relu network is refused at start, naming the layer.
    fails(
        d,
        &serve_args("relu.model"),
        5,
        "layer 1 (8 hidden units) uses the relu activation",
    );
}
