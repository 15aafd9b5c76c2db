//! Errors to exit codes and stderr lines.
//!
//! | code | meaning |
//! |---|---|
//! | 1 | internal error |
//! | 2 | invalid arguments or options (clap's own usage errors also exit 2) |
//! | 3 | invalid input data (file content, columns, labels) |
//! | 4 | file-system error (missing file, permission, full disk) |
//! | 5 | invalid model file |
//! | 6 | training diverged |

use std::process::ExitCode;

/// Prints one line per cause on stderr and returns the exit code for `err`.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let mut lines = err.chain().map(ToString::to_string);
    if let Some(first) = lines.next() {
        eprintln!("error: {first}");
    }
    let mut previous = err.to_string();
    for line in lines {
        // Transparent wrappers repeat their cause's message; print it once.
        if !previous.contains(&line) {
            eprintln!("  caused by: {line}");
        }
        previous = line;
    }
    ExitCode::from(code(err))
}

fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<veil_ml::Error>() {
            return match e {
                veil_ml::Error::Data(core) => core_code(core),
                veil_ml::Error::InvalidConfig { .. } => 2,
                veil_ml::Error::Shape { .. } | veil_ml::Error::Label { .. } => 3,
                veil_ml::Error::ModelFile { .. } => 5,
                veil_ml::Error::Diverged { .. } => 6,
            };
        }
        if let Some(e) = cause.downcast_ref::<veil_core::Error>() {
            return core_code(e);
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return 4;
        }
    }
    1
}

fn core_code(err: &veil_core::Error) -> u8 {
    match err {
        veil_core::Error::Io { .. } => 4,
        veil_core::Error::InvalidParameter { .. } => 2,
        _ => 3,
    }
}
