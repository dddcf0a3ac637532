//! Which Kubernetes Services carry a Berth service's traffic (ecs-semantics §2.12, §2.14, §4.8).
//! Pure: the controller applies what [`plan`] returns and deletes the Services it owns that
//! the plan no longer names.
//!
//! - Each `loadBalancers` entry becomes a Service for its (containerName, containerPort),
//!   named after the target group (`targetgroup/<name>/<id>` in the ARN) or the Classic load
//!   balancer name: the name ECS users know it by. It is a ClusterIP Service unless the
//!   Berth Service's annotation `berth.dev/load-balancer-type` asks for `NodePort` or
//!   `LoadBalancer` (an external load balancer costs money, so it is never implied). The
//!   Berth Service's `service.beta.kubernetes.io/*` and `service.kubernetes.io/*` annotations
//!   (how cloud providers configure their load balancers) are copied onto these Services.
//! - A `serviceRegistries` entry is Cloud Map's per-task A/SRV records: a headless Service
//!   named after the Berth Service.
//! - A Service Connect `services[]` entry becomes a ClusterIP Service named after its client
//!   alias, so a client resolves the alias in-cluster. A Service name is one DNS label, so a
//!   dotted alias (`orders.internal`) gives a Service named after its first label (`orders`);
//!   the full alias resolves through the cluster's search path when the namespace is named
//!   like the rest of the alias (`internal`), as the Cloud Map namespace was.
//!
//! Every Service selects the tasks of this Berth service that carry
//! [`labels::TRAFFIC`]; Berth removes that label to drain a task before stopping it. A service
//! that deploys BLUE_GREEN, LINEAR or CANARY also has, for each load balancer and Service
//! Connect route, a test Service `<name>-test`, and its Services name in their selector the
//! deployment whose tasks they carry ([`Selection`], decided by `ecs::plan::lifecycle`). Where
//! the Gateway API is served, its production routes also get HTTPRoutes with exact weights
//! ([`gateway`]).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service as CoreService, ServicePort, ServiceSpec as CoreServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::api::{
    ApplicationProtocol, ContainerDefinition, PortMapping, Service, ServiceSpec, TaskDefinitionSpec, TrafficRoute,
    TrafficSource, TransportProtocol,
};
use crate::ecs::render::names::{dns_label, fnv1a, label_value};
use crate::ecs::task::labels;

pub mod gateway;

/// Berth Service annotation: the Kubernetes Service type of load balancer Services.
pub const LOAD_BALANCER_TYPE: &str = "berth.dev/load-balancer-type";
/// Berth Service annotation: seconds a stopping task stays out of the endpoints before its
/// pod is deleted (the ELB target group's deregistration delay).
pub const DEREGISTRATION_DELAY: &str = "berth.dev/deregistration-delay-seconds";
/// The ELB default deregistration delay, used when the service has load balancers.
pub const DEFAULT_DEREGISTRATION_DELAY: Duration = Duration::from_secs(300);
/// Annotation on a Kubernetes Service: the hash of what Berth applied, to skip no-op writes.
pub const APPLIED_HASH: &str = "berth.dev/applied-hash";
/// Annotation on a Kubernetes Service: the ECS name clients use for it.
pub const DNS_NAME: &str = "berth.dev/dns-name";

const LOAD_BALANCER_TYPES: [&str; 3] = ["ClusterIP", "NodePort", "LoadBalancer"];
/// Prefixes of the Service annotations cloud load balancer controllers read.
const LOAD_BALANCER_ANNOTATION_PREFIXES: [&str; 2] = ["service.beta.kubernetes.io/", "service.kubernetes.io/"];
/// Type shown for a Service without a cluster IP.
pub const HEADLESS: &str = "Headless";

