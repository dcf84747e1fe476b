//! The console's health charts: the node's own figures sampled every `every` over the last
//! hour — outbox depth and the age of its oldest undelivered event, the broker link, mean
//! model run time per model, the process's CPU and resident memory.
//!
//! Read from the node's own metrics and `/proc/self` (no Prometheus server needed to
//! look at one node; a fleet has its Grafana dashboard for longer history).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use vigia_outbox::Outbox;
use vigia_publish::OutboxMessage;
use vigia_telemetry::Metrics;

/// How much history the console shows.
pub const HISTORY: Duration = Duration::from_secs(3600);

/// One sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Unix time, milliseconds.
    pub t: i64,
    pub outbox_pending: usize,
    /// Age of the oldest event not yet acknowledged by the broker, seconds (0: none).
    pub outbox_oldest_secs: f64,
    pub mqtt_connected: bool,
    /// Mean model run time over the interval, ms, per model that ran in it.
    pub inference_ms: BTreeMap<String, f64>,
    /// CPU used by the process over the interval, in cores (`None` in the first sample).
    pub cpu_cores: Option<f64>,
    pub rss_bytes: u64,
}

/// The samples of the last hour.
pub struct HealthLog {
    every: Duration,
    samples: Mutex<VecDeque<Sample>>,
}

impl HealthLog {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// The interval between samples.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().cloned().collect()
    }

    fn push(&self, sample: Sample) {
        let keep = (HISTORY.as_millis() / self.every.as_millis().max(1)) as usize + 1;
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        while s.len() >= keep {
            s.pop_front();
        }
        s.push_back(sample);
    }
}

/// What the sampler remembers from the previous sample to make per-interval figures.
#[derive(Default)]
struct Previous {
    at: Option<Instant>,
    cpu_secs: f64,
    inference: HashMap<String, (f64, u64)>,
}

/// Samples every `log.every()` until the task is aborted (the first sample at once).
pub async fn sample(log: Arc<HealthLog>, metrics: Arc<Metrics>, outbox: Arc<Outbox>) {
    let mut tick = tokio::time::interval(log.every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev = Previous::default();
    loop {
        tick.tick().await;
        let ob = outbox.clone();
        // The oldest pending record is read from disk: off the async threads.
        let oldest = tokio::task::spawn_blocking(move || oldest_pending_ms(&ob))
            .await
            .ok()
            .flatten();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let sample = make_sample(&mut prev, &metrics, &outbox, oldest, now_ms);
        log.push(sample);
    }
}

fn make_sample(
    prev: &mut Previous,
    metrics: &Metrics,
    outbox: &Outbox,
    oldest_ms: Option<i64>,
    now_ms: i64,
) -> Sample {
    let now = Instant::now();
    let cpu = process_cpu_secs().unwrap_or(0.0);
    let cpu_cores = prev
        .at
        .map(|at| (cpu - prev.cpu_secs).max(0.0) / now.duration_since(at).as_secs_f64());
    let mut inference_ms = BTreeMap::new();
    for (model, sum, count) in metrics.inference_totals() {
        let (s0, c0) = prev.inference.get(&model).copied().unwrap_or((0.0, 0));
        if count > c0 {
            inference_ms.insert(model.clone(), (sum - s0) / (count - c0) as f64 * 1e3);
        }
        prev.inference.insert(model, (sum, count));
    }
    prev.at = Some(now);
    prev.cpu_secs = cpu;
    Sample {
        t: now_ms,
        outbox_pending: outbox.pending(),
        outbox_oldest_secs: oldest_ms.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1e3),
        mqtt_connected: metrics.mqtt_connected.get() == 1,
        inference_ms,
        cpu_cores,
        rss_bytes: process_rss_bytes().unwrap_or(0),
    }
}

/// When the oldest event the broker has not acknowledged was made (unix ms).
fn oldest_pending_ms(outbox: &Outbox) -> Option<i64> {
    if outbox.pending() == 0 {
        return None;
    }
    let first = outbox.read_after(None, 1).ok()?.into_iter().next()?;
    OutboxMessage::decode(&first.payload)
        .ok()
        .map(|m| m.created_ms)
}

/// User + system CPU time of this process, seconds (`/proc/self/stat`, clock ticks of
/// 1/100 s: the kernel's USER_HZ on every Linux architecture vigia runs on).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Resident memory of this process (`/proc/self/statm`, pages of 4 KiB).
fn process_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_figures_are_read() {
        assert!(process_rss_bytes().unwrap() > 1 << 20);
        let t0 = process_cpu_secs().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_secs().unwrap() >= t0);
    }

    #[test]
    fn an_hour_of_samples_is_kept_and_inference_is_a_mean_per_interval() {
        let log = HealthLog::new(Duration::from_secs(60));
        let metrics = Metrics::new();
        let dir = tempfile::tempdir().unwrap();
        let (outbox, _) = Outbox::open(dir.path(), &Default::default()).unwrap();
        let mut prev = Previous::default();
        let h = metrics.inference_seconds.with_label_values(&["yolox"]);
        h.observe(0.010);
        h.observe(0.030);
        let s = make_sample(&mut prev, &metrics, &outbox, None, 1_000);
        assert!((s.inference_ms["yolox"] - 20.0).abs() < 1e-6);
        // Nothing ran since: no figure for the model in the next interval.
        let s = make_sample(&mut prev, &metrics, &outbox, Some(500), 2_000);
        assert!(s.inference_ms.is_empty());
        assert_eq!(s.outbox_oldest_secs, 1.5);
        for i in 0..100 {
            log.push(Sample { t: i, ..s.clone() });
        }
        let kept = log.samples();
        assert_eq!(kept.len(), 61);
        assert_eq!(kept.last().unwrap().t, 99);
    }
}
