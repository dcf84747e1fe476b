//! Camera source URLs.
//!
//! - `rtsp://[user[:password]@]host[:port]/path` (also `rtsps://`): a network camera.
//!   Credentials may also come from the camera's `username` / `password_env` /
//!   `password_file`; they are passed to `rtspsrc` as properties and never logged.
//! - `onvif://[user[:password]@]host[:port][/path]`: an ONVIF camera; its RTSP URI is asked
//!   of the device (GetProfiles, GetStreamUri) each time the camera's pipeline starts, with
//!   the same credentials as the stream (see `vigia_onvif`).
//! - `file:///absolute/path.mp4`: a recorded file (MP4, MKV, MPEG-TS; H.264 or H.265).
//! - `test://pattern?width=W&height=H&fps=F`: GStreamer's `videotestsrc` (`pattern` is one
//!   of its pattern names, e.g. `ball`, `smpte`).

use std::path::PathBuf;

use vigia_core::url::percent_decode;

use crate::IngestError;

/// A parsed source.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Rtsp {
        /// The URL without user info.
        url: String,
        user: Option<String>,
        password: Option<String>,
    },
    /// An ONVIF device; resolved to [`Source::Rtsp`] when the pipeline starts.
    Onvif {
        /// `onvif://host[:port][/path]`, without user info.
        device: String,
        user: Option<String>,
        password: Option<String>,
    },
    File {
        path: PathBuf,
    },
    Test {
        pattern: String,
        width: u32,
        height: u32,
        fps: u32,
    },
}

impl Source {
    /// Parses a source URL. The error text never repeats a password.
    pub fn parse(url: &str) -> Result<Self, IngestError> {
        Self::parse_url(url).map_err(IngestError::Source)
    }

    fn parse_url(url: &str) -> Result<Self, String> {
        if let Some(rest) = ["rtsp://", "rtsps://", "onvif://"]
            .into_iter()
            .find_map(|scheme| url.strip_prefix(scheme).map(|r| (scheme, r)))
        {
            let (scheme, rest) = rest;
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let (userinfo, host) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            if host.is_empty() {
                return Err("missing host".to_string());
            }
            let (user, password) = match userinfo {
                None => (None, None),
                Some(ui) => match ui.split_once(':') {
                    Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                    None => (Some(percent_decode(ui)), None),
                },
            };
            let url = format!("{scheme}{host}{path}");
            if scheme == "onvif://" {
                vigia_onvif::DeviceAddress::parse(&url).map_err(|e| e.to_string())?;
                return Ok(Source::Onvif {
                    device: url,
                    user,
                    password,
                });
            }
            return Ok(Source::Rtsp {
                url,
                user,
                password,
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err("file URLs need an absolute path (file:///...)".to_string());
            }
            return Ok(Source::File {
                path: PathBuf::from(percent_decode(path)),
            });
        }
        if let Some(rest) = url.strip_prefix("test://") {
            let (pattern, query) = rest.split_once('?').unwrap_or((rest, ""));
            let pattern = if pattern.is_empty() { "ball" } else { pattern };
            let (mut width, mut height, mut fps) = (640u32, 360u32, 10u32);
            for kv in query.split('&').filter(|s| !s.is_empty()) {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("bad query item {kv:?}"))?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("{k} must be a positive integer, got {v:?}"))?;
                if n == 0 {
                    return Err(format!("{k} must be a positive integer, got 0"));
                }
                match k {
                    "width" => width = n,
                    "height" => height = n,
                    "fps" => fps = n,
                    _ => return Err(format!("unknown parameter {k:?} (width, height, fps)")),
                }
            }
            return Ok(Source::Test {
                pattern: pattern.to_string(),
                width,
                height,
                fps,
            });
        }
        Err("unsupported scheme: use rtsp://, rtsps://, onvif://, file:/// or test://".to_string())
    }

    /// Whether frames come in real time from outside (a live camera).
    pub fn is_live(&self) -> bool {
        !matches!(self, Source::File { .. })
    }
}

/// Replaces the password in a URL's user info with `***` (for logs and errors).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = userinfo_end(rest) else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let masked = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_string(),
    };
    format!("{}{}@{}", &url[..scheme_end + 3], masked, &rest[at + 1..])
}

