//! Exact production weights through the Gateway API, ECS's weighted ALB target groups
//! (ecs-2025 §3-4). Where the cluster serves `gateway.networking.k8s.io/v1` HTTPRoutes, each
//! production route (load balancer or Service Connect, over TCP) of a service that deploys
//! BLUE_GREEN, LINEAR or CANARY gets:
//!
//! - a backend Service per deployment that has production weight to carry, named
//!   `<route>-<last 8 digits of the deployment>` and selecting that deployment's tasks that
//!   do not drain ([`labels::ROUTABLE`]): ECS's blue and green target groups;
//! - an HTTPRoute named after the route, whose parent is the production Service (GAMMA: a
//!   service mesh routes that Service's callers by it) and, when the Berth Service's
//!   annotation [`GATEWAY`] names one, a Gateway (north-south traffic, where the ALB
//!   listener was). Its one rule gives each backend its weight in tenths of a percent, so a
//!   0.1 % canary is exact.
//!
//! The production Service keeps its endpoint ratio for callers outside a mesh.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{APPLIED_HASH, Problem, Route, TrafficRoute, kubernetes_name, service_labels};
use crate::api::{Service, TrafficSource};
use crate::ecs::plan::deployment::Deployment;
use crate::ecs::render::names::fnv1a;

/// Berth Service annotation: the Gateway its HTTPRoutes also attach to, `[namespace/]name`.
pub const GATEWAY: &str = "berth.dev/gateway";
/// An HTTPRoute weight is in these units: tenths of a percent.
pub const WEIGHT_SCALE: u32 = 1000;
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";
pub const KIND: &str = "HTTPRoute";

/// One deployment's share of a route's production traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The deployment's label value.
    pub deployment: String,
    /// In [`WEIGHT_SCALE`] units.
    pub weight: u32,
}

/// A Gateway an HTTPRoute attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRef {
    pub namespace: Option<String>,
    pub name: String,
}

/// The backends for green's share `weight` (percent) of production, blue the rest: green and
/// blue both while a deployment shifts (a weight of 0 keeps the backend ready for the next
/// step), green alone when there is no blue.
pub fn split(green: &str, blue: Option<&str>, weight: f64) -> Vec<Backend> {
    let Some(blue) = blue.filter(|b| *b != green) else {
        return vec![Backend { deployment: green.to_string(), weight: WEIGHT_SCALE }];
    };
    let green_weight = ((weight * f64::from(WEIGHT_SCALE) / 100.0).round() as i64).clamp(0, i64::from(WEIGHT_SCALE)) as u32;
    vec![
        Backend { deployment: green.to_string(), weight: green_weight },
        Backend { deployment: blue.to_string(), weight: WEIGHT_SCALE - green_weight },
    ]
}

/// The Gateway of the annotation, if any; a value that is not `[namespace/]name` is a problem.
pub fn gateway(service: &str, annotations: &BTreeMap<String, String>) -> Result<Option<GatewayRef>, Problem> {
    let Some(value) = annotations.get(GATEWAY).map(|v| v.trim()) else { return Ok(None) };
    let (namespace, name) = match value.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, value),
    };
    let valid = |s: &str| !s.is_empty() && crate::ecs::render::names::dns_label(s) == s;
    if !valid(name) || namespace.is_some_and(|ns| !valid(ns)) {
        return Err(Problem { reason: "InvalidGateway", message: format!(
            "(service {service}) annotation {GATEWAY}: {value:?} is not [namespace/]name of a Gateway; the HTTPRoutes attach to the production Services only") });
    }
    Ok(Some(GatewayRef { namespace: namespace.map(str::to_string), name: name.to_string() }))
}

/// Whether `route` gets an HTTPRoute: a production load balancer or Service Connect route
/// over TCP (HTTPRoute carries HTTP; Cloud Map's records and test routes are not weighted).
pub fn weighted(route: &Route) -> bool {
    !route.status.test && route.status.source != TrafficSource::ServiceRegistries && route.protocol == "TCP" && route.status.port.is_some()
}

/// The name of `route`'s backend Service for `deployment` (`ecs-svc-<19 digits>`).
pub fn backend_name(route: &str, deployment: &str) -> String {
    kubernetes_name(&format!("{route}-{}", Deployment::digits(deployment)))
}

