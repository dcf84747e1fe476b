//! The `vigia` command: parses the command line and runs one command (`src/cli/`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    vigia::cli::Cli::parse().run()
}
