//! Service and TaskRun fields Berth accepts but does not act on yet, listed
//! in `status.unsupportedFields` and a Warning event so that no field is
//! ignored without a word (the TaskDefinition's are in `render::unsupported`).
use crate::api::{DeploymentStrategy, EnabledState, PlacementStrategyType, PropagateTags, ServiceSpec, TaskRunSpec};

/// `field: reason` for each field of the Service's spec that has no effect.
pub fn service_fields(spec: &ServiceSpec) -> Vec<String> {
    let mut fields = vec![];
    let mut say = |field: &str, reason: &str| fields.push(format!("{field}: {reason}"));
    if let Some(config) = &spec.deployment_configuration {
        if config.strategy.is_some_and(|s| s != DeploymentStrategy::Rolling) {
            say("deploymentConfiguration.strategy", "only ROLLING deployments are run; BLUE_GREEN, LINEAR and CANARY deploy as ROLLING");
        }
        if config.bake_time_in_minutes.is_some() {
            say("deploymentConfiguration.bakeTimeInMinutes", "no bake time is kept after a ROLLING deployment");
        }
        if config.linear_configuration.is_some() {
            say("deploymentConfiguration.linearConfiguration", "LINEAR deployments are not run");
        }
        if config.canary_configuration.is_some() {
            say("deploymentConfiguration.canaryConfiguration", "CANARY deployments are not run");
        }
        if config.lifecycle_hooks.as_ref().is_some_and(|h| !h.is_empty()) {
            say("deploymentConfiguration.lifecycleHooks", "lifecycle hooks are not invoked");
        }
        if config.alarms.as_ref().is_some_and(|a| a.enable) {
            say("deploymentConfiguration.alarms", "CloudWatch alarms are not watched; only the circuit breaker fails a deployment");
        }
    }
    if spec.availability_zone_rebalancing == Some(EnabledState::Enabled) {
        say("availabilityZoneRebalancing", "tasks are spread over zones when they start, but not moved to rebalance zones later");
    }
    if spec.placement.placement_strategy.iter().flatten().any(|s| s.type_ == PlacementStrategyType::Binpack) {
        say("placementStrategy.binpack", "kube-scheduler spreads by default; tasks are not packed onto the fewest nodes");
    }
    if spec.propagate_tags.is_some_and(|p| p != PropagateTags::None) {
        say("propagateTags", "tags are not copied to tasks");
    }
    if spec.enable_ecs_managed_tags == Some(true) {
        say("enableECSManagedTags", "no ECS managed tags are added to tasks");
    }
    if spec.enable_execute_command == Some(true) {
        say("enableExecuteCommand", "ECS Exec is not available; use kubectl exec");
    }
    if spec.placement.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        say("tags", "tags are not applied to tasks");
    }
    if spec.vpc_lattice_configurations.as_ref().is_some_and(|v| !v.is_empty()) {
        say("vpcLatticeConfigurations", "VPC Lattice target groups are not registered");
    }
    if spec.role.is_some() {
        say("role", "no IAM role is assumed for load balancers");
    }
    fields
}

/// `field: reason` for each field of the TaskRun's spec that has no effect.
pub fn task_run_fields(spec: &TaskRunSpec) -> Vec<String> {
    let mut fields = vec![];
    if spec.propagate_tags.is_some_and(|p| p != PropagateTags::None) {
        fields.push("propagateTags: tags are not copied to tasks".to_string());
    }
    if spec.placement.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        fields.push("tags: tags are not applied to tasks".to_string());
    }
    if spec.placement.placement_strategy.iter().flatten().any(|s| s.type_ == PlacementStrategyType::Binpack) {
        fields.push("placementStrategy.binpack: kube-scheduler spreads by default; tasks are not packed onto the fewest nodes".to_string());
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> ServiceSpec {
        serde_saphyr::from_str(yaml).expect("service fixture")
    }

    #[test]
    fn a_plain_rolling_service_has_none() {
        let spec = service("{taskDefinition: web, desiredCount: 2, deploymentConfiguration: {strategy: ROLLING, maximumPercent: 200}}");
        assert_eq!(service_fields(&spec), Vec::<String>::new());
    }

    #[test]
    fn each_ignored_service_field_is_named() {
        let spec = service(
            "{taskDefinition: web, desiredCount: 2, availabilityZoneRebalancing: ENABLED, enableExecuteCommand: true, propagateTags: SERVICE,
              placementStrategy: [{type: binpack, field: memory}],
              deploymentConfiguration: {strategy: BLUE_GREEN, bakeTimeInMinutes: 5, alarms: {alarmNames: [a], enable: true, rollback: true}}}",
        );
        let fields = service_fields(&spec);
        for field in ["deploymentConfiguration.strategy", "deploymentConfiguration.bakeTimeInMinutes", "deploymentConfiguration.alarms",
            "availabilityZoneRebalancing", "placementStrategy.binpack", "propagateTags", "enableExecuteCommand"] {
            assert!(fields.iter().any(|f| f.starts_with(&format!("{field}:"))), "{field} missing from {fields:?}");
        }
        assert_eq!(fields.len(), 7, "{fields:?}");
    }

    #[test]
    fn task_run_tags_are_named() {
        let spec: TaskRunSpec = serde_saphyr::from_str("{taskDefinition: web, propagateTags: TASK_DEFINITION, tags: [{key: a, value: b}]}").unwrap();
        assert_eq!(task_run_fields(&spec).len(), 2);
    }
}
