//! Service, TaskRun and TaskSchedule fields Berth accepts but does not act on, listed in
//! `status.unsupportedFields` and a Warning event like the TaskDefinition's
//! ([`crate::ecs::render::unsupported_fields`]): no field is dropped without a word.

use crate::api::{
    DeploymentStrategy, EnabledState, LaunchPlacement, PropagateTags, ServiceSpec, TaskRunSpec,
    TaskScheduleSpec, set_fields,
};
use crate::ecs::placement::{PlacementStrategyItem, Strategy, parse_strategies};
pub use crate::ecs::render::UnsupportedField;
use crate::ecs::render::{READ_ONLY_REASON, TAGS_REASON};

/// Every field of the Service `name` in `namespace` that Berth accepts but does not honour.
pub fn service_unsupported_fields(spec: &ServiceSpec, name: &str, namespace: &str, alarms_source: bool) -> Vec<UnsupportedField> {
    let mut found = Vec::new();
    let mut add = |field: &str, reason: String| found.push(UnsupportedField { field: field.into(), reason });
    if let Some(service_name) = spec.service_name.as_deref().filter(|s| *s != name) {
        add("serviceName", format!("{service_name} differs from metadata.name; the service is named {name}"));
    }
    if let Some(cluster) = spec.cluster.as_deref().filter(|c| cluster_name(c) != namespace) {
        add("cluster", format!("{cluster} differs from the namespace; the service runs in {namespace}"));
    }
    if let Some(deployment) = &spec.deployment_configuration {
        let strategy = crate::ecs::plan::lifecycle::strategy_of(spec);
        let daemon = spec.scheduling_strategy == Some(crate::api::SchedulingStrategy::Daemon);
        if strategy != DeploymentStrategy::Rolling && daemon {
            add("deploymentConfiguration.strategy", format!("{} does not apply to a DAEMON service; it rolls out with ROLLING", crate::api::wire_name(&strategy)));
        }
        let family = strategy != DeploymentStrategy::Rolling && !daemon;
        if deployment.bake_time_in_minutes.is_some() && !family {
            add("deploymentConfiguration.bakeTimeInMinutes", "used only by BLUE_GREEN, LINEAR and CANARY deployments".into());
        }
        if deployment.linear_configuration.is_some() && (strategy != DeploymentStrategy::Linear || daemon) {
            add("deploymentConfiguration.linearConfiguration", "used only by the LINEAR strategy".into());
        }
        if deployment.canary_configuration.is_some() && (strategy != DeploymentStrategy::Canary || daemon) {
            add("deploymentConfiguration.canaryConfiguration", "used only by the CANARY strategy".into());
        }
        for (index, hook) in deployment.lifecycle_hooks.iter().flatten().enumerate() {
            let pause = hook.target_type == Some(crate::api::HookTargetType::Pause);
            if !family {
                add(&format!("deploymentConfiguration.lifecycleHooks[{index}]"), "hooks run only in BLUE_GREEN, LINEAR and CANARY deployments".into());
            } else if !pause && !crate::ecs::plan::lifecycle::callable(hook.hook_target_arn.as_deref()) {
                add(&format!("deploymentConfiguration.lifecycleHooks[{index}].hookTargetArn"),
                    "a Lambda function cannot be invoked from Kubernetes; give an http:// or https:// URL or taskrun:FAMILY[:REVISION] (the hook is skipped)".into());
            }
        }
        if deployment.alarms.as_ref().is_some_and(|alarms| alarms.enable) {
            if !family {
                add("deploymentConfiguration.alarms", "alarms are watched only in BLUE_GREEN, LINEAR and CANARY deployments".into());
            } else if !alarms_source {
                add("deploymentConfiguration.alarms", "no Prometheus to read alarms from: the operator runs without --prometheus-url (chart value alarms.prometheusUrl)".into());
            }
        }
    }
    for (index, balancer) in spec.load_balancers.iter().flatten().enumerate() {
        if balancer.advanced_configuration.is_some() {
            add(&format!("loadBalancers[{index}].advancedConfiguration"), "listener rules and the alternate target group are not read; a BLUE_GREEN, LINEAR or CANARY service's test traffic goes to its <name>-test Kubernetes Service".into());
        }
    }
    if spec.propagate_tags.is_some_and(|p| p != PropagateTags::None) {
        add("propagateTags", TAGS_REASON.into());
    }
    if spec.enable_ecs_managed_tags == Some(true) {
        add("enableECSManagedTags", TAGS_REASON.into());
    }
    if spec.enable_execute_command == Some(true) {
        add("enableExecuteCommand", "use kubectl exec on the task's pod; ECS Exec is not provided".into());
    }
    if spec.role.as_deref().is_some_and(|role| !role.is_empty()) {
        add("role", "no IAM role is used for load balancer calls; Kubernetes Services carry the traffic".into());
    }
    if spec.platform_version.as_deref().is_some_and(|version| !version.is_empty()) {
        add("platformVersion", "there are no Fargate platform versions; a change still starts a new deployment".into());
    }
    if spec.vpc_lattice_configurations.as_ref().is_some_and(|c| !c.is_empty()) {
        add("vpcLatticeConfigurations", "VPC Lattice target groups are not registered".into());
    }
    if spec.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()) {
        add("volumeConfigurations", "EBS volumes are not created; the task definition's configuredAtLaunch volume is a scratch directory".into());
    }
    if let Some(connect) = spec.service_connect_configuration.as_ref().filter(|c| c.enabled) {
        if connect.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            add("serviceConnectConfiguration.namespace", "there are no Cloud Map namespaces; aliases resolve in the Kubernetes namespace".into());
        }
        if connect.log_configuration.is_some() {
            add("serviceConnectConfiguration.logConfiguration", "there is no Service Connect proxy to log".into());
        }
        if connect.access_log_configuration.is_some() {
            add("serviceConnectConfiguration.accessLogConfiguration", "there is no Service Connect proxy to log".into());
        }
        for (index, published) in connect.services.iter().flatten().enumerate() {
            let field = |name: &str| format!("serviceConnectConfiguration.services[{index}].{name}");
            if published.ingress_port_override.is_some() {
                add(&field("ingressPortOverride"), "there is no Service Connect proxy; traffic goes to the container port".into());
            }
            if published.timeout.is_some() {
                add(&field("timeout"), "there is no Service Connect proxy to time out requests".into());
            }
            if published.tls.is_some() {
                add(&field("tls"), "traffic is not encrypted by a Service Connect proxy".into());
            }
            if published.client_aliases.iter().flatten().any(|alias| alias.test_traffic_rules.is_some()) {
                add(&field("clientAliases[].testTrafficRules"), "test traffic is not routed apart; Berth rolls out with ROLLING".into());
            }
        }
    }
    if spec.client_token.is_some() {
        add("clientToken", "Kubernetes objects are idempotent by name; the token is not needed".into());
    }
    launch_fields(&spec.placement, &mut add);
    for field in set_fields(&spec.described) {
        add(&field, READ_ONLY_REASON.into());
    }
    found
}

