//! Acting on task pods: creating them in slow-start batches, stopping them
//! with their ECS stop code recorded on the pod first.
use std::future::Future;

use futures::future::join_all;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

use crate::ecs::plan::Launched;
use crate::ecs::task::labels;
use crate::api::wire_name;
use crate::ecs::task::lifecycle::Stop;
use super::error::namespace_going_away;
use super::stopping::Stopping;

/// Creates pods in batches of 1, 2, 4, ... (the ReplicaSet controller's slow
/// start): a failing create (quota, admission) costs one call, not hundreds.
/// Stops at the first refusal; a pod that already exists counts as created
/// (a task run's pods have fixed names). A namespace being deleted stops the
/// creates without a refusal: there is nothing to tell its owner.
pub async fn create_in_batches(api: &Api<Pod>, pods: Vec<Pod>) -> Launched {
    let mut launched = Launched::default();
    let mut remaining = pods.into_iter();
    let (mut batch_size, mut ending) = (1, false);
    loop {
        let batch: Vec<Pod> = remaining.by_ref().take(batch_size).collect();
        if batch.is_empty() {
            return launched;
        }
        let params = PostParams::default();
        let results = join_all(batch.iter().map(|p| api.create(&params, p))).await;
        for (pod, result) in batch.iter().zip(results) {
            let task_id = pod.labels().get(labels::TASK_ID).cloned().unwrap_or_default();
            match result {
                Ok(_) => launched.created.push((pod.name_any(), task_id)),
                Err(kube::Error::Api(s)) if s.is_already_exists() => {}
                Err(e) if namespace_going_away(&e) => ending = true,
                Err(e) => launched.refused = launched.refused.or(Some(refusal(&e))),
            }
        }
        if launched.refused.is_some() || ending {
            return launched;
        }
        batch_size *= 2;
    }
}

/// The API server's words for a refused create.
fn refusal(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

/// Requests one pass sends at once when it stops or records many tasks. The
/// ReplicaSet controller deletes its victims in parallel too; sent one after
/// another, 100 stops would cost 100 round trips before any replacement starts.
const CONCURRENT_REQUESTS: usize = 32;

/// Runs `act` on every item, [`CONCURRENT_REQUESTS`] at a time, and returns the first error:
/// one failure does not leave the other items unsent (nor their expectations standing).
pub async fn concurrently<T, F, Fut>(items: impl IntoIterator<Item = T>, act: F) -> Result<(), kube::Error>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(items).map(act).buffer_unordered(CONCURRENT_REQUESTS).collect().await;
    results.into_iter().collect()
}

/// Deletes the pod of a task `owner` stops (its containers get SIGTERM and the grace period
/// from stopTimeout), keeping why in `stopping` rather than on the pod: one request, as the
/// ReplicaSet controller's delete. A pod already gone is fine.
pub async fn stop(api: &Api<Pod>, stopping: &Stopping, owner: &str, pod: &str, stop: &Stop) -> Result<(), kube::Error> {
    stopping.stopping(owner, pod, stop);
    forget(api, pod).await
}

/// Records why the task stops on its pod, then deletes it: a stop for the task's failure,
/// which stays with the task.
pub async fn stop_recorded(api: &Api<Pod>, pod: &str, stop: &Stop) -> Result<(), kube::Error> {
    record(api, pod, stop).await?;
    forget(api, pod).await
}

/// Starts draining a task that takes traffic: one patch drops the labels its Services
/// select (so it leaves their endpoints), records why it stops and since when it drains.
/// The pod is deleted later, once the planner finds it drained.
pub async fn drain(api: &Api<Pod>, pod: &str, stop: &Stop, now: i64) -> Result<(), kube::Error> {
    let drain = json!({"metadata": {
        "labels": {labels::TRAFFIC: null, labels::ROUTABLE: null},
        "annotations": {
            labels::STOP_CODE: wire_name(&stop.code),
            labels::STOPPED_REASON: stop.reason,
            labels::DRAINING_SINCE: now.to_string(),
        },
    }});
    ignore_not_found(api.patch(pod, &PatchParams::default(), &Patch::Merge(&drain)).await.map(drop))
}

/// Puts a task behind its service's production Kubernetes Services (`serve`), or holds it
/// out of them (its health is still read from its readiness).
pub async fn label_serving(api: &Api<Pod>, pod: &str, serve: bool) -> Result<(), kube::Error> {
    let value = if serve { labels::TRAFFIC_SERVE } else { labels::TRAFFIC_HOLD };
    let label = json!({"metadata": {"labels": {labels::TRAFFIC: value}}});
    ignore_not_found(api.patch(pod, &PatchParams::default(), &Patch::Merge(&label)).await.map(drop))
}

/// Records why Berth stops the task on its pod, so every later reader (and the circuit
/// breaker, which counts each stop once) sees the same cause while it terminates.
async fn record(api: &Api<Pod>, pod: &str, stop: &Stop) -> Result<(), kube::Error> {
    let record = json!({"metadata": {"annotations": {
        labels::STOP_CODE: wire_name(&stop.code),
        labels::STOPPED_REASON: stop.reason,
    }}});
    ignore_not_found(api.patch(pod, &PatchParams::default(), &Patch::Merge(&record)).await.map(drop))
}

/// Deletes a stopped task's pod (its record is kept no longer).
pub async fn forget(api: &Api<Pod>, pod: &str) -> Result<(), kube::Error> {
    ignore_not_found(api.delete(pod, &DeleteParams::default()).await.map(drop))
}

fn ignore_not_found(result: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controller::testing::{answering, refusal};

    fn pods(count: usize) -> Vec<Pod> {
        (0..count).map(|i| serde_json::from_value(json!({"metadata": {"name": format!("web-{i}"), "namespace": "ns"}})).unwrap()).collect()
    }

    fn forbidden(causes: serde_json::Value) -> serde_json::Value {
        refusal(403, "Forbidden", json!({"kind": "pods", "causes": causes}))
    }

    #[tokio::test]
    async fn creates_in_a_namespace_being_deleted_end_at_once_unrefused() {
        let cause = json!([{"reason": "NamespaceTerminating", "message": "namespace ns is being terminated", "field": "metadata.namespace"}]);
        let (client, requests) = answering(403, forbidden(cause));
        let launched = create_in_batches(&Api::namespaced(client, "ns"), pods(5)).await;
        assert!(launched.created.is_empty() && launched.refused.is_none(), "{launched:?}");
        assert_eq!(requests.lock().unwrap().len(), 1, "the first create says it: no more are sent");
    }

    #[tokio::test]
    async fn any_other_refusal_ends_the_creates_and_is_reported() {
        let (client, requests) = answering(403, forbidden(json!([])));
        let launched = create_in_batches(&Api::namespaced(client, "ns"), pods(5)).await;
        assert_eq!(launched.refused.as_deref(), Some("refused (Forbidden)"));
        assert_eq!(requests.lock().unwrap().len(), 1);
    }
}
