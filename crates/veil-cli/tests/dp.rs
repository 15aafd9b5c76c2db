//! End-to-end tests of `veil dp` through the built binary.

mod common;

use common::{fails, ok, ok_json, s};

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

/// `veil dp budget set --data DATA --budget b --delta 1e-6`, then `more`.
fn set_budget<'a>(data: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let base = [
        "dp", "budget", "set", "--data", data, "--budget", "b", "--delta", "1e-6",
    ];
    [&base[..], more].concat()
}

/// A COUNT under `veil dp query` on `data` at `epsilon`, charged to `b`, then `more`.
fn count<'a>(data: &'a str, epsilon: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let base = [
        "dp",
        "query",
        "--data",
        data,
        "--budget",
        "b",
        "--epsilon",
        epsilon,
    ];
    [&base[..], &["--sql", "SELECT COUNT(*) FROM data"], more].concat()
}

#[test]
fn a_budget_belongs_to_the_table_content_and_its_privacy_unit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    visits(p);
    // Patients have 5 visits: a bound of 4 is refused, and nothing is set.
    let per_patient = ["--privacy-unit", "patient", "--epsilon", "2"];
    let too_few = [&per_patient[..], &["--max-contributions", "4"]].concat();
    fails(
        p,
        &set_budget("visits.csv", &too_few),
        2,
        "more than 4 rows",
    );
    let bound = [
        &per_patient[..],
        &["--max-contributions", "5", "--name", "visits 2026"],
    ]
    .concat();
    let set = ok_json(p, &set_budget("visits.csv", &bound));
    assert_eq!(set["remaining_epsilon"], 2.0);
    assert_eq!(set["privacy_unit"], "patient");
    assert_eq!(set["max_contributions"], 5);
    assert_eq!(set["name"], "visits 2026");
    // Re-saved as gzip or Parquet, it is the same dataset: no fresh budget, and not reset.
    for copy in ["visits.csv.gz", "visits.parquet"] {
        ok(p, &["data", "export", "visits.csv", "-o", copy]);
        fails(
            p,
            &set_budget(copy, &["--epsilon", "9"]),
            11,
            "already has a privacy budget",
        );
        let shown = ok_json(
            p,
            &["dp", "budget", "show", "--data", copy, "--budget", "b"],
        );
        assert_eq!(shown["dataset"], set["dataset"]);
        assert_eq!(shown["epsilon"], 2.0);
    }
    fails(
        p,
        &set_budget("visits.csv", &["--epsilon", "9"]),
        11,
        "never reset",
    );
    // A row-level query on the gzip copy is charged for 5 rows per patient: 5 × 0.1.
    let r = ok_json(p, &count("visits.csv.gz", "0.1", &[]));
    assert!(
        (r["budget"]["spent_epsilon"].as_f64().expect("spent") - 0.5).abs() < 1e-12,
        "{r}"
    );
    assert_eq!(r["epsilon"], 0.1, "the release itself spent what it asked");
    // Per patient, on the Parquet copy: charged as it is.
    let by_patient = ["--privacy-unit", "patient", "--max-contributions", "5"];
    let r = ok_json(p, &count("visits.parquet", "0.1", &by_patient));
    assert!(
        (r["budget"]["spent_epsilon"].as_f64().expect("spent") - 0.6).abs() < 1e-12,
        "{r}"
    );
    let shown = ok_json(
        p,
        &[
            "dp",
            "budget",
            "show",
            "--data",
            "visits.csv",
            "--budget",
            "b",
        ],
    );
    let releases = &shown["releases"];
    assert_eq!(
        (&releases[0]["group_size"], &releases[1]["group_size"]),
        (&5.into(), &1.into())
    );
    assert_eq!(
        (&releases[0]["privacy_unit"], &releases[1]["privacy_unit"]),
        (&serde_json::Value::Null, &"patient".into())
    );
    // Protecting another column cannot be charged to a per-patient budget.
    let by_sex = ["--privacy-unit", "sex", "--max-contributions", "600"];
    fails(
        p,
        &count("visits.csv", "0.1", &by_sex),
        11,
        "protects each patient",
    );
    // A changed table is another dataset; a missing file is an I/O error.
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
        &set_budget("builtin:digits", &["--epsilon", "0"]),
        2,
        "allows nothing",
    );
    fails(
        p,
        &set_budget("missing.csv", &["--epsilon", "1"]),
        4,
        "missing.csv",
    );
    fails(
        p,
        &set_budget(
            "visits.csv",
            &["--max-contributions", "5", "--epsilon", "1"],
        ),
        2,
        "--privacy-unit",
    );
}

