//! Any bytes, as a federated coordinator's `state.json`: loading it gives a checkpoint or
//! an error, never a panic; and a checkpoint that loads saves and loads back unchanged. The
//! file is written in one scratch directory per process.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veil_fl::checkpoint::Checkpoint;

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("veil-fuzz-fl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    std::fs::write(dir.join("state.json"), data).expect("the scratch file is writable");
    if let Ok(Some(checkpoint)) = Checkpoint::load(dir) {
        checkpoint.save(dir).expect("a loaded checkpoint saves");
        let again = Checkpoint::load(dir).expect("a saved checkpoint loads");
        assert_eq!(again, Some(checkpoint), "a checkpoint changed when saved");
    }
});
