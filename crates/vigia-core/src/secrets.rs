//! Secrets (camera and broker passwords) from the environment or a file, never from the
//! config file itself and never logged.

use std::path::Path;

/// Why a secret could not be read. Names the variable or file, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("set password_env or password_file, not both")]
    Both,
    #[error("password_env: environment variable {0} is not set")]
    EnvUnset(String),
    #[error("password_file {path}: {message}")]
    File { path: String, message: String },
}

/// Reads a secret from the environment variable `env` or the first line of `file` (at most
/// one may be set). `Ok(None)` when neither is set.
pub fn read_secret(env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, SecretError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(SecretError::Both),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| SecretError::EnvUnset(var.to_string())),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| SecretError::File {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(Some(text.lines().next().unwrap_or_default().to_string()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_neither_and_both() {
        let dir = std::env::temp_dir().join(format!("vigia-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        assert_eq!(
            read_secret(None, Some(&f)).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(read_secret(None, None).unwrap(), None);
        let e = read_secret(Some("VIGIA_TEST_SURELY_UNSET_VAR"), None).unwrap_err();
        assert!(e.to_string().contains("VIGIA_TEST_SURELY_UNSET_VAR"));
        assert!(read_secret(Some("X"), Some(&f)).is_err());
        assert!(
            read_secret(None, Some(&dir.join("missing")))
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
    }
}
