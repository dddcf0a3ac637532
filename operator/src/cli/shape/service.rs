//! A Berth Service as `aws ecs describe-services` prints an ECS service.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::{epoch_seconds, insert_some};
use crate::api::{SchedulingStrategy, Service, wire_name};
use crate::cli::arn::Arns;
use crate::ecs::plan::deployment::bounds;

/// One entry of a service's `events[]`: a Kubernetes Event about the Service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: Time,
    pub message: String,
}

/// ECS keeps the newest 100 events of a service.
const EVENTS_KEPT: usize = 100;

/// The ECS `Service` object of describe-services: spec fields with ECS's defaults filled
/// in, counts and deployments from the status, and the events newest first.
pub fn service(service: &Service, events: &[ServiceEvent], arns: &Arns) -> Value {
    let spec = &service.spec;
    let status = service.status.clone().unwrap_or_default();
    let name = service.name_any();
    let daemon = spec.scheduling_strategy == Some(SchedulingStrategy::Daemon);
    let task_definition = status.task_definition.clone().unwrap_or_else(|| spec.task_definition.clone());
    let deployment_bounds = bounds(spec.deployment_configuration.as_ref(), daemon);
    let configured = spec.deployment_configuration.as_ref();
    let breaker = configured.and_then(|c| c.deployment_circuit_breaker.clone());
    let mut deployment_configuration = json!({
        "deploymentCircuitBreaker": {
            "enable": breaker.as_ref().is_some_and(|b| b.enable),
            "rollback": breaker.as_ref().is_some_and(|b| b.rollback),
        },
        "maximumPercent": deployment_bounds.maximum_percent,
        "minimumHealthyPercent": deployment_bounds.minimum_healthy_percent,
    });
    insert_some(&mut deployment_configuration, "strategy", configured.and_then(|c| c.strategy.as_ref()));
    insert_some(&mut deployment_configuration, "alarms", configured.and_then(|c| c.alarms.as_ref()));

    let mut sorted: Vec<&ServiceEvent> = events.iter().collect();
    sorted.sort_by(|a, b| b.created_at.0.cmp(&a.created_at.0).then_with(|| b.id.cmp(&a.id)));
    let events: Vec<Value> = sorted.into_iter().take(EVENTS_KEPT)
        .map(|e| json!({"id": e.id, "createdAt": epoch_seconds(&e.created_at), "message": e.message}))
        .collect();
    let deployments: Vec<Value> = status.deployments.iter().flatten().map(|d| {
        let mut deployment = json!({
            "id": d.id,
            "status": wire_name(&d.status),
            "taskDefinition": arns.task_definition(&d.task_definition),
            "desiredCount": d.desired_count,
            "pendingCount": d.pending_count,
            "runningCount": d.running_count,
            "failedTasks": d.failed_tasks,
            "createdAt": epoch_seconds(&d.created_at),
            "updatedAt": epoch_seconds(&d.updated_at),
            "rolloutState": wire_name(&d.rollout_state),
        });
        insert_some(&mut deployment, "rolloutStateReason", d.rollout_state_reason.as_ref());
        insert_some(&mut deployment, "launchType", spec.placement.launch_type.as_ref());
        insert_some(&mut deployment, "capacityProviderStrategy", spec.placement.capacity_provider_strategy.as_ref());
        insert_some(&mut deployment, "networkConfiguration", spec.placement.network_configuration.as_ref());
        deployment
    }).collect();

    let mut shaped = json!({
        "serviceArn": arns.service(&name),
        "serviceName": name,
        "clusterArn": arns.cluster(),
        "loadBalancers": spec.load_balancers.clone().unwrap_or_default(),
        "serviceRegistries": spec.service_registries.clone().unwrap_or_default(),
        "status": if service.metadata.deletion_timestamp.is_some() { "DRAINING" } else { "ACTIVE" },
        "desiredCount": spec.desired_count.or(status.desired_count).unwrap_or(0),
        "runningCount": status.running_count.unwrap_or(0),
        "pendingCount": status.pending_count.unwrap_or(0),
        "taskDefinition": arns.task_definition(&task_definition),
        "deploymentConfiguration": deployment_configuration,
        "deployments": deployments,
        "events": events,
        "placementConstraints": spec.placement.placement_constraints.clone().unwrap_or_default(),
        "placementStrategy": spec.placement.placement_strategy.clone().unwrap_or_default(),
        "schedulingStrategy": if daemon { "DAEMON" } else { "REPLICA" },
        "deploymentController": {"type": "ECS"},
        "enableECSManagedTags": spec.enable_ecs_managed_tags.unwrap_or(false),
        "propagateTags": spec.propagate_tags.as_ref().map_or("NONE".to_string(), wire_name),
        "enableExecuteCommand": spec.enable_execute_command.unwrap_or(false),
        "createdBy": "berth",
    });
    if let Some(created) = &service.metadata.creation_timestamp {
        shaped["createdAt"] = json!(epoch_seconds(created));
    }
    insert_some(&mut shaped, "launchType", spec.placement.launch_type.as_ref());
    insert_some(&mut shaped, "capacityProviderStrategy", spec.placement.capacity_provider_strategy.as_ref());
    insert_some(&mut shaped, "platformVersion", spec.platform_version.as_ref());
    insert_some(&mut shaped, "networkConfiguration", spec.placement.network_configuration.as_ref());
    insert_some(&mut shaped, "healthCheckGracePeriodSeconds", spec.health_check_grace_period_seconds.as_ref());
    insert_some(&mut shaped, "serviceConnectConfiguration", spec.service_connect_configuration.as_ref());
    insert_some(&mut shaped, "availabilityZoneRebalancing", spec.availability_zone_rebalancing.as_ref());
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::shape::testing::{at, conforms};

    fn web() -> Service {
        serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "prod", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"taskDefinition": "web", "desiredCount": 2, "launchType": "FARGATE",
                "deploymentConfiguration": {"minimumHealthyPercent": 50}},
            "status": {"runningCount": 2, "pendingCount": 0, "taskDefinition": "web:3", "deployments": [{
                "id": "ecs-svc/0000000000000000001", "status": "PRIMARY", "taskDefinition": "web:3",
                "desiredCount": 2, "pendingCount": 0, "runningCount": 2, "failedTasks": 0,
                "rolloutState": "COMPLETED", "rolloutStateReason": "ECS deployment ecs-svc/0000000000000000001 completed.",
                "createdAt": "2026-01-01T00:00:01Z", "updatedAt": "2026-01-01T00:00:05Z"}]},
        })).unwrap()
    }

    fn event(id: &str, second: i64, message: &str) -> ServiceEvent {
        ServiceEvent { id: id.into(), created_at: at(second), message: message.into() }
    }

    #[test]
    fn has_the_shape_the_aws_cli_documents() {
        let events = [event("a", 10, "(service web) has started 2 tasks: (task x) (task y)."), event("b", 20, "(service web) has reached a steady state.")];
        let shaped = service(&web(), &events, &Arns { cluster: "prod".into() });
        let documented: Value = serde_json::from_str(include_str!("../../../../tests/fixtures/aws-cli/describe-services.json")).unwrap();
        conforms(&json!({"services": [shaped], "failures": []}), &documented).unwrap();
    }

    #[test]
    fn fills_ecs_defaults_and_orders_events_newest_first() {
        let events = [event("a", 10, "first"), event("b", 20, "second")];
        let shaped = service(&web(), &events, &Arns { cluster: "prod".into() });
        assert_eq!(shaped["events"][0]["message"], "second");
        assert_eq!(shaped["deploymentConfiguration"]["maximumPercent"], 200);
        assert_eq!(shaped["deploymentConfiguration"]["minimumHealthyPercent"], 50);
        assert_eq!(shaped["taskDefinition"], "arn:aws:ecs:berth:000000000000:task-definition/web:3");
        assert_eq!(shaped["deployments"][0]["rolloutState"], "COMPLETED");
        assert_eq!(shaped["deployments"][0]["launchType"], "FARGATE");
        assert_eq!(shaped["createdAt"], 1767225600.0);
        assert_eq!(shaped["schedulingStrategy"], "REPLICA");
    }
}
