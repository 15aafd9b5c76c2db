//! `veil fl simulate` end to end: a coordinator and five clients over mutual TLS on
//! loopback, breast-cancer dealt by a Dirichlet(0.5) draw; the federated model is within two
//! points of the pooled one, and the run repeats exactly for the same seed.

mod common;

use common::{fails, ok_json};

#[test]
fn a_simulated_federation_matches_centralised_training() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "fl",
        "simulate",
        "--data",
        "builtin:breast-cancer",
        "--label",
        "malignant",
        "--clients",
        "5",
        "--split",
        "dirichlet:0.5",
        "--rounds",
        "20",
    ];
    let r = ok_json(dir.path(), &args);
    for key in [
        "test_accuracy",
        "centralised_accuracy",
        "rounds",
        "aborted_rounds",
        "dropped_clients",
        "bytes_sent_per_client",
        "round_seconds",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    let (fed, central) = (
        r["test_accuracy"].as_f64().unwrap(),
        r["centralised_accuracy"].as_f64().unwrap(),
    );
    assert!((fed - central).abs() <= 0.02, "{fed} vs {central}");
    assert_eq!(
        (r["rounds"].as_u64(), r["aborted_rounds"].as_u64()),
        (Some(20), Some(0))
    );
    assert!(r["bytes_sent_per_client"].as_f64().unwrap() > 1000.0);
    // Dirichlet shards are uneven; the same seed deals and trains the same way again.
    let shards = r["shard_rows"].as_array().unwrap();
    assert_eq!(shards.len(), 5);
    assert_eq!(
        ok_json(dir.path(), &args)["test_accuracy"],
        r["test_accuracy"]
    );

    // With secure aggregation: the same quality, every round completed.
    let mut secure = args.to_vec();
    secure.push("--secagg");
    let s = ok_json(dir.path(), &secure);
    assert_eq!(
        (s["secagg"].as_bool(), s["aborted_rounds"].as_u64()),
        (Some(true), Some(0))
    );
    let fed = s["test_accuracy"].as_f64().unwrap();
    assert!((fed - central).abs() <= 0.02, "secure {fed} vs {central}");

    // A fifth of the selected clients drop out at random steps: rounds that fall below the
    // threshold abort, the others complete, and the model is still as good.
    let mut dropping = secure.clone();
    dropping.extend_from_slice(&["--dropout", "0.2"]);
    let d = ok_json(dir.path(), &dropping);
    assert!(d["dropped_clients"].as_u64().unwrap() > 0, "{d}");
    assert!(d["aborted_rounds"].as_u64().unwrap() < 20, "{d}");
    let fed = d["test_accuracy"].as_f64().unwrap();
    assert!(
        (fed - central).abs() <= 0.02,
        "with dropouts {fed} vs {central}"
    );
    // When every round aborts, the run fails.
    let mut hopeless = secure.clone();
    hopeless.extend_from_slice(&["--dropout", "0.9", "--threshold", "5"]);
    fails(dir.path(), &hopeless, 12, "aborted");

    // Bad options and data: (extra arguments after the common ones, exit code, message).
    let bad: [(&[&str], i32, &str); 3] = [
        (
            &[
                "--label",
                "malignant",
                "--clients",
                "5",
                "--split",
                "dirichlet:0",
            ],
            2,
            "dirichlet:ALPHA",
        ),
        (&["--label", "nope", "--clients", "5"], 3, "nope"),
        (
            &["--label", "malignant", "--clients", "400"],
            2,
            "two rows each",
        ),
    ];
    for (extra, code, needle) in bad {
        let mut all = vec!["fl", "simulate", "--data", "builtin:breast-cancer"];
        all.extend_from_slice(extra);
        fails(dir.path(), &all, code, needle);
    }
}
