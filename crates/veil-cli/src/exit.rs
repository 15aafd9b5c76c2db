//! Errors to exit codes and stderr lines.
//!
//! | code | meaning |
//! |---|---|
//! | 1 | internal error |
//! | 2 | invalid arguments or options (clap's own usage errors also exit 2) |
//! | 3 | invalid input data (file content, columns, labels) |
//! | 4 | file-system error (missing file, permission, full disk) |
//! | 5 | invalid model file, or a model the command cannot use (not evaluable under encryption) |
//! | 6 | training diverged |
//! | 7 | a sealed file is not intact: tampered, truncated, extended, or not a sealed file |
//! | 8 | wrong key: no identity or passphrase given opens the file; an HE key that is malformed or from another key set |
//! | 9 | signature check failed (a sealed file's signer, a ledger entry, a model-signing bundle) |
//! | 10 | a ledger proof, checkpoint or audit does not verify |
//! | 11 | a privacy budget would be exceeded, or none is set |
//! | 12 | a network peer could not be reached or authenticated (TLS refused, timeout), or broke the protocol |

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
        if let Some(e) = cause.downcast_ref::<veil_vault::Error>() {
            return vault_code(e);
        }
        if let Some(e) = cause.downcast_ref::<veil_dp::Error>() {
            return match e {
                veil_dp::Error::InvalidParameter { .. } | veil_dp::Error::Query(_) => 2,
                veil_dp::Error::Storage(_) => 4,
                veil_dp::Error::BudgetExceeded { .. } | veil_dp::Error::NoBudget(_) => 11,
            };
        }
        if let Some(e) = cause.downcast_ref::<veil_ledger::Error>() {
            return ledger_code(e);
        }
        if let Some(e) = cause.downcast_ref::<veil_fl::Error>() {
            return match e {
                veil_fl::Error::InvalidParameter { .. } => 2,
                veil_fl::Error::Data(_) => 3,
                veil_fl::Error::Net(net) => net_code(net),
                veil_fl::Error::Protocol(_)
                | veil_fl::Error::Rejected { .. }
                | veil_fl::Error::Aborted { .. } => 12,
            };
        }
        if let Some(e) = cause.downcast_ref::<veil_he::Error>() {
            return match e {
                veil_he::Error::OutOfRange(_) => 2,
                veil_he::Error::InvalidCiphertext(_) => 3,
                veil_he::Error::Unevaluable(_) => 5,
                veil_he::Error::InvalidKey(_) => 8,
                veil_he::Error::Protocol(_) => 12,
                veil_he::Error::Net(net) => net_code(net),
                veil_he::Error::Io(core) => core_code(core),
            };
        }
        if let Some(e) = cause.downcast_ref::<veil_net::Error>() {
            return net_code(e);
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

fn vault_code(err: &veil_vault::Error) -> u8 {
    use veil_vault::Error as E;
    match err {
        E::Io(core) => core_code(core),
        E::NotSealed
        | E::UnsupportedVersion(_)
        | E::MalformedHeader(_)
        | E::KeyCommitment
        | E::HeaderTampered
        | E::SegmentTampered { .. }
        | E::BadLength(_)
        | E::Age(_) => 7,
        E::NoMatchingKey { .. } | E::WrongPassphrase => 8,
        E::Signature(_) => 9,
        E::Invalid { .. } => 2,
        E::KeyFile { .. } | E::Shares(_) => 3,
    }
}

fn ledger_code(err: &veil_ledger::Error) -> u8 {
    use veil_ledger::Error as E;
    match err {
        E::Invalid(_) => 2,
        E::Malformed(_) => 3,
        E::Storage(_) => 4,
        E::Io(core) => core_code(core),
        E::ModelSignature(_) | E::Signature(_) => 9,
        E::ProofFailed(_) | E::MissingHash { .. } | E::Verification(_) => 10,
    }
}

fn net_code(err: &veil_net::Error) -> u8 {
    use veil_net::Error as E;
    match err {
        E::Io(core) => core_code(core),
        E::InvalidName(_) | E::Exists(_) => 2,
        E::Missing(_) => 4,
        E::Certificate(_) => 3,
        E::Transport(_) | E::Peer(_) => 12,
    }
}

fn core_code(err: &veil_core::Error) -> u8 {
    match err {
        veil_core::Error::Io { .. } => 4,
        veil_core::Error::InvalidParameter { .. } => 2,
        _ => 3,
    }
}
