//! The status a reconcile wrote, until the cache shows it. kube-runtime starts
//! the next pass of a service as soon as a pod changes, often before the watch
//! has delivered the previous pass's status write; a pass on that stale status
//! would undo it. Status carries counts no pod keeps, such as the circuit
//! breaker's failed tasks (each stop is counted once, when it is recorded on
//! its pod), so undoing a write loses them for good.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;

use crate::api::{Service, ServiceStatus};

/// Per service (`namespace/name`): the resourceVersion the write produced,
/// and the status written.
#[derive(Debug, Default)]
pub struct Written(Mutex<HashMap<String, (Option<String>, ServiceStatus)>>);

fn key(service: &Service) -> String {
    format!("{}/{}", service.namespace().unwrap_or_default(), service.name_any())
}

/// Does an object at resourceVersion `cached` include the write that produced
/// `written`? The API server's resourceVersions are etcd revisions, which only
/// grow; one that is not a number is taken as the write itself only when equal.
fn includes(cached: Option<&str>, written: Option<&str>) -> bool {
    match (cached.and_then(|c| c.parse::<u64>().ok()), written.and_then(|w| w.parse::<u64>().ok())) {
        (Some(cached), Some(written)) => cached >= written,
        _ => cached == written,
    }
}

impl Written {
    /// Records that `status` was written over `service`, producing `version`.
    pub fn wrote(&self, service: &Service, version: Option<String>, status: ServiceStatus) {
        self.0.lock().unwrap().insert(key(service), (version, status));
    }

    /// The service is gone: forget what was written.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.0.lock().unwrap().remove(&format!("{namespace}/{name}"));
    }

    /// `service` with the status last written in place of its cached one
    /// while the cache shows a version older than that write (another write
    /// delivered meanwhile is older too). Once the cache includes the write,
    /// the entry is dropped.
    pub fn latest(&self, service: Arc<Service>) -> Arc<Service> {
        let mut written = self.0.lock().unwrap();
        let key = key(&service);
        match written.get(&key) {
            Some((version, _)) if includes(service.resource_version().as_deref(), version.as_deref()) => {
                written.remove(&key);
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

    #[test]
    fn a_stale_cache_gets_the_written_status_until_it_includes_the_write() {
        let written = Written::default();
        let cached = service("10", 1);
        // Our write, over version 10, produced version 12.
        written.wrote(&cached, Some("12".into()), ServiceStatus { running_count: Some(2), ..Default::default() });
        assert_eq!(written.latest(cached.clone()).status.as_ref().unwrap().running_count, Some(2));
        // The watch delivers version 11 (an earlier pass's write): still older than ours.
        assert_eq!(written.latest(service("11", 1)).status.as_ref().unwrap().running_count, Some(2));
        // Version 12 (or anything newer) includes the write: the cache wins, the entry goes.
        assert_eq!(written.latest(service("12", 2)).status.as_ref().unwrap().running_count, Some(2));
        assert_eq!(written.latest(cached).status.as_ref().unwrap().running_count, Some(1));
    }

    #[test]
    fn a_deleted_service_is_forgotten() {
        let written = Written::default();
        let cached = service("10", 1);
        written.wrote(&cached, Some("11".into()), ServiceStatus { running_count: Some(2), ..Default::default() });
        written.forget("ns", "web");
        assert_eq!(written.latest(cached).status.as_ref().unwrap().running_count, Some(1));
    }
}
