//! DP SQL end to end at the library level: contribution bounding, budget split, partition
//! selection, and the coverage of the 95% intervals.

#![allow(clippy::unwrap_used)]

use veil_core::table::{Column, Table, Values};
use veil_dp::budget::Receipt;
use veil_dp::query::{Cell, Measurement, QueryOptions, QueryRelease, prepare};
use veil_dp::{NoiseRng, PrivacyLoss};

/// 600 people: id 0..600, sex alternating F/M, age 20 + (i mod 60), income i mod 100 (none
/// for every 10th), two visits each.
fn people(extra: &[(i64, &str, i64)]) -> Table {
    let mut id = Vec::new();
    let mut sex = Vec::new();
    let mut age = Vec::new();
    let mut income = Vec::new();
    for visit in 0..2 {
        for i in 0..600i64 {
            id.push(Some(i));
            sex.push(Some(if i % 2 == 0 { "F" } else { "M" }.to_string()));
            age.push(Some(20 + i % 60));
            income.push((i % 10 != 0 || visit == 1).then_some((i % 100) as f64));
        }
    }
    for &(i, s, a) in extra {
        id.push(Some(i));
        sex.push(Some(s.to_string()));
        age.push(Some(a));
        income.push(Some(1e9));
    }
    Table::new(
        "people",
        vec![
            Column::new("id", Values::Integer(id)),
            Column::new("sex", Values::String(sex)),
            Column::new("age", Values::Integer(age)),
            Column::new("income", Values::Float(income)),
        ],
    )
    .unwrap()
}

fn options(epsilon: f64) -> QueryOptions {
    QueryOptions {
        epsilon,
        privacy_unit: Some("id".into()),
        max_contributions: Some(2),
        bounds: vec![("age".into(), 0.0, 100.0), ("income".into(), 0.0, 100.0)],
        keys: vec![("sex".into(), vec!["F".into(), "M".into(), "X".into()])],
        ..QueryOptions::default()
    }
}

fn run(table: &Table, sql: &str, options: &QueryOptions, seed: u64) -> QueryRelease {
    let q = prepare(sql, table, options).unwrap();
    let receipt = Receipt::unbudgeted(q.cost());
    q.release(receipt, &mut NoiseRng::insecure_seeded(seed))
        .unwrap()
}

fn value(c: &Cell) -> f64 {
    match c {
        Cell::Estimate { value, .. } => *value,
        Cell::Key(k) => panic!("key {k:?}"),
    }
}

const SQL: &str = "SELECT sex, COUNT(*) AS n, SUM(age) AS s, AVG(income) AS a, \
                   MEDIAN(age) AS med FROM data GROUP BY sex";

#[test]
fn one_unit_with_a_thousand_rows_moves_each_answer_at_most_its_sensitivity() {
    // With ε = 10^6 the noise is far below the tolerances, so the answers are the exact
    // bounded values. Unit 8 (an F) adds 1,000 rows of age 100 and income 10^9.
    let opts = options(1e6);
    let attacker: Vec<(i64, &str, i64)> = (0..1000).map(|_| (8, "F", 100)).collect();
    let (before, after) = (people(&[]), people(&attacker));
    let (b, a) = (run(&before, SQL, &opts, 1), run(&after, SQL, &opts, 1));
    assert_eq!(b.columns, ["sex", "n", "s", "a", "med"]);
    assert_eq!(b.rows.len(), 3, "public keys release every group, X too");
    let (bf, af) = (&b.rows[0], &a.rows[0]);
    assert_eq!(bf[0], Cell::Key(Some("F".into())));
    // F has 300 people with 2 visits each (k = 2 keeps both).
    assert!((value(&bf[1]) - 600.0).abs() < 0.5, "{:?}", bf[1]);
    // COUNT moves by at most k = 2, SUM(age) by at most k·100 = 200.
    let dn = value(&af[1]) - value(&bf[1]);
    let ds = value(&af[2]) - value(&bf[2]);
    assert!(dn.abs() <= 2.0 + 1e-3, "count moved {dn}");
    assert!(ds.abs() <= 200.0 + 1e-3, "sum moved {ds}");
    // The mean income stays near its bounded value: the 10^9 incomes are clamped to 100
    // and at most 2 of them survive bounding among ~570 values.
    let da = value(&af[3]) - value(&bf[3]);
    assert!(da.abs() < 0.5, "avg moved {da}");
    // M and X are untouched.
    assert!(
        (value(&a.rows[1][1]) - value(&b.rows[1][1])).abs() < 1e-3,
        "{:?} {:?}",
        a.rows[1],
        b.rows[1]
    );
    assert!(
        value(&a.rows[2][1]).abs() < 1e-3,
        "X is empty: {:?}",
        a.rows[2][1]
    );
    // The median of F's ages (even ids: 20 + i mod 60 over even i) is near 49.
    assert!((value(&bf[4]) - 49.0).abs() < 1.0, "{:?}", bf[4]);
}

