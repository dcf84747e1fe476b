//! The console's page, script and stylesheet, embedded in the binary and served gzipped to
//! browsers that accept it (compressed once, at first use) with an `ETag`, so a console
//! opened again revalidates with a 304 instead of downloading them.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    pub text: &'static str,
    kind: &'static str,
    gzip: OnceLock<Vec<u8>>,
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(text: &'static str, kind: &'static str) -> Self {
        Self {
            text,
            kind,
            gzip: OnceLock::new(),
            etag: OnceLock::new(),
        }
    }

    fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| {
            use std::io::Write as _;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(self.text.as_bytes())
                .and_then(|()| enc.finish())
                .expect("gzip into memory cannot fail")
        })
    }

    /// A strong validator: FNV-1a of the content (it changes with every upgrade that changes
    /// the file, and only then).
    fn etag(&self) -> &str {
        self.etag.get_or_init(|| {
            let hash = self.text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("\"{hash:016x}\"")
        })
    }

    /// The response to a `GET` with `headers`: 304 when the browser has this version, the
    /// gzipped bytes when it accepts gzip, else the text.
    pub fn serve(&'static self, headers: &HeaderMap) -> Response {
        let etag = self.etag();
        let common = [
            (header::CONTENT_TYPE, self.kind),
            // Always revalidate (cheap with the ETag): an upgraded node serves its new files.
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "accept-encoding"),
        ];
        let has = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim() == etag));
        let etag = HeaderValue::from_str(etag).expect("hex in quotes is a header value");
        if has {
            return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
        }
        let gzip = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        if gzip {
            let enc = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (common, [(header::ETAG, etag), enc], self.gzip()).into_response()
        } else {
            (common, [(header::ETAG, etag)], self.text).into_response()
        }
    }
}

pub static INDEX: Asset = Asset::new(
    include_str!("assets/index.html"),
    "text/html; charset=utf-8",
);
pub static SCRIPT: Asset = Asset::new(
    include_str!("assets/console.js"),
    "text/javascript; charset=utf-8",
);
pub static STYLE: Asset = Asset::new(
    include_str!("assets/console.css"),
    "text/css; charset=utf-8",
);
/// The login page (`{{message}}` stands for the refusal's text; served as it is).
pub const LOGIN: &str = include_str!("assets/login.html");

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> Vec<u8> {
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn assets_are_gzipped_when_accepted_and_revalidated_by_etag() {
        let mut h = HeaderMap::new();
        let plain = SCRIPT.serve(&h);
        assert_eq!(plain.status(), StatusCode::OK);
        let etag = plain.headers()[header::ETAG].clone();
        assert_eq!(body(plain).await, SCRIPT.text.as_bytes());
        h.insert(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br".parse().unwrap(),
        );
        let zipped = SCRIPT.serve(&h);
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let bytes = body(zipped).await;
        assert!(bytes.len() * 2 < SCRIPT.text.len(), "{} bytes", bytes.len());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(text, SCRIPT.text);
        h.insert(header::IF_NONE_MATCH, etag.clone());
        let again = SCRIPT.serve(&h);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body(again).await.is_empty());
        assert_ne!(STYLE.serve(&HeaderMap::new()).headers()[header::ETAG], etag);
    }
}
