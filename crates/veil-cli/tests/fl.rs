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

    // FedProx, the robust aggregators (on these honest clients) and SecAgg+ (each client
    // sharing with two neighbours) train as well.
    for extra in [
        &["--mu", "0.1"][..],
        &["--aggregator", "median"],
        &["--aggregator", "trimmed-mean"],
        &["--secagg", "--secagg-neighbours", "2"],
    ] {
        let mut with = args.to_vec();
        with.extend_from_slice(extra);
        let r = ok_json(dir.path(), &with);
        let fed = r["test_accuracy"].as_f64().unwrap();
        assert!(
            (fed - central).abs() <= 0.02,
            "{extra:?}: {fed} vs {central}"
        );
    }

    // Distributed DP: the run spends at most the ε asked for (and nearly all of it: no
    // more noise than needed), and still learns (the noise is fresh each run, hence the
    // loose bound; iid shards of 100 clients reach about 0.96 at ε = 8).
    // The standardisation comes from public ranges (here the data's, rounded outwards, as a
    // data dictionary would give them): a DP run releases no statistics of its own.
    let table = veil_core::Table::load("builtin:breast-cancer").unwrap();
    let ranges: Vec<String> = table
        .columns()
        .iter()
        .filter(|c| c.name() != "malignant")
        .map(|c| {
            let x = table.feature_matrix(&[c.name().to_string()]).unwrap();
            let (lo, hi) = x
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            // Rounded outwards to two significant digits.
            let step = 10f64.powf((hi.abs().log10() - 1.0).floor());
            let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
            format!("{}={lo}:{hi}", c.name())
        })
        .collect();
    // Client-level DP needs clients: 20 of them here (with 5, ε = 8 leaves accuracy anywhere
    // from 0.7 to 0.9 run to run; with 20, 0.87–0.94 over six runs).
    let mut private = secure.clone();
    let clients = private.iter().position(|a| *a == "--clients").unwrap() + 1;
    private[clients] = "20";
    private.extend_from_slice(&["--dp-epsilon", "8", "--dp-delta", "1e-5"]);
    for range in &ranges {
        private.extend_from_slice(&["--bounds", range]);
    }
    let p = ok_json(dir.path(), &private);
    let spent = p["dp_epsilon"].as_f64().unwrap();
    assert!(spent <= 8.0 && spent > 7.9, "{p}");
    assert!(p["dp_noise_sigma"].as_f64().unwrap() > 0.1, "{p}");
    assert!(p["test_accuracy"].as_f64().unwrap() > 0.8, "{p}");

    // Bad options and data: (extra arguments after the common ones, exit code, message).
    let bad: [(&[&str], i32, &str); 8] = [
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
        (
            &["--label", "malignant", "--clients", "5", "--mu=-1"],
            2,
            "non-negative",
        ),
        (
            &[
                "--label",
                "malignant",
                "--clients",
                "5",
                "--aggregator",
                "trimmed-mean",
                "--trim",
                "0.5",
            ],
            2,
            "below 0.5",
        ),
        (
            &[
                "--label",
                "malignant",
                "--clients",
                "5",
                "--aggregator",
                "median",
                "--secagg",
            ],
            2,
            "cannot be used with",
        ),
        (
            &[
                "--label",
                "malignant",
                "--clients",
                "5",
                "--dp-epsilon",
                "1",
            ],
            2,
            "--secagg",
        ),
        (
            &[
                "--label",
                "malignant",
                "--clients",
                "5",
                "--secagg",
                "--dp-epsilon",
                "1",
                "--dp-delta",
                "2",
            ],
            2,
            "must be in (0, 1)",
        ),
    ];
    for (extra, code, needle) in bad {
        let mut all = vec!["fl", "simulate", "--data", "builtin:breast-cancer"];
        all.extend_from_slice(extra);
        fails(dir.path(), &all, code, needle);
    }
}

