//! Finding the project-local files the set-up writes (`.vigia/...`).

use std::path::{Path, PathBuf};

/// The folder the set-up fills: the ONNX Runtime library, verified models, demo data.
pub const LOCAL_DIR: &str = ".vigia";

/// Looks for `rel` in the current directory and its parents, then in the directory of the
/// running executable and its parents. Returns the first that exists.
pub fn find_upwards(rel: &Path) -> Option<PathBuf> {
    search_roots()
        .into_iter()
        .map(|root| root.join(rel))
        .find(|p| p.exists())
}

/// The directories [`find_upwards`] tries, in order (for error messages).
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for a in dir.ancestors() {
            if !roots.iter().any(|r| r == a) {
                roots.push(a.to_path_buf());
            }
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_crates_manifest_from_its_own_directory() {
        // Tests run with the crate directory as cwd.
        assert!(find_upwards(Path::new("Cargo.toml")).is_some());
        assert!(find_upwards(Path::new("no/such/file/anywhere.xyz")).is_none());
    }
}
