//! Any bytes, as CSV (plain or gzip): a table or an error, never a panic. Tables that load are
//! also turned into feature matrices and labels, which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_core::Table;

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = Table::from_csv_bytes("fuzz.csv", data) {
        let names: Vec<String> = table.column_names().map(str::to_string).collect();
        let _ = table.feature_matrix(&names);
        if let Some(first) = names.first() {
            let _ = table.class_labels(first);
        }
        let _ = table.summarize();
        let mut out = Vec::new();
        let _ = table.write_csv(&mut out);
    }
});
