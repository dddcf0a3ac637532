use super::*;

const TASK_DEFINITION: &str = r#"
networkMode: awsvpc
containerDefinitions:
  - name: web
    image: x
    portMappings:
      - {containerPort: 8080, name: web_http, appProtocol: http}
      - {containerPort: 9090, name: metrics, appProtocol: grpc}
      - {containerPort: 5353, protocol: udp}
  - name: sidecar
    image: x
    portMappings: [{containerPortRange: "7000-7010"}]
"#;

fn td() -> TaskDefinitionSpec {
    serde_saphyr::from_str(TASK_DEFINITION).unwrap()
}

fn service(yaml: &str) -> Service {
    let spec: ServiceSpec = serde_saphyr::from_str(yaml).unwrap();
    let mut service = Service::new("orders", spec);
    service.metadata.namespace = Some("shop".into());
    service.metadata.uid = Some("uid-1".into());
    service
}

fn plan_for(yaml: &str, annotations: &[(&str, &str)]) -> Plan {
    let svc = service(yaml);
    let annotations = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    plan("orders", &svc.spec, &annotations, &td())
}

fn names(plan: &Plan) -> Vec<(&str, &str, Option<i32>, Option<i32>)> {
    plan.routes.iter().map(|r| (r.status.name.as_str(), r.status.type_.as_str(), r.status.port, r.status.container_port)).collect()
}

