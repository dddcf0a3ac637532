//! The CEL rules in the CRD schemas, evaluated client-side with kube's `cel` feature: each
//! rule accepts a valid object and rejects an invalid one with a message naming the field.

mod support;

use berth::api::{Service, TaskDefinition, TaskRun, TaskSchedule};
use kube::CustomResourceExt;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use support::fixture;

/// CEL failure messages for `spec` wrapped in an object of kind `K`.
fn cel_errors<K>(spec: Value) -> Vec<String>
where
    K: CustomResourceExt + Serialize + DeserializeOwned,
{
    let object = json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": K::api_resource().kind,
        "metadata": {"name": "test", "namespace": "default"},
        "spec": spec,
    });
    let object: K = serde_json::from_value(object).expect("spec fits the type");
    match kube::core::cel::validate_cel(&object) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.message.clone()).collect(),
    }
}

/// The fixture `name` changed by `edit`.
fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut spec = fixture(name);
    edit(&mut spec);
    spec
}

/// Asserts that exactly one rule fails and that its message contains `expected`.
fn assert_rejected<K>(spec: Value, expected: &str)
where
    K: CustomResourceExt + Serialize + DeserializeOwned,
{
    let errors = cel_errors::<K>(spec);
    assert!(
        errors.len() == 1 && errors[0].contains(expected),
        "expected one error containing {expected:?}, got {errors:?}"
    );
}

fn assert_accepted<K>(spec: Value)
where
    K: CustomResourceExt + Serialize + DeserializeOwned,
{
    assert_eq!(cel_errors::<K>(spec), Vec::<String>::new());
}

/// An edit of a fixture, for tables of cases.
type Edit = fn(&mut Value);

const FARGATE: &str = "fargate-web.json";
const EC2: &str = "ec2-everything.json";

#[test]
fn fixtures_pass_every_rule() {
    assert_accepted::<TaskDefinition>(fixture(FARGATE));
    assert_accepted::<TaskDefinition>(fixture(EC2));
    assert_accepted::<Service>(fixture("service-web.json"));
    assert_accepted::<TaskRun>(fixture("taskrun-migrate.json"));
}

#[test]
fn container_names_are_unique() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["name"] = json!("envoy")
    });
    assert_rejected::<TaskDefinition>(spec, "containerDefinitions[].name must be unique");
}

#[test]
fn some_container_is_essential() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["essential"] = json!(false)
    });
    assert_rejected::<TaskDefinition>(spec, "at least one container must be essential");
    // A missing `essential` counts as true.
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("essential");
    });
    assert_accepted::<TaskDefinition>(spec);
}

#[test]
fn depends_on_names_a_container() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["dependsOn"][0]["containerName"] = json!("ghost")
    });
    assert_rejected::<TaskDefinition>(spec, "dependsOn[].containerName must name a container");
}

#[test]
fn complete_and_success_targets_are_non_essential() {
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][1]["essential"] = json!(true)
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "COMPLETE and SUCCESS conditions must point at a non-essential container",
    );
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][1]
            .as_object_mut()
            .unwrap()
            .remove("essential");
    });
    assert_rejected::<TaskDefinition>(spec, "COMPLETE and SUCCESS");
}

#[test]
fn healthy_targets_have_a_health_check() {
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][2]
            .as_object_mut()
            .unwrap()
            .remove("healthCheck");
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "HEALTHY condition must point at a container with a healthCheck",
    );
}

#[test]
fn volumes_from_names_a_container() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["volumesFrom"][0]["sourceContainer"] = json!("ghost")
    });
    assert_rejected::<TaskDefinition>(spec, "volumesFrom[].sourceContainer must name a container");
}

#[test]
fn mount_points_name_a_volume() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["mountPoints"][0]["sourceVolume"] = json!("ghost")
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "mountPoints[].sourceVolume must name an entry of volumes",
    );
    let spec = edited(EC2, |s| {
        s.as_object_mut().unwrap().remove("volumes");
    });
    let errors = cel_errors::<TaskDefinition>(spec);
    assert!(
        errors.iter().all(|e| e.contains("sourceVolume")) && !errors.is_empty(),
        "{errors:?}"
    );
}

