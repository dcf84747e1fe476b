//! Secrets (camera and broker passwords) from the environment or a file, never from the
//! config file itself and never logged.

use std::path::Path;

/// Reads a secret from the environment variable `env` or the first line of `file` (at most
/// one may be set). `Ok(None)` when neither is set. Errors name the variable or file, never
/// the secret.
pub fn read_secret(env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, String> {
    match (env, file) {
        (Some(_), Some(_)) => Err("set password_env or password_file, not both".to_string()),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("password_env: environment variable {var} is not set")),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("password_file {}: {e}", file.display()))?;
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
        assert!(e.contains("VIGIA_TEST_SURELY_UNSET_VAR"));
        assert!(read_secret(Some("X"), Some(&f)).is_err());
        assert!(
            read_secret(None, Some(&dir.join("missing")))
                .unwrap_err()
                .contains("missing")
        );
    }
}
