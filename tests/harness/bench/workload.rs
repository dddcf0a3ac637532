//! The objects each contender is given: Berth's TaskDefinition and Service,
//! kube-controller-manager's Deployment, and bare pods for the raw limit, all
//! with the same pod shape (one container, 256 MiB, a readiness check; kwok
//! runs it without an image).
use std::time::Duration;

use anyhow::Result;
use berth::api::TaskDefinition;
use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::fixture::try_wait_for;

pub const IMAGE: &str = "registry.local/bench:1";
pub const NEXT_IMAGE: &str = "registry.local/bench:2";
/// Label on every kcm and raw pod (Berth labels its own tasks).
pub const APP_LABEL: &str = "bench.berth.dev/app";
/// Requests sent at once when the benchmark itself creates or deletes pods.
pub const CONCURRENT_REQUESTS: usize = 32;

const HEALTH_CHECK: [&str; 2] = ["CMD-SHELL", "test -f /tmp/ready"];

/// A task definition with a health check, so a ready task counts as healthy
/// at once (without one, ECS counts a task healthy only 40 s after RUNNING).
pub fn task_definition(name: &str, image: &str) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskDefinition", "metadata": {"name": name},
        "spec": {"memory": "256", "containerDefinitions": [{"name": "app", "image": image, "essential": true,
            "healthCheck": {"command": HEALTH_CHECK}}]}})
}

/// A Service of `desired` tasks rolling within minimum 50 % / maximum 200 %.
pub fn service(name: &str, task_definition: &str, desired: usize) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "metadata": {"name": name},
        "spec": {"taskDefinition": task_definition, "desiredCount": desired,
            "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}}})
}

/// The pod the references run: the shape Berth renders from `task_definition`,
/// spread over zones, then nodes, among the pods labelled `group` (Berth's
/// default placement strategy, soft, as Berth renders it), so kube-scheduler
/// does the same work for every contender.
pub fn pod_spec(image: &str, restart_policy: &str, group: &str) -> Value {
    let spread = |key: &str| json!({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {APP_LABEL: group}}});
    json!({"restartPolicy": restart_policy, "containers": [{"name": "app", "image": image,
        "resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", HEALTH_CHECK[1]]}}}],
        "topologySpreadConstraints": [spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")]})
}

/// A Deployment whose rolling update is the ECS minimum 50 % / maximum 200 %.
pub fn deployment(name: &str, replicas: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {APP_LABEL: name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": "100%"}},
            "template": {"metadata": {"labels": {APP_LABEL: name}}, "spec": pod_spec(IMAGE, "Always", name)}}})
}

/// `deployment` with its pods replaced as Berth replaces tasks: evicted from a
/// NotReady or unreachable node after `node_lost_grace` (Berth's
/// `--node-lost-grace-seconds`) rather than the API server's default 300 s.
pub fn evicted_like_berth(mut deployment: Value, node_lost_grace: Duration) -> Value {
    let tolerate = |key: &str| json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": node_lost_grace.as_secs()});
    let spec = &mut deployment["spec"]["template"]["spec"];
    spec["tolerations"] = json!([tolerate("node.kubernetes.io/not-ready"), tolerate("node.kubernetes.io/unreachable")]);
    deployment
}

/// A bare pod, as Berth creates a task (restartPolicy Never).
pub fn raw_pod(name: &str, image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {APP_LABEL: "raw"}},
        "spec": pod_spec(image, "Never", "raw")})
}

/// Creates `object` in `ns` (any kind, by its apiVersion and kind).
pub async fn create(client: &Client, ns: &str, object: &Value) -> Result<()> {
    let api = dynamic_api(client, ns, object)?;
    api.create(&PostParams::default(), &serde_json::from_value(object.clone())?).await?;
    Ok(())
}

/// Creates every object, `CONCURRENT_REQUESTS` at a time.
pub async fn create_all(client: &Client, ns: &str, objects: Vec<Value>) -> Result<()> {
    futures::stream::iter(objects)
        .map(|object| async move { create(client, ns, &object).await })
        .buffer_unordered(CONCURRENT_REQUESTS)
        .try_collect()
        .await
}

fn dynamic_api(client: &Client, ns: &str, object: &Value) -> Result<Api<DynamicObject>> {
    let (api_version, kind) = (object["apiVersion"].as_str().unwrap_or_default(), object["kind"].as_str().unwrap_or_default());
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "Service" => "services",
        "TaskDefinition" => "taskdefinitions",
        "Deployment" => "deployments",
        "Pod" => "pods",
        other => anyhow::bail!("the benchmark creates no {other}"),
    };
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Ok(Api::namespaced_with(client.clone(), ns, &resource))
}

/// Applies the task definition `name` (with `image`) and waits until Berth has
/// registered it as `revision`, so a Service's clock starts with it ready.
pub async fn register_task_definition(client: &Client, ns: &str, name: &str, image: &str, revision: i32, timeout: Duration) -> Result<()> {
    let api = Api::<TaskDefinition>::namespaced(client.clone(), ns);
    let params = kube::api::PatchParams::apply("berth-bench").force();
    api.patch(name, &params, &kube::api::Patch::Apply(task_definition(name, image))).await?;
    try_wait_for(api, watcher::Config::default().fields(&format!("metadata.name={name}")), timeout,
        &format!("task definition {name}:{revision}"), |tds| {
            tds.iter().any(|td| td.status.as_ref().and_then(|s| s.latest_revision) == Some(revision))
        })
    .await?;
    Ok(())
}