/// One Kubernetes Service to have: the status entry plus the port details.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub status: TrafficRoute,
    /// Port name (the task's Kubernetes port name), protocol and application protocol.
    pub port_name: Option<String>,
    pub protocol: &'static str,
    pub app_protocol: Option<&'static str>,
    /// A backend Service of an HTTPRoute: the deployment (label value) whose routable tasks it selects.
    pub backend: Option<String>,
}

/// An entry that gets no Service, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub routes: Vec<Route>,
    pub problems: Vec<Problem>,
    /// How long a stopping task is kept out of the endpoints before its pod is deleted.
    pub deregistration_delay: Duration,
    /// The Gateway the HTTPRoutes also attach to (annotation [`gateway::GATEWAY`]).
    pub gateway: Option<gateway::GatewayRef>,
}

/// Whether the service's tasks take traffic through Kubernetes Services, so carry
/// [`labels::TRAFFIC`] and are drained before they stop.
pub fn routes_traffic(spec: &ServiceSpec) -> bool {
    spec.load_balancers.as_ref().is_some_and(|l| !l.is_empty())
        || spec.service_registries.as_ref().is_some_and(|r| !r.is_empty())
        || spec.service_connect_configuration.as_ref().is_some_and(|c| c.enabled)
}

/// The Services the Berth Service `name` should have for the task definition its tasks run.
pub fn plan(name: &str, spec: &ServiceSpec, annotations: &BTreeMap<String, String>, td: &TaskDefinitionSpec) -> Plan {
    let mut plan = Plan::default();
    let ports = Ports { td, names: crate::ecs::render::port_names(td) };
    let lb_type = match annotations.get(LOAD_BALANCER_TYPE).map(String::as_str) {
        None => "ClusterIP",
        Some(t) if LOAD_BALANCER_TYPES.contains(&t) => t,
        Some(other) => {
            plan.problem("InvalidLoadBalancerType", format!(
                "(service {name}) annotation {LOAD_BALANCER_TYPE}: {other:?} is not one of {}; using ClusterIP", LOAD_BALANCER_TYPES.join(", ")));
            "ClusterIP"
        }
    };
    plan.gateway = gateway::gateway(name, annotations).unwrap_or_else(|problem| {
        plan.problems.push(problem);
        None
    });
    let has_load_balancers = spec.load_balancers.as_ref().is_some_and(|l| !l.is_empty());
    let default_delay = if has_load_balancers { DEFAULT_DEREGISTRATION_DELAY } else { Duration::ZERO };
    plan.deregistration_delay = match annotations.get(DEREGISTRATION_DELAY).map(|v| v.trim().parse::<u64>()) {
        None => default_delay,
        Some(Ok(seconds)) => Duration::from_secs(seconds),
        Some(Err(_)) => {
            plan.problem("InvalidDeregistrationDelay", format!(
                "(service {name}) annotation {DEREGISTRATION_DELAY} must be a number of seconds; using {}", default_delay.as_secs()));
            default_delay
        }
    };

    for lb in spec.load_balancers.iter().flatten() {
        let target = lb.target_group_arn.clone().or_else(|| lb.load_balancer_name.clone());
        let shown = match (&lb.target_group_arn, &lb.load_balancer_name) {
            (Some(arn), _) => format!("(target-group {arn})"),
            (None, Some(lb)) => format!("(load-balancer {lb})"),
            (None, None) => "(load balancer without a target)".to_string(),
        };
        let port = match ports.find(lb.container_name.as_deref(), lb.container_port) {
            Ok(port) => port,
            Err(why) => {
                plan.problem("InvalidLoadBalancer", format!("(service {name}) {shown}: {why}; no Kubernetes Service is created for it"));
                continue;
            }
        };
        let service_name = lb.target_group_arn.as_deref().and_then(target_group_name).or(lb.load_balancer_name.as_deref())
            .map(kubernetes_name).unwrap_or_else(|| kubernetes_name(&format!("{name}-{}", port.number)));
        plan.add(port.route(service_name, TrafficSource::LoadBalancers, lb_type, port.number, None, target));
    }

    for registry in spec.service_registries.iter().flatten() {
        let named = registry.container_name.is_some() || registry.container_port.is_some();
        let port = match (named, registry.port) {
            (true, _) => ports.find(registry.container_name.as_deref(), registry.container_port).map(Some),
            (false, Some(number)) => ports.by_number(number).map(Some),
            (false, None) => Ok(None),
        };
        let service_name = kubernetes_name(name);
        let target = registry.registry_arn.clone();
        match port {
            Ok(Some(port)) => plan.add(port.route(service_name, TrafficSource::ServiceRegistries, HEADLESS, port.number, Some(name.to_string()), target)),
            Ok(None) => plan.add(Route {
                status: TrafficRoute { name: service_name, source: TrafficSource::ServiceRegistries, type_: HEADLESS.into(), container_name: None,
                    container_port: None, port: None, dns_name: Some(name.to_string()), target, test: false },
                port_name: None, protocol: "TCP", app_protocol: None, backend: None,
            }),
            Err(why) => plan.problem("InvalidServiceRegistry", format!("(service {name}) service registry: {why}; no Kubernetes Service is created for it")),
        }
    }

    let connect = spec.service_connect_configuration.as_ref().filter(|c| c.enabled);
    for published in connect.into_iter().flat_map(|c| c.services.iter().flatten()) {
        let Some(port) = ports.by_name(&published.port_name) else {
            plan.problem("InvalidServiceConnect", format!(
                "(service {name}) Service Connect portName {:?} names no portMappings[].name of the task definition; no Kubernetes Service is created for it",
                published.port_name));
            continue;
        };
        let alias = published.client_aliases.iter().flatten().next();
        let discovery = published.discovery_name.as_deref().unwrap_or(&published.port_name);
        let dns_name = alias.and_then(|a| a.dns_name.clone()).unwrap_or_else(|| discovery.to_string());
        let client_port = alias.map_or(port.number, |a| a.port);
        let first_label = dns_name.split('.').next().unwrap_or(&dns_name);
        plan.add(port.route(kubernetes_name(first_label), TrafficSource::ServiceConnectConfiguration, "ClusterIP", client_port, Some(dns_name.clone()), None));
    }
    if crate::ecs::plan::lifecycle::shifts_traffic(spec) {
        let tested: Vec<Route> = plan.routes.iter().filter(|r| r.status.source != TrafficSource::ServiceRegistries).cloned().collect();
        for route in tested {
            let name = kubernetes_name(&format!("{}-test", route.status.name));
            let dns_name = route.status.dns_name.as_ref().map(|d| format!("{d}-test"));
            plan.add(Route { status: TrafficRoute { name, type_: "ClusterIP".into(), dns_name, test: true, ..route.status.clone() }, ..route });
        }
    }
    plan
}

