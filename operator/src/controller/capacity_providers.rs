//! CapacityProvider status: `Ready` while some node of the provider's pool can
//! take a task, with the count of matching and Ready nodes, so that
//! `kubectl wait --for=condition=Ready capprov/NAME` works and a selector that
//! matches nothing is said at once rather than found by a task that never places.
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::ResourceExt;

use crate::ecs::plan::conditions::{self, Want};
use super::error::Result;
use super::{Context, MANAGER};
use crate::api::{CapacityProvider, CapacityProviderStatus};
use crate::ecs::capacity::readiness::readiness;

pub async fn reconcile(provider: Arc<CapacityProvider>, ctx: Arc<Context>) -> Result<Action> {
    // Counting nodes from a node cache still listing would report a pool empty.
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let _timer = ctx.health.metrics.reconcile("capacityprovider");
    let nodes = ctx.nodes.state();
    let now = readiness(&provider.spec, nodes.iter().map(Arc::as_ref));
    let old = provider.status.clone().unwrap_or_default();
    let generation = provider.metadata.generation;
    let status = CapacityProviderStatus {
        observed_generation: generation,
        matching_nodes: Some(now.matching_nodes),
        ready_nodes: Some(now.ready_nodes),
        conditions: Some(conditions::merge(
            old.conditions.as_deref().unwrap_or_default(),
            vec![Want { type_: "Ready", status: now.ready, reason: now.reason, message: now.message.clone() }],
            generation,
            &conditions::time(k8s_openapi::jiff::Timestamp::now().as_second()),
        )),
    };
    if provider.status.as_ref() == Some(&status) {
        return Ok(Action::await_change());
    }
    let was = old.conditions.iter().flatten().find(|c| c.type_ == "Ready").map(|c| (c.status.as_str(), c.reason.as_str()));
    if !now.ready && was != Some(("False", now.reason)) {
        ctx.publish(provider.as_ref(), EventType::Warning, now.reason, &now.message);
    }
    // Cluster-scoped, so not `super::apply_status` (namespaced kinds only).
    let body = serde_json::json!({"apiVersion": "berth.dev/v1alpha1", "kind": "CapacityProvider", "status": status});
    Api::<CapacityProvider>::all(ctx.client.clone())
        .patch_status(&provider.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body))
        .await?;
    Ok(Action::await_change())
}
