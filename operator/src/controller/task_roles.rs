//! Makes the ServiceAccount of every task role a TaskDefinition's revisions
//! use (see `ecs::task::roles`), before the revision is registered, so no task
//! pod is ever refused for want of its ServiceAccount; and releases the ones
//! it no longer uses. A ServiceAccount the owner's deletion leaves ownerless
//! is removed by the garbage collector. A TaskRun whose overrides name a role
//! owns that role's ServiceAccount the same way, made before its tasks.
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::Context;
use super::error::Result;
use crate::ecs::task::roles::{self, Release, Step};

/// Ensures the ServiceAccounts of `task_roles` in the owner's namespace, and
/// drops the owner from those of Berth's it owns but no longer needs.
pub async fn reconcile<'a, K>(ctx: &Context, owner: &K, task_roles: impl IntoIterator<Item = &'a str>) -> Result<()>
where
    K: Resource<DynamicType = ()>,
{
    let ns = owner.namespace().unwrap_or_default();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = owner_of(owner);
    let wanted = roles::wanted(task_roles, &ctx.config.task_role_annotations);
    for role in wanted.values() {
        // The cache holds only Berth's ServiceAccounts; a miss may be the user's.
        let cached = ctx.service_accounts.get(&ObjectRef::new(&role.name).within(&ns));
        if let Some(sa) = &cached
            && roles::step(Some(sa), role, &reference) == Step::Nothing
        {
            continue;
        }
        let existing = match cached {
            Some(sa) => Some(sa.as_ref().clone()),
            None => api.get_opt(&role.name).await?,
        };
        match roles::step(existing.as_ref(), role, &reference) {
            Step::Nothing => {}
            Step::Create(sa) => {
                api.create(&PostParams { field_manager: Some(super::MANAGER.into()), ..PostParams::default() }, &sa).await?;
                let note = format!("Created ServiceAccount {} for the task role{}", role.name, annotated(role));
                ctx.publish(owner, EventType::Normal, "ServiceAccountCreated", &note);
            }
            Step::Patch(patch) => {
                api.patch(&role.name, &PatchParams::default(), &Patch::Strategic(&patch)).await?;
            }
            Step::OtherRole(other) => {
                let note = format!("ServiceAccount {} was made for role {other}; its tasks would run with that role, not this one. \
                    Give one of the roles another name", role.name);
                ctx.publish(owner, EventType::Warning, "TaskRoleConflict", &note);
            }
            Step::NotBerths => {
                let note = format!("ServiceAccount {} exists and was not made by Berth: its tasks run as it, and Berth leaves it as it is \
                    (give it the task role yourself, e.g. the {} annotation)", role.name, roles::IRSA_ROLE_ARN);
                ctx.publish(owner, EventType::Normal, "ServiceAccountNotManaged", &note);
            }
        }
    }
    let unneeded = ctx.service_accounts.state().into_iter()
        .filter(|sa| sa.namespace().as_deref() == Some(ns.as_str()) && !wanted.contains_key(&sa.name_any()));
    for sa in unneeded {
        match roles::release(&sa, &reference.uid) {
            None => {}
            Some(Release::DropOwner(patch)) => {
                api.patch(&sa.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await?;
            }
            Some(Release::Delete { resource_version }) => {
                // Only as read: another TaskDefinition may just have taken it up.
                let unchanged = DeleteParams { preconditions: Some(Preconditions { resource_version, uid: sa.metadata.uid.clone() }), ..DeleteParams::default() };
                match api.delete(&sa.name_any(), &unchanged).await {
                    Ok(_) => ctx.publish(owner, EventType::Normal, "ServiceAccountDeleted",
                        &format!("Deleted ServiceAccount {}: no task definition uses its role any more", sa.name_any())),
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// One of possibly several owners: not the controller, and not blocking its
/// owner's deletion (which would need rights on it).
fn owner_of<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into(),
        kind: K::kind(&()).into(),
        name: owner.name_any(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        ..OwnerReference::default()
    }
}

fn annotated(role: &roles::Wanted) -> String {
    match role.annotations.iter().next() {
        Some((key, arn)) => format!(", annotated {key}: {arn}"),
        None => String::new(),
    }
}