impl Plan {
    fn problem(&mut self, reason: &'static str, message: String) {
        self.problems.push(Problem { reason, message });
    }

    /// Adds a route unless its Service name is taken: one name, one Service.
    fn add(&mut self, route: Route) {
        match self.routes.iter().find(|r| r.status.name == route.status.name) {
            Some(existing) if *existing == route => {}
            Some(existing) => {
                let message = format!("Kubernetes Service {} already carries {} traffic; {} container port {} gets no Service of that name",
                    route.status.name, source_name(existing.status.source), source_name(route.status.source),
                    route.status.container_port.map_or("-".to_string(), |p| p.to_string()));
                self.problem("ServiceNameConflict", message);
            }
            None => self.routes.push(route),
        }
    }
}

fn source_name(source: TrafficSource) -> &'static str {
    match source {
        TrafficSource::LoadBalancers => "loadBalancers",
        TrafficSource::ServiceRegistries => "serviceRegistries",
        TrafficSource::ServiceConnectConfiguration => "serviceConnectConfiguration",
    }
}

/// The name part of a target group ARN, `...:targetgroup/<name>/<id>`.
fn target_group_name(arn: &str) -> Option<&str> {
    let (_, path) = arn.split_once(":targetgroup/")?;
    path.split('/').next().filter(|n| !n.is_empty())
}

