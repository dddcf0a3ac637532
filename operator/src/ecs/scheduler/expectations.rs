//! Expectations (as Kubernetes' ReplicaSet controller keeps them): the pods
//! an owner created or deleted that its cache has not shown yet. Counting
//! them stops watch lag from causing duplicate creates or double deletes.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// After this long an unseen create or delete is assumed lost.
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Default)]
pub struct Expectations {
    owners: BTreeMap<String, Pending>,
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
        self.owners.entry(owner.to_string()).or_default().creates.insert(pod.to_string(), now);
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
    fn lost_events_expire() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "p1", t0);
        assert_eq!(e.in_flight("svc", |_| false, t0 + TIMEOUT).creates.len(), 0);
    }
}
