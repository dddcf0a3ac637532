//! `render_pod` end to end: fixtures are ECS task definitions in YAML.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use proptest::prelude::*;

use super::*;

fn spec(yaml: &str) -> TaskDefinitionSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn context() -> TaskContext {
    TaskContext {
        namespace: "shop".into(),
        pod_name: "web-7f9c2".into(),
        labels: BTreeMap::from([("berth.dev/family".into(), "web".into())]),
        ..Default::default()
    }
}

fn render(yaml: &str) -> Pod {
    render_pod(&spec(yaml), &context()).unwrap()
}

fn pod_spec(pod: &Pod) -> &PodSpec {
    pod.spec.as_ref().unwrap()
}

fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    let spec = pod_spec(pod);
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap()
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn quantity(
    map: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<String> {
    map.as_ref().and_then(|m| m.get(key)).map(|q| q.0.clone())
}

const WEB: &str = r#"
family: web
cpu: "1 vCPU"
memory: "2GB"
networkMode: awsvpc
taskRoleArn: arn:aws:iam::123456789012:role/service/Web_Role
containerDefinitions:
  - name: web
    image: nginx:1.27
    cpu: 256
    memory: 512
    memoryReservation: 256
    entryPoint: ["/docker-entrypoint.sh"]
    command: ["nginx", "-g", "daemon off;"]
    workingDirectory: /srv
    environment: [{name: MODE, value: prod}]
    secrets: [{name: API_KEY, valueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys-AbC123:web::"}]
    portMappings: [{containerPort: 80, name: http}]
    healthCheck: {command: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], interval: 10}
    dockerLabels: {"sim.berth.dev/exit-code": "0"}
    stopTimeout: 60
"#;

#[test]
fn pod_metadata_and_basics() {
    let pod = render(WEB);
    assert_eq!(pod.metadata.name.as_deref(), Some("web-7f9c2"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(pod.metadata.labels, Some(context().labels));
    let spec = pod_spec(&pod);
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.termination_grace_period_seconds, Some(60));
    assert_eq!(spec.service_account_name.as_deref(), Some("web-role"));
    assert_eq!(spec.enable_service_links, Some(false));
    assert_eq!(spec.init_containers, None);
}

#[test]
fn entry_point_and_command_swap_names() {
    let pod = render(WEB);
    let web = container(&pod, "web");
    assert_eq!(web.image.as_deref(), Some("nginx:1.27"));
    assert_eq!(
        web.command.as_deref(),
        Some(&["/docker-entrypoint.sh".to_owned()][..])
    );
    assert_eq!(web.args.clone().unwrap(), ["nginx", "-g", "daemon off;"]);
    assert_eq!(web.working_dir.as_deref(), Some("/srv"));
}

#[test]
fn environment_and_secrets() {
    let pod = render(WEB);
    let env = container(&pod, "web").env.clone().unwrap();
    assert_eq!(
        (env[0].name.as_str(), env[0].value.as_deref()),
        ("MODE", Some("prod"))
    );
    let selector = env[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (
            env[1].name.as_str(),
            selector.name.as_str(),
            selector.key.as_str()
        ),
        ("API_KEY", "api-keys", "web")
    );
}

#[test]
fn container_and_pod_resources() {
    let pod = render(WEB);
    let resources = container(&pod, "web").resources.clone().unwrap();
    assert_eq!(
        quantity(&resources.requests, "cpu").as_deref(),
        Some("250m")
    );
    assert_eq!(
        quantity(&resources.requests, "memory").as_deref(),
        Some("256Mi")
    );
    assert_eq!(
        quantity(&resources.limits, "memory").as_deref(),
        Some("512Mi")
    );
    assert_eq!(quantity(&resources.limits, "cpu"), None);
    let task = pod_spec(&pod).resources.clone().unwrap();
    for amounts in [&task.requests, &task.limits] {
        assert_eq!(quantity(amounts, "cpu").as_deref(), Some("1000m"));
        assert_eq!(quantity(amounts, "memory").as_deref(), Some("2048Mi"));
    }
}

#[test]
fn health_check_is_a_readiness_probe_only() {
    let pod = render(WEB);
    let web = container(&pod, "web");
    let probe = web.readiness_probe.as_ref().unwrap();
    assert_eq!(
        probe.exec.as_ref().unwrap().command.clone().unwrap(),
        ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]
    );
    assert_eq!(probe.period_seconds, Some(10));
    assert_eq!((&web.liveness_probe, &web.startup_probe), (&None, &None));
}

#[test]
fn ports_and_docker_labels() {
    let pod = render(WEB);
    let port = &container(&pod, "web").ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.container_port, port.name.as_deref(), port.host_port),
        (80, Some("http"), None)
    );
    assert_eq!(annotation(&pod, "sim.berth.dev/exit-code"), Some("0"));
    assert_eq!(annotation(&pod, PORT_NAMES_ANNOTATION), None);
    assert_eq!(annotation(&pod, CONTAINER_NAMES_ANNOTATION), None);
    assert_eq!(
        annotation(&pod, ESSENTIAL_CONTAINERS_ANNOTATION),
        Some("web")
    );
}

