//! One module per command family; each turns parsed arguments into library calls and output.

mod data;
mod demo;
mod dp;
mod fl;
mod he;
mod key;
mod ledger;
mod model;
mod pki;
mod provenance;
mod secrets;
mod vault;

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