#[test]
fn containers_need_memory_without_task_memory() {
    let without_task_memory = |s: &mut Value| {
        s.as_object_mut().unwrap().remove("memory");
    };
    assert_accepted::<TaskDefinition>(edited(EC2, without_task_memory));
    let spec = edited(EC2, |s| {
        without_task_memory(s);
        s["containerDefinitions"][1]
            .as_object_mut()
            .unwrap()
            .remove("memory");
    });
    assert_rejected::<TaskDefinition>(spec, "every container needs memory or memoryReservation");
}

#[test]
fn memory_is_at_least_memory_reservation() {
    let container = |memory: i32, reservation: i32| {
        edited(EC2, |s| {
            s["containerDefinitions"][0]["memory"] = json!(memory);
            s["containerDefinitions"][0]["memoryReservation"] = json!(reservation);
        })
    };
    assert_rejected::<TaskDefinition>(container(512, 1024), "memory must not be below memoryReservation");
    // ECS registers equal values (console exports carry them).
    assert_accepted::<TaskDefinition>(container(512, 512));
}

#[test]
fn network_mode_none_has_no_ports() {
    let none = |s: &mut Value| {
        s["networkMode"] = json!("none");
        s["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("links");
        s["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}]);
    };
    let spec = edited(EC2, none);
    assert_rejected::<TaskDefinition>(
        spec,
        "networkMode none allows no containerDefinitions[].portMappings",
    );
    let spec = edited(EC2, |s| {
        none(s);
        s["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("portMappings");
    });
    assert_accepted::<TaskDefinition>(spec);
}

#[test]
fn awsvpc_host_port_equals_container_port() {
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][0]["portMappings"][0]["hostPort"] = json!(8080)
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "hostPort: with networkMode awsvpc or host it must be omitted or equal containerPort",
    );
}

#[test]
fn port_ranges_only_in_bridge_and_awsvpc() {
    let spec = edited(EC2, |s| {
        s["networkMode"] = json!("host");
        s["containerDefinitions"][0]["portMappings"] = json!([{"containerPortRange": "9000-9010"}]);
        s["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("links");
        s["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("hostname");
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "containerPortRange is only allowed with networkMode bridge or awsvpc",
    );
}

#[test]
fn port_mapping_has_one_port_form() {
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["portMappings"][1]["containerPort"] = json!(9000)
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "set exactly one of containerPort or containerPortRange",
    );
    let spec = edited(EC2, |s| {
        s["containerDefinitions"][0]["portMappings"][1]["hostPort"] = json!(9000)
    });
    assert_rejected::<TaskDefinition>(spec, "hostPort is not allowed with containerPortRange");
}

#[test]
fn links_only_with_bridge() {
    let spec = edited(EC2, |s| {
        s["networkMode"] = json!("host");
        s["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080}]);
    });
    assert_rejected::<TaskDefinition>(spec, "links is only allowed with networkMode bridge");
}

#[test]
fn hostname_and_extra_hosts_not_with_awsvpc() {
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][1]["hostname"] = json!("init")
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "hostname and extraHosts are not allowed with networkMode awsvpc",
    );
    let spec = edited(FARGATE, |s| {
        s["containerDefinitions"][1]["extraHosts"] =
            json!([{"hostname": "a", "ipAddress": "10.0.0.1"}])
    });
    assert_rejected::<TaskDefinition>(spec, "hostname and extraHosts");
}

#[test]
fn one_volume_configured_at_launch() {
    let spec = edited(EC2, |s| {
        s["volumes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "ebs2", "configuredAtLaunch": true}))
    });
    assert_rejected::<TaskDefinition>(spec, "at most one volume may set configuredAtLaunch");
}

#[test]
fn volume_has_one_source() {
    let spec = edited(EC2, |s| s["volumes"][0]["configuredAtLaunch"] = json!(true));
    let errors = cel_errors::<TaskDefinition>(spec);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("volumes[]: set at most one of host")),
        "{errors:?}"
    );
}

#[test]
fn efs_iam_needs_transit_encryption() {
    let spec = edited(FARGATE, |s| {
        s["volumes"][1]["efsVolumeConfiguration"]["transitEncryption"] = json!("DISABLED")
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "authorizationConfig.iam ENABLED requires transitEncryption ENABLED",
    );
}

#[test]
fn fargate_task_sizes() {
    for (cpu, memory) in [
        ("256", "512"),
        ("256", "2048"),
        ("1024", "8192"),
        ("0.25 vCPU", "0.5GB"),
        ("1 vcpu", "2 GB"),
        ("16384", "122880"),
        ("8192", "20480"),
    ] {
        let spec = edited(FARGATE, |s| {
            s["cpu"] = json!(cpu);
            s["memory"] = json!(memory);
        });
        assert_accepted::<TaskDefinition>(spec);
    }
    for (cpu, memory) in [
        ("256", "1536"),
        ("512", "512"),
        ("1024", "9216"),
        ("8192", "18432"),
        ("128", "512"),
        ("2 vCPU", "2GB"),
    ] {
        let spec = edited(FARGATE, |s| {
            s["cpu"] = json!(cpu);
            s["memory"] = json!(memory);
        });
        assert_rejected::<TaskDefinition>(spec, "cpu/memory: with requiresCompatibilities FARGATE");
    }
    let spec = edited(FARGATE, |s| {
        s.as_object_mut().unwrap().remove("cpu");
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "cpu/memory: with requiresCompatibilities FARGATE both are required",
    );
}

#[test]
fn fargate_requires_awsvpc() {
    let spec = edited(FARGATE, |s| {
        s["networkMode"] = json!("bridge");
        s["containerDefinitions"][0]["portMappings"][0]
            .as_object_mut()
            .unwrap()
            .remove("hostPort");
    });
    assert_rejected::<TaskDefinition>(
        spec,
        "with requiresCompatibilities FARGATE, networkMode must be awsvpc",
    );
}

#[test]
fn fargate_container_restrictions() {
    let cases: [(Edit, &str); 6] = [
        (
            |s| s["containerDefinitions"][0]["privileged"] = json!(true),
            "privileged must not be true",
        ),
        (
            |s| s["containerDefinitions"][0]["linuxParameters"]["sharedMemorySize"] = json!(64),
            "may not set devices, sharedMemorySize",
        ),
        (
            |s| {
                s["containerDefinitions"][0]["linuxParameters"]["capabilities"]["add"] =
                    json!(["NET_ADMIN"])
            },
            "may only contain SYS_PTRACE",
        ),
        (
            |s| s["containerDefinitions"][0]["stopTimeout"] = json!(121),
            "stopTimeout must be at most 120",
        ),
        (
            |s| s["containerDefinitions"][0]["startTimeout"] = json!(1),
            "startTimeout 2-120",
        ),
        (
            |s| s["containerDefinitions"][0]["logConfiguration"]["logDriver"] = json!("json-file"),
            "logDriver must be awslogs, splunk or awsfirelens",
        ),
    ];
    for (edit, expected) in cases {
        assert_rejected::<TaskDefinition>(edited(FARGATE, edit), expected);
    }
}

#[test]
fn fargate_task_restrictions() {
    let cases: [(Edit, &str); 5] = [
        (
            |s| s["volumes"][0]["host"] = json!({"sourcePath": "/data"}),
            "volumes[] may not use dockerVolumeConfiguration or host.sourcePath",
        ),
        (
            |s| s["volumes"][0]["dockerVolumeConfiguration"] = json!({"scope": "task"}),
            "volumes[] may not use dockerVolumeConfiguration",
        ),
        (
            |s| {
                s["placementConstraints"] =
                    json!([{"type": "memberOf", "expression": "attribute:a == b"}])
            },
            "placementConstraints are not allowed",
        ),
        (|s| s["pidMode"] = json!("host"), "pidMode may only be task"),
        (|s| s["ipcMode"] = json!("task"), "ipcMode must be omitted"),
    ];
    for (edit, expected) in cases {
        assert_rejected::<TaskDefinition>(edited(FARGATE, edit), expected);
    }
    // The same settings are fine outside Fargate.
    assert_accepted::<TaskDefinition>(edited(EC2, |s| s["pidMode"] = json!("host")));
}

const SERVICE: &str = "service-web.json";

#[test]
fn launch_type_excludes_capacity_providers() {
    let spec = edited(SERVICE, |s| s["launchType"] = json!("EC2"));
    assert_rejected::<Service>(
        spec,
        "launchType and capacityProviderStrategy are mutually exclusive",
    );
    let spec = edited(SERVICE, |s| {
        s["launchType"] = json!("EC2");
        s.as_object_mut()
            .unwrap()
            .remove("capacityProviderStrategy");
    });
    assert_accepted::<Service>(spec);
}

#[test]
fn capacity_provider_strategy_bases_and_weights() {
    let spec = edited(SERVICE, |s| {
        s["capacityProviderStrategy"][0]["base"] = json!(1)
    });
    assert_rejected::<Service>(spec, "at most one entry may have a base greater than 0");
    let spec =
        edited(
            SERVICE,
            |s| {
                s["capacityProviderStrategy"] =
                    json!([{"capacityProvider": "a", "weight": 0}, {"capacityProvider": "b"}])
            },
        );
    assert_rejected::<Service>(spec, "at least one entry needs a weight greater than 0");
}

#[test]
fn placement_constraint_expressions() {
    let spec = edited(SERVICE, |s| {
        s["placementConstraints"][0]["expression"] = json!("a == b")
    });
    assert_rejected::<Service>(spec, "distinctInstance constraint takes no expression");
    let spec = edited(SERVICE, |s| {
        s["placementConstraints"][1]
            .as_object_mut()
            .unwrap()
            .remove("expression");
    });
    assert_rejected::<Service>(spec, "memberOf constraint requires an expression");
}

#[test]
fn placement_strategy_fields() {
    let cases = [
        (
            json!({"type": "random", "field": "cpu"}),
            "random strategy takes no field",
        ),
        (
            json!({"type": "binpack", "field": "instanceId"}),
            "binpack strategy requires field cpu or memory",
        ),
        (
            json!({"type": "spread"}),
            "spread strategy requires a field",
        ),
    ];
    for (strategy, expected) in cases {
        let spec = edited(SERVICE, |s| s["placementStrategy"] = json!([strategy]));
        assert_rejected::<Service>(spec, expected);
    }
}

#[test]
fn minimum_healthy_within_maximum() {
    let spec = edited(SERVICE, |s| {
        s["deploymentConfiguration"]["minimumHealthyPercent"] = json!(100);
        s["deploymentConfiguration"]["maximumPercent"] = json!(100);
    });
    assert_accepted::<Service>(spec);
    // The schema bounds (0-100, >= 100) make the CEL rule unreachable except at equality;
    // check the rule itself on the fragment.
    let errors = cel_errors::<Service>(edited(SERVICE, |s| {
        s["deploymentConfiguration"]["minimumHealthyPercent"] = json!(100);
        s["deploymentConfiguration"]["maximumPercent"] = json!(99);
    }));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("minimumHealthyPercent must not exceed maximumPercent")),
        "{errors:?}"
    );
}

/// A DAEMON service built from the fixture, without the fields DAEMON forbids.
fn daemon(s: &mut Value) {
    s["schedulingStrategy"] = json!("DAEMON");
    s["deploymentConfiguration"]["maximumPercent"] = json!(100);
    let spec = s.as_object_mut().unwrap();
    for field in ["desiredCount", "placementStrategy", "volumeConfigurations"] {
        spec.remove(field);
    }
}

#[test]
fn daemon_services() {
    assert_accepted::<Service>(edited(SERVICE, daemon));
    let cases: [(Edit, &str); 5] = [
        (
            |s| s["desiredCount"] = json!(3),
            "desiredCount must be omitted when schedulingStrategy is DAEMON",
        ),
        (
            |s| s["placementStrategy"] = json!([{"type": "random"}]),
            "placementStrategy must be omitted when schedulingStrategy is DAEMON",
        ),
        (
            |s| s["deploymentConfiguration"]["maximumPercent"] = json!(200),
            "DAEMON scheduling strategy does not support values above 100",
        ),
        (
            |s| s["volumeConfigurations"] = json!([{"name": "ebs"}]),
            "volumeConfigurations is only allowed with schedulingStrategy REPLICA",
        ),
        (
            |s| {
                s.as_object_mut()
                    .unwrap()
                    .remove("capacityProviderStrategy");
                s["launchType"] = json!("FARGATE");
            },
            "DAEMON is not supported with launchType FARGATE",
        ),
    ];
    for (edit, expected) in cases {
        let spec = edited(SERVICE, |s| {
            daemon(s);
            edit(s);
        });
        assert_rejected::<Service>(spec, expected);
    }
}

#[test]
fn the_external_deployment_controller_is_refused_and_code_deploy_accepted() {
    let spec = edited(SERVICE, |s| {
        s["deploymentController"]["type"] = json!("EXTERNAL")
    });
    assert_rejected::<Service>(spec, "deploymentController.type: EXTERNAL");
    let code_deploy = edited(SERVICE, |s| {
        s["deploymentController"]["type"] = json!("CODE_DEPLOY")
    });
    assert_accepted::<Service>(code_deploy);
}

const TASK_RUN: &str = "taskrun-migrate.json";

#[test]
fn task_run_rules() {
    let spec = edited(TASK_RUN, |s| s["propagateTags"] = json!("SERVICE"));
    assert_rejected::<TaskRun>(
        spec,
        "propagateTags: a TaskRun may only use TASK_DEFINITION or NONE",
    );
    let spec = edited(TASK_RUN, |s| {
        s["capacityProviderStrategy"] = json!([{"capacityProvider": "a", "weight": 1}])
    });
    assert_rejected::<TaskRun>(
        spec,
        "launchType and capacityProviderStrategy are mutually exclusive",
    );
}

#[test]
fn a_task_run_spec_is_immutable() {
    let run = |spec: Value| -> TaskRun {
        serde_json::from_value(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskRun",
            "metadata": {"name": "test", "namespace": "default"}, "spec": spec})).expect("spec fits the type")
    };
    let old = run(fixture(TASK_RUN));
    assert!(kube::core::cel::validate_cel_update(&old, &old).is_ok(), "an unchanged spec (a status or label update) is accepted");
    let changed = run(edited(TASK_RUN, |s| s["count"] = json!(5)));
    let errors = kube::core::cel::validate_cel_update(&changed, &old).expect_err("a changed count is refused");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(messages.len() == 1 && messages[0].contains("spec is immutable: a TaskRun is one RunTask call"), "{messages:?}");
}

