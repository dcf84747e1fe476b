//! A fleet node ([`vigia_fleet`]): registers with etcd, and every `poll_ms` compares the
//! cameras the assignment gives it with those it runs — takes a free camera it is assigned
//! (its ownership key first, then its pipeline), gives up one assigned elsewhere (pipeline
//! first, then the key), restarts one whose entry changed.
//!
//! Losing etcd: while the cluster answers without a quorum nobody can take a camera over,
//! so the node keeps what it holds and says so (`/readyz` `fleet`, `vigia_fleet_connected`
//! 0). Cut off from every member for longer than its lease, its keys may have expired and
//! its cameras been taken: it stops them, so a camera is never analysed twice for longer
//! than one lease.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use vigia_analytics::CameraRules;
use vigia_core::{CameraId, Shutdown};
use vigia_fleet::{FleetConfig, FleetError, FleetStore, Snapshot};
use vigia_ingest::CameraConfig;
use vigia_rules::RuleConfig;
use vigia_telemetry::Metrics;

use super::cameras::Cameras;
use super::views::FleetView;
use crate::config::Config;

/// A camera as `vigia fleet apply` stores it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetCamera {
    pub camera: CameraConfig,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// The fleet task's state.
pub struct FleetNode {
    cfg: FleetConfig,
    prefix: String,
    node: String,
    utc_offset: chrono::FixedOffset,
    /// Cameras linked to alarm inputs (their frames go to analytics).
    alarm_cameras: HashSet<CameraId>,
    /// Cameras of the local file: never taken from the fleet.
    local: HashSet<String>,
    /// Whether the workers loaded the plate reader (LPR cameras can run here).
    plates_loaded: bool,
    cameras: Arc<Mutex<Cameras>>,
    metrics: Arc<Metrics>,
    store: Option<FleetStore>,
    /// Camera → the revision of its entry that runs.
    held: BTreeMap<String, i64>,
    /// Entries that could not be read (camera → revision), not retried until they change.
    unreadable: HashMap<String, i64>,
    last_renew: Instant,
    /// Until when etcd keeps the lease alive at least, by this node's clock (from the
    /// moment the last renewal or TTL question was sent, plus the TTL etcd answered).
    lease_until: Instant,
    /// etcd was last seen without a quorum (cameras are kept while it lasts).
    no_quorum: bool,
}