/// `veil fl serve` and three `veil fl join` processes, each with its own CSV shard, over
/// mutual TLS on loopback; `veil eval` accepts the model; a coordinator restarted with the
/// same --state resumes after the last round; one restarted with another model refuses the
/// state and tells its client so.
#[test]
fn serve_and_three_join_processes_train_a_model_that_eval_accepts() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let veil = env!("CARGO_BIN_EXE_veil");
    let run = |args: &[&str]| {
        Command::new(veil)
            .args(args)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    ok_json(
        d,
        &[
            "data",
            "split",
            "builtin:breast-cancer",
            "--label",
            "malignant",
            "--seed",
            "1",
            "--test-fraction",
            "0.2",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
        ],
    );
    let train = std::fs::read_to_string(d.join("train.csv")).unwrap();
    let (header, rows) = train.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    for (k, name) in ["a", "b", "c"].into_iter().enumerate() {
        let shard: Vec<&str> = rows.iter().skip(k).step_by(3).copied().collect();
        std::fs::write(
            d.join(format!("shard-{name}.csv")),
            format!("{header}\n{}\n", shard.join("\n")),
        )
        .unwrap();
    }
    common::loopback_pki(
        d,
        "coordinator",
        &["hospital-a", "hospital-b", "hospital-c"],
    );
    let federate = |rounds: &str, model: &str, joiners: &[&str]| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let serve = run(&[
            "fl",
            "serve",
            "--listen",
            &listen,
            "--tls",
            "pki",
            "--name",
            "coordinator",
            "--model",
            model,
            "--rounds",
            rounds,
            "--clients-per-round",
            &joiners.len().to_string(),
            "--min-clients",
            &joiners.len().to_string(),
            "--secagg",
            "--state",
            "state",
            "--out",
            "fed.model",
            "--json",
        ]);
        let joins: Vec<_> = joiners
            .iter()
            .map(|n| {
                run(&[
                    "fl",
                    "join",
                    "--server",
                    &listen,
                    "--tls",
                    "pki",
                    "--name",
                    &format!("hospital-{n}"),
                    "--data",
                    &format!("shard-{n}.csv"),
                    "--label",
                    "malignant",
                    "--json",
                ])
            })
            .collect();
        let joins: Vec<_> = joins
            .into_iter()
            .map(|j| j.wait_with_output().unwrap())
            .collect();
        (serve.wait_with_output().unwrap(), joins)
    };
    let (serve, joins) = federate("4", "logreg", &["a", "b", "c"]);
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    assert!(serve.status.success(), "serve: {}", text(&serve));
    for j in &joins {
        assert!(j.status.success(), "join: {}", text(j));
        let r: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
        assert_eq!(r["rounds"], 4);
    }
    let s: serde_json::Value = serde_json::from_slice(&serve.stdout).unwrap();
    assert_eq!(
        (s["rounds"].as_u64(), s["aborted_rounds"].as_u64()),
        (Some(4), Some(0))
    );
    let eval = ok_json(
        d,
        &[
            "eval",
            "--model",
            "fed.model",
            "--data",
            "test.csv",
            "--label",
            "malignant",
        ],
    );
    assert!(eval["accuracy"].as_f64().unwrap() > 0.9, "{eval}");

    // Restarted with the same state and two more rounds: it resumes after round 4.
    let (serve, _) = federate("6", "logreg", &["a", "b", "c"]);
    let s: serde_json::Value = serde_json::from_slice(&serve.stdout).unwrap();
    assert_eq!(
        (s["resumed_from"].as_u64(), s["rounds"].as_u64()),
        (Some(4), Some(2)),
        "{s}"
    );

    // Another model on the same state: refused, and the client is told (no hang).
    let (serve, joins) = federate("8", "softmax", &["a"]);
    assert_eq!(serve.status.code(), Some(2), "{}", text(&serve));
    assert_eq!(joins[0].status.code(), Some(12), "{}", text(&joins[0]));
    assert!(text(&joins[0]).contains("fresh --state"));
}
