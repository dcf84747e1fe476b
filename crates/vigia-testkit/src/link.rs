//! A TCP link that can be cut for real: forwards `127.0.0.1:<port>` to an upstream until
//! [`Link::cut`], after which nothing goes through in either direction and nothing is
//! closed — open connections go silent, new ones are accepted and left silent — as when a
//! cable is pulled or a firewall drops packets (no RST, no FIN: only the client's own
//! timeouts notice). [`Link::restore`] closes what was cut and forwards again.

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The link on a free 127.0.0.1 port; stops on drop.
pub struct Link {
    port: u16,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Link {
    /// Starts forwarding to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (cut, _) = watch::channel(false);
        let tx = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, tx.subscribe()));
            }
        });
        Ok(Self { port, cut, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts the link: nothing more goes through, nothing is closed.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Mends it: the connections that were cut are closed, new ones go through.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the link is `cut` (or the [`Link`] is gone).
async fn until(rx: &mut watch::Receiver<bool>, cut: bool) {
    let _ = rx.wait_for(|c| *c == cut).await;
}

async fn serve(client: TcpStream, upstream: u16, mut rx: watch::Receiver<bool>) {
    if *rx.borrow() {
        // Accepted while cut: held open and silent until mended, then closed.
        until(&mut rx, false).await;
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut cr, &mut sw) => {
            let _ = sw.shutdown().await;
        }
        _ = tokio::io::copy(&mut sr, &mut cw) => {
            let _ = cw.shutdown().await;
        }
        _ = until(&mut rx, true) => {
            // Cut: the four halves stay open, nothing moves, until mended.
            until(&mut rx, false).await;
        }
    }
}