/// A valid Service name (an RFC 1035 label: it must start with a letter).
fn kubernetes_name(s: &str) -> String {
    let label = dns_label(s);
    if label.starts_with(|c: char| c.is_ascii_lowercase()) {
        label
    } else {
        dns_label(&format!("s-{label}"))
    }
}

/// The task definition's ports, looked up the ways ECS names them.
struct Ports<'a> {
    td: &'a TaskDefinitionSpec,
    /// ECS port name → Kubernetes port name.
    names: BTreeMap<String, String>,
}

/// One container port of the task.
struct Port<'a> {
    container: &'a ContainerDefinition,
    mapping: &'a PortMapping,
    number: i32,
    kubernetes_name: Option<String>,
}

impl<'a> Ports<'a> {
    /// The port `(container, number)`: it must be one of the container's port mappings.
    fn find(&self, container: Option<&str>, number: Option<i32>) -> Result<Port<'a>, String> {
        let (Some(container), Some(number)) = (container, number) else {
            return Err("containerName and containerPort are both required".to_string());
        };
        let definition = self.td.container_definitions.iter().find(|c| c.name == container)
            .ok_or_else(|| format!("container {container} is not in the task definition"))?;
        self.in_container(definition, number)
            .ok_or_else(|| format!("container {container} has no portMappings entry for containerPort {number}"))
    }

    /// The first port mapping, in any container, of container port `number`.
    fn by_number(&self, number: i32) -> Result<Port<'a>, String> {
        self.td.container_definitions.iter().find_map(|c| self.in_container(c, number))
            .ok_or_else(|| format!("no container has a portMappings entry for containerPort {number}"))
    }

    /// The port mapping named `name` (ECS port names are unique in a task definition).
    fn by_name(&self, name: &str) -> Option<Port<'a>> {
        self.td.container_definitions.iter().find_map(|c| {
            let mapping = c.port_mappings.iter().flatten().find(|m| m.name.as_deref() == Some(name))?;
            Some(self.port(c, mapping, mapping.container_port?))
        })
    }

    fn in_container(&self, container: &'a ContainerDefinition, number: i32) -> Option<Port<'a>> {
        container.port_mappings.iter().flatten().find(|m| covers(m, number)).map(|m| self.port(container, m, number))
    }

    fn port(&self, container: &'a ContainerDefinition, mapping: &'a PortMapping, number: i32) -> Port<'a> {
        let kubernetes_name = mapping.name.as_ref().filter(|_| mapping.container_port == Some(number)).and_then(|n| self.names.get(n)).cloned();
        Port { container, mapping, number, kubernetes_name }
    }
}

fn covers(mapping: &PortMapping, number: i32) -> bool {
    mapping.container_port == Some(number)
        || mapping.container_port_range.as_deref().and_then(crate::ecs::render::parse_port_range).is_some_and(|(start, end)| (start..=end).contains(&number))
}

impl Port<'_> {
    fn route(&self, name: String, source: TrafficSource, type_: &str, port: i32, dns_name: Option<String>, target: Option<String>) -> Route {
        Route {
            status: TrafficRoute {
                name,
                source,
                type_: type_.to_string(),
                container_name: Some(self.container.name.clone()),
                container_port: Some(self.number),
                port: Some(port),
                dns_name,
                target,
                test: false,
            },
            port_name: self.kubernetes_name.clone(),
            protocol: match self.mapping.protocol {
                Some(TransportProtocol::Udp) => "UDP",
                _ => "TCP",
            },
            // ecs-semantics §4.2: the Kubernetes spellings of the ECS application protocols.
            app_protocol: self.mapping.app_protocol.map(|p| match p {
                ApplicationProtocol::Http => "http",
                ApplicationProtocol::Http2 => "kubernetes.io/h2c",
                ApplicationProtocol::Grpc => "grpc",
            }),
            backend: None,
        }
    }
}

