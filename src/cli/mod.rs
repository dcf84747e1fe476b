//! The commands of the `vigia` binary, one module each (its arguments and its `run`).

pub mod check_config;
pub mod discover;
pub mod doctor;
pub mod draw_rules;
pub mod eval;
pub mod fleet;
pub mod loadgen;
pub mod read;
pub mod run;
pub mod tail;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "vigia",
    version,
    about = "City CCTV cameras in, events a monitoring center can act on out"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Run(run::Args),
    /// Check a configuration file and report every problem with its path.
    CheckConfig(check_config::Args),
    /// Read the plates in images; prints JSON.
    Read(read::Args),
    /// Score the plate chain on a labelled folder (openalpr benchmark format).
    Eval(eval::Args),
    /// Feed synthetic events through the node's outbox and publisher to its broker; prints
    /// each event id once the outbox accepted it (proves a broker link end to end).
    Loadgen(loadgen::Args),
    /// Subscribe to a node's events and print them as JSON lines, dropping duplicate
    /// deliveries by event id; `--check` validates each against the published schema.
    Tail(tail::Args),
    /// Draw a camera's rules (zones, lines with their A/B sides, allowed directions) on a
    /// frame of it; prints the legend.
    DrawRules(draw_rules::Args),
    /// Find ONVIF cameras (WS-Discovery) and list their profiles and stream URIs, with a
    /// `[[cameras]]` entry for each.
    Discover(discover::Args),
    /// Check what this node needs (config, GStreamer and decoders, ONNX Runtime and its
    /// providers, models and checksums, broker, disk, optionally cameras); exit 1 on a
    /// failure.
    Doctor(doctor::Args),
    /// The fleet's camera list in etcd: `apply FILE`, `status FILE`.
    Fleet(fleet::Args),
}

impl Cli {
    /// Runs the command; its exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Run(a) => run::run(&a),
            Command::CheckConfig(a) => check_config::run(&a),
            Command::Read(a) => read::run(&a),
            Command::Eval(a) => eval::run(&a),
            Command::Loadgen(a) => loadgen::run(a),
            Command::Tail(a) => tail::run(a),
            Command::DrawRules(a) => draw_rules::run(&a),
            Command::Discover(a) => discover::run(&a),
            Command::Doctor(a) => doctor::run(&a),
            Command::Fleet(a) => fleet::run(&a),
        }
    }
}

/// The config file, or the tools' defaults without one; a bad file is reported (exit 2).
fn load_config(path: Option<&Path>) -> Result<Config, ExitCode> {
    match path {
        Some(p) => Config::load(p).map_err(|e| {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }),
        None => Ok(Config::tool_defaults()),
    }
}

/// Quiet logging for the tools (warnings only).
fn quiet_logs() {
    let _ = vigia_telemetry::logging::init(vigia_telemetry::LogFormat::Text, "warn");
}

/// Reports a command's failure (exit 1).
#[allow(clippy::print_stderr)]
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

/// A tool's exit: its summary on stderr, success when `ok`, else `bad` (exit code).
#[allow(clippy::print_stderr)]
fn finish<R>(
    result: anyhow::Result<R>,
    summary: impl Fn(&R) -> String,
    ok: impl Fn(&R) -> bool,
    bad: u8,
) -> ExitCode {
    match result {
        Ok(r) => {
            eprintln!("{}", summary(&r));
            if ok(&r) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(bad)
            }
        }
        Err(e) => fail(&e),
    }
}

/// Runs a tool's future on a small runtime.
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
}
