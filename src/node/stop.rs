//! Stopping the node: one list of stages, stopped in order.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use vigia_core::Shutdown;
use vigia_outbox::Outbox;

use super::tasks::{Supervisor, Task};

/// The stages, in the order they are stopped. Each stops after the ones before it have,
/// so its input is already closed and it finishes what it holds.
pub const STOP_ORDER: [&str; 13] = [
    "cameras",
    "frame hub",
    "inference",
    "ticker",
    "status",
    "alarms",
    "analytics",
    "hotlist reload and stats",
    "publisher",
    "printer",
    "http",
    "simulator",
    "outbox sync",
];

/// How one stage of [`STOP_ORDER`] stops.
pub(super) enum Stop {
    /// Cancel the token, then wait for the tasks.
    Cancel(Shutdown, Vec<Task>),
    /// Wait for the tasks to end by themselves (their input closed in an earlier step).
    Join(Vec<Task>),
    /// Abort tasks with nothing to finish (tickers).
    Abort(Vec<Task>),
    /// Blocking work (off the async threads).
    Run(Box<dyn FnOnce() + Send>),
    /// Async work.
    Async(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
}

impl Stop {
    pub(super) async fn run(self) {
        match self {
            Stop::Cancel(token, tasks) => {
                token.cancel();
                for t in tasks {
                    t.join().await;
                }
            }
            Stop::Join(tasks) => {
                for t in tasks {
                    t.join().await;
                }
            }
            Stop::Abort(tasks) => {
                for t in tasks {
                    t.abort().await;
                }
            }
            Stop::Run(f) => {
                let _ = tokio::task::spawn_blocking(f).await;
            }
            Stop::Async(f) => f.await,
        }
    }
}

/// Waits for the stop signal (or a failed task), then stops the stages in order.
pub(super) async fn run_until_stopped(
    stop: Shutdown,
    sup: Supervisor,
    steps: Vec<Stop>,
) -> Result<()> {
    stop.cancelled().await;
    tracing::info!("stopping: cameras, then analysis, then delivery of what is left");
    for (name, step) in STOP_ORDER.iter().zip(steps) {
        tracing::debug!(stage = name, "stopping");
        step.run().await;
    }
    let failures = sup.failures();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("stopped after a failure: {}", failures.join("; ")))
    }
}

/// The outbox's last sync, once nothing writes to it any more.
pub(super) fn final_sync(outbox: Arc<Outbox>) -> Stop {
    Stop::Run(Box::new(move || {
        if let Err(e) = outbox.sync() {
            tracing::error!(error = %e, "final outbox sync failed");
        }
        tracing::info!(
            pending = outbox.pending(),
            "vigia stopped; pending events are kept for the next start"
        );
    }))
}
