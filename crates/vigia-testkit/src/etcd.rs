//! A real etcd cluster (Debian's `etcd-server`) of N members on free loopback ports, each
//! member a process that can be killed (SIGKILL) and started again on its data. Stopped on
//! drop.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestkitError;

struct Member {
    name: String,
    client: u16,
    peer: u16,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// The cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    initial: String,
    _dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Whether the `etcd` binary is installed.
    pub fn available() -> bool {
        Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts `n` members and waits until every one answers `/health` (a leader elected).
    pub fn start(n: usize) -> Result<Self, TestkitError> {
        if !Self::available() {
            return Err(TestkitError::Unsupported(
                "etcd is not installed (Debian: etcd-server; deploy/setup.sh installs it)".into(),
            ));
        }
        let dir = tempfile::tempdir()?;
        let mut members = Vec::new();
        for i in 0..n {
            members.push(Member {
                name: format!("m{i}"),
                client: crate::free_port()?,
                peer: crate::free_port()?,
                data: dir.path().join(format!("m{i}")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
            });
        }
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            members,
            initial,
            _dir: dir,
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        for i in 0..n {
            cluster.wait_healthy(i, Duration::from_secs(30))?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<(), TestkitError> {
        let initial = self.initial.clone();
        let m = &mut self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)?;
        let child = Command::new("etcd")
            .args(["--name", &m.name, "--data-dir"])
            .arg(&m.data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "vigia-test",
                "--heartbeat-interval",
                "100",
                "--election-timeout",
                "1000",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        m.child = Some(child);
        Ok(())
    }

    /// Waits until member `i` says it is healthy (it has a leader).
    pub fn wait_healthy(&self, i: usize, within: Duration) -> Result<(), TestkitError> {
        let deadline = Instant::now() + within;
        let port = self.members[i].client;
        while Instant::now() < deadline {
            if health(port).is_some_and(|body| body.contains("\"true\"")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(TestkitError::Unsupported(format!(
            "etcd member {i} not healthy within {within:?}: {}",
            self.log(i)
        )))
    }

    /// Client URLs of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect()
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The member that is the cluster's leader now, as the live members say
    /// (`/v3/maintenance/status`); `None` while there is none (an election, no quorum).
    pub fn leader(&self) -> Option<usize> {
        let mut ids = Vec::new();
        let mut leader = None;
        for m in &self.members {
            let status = m.child.as_ref().and_then(|_| status(m.client));
            let id = status
                .as_ref()
                .and_then(|s| s["header"]["member_id"].as_str().map(str::to_string));
            if let Some(l) = status.as_ref().and_then(|s| s["leader"].as_str()) {
                leader = Some(l.to_string());
            }
            ids.push(id);
        }
        let leader = leader?;
        ids.iter()
            .position(|id| id.as_deref() == Some(leader.as_str()))
    }

    /// Starts member `i` again on its data.
    pub fn restart(&mut self, i: usize) -> Result<(), TestkitError> {
        self.kill(i);
        self.spawn(i)
    }

    /// The end of member `i`'s log.
    pub fn log(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.members[i].log).unwrap_or_default();
        text.chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// `POST /v3/maintenance/status` on a member (etcd's JSON gateway): its member id and the
/// leader it sees, ids as decimal strings.
fn status(port: u16) -> Option<serde_json::Value> {
    let out = exchange(
        port,
        "POST /v3/maintenance/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    )?;
    let body = &out[out.find("\r\n\r\n")? + 4..];
    let body = &body[body.find('{')?..body.rfind('}')? + 1];
    serde_json::from_str(body).ok()
}

/// `GET /health` on a member; the body.
fn health(port: u16) -> Option<String> {
    exchange(
        port,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
}

/// One HTTP/1.1 request to a member (the connection closed after it); the whole answer.
fn exchange(port: u16, request: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