#[test]
fn controller_annotations_win() {
    let ctx = TaskContext {
        annotations: BTreeMap::from([("sim.berth.dev/exit-code".into(), "9".into())]),
        ..context()
    };
    let pod = render_pod(&spec(WEB), &ctx).unwrap();
    assert_eq!(annotation(&pod, "sim.berth.dev/exit-code"), Some("9"));
}

#[test]
fn run_task_overrides() {
    let ctx = TaskContext {
        overrides: Some(
            serde_json::from_str(
                r#"{"cpu": "2048", "memory": "4096", "taskRoleArn": "arn:aws:iam::1:role/Batch",
                    "containerOverrides": [{"name": "web", "command": ["sleep", "1"], "cpu": 1024, "memory": 1024,
                                            "environment": [{"name": "MODE", "value": "test"}]}]}"#,
            )
            .unwrap(),
        ),
        ..context()
    };
    let pod = render_pod(&spec(WEB), &ctx).unwrap();
    let web = container(&pod, "web");
    assert_eq!(web.args.clone().unwrap(), ["sleep", "1"]);
    assert_eq!(web.env.as_ref().unwrap()[0].value.as_deref(), Some("test"));
    let resources = web.resources.clone().unwrap();
    assert_eq!(
        quantity(&resources.requests, "cpu").as_deref(),
        Some("1000m")
    );
    assert_eq!(
        quantity(&resources.limits, "memory").as_deref(),
        Some("1024Mi")
    );
    assert_eq!(
        quantity(&resources.requests, "memory").as_deref(),
        Some("256Mi")
    );
    let task = pod_spec(&pod).resources.clone().unwrap();
    assert_eq!(quantity(&task.limits, "cpu").as_deref(), Some("2000m"));
    assert_eq!(
        pod_spec(&pod).service_account_name.as_deref(),
        Some("batch")
    );
}

#[test]
fn overrides_for_unknown_containers_are_errors() {
    let ctx = TaskContext {
        overrides: Some(
            serde_json::from_str(r#"{"containerOverrides": [{"name": "ghost"}]}"#).unwrap(),
        ),
        ..context()
    };
    assert!(matches!(
        render_pod(&spec(WEB), &ctx),
        Err(RenderError::UnknownContainer { .. })
    ));
}

const DEPENDENCIES: &str = r#"
containerDefinitions:
  - name: App_Server
    image: app
    dependsOn:
      - {containerName: Envoy_Proxy, condition: HEALTHY}
      - {containerName: migrate, condition: SUCCESS}
      - {containerName: log-router, condition: START}
  - name: migrate
    image: app
    essential: false
    command: ["migrate"]
    dependsOn: [{containerName: Envoy_Proxy, condition: HEALTHY}]
  - name: Envoy_Proxy
    image: envoy
    startTimeout: 120
    healthCheck: {command: ["CMD", "/ready"], interval: 5, retries: 2}
  - name: log-router
    image: fluent-bit
    essential: false
  - name: worker
    image: app
"#;

#[test]
fn depends_on_becomes_sidecars_and_init_containers_in_order() {
    let pod = render(DEPENDENCIES);
    let spec = pod_spec(&pod);
    let init: Vec<(&str, Option<&str>)> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.restart_policy.as_deref()))
        .collect();
    assert_eq!(
        init,
        [
            ("envoy-proxy", Some("Always")),
            ("migrate", None),
            ("log-router", Some("Always"))
        ]
    );
    let main: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(main, ["app-server", "worker"]);
}

