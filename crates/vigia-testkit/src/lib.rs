//! Test and demo harness. Used by tests and by the demo (the README's run command serves
//! recorded videos as RTSP cameras with [`rtsp::RtspCameraServer`]).
//!
//! - [`paths`]: the project root and the shared real data (tests skip with a message when
//!   it is absent).
//! - [`rtsp`]: an in-process RTSP server (gst-rtsp-server) that serves video files as
//!   looping live cameras.
//! - [`http`]: a minimal HTTP GET for the node's endpoints.
//! - [`mosquitto`]: a real mosquitto broker on a free loopback port, stopped on drop.
//! - [`mqtt`]: a subscriber that collects what a broker delivers.
//! - `pki` (feature `pki`): certificates for TLS tests.
//! - [`render`]: H.264 videos made from real plate photos moving across the frame.

pub mod http;
pub mod mosquitto;
pub mod mqtt;
pub mod paths;
#[cfg(feature = "pki")]
pub mod pki;
pub mod render;
pub mod rtsp;

/// Errors from the harness.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("video {path}: {message}")]
    Clip { path: String, message: String },
    #[error("RTSP server: {0}")]
    Rtsp(String),
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
