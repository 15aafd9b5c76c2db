//! Errors to exit codes and stderr lines.
//!
//! Every library error answers `kind()` with a [`veil_core::ErrorKind`]; [`CODES`] maps each
//! kind to one exit code, and `veil --help` prints the same table. The CLI's own usage
//! errors are [`Usage`].

use std::process::ExitCode;

use veil_core::ErrorKind;

/// Exit codes by error kind (0 is success; clap's own usage errors also exit 2).
pub const CODES: [(ErrorKind, u8); 12] = [
    (ErrorKind::Internal, 1),
    (ErrorKind::Usage, 2),
    (ErrorKind::Data, 3),
    (ErrorKind::Io, 4),
    (ErrorKind::ModelFile, 5),
    (ErrorKind::Diverged, 6),
    (ErrorKind::NotIntact, 7),
    (ErrorKind::WrongKey, 8),
    (ErrorKind::Signature, 9),
    (ErrorKind::Proof, 10),
    (ErrorKind::Budget, 11),
    (ErrorKind::Network, 12),
];

/// A usage error found by the CLI itself (an option combination clap cannot express).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// The exit-code paragraph of `veil --help`, from [`CODES`].
pub fn help() -> String {
    let mut text = String::from("Exit codes:\n   0  success");
    for (kind, code) in CODES {
        text.push_str(&format!("\n  {code:>2}  {kind}"));
    }
    text
}

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
    ExitCode::from(code(kind(err)))
}

/// The exit code of `kind`.
pub fn code(kind: ErrorKind) -> u8 {
    CODES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(1, |(_, code)| *code)
}

/// The kind of the outermost Veil error in `err`'s chain (a wrapped error answers with its
/// cause's kind); an error of no Veil crate is internal, but for plain I/O.
pub fn kind(err: &anyhow::Error) -> ErrorKind {
    for cause in err.chain() {
        let kind = if let Some(e) = cause.downcast_ref::<veil_core::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_ml::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_vault::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_ledger::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_dp::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_net::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_fl::Error>() {
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<veil_he::Error>() {
            e.kind()
        } else if cause.is::<Usage>() {
            ErrorKind::Usage
        } else if cause.is::<std::io::Error>() {
            ErrorKind::Io
        } else {
            continue;
        };
        return kind;
    }
    ErrorKind::Internal
}