/// Every field of a TaskRun in `namespace` that Berth accepts but does not honour.
pub fn task_run_unsupported_fields(spec: &TaskRunSpec, namespace: &str) -> Vec<UnsupportedField> {
    let mut found = Vec::new();
    let mut add = |field: &str, reason: String| found.push(UnsupportedField { field: field.into(), reason });
    if let Some(cluster) = spec.cluster.as_deref().filter(|c| cluster_name(c) != namespace) {
        add("cluster", format!("{cluster} differs from the namespace; the tasks run in {namespace}"));
    }
    if spec.propagate_tags.is_some_and(|p| p != PropagateTags::None) {
        add("propagateTags", TAGS_REASON.into());
    }
    if let Some(overrides) = &spec.overrides {
        if overrides.execution_role_arn.is_some() {
            add("overrides.executionRoleArn", "not used: Kubernetes pulls images and reads Secrets with its own credentials".into());
        }
        if overrides.ephemeral_storage.is_some() {
            add("overrides.ephemeralStorage", "not applied: pod-level resources cannot size ephemeral storage".into());
        }
        for container in overrides.container_overrides.iter().flatten() {
            if container.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
                add(&format!("overrides.containerOverrides[{}].environmentFiles", container.name), "S3 environment files are not loaded; use environment".into());
            }
        }
    }
    launch_fields(&spec.placement, &mut add);
    found
}