/// A TaskSchedule spec with `expression` and `extra` fields.
fn schedule(expression: &str, extra: Value) -> Value {
    let mut spec = json!({"scheduleExpression": expression, "target": {"ecsParameters": {"taskDefinitionArn": "report"}}});
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    spec
}

// Examples from https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
// and https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html.
#[test]
fn schedule_expressions_in_aws_syntax_are_accepted() {
    for expression in [
        "cron(0 10 * * ? *)", "cron(15 12 * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)",
        "cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)",
        "cron(0 0 L * ? *)", "cron(0 0 LW * ? *)", "cron(0 0 3W * ? *)", "cron(0 0 ? * 6L *)", "cron(0 0 1 JAN,JUL ? 2030-2040)",
        "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
        "at(2025-12-31T23:59:00)",
    ] {
        assert_accepted::<TaskSchedule>(schedule(expression, json!({})));
    }
}

#[test]
fn malformed_schedule_expressions_are_refused_naming_the_field() {
    for expression in [
        "cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(0 10 * * ?)", "cron(60 10 * * ? *)", "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)", "cron(0 0 ? * 8 *)", "cron(0 0 1 * ? 2200)", "rate(1 minutes)", "rate(5 minute)",
        "rate(0 minutes)", "rate(2 weeks)", "at(2025-13-01T00:00:00)", "at(2025-12-31 23:59:00)", "0 10 * * ? *", "*/5 * * * *",
    ] {
        assert_rejected::<TaskSchedule>(schedule(expression, json!({})), "scheduleExpression: must be at(yyyy-mm-ddThh:mm:ss)");
    }
}