#[test]
fn healthy_targets_get_a_startup_probe() {
    let pod = render(DEPENDENCIES);
    let envoy = container(&pod, "envoy-proxy");
    let startup = envoy.startup_probe.as_ref().unwrap();
    assert_eq!(
        startup.exec.as_ref().unwrap().command.clone().unwrap(),
        ["/ready"]
    );
    assert_eq!(
        (startup.period_seconds, startup.failure_threshold),
        (Some(5), Some(62))
    );
    assert!(envoy.readiness_probe.is_some());
    let router = container(&pod, "log-router");
    assert_eq!(
        (&router.startup_probe, &router.readiness_probe),
        (&None, &None)
    );
    let migrate = container(&pod, "migrate");
    assert_eq!(
        (&migrate.startup_probe, &migrate.readiness_probe),
        (&None, &None)
    );
}

#[test]
fn essential_and_sanitised_names_are_annotated_and_round_trip() {
    let pod = render(DEPENDENCIES);
    let annotations = pod.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotation(&pod, ESSENTIAL_CONTAINERS_ANNOTATION),
        Some("app-server,envoy-proxy,worker")
    );
    let back = ecs_container_names(&annotations);
    assert_eq!(back["app-server"], "App_Server");
    assert_eq!(back["envoy-proxy"], "Envoy_Proxy");
    let rendered: BTreeSet<String> = pod_spec(&pod)
        .containers
        .iter()
        .chain(pod_spec(&pod).init_containers.iter().flatten())
        .map(|c| back.get(&c.name).cloned().unwrap_or_else(|| c.name.clone()))
        .collect();
    let ecs: BTreeSet<String> = spec(DEPENDENCIES)
        .container_definitions
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(rendered, ecs);
    assert_eq!(
        essential_containers(&annotations),
        BTreeSet::from(["app-server".into(), "envoy-proxy".into(), "worker".into()])
    );
}

#[test]
fn colliding_container_names_stay_distinct() {
    let pod = render(
        "containerDefinitions: [{name: web, image: x}, {name: WEB, image: x}, {name: Web_, image: x}]\n",
    );
    let names: BTreeSet<&str> = pod_spec(&pod)
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.contains("web"));
}

#[test]
fn duplicate_container_names_are_errors() {
    let result = render_pod(
        &spec("containerDefinitions: [{name: a, image: x}, {name: a, image: y}]\n"),
        &context(),
    );
    assert_eq!(result, Err(RenderError::DuplicateContainer("a".into())));
}

#[test]
fn dependency_cycles_are_errors() {
    let result = render_pod(
        &spec(
            r#"
containerDefinitions:
  - {name: a, image: x, dependsOn: [{containerName: b, condition: START}]}
  - {name: b, image: x, dependsOn: [{containerName: a, condition: START}]}
"#,
        ),
        &context(),
    );
    assert_eq!(
        result,
        Err(RenderError::DependencyCycle(vec!["a".into(), "b".into()]))
    );
}

#[test]
fn volumes_from_and_mounts() {
    let pod = render(
        r#"
containerDefinitions:
  - {name: writer, image: x, mountPoints: [{sourceVolume: data, containerPath: /data}]}
  - {name: reader, image: x, volumesFrom: [{sourceContainer: writer, readOnly: true}]}
volumes: [{name: data, host: {sourcePath: /srv}}]
"#,
    );
    let mounts = container(&pod, "reader").volume_mounts.clone().unwrap();
    assert_eq!(
        (
            mounts[0].name.as_str(),
            mounts[0].mount_path.as_str(),
            mounts[0].read_only
        ),
        ("data", "/data", Some(true))
    );
    assert_eq!(
        pod_spec(&pod).volumes.as_ref().unwrap()[0]
            .host_path
            .as_ref()
            .unwrap()
            .path,
        "/srv"
    );
}

#[test]
fn host_network_and_bridge_ports() {
    let pod = render(
        "networkMode: host\ncontainerDefinitions: [{name: a, image: x, portMappings: [{containerPort: 8080}]}]\n",
    );
    assert_eq!(pod_spec(&pod).host_network, Some(true));
    assert_eq!(
        pod_spec(&pod).dns_policy.as_deref(),
        Some("ClusterFirstWithHostNet")
    );
    assert_eq!(
        container(&pod, "a").ports.as_ref().unwrap()[0].host_port,
        Some(8080)
    );
    let pod = render(
        "networkMode: bridge\ncontainerDefinitions: [{name: a, image: x, portMappings: [{containerPort: 80, hostPort: 0}]}]\n",
    );
    assert_eq!(
        container(&pod, "a").ports.as_ref().unwrap()[0].host_port,
        None
    );
}