/// Every field of a TaskSchedule in `namespace` that Berth accepts but does not honour: the
/// schedule's own, and those of the RunTask its target makes (named by where they come from).
pub fn task_schedule_unsupported_fields(spec: &TaskScheduleSpec, namespace: &str) -> Vec<UnsupportedField> {
    let mut found = Vec::new();
    let mut add = |field: &str, reason: &str| found.push(UnsupportedField { field: field.into(), reason: reason.into() });
    if spec.group_name.as_deref().is_some_and(|g| !g.is_empty() && g != "default") {
        add("groupName", "there are no schedule groups; use labels to group schedules");
    }
    if spec.kms_key_arn.is_some() {
        add("kmsKeyArn", "the schedule is stored by the API server, encrypted as its etcd is configured");
    }
    if spec.client_token.is_some() {
        add("clientToken", "Kubernetes objects are idempotent by name; the token is not needed");
    }
    let target = &spec.target;
    if let Some(cluster) = target.arn.as_deref().filter(|c| cluster_name(c) != namespace) {
        found.push(UnsupportedField { field: "target.arn".into(), reason: format!("{cluster} differs from the namespace; the tasks run in {namespace}") });
    }
    let mut add = |field: &str, reason: &str| found.push(UnsupportedField { field: field.into(), reason: reason.into() });
    if target.role_arn.is_some() {
        add("target.roleArn", "no role is assumed to start tasks; the operator's ServiceAccount creates the TaskRuns");
    }
    if target.dead_letter_config.as_ref().is_some_and(|d| d.arn.is_some()) {
        add("target.deadLetterConfig", "dropped invocations are not sent to a queue; they are Warning events (InvocationDropped) and in status.lastRuns");
    }
    let ecs = &target.ecs_parameters;
    if ecs.platform_version.as_deref().is_some_and(|v| !v.is_empty()) {
        add("target.ecsParameters.platformVersion", "there are no Fargate platform versions");
    }
    if ecs.reference_id.is_some() {
        add("target.ecsParameters.referenceId", "RunTask reference ids are not recorded; each TaskRun is named after the schedule and its time");
    }
    if ecs.enable_ecs_managed_tags == Some(true) {
        add("target.ecsParameters.enableECSManagedTags", TAGS_REASON);
    }
    if ecs.enable_execute_command == Some(true) {
        add("target.ecsParameters.enableExecuteCommand", "use kubectl exec on the task's pod; ECS Exec is not provided");
    }
    if let Ok(run) = crate::ecs::schedule::target::task_run_spec(target) {
        found.extend(task_run_unsupported_fields(&run, namespace).into_iter().map(|u| UnsupportedField { field: crate::ecs::schedule::target::schedule_field(&u.field), ..u }));
    }
    found
}

