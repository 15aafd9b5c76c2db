//! Any bytes, as a model file: a model or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = veil_ml::model_file::from_bytes(data, "fuzz.model");
});