/// `veil train --dp --no-budget` on `data` (label `malignant`, δ = 1e-5), then `more`.
fn dp_train<'a>(data: &'a str, out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let base = [
        "train",
        "--data",
        data,
        "--label",
        "malignant",
        "--dp",
        "--no-budget",
        "--delta",
        "1e-5",
        "--out",
        out,
    ];
    [&base[..], more].concat()
}

#[test]
fn dp_sgd_training_reports_what_it_spent_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    let bc = "builtin:breast-cancer";
    let t = ok_json(
        p,
        &dp_train(bc, "dp.model", &["--epsilon", "8", "--seed", "3"]),
    );
    let spent = t["epsilon_spent"].as_f64().expect("epsilon_spent");
    assert!(
        spent <= 8.0 && spent > 7.9,
        "calibrated to the target: {spent}"
    );
    assert_eq!(t["delta"], 1e-5);
    assert!(t["noise_multiplier"].as_f64().expect("σ") > 1.0);
    assert_eq!(t["steps"], 80, "20 epochs of round(569/128) = 4 steps");
    // Nothing computed from the charged rows but the model (F-06): no loss, no row counts,
    // no sampling rate (q = B/n gives n), and no test metrics without separate test data.
    for key in [
        "final_loss",
        "train_rows",
        "test_rows",
        "sampling_rate",
        "test_accuracy",
        "test_confusion_matrix",
    ] {
        assert!(t.get(key).is_none(), "{key} in {t}");
    }
    assert!(
        t["test_metrics_note"]
            .as_str()
            .is_some_and(|n| n.starts_with("none")),
        "{t}"
    );
    assert_eq!(t["classes_from"], "data");
    // Holding out part of the charged table is refused.
    let held_out = ["--epsilon", "1", "--test-fraction", "0.2"];
    fails(p, &dp_train(bc, "x.model", &held_out), 2, "--test-fraction");
    let same = ["--epsilon", "1", "--test-data", bc];
    fails(p, &dp_train(bc, "x.model", &same), 2, "same rows");
    // With separate test data and public classes, the test metrics are on that data and
    // say so. With little noise (ε = 100) the private pipeline (noisy standardisation,
    // clipping, Poisson batches) still learns: far above the 63% of always answering
    // "benign".
    let (train_csv, test_csv) = (p.join("train.csv"), p.join("test.csv"));
    let split = [
        bc,
        "--label",
        "malignant",
        "--train",
        s(&train_csv),
        "--test",
    ];
    ok(
        p,
        &[&["data", "split"], &split[..], &[s(&test_csv)]].concat(),
    );
    let separate = [
        "--test-data",
        "test.csv",
        "--classes",
        "1,0",
        "--epsilon",
        "100",
    ];
    let easy = ok_json(p, &dp_train("train.csv", "easy.model", &separate));
    assert!(
        easy["test_accuracy"].as_f64().expect("accuracy") > 0.85,
        "{easy}"
    );
    assert!(
        easy["test_metrics_note"]
            .as_str()
            .is_some_and(|n| n.contains("not covered by the budget"))
    );
    assert_eq!(easy["classes"], serde_json::json!(["0", "1"]));
    assert_eq!(easy["classes_from"], "given");
    assert!(easy.get("test_rows").is_none() && easy.get("final_loss").is_none());
    // A label outside the public classes is an error, before anything is spent or written.
    let wrong = ["--classes", "0,2", "--epsilon", "1"];
    fails(
        p,
        &dp_train("train.csv", "bad.model", &wrong),
        3,
        "not one of the model's classes",
    );
    assert!(!p.join("bad.model").exists());
    // The model file works like any other.
    ok(p, &["eval", "--model", "dp.model", "--data", bc]);

    let mut regression = dp_train(bc, "r.model", &["--model", "linear", "--epsilon", "1"]);
    regression[4] = "perimeter_mean";
    fails(p, &regression, 2, "classifiers");
    fails(p, &dp_train(bc, "x.model", &[]), 2, "--epsilon");
    assert!(!p.join("r.model").exists() && !p.join("x.model").exists());
}