/// Launch placement fields of both kinds that Berth does not act on.
fn launch_fields(placement: &LaunchPlacement, add: &mut impl FnMut(&str, String)) {
    if let Some(awsvpc) = placement.network_configuration.as_ref().and_then(|n| n.awsvpc_configuration.as_ref()) {
        if !awsvpc.subnets.is_empty() || awsvpc.security_groups.as_ref().is_some_and(|g| !g.is_empty()) {
            add("networkConfiguration.awsvpcConfiguration", "subnets and security groups are not applied; tasks get pod networking (use NetworkPolicies)".into());
        }
        if awsvpc.assign_public_ip == Some(EnabledState::Enabled) {
            add("networkConfiguration.awsvpcConfiguration.assignPublicIp", "tasks get no public IP; expose them with a load balancer".into());
        }
    }
    if placement.tags.as_ref().is_some_and(|tags| !tags.is_empty()) {
        add("tags", TAGS_REASON.into());
    }
    // Berth places binpack, random and ordered strategies itself, within one pool.
    let items: Vec<PlacementStrategyItem> = placement.placement_strategy.iter().flatten()
        .map(|s| PlacementStrategyItem { strategy_type: crate::api::wire_name(&s.type_), field: s.field.clone() }).collect();
    let berth_places = parse_strategies(&items).is_ok_and(|s| !Strategy::kube_scheduler_can_place(&s));
    if berth_places && placement.capacity_provider_strategy.as_ref().is_some_and(|s| s.len() > 1) {
        add("placementStrategy", "not applied with a capacity provider strategy of several providers: each provider's tasks are spread by kube-scheduler".into());
    }
}