#[test]
fn a_flexible_window_needs_its_minutes_and_off_has_none() {
    assert_accepted::<TaskSchedule>(schedule("rate(1 hour)", json!({"flexibleTimeWindow": {"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}})));
    assert_accepted::<TaskSchedule>(schedule("rate(1 hour)", json!({"flexibleTimeWindow": {"mode": "OFF"}})));
    assert_rejected::<TaskSchedule>(schedule("rate(1 hour)", json!({"flexibleTimeWindow": {"mode": "FLEXIBLE"}})), "maximumWindowInMinutes is required with mode FLEXIBLE");
    assert_rejected::<TaskSchedule>(schedule("rate(1 hour)", json!({"flexibleTimeWindow": {"mode": "OFF", "maximumWindowInMinutes": 5}})), "not allowed with OFF");
}

#[test]
fn a_schedule_target_follows_run_task_rules() {
    let target = |ecs: Value| json!({"target": {"ecsParameters": ecs}});
    assert_rejected::<TaskSchedule>(
        schedule("rate(1 hour)", target(json!({"taskDefinitionArn": "report", "launchType": "FARGATE", "capacityProviderStrategy": [{"capacityProvider": "fargate", "weight": 1}]}))),
        "launchType and capacityProviderStrategy are mutually exclusive",
    );
    assert_rejected::<TaskSchedule>(schedule("rate(1 hour)", target(json!({"taskDefinitionArn": "report", "propagateTags": "SERVICE"}))), "propagateTags: a scheduled task may only use TASK_DEFINITION");
}

/// Two containers of a bridge-mode task mapping the same host port and protocol:
/// refused at apply rather than at every task start.
#[test]
fn no_two_containers_map_one_host_port() {
    let two = |first: Value, second: Value| json!({"networkMode": "bridge", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "nginx", "portMappings": [first]},
        {"name": "b", "image": "nginx", "portMappings": [{"containerPort": 9000}, second]},
    ]});
    assert_rejected::<TaskDefinition>(
        two(json!({"containerPort": 80, "hostPort": 8080}), json!({"containerPort": 81, "hostPort": 8080})),
        "hostPort: two containers may not map the same hostPort and protocol",
    );
    // The same port over tcp and udp, dynamic ports, distinct ports: all fine.
    assert_accepted::<TaskDefinition>(two(json!({"containerPort": 53, "hostPort": 53}), json!({"containerPort": 53, "hostPort": 53, "protocol": "udp"})));
    assert_accepted::<TaskDefinition>(two(json!({"containerPort": 80, "hostPort": 0}), json!({"containerPort": 80, "hostPort": 0})));
    assert_accepted::<TaskDefinition>(two(json!({"containerPort": 80}), json!({"containerPort": 80})));
    assert_accepted::<TaskDefinition>(two(json!({"containerPort": 80, "hostPort": 8080}), json!({"containerPort": 81, "hostPort": 8081})));
    // With host networking each mapping binds its containerPort.
    let mut host = two(json!({"containerPort": 80}), json!({"containerPort": 80, "hostPort": 80}));
    host["networkMode"] = json!("host");
    assert_rejected::<TaskDefinition>(host, "two containers may not use the same port and protocol");
    // awsvpc binds no host port.
    let mut awsvpc = two(json!({"containerPort": 80}), json!({"containerPort": 80}));
    awsvpc["networkMode"] = json!("awsvpc");
    assert_accepted::<TaskDefinition>(awsvpc);
}

/// A port mapping name is what a Service Connect `portName` points at, and Kubernetes refuses
/// a pod with two ports of one name: a name used twice, in one container or two, is refused
/// at apply (found by fuzzing the docs' Service Connect nginx definition with its mapping
/// duplicated).
#[test]
fn a_port_mapping_name_names_one_mapping_of_the_task() {
    let task = |a: Value, b: Value| json!({"networkMode": "awsvpc", "memory": "512", "containerDefinitions": [
        {"name": "a", "image": "nginx", "portMappings": a},
        {"name": "b", "image": "nginx", "portMappings": b},
    ]});
    let message = "portMappings[].name must be unique within the task";
    assert_rejected::<TaskDefinition>(
        task(json!([{"containerPort": 80, "name": "web"}, {"containerPort": 80, "name": "web"}]), json!([])),
        message,
    );
    assert_rejected::<TaskDefinition>(task(json!([{"containerPort": 80, "name": "web"}]), json!([{"containerPort": 81, "name": "web"}])), message);
    // Distinct names, unnamed and null-named mappings: all fine.
    assert_accepted::<TaskDefinition>(task(
        json!([{"containerPort": 80, "name": "web"}, {"containerPort": 81}, {"containerPort": 82, "name": null}]),
        json!([{"containerPort": 90, "name": "admin"}, {"containerPort": 91}, {"containerPort": 92, "name": null}]),
    ));
}