/// visits.csv: 200 patients, 5 visits each; sex F for even ids; age 30 + id mod 40.
fn visits(p: &std::path::Path) {
    let mut csv = String::from("patient,sex,age\n");
    for visit in 0..5 {
        for id in 0..200 {
            let sex = if id % 2 == 0 { "F" } else { "M" };
            csv.push_str(&format!("{id},{sex},{}\n", 30 + (id + visit) % 40));
        }
    }
    std::fs::write(p.join("visits.csv"), csv).expect("writes");
}

#[test]
fn dp_query_releases_bounded_answers_with_intervals_and_its_split() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    visits(p);
    let sql =
        "SELECT sex, COUNT(*) AS n, AVG(age) AS mean_age FROM data WHERE age >= 30 GROUP BY sex";
    // A huge ε: the noise vanishes and the answers are the bounded exact values.
    let r = ok_json(
        p,
        &[
            "dp",
            "query",
            "--no-budget",
            "--data",
            "visits.csv",
            "--sql",
            sql,
            "--epsilon",
            "1e6",
            "--privacy-unit",
            "patient",
            "--max-contributions",
            "2",
            "--keys",
            "sex=F,M,X",
            "--bounds",
            "age=0:100",
        ],
    );
    assert_eq!(r["columns"], serde_json::json!(["sex", "n", "mean_age"]));
    let rows = r["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["sex"], "F");
    // 100 women, at most 2 of their 5 visits each.
    let n = rows[0]["n"]["value"].as_f64().expect("n");
    assert!((n - 200.0).abs() < 0.5, "{n}");
    let ci = rows[0]["n"]["ci95"].as_array().expect("ci");
    assert!(ci[0].as_f64().expect("lo") <= n && n <= ci[1].as_f64().expect("hi"));
    let mean = rows[0]["mean_age"]["value"].as_f64().expect("mean");
    assert!((45.0..53.0).contains(&mean), "{mean}");
    assert_eq!(rows[2]["n"]["value"], 0.0, "X is a public key with no rows");
    let split = r["budget_split"].as_array().expect("split");
    assert_eq!(split.len(), 3, "{split:?}");
    assert_eq!(split[0]["measurement"], "count of rows");
    assert_eq!(split[0]["sensitivity"], 2.0);
    assert_eq!(r["epsilon"], 1e6);
    assert_eq!(r["delta"], 0.0);

    // Without keys, partition selection needs δ, and spends it.
    let args = [
        "dp",
        "query",
        "--no-budget",
        "--data",
        "visits.csv",
        "--sql",
        sql,
        "--epsilon",
        "1",
        "--bounds",
        "age=0:100",
    ];
    fails(p, &args, 2, "--delta");
    let r = ok_json(p, &[&args[..], &["--delta", "1e-6"]].concat());
    assert_eq!(r["delta"], 1e-6);
    assert!(
        r["partition_selection"]["threshold"]
            .as_i64()
            .expect("threshold")
            > 1
    );
    let keys: Vec<_> = r["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["sex"].clone())
        .collect();
    assert_eq!(keys, [serde_json::json!("F"), serde_json::json!("M")]);

    // The human report prints the table and the split.
    let text = ok(
        p,
        &args[..]
            .iter()
            .chain(&["--delta", "1e-6"])
            .copied()
            .collect::<Vec<_>>(),
    );
    assert!(
        text.contains("mean_age") && text.contains("partition selection"),
        "{text}"
    );
}

#[test]
fn dp_query_refuses_what_it_cannot_protect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    visits(p);
    let q = |sql: &'static str| {
        vec![
            "dp",
            "query",
            "--no-budget",
            "--data",
            "visits.csv",
            "--epsilon",
            "1",
            "--sql",
            sql,
        ]
    };
    fails(
        p,
        &q("SELECT COUNT(*) FROM data JOIN other ON true"),
        2,
        "JOIN is not supported",
    );
    fails(p, &q("SELECT SUM(age) FROM data"), 2, "--bounds age=LO:HI");
    fails(
        p,
        &q("SELECT COUNT(*) FROM data WHERE (SELECT 1) = 1"),
        2,
        "subquery",
    );
    fails(p, &q("SELECT AVG(age) OVER () FROM data"), 2, "window");
    fails(
        p,
        &q("SELECT COUNT(*) FROM data WHERE height > 1"),
        2,
        "unknown column",
    );
    fails(
        p,
        &[
            &q("SELECT COUNT(*) FROM data")[..],
            &["--bounds", "age=9:1"],
        ]
        .concat(),
        2,
        "LO < HI",
    );
    fails(
        p,
        &[
            &q("SELECT COUNT(*) FROM data")[..],
            &["--max-contributions", "3"],
        ]
        .concat(),
        2,
        "--privacy-unit",
    );
    fails(
        p,
        &[
            "dp",
            "query",
            "--no-budget",
            "--data",
            "nope.csv",
            "--epsilon",
            "1",
            "--sql",
            "SELECT COUNT(*) FROM data",
        ],
        4,
        "nope.csv",
    );
}

