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

/// An entry made at `at` still holds at `now`: it is younger than TIMEOUT.
fn fresh(at: Instant, now: Instant) -> bool {
    now.duration_since(at) < TIMEOUT
}

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

impl InFlight {
    /// What the cache does not show yet: creates of pods not in it, deletes of pods still in it.
    pub fn unseen(self, cached: impl Fn(&str) -> bool) -> InFlight {
        InFlight { creates: self.creates.into_iter().filter(|p| !cached(p)).collect(), deletes: self.deletes.into_iter().filter(|p| cached(p)).collect() }
    }
}

impl Expectations {
    pub fn created(&mut self, owner: &str, pod: &str, now: Instant) {
        if !self.seen.contains_key(pod) {
            self.owners.entry(owner.to_string()).or_default().creates.insert(pod.to_string(), now);
        }
    }

    /// The pod watch delivered `pod` (added, changed or deleted): its create, if any, is settled.
    pub fn observed(&mut self, pod: &str, now: Instant) {
        if self.trimmed.is_none_or(|at| !fresh(at, now)) {
            self.seen.retain(|_, at| fresh(*at, now));
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

    /// A delete expected before it was sent failed: the pod stays, and the next pass may
    /// delete it again (the ReplicaSet controller lowers its expectations on a failed delete).
    pub fn not_deleted(&mut self, owner: &str, pod: &str) {
        let Some(pending) = self.owners.get_mut(owner) else { return };
        pending.deletes.remove(pod);
        if pending.creates.is_empty() && pending.deletes.is_empty() {
            self.owners.remove(owner);
        }
    }

    /// Settles against the cache (`cached` tells whether a pod is in it, and
    /// not terminating) and returns what is still in flight.
    pub fn in_flight(&mut self, owner: &str, cached: impl Fn(&str) -> bool, now: Instant) -> InFlight {
        self.settle(owner, &cached, now);
        self.expected(owner, now)
    }

    /// What `owner` waits to see, unsettled. A pass reads it before the cache, as the
    /// ReplicaSet controller checks its expectations before listing pods: the watch fills
    /// the cache before it settles a create, so a create settled after this read is in the
    /// cache the pass reads next. Read after the cache, such a create would be in neither,
    /// and started again.
    pub fn expected(&self, owner: &str, now: Instant) -> InFlight {
        let Some(pending) = self.owners.get(owner) else { return InFlight::default() };
        let unexpired = |pods: &BTreeMap<String, Instant>| pods.iter().filter(|(_, at)| fresh(**at, now)).map(|(pod, _)| pod.clone()).collect();
        InFlight { creates: unexpired(&pending.creates), deletes: unexpired(&pending.deletes) }
    }

    /// Forgets what the cache shows (creates of pods in it, deletes of pods gone from it) and what expired.
    pub fn settle(&mut self, owner: &str, cached: impl Fn(&str) -> bool, now: Instant) {
        let Some(pending) = self.owners.get_mut(owner) else { return };
        pending.creates.retain(|pod, at| !cached(pod) && fresh(*at, now));
        pending.deletes.retain(|pod, at| cached(pod) && fresh(*at, now));
        if pending.creates.is_empty() && pending.deletes.is_empty() {
            self.owners.remove(owner);
        }
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
    fn a_failed_delete_is_expected_no_more() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.deleted("svc", "p1", t0);
        e.deleted("svc", "p2", t0);
        e.not_deleted("svc", "p1");
        assert_eq!(e.in_flight("svc", |_| true, t0).deletes, BTreeSet::from(["p2".to_string()]));
        e.not_deleted("svc", "p2");
        assert_eq!(e.in_flight("svc", |_| true, t0), InFlight::default());
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
    fn a_create_settled_between_the_expectations_and_the_cache_read_is_counted_once() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "p1", t0);
        e.created("svc", "p2", t0);
        // The pass reads its expectations; then the watch puts p1 in the cache and settles it;
        // then the pass reads the cache, which shows p1.
        let expected = e.expected("svc", t0);
        e.observed("p1", t0);
        let cached = |p: &str| p == "p1";
        e.settle("svc", cached, t0);
        // p1 counts as a task, p2 as in flight: neither is started again, nor counted twice.
        assert_eq!(expected.unseen(cached).creates, BTreeSet::from(["p2".to_string()]));
        // Read in the other order, p1 would be in neither the cache read before nor the expectations.
        assert_eq!(e.expected("svc", t0).creates, BTreeSet::from(["p2".to_string()]));
    }

    #[test]
    fn lost_events_expire() {
        let (mut e, t0) = (Expectations::default(), Instant::now());
        e.created("svc", "p1", t0);
        assert_eq!(e.in_flight("svc", |_| false, t0 + TIMEOUT).creates.len(), 0);
    }
}
