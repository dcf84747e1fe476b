//! vigia: city CCTV cameras in, events a monitoring center can act on out.
//!
//! The binary's library: the command line and the node's wiring. The stages themselves
//! live in the library crates (`crates/`, see docs/architecture.md).
//!
//! - [`cli`]: one module per command (`vigia run`, `check-config`, `read`, `eval`,
//!   `loadgen`, `tail`, `draw-rules`).
//! - [`config`]: the configuration file, loaded with every error reported by path.
//! - [`node`]: builds the stages from a config, runs them, stops them in order.

pub mod cli;
pub mod config;
pub mod node;

pub use config::Config;
pub use node::{AppHandle, RunOptions, start};
