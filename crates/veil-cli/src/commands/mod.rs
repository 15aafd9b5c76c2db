//! One module per command family; each turns parsed arguments into a library call and
//! renders the report it returns.

mod data;
mod demo;
mod dp;
mod fl;
mod he;
mod key;
mod ledger;
mod model;
mod pki;
mod vault;

use std::path::Path;

use veil_ledger::{Ledger, Step};

use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Data(cmd) => data::run(cmd, cli.json),
        Command::Train(args) => model::train(args, cli.json),
        Command::Eval(args) => model::eval(args, cli.json),
        Command::Predict(args) => model::predict(args, cli.json),
        Command::Demo(args) => demo::run(args, cli.json),
        Command::Key(cmd) => key::run(cmd, cli.json),
        Command::Vault(cmd) => vault::run(cmd, cli.json),
        Command::Ledger(cmd) => ledger::run(cmd, cli.json),
        Command::Dp(cmd) => dp::run(cmd, cli.json),
        Command::Pki(cmd) => pki::run(cmd, cli.json),
        Command::Fl(cmd) => fl::run(cmd, cli.json),
        Command::He(cmd) => he::run(cmd, cli.json),
    }
}

/// Opens the `--ledger DIR` of a command before any work, so that a bad directory loses
/// nothing; with it, the command's inputs and outputs must be files (not `-`).
fn open_ledger(dir: Option<&Path>, files: &[&str]) -> anyhow::Result<Option<Ledger>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    if files.contains(&"-") {
        veil_ledger::Subject::of_source("-")?;
    }
    Ok(Some(Ledger::open(dir)?))
}

/// Records the step `step` builds in `ledger`, if there is one; returns the entry's index.
fn record(
    ledger: Option<&mut Ledger>,
    step: impl FnOnce() -> veil_ledger::Result<Step>,
) -> anyhow::Result<Option<u64>> {
    match ledger {
        Some(ledger) => Ok(Some(veil_ledger::lineage::record(ledger, step()?)?)),
        None => Ok(None),
    }
}

/// The tokio runtime of the network commands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