#[test]
fn runtime_platform_selects_nodes() {
    let pod = render(
        "runtimePlatform: {cpuArchitecture: ARM64, operatingSystemFamily: LINUX}\ncontainerDefinitions: [{name: a, image: x}]\n",
    );
    let selector = pod_spec(&pod).node_selector.clone().unwrap();
    assert_eq!(selector["kubernetes.io/arch"], "arm64");
    assert_eq!(selector["kubernetes.io/os"], "linux");
}

#[test]
fn sanitised_port_names_are_annotated() {
    let pod = render(
        "containerDefinitions: [{name: a, image: x, portMappings: [{containerPort: 80, name: public_http_endpoint}]}]\n",
    );
    let port = container(&pod, "a").ports.as_ref().unwrap()[0]
        .name
        .clone()
        .unwrap();
    let mapping: BTreeMap<String, String> =
        serde_json::from_str(annotation(&pod, PORT_NAMES_ANNOTATION).unwrap()).unwrap();
    assert_eq!(mapping["public_http_endpoint"], port);
    assert!(names::is_port_name(&port));
}

#[test]
fn pull_secrets_gpus_and_container_settings() {
    let pod = render(
        r#"
containerDefinitions:
  - name: a
    image: private/app
    repositoryCredentials: {credentialsParameter: "arn:aws:secretsmanager:us-east-1:1:secret:registry-Ab12Cd"}
    resourceRequirements: [{type: GPU, value: "2"}]
    interactive: true
    pseudoTerminal: true
    user: "1000"
"#,
    );
    assert_eq!(
        pod_spec(&pod).image_pull_secrets.clone().unwrap()[0].name,
        "registry"
    );
    let a = container(&pod, "a");
    assert_eq!(
        quantity(&a.resources.as_ref().unwrap().limits, GPU_RESOURCE).as_deref(),
        Some("2")
    );
    assert_eq!((a.stdin, a.tty), (Some(true), Some(true)));
    assert_eq!(a.security_context.as_ref().unwrap().run_as_user, Some(1000));
}

#[test]
fn grace_period_defaults_to_thirty_seconds() {
    let pod = render(
        "containerDefinitions: [{name: a, image: x, stopTimeout: 10}, {name: b, image: x}]\n",
    );
    assert_eq!(pod_spec(&pod).termination_grace_period_seconds, Some(30));
}

const VOLUMES: [&str; 3] = ["data", "Data_2", "scratch"];