/// The cluster name of an ECS cluster name or ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit_once(":cluster/").map_or(cluster, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn service(extra: Value) -> ServiceSpec {
        let mut spec = json!({"taskDefinition": "web", "desiredCount": 2});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn task_run(extra: Value) -> TaskRunSpec {
        let mut spec = json!({"taskDefinition": "web"});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn fields(found: Vec<UnsupportedField>) -> Vec<String> {
        found.into_iter().map(|u| u.field).collect()
    }

    fn service_fields(extra: Value) -> Vec<String> {
        fields(service_unsupported_fields(&service(extra), "web", "shop", true))
    }

    #[test]
    fn a_plain_service_and_its_honoured_or_neutral_values_report_nothing() {
        let neutral = json!({
            "serviceName": "web", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/shop",
            "propagateTags": "NONE", "enableECSManagedTags": false, "enableExecuteCommand": false,
            "availabilityZoneRebalancing": "DISABLED", "platformVersion": "", "role": "", "tags": [],
            "deploymentConfiguration": {"strategy": "ROLLING", "alarms": {"enable": false, "rollback": false}},
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": []}},
        });
        assert_eq!(service_fields(neutral), Vec::<String>::new());
    }

    #[test]
    fn alarms_are_unsupported_without_a_prometheus_to_read_them_from() {
        let spec = service(json!({"deploymentConfiguration": {"strategy": "CANARY",
            "alarms": {"alarmNames": ["HighErrors"], "enable": true, "rollback": true}}}));
        assert_eq!(fields(service_unsupported_fields(&spec, "web", "shop", true)), Vec::<String>::new());
        assert_eq!(fields(service_unsupported_fields(&spec, "web", "shop", false)), vec!["deploymentConfiguration.alarms".to_string()]);
    }

    #[test]
    fn every_service_field_berth_does_not_act_on_is_reported() {
        let cases = [
            (json!({"serviceName": "Web"}), "serviceName"),
            (json!({"cluster": "prod"}), "cluster"),
            (json!({"schedulingStrategy": "DAEMON", "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}}), "deploymentConfiguration.strategy"),
            (json!({"deploymentConfiguration": {"bakeTimeInMinutes": 5}}), "deploymentConfiguration.bakeTimeInMinutes"),
            (json!({"deploymentConfiguration": {"strategy": "CANARY", "linearConfiguration": {"stepPercent": 10.0}}}), "deploymentConfiguration.linearConfiguration"),
            (json!({"deploymentConfiguration": {"canaryConfiguration": {"canaryPercent": 5.0}}}), "deploymentConfiguration.canaryConfiguration"),
            (json!({"deploymentConfiguration": {"lifecycleHooks": [{"hookTargetArn": "https://hooks.example/pre"}]}}), "deploymentConfiguration.lifecycleHooks[0]"),
            (json!({"deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5,
                    "lifecycleHooks": [{"hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:check"}]}}), "deploymentConfiguration.lifecycleHooks[0].hookTargetArn"),
            (json!({"deploymentConfiguration": {"alarms": {"alarmNames": ["high-cpu"], "enable": true, "rollback": true}}}), "deploymentConfiguration.alarms"),
            (json!({"loadBalancers": [{"targetGroupArn": "tg", "advancedConfiguration": {"roleArn": "r"}}]}), "loadBalancers[0].advancedConfiguration"),
            (json!({"placementStrategy": [{"type": "binpack", "field": "memory"}],
                    "capacityProviderStrategy": [{"capacityProvider": "a"}, {"capacityProvider": "b"}]}), "placementStrategy"),
            (json!({"propagateTags": "SERVICE"}), "propagateTags"),
            (json!({"enableECSManagedTags": true}), "enableECSManagedTags"),
            (json!({"enableExecuteCommand": true}), "enableExecuteCommand"),
            (json!({"tags": [{"key": "team", "value": "shop"}]}), "tags"),
            (json!({"role": "ecsServiceRole"}), "role"),
            (json!({"platformVersion": "LATEST"}), "platformVersion"),
            (json!({"vpcLatticeConfigurations": [{"roleArn": "r", "targetGroupArn": "t", "portName": "http"}]}), "vpcLatticeConfigurations"),
            (json!({"volumeConfigurations": [{"name": "data", "managedEBSVolume": {"roleArn": "r"}}]}), "volumeConfigurations"),
            (json!({"clientToken": "abc"}), "clientToken"),
            (json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}), "networkConfiguration.awsvpcConfiguration"),
            (json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": [], "assignPublicIp": "ENABLED"}}}), "networkConfiguration.awsvpcConfiguration.assignPublicIp"),
            (json!({"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/shop/web"}), "serviceArn"),
            (json!({"runningCount": 2, "events": []}), "runningCount"),
            (json!({"deployments": [{"status": "PRIMARY"}]}), "deployments"),
            (json!({"createdAt": 1466801808.595}), "createdAt"),
        ];
        for (extra, field) in cases {
            let found = service_fields(extra.clone());
            assert!(found.iter().any(|f| f == field), "{extra} reports {found:?}, not {field}");
        }
    }

    #[test]
    fn service_connect_settings_without_a_proxy_are_reported() {
        let found = service_fields(json!({"serviceConnectConfiguration": {
            "enabled": true, "namespace": "internal",
            "logConfiguration": {"logDriver": "awslogs"},
            "accessLogConfiguration": {"format": "TEXT"},
            "services": [{"portName": "http", "ingressPortOverride": 8080, "timeout": {"idleTimeoutSeconds": 5},
                "tls": {"issuerCertificateAuthority": {"awsPcaAuthorityArn": "ca"}},
                "clientAliases": [{"port": 80, "testTrafficRules": {"header": {"name": "x-test"}}}]}],
        }}));
        let expected = [
            "serviceConnectConfiguration.namespace",
            "serviceConnectConfiguration.logConfiguration",
            "serviceConnectConfiguration.accessLogConfiguration",
            "serviceConnectConfiguration.services[0].ingressPortOverride",
            "serviceConnectConfiguration.services[0].timeout",
            "serviceConnectConfiguration.services[0].tls",
            "serviceConnectConfiguration.services[0].clientAliases[].testTrafficRules",
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn the_cluster_may_be_named_or_given_as_an_arn() {
        assert_eq!(cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/shop"), "shop");
        assert_eq!(cluster_name("shop"), "shop");
        assert_eq!(service_fields(json!({"cluster": "shop"})), Vec::<String>::new());
    }

    #[test]
    fn every_task_run_field_berth_does_not_act_on_is_reported() {
        let cases = [
            (json!({"cluster": "prod"}), "cluster"),
            (json!({"propagateTags": "TASK_DEFINITION"}), "propagateTags"),
            (json!({"tags": [{"key": "team"}]}), "tags"),
            (json!({"overrides": {"executionRoleArn": "arn"}}), "overrides.executionRoleArn"),
            (json!({"overrides": {"ephemeralStorage": {"sizeInGiB": 30}}}), "overrides.ephemeralStorage"),
            (json!({"overrides": {"containerOverrides": [{"name": "app", "environmentFiles": [{"value": "arn", "type": "s3"}]}]}}), "overrides.containerOverrides[app].environmentFiles"),
            (json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}), "networkConfiguration.awsvpcConfiguration"),
        ];
        for (extra, field) in cases {
            let found = fields(task_run_unsupported_fields(&task_run(extra.clone()), "shop"));
            assert!(found.iter().any(|f| f == field), "{extra} reports {found:?}, not {field}");
        }
        assert_eq!(fields(task_run_unsupported_fields(&task_run(json!({"cluster": "shop", "count": 2})), "shop")), Vec::<String>::new());
    }

    #[test]
    fn every_task_schedule_field_berth_does_not_act_on_is_reported() {
        let schedule = |extra: Value, ecs: Value| -> TaskScheduleSpec {
            let mut ecs_parameters = json!({"taskDefinitionArn": "report"});
            ecs_parameters.as_object_mut().unwrap().extend(ecs.as_object().unwrap().clone());
            let mut spec = json!({"scheduleExpression": "rate(1 hour)", "target": {"ecsParameters": ecs_parameters}});
            spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::from_value(spec).unwrap()
        };
        let found = |extra: Value, ecs: Value| fields(task_schedule_unsupported_fields(&schedule(extra, ecs), "shop"));
        let target = |extra: Value| json!({"target": extra});
        let cases = [
            (json!({"groupName": "reports"}), json!({}), "groupName"),
            (json!({"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1"}), json!({}), "kmsKeyArn"),
            (json!({"clientToken": "abc"}), json!({}), "clientToken"),
            (target(json!({"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod", "ecsParameters": {"taskDefinitionArn": "report"}})), json!({}), "target.arn"),
            (target(json!({"roleArn": "arn:aws:iam::123456789012:role/scheduler", "ecsParameters": {"taskDefinitionArn": "report"}})), json!({}), "target.roleArn"),
            (target(json!({"deadLetterConfig": {"arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}, "ecsParameters": {"taskDefinitionArn": "report"}})), json!({}), "target.deadLetterConfig"),
            (target(json!({"input": "{\"executionRoleArn\": \"arn\"}", "ecsParameters": {"taskDefinitionArn": "report"}})), json!({}), "target.input.executionRoleArn"),
            (json!({}), json!({"platformVersion": "LATEST"}), "target.ecsParameters.platformVersion"),
            (json!({}), json!({"referenceId": "nightly"}), "target.ecsParameters.referenceId"),
            (json!({}), json!({"enableECSManagedTags": true}), "target.ecsParameters.enableECSManagedTags"),
            (json!({}), json!({"enableExecuteCommand": true}), "target.ecsParameters.enableExecuteCommand"),
            (json!({}), json!({"tags": [{"team": "data"}]}), "target.ecsParameters.tags"),
            (json!({}), json!({"propagateTags": "TASK_DEFINITION"}), "target.ecsParameters.propagateTags"),
            (json!({}), json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}), "target.ecsParameters.networkConfiguration.awsvpcConfiguration"),
        ];
        for (extra, ecs, field) in cases {
            let reported = found(extra.clone(), ecs.clone());
            assert!(reported.iter().any(|f| f == field), "{extra} {ecs} reports {reported:?}, not {field}");
        }
        assert_eq!(found(json!({"groupName": "default"}), json!({"taskCount": 2, "enableExecuteCommand": false})), Vec::<String>::new());
        let same_cluster = target(json!({"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/shop", "ecsParameters": {"taskDefinitionArn": "report"}}));
        assert_eq!(found(same_cluster, json!({})), Vec::<String>::new());
    }
}
