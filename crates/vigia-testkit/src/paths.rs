//! Where tests find the project and the shared real data.

use std::path::PathBuf;

use crate::TestkitError;

/// The workspace root (where the root Cargo.toml is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the testkit lives in crates/vigia-testkit of the workspace")
}

/// The shared folder of real models and data: `$VIGIA_SHARED_DIR`, else `../shared` beside
/// the project. `Err` names where it looked (tests skip with that message).
pub fn shared_dir() -> Result<PathBuf, TestkitError> {
    if let Some(d) = std::env::var_os("VIGIA_SHARED_DIR").map(PathBuf::from) {
        if d.is_dir() {
            return Ok(d);
        }
        return Err(TestkitError::MissingData(format!(
            "VIGIA_SHARED_DIR={} is not a directory",
            d.display()
        )));
    }
    let d = project_root().join("../shared");
    if d.is_dir() {
        return d.canonicalize().map_err(TestkitError::Io);
    }
    Err(TestkitError::MissingData(format!(
        "{} not found (real test data; set VIGIA_SHARED_DIR to use another place)",
        d.display()
    )))
}

/// A file under the shared folder, or `Err` with the reason it is unavailable.
pub fn shared_file(rel: &str) -> Result<PathBuf, TestkitError> {
    let p = shared_dir()?.join(rel);
    if p.exists() {
        Ok(p)
    } else {
        Err(TestkitError::MissingData(format!(
            "{} not found",
            p.display()
        )))
    }
}

/// Reports a skipped test on stderr, so a skip is visible in the test output rather than
/// passing silently. In CI (`CI=true`) the real data must be there: the test fails.
#[allow(clippy::print_stderr)]
pub fn skip(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test}: the real test data is missing in CI: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// Reports a test skipped because this machine cannot do what it needs (a sandbox that
/// refuses containers, no registry), in CI too: unlike missing data, the set-up cannot fix
/// it. Say in the docs which tests may skip this way.
#[allow(clippy::print_stderr)]
pub fn skip_unsupported(test: &str, reason: &str) {
    eprintln!("SKIPPED {test} (not possible on this machine): {reason}");
}

/// Whether this runs in CI (`CI=true`), where tests never skip for missing data.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Returns the shared file or skips the calling test (returns from it) with a message.
#[macro_export]
macro_rules! shared_or_skip {
    ($rel:expr) => {
        match $crate::paths::shared_file($rel) {
            Ok(p) => p,
            Err(reason) => {
                $crate::paths::skip(module_path!(), &reason.to_string());
                return;
            }
        }
    };
}
