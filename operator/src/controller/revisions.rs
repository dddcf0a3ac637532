//! Task definition revisions: every spec change of a TaskDefinition becomes a
//! new immutable revision, stored as an apps/v1 ControllerRevision owned by it
//! (as Kubernetes stores StatefulSet history). Services and TaskRuns resolve
//! `family`, `family:revision` or an ARN to one of them.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{Context, task_roles};
use crate::ecs::plan::conditions::{self, Want};
use super::error::Result;
use crate::api::{TaskDefinition, TaskDefinitionRevision, TaskDefinitionRevisionStatus, TaskDefinitionSpec, TaskDefinitionStatus};
use crate::ecs::render::names::{dns_label, label_value};
use crate::ecs::render::{RenderError, TaskContext, render_pod};
use crate::ecs::task::roles::role_of;
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
    // Revisions come from the cache: before it has listed, a TaskDefinition
    // would seem to have none and register its spec again.
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let _timer = ctx.health.metrics.reconcile("taskdefinition");
    let ns = td.namespace().unwrap_or_default();
    let family = family_of(&td);
    let uid = td.metadata.uid.clone().unwrap_or_default();
    let mut revisions: Vec<Arc<ControllerRevision>> = ctx.revisions.state().into_iter()
        .filter(|r| r.namespace().as_deref() == Some(ns.as_str()))
        .filter(|r| r.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
        .collect();
    revisions.sort_by_key(|r| r.revision);
    // A revision created by an earlier pass that the cache does not show yet:
    // wait for it (its arrival wakes this TaskDefinition), else it would be
    // registered twice under two numbers.
    let cached = |name: &str| revisions.iter().any(|r| r.name_any() == name);
    let in_flight = ctx.revision_expectations.lock().expect("revision expectations").in_flight(&uid, cached, Instant::now());
    if !in_flight.creates.is_empty() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }

    let mut spec = td.spec.clone();
    spec.family = Some(family.clone());
    // Read-only describe output (revision, registeredAt, ...) is no part of a revision.
    spec.described = Default::default();
    let data = serde_json::to_value(&spec)?;
    // The ServiceAccounts of every revision's task role exist before a
    // revision is registered: tasks start only from registered revisions.
    let task_roles = revisions.iter().filter_map(|r| r.data.as_ref().and_then(|d| role_of(&d.0))).chain(role_of(&data));
    task_roles::reconcile(&ctx, td.as_ref(), task_roles).await?;

    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &ns);
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
                ctx.revision_expectations.lock().expect("revision expectations").created(&uid, &created.name_any(), Instant::now());
                ctx.publish(td.as_ref(), EventType::Normal, "RevisionRegistered", &format!("Registered task definition {family}:{next}"));
                revisions.push(Arc::new(created));
            }
            Err(kube::Error::Api(s)) if s.is_already_exists() => return Ok(Action::requeue(Duration::from_secs(1))),
            Err(e) => return Err(e.into()),
        }
    }

    let unsupported: Vec<String> = crate::ecs::render::unsupported_fields(&td.spec).into_iter().map(|u| format!("{}: {}", u.field, u.reason)).collect();
    let old = td.status.clone().unwrap_or_default();
    let latest_revision = revisions.last().map(|r| r.revision as i32);
    let registered = format!("{family}:{}", latest_revision.unwrap_or(0));
    let runnable = runnable(&spec, &ns, &registered);
    let (ready, reason, message) = match &runnable {
        Ok(()) => (true, "RevisionRegistered", format!("{registered} is the latest revision")),
        Err((reason, message)) => (false, *reason, message.clone()),
    };
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
            vec![Want { type_: "Ready", status: ready, reason, message }],
            td.metadata.generation,
            &conditions::time(k8s_openapi::jiff::Timestamp::now().as_second()),
        )),
    };
    if td.status.as_ref() != Some(&status) {
        if !unsupported.is_empty() && old.unsupported_fields.as_ref() != Some(&unsupported) {
            let message = format!("Berth accepts but does not act on: {}", unsupported.join("; "));
            ctx.publish(td.as_ref(), EventType::Warning, "UnsupportedFields", &message.chars().take(1000).collect::<String>());
        }
        if let Err((reason, message)) = &runnable {
            let said = old.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "False" && &c.message == message);
            if !said {
                ctx.publish(td.as_ref(), EventType::Warning, reason, message);
            }
        }
        super::apply_status(&ctx.client, td.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}

/// Can tasks of this revision run? Rendered once with a probe task: the
/// renderer refuses what no pod could be made of (a `dependsOn` cycle,
/// container memory above the task's, a bad port range, ...). The revision is
/// registered all the same, as ECS registers what its API accepts: `family:N`
/// keeps resolving, and the Services and TaskRuns that name it say why they
/// start no task (their controller renders again before acting), rather than
/// "no such revision". `Err` holds the condition reason and a message naming
/// the field.
fn runnable(spec: &TaskDefinitionSpec, ns: &str, revision: &str) -> std::result::Result<(), (&'static str, String)> {
    let probe = TaskContext { namespace: ns.to_string(), pod_name: "probe".into(), ..TaskContext::default() };
    render_pod(spec, &probe).map(|_| ()).map_err(|e| (invalid_reason(&e), format!("{revision} cannot run: {e}")))
}

/// The condition reason for a task definition the renderer refuses.
fn invalid_reason(error: &RenderError) -> &'static str {
    match error {
        RenderError::DependencyCycle(_) => "DependencyCycle",
        RenderError::InvalidTaskSize { .. } | RenderError::TaskSizeExceeded(_) => "InvalidTaskSize",
        RenderError::InvalidPortRange { .. } => "InvalidPortRange",
        RenderError::DuplicateHostPort { .. } => "DuplicateHostPort",
        RenderError::DuplicatePortName(_) => "DuplicatePortName",
        RenderError::DuplicateContainer(_)
        | RenderError::UnknownContainer { .. }
        | RenderError::UnknownVolume { .. }
        | RenderError::MissingHealthCheck { .. }
        | RenderError::EmptyHealthCheck { .. } => "InvalidContainerDefinition",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(containers: serde_json::Value) -> TaskDefinitionSpec {
        serde_json::from_value(serde_json::json!({"family": "web", "containerDefinitions": containers})).expect("task definition")
    }

    #[test]
    fn a_renderable_revision_is_runnable() {
        assert_eq!(runnable(&spec(serde_json::json!([{"name": "app", "image": "nginx", "memory": 128}])), "ns", "web:1"), Ok(()));
    }

    #[test]
    fn a_depends_on_cycle_is_not_ready_and_names_depends_on() {
        let cycle = spec(serde_json::json!([
            {"name": "a", "image": "nginx", "memory": 128, "dependsOn": [{"containerName": "b", "condition": "START"}]},
            {"name": "b", "image": "nginx", "memory": 128, "dependsOn": [{"containerName": "a", "condition": "START"}]},
        ]));
        let (reason, message) = runnable(&cycle, "ns", "web:2").unwrap_err();
        assert_eq!(reason, "DependencyCycle");
        assert!(message.starts_with("web:2 cannot run: containerDefinitions[].dependsOn"), "{message}");
    }

    #[test]
    fn each_render_problem_has_a_reason_of_its_own_kind() {
        assert_eq!(invalid_reason(&RenderError::TaskSizeExceeded("memory".into())), "InvalidTaskSize");
        assert_eq!(invalid_reason(&RenderError::InvalidPortRange { field: "f".into(), range: "9-1".into() }), "InvalidPortRange");
        assert_eq!(invalid_reason(&RenderError::DuplicateContainer("a".into())), "InvalidContainerDefinition");
    }
}
