//! A node's standing in the fleet: its connection, its lease, and how long etcd is known
//! to keep that lease alive — by the node's own clock, so that it can stop its cameras
//! before another node may take them, and keep them through what cannot hand them over
//! (an etcd election, a lost quorum).
//!
//! What the node knows about its lease (`lease_until`, "etcd keeps it at least until"):
//!
//! - a renewal or `LeaseTimeToLive` answer sent at `t` with TTL `d`: until `t + d`;
//! - members that answer without a leader, asked at `t` (an election, the quorum lost):
//!   no lease expires without a leader, and a new leader extends every lease by its full
//!   TTL when it takes over, so until `t + ttl` at least. (A member cut off in a minority
//!   also sees no leader: see the limit in docs/deploy.md.)
//!
//! Everything the node asks etcd while it holds cameras must end before `lease_until`
//! less one look and one request ([`Membership::deadline`]).

use std::time::{Duration, Instant};

use crate::{FleetConfig, FleetError, FleetStore};

/// Why a look holding cameras was cut short at the lease's edge.
pub const TOO_LATE: &str = "no answer from etcd before the lease could run out";

/// The node's connection and lease.
pub struct Membership {
    cfg: FleetConfig,
    prefix: String,
    node: String,
    store: Option<FleetStore>,
    last_renew: Instant,
    lease_until: Instant,
    /// etcd was last seen without a quorum (cameras are kept while it lasts).
    no_quorum: bool,
}