/// `route`'s backend Service for `deployment`: a ClusterIP Service on the same port that
/// selects the deployment's routable tasks.
pub fn backend_route(route: &Route, deployment: &str) -> Route {
    Route {
        status: TrafficRoute { name: backend_name(&route.status.name, deployment), type_: "ClusterIP".into(), dns_name: None, ..route.status.clone() },
        backend: Some(deployment.to_string()),
        ..route.clone()
    }
}

/// The HTTPRoute of `route`, controlled by `owner`, sending each backend its weight;
/// annotated with the hash of its content, as the Services are.
pub fn http_route(owner: &Service, route: &Route, backends: &[Backend], gateway: Option<&GatewayRef>) -> Value {
    let port = route.status.port;
    let mut parents = vec![json!({"group": "", "kind": "Service", "name": route.status.name, "port": port})];
    parents.extend(gateway.map(|g| {
        let mut parent = json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": g.name});
        if let Some(ns) = &g.namespace {
            parent["namespace"] = json!(ns);
        }
        parent
    }));
    let backend_refs: Vec<Value> = backends.iter()
        .map(|b| json!({"kind": "Service", "name": backend_name(&route.status.name, &b.deployment), "port": port, "weight": b.weight}))
        .collect();
    let mut object = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": route.status.name,
            "namespace": owner.namespace(),
            "labels": service_labels(&owner.name_any(), false),
            "ownerReferences": owner.controller_owner_ref(&()).map(|o| vec![o]),
        },
        "spec": {"parentRefs": parents, "rules": [{"backendRefs": backend_refs}]},
    });
    let hash = format!("{:016x}", fnv1a(&object.to_string()));
    object["metadata"]["annotations"] = json!({APPLIED_HASH: hash});
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_tenths_of_a_percent_and_always_sum_to_the_whole() {
        // ecs-2025 §4: canaryPercent is 0.1-100 in steps of 0.1.
        let canary = split("ecs-svc-green", Some("ecs-svc-blue"), 0.1);
        assert_eq!(canary.iter().map(|b| b.weight).collect::<Vec<_>>(), [1, 999]);
        for weight in [0.0, 0.1, 3.0, 10.0, 33.3, 66.7, 99.9, 100.0, 250.0, -5.0] {
            let backends = split("g", Some("b"), weight);
            assert_eq!(backends.iter().map(|b| b.weight).sum::<u32>(), WEIGHT_SCALE, "{weight}");
        }
        assert_eq!(split("g", Some("b"), 20.0)[0].weight, 200);
        assert_eq!(split("g", Some("b"), 0.0)[0].weight, 0, "a green backend at 0 waits for the first step");
    }

    #[test]
    fn without_blue_green_has_everything() {
        assert_eq!(split("g", None, 10.0), [Backend { deployment: "g".into(), weight: WEIGHT_SCALE }]);
        assert_eq!(split("g", Some("g"), 10.0), [Backend { deployment: "g".into(), weight: WEIGHT_SCALE }]);
    }

    #[test]
    fn the_gateway_annotation_is_namespace_and_name_or_a_problem() {
        let annotations = |v: &str| BTreeMap::from([(GATEWAY.to_string(), v.to_string())]);
        assert_eq!(gateway("web", &BTreeMap::new()), Ok(None));
        assert_eq!(gateway("web", &annotations("edge")), Ok(Some(GatewayRef { namespace: None, name: "edge".into() })));
        assert_eq!(gateway("web", &annotations("infra/edge")), Ok(Some(GatewayRef { namespace: Some("infra".into()), name: "edge".into() })));
        for bad in ["", "infra/", "/edge", "Edge", "a/b/c"] {
            let problem = gateway("web", &annotations(bad)).unwrap_err();
            assert!(problem.message.contains(GATEWAY), "{bad}: {}", problem.message);
        }
    }

    #[test]
    fn backend_names_are_per_deployment_and_valid_service_names() {
        assert_eq!(backend_name("web", "ecs-svc-0000000001234567890"), "web-34567890");
        let long = backend_name(&"a".repeat(63), "ecs-svc-0000000001234567890");
        assert!(long.len() <= 63 && long == crate::ecs::render::names::dns_label(&long), "{long}");
        assert_ne!(backend_name("web", "ecs-svc-0000000001234567890"), backend_name("web", "ecs-svc-0000000001234567891"));
    }
}