#[test]
fn without_a_privacy_unit_every_row_counts_once() {
    let mut opts = options(1e6);
    opts.privacy_unit = None;
    opts.max_contributions = None;
    let r = run(&people(&[]), "SELECT COUNT(*) FROM data", &opts, 2);
    assert!((value(&r.rows[0][0]) - 1200.0).abs() < 0.5);
    opts.max_contributions = Some(3);
    let e = prepare("SELECT COUNT(*) FROM data", &people(&[]), &opts).unwrap_err();
    assert!(e.to_string().contains("needs --privacy-unit"), "{e}");
}

#[test]
fn the_budget_is_split_evenly_over_shared_measurements() {
    let t = people(&[]);
    let q = prepare(
        "SELECT COUNT(income), AVG(income), STDDEV(income), MEDIAN(age), \
         PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY age) FROM data",
        &t,
        &options(1.0),
    )
    .unwrap();
    let m: Vec<_> = q.shares().iter().map(|s| s.measurement.clone()).collect();
    assert_eq!(
        m,
        [
            Measurement::Present("income".into()),
            Measurement::CenteredSum("income".into()),
            Measurement::CenteredSquares("income".into()),
            Measurement::Quantiles("age".into()),
        ]
    );
    // Four equal shares of ε = 1, exactly.
    for s in q.shares() {
        assert_eq!(s.loss, PrivacyLoss::target(0.25, 0.0).unwrap());
    }
    assert_eq!(q.shares()[0].outputs.len(), 3);
    assert_eq!(q.shares()[3].sensitivity, 8.0, "4 levels × k = 2");
    assert_eq!(q.cost(), PrivacyLoss::target(1.0, 0.0).unwrap());
}

#[test]
fn unsupported_or_unbounded_queries_fail_before_any_noise() {
    let t = people(&[]);
    for (sql, opts, what) in [
        (
            "SELECT SUM(age) FROM data",
            QueryOptions {
                epsilon: 1.0,
                ..Default::default()
            },
            "--bounds age=LO:HI",
        ),
        ("SELECT AVG(sex) FROM data", options(1.0), "numeric"),
        (
            "SELECT sex, COUNT(*) FROM data GROUP BY sex",
            QueryOptions {
                epsilon: 1.0,
                ..Default::default()
            },
            "--delta",
        ),
        (
            // Below the smallest δ accounted: refused, not rounded to δ = 0 (which would
            // release every group, the lone ones too, with no δ charged).
            "SELECT sex, COUNT(*) FROM data GROUP BY sex",
            QueryOptions {
                epsilon: 1.0,
                delta: 1e-31,
                ..Default::default()
            },
            "smallest δ",
        ),
        (
            "SELECT COUNT(*) FROM data GROUP BY income",
            options(1.0),
            "float",
        ),
        (
            "SELECT COUNT(*) FROM data WHERE nosuch = 1",
            options(1.0),
            "unknown column \"nosuch\"",
        ),
        (
            "SELECT COUNT(*) FROM data",
            QueryOptions {
                epsilon: 0.0,
                ..Default::default()
            },
            "epsilon",
        ),
    ] {
        let e = prepare(sql, &t, &opts).unwrap_err().to_string();
        assert!(e.contains(what), "{sql}: {e}");
    }
}