/// The deployments (by label) a service's Services select, when one deployment has all
/// of their traffic; None selects by [`labels::TRAFFIC`] alone. `backends`: the weights of
/// the HTTPRoutes, when the service has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub production: Option<String>,
    pub test: Option<String>,
    pub backends: Vec<gateway::Backend>,
}

/// The selector of a Berth service's tasks that take `route`'s traffic: those that carry
/// [`labels::TRAFFIC`] (in the production deployment, when one has it all), for a test
/// route all of the test deployment's tasks, for a backend its deployment's routable tasks.
fn selector(service: &str, route: &Route, selection: &Selection) -> BTreeMap<String, String> {
    let mut selector = BTreeMap::from([(labels::SERVICE.to_string(), label_value(service))]);
    if let Some(deployment) = &route.backend {
        selector.insert(labels::DEPLOYMENT.to_string(), deployment.clone());
        selector.insert(labels::ROUTABLE.to_string(), "true".to_string());
        return selector;
    }
    match selection.test.as_ref().filter(|_| route.status.test) {
        Some(test) => {
            selector.insert(labels::DEPLOYMENT.to_string(), test.clone());
        }
        None => {
            selector.insert(labels::TRAFFIC.to_string(), labels::TRAFFIC_SERVE.to_string());
            if let Some(production) = &selection.production {
                selector.insert(labels::DEPLOYMENT.to_string(), production.clone());
            }
        }
    }
    selector
}

/// The labels of a Berth service's Kubernetes Services (EndpointSlices inherit them).
fn service_labels(service: &str, test: bool) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string()),
        (labels::SERVICE.to_string(), label_value(service)),
    ]);
    if test {
        labels.insert(labels::TEST_TRAFFIC.to_string(), "true".to_string());
    }
    labels
}

/// The Kubernetes Service for `route`, controlled by `owner` (so it is garbage-collected
/// with it) and annotated with the hash of its content.
pub fn kubernetes_service(owner: &Service, route: &Route, selection: &Selection) -> CoreService {
    let name = owner.name_any();
    let status = &route.status;
    let ports = status.port.map(|port| {
        vec![ServicePort {
            name: route.port_name.clone(),
            port,
            target_port: status.container_port.map(IntOrString::Int),
            protocol: Some(route.protocol.to_string()),
            app_protocol: route.app_protocol.map(str::to_string),
            ..Default::default()
        }]
    });
    let headless = status.type_ == HEADLESS;
    let mut annotations: BTreeMap<String, String> = status.dns_name.iter().map(|d| (DNS_NAME.to_string(), d.clone())).collect();
    if status.source == TrafficSource::LoadBalancers {
        let for_load_balancers = owner.annotations().iter().filter(|(k, _)| LOAD_BALANCER_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)));
        annotations.extend(for_load_balancers.map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut labels = service_labels(&name, status.test);
    if let Some(deployment) = &route.backend {
        labels.insert(labels::HTTP_ROUTE_BACKEND.to_string(), deployment.clone());
    }
    let mut service = CoreService {
        metadata: ObjectMeta {
            name: Some(status.name.clone()),
            namespace: owner.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(CoreServiceSpec {
            type_: Some(if headless { "ClusterIP" } else { status.type_.as_str() }.to_string()),
            cluster_ip: headless.then(|| "None".to_string()),
            selector: Some(selector(&name, route, selection)),
            ports,
            ..Default::default()
        }),
        status: None,
    };
    let hash = format!("{:016x}", fnv1a(&serde_json::to_string(&service).expect("a Service serialises")));
    service.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(APPLIED_HASH.to_string(), hash);
    service
}

#[cfg(test)]
mod tests;
