//! `[fleet]`: the etcd cluster this node takes its cameras from.

use serde::Deserialize;
use vigia_core::FieldError;

/// `[fleet]`. Absent: a standalone node with its own `[[cameras]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// etcd client URLs (`http://host:2379`), every member of the cluster.
    pub etcd: Vec<String>,
    /// Key prefix of this fleet. Default `/vigia/<site>`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Lease of the node's keys: a node that stops renewing it (dead, cut off) loses its
    /// cameras this long after its last renewal. Default 5 s.
    #[serde(default = "default_ttl")]
    pub lease_ttl_secs: u64,
    /// How often the node compares the assignment with what it runs. Default 500 ms.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Load the plate reader at start, so that fleet cameras with `lpr = true` can run
    /// here (a node loads models only at start). Default false.
    #[serde(default)]
    pub plate_reader: bool,
}

fn default_ttl() -> u64 {
    5
}
fn default_poll() -> u64 {
    500
}

impl FleetConfig {
    /// The key prefix for `site`.
    pub fn prefix_for(&self, site: &str) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| format!("/vigia/{site}"))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.etcd.is_empty() {
            errs.push(FieldError::new("etcd", "list at least one etcd client URL"));
        }
        for (i, e) in self.etcd.iter().enumerate() {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                errs.push(FieldError::new(
                    format!("etcd[{i}]"),
                    format!("{e:?} is not an http:// or https:// URL"),
                ));
            }
        }
        if !(2..=60).contains(&self.lease_ttl_secs) {
            errs.push(FieldError::new(
                "lease_ttl_secs",
                format!("must be 2..=60, got {}", self.lease_ttl_secs),
            ));
        }
        if !(50..=10_000).contains(&self.poll_ms) || self.poll_ms >= self.lease_ttl_secs * 1000 {
            errs.push(FieldError::new(
                "poll_ms",
                "must be 50..=10000 and below the lease",
            ));
        }
        errs
    }
}
