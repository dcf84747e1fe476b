//! The etcd side of the fleet: the node's lease and registration, one consistent read of
//! nodes, cameras and owners, and the per-camera ownership keys.
//!
//! Keys under the fleet's prefix `<p>`:
//!
//! | key | value | lease |
//! |---|---|---|
//! | `<p>/nodes/<node>` | JSON `{"node", "http"}` | the node's |
//! | `<p>/cameras/<camera>` | JSON of the camera's `[[cameras]]` entry and its `[[rules]]` | none (`vigia fleet apply`) |
//! | `<p>/owners/<camera>` | the node analysing it | the owner's |

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, LeaseKeepAliveStream, LeaseKeeper,
    PutOptions, Txn, TxnOp,
};

/// Why an etcd operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The cluster answers but cannot decide (no leader: quorum lost). Nobody can take a
    /// camera over, so a node keeps what it holds.
    #[error("etcd has lost its quorum: {0}")]
    NoQuorum(String),
    /// This node's lease is gone (it was cut off longer than the lease): its cameras may
    /// already be someone else's.
    #[error("this node's etcd lease expired")]
    LeaseLost,
    #[error("etcd: {0}")]
    Etcd(String),
}

impl From<etcd_client::Error> for FleetError {
    fn from(e: etcd_client::Error) -> Self {
        let text = e.to_string();
        let lower = text.to_lowercase();
        if lower.contains("no leader") || lower.contains("leader changed") {
            FleetError::NoQuorum(text)
        } else {
            FleetError::Etcd(text)
        }
    }
}

type Result<T> = std::result::Result<T, FleetError>;

/// A failed renewal: `Stale` when the keep-alive stream itself broke at once (worth one
/// more try on a new stream), `Final` otherwise.
enum RenewError {
    Stale(FleetError),
    Final(FleetError),
}
use RenewError::{Final, Stale};

/// One consistent read of the fleet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Live nodes (sorted).
    pub nodes: Vec<String>,
    /// Camera id → (the key's modification revision, its JSON).
    pub cameras: BTreeMap<String, (i64, String)>,
    /// Camera id → the node holding it.
    pub owners: BTreeMap<String, String>,
    /// Camera id → the lease its ownership key lives under (a node's lease changes when
    /// it registers again, or when the process restarts).
    pub owner_leases: BTreeMap<String, i64>,
}

/// A node's connection to the fleet.
pub struct FleetStore {
    client: Client,
    prefix: String,
    node: String,
    ttl: i64,
    /// The longest wait for one request ([`FleetStore::wait_for`]).
    wait: Duration,
    /// The node's lease, while it is believed alive.
    lease: Option<i64>,
    /// Its keep-alive stream (opened again after a broken connection).
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    /// One client per member, to ask each whether it sees a leader.
    members: Vec<(String, Option<Client>)>,
}

impl FleetStore {
    /// How long one request may take: a fifth of the lease (0.4–2 s), so that after a
    /// renewal that got no answer there is time to ask the members whether the cluster
    /// has a leader, and to renew through another, before the lease ends.
    pub fn wait_for(ttl_secs: u64) -> Duration {
        Duration::from_millis((ttl_secs * 1000 / 5).clamp(400, 2000))
    }

    fn options(wait: Duration) -> ConnectOptions {
        ConnectOptions::new()
            .with_connect_timeout(wait)
            .with_timeout(wait)
            .with_keep_alive(Duration::from_secs(1), wait)
    }

