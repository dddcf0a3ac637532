//! An ECS service (CreateService input, or an entry of describe-services output) as a Berth
//! `Service`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::{Service, ServiceSpec};

use super::ImportOptions;
use super::error::ImportError;
use super::fit::fit_spec;
use super::name::kubernetes_name;
use super::notes::{drop_fields, dropped};
use super::path::{child, shown};

/// Keeps the ECS service name when `metadata.name` had to differ from it.
pub const ECS_NAME_ANNOTATION: &str = "berth.dev/ecs-name";

/// Fields describe-services reports about the running service, not part of CreateService.
const READ_ONLY: &[(&str, &str)] = &[
    (
        "serviceArn",
        "read-only (the Kubernetes object is the service)",
    ),
    (
        "status",
        "read-only (Berth reports the service's state in status)",
    ),
    ("runningCount", "read-only (Berth counts tasks in status)"),
    ("pendingCount", "read-only (Berth counts tasks in status)"),
    (
        "deployments",
        "read-only (Berth records its own deployments in status.deployments)",
    ),
    (
        "currentServiceDeployment",
        "read-only (Berth records its own deployments in status.deployments)",
    ),
    (
        "currentServiceRevisions",
        "read-only (Berth records its own deployments in status.deployments)",
    ),
    (
        "taskSets",
        "read-only (task sets belong to the CODE_DEPLOY and EXTERNAL deployment controllers)",
    ),
    (
        "events",
        "read-only (Berth reports service events as Kubernetes Events)",
    ),
    (
        "createdAt",
        "read-only (set by ECS when the service was created)",
    ),
    (
        "createdBy",
        "read-only (set by ECS when the service was created)",
    ),
    (
        "roleArn",
        "read-only (the role ECS chose for load balancer calls; set role to choose one)",
    ),
    (
        "platformFamily",
        "read-only (worked out by ECS from the task definition)",
    ),
];

/// The object is named after `serviceName`; the cluster becomes a hint about the namespace.
pub fn service(
    mut fields: Map<String, Value>,
    path: &str,
    options: &ImportOptions,
    notes: &mut Vec<String>,
) -> Result<Service, ImportError> {
    drop_fields(&mut fields, READ_ONLY, path, notes);
    let ecs_name = match (fields.remove("serviceName"), &options.name) {
        (_, Some(name)) => name.clone(),
        (Some(Value::String(service_name)), None) => service_name,
        _ => {
            return Err(ImportError::MissingName {
                at: shown(path),
                field: "serviceName",
                kind: "Service",
            });
        }
    };
    let name = kubernetes_name(&ecs_name).ok_or_else(|| ImportError::NoValidName {
        at: shown(path),
        field: "serviceName",
        value: ecs_name.clone(),
    })?;
    hint_cluster(&mut fields, options, notes);
    drop_conflicting(&mut fields, path, notes);
    let spec: ServiceSpec = fit_spec(
        fields,
        path,
        "Service",
        "not part of the ECS CreateService input",
        notes,
    )?;
    let mut service = Service::new(&name, spec);
    service.metadata.namespace = options.namespace.clone();
    if name != ecs_name {
        service.metadata.annotations =
            Some(BTreeMap::from([(ECS_NAME_ANNOTATION.to_owned(), ecs_name)]));
    }
    Ok(service)
}

/// An ECS cluster is a namespace, which only the user can pick; say so once per cluster
/// unless `--namespace` was given.
fn hint_cluster(fields: &mut Map<String, Value>, options: &ImportOptions, notes: &mut Vec<String>) {
    for cluster in ["cluster", "clusterArn"]
        .into_iter()
        .filter_map(|key| fields.remove(key))
    {
        if options.namespace.is_some() {
            continue;
        }
        let cluster = match cluster {
            // A cluster ARN ends with `cluster/<name>`.
            Value::String(cluster) => cluster.rsplit('/').next().unwrap_or_default().to_owned(),
            other => other.to_string(),
        };
        let hint = format!("cluster {cluster} maps to a namespace: use --namespace");
        if !notes.contains(&hint) {
            notes.push(hint);
        }
    }
}

/// describe-services reports values the Service CRD rejects in combination.
fn drop_conflicting(fields: &mut Map<String, Value>, path: &str, notes: &mut Vec<String>) {
    let daemon = fields.get("schedulingStrategy").and_then(Value::as_str) == Some("DAEMON");
    if daemon && fields.remove("desiredCount").is_some() {
        notes.push(dropped(
            &child(path, "desiredCount"),
            "a DAEMON service runs one task per matching node",
        ));
    }
    let empty_strategy = fields
        .get("capacityProviderStrategy")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    if empty_strategy && fields.contains_key("launchType") {
        fields.remove("capacityProviderStrategy");
        notes.push(dropped(
            &child(path, "capacityProviderStrategy"),
            "empty, and launchType is set (the two are mutually exclusive)",
        ));
    }
}
