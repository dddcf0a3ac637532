//! Task definition revisions: every spec change of a TaskDefinition becomes a
//! new immutable revision, stored as an apps/v1 ControllerRevision owned by it
//! (as Kubernetes stores StatefulSet history). Services and TaskRuns resolve
//! `family`, `family:revision` or an ARN to one of them.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::Context;
use super::conditions::{self, Want};
use super::error::{Error, Result};
use crate::api::{TaskDefinition, TaskDefinitionRevision, TaskDefinitionRevisionStatus, TaskDefinitionSpec, TaskDefinitionStatus};
use crate::ecs::render::names::{dns_label, label_value};
use crate::ecs::task::labels;
use crate::ecs::task::reference::{self, Resolved};

/// Label on a ControllerRevision naming its TaskDefinition.
const TASK_DEFINITION_LABEL: &str = "berth.dev/task-definition";

/// The family a TaskDefinition registers under: `spec.family`, else its name.
pub fn family_of(td: &TaskDefinition) -> String {
    td.spec.family.clone().unwrap_or_else(|| td.name_any())
}

fn revision_name(td: &TaskDefinition, revision: i32) -> String {
    let base: String = dns_label(&td.name_any()).chars().take(50).collect();
    format!("{}-{revision}", base.trim_end_matches('-'))
}

pub async fn reconcile(td: Arc<TaskDefinition>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.health.metrics.reconcile("taskdefinition");
    let ns = td.namespace().unwrap_or_default();
    let family = family_of(&td);
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!("{TASK_DEFINITION_LABEL}={}", label_value(&td.name_any()));
    let mut revisions: Vec<ControllerRevision> = api.list(&ListParams::default().labels(&selector)).await?.items;
    revisions.retain(|r| r.metadata.owner_references.iter().flatten().any(|o| Some(&o.uid) == td.metadata.uid.as_ref()));
    revisions.sort_by_key(|r| r.revision);

    let mut spec = td.spec.clone();
    spec.family = Some(family.clone());
    // Read-only describe output (revision, registeredAt, ...) is no part of a revision.
    spec.described = Default::default();
    let data = serde_json::to_value(&spec)?;
    let latest = revisions.last();
    if latest.and_then(|r| r.data.as_ref()).map(|d| &d.0) != Some(&data) {
        // Numbers are never reused, even after revisions were deleted.
        let seen = td.status.as_ref().and_then(|s| s.latest_revision).unwrap_or(0);
        let next = latest.map(|r| r.revision as i32).unwrap_or(0).max(seen) + 1;
        let revision = ControllerRevision {
            metadata: kube::api::ObjectMeta {
                name: Some(revision_name(&td, next)),
                namespace: Some(ns.clone()),
                labels: Some(BTreeMap::from([
                    (labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string()),
                    (TASK_DEFINITION_LABEL.to_string(), label_value(&td.name_any())),
                    (labels::FAMILY.to_string(), label_value(&family)),
                    (labels::REVISION.to_string(), next.to_string()),
                ])),
                annotations: Some(BTreeMap::from([(labels::TASK_DEFINITION.to_string(), format!("{family}:{next}"))])),
                owner_references: Some(vec![td.controller_owner_ref(&()).expect("task definitions have uids")]),
                ..Default::default()
            },
            data: Some(RawExtension(data)),
            revision: next.into(),
        };
        match api.create(&PostParams::default(), &revision).await {
            Ok(created) => {
                ctx.publish(td.as_ref(), EventType::Normal, "RevisionRegistered", &format!("Registered task definition {family}:{next}")).await;
                revisions.push(created);
            }
            Err(kube::Error::Api(s)) if s.is_already_exists() => return Ok(Action::requeue(Duration::from_secs(1))),
            Err(e) => return Err(e.into()),
        }
    }

    let unsupported: Vec<String> = crate::ecs::render::unsupported_fields(&td.spec).into_iter().map(|u| format!("{}: {}", u.field, u.reason)).collect();
    let old = td.status.clone().unwrap_or_default();
    let latest_revision = revisions.last().map(|r| r.revision as i32);
    let status = TaskDefinitionStatus {
        observed_generation: td.metadata.generation,
        family: Some(family.clone()),
        latest_revision,
        revisions: Some(revisions.iter().map(|r| TaskDefinitionRevision {
            revision: r.revision as i32,
            controller_revision: r.name_any(),
            status: TaskDefinitionRevisionStatus::Active,
        }).collect()),
        unsupported_fields: (!unsupported.is_empty()).then(|| unsupported.clone()),
        conditions: Some(conditions::merge(
            old.conditions.as_deref().unwrap_or_default(),
            vec![Want {
                type_: "Ready",
                status: true,
                reason: "RevisionRegistered",
                message: format!("{family}:{} is the latest revision", latest_revision.unwrap_or(0)),
            }],
            td.metadata.generation,
            &conditions::now(),
        )),
    };
    if td.status.as_ref() != Some(&status) {
        if !unsupported.is_empty() && old.unsupported_fields.as_ref() != Some(&unsupported) {
            let message = format!("Berth accepts but does not act on: {}", unsupported.join("; "));
            ctx.publish(td.as_ref(), EventType::Warning, "UnsupportedFields", &message.chars().take(1000).collect::<String>()).await;
        }
        super::apply_status(&ctx.client, td.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}

pub fn error_policy(_td: Arc<TaskDefinition>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.health.metrics.failed("taskdefinition", error.reason());
    tracing::warn!(reason = error.reason(), "task definition reconcile failed: {error}");
    Action::requeue(Duration::from_secs(5))
}

/// Finds the revision a `taskDefinition` reference names in `ns`, from the
/// caches. The error says what is missing, for the owner's status.
pub fn resolve(ctx: &Context, ns: &str, reference: &str) -> std::result::Result<Resolved, String> {
    let wanted = reference::parse(reference).ok_or_else(|| format!("{reference:?} is not a family, family:revision or task definition ARN"))?;
    let td = ctx
        .task_definitions
        .state()
        .into_iter()
        .find(|td| td.namespace().as_deref() == Some(ns) && family_of(td) == wanted.family)
        .ok_or_else(|| format!("no TaskDefinition with family {} in namespace {ns}", wanted.family))?;
    let revision = match wanted.revision {
        Some(r) => r,
        None => td.status.as_ref().and_then(|s| s.latest_revision).ok_or_else(|| format!("{} has no registered revision yet", wanted.family))?,
    };
    let stored = ctx
        .revisions
        .get(&kube::runtime::reflector::ObjectRef::new(&revision_name(&td, revision)).within(ns))
        .ok_or_else(|| format!("revision {}:{revision} does not exist", wanted.family))?;
    let data = stored.data.as_ref().ok_or_else(|| format!("revision {}:{revision} holds no spec", wanted.family))?;
    let spec: TaskDefinitionSpec = serde_json::from_value(data.0.clone()).map_err(|e| format!("revision {}:{revision} is unreadable: {e}", wanted.family))?;
    Ok(Resolved { family: wanted.family, revision, spec })
}
