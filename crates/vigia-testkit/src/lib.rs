//! Test and demo harness. Used by tests and by the demo (the README's run command serves
//! recorded videos as RTSP cameras with [`rtsp::RtspCameraServer`]).
//!
//! - [`paths`]: the project root and the shared real data (tests skip with a message when
//!   it is absent).
//! - [`rtsp`]: an in-process RTSP server (gst-rtsp-server) that serves video files as
//!   looping live cameras.
//! - [`mosquitto`]: a real mosquitto broker on a free loopback port, stopped on drop.
//! - [`mqtt`]: a subscriber that collects what a broker delivers.

pub mod mosquitto;
pub mod mqtt;
pub mod paths;
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

/// A free TCP port on 127.0.0.1 (bound then released; fine for tests).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
