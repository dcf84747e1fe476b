//! `vigia run` as a child process, for the tests that need the real binary (signals,
//! `kill -9`, restarts).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A running `vigia run --config FILE`, its log in a file; killed when dropped.
pub struct VigiaProcess {
    pub child: Child,
}

impl VigiaProcess {
    pub fn spawn(config: &Path, log: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_vigia"))
            .args(["run", "--config"])
            .arg(config)
            .current_dir(vigia_testkit::paths::project_root())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Self { child }
    }

    /// Sends a signal (`-HUP`, `-TERM`, ...) with `kill`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig}");
    }

    /// SIGKILL, then waits.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (vigia drains), then waits.
    pub fn terminate(mut self) -> ExitStatus {
        vigia_testkit::terminate(self.child.id()).unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for VigiaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
