//! The tracing subscriber.

use tracing_subscriber::EnvFilter;

use crate::TelemetryError;
use crate::config::LogFormat;

/// Noisy dependencies kept quiet unless the filter names them. The embedded broker
/// (rumqttd) logs every client disconnect as an error, so it is off.
const QUIET: &[&str] = &["rumqttd=off", "rumqttc=warn", "ort=warn"];

/// Installs the global subscriber, writing to stderr (stdout is left for command output).
/// `RUST_LOG`, when set, replaces `filter`. Fails when the filter is invalid; a second call
/// is a no-op (tests may call it many times).
pub fn init(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    let mut directives = filter.to_string();
    if let Ok(env) = std::env::var("RUST_LOG")
        && !env.trim().is_empty()
    {
        directives = env;
    }
    for q in QUIET {
        let target = q.split('=').next().unwrap_or_default();
        if !directives.contains(target) {
            directives.push(',');
            directives.push_str(q);
        }
    }
    let env_filter = EnvFilter::try_new(&directives).map_err(|e| TelemetryError::LogFilter {
        filter: directives.clone(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_target(true).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // Already installed (e.g. by another test in this process): keep the first one.
    let _ = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_bad_filter_and_accepts_a_good_one_twice() {
        // SAFETY-free: only reads RUST_LOG; tests do not set it.
        if std::env::var("RUST_LOG").is_ok() {
            return;
        }
        assert!(init(LogFormat::Text, "info,[[[").is_err());
        assert!(init(LogFormat::Text, "debug").is_ok());
        assert!(init(LogFormat::Json, "info").is_ok());
    }
}
