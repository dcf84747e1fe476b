//! A TCP chaos proxy: forwards a client (vigia) to an upstream (the broker) and breaks each
//! connection at a random point — mid-PUBLISH, after a PUBLISH before its PUBACK,
//! mid-PUBACK — or leaves it half-open (stops forwarding without closing, so only the
//! client's keep-alive notices). Counts what it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How connections are broken.
#[derive(Debug, Clone)]
pub struct ChaosPlan {
    pub seed: u64,
    /// Client → upstream bytes a connection carries before it is cut: uniform in 1..=this.
    pub max_up_bytes: usize,
    /// Upstream → client bytes before the cut: uniform in 1..=this.
    pub max_down_bytes: usize,
    /// Every n-th connection is left half-open instead of cut (0: never).
    pub half_open_every: u64,
    /// How long a half-open connection is held before the proxy drops it.
    pub half_open_hold: Duration,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ChaosStats {
    pub connections: AtomicU64,
    /// Cut when the client → upstream budget ran out (mid-PUBLISH or between them).
    pub cut_upstream: AtomicU64,
    /// Cut when the upstream → client budget ran out (mid-PUBACK, or PUBACKs not sent).
    pub cut_downstream: AtomicU64,
    pub half_open: AtomicU64,
}

impl ChaosStats {
    /// Connections broken on purpose.
    pub fn breaks(&self) -> u64 {
        self.cut_upstream.load(Ordering::Relaxed)
            + self.cut_downstream.load(Ordering::Relaxed)
            + self.half_open.load(Ordering::Relaxed)
    }
}

/// The proxy on a free 127.0.0.1 port; stops on drop.
pub struct ChaosProxy {
    port: u16,
    pub stats: Arc<ChaosStats>,
    task: JoinHandle<()>,
}

impl ChaosProxy {
    /// Starts forwarding `127.0.0.1:<port>` to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16, plan: ChaosPlan) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(ChaosStats::default());
        let st = stats.clone();
        let task = tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(plan.seed);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let n = st.connections.fetch_add(1, Ordering::Relaxed) + 1;
                let half_open = plan.half_open_every > 0 && n % plan.half_open_every == 0;
                let up = rng.usize(1..=plan.max_up_bytes.max(1));
                let down = rng.usize(1..=plan.max_down_bytes.max(1));
                let (st, hold) = (st.clone(), plan.half_open_hold);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    serve(client, server, up, down, half_open, hold, &st).await;
                });
            }
        });
        Ok(Self { port, stats, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` → `to` until `budget` bytes went through (the last chunk cut at the
/// budget) or `from` ends. Returns true when the budget ran out.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut budget: usize,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let take = n.min(budget);
        if to.write_all(&buf[..take]).await.is_err() {
            return false;
        }
        budget -= take;
        if budget == 0 {
            return true;
        }
    }
}

async fn serve(
    client: TcpStream,
    server: TcpStream,
    up: usize,
    down: usize,
    half_open: bool,
    hold: Duration,
    st: &ChaosStats,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let upstream_cut = tokio::select! {
        cut = pump(&mut cr, &mut sw, up) => cut.then_some(true),
        cut = pump(&mut sr, &mut cw, down) => cut.then_some(false),
    };
    match upstream_cut {
        // A side closed on its own: nothing to count.
        None => {}
        Some(_) if half_open => {
            st.half_open.fetch_add(1, Ordering::Relaxed);
            // Nothing more is forwarded, nothing is closed: the client must notice by
            // itself (keep-alive).
            tokio::time::sleep(hold).await;
        }
        Some(true) => {
            st.cut_upstream.fetch_add(1, Ordering::Relaxed);
        }
        Some(false) => {
            st.cut_downstream.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Dropping the halves closes both connections.
}
