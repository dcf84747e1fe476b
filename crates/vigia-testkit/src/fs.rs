//! A small real filesystem (tmpfs) that tests fill up to make real ENOSPC errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestkitError;

/// A tmpfs of a fixed size mounted on a fresh temporary directory; unmounted on drop.
/// Needs root (or a user namespace that allows mounts): [`SmallFs::mount`] says so when
/// the system refuses.
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    pub fn mount(bytes: u64) -> Result<Self, TestkitError> {
        let dir = tempfile::tempdir()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()?;
        if !out.status.success() {
            return Err(TestkitError::Unsupported(format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the filesystem.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a filler file of up to `bytes` (as much as fits); returns its path.
    pub fn fill(&self, name: &str, bytes: usize) -> PathBuf {
        use std::io::Write;
        let p = self.join(name);
        if let Ok(mut f) = std::fs::File::create(&p) {
            let chunk = vec![0xA5u8; 4096];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if f.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
            let _ = f.sync_all();
        }
        p
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
