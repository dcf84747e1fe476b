//! A fleet node ([`vigia_fleet`]): registers with etcd, and every `poll_ms` compares the
//! cameras the assignment gives it with those it runs — takes a free camera it is assigned
//! (its ownership key first, then its pipeline), gives up one assigned elsewhere (pipeline
//! first, then the key), restarts one whose entry changed.
//!
//! Losing etcd ([`Membership`]): while the cluster answers without a quorum nobody can
//! take a camera over, so the node keeps what it holds and says so (`/readyz` `fleet`,
//! `vigia_fleet_connected` 0); a member down, even the leader, changes nothing. Cut off
//! from every member, it stops its cameras before etcd can expire its lease — by its own
//! clock, from what etcd last told it — so another node takes them only after.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use vigia_analytics::CameraRules;
use vigia_core::{CameraId, Shutdown};
use vigia_fleet::{FleetConfig, FleetError, Membership, Snapshot};
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
    /// How often it looks (`poll_ms`).
    poll: Duration,
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
    membership: Membership,
    /// Camera → the revision of its entry that runs.
    held: BTreeMap<String, i64>,
    /// Entries that could not be read (camera → revision), not retried until they change.
    unreadable: HashMap<String, i64>,
}

impl FleetNode {
    pub fn new(
        fleet: FleetConfig,
        cfg: &Config,
        cameras: Arc<Mutex<Cameras>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let prefix = fleet.prefix_for(&cfg.site);
        Self {
            poll: Duration::from_millis(fleet.poll_ms),
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
            membership: Membership::new(fleet, &prefix, &cfg.node),
            held: BTreeMap::new(),
            unreadable: HashMap::new(),
        }
    }

    /// Runs until `stop`; then stops the cameras it holds and only then releases them
    /// (another node may start them as soon as they are released).
    pub async fn run(mut self, stop: Shutdown) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let outcome = self.look().await;
            self.report(outcome).await;
        }
        let held: Vec<String> = self.held.keys().cloned().collect();
        self.stop_all("vigia is stopping").await;
        if let Some(store) = self.membership.store() {
            for cam in &held {
                let _ = tokio::time::timeout(Duration::from_millis(500), store.release(cam)).await;
            }
        }
        Ok(())
    }

    /// One [`FleetNode::turn`] and, when it failed, [`Membership::diagnose`]. While
    /// cameras are held (and etcd has not lost its quorum) it must end by
    /// [`Membership::deadline`]: a member that stops answering (a cut link, packets
    /// dropped) would otherwise keep the node waiting while etcd expires its keys and
    /// another node takes its cameras. Cut short: [`Membership::last_word`].
    async fn look(&mut self) -> Result<(), FleetError> {
        let bounded = !self.held.is_empty() && !self.membership.no_quorum();
        let deadline = self.membership.deadline();
        // Past the deadline already (the last word kept the cameras): up to the edge.
        let last_word = deadline > Instant::now();
        let until = if last_word {
            deadline
        } else {
            self.membership.edge()
        };
        let work = async {
            let outcome = self.turn().await;
            self.membership.diagnose(outcome).await
        };
        if !bounded {
            return work.await;
        }
        match tokio::time::timeout_at(until.into(), work).await {
            Ok(outcome) => outcome,
            Err(_) if last_word => self.membership.last_word().await,
            Err(_) => Err(FleetError::Etcd(vigia_fleet::membership::TOO_LATE.into())),
        }
    }

    /// One look: connect and register when needed, renew, read, reconcile.
    async fn turn(&mut self) -> Result<(), FleetError> {
        let info = serde_json::json!({ "node": self.node, "pid": std::process::id() });
        let store = self.membership.keep(&info.to_string()).await?;
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
        // Keys of this lease the node does not hold (a look cut short between taking a key
        // and starting the camera, or between stopping it and releasing the key): taken
        // again when the camera is still this node's, released otherwise.
        let lease = self.membership.store().and_then(|s| s.lease_id());
        let stray = |c: &String| {
            !self.held.contains_key(c)
                && snap.owners.get(c).map(String::as_str) == Some(me)
                && snap.owner_leases.get(c).copied() == lease
        };
        let strays: Vec<String> = snap
            .owners
            .keys()
            .filter(|c| stray(c) && !wanted.contains(*c))
            .cloned()
            .collect();
        for cam in strays {
            tracing::info!(camera = %cam, "fleet camera key released (not run here)");
            if let Some(store) = self.membership.store() {
                store.release(&cam).await?;
            }
        }
        // Then take what is ours and free.
        let mut take: Vec<&String> = wanted
            .iter()
            .filter(|c| !self.held.contains_key(*c) && (!snap.owners.contains_key(*c) || stray(c)))
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
            let store = self.membership.store().expect("connected");
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
        if let Some(store) = self.membership.store() {
            store.release(cam).await?;
        }
        Ok(())
    }

    /// Stops every held camera (the node is stopping, or its lease may run out before it
    /// can renew it: another node may take them from then on).
    async fn stop_all(&mut self, reason: &str) {
        let ids: Vec<CameraId> = self
            .held
            .keys()
            .filter_map(|c| CameraId::new(c).ok())
            .collect();
        self.cameras.lock().await.stop_many(&ids, reason).await;
        if !self.held.is_empty() {
            tracing::warn!(cameras = self.held.len(), reason, "fleet cameras stopped");
        }
        self.held.clear();
    }

    async fn report(&mut self, outcome: Result<(), FleetError>) {
        self.membership
            .set_no_quorum(matches!(outcome, Err(FleetError::NoQuorum(_))));
        let connected = outcome.is_ok();
        // Stop one look before the lease may expire, before another node can take the
        // cameras.
        let lease_may_expire = self.membership.may_expire();
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
                    // Our keys are gone, or may be by the next look: stop the cameras
                    // before another node can take them, and register again with a new
                    // lease.
                    let reason = match e {
                        FleetError::LeaseLost => "the fleet lease expired",
                        _ => "cut off from the fleet; its lease may run out before it is renewed",
                    };
                    self.stop_all(reason).await;
                    self.membership.drop_lease();
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
