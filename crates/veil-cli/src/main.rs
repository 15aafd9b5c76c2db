//! `veil` — the command-line program of the Veil toolkit.
//!
//! This crate is glue: it parses arguments, draws progress bars, prints human or `--json`
//! output and maps errors to exit codes. Every algorithm lives in a library crate.

mod cli;
mod commands;
mod exit;
mod report;

use clap::Parser;

/// mimalloc instead of the system allocator: the HE engine allocates and frees megabyte
/// polynomials in every operation, and glibc's allocator returns such memory to the kernel
/// and takes it back page by page (a fault per 4 KiB), which cost a quarter of a CKKS
/// multiplication's time; SEAL keeps a memory pool for the same reason.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match commands::run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
