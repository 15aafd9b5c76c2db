//! Any bytes, as a DP SQL query: the parser gives a query or an error, never a panic; and a
//! query that parses is prepared (columns resolved, bounds and keys checked, the cost worked
//! out) against a small fixed table, with and without a privacy unit and public keys, which
//! must not panic either.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veil_core::Table;
use veil_dp::query::{self, QueryOptions};

/// Integer, float, text and missing values, a unit with two rows, and a text column to group
/// by with public keys.
const CSV: &[u8] = b"id,age,sex,income,city
1,34,F,52000.5,Paris
2,51,M,61000,Lyon
3,29,F,,Paris
1,34,F,48000,Paris
4,67,M,39000.25,Nice
5,,F,71000,Lyon
";

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::from_csv_bytes("fuzz.csv", CSV).expect("the fixed table loads"))
}

fn options() -> &'static [QueryOptions; 2] {
    static OPTIONS: OnceLock<[QueryOptions; 2]> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        [
            // Every row its own unit, groups found by partition selection.
            QueryOptions {
                epsilon: 1.0,
                delta: 1e-6,
                ..QueryOptions::default()
            },
            // A privacy unit with a contribution bound, public bounds and public keys.
            QueryOptions {
                epsilon: 1.0,
                delta: 1e-6,
                privacy_unit: Some("id".into()),
                max_contributions: Some(2),
                bounds: vec![
                    ("age".into(), 0.0, 100.0),
                    ("income".into(), 0.0, 200_000.0),
                ],
                keys: vec![("sex".into(), vec!["F".into(), "M".into()])],
            },
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    if query::parse::parse(&sql).is_ok() {
        for options in options() {
            let _ = query::prepare(&sql, table(), options);
        }
    }
});
