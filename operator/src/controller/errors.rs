//! Reconcile errors reach the user: each is published as a Warning event on
//! its object (as Stackable's operators do), and the object is retried with
//! its own exponential backoff, reset by the next pass that succeeds.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::Context;
use super::error::{Error, Result};

/// First retry after a failed pass, doubled per consecutive failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Consecutive failed passes per object (`kind/namespace/name`).
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts a failure of `key`; returns how long to wait before the next try.
    fn failed(&self, key: String) -> Duration {
        let mut failures = self.0.lock().unwrap();
        let count = failures.entry(key).or_default();
        *count = count.saturating_add(1);
        backoff(*count)
    }

    fn succeeded(&self, key: &str) {
        self.0.lock().unwrap().remove(key);
    }

    /// The object is gone: forget its failures.
    pub fn forget<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.succeeded(&key(obj));
    }
}

fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF.checked_mul(1 << failures.saturating_sub(1).min(16)).map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}

/// `reconcile`, with its errors published as Warning events on the object
/// and its success resetting the object's backoff.
pub fn reporting<K, F, Fut>(reconcile: F) -> impl FnMut(Arc<K>, Arc<Context>) -> std::pin::Pin<Box<dyn Future<Output = Result<Action>> + Send>>
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    move |obj, ctx| {
        let reconcile = reconcile.clone();
        Box::pin(async move {
            let result = reconcile(obj.clone(), ctx.clone()).await;
            match &result {
                Ok(_) => ctx.errors.succeeded(&key(obj.as_ref())),
                Err(e) => {
                    let message = format!("{} {}: {e}", K::kind(&()), obj.name_any());
                    ctx.publish(obj.as_ref(), EventType::Warning, e.reason(), &message).await;
                }
            }
            result
        })
    }
}

/// The controllers' error policy: count, log with the object's name, back off.
pub fn policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let kind = match K::kind(&()).as_ref() {
        "Service" => "service",
        "TaskRun" => "taskrun",
        "TaskSchedule" => "taskschedule",
        "TaskDefinition" => "taskdefinition",
        "CapacityProvider" => "capacityprovider",
        _ => "other",
    };
    ctx.health.metrics.failed(kind, error.reason());
    let wait = ctx.errors.failed(key(obj.as_ref()));
    tracing::warn!(reason = error.reason(), namespace = obj.namespace().unwrap_or_default(), name = obj.name_any(), retry_in = ?wait, "{kind} reconcile failed: {error}");
    Action::requeue(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_success_resets_the_count() {
        let failures = Failures::default();
        assert_eq!(failures.failed("a".into()), Duration::from_secs(1));
        assert_eq!(failures.failed("a".into()), Duration::from_secs(2));
        failures.succeeded("a");
        assert_eq!(failures.failed("a".into()), Duration::from_secs(1));
    }
}
