//! `veil` — the command-line program of the Veil toolkit.
//!
//! This crate is glue: it parses arguments, draws progress bars, prints human or `--json`
//! output and maps errors to exit codes. Every algorithm, file format and policy lives in a
//! library crate; each command calls the library and renders the typed report it returns.

mod cli;
mod commands;
mod exit;
mod io;
mod report;

use std::io::IsTerminal;

use clap::{CommandFactory, FromArgMatches};

/// mimalloc instead of the system allocator: the HE engine allocates and frees megabyte
/// polynomials in every operation, and glibc's allocator returns such memory to the kernel
/// and takes it back page by page (a fault per 4 KiB), which cost a quarter of a CKKS
/// multiplication's time; SEAL keeps a memory pool for the same reason.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let command =
        cli::Cli::command().after_help(format!("{}\n\n{}", exit::help(), cli::AFTER_HELP));
    let cli = match cli::Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose);
    match commands::run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}

/// Logs on stderr at the level `-v` asks for (or `VEIL_LOG`), in colour only on a terminal.
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
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