#[test]
fn dp_queries_are_charged_refused_when_over_budget_and_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    visits(p);
    ok(p, &["ledger", "init", "log", "--origin", "veil.test/dp"]);
    ok(
        p,
        &[
            "dp",
            "budget",
            "set",
            "--data",
            "visits.csv",
            "--epsilon",
            "1",
            "--delta",
            "1e-6",
            "--budget",
            "b",
        ],
    );
    let query = |eps: &'static str| {
        vec![
            "dp",
            "query",
            "--data",
            "visits.csv",
            "--epsilon",
            eps,
            "--budget",
            "b",
            "--ledger",
            "log",
            "--sql",
            "SELECT COUNT(*) FROM data",
        ]
    };
    let r = ok_json(p, &query("0.7"));
    assert!((r["budget"]["remaining_epsilon"].as_f64().expect("left") - 0.3).abs() < 1e-9);
    let index = r["ledger_index"].as_u64().expect("logged");
    // A second process finds 0.3 left and refuses 0.5 before drawing any noise.
    fails(p, &query("0.5"), 11, "0.3");
    let shown = ok_json(
        p,
        &[
            "dp",
            "budget",
            "show",
            "--data",
            "visits.csv",
            "--budget",
            "b",
        ],
    );
    assert_eq!(shown["releases"].as_array().expect("releases").len(), 1);
    assert_eq!(shown["releases"][0]["kind"], "dp-query");
    // The release is in the ledger as a dp-release whose parent is the dataset.
    let entry = ok_json(
        p,
        &["ledger", "entry", "log", "--index", &index.to_string()],
    );
    assert_eq!(entry["kind"], "dp-release");
    let text = entry.to_string();
    assert!(
        text.contains("SELECT COUNT(*) FROM data") && text.contains("0.7"),
        "{text}"
    );
    assert_eq!(entry["parents"].as_array().expect("parents").len(), 1);
}