#[test]
fn load_balancers_are_named_after_their_target_group_or_load_balancer() {
    let plan = plan_for(r#"
taskDefinition: orders
loadBalancers:
  - {targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-tg/6d0ecf831eec9f09", containerName: web, containerPort: 8080}
  - {loadBalancerName: Legacy_ELB, containerName: web, containerPort: 9090}
  - {containerName: sidecar, containerPort: 7005}
"#, &[]);
    assert_eq!(names(&plan), [
        ("orders-tg", "ClusterIP", Some(8080), Some(8080)),
        ("legacy-elb", "ClusterIP", Some(9090), Some(9090)),
        ("orders-7005", "ClusterIP", Some(7005), Some(7005)),
    ]);
    assert_eq!(plan.problems, []);
    assert_eq!(plan.deregistration_delay, DEFAULT_DEREGISTRATION_DELAY);
    let first = &plan.routes[0];
    assert_eq!((first.port_name.as_deref(), first.protocol, first.app_protocol), (Some("web-http"), "TCP", Some("http")));
    assert_eq!(plan.routes[1].app_protocol, Some("grpc"));
    assert_eq!(first.status.target.as_deref(), Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-tg/6d0ecf831eec9f09"));
}

#[test]
fn annotations_choose_the_type_and_the_deregistration_delay() {
    let yaml = "taskDefinition: orders\nloadBalancers: [{loadBalancerName: lb, containerName: web, containerPort: 8080}]\n";
    let plan = plan_for(yaml, &[(LOAD_BALANCER_TYPE, "LoadBalancer"), (DEREGISTRATION_DELAY, "5")]);
    assert_eq!(names(&plan), [("lb", "LoadBalancer", Some(8080), Some(8080))]);
    assert_eq!(plan.deregistration_delay, Duration::from_secs(5));

    let plan = plan_for(yaml, &[(LOAD_BALANCER_TYPE, "ExternalName"), (DEREGISTRATION_DELAY, "soon")]);
    assert_eq!(names(&plan), [("lb", "ClusterIP", Some(8080), Some(8080))]);
    let reasons: Vec<&str> = plan.problems.iter().map(|p| p.reason).collect();
    assert_eq!(reasons, ["InvalidLoadBalancerType", "InvalidDeregistrationDelay"]);
}

#[test]
fn a_load_balancer_on_a_missing_container_or_port_gets_no_service() {
    let plan = plan_for(r#"
taskDefinition: orders
loadBalancers:
  - {loadBalancerName: a, containerName: api, containerPort: 8080}
  - {loadBalancerName: b, containerName: web, containerPort: 8081}
  - {loadBalancerName: c, containerPort: 8080}
"#, &[]);
    assert_eq!(plan.routes, []);
    let messages: Vec<&str> = plan.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages, [
        "(service orders) (load-balancer a): container api is not in the task definition; no Kubernetes Service is created for it",
        "(service orders) (load-balancer b): container web has no portMappings entry for containerPort 8081; no Kubernetes Service is created for it",
        "(service orders) (load-balancer c): containerName and containerPort are both required; no Kubernetes Service is created for it",
    ]);
    assert!(plan.problems.iter().all(|p| p.reason == "InvalidLoadBalancer"));
}

#[test]
fn service_registries_are_headless_services_named_after_the_service() {
    let plan = plan_for(r#"
taskDefinition: orders
serviceRegistries: [{registryArn: "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-abc", port: 8080}]
"#, &[]);
    assert_eq!(names(&plan), [("orders", "Headless", Some(8080), Some(8080))]);
    assert_eq!(plan.deregistration_delay, Duration::ZERO);
    let portless = plan_for("taskDefinition: orders\nserviceRegistries: [{registryArn: arn}]\n", &[]);
    assert_eq!(names(&portless), [("orders", "Headless", None, None)]);
    let bad = plan_for("taskDefinition: orders\nserviceRegistries: [{containerName: web, containerPort: 1}]\n", &[]);
    assert_eq!((bad.routes.len(), bad.problems[0].reason), (0, "InvalidServiceRegistry"));
}

#[test]
fn service_connect_aliases_become_services_named_as_clients_call_them() {
    let plan = plan_for(r#"
taskDefinition: orders
serviceConnectConfiguration:
  enabled: true
  namespace: internal
  services:
    - {portName: web_http, clientAliases: [{port: 80, dnsName: orders.internal}]}
    - {portName: metrics, discoveryName: orders-metrics}
    - {portName: nope}
"#, &[]);
    assert_eq!(names(&plan), [("orders", "ClusterIP", Some(80), Some(8080)), ("orders-metrics", "ClusterIP", Some(9090), Some(9090))]);
    assert_eq!(plan.routes[0].status.dns_name.as_deref(), Some("orders.internal"));
    assert_eq!(plan.routes[1].status.dns_name.as_deref(), Some("orders-metrics"));
    assert_eq!(plan.problems.iter().map(|p| p.reason).collect::<Vec<_>>(), ["InvalidServiceConnect"]);

    let disabled = plan_for("taskDefinition: orders\nserviceConnectConfiguration: {enabled: false, services: [{portName: metrics}]}\n", &[]);
    assert_eq!(disabled.routes, []);
}

#[test]
fn one_name_one_service() {
    let plan = plan_for(r#"
taskDefinition: orders
serviceRegistries: [{port: 8080}]
serviceConnectConfiguration: {enabled: true, services: [{portName: metrics, clientAliases: [{port: 90, dnsName: orders}]}]}
"#, &[]);
    assert_eq!(names(&plan), [("orders", "Headless", Some(8080), Some(8080))]);
    assert_eq!(plan.problems[0].reason, "ServiceNameConflict");
}

#[test]
fn names_are_rfc_1035_labels() {
    assert_eq!(kubernetes_name("Orders_API"), "orders-api");
    assert_eq!(kubernetes_name("3d-render"), "s-3d-render");
    assert_eq!(target_group_name("arn:aws:elasticloadbalancing:r:1:targetgroup/tg-1/abc"), Some("tg-1"));
    assert_eq!(target_group_name("not-an-arn"), None);
}

#[test]
fn routes_traffic_only_when_asked() {
    assert!(!routes_traffic(&service("taskDefinition: orders\n").spec));
    assert!(!routes_traffic(&service("taskDefinition: orders\nloadBalancers: []\n").spec));
    assert!(routes_traffic(&service("taskDefinition: orders\nserviceRegistries: [{port: 1}]\n").spec));
    assert!(!routes_traffic(&service("taskDefinition: orders\nserviceConnectConfiguration: {enabled: false}\n").spec));
}

#[test]
fn the_kubernetes_service_selects_serving_tasks_of_this_service_only() {
    let svc = service("taskDefinition: orders\nloadBalancers: [{loadBalancerName: lb, containerName: web, containerPort: 8080}]\n");
    let plan = plan("orders", &svc.spec, &BTreeMap::new(), &td());
    let k8s = serde_json::to_value(kubernetes_service(&svc, &plan.routes[0], &Selection::default())).unwrap();
    let hash = k8s["metadata"]["annotations"][APPLIED_HASH].as_str().unwrap().to_string();
    assert_eq!(k8s, serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "lb", "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/service": "orders"},
            "annotations": {APPLIED_HASH: hash},
            "ownerReferences": [{"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "name": "orders", "uid": "uid-1",
                "controller": true}],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"berth.dev/service": "orders", "berth.dev/traffic": "serve"},
            "ports": [{"name": "web-http", "port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}],
        },
    }));

    let headless = plan_for("taskDefinition: orders\nserviceRegistries: [{}]\n", &[]);
    let k8s = kubernetes_service(&svc, &headless.routes[0], &Selection::default());
    let spec = k8s.spec.unwrap();
    assert_eq!((spec.cluster_ip.as_deref(), spec.type_.as_deref(), spec.ports), (Some("None"), Some("ClusterIP"), None));
}

#[test]
fn the_hash_follows_the_content() {
    let svc = service("taskDefinition: orders\nloadBalancers: [{loadBalancerName: lb, containerName: web, containerPort: 8080}]\n");
    let plan = plan("orders", &svc.spec, &BTreeMap::new(), &td());
    let hash = |s: &CoreService| s.metadata.annotations.as_ref().unwrap()[APPLIED_HASH].clone();
    let before = kubernetes_service(&svc, &plan.routes[0], &Selection::default());
    let mut moved = plan.routes[0].clone();
    moved.status.port = Some(80);
    assert_eq!(hash(&before), hash(&kubernetes_service(&svc, &plan.routes[0], &Selection::default())));
    assert_ne!(hash(&before), hash(&kubernetes_service(&svc, &moved, &Selection::default())));
}

#[test]
fn cloud_load_balancer_annotations_go_to_load_balancer_services_only() {
    let mut svc = service("taskDefinition: orders\nloadBalancers: [{loadBalancerName: lb, containerName: web, containerPort: 8080}]\nserviceRegistries: [{}]\n");
    svc.metadata.annotations = Some(BTreeMap::from([
        ("service.beta.kubernetes.io/aws-load-balancer-type".to_string(), "nlb".to_string()),
        ("service.kubernetes.io/topology-mode".to_string(), "Auto".to_string()),
        ("example.com/other".to_string(), "x".to_string()),
    ]));
    let plan = plan("orders", &svc.spec, svc.annotations(), &td());
    let keys = |route: &Route| {
        let k8s = kubernetes_service(&svc, route, &Selection::default());
        k8s.metadata.annotations.unwrap().into_keys().filter(|k| k != APPLIED_HASH).collect::<Vec<_>>()
    };
    assert_eq!(keys(&plan.routes[0]), ["service.beta.kubernetes.io/aws-load-balancer-type", "service.kubernetes.io/topology-mode"]);
    assert_eq!(keys(&plan.routes[1]), [DNS_NAME]);
}

#[test]
fn an_http_route_weights_each_revision_s_backend_service_under_the_production_service() {
    let svc = service("taskDefinition: orders\ndeploymentConfiguration: {strategy: CANARY}\nloadBalancers:\n  \
        - {targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1', containerName: web, containerPort: 8080}\n");
    let annotations = BTreeMap::from([(gateway::GATEWAY.to_string(), "infra/edge".to_string())]);
    let plan = plan("orders", &svc.spec, &annotations, &td());
    let production = plan.routes.iter().find(|r| !r.status.test).unwrap();
    let test_route = plan.routes.iter().find(|r| r.status.test).unwrap();
    assert!(gateway::weighted(production) && !gateway::weighted(test_route), "test traffic goes to green through its own Service");
    let (green, blue) = ("ecs-svc-0000000000000000011", "ecs-svc-0000000000000000022");
    let backends = gateway::split(green, Some(blue), 0.1);
    let route = gateway::http_route(&svc, production, &backends, plan.gateway.as_ref());
    assert_eq!(route["spec"], serde_json::json!({
        "parentRefs": [
            {"group": "", "kind": "Service", "name": "web", "port": 8080},
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge", "namespace": "infra"},
        ],
        "rules": [{"backendRefs": [
            {"kind": "Service", "name": "web-00000011", "port": 8080, "weight": 1},
            {"kind": "Service", "name": "web-00000022", "port": 8080, "weight": 999},
        ]}],
    }));
    assert_eq!(route["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    assert_eq!(route["metadata"]["labels"]["berth.dev/service"], "orders");
    let moved = gateway::http_route(&svc, production, &gateway::split(green, Some(blue), 0.2), plan.gateway.as_ref());
    assert_ne!(route["metadata"]["annotations"][APPLIED_HASH], moved["metadata"]["annotations"][APPLIED_HASH], "a new weight is a new write");

    // The backend Service of green: same port, green's tasks that do not drain, whether production holds them or not.
    let backend = kubernetes_service(&svc, &gateway::backend_route(production, green), &Selection::default());
    assert_eq!(backend.metadata.name.as_deref(), Some("web-00000011"));
    assert_eq!(backend.metadata.labels.as_ref().unwrap()[labels::HTTP_ROUTE_BACKEND], green);
    let spec = backend.spec.unwrap();
    assert_eq!(spec.selector.unwrap(), BTreeMap::from([
        (labels::SERVICE.to_string(), "orders".to_string()),
        (labels::DEPLOYMENT.to_string(), green.to_string()),
        (labels::ROUTABLE.to_string(), "true".to_string()),
    ]));
    assert_eq!(spec.ports.unwrap()[0].port, 8080);
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
}

#[test]
fn a_bad_gateway_annotation_is_a_problem_and_the_routes_still_get_services() {
    let plan = plan_for("taskDefinition: orders\ndeploymentConfiguration: {strategy: LINEAR}\nloadBalancers: [{loadBalancerName: lb, containerName: web, containerPort: 8080}]\n",
        &[(gateway::GATEWAY, "Not A Gateway")]);
    assert_eq!(plan.gateway, None);
    assert_eq!(plan.problems.iter().map(|p| p.reason).collect::<Vec<_>>(), ["InvalidGateway"]);
    assert_eq!(names(&plan).len(), 2, "the route and its test route: {:?}", names(&plan));
}

#[test]
fn udp_and_cloud_map_routes_get_no_http_route() {
    let plan = plan_for("taskDefinition: orders\ndeploymentConfiguration: {strategy: BLUE_GREEN}\n\
        loadBalancers: [{loadBalancerName: dns, containerName: web, containerPort: 5353}]\nserviceRegistries: [{port: 8080}]\n", &[]);
    assert!(plan.routes.iter().all(|r| !gateway::weighted(r)), "{:?}", names(&plan));
}
