//! Why a Service stopped each task it deleted by its own choice (a scale-in, a deployment's
//! replacements, a rebalance), until the task's pod leaves the cache.
//!
//! Such a stop costs one request, the delete, as the ReplicaSet controller's does: its cause
//! is not patched onto the pod first. The pass that stops a task writes the cause into the
//! Service's `stoppedTasks`; the passes that still see the pod terminating read it here.
//! A task that ended by itself is counted once (the circuit breaker's failures) by the
//! status write that names it in `stoppedTasks` (`ecs::plan::service::reported_stopped`); the
//! pass that counts one keeps it here too, for the tasks `stoppedTasks` has no room for.
use std::collections::HashMap;
use std::sync::Mutex;

use crate::ecs::task::lifecycle::Stop;

/// Per owner (`service/<ns>/<name>`): pod name → why it stops.
#[derive(Debug, Default)]
pub struct Stopping(Mutex<HashMap<String, HashMap<String, Stop>>>);

impl Stopping {
    /// `owner` is deleting `pod` because of `stop`, or counted `stop` of its ended task (told
    /// before the delete is sent, so a pass that sees the pod first finds it).
    pub fn stopping(&self, owner: &str, pod: &str, stop: &Stop) {
        self.0.lock().unwrap().entry(owner.to_string()).or_default().insert(pod.to_string(), stop.clone());
    }

    /// The causes of `owner`'s stops whose pods are still `cached`; the others are forgotten.
    pub fn of(&self, owner: &str, cached: impl Fn(&str) -> bool) -> HashMap<String, Stop> {
        let mut owners = self.0.lock().unwrap();
        let Some(stops) = owners.get_mut(owner) else { return HashMap::new() };
        stops.retain(|pod, _| cached(pod));
        let stops = stops.clone();
        if stops.is_empty() {
            owners.remove(owner);
        }
        stops
    }

    /// The owner is gone: forget it.
    pub fn forget(&self, owner: &str) {
        self.0.lock().unwrap().remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TaskStopCode;

    #[test]
    fn a_stop_is_known_while_its_pod_is_cached_and_forgotten_after() {
        let stopping = Stopping::default();
        let scaled_in = Stop::new(TaskStopCode::ServiceSchedulerInitiated, "Scaling activity initiated by (deployment ecs-svc/1)");
        stopping.stopping("service/team/web", "web-1", &scaled_in);
        stopping.stopping("service/team/api", "api-1", &scaled_in);
        assert_eq!(stopping.of("service/team/web", |_| true).get("web-1"), Some(&scaled_in));
        // The pod left the cache: its cause goes with it, and the owner's entry once empty.
        assert!(stopping.of("service/team/web", |_| false).is_empty());
        assert!(stopping.0.lock().unwrap().get("service/team/web").is_none());
        // Another owner's stops are untouched until it is forgotten.
        assert_eq!(stopping.of("service/team/api", |_| true).len(), 1);
        stopping.forget("service/team/api");
        assert!(stopping.of("service/team/api", |_| true).is_empty());
    }
}
