//! Test harness (a dev-dependency only; the camera simulator the demo ships with is
//! `vigia-sim`).
//!
//! - [`paths`]: the project root and the shared real data (tests skip with a message when
//!   it is absent).
//! - [`chaos`]: a TCP proxy that breaks connections at random points.
//! - [`etcd`]: a real etcd cluster of N members that can be killed and restarted.
//! - [`fs`]: a small real filesystem (tmpfs) for real ENOSPC.
//! - [`http`]: a minimal HTTP GET for the node's endpoints.
//! - [`link`]: a TCP link that can be cut (packets dropped, nothing closed) and mended.
//! - [`mosquitto`]: a real mosquitto broker on a free loopback port, stopped on drop.
//! - [`mqtt`]: a subscriber that collects what a broker delivers.
//! - [`onvif`]: an ONVIF camera's device and media services and WS-Discovery, answering
//!   with responses recorded from real cameras (`fixtures/onvif/`).
//! - [`procfs`]: a process's CPU time, memory, threads and files, and the machine's load.
//! - `pki` (feature `pki`): certificates for TLS tests.

pub mod chaos;
pub mod etcd;
pub mod fs;
pub mod http;
pub mod link;
pub mod mosquitto;
pub mod mqtt;
pub mod onvif;
pub mod paths;
#[cfg(feature = "pki")]
pub mod pki;
pub mod procfs;

/// Errors from the harness.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// Something this system does not allow a test to do (mounting a filesystem).
    #[error("{0}")]
    Unsupported(String),
    /// Real test data (`../shared`) that is not there.
    #[error("{0}")]
    MissingData(String),
    #[error("mosquitto: {0}")]
    Mosquitto(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Sends SIGTERM to a process (a graceful stop, as an operator or systemd would).
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("bad pid {pid}")))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(Into::into)
}

/// A free TCP port on 127.0.0.1 (bound then released), never the same twice in this
/// process: a test that stops its broker to simulate an outage keeps "its" port, so another
/// test running beside it cannot start a broker there.
pub fn free_port() -> std::io::Result<u16> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let set = handed.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if set.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no fresh free port after 1000 tries"))
}