impl Membership {
    /// `prefix`: the fleet's key prefix ([`FleetConfig::prefix_for`] the node's site).
    pub fn new(cfg: FleetConfig, prefix: &str, node: &str) -> Self {
        Self {
            cfg,
            prefix: prefix.to_string(),
            node: node.to_string(),
            store: None,
            last_renew: Instant::now(),
            lease_until: Instant::now(),
            no_quorum: false,
        }
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.cfg.lease_ttl_secs)
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.cfg.poll_ms)
    }

    /// The store, once connected.
    pub fn store(&mut self) -> Option<&mut FleetStore> {
        self.store.as_mut()
    }

    /// Connects and registers (`info`: the node's JSON) when needed, renews when due;
    /// the store to read and write with.
    pub async fn keep(&mut self, info: &str) -> Result<&mut FleetStore, FleetError> {
        if self.store.is_none() {
            let (etcd, ttl) = (&self.cfg.etcd, self.cfg.lease_ttl_secs);
            self.store = Some(FleetStore::connect(etcd, &self.prefix, &self.node, ttl).await?);
        }
        let ttl = self.ttl();
        let store = self.store.as_mut().expect("connected above");
        let sent = Instant::now();
        if !store.registered() {
            store.register(info).await?;
            self.last_renew = sent;
            self.lease_until = sent + ttl;
            tracing::info!(node = %self.node, prefix = %self.prefix, "registered with the fleet");
        } else if self.last_renew.elapsed() >= ttl / 4 {
            let granted = store.renew().await?;
            self.last_renew = sent;
            self.lease_until = sent + granted;
        }
        Ok(store)
    }

    /// When the node's work with etcd must end while it holds cameras: the lease's known
    /// end less one look and one request (time to ask [`Membership::last_word`] and stop).
    pub fn deadline(&self) -> Instant {
        let margin = self.poll() + FleetStore::wait_for(self.cfg.lease_ttl_secs);
        self.lease_until
            .checked_sub(margin)
            .unwrap_or_else(Instant::now)
    }

    /// One look before the lease's known end: the cameras must be stopped by then.
    pub fn edge(&self) -> Instant {
        self.lease_until
            .checked_sub(self.poll())
            .unwrap_or_else(Instant::now)
    }

    /// Whether the lease may run out before the next look.
    pub fn may_expire(&self) -> bool {
        Instant::now() >= self.edge()
    }

    /// Whether etcd was last seen without a quorum.
    pub fn no_quorum(&self) -> bool {
        self.no_quorum
    }

    /// Records the outcome of a look.
    pub fn set_no_quorum(&mut self, no_quorum: bool) {
        self.no_quorum = no_quorum;
    }

    /// Forgets the lease: the next [`Membership::keep`] registers with a new one.
    pub fn drop_lease(&mut self) {
        if let Some(s) = &mut self.store {
            s.drop_lease();
        }
    }

    /// What an etcd error means: asks every member whether it sees a leader — none does:
    /// [`FleetError::NoQuorum`]; one does: renews through those that answer (or asks how
    /// long the lease has left), and [`FleetError::LeaseLost`] only when etcd says so.
    pub async fn diagnose(&mut self, outcome: Result<(), FleetError>) -> Result<(), FleetError> {
        let Err(FleetError::Etcd(e)) = outcome else {
            return outcome;
        };
        let leader = self.ask_members(true).await;
        // No member sees a leader, or (right after the loss) none answers the request
        // although one did see no leader a moment ago.
        if leader == Some(false) || (leader.is_none() && self.no_quorum) {
            Err(FleetError::NoQuorum(e))
        } else if leader == Some(true) {
            // A member is down (or was the leader) but the others decide: renew through
            // them (the client talks only to those now) before judging the lease by the
            // clock.
            match self.renew_now().await {
                Err(FleetError::LeaseLost) => Err(FleetError::LeaseLost),
                _ => Err(FleetError::Etcd(e)),
            }
        } else {
            Err(FleetError::Etcd(e))
        }
    }

    /// The work ran to [`Membership::deadline`]: whether the members see no leader,
    /// within one request's wait ([`FleetError::NoQuorum`]: keep the cameras).
    pub async fn last_word(&mut self) -> Result<(), FleetError> {
        let e = TOO_LATE.to_string();
        match self.ask_members(false).await {
            Some(false) => Err(FleetError::NoQuorum(e)),
            _ => Err(FleetError::Etcd(e)),
        }
    }

    /// Whether the members see a leader ([`FleetStore::cluster_has_leader`]; with
    /// `talk_to_them`, the store moves to those that do). None seeing one is recorded at
    /// once — the caller may cut this short.
    async fn ask_members(&mut self, talk_to_them: bool) -> Option<bool> {
        let asked = Instant::now();
        let store = self.store.as_mut()?;
        let leader = if talk_to_them {
            store.cluster_has_leader().await
        } else {
            store.leader_seen().await
        };
        if leader == Some(false) {
            self.no_leader_seen(asked);
        }
        leader
    }

    fn no_leader_seen(&mut self, asked: Instant) {
        self.lease_until = self.lease_until.max(asked + self.ttl());
    }

    /// Renews the lease now or, failing that, asks etcd how long it has left.
    async fn renew_now(&mut self) -> Result<(), FleetError> {
        let Some(store) = self.store.as_mut() else {
            return Err(FleetError::Etcd("not connected".into()));
        };
        // The store bounds each request by its wait; two tries of a renewal at most.
        let wait = FleetStore::wait_for(self.cfg.lease_ttl_secs) * 2;
        let sent = Instant::now();
        let renewed = tokio::time::timeout(wait, store.renew()).await;
        match renewed {
            Ok(Ok(granted)) => {
                self.last_renew = sent;
                self.lease_until = sent + granted;
                tracing::info!("fleet lease renewed through the etcd members that answer");
                return Ok(());
            }
            Ok(Err(FleetError::LeaseLost)) => return Err(FleetError::LeaseLost),
            _ => {}
        }
        let sent = Instant::now();
        match tokio::time::timeout(wait, store.lease_left()).await {
            Ok(Ok(left)) => {
                self.lease_until = self.lease_until.max(sent + left);
                Err(FleetError::Etcd("lease not renewed (still alive)".into()))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(FleetError::Etcd("lease renewal timed out".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(ttl: u64, poll: u64) -> Membership {
        let cfg = FleetConfig {
            etcd: vec!["http://127.0.0.1:9".into()],
            prefix: None,
            lease_ttl_secs: ttl,
            poll_ms: poll,
            plate_reader: false,
        };
        Membership::new(cfg, "/vigia/test", "n1")
    }

    #[test]
    fn the_deadline_leaves_a_look_and_a_request_before_the_lease_ends() {
        let mut m = membership(5, 300);
        // Nothing learnt yet: the lease may be over.
        assert!(m.may_expire());
        assert!(m.deadline() <= Instant::now());
        let asked = Instant::now();
        m.no_leader_seen(asked);
        assert!(!m.may_expire());
        // 5 s lease, 300 ms look, 1 s request (a fifth of the lease).
        assert_eq!(
            m.deadline(),
            asked + Duration::from_millis(5000 - 300 - 1000)
        );
        // What is learnt only moves the end later.
        m.no_leader_seen(asked - Duration::from_secs(2));
        assert_eq!(m.lease_until, asked + Duration::from_secs(5));
    }

    #[tokio::test]
    async fn errors_other_than_etcd_pass_and_no_answer_keeps_a_lost_quorum() {
        let mut m = membership(5, 300);
        assert_eq!(m.diagnose(Ok(())).await, Ok(()));
        assert_eq!(
            m.diagnose(Err(FleetError::LeaseLost)).await,
            Err(FleetError::LeaseLost)
        );
        // Not connected: nobody answers.
        let e = || Err(FleetError::Etcd("x".into()));
        assert_eq!(m.diagnose(e()).await, Err(FleetError::Etcd("x".into())));
        m.set_no_quorum(true);
        assert_eq!(m.diagnose(e()).await, Err(FleetError::NoQuorum("x".into())));
        assert!(matches!(m.last_word().await, Err(FleetError::Etcd(_))));
    }
}
