//! Reconcile errors reach the user: each is published as a Warning event on
//! its object (as Stackable's operators do) and shown as a `Reconciled=False`
//! condition, and the object is retried with its own exponential backoff;
//! the next pass that succeeds resets the backoff and removes the condition.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

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

pub(super) fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF.checked_mul(1 << failures.saturating_sub(1).min(16)).map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}

type Reconcile = std::pin::Pin<Box<dyn Future<Output = Result<Action>> + Send>>;

/// The condition a failed pass leaves on its object. It is written under a
/// field manager of its own, so the controllers' status writes (server-side
/// apply of their own conditions) neither keep nor remove it.
const CONDITION: &str = "Reconciled";
const MANAGER: &str = "berth-operator-errors";

/// `reconcile`, with its errors published as Warning events and a condition
/// on the object, and its success resetting the object's backoff.
pub fn reporting<K, F, Fut>(reconcile: F) -> impl FnMut(Arc<K>, Arc<Context>) -> Reconcile
where
    K: Resource<DynamicType = ()> + serde::Serialize + Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    move |obj, ctx| {
        let reconcile = reconcile.clone();
        Box::pin(async move {
            let result = reconcile(obj.clone(), ctx.clone()).await;
            let shown = shown_failure(obj.as_ref());
            match &result {
                Ok(_) => {
                    ctx.errors.succeeded(&key(obj.as_ref()));
                    if shown.is_some() {
                        show(&ctx, obj.as_ref(), None).await;
                    }
                }
                Err(e) => {
                    if let Some(message) = publish(&ctx, obj.as_ref(), e, "")
                        && let Some(condition) = failure_condition(e, &message, obj.meta().generation, shown.as_ref())
                    {
                        show(&ctx, obj.as_ref(), Some(condition)).await;
                    }
                }
            }
            result
        })
    }
}

/// Publishes `error` (of a pass, or of writes sent behind one, `doing` saying which) as a
/// Warning event on `obj` and returns its message; None when it says that `obj` or its
/// namespace is gone, as no one is left to tell.
pub(super) fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, error: &Error, doing: &str) -> Option<String> {
    if let Error::Kube(e) = error
        && gone(obj, e)
    {
        return None;
    }
    let message = format!("{} {}: {doing}{error}", K::kind(&()), obj.name_any());
    ctx.publish(obj, EventType::Warning, error.reason(), &message);
    Some(message)
}

/// Does `error` say that `obj` is gone, or that its namespace is being deleted?
fn gone<K: Resource<DynamicType = ()>>(obj: &K, error: &kube::Error) -> bool {
    let itself = match error {
        kube::Error::Api(status) if status.is_not_found() => {
            status.details.as_ref().is_some_and(|d| d.name == obj.name_any() && d.kind == K::plural(&()) && d.group == K::group(&()))
        }
        _ => false,
    };
    itself || super::error::namespace_going_away(error)
}

/// The `Reconciled=False` condition the object shows, if any.
fn shown_failure<K: serde::Serialize>(obj: &K) -> Option<Condition> {
    let conditions = serde_json::to_value(obj).ok()?.pointer("/status/conditions")?.clone();
    serde_json::from_value::<Vec<Condition>>(conditions).ok()?.into_iter().find(|c| c.type_ == CONDITION)
}

/// The condition to show for a failed pass, or None when there is nothing new
/// to say: the same failure is shown already, or the planner's own conditions
/// say it (a refused launch).
fn failure_condition(error: &Error, message: &str, generation: Option<i64>, shown: Option<&Condition>) -> Option<Condition> {
    if matches!(error, Error::LaunchRefused(_)) || shown.is_some_and(|c| c.reason == error.reason() && c.message == message) {
        return None;
    }
    Some(Condition {
        type_: CONDITION.into(),
        status: "False".into(),
        reason: error.reason().into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: shown.map_or_else(|| crate::ecs::plan::conditions::time(k8s_openapi::jiff::Timestamp::now().as_second()), |c| c.last_transition_time.clone()),
    })
}

/// Shows `condition` on the object, or removes it (an apply without it drops
/// what this manager owned). Best effort: when the API server is what fails,
/// the event and the log still say it.
async fn show<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, condition: Option<Condition>) {
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match obj.namespace() {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), &ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    let body = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": {"conditions": condition.into_iter().collect::<Vec<_>>()}});
    if let Err(e) = api.patch_status(&obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await {
        tracing::debug!(name = obj.name_any(), "could not write the {CONDITION} condition: {e}");
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
    use crate::controller::testing::{api_error, refusal};

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_failure_is_shown_once_and_a_refused_launch_is_left_to_the_planner() {
        let error = Error::Render("containerDefinitions[0].dependsOn: cycle".into());
        let first = failure_condition(&error, "Service web: cycle", Some(2), None).expect("a new failure is shown");
        assert_eq!((first.type_.as_str(), first.status.as_str(), first.reason.as_str()), ("Reconciled", "False", "InvalidTaskDefinition"));
        assert_eq!(failure_condition(&error, "Service web: cycle", Some(2), Some(&first)), None, "the same failure again writes nothing");
        let other = failure_condition(&error, "Service web: another", Some(2), Some(&first)).expect("a new message is shown");
        assert_eq!(other.last_transition_time, first.last_transition_time, "still False since the first failure");
        assert_eq!(failure_condition(&Error::LaunchRefused("quota".into()), "m", None, None), None);
    }

    #[test]
    fn a_failure_saying_the_object_is_gone_is_told_to_no_one() {
        let service: crate::api::Service = serde_json::from_value(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns"}, "spec": {"taskDefinition": "web"}})).unwrap();
        let not_found = |name: &str, group: &str, kind: &str| api_error(refusal(404, "NotFound", json!({"name": name, "group": group, "kind": kind})));
        assert!(gone(&service, &not_found("web", "berth.dev", "services")), "its own status write after it was deleted");
        assert!(gone(&service, &not_found("ns", "", "namespaces")));
        assert!(!gone(&service, &not_found("web", "", "services")), "a Kubernetes Service of the same name is another object");
        assert!(!gone(&service, &not_found("web-hook", "berth.dev", "taskruns")));
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
