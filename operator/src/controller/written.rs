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

/// Per service (`namespace/name`): the resourceVersion the write was based
/// on, and the status written.
#[derive(Debug, Default)]
pub struct Written(Mutex<HashMap<String, (Option<String>, ServiceStatus)>>);

fn key(service: &Service) -> String {
    format!("{}/{}", service.namespace().unwrap_or_default(), service.name_any())
}

impl Written {
    /// Records that `status` was written over `service` as the cache showed it.
    pub fn wrote(&self, service: &Service, status: ServiceStatus) {
        self.0.lock().unwrap().insert(key(service), (service.resource_version(), status));
    }

    /// The service is gone: forget what was written.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.0.lock().unwrap().remove(&format!("{namespace}/{name}"));
    }

    /// `service` with the status last written in place of its cached one
    /// while the cache still shows the object that write was based on.
    /// Once the cache has moved on, the entry is dropped.
    pub fn latest(&self, service: Arc<Service>) -> Arc<Service> {
        let mut written = self.0.lock().unwrap();
        let key = key(&service);
        match written.get(&key) {
            Some((based_on, status)) if *based_on == service.resource_version() => {
                let mut fresh = (*service).clone();
                fresh.status = Some(status.clone());
                Arc::new(fresh)
            }
            Some(_) => {
                written.remove(&key);
                service
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
    fn a_stale_cache_gets_the_written_status_until_it_moves_on() {
        let written = Written::default();
        let cached = service("10", 1);
        written.wrote(&cached, ServiceStatus { running_count: Some(2), ..Default::default() });
        // The cache still shows resourceVersion 10: the written status stands in.
        assert_eq!(written.latest(cached.clone()).status.as_ref().unwrap().running_count, Some(2));
        // The watch delivered the write (or anything newer): the cache wins, the entry goes.
        let newer = service("11", 2);
        assert_eq!(written.latest(newer).status.as_ref().unwrap().running_count, Some(2));
        assert_eq!(written.latest(cached).status.as_ref().unwrap().running_count, Some(1));
    }

    #[test]
    fn a_deleted_service_is_forgotten() {
        let written = Written::default();
        let cached = service("10", 1);
        written.wrote(&cached, ServiceStatus { running_count: Some(2), ..Default::default() });
        written.forget("ns", "web");
        assert_eq!(written.latest(cached).status.as_ref().unwrap().running_count, Some(1));
    }
}
