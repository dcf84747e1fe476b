//! A minimal HTTP/1.1 GET and POST for tests (no client library needed for the node's few endpoints).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on `127.0.0.1:port`; returns the status code and the body.
pub async fn get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    request(port, "GET", path).await
}

/// `POST path` with an empty body; returns the status code and the body as text.
pub async fn post_text(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let (code, body) = request(port, "POST", path).await?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

async fn request(port: u16, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    send(port, method, path, &[], b"").await
}

/// `method path` with extra `headers` and `body`; returns the status code and the body.
pub async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await?;
    s.write_all(body).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?
        + 4;
    let code = std::str::from_utf8(buf.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status"))?;
    Ok((code, buf[head_end..].to_vec()))
}

/// Like [`get`], with the body as text.
pub async fn get_text(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let (code, body) = get(port, path).await?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}