/// Task definitions from a few generators: names that need sanitising or collide, random
/// sizes, ports, health checks, volumes and dependencies (cycles and bad references included).
fn arbitrary_spec() -> impl Strategy<Value = TaskDefinitionSpec> {
    let container = (
        "[A-Za-z0-9_-]{1,80}",
        proptest::option::of(0..5000i32),
        proptest::option::of(0..5000i32),
        proptest::option::of(0..5000i32),
        proptest::collection::vec(
            (
                1..65535i32,
                proptest::option::of("[a-z0-9_]{1,40}"),
                proptest::bool::ANY,
            ),
            0..3,
        ),
        proptest::option::of(prop_oneof![
            Just("CMD"),
            Just("CMD-SHELL"),
            Just("/bin/true")
        ]),
        proptest::collection::vec((0..6usize, 0..4usize), 0..3),
        proptest::collection::vec(0..3usize, 0..2),
        proptest::option::of(proptest::bool::ANY),
    );
    (
        proptest::collection::vec(container, 1..6),
        proptest::option::of(prop_oneof![Just("256"), Just("1 vCPU"), Just("bogus"), Just("16384")]),
        proptest::option::of(prop_oneof![Just("512"), Just("2GB"), Just("30720")]),
        proptest::option::of(prop_oneof![Just("bridge"), Just("host"), Just("awsvpc"), Just("none")]),
    )
        .prop_map(|(containers, cpu, memory, network_mode)| {
            let count = containers.len();
            let volumes: Vec<_> = VOLUMES
                .iter()
                .map(|name| serde_json::json!({"name": name, "host": {}}))
                .collect();
            let names: Vec<String> = containers.iter().map(|c| c.0.clone()).collect();
            let definitions: Vec<serde_json::Value> = containers
                .into_iter()
                .map(|(name, cpu, memory, reservation, ports, check, deps, mounts, essential)| {
                    let conditions = ["START", "COMPLETE", "SUCCESS", "HEALTHY"];
                    serde_json::json!({
                        "name": name,
                        "image": "busybox",
                        "cpu": cpu,
                        "memory": memory,
                        "memoryReservation": reservation,
                        "essential": essential,
                        "portMappings": ports.into_iter().map(|(port, name, udp)| serde_json::json!({
                            "containerPort": port, "name": name, "protocol": if udp { "udp" } else { "tcp" }
                        })).collect::<Vec<_>>(),
                        "healthCheck": check.map(|kind| serde_json::json!({"command": [kind, "true"]})),
                        "dependsOn": deps.into_iter().map(|(target, condition)| serde_json::json!({
                            "containerName": names.get(target % (count + 1)).cloned().unwrap_or_else(|| "missing".into()),
                            "condition": conditions[condition],
                        })).collect::<Vec<_>>(),
                        "mountPoints": mounts.into_iter().map(|v| serde_json::json!({
                            "sourceVolume": VOLUMES[v], "containerPath": format!("/m{v}")
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::from_value(serde_json::json!({
                "cpu": cpu, "memory": memory, "networkMode": network_mode,
                "containerDefinitions": definitions, "volumes": volumes,
            }))
            .unwrap()
        })
}

proptest! {
    #[test]
    fn render_pod_never_panics_and_names_are_valid(spec in arbitrary_spec()) {
        let _ = unsupported_fields(&spec);
        if let Ok(pod) = render_pod(&spec, &context()) {
            let pod_spec = pod.spec.unwrap();
            let containers: Vec<&Container> = pod_spec.containers.iter().chain(pod_spec.init_containers.iter().flatten()).collect();
            prop_assert_eq!(containers.len(), spec.container_definitions.len());
            let names: BTreeSet<&str> = containers.iter().map(|c| c.name.as_str()).collect();
            prop_assert_eq!(names.len(), containers.len());
            prop_assert!(names.iter().all(|n| names::is_dns_label(n)));
            let ports: Vec<&str> = containers.iter().flat_map(|c| c.ports.iter().flatten()).filter_map(|p| p.name.as_deref()).collect();
            prop_assert!(ports.iter().all(|p| names::is_port_name(p)));
            let volumes: BTreeSet<&str> = pod_spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
            prop_assert!(containers.iter().flat_map(|c| c.volume_mounts.iter().flatten()).all(|m| volumes.contains(m.name.as_str())));
            prop_assert!(pod.metadata.annotations.unwrap().keys().all(|k| names::is_qualified_name(k)));
        }
    }
}

/// A container restart policy: the kubelet restarts the task's containers in place
/// (pod restartPolicy Always) and the annotation tells the operator which restarts
/// ECS would make.
#[test]
fn a_container_restart_policy_restarts_in_place_and_is_recorded() {
    let pod = render(
        r#"
containerDefinitions:
  - name: worker
    image: worker:1
    restartPolicy: {enabled: true, ignoredExitCodes: [0], restartAttemptPeriod: 120}
  - name: log
    image: fluent-bit
    essential: false
    restartPolicy: {enabled: true}
"#,
    );
    assert_eq!(pod.spec.as_ref().unwrap().restart_policy.as_deref(), Some("Always"));
    let rules = crate::ecs::render::restart_rules(pod.metadata.annotations.as_ref().unwrap());
    assert_eq!(rules["worker"], crate::ecs::render::RestartRule { ignored_exit_codes: vec![0], restart_attempt_period: 120 });
    assert_eq!(rules["log"].restart_attempt_period, 300, "ECS's default period");
    let plain = render("containerDefinitions: [{name: web, image: nginx, restartPolicy: {enabled: false}}]\n");
    assert_eq!(plain.spec.as_ref().unwrap().restart_policy.as_deref(), Some("Never"));
}

/// `startTimeout` is the deadline of a container's dependents: the task records the
/// longest, which the operator enforces from the pod's start.
#[test]
fn the_longest_start_timeout_is_recorded() {
    let pod = render(
        r#"
containerDefinitions:
  - {name: app, image: app, dependsOn: [{containerName: envoy, condition: HEALTHY}]}
  - {name: envoy, image: envoy, startTimeout: 90, healthCheck: {command: [CMD, true]}}
  - {name: seed, image: seed, essential: false, startTimeout: 30}
"#,
    );
    assert_eq!(pod.metadata.annotations.as_ref().unwrap()[crate::ecs::render::START_TIMEOUT_ANNOTATION], "90");
}