#[test]
fn dp_sgd_is_charged_to_the_training_data_budget_before_training() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    ok(
        p,
        &[
            "dp",
            "budget",
            "set",
            "--data",
            "builtin:breast-cancer",
            "--epsilon",
            "3",
            "--delta",
            "1e-5",
            "--budget",
            "b",
        ],
    );
    let train = |epsilon: &'static str, out: &'static str| {
        vec![
            "train",
            "--data",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--dp",
            "--epsilon",
            epsilon,
            "--delta",
            "5e-6",
            "--seed",
            "1",
            "--budget",
            "b",
            "--out",
            out,
        ]
    };
    ok(
        p,
        &["ledger", "init", "log", "--origin", "veil.test/dp-sgd"],
    );
    let mut logged = train("2", "a.model");
    logged.extend(["--ledger", "log", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&ok(p, &logged)).expect("one JSON object");
    // The model's ledger entry says what the training spent.
    let index = report["ledger_index"].as_u64().expect("logged").to_string();
    let entry = ok(p, &["ledger", "entry", "log", "--index", &index, "--json"]);
    assert!(
        entry.contains("dp_epsilon") && entry.contains("dp_noise_multiplier"),
        "{entry}"
    );
    // 1 of ε is left: a second ε = 2 run is refused and writes no model.
    fails(p, &train("2", "b.model"), 11, "ε = 1");
    assert!(!p.join("b.model").exists());
    let shown = ok_json(
        p,
        &[
            "dp",
            "budget",
            "show",
            "--data",
            "builtin:breast-cancer",
            "--budget",
            "b",
        ],
    );
    assert_eq!(shown["releases"][0]["kind"], "dp-sgd");
    assert_eq!(shown["spent_epsilon"], 2.0);
    // A fixed noise multiplier is charged the ε the accountant computes for it, before
    // training: σ = 2 over this run spends more than is left, so it is refused.
    let mut fixed = train("1", "c.model");
    fixed.extend(["--noise-multiplier", "2"]);
    fails(p, &fixed, 11, "the privacy budget would be exceeded");
    assert!(!p.join("c.model").exists());
}

#[test]
fn a_release_needs_a_budget_or_an_explicit_no_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    visits(p);
    let query = [
        "dp",
        "query",
        "--data",
        "visits.csv",
        "--epsilon",
        "1",
        "--sql",
        "SELECT COUNT(*) FROM data",
    ];
    fails(p, &query, 2, "--no-budget");
    let train = [
        "train",
        "--data",
        "visits.csv",
        "--label",
        "sex",
        "--dp",
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--out",
        "m.model",
    ];
    fails(p, &train, 2, "--no-budget");
    assert!(!p.join("m.model").exists());
    // VEIL_BUDGET names the budget directory: the query is charged there.
    ok_json(
        p,
        &[
            "dp",
            "budget",
            "set",
            "--data",
            "visits.csv",
            "--epsilon",
            "1",
            "--delta",
            "0",
            "--budget",
            "b",
        ],
    );
    let with_env_budget = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(query)
            .args(extra)
            .env("VEIL_BUDGET", p.join("b"))
            .current_dir(p)
            .output()
            .expect("veil runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let spent = || {
        ok_json(
            p,
            &[
                "dp",
                "budget",
                "show",
                "--data",
                "visits.csv",
                "--budget",
                "b",
            ],
        )
    };
    with_env_budget(&["--json"]);
    let shown = spent();
    assert_eq!(shown["spent_epsilon"], 1.0);
    assert_eq!(shown["releases"][0]["kind"], "dp-query");
    // --no-budget overrides VEIL_BUDGET (nothing is charged), but is refused together with
    // --budget on the command line: which of the two was meant is not for Veil to guess.
    with_env_budget(&["--no-budget", "--json"]);
    let mut both = query.to_vec();
    both.extend(["--budget", "b", "--no-budget"]);
    fails(p, &both, 2, "cannot be used with");
    assert_eq!(spent()["spent_epsilon"], 1.0);
}
