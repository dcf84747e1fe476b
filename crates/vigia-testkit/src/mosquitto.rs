//! A real mosquitto broker for integration tests, on 127.0.0.1 and a free port, with its
//! own config, persistence and log in a temporary directory. Killed on drop.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TestkitError, free_port};

/// A running (or stopped) mosquitto.
pub struct Mosquitto {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    secure: Option<Secure>,
    /// Saves its state after every change (sessions, subscriptions, queued messages), so a
    /// SIGKILL loses at most the change in progress.
    durable: bool,
}

/// A TLS listener with authentication: the broker presents `cert`/`key` (signed by `ca`),
/// requires a client certificate signed by `ca` when `require_client_cert`, and accepts
/// only the `users` (name, password); anonymous clients are refused.
#[derive(Debug, Clone)]
pub struct Secure {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub require_client_cert: bool,
    pub users: Vec<(String, String)>,
}

fn binary() -> Result<PathBuf, TestkitError> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("mosquitto"));
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
    }
    Err(TestkitError::Mosquitto(
        "the mosquitto binary was not found; install the Debian package mosquitto (the README's set-up does)".into(),
    ))
}

impl Mosquitto {
    /// Starts a broker on a free port.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(None)
    }

    /// Starts a broker with a TLS listener and authentication on a free port.
    pub fn start_secure(secure: Secure) -> Result<Self, TestkitError> {
        Self::start_with(Some(secure))
    }

    /// A broker that saves its state after every change, for crash tests: what it
    /// acknowledged survives a SIGKILL (as a center's production broker must).
    pub fn start_durable() -> Result<Self, TestkitError> {
        let mut m = Self::start_with(None)?;
        m.durable = true;
        m.restart()?;
        Ok(m)
    }

    fn start_with(secure: Option<Secure>) -> Result<Self, TestkitError> {
        let dir = tempfile::Builder::new()
            .prefix("vigia-mosquitto")
            .tempdir()?;
        // Started as root, mosquitto drops to the `mosquitto` user: it must be able to write
        // its log and persistence (sessions, queued messages) here.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        }
        let mut m = Self {
            child: None,
            port: free_port()?,
            dir,
            secure,
            durable: false,
        };
        m.write_security()?;
        m.spawn()?;
        Ok(m)
    }

    /// Copies the TLS files where the broker (which drops root for the `mosquitto` user)
    /// can read them, and writes the password file with `mosquitto_passwd`.
    fn write_security(&self) -> Result<(), TestkitError> {
        use std::os::unix::fs::PermissionsExt;
        let Some(sec) = &self.secure else {
            return Ok(());
        };
        let dir = self.dir.path();
        for (from, name) in [
            (&sec.ca, "ca.pem"),
            (&sec.cert, "server.pem"),
            (&sec.key, "server.key"),
        ] {
            let to = dir.join(name);
            std::fs::copy(from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
        }
        let passwd = dir.join("passwd");
        std::fs::write(&passwd, "")?;
        for (user, password) in &sec.users {
            let status = Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwd)
                .arg(user)
                .arg(password)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| {
                    TestkitError::Mosquitto(format!(
                        "mosquitto_passwd (Debian package mosquitto) could not run: {e}"
                    ))
                })?;
            if !status.success() {
                return Err(TestkitError::Mosquitto(format!(
                    "mosquitto_passwd failed with {status}"
                )));
            }
        }
        std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644))?;
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        let conf = self.dir.path().join("mosquitto.conf");
        let dir = self.dir.path().display();
        let mut text = format!(
            "listener {port} 127.0.0.1\npersistence true\npersistence_location {dir}/\nlog_dest file {dir}/mosquitto.log\nmax_queued_messages 100000\n",
            port = self.port,
        );
        if self.durable {
            text.push_str("autosave_on_changes true\nautosave_interval 1\n");
        }
        match &self.secure {
            None => text.push_str("allow_anonymous true\n"),
            Some(sec) => text.push_str(&format!(
                "cafile {dir}/ca.pem\ncertfile {dir}/server.pem\nkeyfile {dir}/server.key\nrequire_certificate {}\nallow_anonymous false\npassword_file {dir}/passwd\n",
                sec.require_client_cert
            )),
        }
        std::fs::write(&conf, text)?;
        let child = Command::new(binary()?)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(TestkitError::Mosquitto(format!(
                    "exited with {status}; log: {}",
                    std::fs::read_to_string(self.dir.path().join("mosquitto.log"))
                        .unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(TestkitError::Mosquitto(format!(
            "not accepting connections on port {} after 10 s",
            self.port
        )))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's log so far (for test failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// `mqtt://127.0.0.1:<port>`, or `mqtts://…` for a secure broker.
    pub fn url(&self) -> String {
        let scheme = if self.secure.is_some() {
            "mqtts"
        } else {
            "mqtt"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stops the broker the way an operator does (SIGTERM): it saves its persistent
    /// sessions and queued messages first. Falls back to SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = crate::terminate(c.id());
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the broker (SIGKILL: like a crash; unsaved broker state is lost).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the broker process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the broker again on the same port, with the same persistence.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop();
        self.spawn()
    }

    /// Kills the broker (SIGKILL) and starts it again on the same port: a crash and a
    /// restart by its supervisor.
    pub fn crash_and_restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        self.spawn()
    }

    /// Starts a stopped broker again on the same port.
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