#[test]
fn partition_selection_hides_small_groups_and_spends_delta() {
    // 600 people in two big groups plus one person alone in group "Z".
    let t = people(&[(9999, "Z", 50)]);
    let opts = QueryOptions {
        epsilon: 1.0,
        delta: 1e-6,
        privacy_unit: Some("id".into()),
        max_contributions: Some(2),
        ..QueryOptions::default()
    };
    let sql = "SELECT sex, COUNT(*) FROM data GROUP BY sex";
    let q = prepare(sql, &t, &opts).unwrap();
    assert_eq!(q.cost(), PrivacyLoss::target(1.0, 1e-6).unwrap());
    assert_eq!(q.shares()[0].measurement, Measurement::Partitions);
    for seed in 0..50 {
        let r = run(&t, sql, &opts, seed);
        let keys: Vec<_> = r.rows.iter().map(|row| row[0].clone()).collect();
        assert_eq!(
            keys,
            [Cell::Key(Some("F".into())), Cell::Key(Some("M".into()))]
        );
        // Scale k/ε_s = 4: the threshold sits far above 1 so the lone unit stays hidden.
        assert!(
            r.selection_threshold.unwrap() > 40,
            "{:?}",
            r.selection_threshold
        );
    }
}

#[test]
fn intervals_cover_the_exact_answer_at_least_95_percent_of_the_time() {
    // Exact answers without the noise: F has 600 rows (k = 2 keeps all), mean income over
    // F's present incomes, and the count itself.
    let t = people(&[]);
    let exact = run(
        &t,
        "SELECT sex, COUNT(*), AVG(income), VARIANCE(age) FROM data GROUP BY sex",
        &options(1e6),
        0,
    );
    let truth: Vec<f64> = exact.rows[0][1..].iter().map(value).collect();
    let (mut covered, runs) = ([0u32; 3], 400);
    for seed in 1..=runs {
        let r = run(
            &t,
            "SELECT sex, COUNT(*), AVG(income), VARIANCE(age) FROM data GROUP BY sex",
            &options(0.3),
            seed,
        );
        for (j, cell) in r.rows[0][1..].iter().enumerate() {
            let Cell::Estimate { ci95: (lo, hi), .. } = cell else {
                panic!()
            };
            if *lo <= truth[j] && truth[j] <= *hi {
                covered[j] += 1;
            }
        }
    }
    // A 95% interval misses 20 of 400 on average (sd 4.4); allow 35 misses.
    for c in covered {
        assert!(c >= runs as u32 - 35, "{covered:?} of {runs}");
    }
}

#[test]
fn grouping_by_two_columns_without_keys_finds_every_populated_pair() {
    // Each (sex, age) pair holds 10 people with 2 visits; F has the even ages, M the odd.
    let t = people(&[]);
    let opts = QueryOptions {
        epsilon: 1e6,
        delta: 1e-9,
        privacy_unit: Some("id".into()),
        max_contributions: Some(2),
        ..QueryOptions::default()
    };
    let r = run(
        &t,
        "SELECT age, sex, COUNT(*) FROM data GROUP BY sex, age",
        &opts,
        5,
    );
    assert_eq!(r.rows.len(), 60);
    assert_eq!(
        r.rows[0][..2],
        [Cell::Key(Some("20".into())), Cell::Key(Some("F".into()))]
    );
    assert_eq!(
        r.rows[59][..2],
        [Cell::Key(Some("79".into())), Cell::Key(Some("M".into()))]
    );
    for row in &r.rows {
        assert!((value(&row[2]) - 20.0).abs() < 0.5, "{row:?}");
    }
}
