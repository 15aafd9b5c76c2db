//! DP SQL throughput over a generated table of 10^7 rows (patient, sex, age, income): the
//! query as `veil dp query` runs it once the table is loaded — filter, contribution bounding
//! per patient, grouping, every measurement and its noise. Reported as rows per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_core::table::{Column, Table, Values};
use veil_dp::NoiseRng;
use veil_dp::budget::Receipt;
use veil_dp::query::{QueryOptions, prepare};

const ROWS: usize = 10_000_000;

/// 10^7 visits of 2·10^6 patients; patient p has sex F for even p, age 18 + p mod 80.
fn table() -> Table {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // SplitMix64: a fixed, fast stream for the data (not for noise).
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let patients: Vec<i64> = (0..ROWS).map(|_| (next() % 2_000_000) as i64).collect();
    let column = |name: &str, values| Column::new(name, values);
    Table::new(
        "generated",
        vec![
            column(
                "patient",
                Values::Integer(patients.iter().map(|&p| Some(p)).collect()),
            ),
            column(
                "sex",
                Values::String(
                    patients
                        .iter()
                        .map(|&p| Some(if p % 2 == 0 { "F" } else { "M" }.to_string()))
                        .collect(),
                ),
            ),
            column(
                "age",
                Values::Integer(patients.iter().map(|&p| Some(18 + p % 80)).collect()),
            ),
            column(
                "income",
                Values::Float(
                    patients
                        .iter()
                        .map(|&p| Some(((p * 37) % 100_000) as f64))
                        .collect(),
                ),
            ),
        ],
    )
    .expect("generated table")
}

fn dp_sql(c: &mut Criterion) {
    let t = table();
    let mut group = c.benchmark_group("DP SQL over 10^7 rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    let cases = [
        (
            "COUNT, AVG, MEDIAN by sex; WHERE; 5 visits per patient",
            "SELECT sex, COUNT(*), AVG(age), MEDIAN(income) FROM data WHERE age > 30 GROUP BY sex",
            QueryOptions {
                epsilon: 1.0,
                privacy_unit: Some("patient".into()),
                max_contributions: Some(5),
                bounds: vec![("age".into(), 0.0, 120.0), ("income".into(), 0.0, 1e5)],
                keys: vec![("sex".into(), vec!["F".into(), "M".into()])],
                ..QueryOptions::default()
            },
        ),
        (
            "COUNT, SUM by age; partition selection; each row a unit",
            "SELECT age, COUNT(*), SUM(income) FROM data GROUP BY age",
            QueryOptions {
                epsilon: 1.0,
                delta: 1e-6,
                bounds: vec![("income".into(), 0.0, 1e5)],
                ..QueryOptions::default()
            },
        ),
    ];
    for (name, sql, options) in cases {
        group.bench_function(name, |b| {
            let mut rng = NoiseRng::from_os();
            b.iter(|| {
                let query = prepare(sql, &t, &options).expect("prepares");
                let receipt = Receipt::unbudgeted(query.cost());
                query.release(receipt, &mut rng).expect("releases")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dp_sql);
criterion_main!(benches);