impl FleetNode {
    pub fn new(
        fleet: FleetConfig,
        cfg: &Config,
        cameras: Arc<Mutex<Cameras>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            prefix: fleet.prefix_for(&cfg.site),
            cfg: fleet,
            node: cfg.node.clone(),
            utc_offset: cfg.utc_offset,
            alarm_cameras: cfg
                .alarms
                .inputs
                .iter()
                .flat_map(|i| i.cameras.clone())
                .collect(),
            local: cfg.cameras.iter().map(|c| c.id.to_string()).collect(),
            plates_loaded: cfg.cameras.iter().any(|c| c.enabled && c.lpr)
                || cfg.fleet.as_ref().is_some_and(|f| f.plate_reader),
            cameras,
            metrics,
            store: None,
            held: BTreeMap::new(),
            unreadable: HashMap::new(),
            last_renew: Instant::now(),
            lease_until: Instant::now(),
            no_quorum: false,
        }
    }

    /// Runs until `stop`; then stops the cameras it holds and only then releases them
    /// (another node may start them as soon as they are released).
    pub async fn run(mut self, stop: Shutdown) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let outcome = self.turn().await;
            self.report(outcome).await;
        }
        let held: Vec<String> = self.held.keys().cloned().collect();
        self.stop_all("vigia is stopping").await;
        if let Some(store) = &mut self.store {
            for cam in &held {
                let _ = tokio::time::timeout(Duration::from_millis(500), store.release(cam)).await;
            }
        }
        Ok(())
    }

    /// One look: connect and register when needed, renew, read, reconcile.
    async fn turn(&mut self) -> Result<(), FleetError> {
        if self.store.is_none() {
            self.store = Some(
                FleetStore::connect(
                    &self.cfg.etcd,
                    &self.prefix,
                    &self.node,
                    self.cfg.lease_ttl_secs,
                )
                .await?,
            );
        }
        let store = self.store.as_mut().expect("connected above");
        let lease = Duration::from_secs(self.cfg.lease_ttl_secs);
        let sent = Instant::now();
        if !store.registered() {
            let info = serde_json::json!({ "node": self.node, "pid": std::process::id() });
            store.register(&info.to_string()).await?;
            self.last_renew = sent;
            self.lease_until = sent + lease;
            tracing::info!(node = %self.node, prefix = %self.prefix, "registered with the fleet");
        } else if self.last_renew.elapsed() >= lease / 3 {
            let granted = store.renew().await?;
            self.last_renew = sent;
            self.lease_until = sent + granted;
        }
        let snap = store.snapshot().await?;
        self.reconcile(&snap).await
    }

    async fn reconcile(&mut self, snap: &Snapshot) -> Result<(), FleetError> {
        let me = self.node.clone();
        let me = me.as_str();
        let ids: Vec<String> = snap
            .cameras
            .keys()
            .filter(|c| !self.local.contains(*c))
            .cloned()
            .collect();
        let wanted: HashSet<String> = vigia_fleet::assign(&ids, &snap.nodes)
            .into_iter()
            .filter(|(_, n)| *n == me)
            .map(|(c, _)| c)
            .collect();
        // Give up first: what moved away, changed, vanished or is no longer ours.
        let held: Vec<(String, i64)> = self.held.iter().map(|(c, r)| (c.clone(), *r)).collect();
        for (cam, rev) in held {
            let reason = match snap.cameras.get(&cam) {
                None => Some("removed from the fleet"),
                Some((r, _)) if *r != rev => Some("changed in the fleet; restarting"),
                _ if snap.owners.get(&cam).map(String::as_str) != Some(me) => {
                    Some("no longer held by this node (its ownership expired)")
                }
                _ if !wanted.contains(&cam) => Some("moved to another node"),
                _ => None,
            };
            if let Some(reason) = reason {
                self.give_up(&cam, reason).await?;
            }
        }
        // Then take what is ours and free.
        let mut take: Vec<&String> = wanted
            .iter()
            .filter(|c| !self.held.contains_key(*c) && !snap.owners.contains_key(*c))
            .collect();
        take.sort();
        for cam in take {
            let (rev, json) = &snap.cameras[cam];
            if self.unreadable.get(cam) == Some(rev) {
                continue;
            }
            let entry = match serde_json::from_str::<FleetCamera>(json) {
                Ok(e) if e.camera.lpr && !self.plates_loaded => {
                    tracing::error!(camera = %cam, "fleet camera reads plates but this node has no plate reader: set [fleet] plate_reader = true on every fleet node; not run");
                    self.unreadable.insert(cam.clone(), *rev);
                    drop(e);
                    continue;
                }
                Ok(e) if e.camera.id.as_str() == cam && e.camera.validate().is_empty() => e,
                Ok(_) => {
                    tracing::error!(camera = %cam, "fleet camera entry does not validate; skipped until it changes");
                    self.unreadable.insert(cam.clone(), *rev);
                    continue;
                }
                Err(e) => {
                    tracing::error!(camera = %cam, error = %e, "fleet camera entry unreadable; skipped until it changes");
                    self.unreadable.insert(cam.clone(), *rev);
                    continue;
                }
            };
            let store = self.store.as_mut().expect("connected");
            if store.acquire(cam).await? {
                self.start(entry).await;
                self.held.insert(cam.clone(), *rev);
            }
        }
        Ok(())
    }

    async fn start(&self, entry: FleetCamera) {
        let id = entry.camera.id.clone();
        let rules: Vec<RuleConfig> = entry
            .rules
            .into_iter()
            .filter(|r| r.enabled && r.camera == id)
            .collect();
        let frames = !rules.is_empty() || self.alarm_cameras.contains(&id);
        let rules = (!rules.is_empty())
            .then(|| CameraRules::new(id.clone(), rules, HashMap::new(), self.utc_offset));
        let mut cams = self.cameras.lock().await;
        cams.set_rules(&id, rules).await;
        cams.start(&entry.camera, frames);
        tracing::info!(camera = %id, node = %self.node, "fleet camera taken");
    }

    /// Stops a held camera's pipeline and forgets it (its key is the caller's business).
    async fn stop_camera(&mut self, cam: &str, reason: &str) {
        if let Ok(id) = CameraId::new(cam) {
            self.cameras.lock().await.stop(&id, reason, None).await;
        }
        self.held.remove(cam);
    }

    async fn give_up(&mut self, cam: &str, reason: &str) -> Result<(), FleetError> {
        self.stop_camera(cam, reason).await;
        tracing::info!(camera = %cam, reason, "fleet camera given up");
        if let Some(store) = &mut self.store {
            store.release(cam).await?;
        }
        Ok(())
    }

    /// Stops every held camera (cut off past the lease: they may be someone else's now).
    async fn stop_all(&mut self, reason: &str) {
        let held: Vec<String> = self.held.keys().cloned().collect();
        for cam in held {
            self.stop_camera(&cam, reason).await;
        }
    }

    /// Renews the lease now through the members that answer or, failing that, asks etcd
    /// how long it has left; records what it learnt in `lease_until`.
    async fn renew_now(&mut self) -> Result<(), FleetError> {
        let Some(store) = self.store.as_mut() else {
            return Err(FleetError::Etcd("not connected".into()));
        };
        let lease = Duration::from_secs(self.cfg.lease_ttl_secs);
        let sent = Instant::now();
        let renewed = match tokio::time::timeout(lease, store.renew()).await {
            Ok(r) => r,
            Err(_) => Err(FleetError::Etcd("lease renewal timed out".into())),
        };
        let left = match renewed {
            Ok(granted) => {
                self.last_renew = sent;
                tracing::info!("fleet lease renewed through the etcd members that answer");
                granted
            }
            Err(FleetError::LeaseLost) => return Err(FleetError::LeaseLost),
            Err(e) => {
                let sent = Instant::now();
                let left = tokio::time::timeout(lease, store.lease_left()).await;
                match left {
                    Ok(Ok(left)) => {
                        self.lease_until = self.lease_until.max(sent + left);
                        return Err(e);
                    }
                    Ok(Err(FleetError::LeaseLost)) => return Err(FleetError::LeaseLost),
                    _ => return Err(e),
                }
            }
        };
        self.lease_until = sent + left;
        Ok(())
    }

    async fn report(&mut self, outcome: Result<(), FleetError>) {
        // A member that answers without a leader: the quorum is lost for everyone.
        let outcome = match outcome {
            Err(FleetError::Etcd(e)) => {
                let leader = match self.store.as_mut() {
                    Some(s) => s.cluster_has_leader().await,
                    None => None,
                };
                // No member sees a leader, or (right after the loss) none answers the
                // request although one did see no leader a moment ago.
                if leader == Some(false) || (leader.is_none() && self.no_quorum) {
                    Err(FleetError::NoQuorum(e))
                } else if leader == Some(true) {
                    // A member is down (or was the leader) but the others decide: renew
                    // through them (the client talks only to those now) before judging
                    // the lease by the clock — etcd's new leader extends every lease, so
                    // the cameras are still ours unless etcd says otherwise.
                    match self.renew_now().await {
                        Err(FleetError::LeaseLost) => Err(FleetError::LeaseLost),
                        _ => Err(FleetError::Etcd(e)),
                    }
                } else {
                    Err(FleetError::Etcd(e))
                }
            }
            o => o,
        };
        self.no_quorum = matches!(outcome, Err(FleetError::NoQuorum(_)));
        let connected = outcome.is_ok();
        // etcd counts the lease from its last renewal (a little before we heard of it):
        // stop one look before it may expire, before another node can take the cameras.
        let poll = Duration::from_millis(self.cfg.poll_ms);
        let lease_may_expire = Instant::now() + poll >= self.lease_until;
        let state = match outcome {
            Ok(()) => format!("holding {} camera(s)", self.held.len()),
            Err(FleetError::NoQuorum(e)) => {
                tracing::warn!(error = %e, "etcd has no quorum; keeping the cameras held");
                format!(
                    "etcd has lost its quorum: keeping the {} camera(s) held",
                    self.held.len()
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "fleet: etcd unreachable or refused");
                if matches!(e, FleetError::LeaseLost) || lease_may_expire {
                    // Our keys may be gone and our cameras someone else's: stop them, and
                    // register again with a new lease.
                    self.stop_all("cut off from the fleet longer than the lease")
                        .await;
                    if let Some(s) = &mut self.store {
                        s.drop_lease();
                    }
                    format!("cut off from etcd: {e}; cameras stopped until it answers")
                } else {
                    format!(
                        "etcd not answering ({e}); keeping the {} camera(s) held for now",
                        self.held.len()
                    )
                }
            }
        };
        self.metrics.fleet_connected.set(i64::from(connected));
        self.metrics.fleet_cameras.set(self.held.len() as i64);
        let views = self.cameras.lock().await.views();
        views.set_fleet(FleetView {
            connected,
            state,
            cameras: self.held.keys().cloned().collect(),
        });
    }
}
