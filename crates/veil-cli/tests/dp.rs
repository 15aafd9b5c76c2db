//! End-to-end tests of `veil dp` through the built binary.

mod common;

use common::{fails, ok, ok_json};

#[test]
fn epsilon_and_calibrate_agree_with_dp_accounting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    // dp_accounting 0.6.0: RdpAccountant 1.035490, PLDAccountant 0.946999.
    let args = [
        "dp",
        "epsilon",
        "--sampling-rate",
        "0.01",
        "--noise-multiplier",
        "4",
        "--steps",
        "10000",
        "--delta",
        "1e-5",
    ];
    let rdp = ok_json(p, &args);
    let eps = rdp["epsilon"].as_f64().expect("epsilon");
    assert!((eps - 1.035490).abs() < 1e-5, "{eps}");
    assert_eq!(rdp["accountant"], "rdp");
    let pld = ok_json(p, &[&args[..], &["--accountant", "pld"]].concat());
    let eps = pld["epsilon"].as_f64().expect("epsilon");
    assert!((eps - 0.946999).abs() < 1e-4, "{eps}");

    let cal = ok_json(
        p,
        &[
            "dp",
            "calibrate",
            "--sampling-rate",
            "0.01",
            "--steps",
            "10000",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
        ],
    );
    let sigma = cal["noise_multiplier"].as_f64().expect("sigma");
    assert!((sigma - 4.125804).abs() < 1e-4, "{sigma}");
    assert!(cal["epsilon"].as_f64().expect("epsilon") <= 1.0);
    assert!(ok(p, &["dp", "epsilon", "--help"]).contains("Example"));
}

#[test]
fn out_of_range_parameters_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    let base = ["dp", "epsilon", "--noise-multiplier", "1", "--steps", "10"];
    fails(
        p,
        &[&base[..], &["--sampling-rate", "1.5", "--delta", "1e-5"]].concat(),
        2,
        "sampling-rate",
    );
    fails(
        p,
        &[&base[..], &["--sampling-rate", "0.1", "--delta", "0"]].concat(),
        2,
        "delta",
    );
    fails(
        p,
        &[
            &base[..],
            &[
                "--sampling-rate",
                "0.1",
                "--delta",
                "1e-5",
                "--accountant",
                "gdp",
            ],
        ]
        .concat(),
        2,
        "accountant",
    );
    fails(
        p,
        &[
            "dp",
            "calibrate",
            "--sampling-rate",
            "0.1",
            "--steps",
            "10",
            "--epsilon",
            "-1",
            "--delta",
            "1e-5",
        ],
        2,
        "epsilon",
    );
}

#[test]
fn a_budget_persists_across_processes_and_follows_the_content() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    std::fs::write(p.join("a.csv"), "age\n30\n41\n").expect("writes");
    std::fs::copy(p.join("a.csv"), p.join("copy.csv")).expect("copies");
    let set = ok_json(
        p,
        &[
            "dp",
            "budget",
            "set",
            "--data",
            "a.csv",
            "--epsilon",
            "2",
            "--delta",
            "1e-6",
            "--budget",
            "b",
        ],
    );
    assert_eq!(set["remaining_epsilon"], 2.0);
    // A copy with the same content has the same budget; another dataset has none.
    let shown = ok_json(
        p,
        &[
            "dp", "budget", "show", "--data", "copy.csv", "--budget", "b",
        ],
    );
    assert_eq!(shown["epsilon"], 2.0);
    assert_eq!(shown["dataset"], set["dataset"]);
    fails(
        p,
        &[
            "dp",
            "budget",
            "show",
            "--data",
            "builtin:digits",
            "--budget",
            "b",
        ],
        11,
        "no privacy budget",
    );
    fails(
        p,
        &[
            "dp",
            "budget",
            "set",
            "--data",
            "a.csv",
            "--epsilon",
            "0",
            "--delta",
            "1e-6",
            "--budget",
            "b",
        ],
        2,
        "allows nothing",
    );
    fails(
        p,
        &[
            "dp",
            "budget",
            "show",
            "--data",
            "missing.csv",
            "--budget",
            "b",
        ],
        4,
        "missing.csv",
    );
}

#[test]
fn dp_sgd_training_reports_what_it_spent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    let train = |epsilon: &str, out: &str| {
        ok_json(
            p,
            &[
                "train",
                "--data",
                "builtin:breast-cancer",
                "--label",
                "malignant",
                "--dp",
                "--epsilon",
                epsilon,
                "--delta",
                "1e-5",
                "--seed",
                "3",
                "--out",
                out,
            ],
        )
    };
    let t = train("8", "dp.model");
    let spent = t["epsilon_spent"].as_f64().expect("epsilon_spent");
    assert!(
        spent <= 8.0 && spent > 7.9,
        "calibrated to the target: {spent}"
    );
    assert_eq!(t["delta"], 1e-5);
    assert!(t["noise_multiplier"].as_f64().expect("σ") > 1.0);
    assert!((t["sampling_rate"].as_f64().expect("q") - 128.0 / 455.0).abs() < 1e-12);
    assert_eq!(t["steps"], 80, "20 epochs of round(455/128) = 4 steps");
    // With little noise (ε = 100) the private pipeline — noisy standardisation, clipping,
    // Poisson batches — still learns: far above the 63% of always answering "benign".
    let easy = train("100", "easy.model");
    assert!(
        easy["test_accuracy"].as_f64().expect("accuracy") > 0.85,
        "{easy}"
    );
    // The model file works like any other.
    ok(
        p,
        &[
            "eval",
            "--model",
            "dp.model",
            "--data",
            "builtin:breast-cancer",
        ],
    );

    fails(
        p,
        &[
            "train",
            "--data",
            "builtin:breast-cancer",
            "--label",
            "perimeter_mean",
            "--model",
            "linear",
            "--dp",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
            "--out",
            "r.model",
        ],
        2,
        "classifiers",
    );
    fails(
        p,
        &[
            "train",
            "--data",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--dp",
            "--out",
            "x.model",
        ],
        2,
        "--epsilon",
    );
    assert!(!p.join("r.model").exists() && !p.join("x.model").exists());
}
