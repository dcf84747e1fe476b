//! The life of an incident: a condition must hold for `min_duration` before it starts, and
//! be gone for `clear_after` before it ends; while it lasts, a change of the objects involved
//! is an update. A brief gap (an object occluded, a zone left and re-entered) inside
//! `clear_after` keeps the same incident.

use std::time::Duration;

use vigia_core::event::IncidentPhase;

/// What an incident looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub incident: u64,
    pub started_at: Duration,
    pub objects: Vec<u64>,
    pub last_true: Duration,
    pub count: u32,
    pub max_count: u32,
    pub score: Option<f32>,
}

/// Whether an incident may start (the classifier stage): `Allow` with an optional score,
/// or `Deny` (the condition stays pending and is asked again later).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    Allow(Option<f32>),
    Deny,
}

/// One incident slot.
#[derive(Debug, Clone)]
pub struct Debouncer {
    min_duration: Duration,
    clear_after: Duration,
    pending_since: Option<Duration>,
    episode: Option<Episode>,
}

impl Debouncer {
    pub fn new(min_duration: Duration, clear_after: Duration) -> Self {
        Self {
            min_duration,
            clear_after,
            pending_since: None,
            episode: None,
        }
    }

    /// Whether nothing is going on (no incident, nothing pending).
    pub fn idle(&self) -> bool {
        self.pending_since.is_none() && self.episode.is_none()
    }

    /// Whether an incident is running.
    pub fn active(&self) -> bool {
        self.episode.is_some()
    }

    /// Feeds the condition at `now`. `objects` (sorted) and `count` describe it when true.
    pub fn step(
        &mut self,
        now: Duration,
        cond: bool,
        objects: &[u64],
        count: u32,
        next_incident: &mut u64,
        gate: &mut dyn FnMut(&[u64]) -> Gate,
    ) -> Option<(IncidentPhase, Episode)> {
        if cond {
            if let Some(ep) = self.episode.as_mut() {
                ep.last_true = now;
                ep.max_count = ep.max_count.max(count);
                if ep.objects != objects || ep.count != count {
                    ep.objects = objects.to_vec();
                    ep.count = count;
                    return Some((IncidentPhase::Update, ep.clone()));
                }
                return None;
            }
            let since = *self.pending_since.get_or_insert(now);
            if now.saturating_sub(since) >= self.min_duration {
                let Gate::Allow(score) = gate(objects) else {
                    return None;
                };
                let ep = Episode {
                    incident: *next_incident,
                    started_at: since,
                    objects: objects.to_vec(),
                    last_true: now,
                    count,
                    max_count: count,
                    score,
                };
                *next_incident += 1;
                self.pending_since = None;
                self.episode = Some(ep.clone());
                return Some((IncidentPhase::Start, ep));
            }
            return None;
        }
        self.pending_since = None;
        if self
            .episode
            .as_ref()
            .is_some_and(|ep| now.saturating_sub(ep.last_true) >= self.clear_after)
        {
            return self.episode.take().map(|ep| (IncidentPhase::End, ep));
        }
        None
    }

    /// Ends the incident now (rule deactivated by its schedule).
    pub fn force_end(&mut self) -> Option<Episode> {
        self.pending_since = None;
        self.episode.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    fn allow(_: &[u64]) -> Gate {
        Gate::Allow(None)
    }

    #[test]
    fn start_after_min_duration_update_on_change_end_after_clear() {
        let mut d = Debouncer::new(s(2), s(3));
        let mut n = 1;
        let mut ph = |d: &mut Debouncer, t, c, o: &[u64]| {
            d.step(s(t), c, o, o.len() as u32, &mut n, &mut allow)
                .map(|x| x.0)
        };
        assert_eq!(ph(&mut d, 0, true, &[1]), None);
        assert_eq!(ph(&mut d, 1, true, &[1]), None);
        assert_eq!(ph(&mut d, 2, true, &[1]), Some(IncidentPhase::Start));
        assert_eq!(ph(&mut d, 3, true, &[1]), None);
        assert_eq!(ph(&mut d, 4, true, &[1, 2]), Some(IncidentPhase::Update));
        assert_eq!(ph(&mut d, 5, false, &[]), None, "within clear_after");
        assert_eq!(
            ph(&mut d, 6, true, &[1, 2]),
            None,
            "back before clear_after: same incident"
        );
        assert_eq!(ph(&mut d, 8, false, &[]), None);
        assert_eq!(ph(&mut d, 9, false, &[]), Some(IncidentPhase::End));
        assert!(d.idle());
    }

    #[test]
    fn a_short_blip_does_not_start_and_a_denied_gate_retries() {
        let mut d = Debouncer::new(s(2), s(1));
        let mut n = 1;
        assert!(d.step(s(0), true, &[1], 1, &mut n, &mut allow).is_none());
        assert!(d.step(s(1), false, &[], 0, &mut n, &mut allow).is_none());
        assert!(
            d.step(s(2), true, &[1], 1, &mut n, &mut allow).is_none(),
            "pending restarted"
        );
        let mut deny = |_: &[u64]| Gate::Deny;
        assert!(d.step(s(5), true, &[1], 1, &mut n, &mut deny).is_none());
        let mut scored = |_: &[u64]| Gate::Allow(Some(0.9));
        let (p, ep) = d.step(s(6), true, &[1], 1, &mut n, &mut scored).unwrap();
        assert_eq!(
            (p, ep.started_at, ep.score),
            (IncidentPhase::Start, s(2), Some(0.9))
        );
    }
}