/// Where the user info of `rest` (a URL after `scheme://`) ends: the `@` before the host.
/// A legal URL has its user info before the first `/`, `?` or `#`, but passwords typed
/// into camera URLs often hold `/`, `?`, `#` or `@` unencoded (`admin:pa/ss@1@cam`), which
/// makes the split ambiguous. So once a URL has user info (an `@` before the first
/// delimiter, or a `:` there), it ends at the last `@` followed
/// by something shaped like a host: when in doubt this hides too much, never too little.
fn userinfo_end(rest: &str) -> Option<usize> {
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let before = &rest[..cut];
    // No `@` and no `:` before the first delimiter: no user info (`h/x@y` is a path).
    // `h:554/x@y` may be a host and port or a user and a password `554/x`: hidden.
    if !before.contains(['@', ':']) {
        return None;
    }
    let host_like = |at: usize| {
        let tail = &rest[at + 1..];
        let host = &tail[..tail.find(['/', '?', '#']).unwrap_or(tail.len())];
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    };
    let ats: Vec<usize> = rest.match_indices('@').map(|(i, _)| i).collect();
    ats.iter()
        .rev()
        .copied()
        .find(|&at| host_like(at))
        .or(ats.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_credentials_are_split_out_and_decoded() {
        let s = Source::parse("rtsp://admin:p%40ss:w@10.0.0.5:554/Streaming/101").unwrap();
        assert_eq!(
            s,
            Source::Rtsp {
                url: "rtsp://10.0.0.5:554/Streaming/101".into(),
                user: Some("admin".into()),
                password: Some("p@ss:w".into()),
            }
        );
        let s = Source::parse("rtsp://cam.local/live").unwrap();
        assert!(matches!(
            s,
            Source::Rtsp {
                user: None,
                password: None,
                ..
            }
        ));
        assert!(Source::parse("rtsp:///nohost").is_err());
    }

    #[test]
    fn onvif_devices_keep_credentials_apart() {
        assert_eq!(
            Source::parse("onvif://admin:p%40ss@10.0.0.7:8080").unwrap(),
            Source::Onvif {
                device: "onvif://10.0.0.7:8080".into(),
                user: Some("admin".into()),
                password: Some("p@ss".into()),
            }
        );
        let e = Source::parse("onvif://admin:hunter2@10.0.0.7:99999").unwrap_err();
        assert!(e.to_string().contains("bad port"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn file_and_test_sources() {
        assert_eq!(
            Source::parse("file:///data/a%20b.mp4").unwrap(),
            Source::File {
                path: "/data/a b.mp4".into()
            }
        );
        assert!(Source::parse("file://relative.mp4").is_err());
        assert_eq!(
            Source::parse("test://smpte?width=320&fps=5").unwrap(),
            Source::Test {
                pattern: "smpte".into(),
                width: 320,
                height: 360,
                fps: 5
            }
        );
        assert!(Source::parse("test://ball?fps=0").is_err());
        assert!(Source::parse("test://ball?depth=3").is_err());
        assert!(Source::parse("http://x").is_err());
    }

    #[test]
    fn redaction_hides_passwords_only() {
        assert_eq!(
            redact_url("rtsp://admin:secret@10.0.0.5/live"),
            "rtsp://admin:***@10.0.0.5/live"
        );
        assert_eq!(redact_url("rtsp://admin@h/x"), "rtsp://admin@h/x");
        assert_eq!(redact_url("rtsp://h/x@y"), "rtsp://h/x@y");
        assert_eq!(redact_url("file:///a"), "file:///a");
        assert_eq!(redact_url("rtsp://cam:554/live"), "rtsp://cam:554/live");
        // Ambiguous (a port and a path, or a password `554/x`): hidden.
        assert_eq!(redact_url("rtsp://cam:554/x@y"), "rtsp://cam:***@y");
    }

    #[test]
    fn redaction_handles_passwords_with_url_delimiters() {
        for (url, want) in [
            (
                "rtsp://admin:pa/ss@10.0.0.5/live",
                "rtsp://admin:***@10.0.0.5/live",
            ),
            (
                "rtsp://admin:pa#ss@10.0.0.5:554/live",
                "rtsp://admin:***@10.0.0.5:554/live",
            ),
            ("rtsp://admin:p?a@ss@h/x", "rtsp://admin:***@h/x"),
            ("rtsp://admin:p%2Fss@h/x", "rtsp://admin:***@h/x"),
            ("rtsp://admin:@h/x", "rtsp://admin:***@h/x"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_password_survives_redaction(
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9/#?@:!$%&*]{6,16}",
            host in "[a-z]{1,8}(\\.[a-z]{2,5})?",
            port in proptest::option::of(1u16..65535),
            path in "(/[a-z0-9@]{0,8}){0,3}",
        ) {
            // A password that is also a piece of the host or path cannot be told apart.
            proptest::prop_assume!(!host.contains(&password) && !path.contains(&password));
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let url = format!("rtsp://{user}:{password}@{host}{port}{path}");
            let red = redact_url(&url);
            proptest::prop_assert!(!red.contains(&password), "{url} -> {red}");
            proptest::prop_assert!(red.starts_with(&format!("rtsp://{user}:***@")), "{red}");
        }
    }
}
