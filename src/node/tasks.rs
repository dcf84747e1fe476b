//! Named long-lived tasks and threads, supervised: one that panics or returns an error is
//! logged with its name, recorded, and stops the node (which then exits non-zero, so a
//! supervisor such as systemd restarts it). Nothing is dropped silently.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use tokio::task::{AbortHandle, JoinHandle};
use vigia_core::Shutdown;

/// Spawns supervised tasks; remembers which failed.
#[derive(Clone)]
pub struct Supervisor {
    /// Cancelled when a task fails: the node stops.
    stop: Shutdown,
    failures: Arc<Mutex<Vec<String>>>,
}

/// A supervised task or thread.
pub struct Task {
    pub name: String,
    inner: Inner,
}

enum Inner {
    Async {
        watcher: JoinHandle<()>,
        abort: AbortHandle,
    },
    Thread(std::thread::JoinHandle<()>),
}

impl Supervisor {
    pub fn new(stop: Shutdown) -> Self {
        Self {
            stop,
            failures: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn failed(&self, name: &str, why: &str) {
        tracing::error!(task = name, error = %why, "task failed; stopping the node");
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{name}: {why}"));
        self.stop.cancel();
    }

    /// Spawns `fut` on the runtime as task `name`.
    pub fn spawn<F>(&self, name: impl Into<String>, fut: F) -> Task
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let name = name.into();
        let task = tokio::spawn(fut);
        let abort = task.abort_handle();
        let (sup, n) = (self.clone(), name.clone());
        let watcher = tokio::spawn(async move {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => sup.failed(&n, &format!("{e:#}")),
                Err(e) if e.is_panic() => sup.failed(&n, &panic_text(&e.into_panic())),
                Err(_) => {} // aborted on purpose
            }
        });
        Task {
            name,
            inner: Inner::Async { watcher, abort },
        }
    }

    /// Runs `f` on an OS thread named `name` (blocking work: inference, analytics).
    pub fn spawn_thread<F>(&self, name: impl Into<String>, f: F) -> Result<Task>
    where
        F: FnOnce() -> Result<()> + Send + 'static,
    {
        let name = name.into();
        let (sup, n) = (self.clone(), name.clone());
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(
                move || match std::panic::catch_unwind(AssertUnwindSafe(f)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => sup.failed(&n, &format!("{e:#}")),
                    Err(p) => sup.failed(&n, &panic_text(&p)),
                },
            )
            .map_err(|e| anyhow!("starting thread {name}: {e}"))?;
        Ok(Task {
            name,
            inner: Inner::Thread(handle),
        })
    }

    /// The tasks that failed, `name: why`.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Task {
    /// Waits for the task to end (a thread is joined off the async threads).
    pub async fn join(self) {
        match self.inner {
            Inner::Async { watcher, .. } => {
                let _ = watcher.await;
            }
            Inner::Thread(t) => {
                // The thread reported its own panic; joining only waits.
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
        }
    }

    /// Aborts a task with nothing to finish (a ticker), then waits for it.
    pub async fn abort(self) {
        if let Inner::Async { abort, .. } = &self.inner {
            abort.abort();
        }
        self.join().await;
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    format!("panicked: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_task_or_panicking_thread_stops_the_node_and_is_named() {
        let stop = Shutdown::new();
        let sup = Supervisor::new(stop.clone());
        let quiet = sup.spawn("quiet", async { Ok(()) });
        quiet.join().await;
        assert!(!stop.is_cancelled(), "a task that ends well stops nothing");
        let failing = sup.spawn("publisher", async { Err(anyhow!("broker gone")) });
        failing.join().await;
        assert!(stop.is_cancelled());
        let thread = sup
            .spawn_thread("infer-0", || -> Result<()> { panic!("bad tensor") })
            .unwrap();
        thread.join().await;
        let f = sup.failures();
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].starts_with("publisher: broker gone"), "{f:?}");
        assert!(f[1].starts_with("infer-0: panicked: bad tensor"), "{f:?}");
        // An aborted ticker is not a failure.
        let ticker = sup.spawn("ticker", async {
            std::future::pending::<()>().await;
            Ok(())
        });
        ticker.abort().await;
        assert_eq!(sup.failures().len(), 2);
    }
}
