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
