//! Expectations (as Kubernetes' ReplicaSet controller keeps them): the pods
//! an owner created or deleted that its cache has not shown yet. Counting
//! them stops watch lag from causing duplicate creates or double deletes.
//!
//! A create is settled by the pod watch delivering the pod ([`Expectations::observed`]),
//! as the ReplicaSet controller's informer handlers lower its expectations, not
//! only by the cache holding it when a pass looks: a task killed between two
//! passes was never in the cache when one looked, and its create would wait out
//! the whole TIMEOUT, its replacement with it.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// After this long an unseen create or delete is assumed lost.
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Default)]
pub struct Expectations {
    owners: BTreeMap<String, Pending>,
    /// Pods the watch has delivered, and when: a create seen before it is recorded is no expectation.
    seen: BTreeMap<String, Instant>,
    /// When `seen` was last trimmed of entries older than TIMEOUT (trimming on every event would cost a scan each).
    trimmed: Option<Instant>,
}

#[derive(Debug, Default)]
struct Pending {
    creates: BTreeMap<String, Instant>,
    deletes: BTreeMap<String, Instant>,
}

/// What an owner still waits to see.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    pub creates: BTreeSet<String>,
    pub deletes: BTreeSet<String>,
}

impl Expectations {
    pub fn created(&mut self, owner: &str, pod: &str, now: Instant) {
        if !self.seen.contains_key(pod) {
            self.owners.entry(owner.to_string()).or_default().creates.insert(pod.to_string(), now);
        }
    }

    /// The pod watch delivered `pod` (added, changed or deleted): its create, if any, is settled.
    pub fn observed(&mut self, pod: &str, now: Instant) {
        if self.trimmed.is_none_or(|at| now.duration_since(at) >= TIMEOUT) {
            self.seen.retain(|_, at| now.duration_since(*at) < TIMEOUT);
            self.trimmed = Some(now);
        }
        self.seen.insert(pod.to_string(), now);
        for pending in self.owners.values_mut() {
            pending.creates.remove(pod);
        }
    }

    pub fn deleted(&mut self, owner: &str, pod: &str, now: Instant) {
        self.owners.entry(owner.to_string()).or_default().deletes.insert(pod.to_string(), now);
    }

    /// Settles against the cache (`cached` tells whether a pod is in it, and
    /// not terminating) and returns what is still in flight.
    pub fn in_flight(&mut self, owner: &str, cached: impl Fn(&str) -> bool, now: Instant) -> InFlight {
        let Some(pending) = self.owners.get_mut(owner) else { return InFlight::default() };
        let fresh = |at: &Instant| now.duration_since(*at) < TIMEOUT;
        pending.creates.retain(|pod, at| !cached(pod) && fresh(at));
        pending.deletes.retain(|pod, at| cached(pod) && fresh(at));
        let in_flight = InFlight { creates: pending.creates.keys().cloned().collect(), deletes: pending.deletes.keys().cloned().collect() };
        if pending.creates.is_empty() && pending.deletes.is_empty() {
            self.owners.remove(owner);
        }
        in_flight
    }

    /// The owner is gone: forget it.
    pub fn forget(&mut self, owner: &str) {
        self.owners.remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_count_until_the_cache_shows_them() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "p1", t0);
        e.created("svc", "p2", t0);
        let seen = |p: &str| p == "p1";
        assert_eq!(e.in_flight("svc", seen, t0).creates, BTreeSet::from(["p2".to_string()]));
        assert_eq!(e.in_flight("svc", |_| true, t0), InFlight::default());
    }

    #[test]
    fn deletes_count_until_the_cache_drops_them() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.deleted("svc", "p1", t0);
        assert_eq!(e.in_flight("svc", |_| true, t0).deletes.len(), 1);
        assert_eq!(e.in_flight("svc", |_| false, t0).deletes.len(), 0);
    }

    #[test]
    fn a_create_the_watch_delivered_is_settled_even_if_the_pod_is_gone_by_the_next_pass() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "killed", t0);
        e.observed("killed", t0);
        assert_eq!(e.in_flight("svc", |_| false, t0), InFlight::default());
        // Delivered before the create was recorded (the pass records after the batch).
        e.observed("early", t0);
        e.created("svc", "early", t0);
        assert_eq!(e.in_flight("svc", |_| false, t0), InFlight::default());
    }

    #[test]
    fn lost_events_expire() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "p1", t0);
        assert_eq!(e.in_flight("svc", |_| false, t0 + TIMEOUT).creates.len(), 0);
    }
}
