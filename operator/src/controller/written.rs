//! The status a reconcile handed to be written, until the cache shows it. kube-runtime
//! starts the next pass of a service as soon as a pod changes, often before the watch
//! has delivered the previous pass's status write (or before that write is even sent); a
//! pass on that stale status would undo it. Status carries counts no pod keeps, such as
//! the circuit breaker's failed tasks (each stop is counted once, when it is recorded),
//! so undoing a write loses them for good.
//!
//! It also keeps each service's status writes in order: one writer per service sends the
//! latest status handed to it, after the pass that computed it has ended (see
//! `service::write_statuses`), so a later status never lands before an earlier one.
//!
//! And it paces the writes of a service's progress: while its tasks start, each pod
//! change moves a count, and a write per change (a server-side apply of the whole status)
//! cost the API server more than the pods themselves.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::ResourceExt;

use crate::api::{Service, ServiceStatus};

/// How often a service's status may be written when only its progress moved.
pub const PROGRESS_PACE: Duration = Duration::from_secs(1);

/// The status writes of each service (`namespace/name`).
#[derive(Debug, Default)]
pub struct Written {
    services: Mutex<HashMap<String, Write>>,
}

#[derive(Debug)]
struct Write {
    /// The status last handed to be written, and the resourceVersion its write produced
    /// once written, until the cache shows it.
    unseen: Option<(Option<String>, ServiceStatus)>,
    /// When a status was last handed (for the pace).
    at: Instant,
    /// The status waiting for the writer, with the service it goes on.
    queued: Option<(Arc<Service>, ServiceStatus)>,
    /// The service's writer is under way.
    writing: bool,
}

fn key(service: &Service) -> String {
    format!("{}/{}", service.namespace().unwrap_or_default(), service.name_any())
}

/// Does an object at resourceVersion `cached` include the write that produced
/// `written`? The API server's resourceVersions are etcd revisions, which only
/// grow; one that is not a number is taken as the write itself only when equal.
/// A write not answered yet has no version, and no cached object includes it.
fn includes(cached: Option<&str>, written: Option<&str>) -> bool {
    match (cached.and_then(|c| c.parse::<u64>().ok()), written.and_then(|w| w.parse::<u64>().ok())) {
        (Some(cached), Some(written)) => cached >= written,
        (_, None) => false,
        _ => cached == written,
    }
}

impl Written {
    /// Hands `status` of `service` to its writer: passes from now on build on it. Returns
    /// whether a writer must be started (none is under way for the service).
    pub fn hand(&self, service: &Arc<Service>, status: ServiceStatus, now: Instant) -> bool {
        let mut services = self.services.lock().unwrap();
        let write = services.entry(key(service)).or_insert(Write { unseen: None, at: now, queued: None, writing: false });
        write.unseen = Some((None, status.clone()));
        write.at = now;
        write.queued = Some((service.clone(), status));
        !std::mem::replace(&mut write.writing, true)
    }

    /// The writer of `service` takes the status to write next; None (nothing queued, or the
    /// service forgotten) ends the writer.
    pub fn next(&self, service: &Service) -> Option<(Arc<Service>, ServiceStatus)> {
        let mut services = self.services.lock().unwrap();
        let write = services.get_mut(&key(service))?;
        let next = write.queued.take();
        write.writing = next.is_some();
        next
    }

    /// `status` was written over `service`, producing `version` (a status handed since waits for its own write).
    pub fn wrote(&self, service: &Service, version: Option<String>, status: &ServiceStatus) {
        let mut services = self.services.lock().unwrap();
        if let Some(Write { unseen: Some((unwritten @ None, handed)), .. }) = services.get_mut(&key(service))
            && handed == status
        {
            *unwritten = version;
        }
    }

    /// Writing `status` failed: it is written again, unless a newer status was handed meanwhile.
    pub fn failed(&self, service: Arc<Service>, status: ServiceStatus) {
        let mut services = self.services.lock().unwrap();
        if let Some(write) = services.get_mut(&key(&service)) {
            write.queued.get_or_insert((service, status));
        }
    }

    /// How long to hold back writing `status` over `service`'s at `now`: none
    /// unless only progress moved (see [`progress_only`]) within
    /// [`PROGRESS_PACE`] of the last write.
    pub fn hold_back(&self, service: &Service, status: &ServiceStatus, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(self.services.lock().unwrap().get(&key(service))?.at);
        let progress = service.status.as_ref().is_some_and(|old| progress_only(old, status));
        PROGRESS_PACE.checked_sub(since).filter(|wait| progress && !wait.is_zero())
    }