    /// Connects to the cluster (any reachable member).
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        node: &str,
        ttl_secs: u64,
    ) -> Result<Self> {
        let wait = Self::wait_for(ttl_secs);
        let client = Client::connect(endpoints, Some(Self::options(wait))).await?;
        let members = endpoints.iter().map(|e| (e.clone(), None)).collect();
        Ok(Self {
            members,
            client,
            prefix: prefix.trim_end_matches('/').to_string(),
            node: node.to_string(),
            ttl: ttl_secs as i64,
            wait,
            lease: None,
            keeper: None,
        })
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}/{kind}/{name}", self.prefix)
    }

    /// Whether the node holds a lease (registered and not known to be expired).
    pub fn registered(&self) -> bool {
        self.lease.is_some()
    }

    /// The node's lease, while it holds one.
    pub fn lease_id(&self) -> Option<i64> {
        self.lease
    }

    /// Grants a lease and registers the node under it (`info`: JSON about the node).
    pub async fn register(&mut self, info: &str) -> Result<()> {
        let grant = self.client.lease_grant(self.ttl, None).await?;
        let id = grant.id();
        let key = self.key("nodes", &self.node);
        self.client
            .put(key, info, Some(PutOptions::new().with_lease(id)))
            .await?;
        self.lease = Some(id);
        self.keeper = Some(self.client.lease_keep_alive(id).await?);
        Ok(())
    }

    /// Renews the lease (call a few times per `lease_ttl_secs`); the TTL etcd granted.
    /// A keep-alive stream that broke (its member died, the client moved to other
    /// members) is opened again on the same lease and the renewal tried once more; only
    /// etcd saying the lease is gone is [`FleetError::LeaseLost`].
    pub async fn renew(&mut self) -> Result<Duration> {
        let first = match self.renew_once().await {
            Err(Stale(_)) => self.renew_once().await,
            r => r,
        };
        first.map_err(|e| match e {
            Stale(e) | Final(e) => e,
        })
    }

    /// How long etcd will keep the lease alive without a renewal (`LeaseTimeToLive`, a
    /// plain request: answers where a keep-alive stream cannot be opened).
    pub async fn lease_left(&mut self) -> Result<Duration> {
        let Some(id) = self.lease else {
            return Err(FleetError::LeaseLost);
        };
        let ttl = self.client.lease_time_to_live(id, None).await?.ttl();
        if ttl <= 0 {
            self.lease = None;
            self.keeper = None;
            return Err(FleetError::LeaseLost);
        }
        Ok(Duration::from_secs(ttl as u64))
    }

    async fn renew_once(&mut self) -> std::result::Result<Duration, RenewError> {
        let Some(id) = self.lease else {
            return Err(Final(FleetError::LeaseLost));
        };
        if self.keeper.is_none() {
            let opened = self.client.lease_keep_alive(id).await;
            self.keeper = Some(opened.map_err(|e| Final(e.into()))?);
        }
        let (keeper, stream) = self.keeper.as_mut().expect("opened above");
        let sent = keeper.keep_alive().await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(self.wait, stream.message()).await,
            Err(e) => Ok(Err(e)),
        };
        match answer {
            Ok(Ok(Some(r))) if r.ttl() > 0 => Ok(Duration::from_secs(r.ttl() as u64)),
            Ok(Ok(Some(_))) => {
                self.lease = None;
                self.keeper = None;
                Err(Final(FleetError::LeaseLost))
            }
            Ok(Ok(None)) => {
                self.keeper = None;
                Err(Stale(FleetError::Etcd(
                    "the lease keep-alive stream closed".into(),
                )))
            }
            Ok(Err(e)) => {
                self.keeper = None;
                Err(Stale(e.into()))
            }
            Err(_) => {
                self.keeper = None;
                Err(Final(FleetError::Etcd(format!(
                    "no keep-alive answer within {:?}",
                    self.wait
                ))))
            }
        }
    }

    /// Forgets the lease: the next [`FleetStore::register`] starts a new one.
    pub fn drop_lease(&mut self) {
        self.lease = None;
        self.keeper = None;
    }

    /// Whether the cluster has a leader, asking every member: `Some(true)` when one sees a
    /// leader, `Some(false)` when members answer but none sees one (quorum lost: nobody
    /// can take cameras over), `None` when no member answers (this node is cut off).
    /// When one sees a leader, this store talks only to the members that do from now on.
    pub async fn cluster_has_leader(&mut self) -> Option<bool> {
        let (answered, healthy) = self.ask_members().await;
        // Requests of the main client may keep going to members that are down: talk to
        // the ones that answered with a leader from now on (the lease stays the same).
        if answered == Some(true)
            && let Ok(Ok(c)) = tokio::time::timeout(
                self.wait,
                Client::connect(healthy.as_slice(), Some(Self::options(self.wait))),
            )
            .await
        {
            self.client = c;
            self.keeper = None;
        }
        answered
    }

    /// [`FleetStore::cluster_has_leader`] within one wait, and nothing else.
    pub async fn leader_seen(&mut self) -> Option<bool> {
        self.ask_members().await.0
    }

    /// Every member's status at once, each within one wait (a member that does not
    /// answer costs one wait, not one each): the answer, and the members seeing a leader.
    async fn ask_members(&mut self) -> (Option<bool>, Vec<String>) {
        let wait = self.wait.min(Duration::from_secs(1));
        let asked = self.members.iter_mut().map(|(endpoint, client)| {
            let ask = async move {
                if client.is_none() {
                    let opts = ConnectOptions::new()
                        .with_connect_timeout(wait)
                        .with_timeout(wait);
                    *client = Client::connect([endpoint.as_str()], Some(opts)).await.ok();
                }
                let status = client.as_mut()?.status().await;
                match status {
                    Ok(st) => Some((endpoint.clone(), st.leader() != 0)),
                    Err(_) => {
                        *client = None;
                        None
                    }
                }
            };
            async move { tokio::time::timeout(wait, ask).await.ok().flatten() }
        });
        let answers = futures_util::future::join_all(asked).await;
        let mut answered = None;
        let mut healthy = Vec::new();
        for (endpoint, leader) in answers.into_iter().flatten() {
            if leader {
                answered = Some(true);
                healthy.push(endpoint);
            } else if answered.is_none() {
                answered = Some(false);
            }
        }
        (answered, healthy)
    }

    /// Nodes, cameras and owners in one read.
    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        let all = self
            .client
            .get(
                format!("{}/", self.prefix),
                Some(GetOptions::new().with_prefix()),
            )
            .await?;
        let mut s = Snapshot::default();
        let strip = format!("{}/", self.prefix);
        for kv in all.kvs() {
            let (Ok(key), Ok(value)) = (kv.key_str(), kv.value_str()) else {
                continue;
            };
            let Some((kind, name)) = key.strip_prefix(&strip).and_then(|k| k.split_once('/'))
            else {
                continue;
            };
            match kind {
                "nodes" => s.nodes.push(name.to_string()),
                "cameras" => {
                    s.cameras
                        .insert(name.to_string(), (kv.mod_revision(), value.to_string()));
                }
                "owners" => {
                    s.owners.insert(name.to_string(), value.to_string());
                    s.owner_leases.insert(name.to_string(), kv.lease());
                }
                _ => {}
            }
        }
        s.nodes.sort();
        Ok(s)
    }

    /// Takes `camera` if nobody holds it; whether this node holds it now.
    pub async fn acquire(&mut self, camera: &str) -> Result<bool> {
        let Some(lease) = &self.lease else {
            return Err(FleetError::LeaseLost);
        };
        let key = self.key("owners", camera);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                self.node.clone(),
                Some(PutOptions::new().with_lease(*lease)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let r = self.client.txn(txn).await?;
        if r.succeeded() {
            return Ok(true);
        }
        // Already ours, under this lease (a retried acquire after a lost answer)? A key
        // of this node's name under another lease is a previous process's: it is freed
        // when that lease expires.
        let mine = r.op_responses().into_iter().any(|op| match op {
            etcd_client::TxnOpResponse::Get(g) => g
                .kvs()
                .iter()
                .any(|kv| kv.lease() == *lease && kv.value_str().is_ok_and(|v| v == self.node)),
            _ => false,
        });
        Ok(mine)
    }

    /// Gives `camera` up, if this node holds it.
    pub async fn release(&mut self, camera: &str) -> Result<()> {
        let key = self.key("owners", camera);
        let txn = Txn::new()
            .when([Compare::value(
                key.clone(),
                CompareOp::Equal,
                self.node.clone(),
            )])
            .and_then([TxnOp::delete(key, None)]);
        self.client.txn(txn).await?;
        Ok(())
    }

    /// Replaces the camera list with `cameras` (id, JSON): puts each (unchanged ones
    /// keep their revision), deletes the others. Returns (written, deleted).
    pub async fn put_cameras(&mut self, cameras: &[(String, String)]) -> Result<(usize, usize)> {
        let current = self.snapshot().await?;
        let mut written = 0;
        for (id, json) in cameras {
            if current.cameras.get(id).is_some_and(|(_, v)| v == json) {
                continue;
            }
            self.client
                .put(self.key("cameras", id), json.as_str(), None)
                .await?;
            written += 1;
        }
        let mut deleted = 0;
        for id in current.cameras.keys() {
            if !cameras.iter().any(|(c, _)| c == id) {
                self.client.delete(self.key("cameras", id), None).await?;
                deleted += 1;
            }
        }
        Ok((written, deleted))
    }
}
