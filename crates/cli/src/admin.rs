//! Admin subcommands that talk to a running gateway's REST API. (Being written.)

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {}

pub async fn run(command: AdminCommand) -> ExitCode {
    match command {}
}