    /// The service is gone: forget what was written (its writer ends).
    pub fn forget(&self, namespace: &str, name: &str) {
        self.services.lock().unwrap().remove(&format!("{namespace}/{name}"));
    }

    /// `service` with the status last handed in place of its cached one while the cache
    /// does not include its write (another write delivered meanwhile is older too). Once
    /// the cache includes the write, the status is dropped (when it was handed stays, for the pace).
    pub fn latest(&self, service: Arc<Service>) -> Arc<Service> {
        let mut services = self.services.lock().unwrap();
        let Some(write) = services.get_mut(&key(&service)) else { return service };
        match &write.unseen {
            Some((version, _)) if includes(service.resource_version().as_deref(), version.as_deref()) => {
                write.unseen = None;
                service
            }
            Some((_, status)) => {
                let mut fresh = (*service).clone();
                fresh.status = Some(status.clone());
                Arc::new(fresh)
            }
            None => service,
        }
    }
}

/// Do two statuses differ only in progress: the running and pending counts
/// (the service's and each deployment's, with the deployment's `updatedAt`
/// that follows them) and the wording of conditions whose status and reason
/// stay? Such a change is recomputed from the pods on every pass, so a write
/// held back loses nothing; a deployment's state, a condition's status, a
/// stopped task or a failure count is never held back.
pub fn progress_only(old: &ServiceStatus, new: &ServiceStatus) -> bool {
    fn without_progress(status: &ServiceStatus) -> ServiceStatus {
        let mut status = status.clone();
        (status.running_count, status.pending_count) = (None, None);
        for d in status.deployments.iter_mut().flatten() {
            (d.running_count, d.pending_count, d.updated_at) = (0, 0, d.created_at.clone());
        }
        for c in status.conditions.iter_mut().flatten() {
            c.message.clear();
        }
        status
    }
    without_progress(old) == without_progress(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(rv: &str, running: i32) -> Arc<Service> {
        let mut s: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "resourceVersion": rv},
            "spec": {"taskDefinition": "web"}})).unwrap();
        s.status = Some(ServiceStatus { running_count: Some(running), ..Default::default() });
        Arc::new(s)
    }

    fn running(count: i32) -> ServiceStatus {
        ServiceStatus { running_count: Some(count), ..Default::default() }
    }

    /// `status` handed over `cached`, and its write answered with `version`.
    fn written_as(written: &Written, cached: &Arc<Service>, status: ServiceStatus, version: &str, now: Instant) {
        written.hand(cached, status.clone(), now);
        let (service, status) = written.next(cached).expect("queued");
        written.wrote(&service, Some(version.into()), &status);
    }

    #[test]
    fn a_stale_cache_gets_the_written_status_until_it_includes_the_write() {
        let written = Written::default();
        let cached = service("10", 1);
        // Handed, not written yet: passes build on it whatever the cache shows.
        written.hand(&cached, running(2), Instant::now());
        assert_eq!(written.latest(service("99", 1)).status.as_ref().unwrap().running_count, Some(2));
        // Its write, over version 10, produced version 12.
        let (service_written, status) = written.next(&cached).unwrap();
        written.wrote(&service_written, Some("12".into()), &status);
        assert_eq!(written.latest(cached.clone()).status.as_ref().unwrap().running_count, Some(2));
        // The watch delivers version 11 (an earlier pass's write): still older than ours.
        assert_eq!(written.latest(service("11", 1)).status.as_ref().unwrap().running_count, Some(2));
        // Version 12 (or anything newer) includes the write: the cache wins, the entry goes.
        assert_eq!(written.latest(service("12", 2)).status.as_ref().unwrap().running_count, Some(2));
        assert_eq!(written.latest(cached).status.as_ref().unwrap().running_count, Some(1));
    }

    #[test]
    fn one_writer_per_service_writes_the_latest_status_handed_in_order() {
        let (written, cached, now) = (Written::default(), service("10", 1), Instant::now());
        assert!(written.hand(&cached, running(2), now), "the first status starts a writer");
        let (_, first) = written.next(&cached).unwrap();
        // While the writer writes 2, two more are handed: no second writer, and 3 is never written.
        assert!(!written.hand(&cached, running(3), now));
        assert!(!written.hand(&cached, running(4), now));
        // The answer to 2 does not settle 4, which waits for its own write.
        written.wrote(&cached, Some("11".into()), &first);
        assert_eq!(written.latest(service("11", 2)).status.as_ref().unwrap().running_count, Some(4));
        assert_eq!(written.next(&cached).map(|(_, s)| s), Some(running(4)));
        assert_eq!(written.next(&cached), None, "nothing queued: the writer ends");
        assert!(written.hand(&cached, running(5), now), "and the next status starts one again");
    }

    #[test]
    fn a_failed_write_is_made_again_unless_a_newer_status_was_handed() {
        let (written, cached, now) = (Written::default(), service("10", 1), Instant::now());
        written.hand(&cached, running(2), now);
        let (service_written, status) = written.next(&cached).unwrap();
        written.failed(service_written, status);
        assert_eq!(written.next(&cached).map(|(_, s)| s), Some(running(2)));
        written.hand(&cached, running(3), now);
        written.failed(cached.clone(), running(2));
        assert_eq!(written.next(&cached).map(|(_, s)| s), Some(running(3)));
    }

    #[test]
    fn a_deleted_service_is_forgotten() {
        let written = Written::default();
        let cached = service("10", 1);
        let now = Instant::now();
        written_as(&written, &cached, running(2), "11", now);
        written.hand(&cached, running(3), now);
        written.forget("ns", "web");
        assert_eq!(written.latest(cached.clone()).status.as_ref().unwrap().running_count, Some(1));
        assert_eq!(written.hold_back(&cached, &running(3), now), None);
        assert_eq!(written.next(&cached), None, "its writer ends");
    }

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        serde_json::from_value(serde_json::json!({"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z"})).unwrap()
    }

    fn progressing(running: i32, pending: i32, state: &str) -> ServiceStatus {
        serde_json::from_value(serde_json::json!({
            "runningCount": running, "pendingCount": pending, "rolloutState": state,
            "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": "web:1", "desiredCount": 10, "pendingCount": pending,
                "runningCount": running, "failedTasks": 0, "rolloutState": state, "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": format!("2026-01-01T00:00:{:02}Z", running)}],
            "conditions": [condition("Progressing", "True", "TasksStarting", &format!("{pending} pending, {running} running, 10 desired"))]})).unwrap()
    }

    #[test]
    fn counts_and_their_wording_are_progress_and_a_state_change_is_not() {
        assert!(progress_only(&progressing(2, 8, "IN_PROGRESS"), &progressing(5, 5, "IN_PROGRESS")));
        assert!(!progress_only(&progressing(9, 1, "IN_PROGRESS"), &progressing(10, 0, "COMPLETED")));
        let mut failed = progressing(5, 5, "IN_PROGRESS");
        failed.deployments.as_mut().unwrap()[0].failed_tasks = 1;
        assert!(!progress_only(&progressing(5, 5, "IN_PROGRESS"), &failed));
        let mut steady = progressing(5, 5, "IN_PROGRESS");
        steady.conditions = Some(vec![condition("Progressing", "False", "SteadyState", "10 of 10 tasks running")]);
        assert!(!progress_only(&progressing(5, 5, "IN_PROGRESS"), &steady));
    }

    #[test]
    fn progress_is_written_at_most_once_a_pace_and_the_rest_at_once() {
        let written = Written::default();
        let t0 = Instant::now();
        let mut cached = (*service("10", 0)).clone();
        cached.status = Some(progressing(2, 8, "IN_PROGRESS"));
        assert_eq!(written.hold_back(&cached, &progressing(3, 7, "IN_PROGRESS"), t0), None, "nothing written yet");
        written_as(&written, &Arc::new(cached.clone()), progressing(3, 7, "IN_PROGRESS"), "11", t0);
        cached.status = Some(progressing(3, 7, "IN_PROGRESS"));
        let soon = t0 + Duration::from_millis(300);
        assert_eq!(written.hold_back(&cached, &progressing(4, 6, "IN_PROGRESS"), soon), Some(Duration::from_millis(700)));
        assert_eq!(written.hold_back(&cached, &progressing(10, 0, "COMPLETED"), soon), None);
        assert_eq!(written.hold_back(&cached, &progressing(4, 6, "IN_PROGRESS"), t0 + PROGRESS_PACE), None);
    }
}
