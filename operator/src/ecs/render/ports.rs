//! `portMappings` → container ports (ecs-semantics §1.6, §4.2).
//!
//! Ports are informational in Kubernetes except `hostPort`, which is set only for static host
//! ports in `bridge` mode and for `host` mode; `awsvpc` tasks get their own pod IP, and bridge
//! dynamic host ports are not needed. Named ports must be IANA service names unique in the
//! pod, so ECS names are sanitised; the mapping is recorded in an annotation when any changed.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, ContainerPort};

use crate::api::{NetworkMode, PortMapping, TaskDefinitionSpec, TransportProtocol};

use super::names::unique_port_names;
use super::{RenderError, container_field};

/// Ports expanded from one `containerPortRange`; a wider range keeps its first ports and is
/// reported by [`super::unsupported_fields`].
pub const MAX_PORTS_PER_RANGE: u32 = 100;

/// The names of the task's named port mappings, in every container.
fn mapping_names(spec: &TaskDefinitionSpec) -> impl Iterator<Item = &str> {
    spec.container_definitions.iter().flat_map(|c| c.port_mappings.iter().flatten()).filter_map(|p| p.name.as_deref())
}

/// ECS port name → Kubernetes port name, for every named port mapping of the task.
pub fn port_names(spec: &TaskDefinitionSpec) -> BTreeMap<String, String> {
    let originals: Vec<&str> = mapping_names(spec)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let names = unique_port_names(&originals);
    originals
        .into_iter()
        .map(str::to_owned)
        .zip(names)
        .collect()
}

/// The Kubernetes ports of one container.
pub(super) fn container_ports(
    container: &str,
    mappings: &[PortMapping],
    network_mode: Option<NetworkMode>,
    names: &BTreeMap<String, String>,
) -> Result<Vec<ContainerPort>, RenderError> {
    let mut ports = Vec::new();
    for mapping in mappings {
        let protocol = match mapping.protocol {
            Some(TransportProtocol::Udp) => "UDP",
            _ => "TCP",
        };
        let port = |number: i32| ContainerPort {
            container_port: number,
            protocol: Some(protocol.to_owned()),
            ..Default::default()
        };
        if let Some(range) = &mapping.container_port_range {
            let (start, end) = parse_range(range).ok_or_else(|| RenderError::InvalidPortRange {
                field: container_field(container, "portMappings"),
                range: range.clone(),
            })?;
            ports.extend((start..=end).take(MAX_PORTS_PER_RANGE as usize).map(port));
        } else if let Some(number) = mapping.container_port {
            ports.push(ContainerPort {
                name: mapping.name.as_ref().and_then(|n| names.get(n)).cloned(),
                host_port: host_port(mapping, network_mode),
                ..port(number)
            });
        }
    }
    Ok(ports)
}

/// A port mapping name is what a Service Connect `portName` points at, and Kubernetes refuses
/// a pod with two ports of one name (found by fuzzing: a duplicated named mapping). The CRD
/// refuses it too; this keeps a definition stored before that rule from failing every start.
pub(super) fn check_port_names_unique(spec: &TaskDefinitionSpec) -> Result<(), RenderError> {
    let mut seen = BTreeSet::new();
    for name in mapping_names(spec) {
        if !seen.insert(name) {
            return Err(RenderError::DuplicatePortName(name.to_owned()));
        }
    }
    Ok(())
}

/// A host port can be bound once per protocol on a node, so the API server refuses a pod
/// that maps one twice, in one container or two (found by fuzzing: a duplicated port
/// mapping). Refused here, a task definition says why instead of every start failing.
pub(super) fn check_host_ports_unique<'a>(containers: impl Iterator<Item = &'a Container>) -> Result<(), RenderError> {
    let mut bound = BTreeSet::new();
    for port in containers.flat_map(|c| c.ports.iter().flatten()) {
        if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".to_owned());
            if !bound.insert((host_port, protocol.clone())) {
                return Err(RenderError::DuplicateHostPort { port: host_port, protocol });
            }
        }
    }
    Ok(())
}

/// `start-end` with `1 <= start <= end <= 65535`.
pub fn parse_range(range: &str) -> Option<(i32, i32)> {
    let (start, end) = range.split_once('-')?;
    let (start, end) = (
        start.trim().parse::<i32>().ok()?,
        end.trim().parse::<i32>().ok()?,
    );
    (1 <= start && start <= end && end <= 65535).then_some((start, end))
}

fn host_port(mapping: &PortMapping, network_mode: Option<NetworkMode>) -> Option<i32> {
    let static_port = mapping.host_port.filter(|p| *p > 0);
    match network_mode {
        Some(NetworkMode::Host) => static_port.or(mapping.container_port),
        Some(NetworkMode::Bridge) | None => static_port,
        Some(NetworkMode::Awsvpc) | Some(NetworkMode::None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mappings(json: &str) -> Vec<PortMapping> {
        serde_json::from_str(json).unwrap()
    }

    fn summary(ports: &[ContainerPort]) -> Vec<(i32, Option<i32>, String, Option<String>)> {
        ports
            .iter()
            .map(|p| {
                (
                    p.container_port,
                    p.host_port,
                    p.protocol.clone().unwrap(),
                    p.name.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn names_protocols_and_bridge_host_ports() {
        let maps = mappings(
            r#"[{"containerPort": 80, "hostPort": 8080, "name": "web_http_frontend"}, {"containerPort": 53, "protocol": "udp", "hostPort": 0}]"#,
        );
        let names = BTreeMap::from([(
            "web_http_frontend".to_owned(),
            "web-http-frontend".to_owned(),
        )]);
        let ports = container_ports("web", &maps, Some(NetworkMode::Bridge), &names).unwrap();
        assert_eq!(
            summary(&ports),
            [
                (
                    80,
                    Some(8080),
                    "TCP".into(),
                    Some("web-http-frontend".into())
                ),
                (53, None, "UDP".into(), None)
            ]
        );
    }

    #[test]
    fn host_mode_uses_the_container_port_and_awsvpc_none() {
        let maps = mappings(r#"[{"containerPort": 80}]"#);
        assert_eq!(
            container_ports("a", &maps, Some(NetworkMode::Host), &BTreeMap::new()).unwrap()[0]
                .host_port,
            Some(80)
        );
        let maps = mappings(r#"[{"containerPort": 80, "hostPort": 80}]"#);
        assert_eq!(
            container_ports("a", &maps, Some(NetworkMode::Awsvpc), &BTreeMap::new()).unwrap()[0]
                .host_port,
            None
        );
    }

    #[test]
    fn ranges_are_expanded_up_to_the_bound() {
        let maps = mappings(
            r#"[{"containerPortRange": "7000-7002"}, {"containerPortRange": "10000-20000"}]"#,
        );
        let ports =
            container_ports("a", &maps, Some(NetworkMode::Awsvpc), &BTreeMap::new()).unwrap();
        assert_eq!(ports.len(), 3 + MAX_PORTS_PER_RANGE as usize);
        assert_eq!(
            ports[..3]
                .iter()
                .map(|p| p.container_port)
                .collect::<Vec<_>>(),
            [7000, 7001, 7002]
        );
    }

    #[test]
    fn a_host_port_mapped_twice_is_refused_whichever_containers_map_it() {
        let with_ports = |json: &str| Container { ports: Some(container_ports("a", &mappings(json), Some(NetworkMode::Bridge), &BTreeMap::new()).unwrap()), ..Default::default() };
        let twice = with_ports(r#"[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}]"#);
        assert_eq!(check_host_ports_unique([&twice].into_iter()), Err(RenderError::DuplicateHostPort { port: 8080, protocol: "TCP".into() }));
        let (web, admin) = (with_ports(r#"[{"containerPort": 80, "hostPort": 8080}]"#), with_ports(r#"[{"containerPort": 9, "hostPort": 8080}]"#));
        assert!(check_host_ports_unique([&web, &admin].into_iter()).is_err());
        // Another protocol, or dynamic host ports (0 or none), do not clash.
        let fine = with_ports(r#"[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8080, "protocol": "udp"}, {"containerPort": 81, "hostPort": 0}, {"containerPort": 82, "hostPort": 0}]"#);
        assert_eq!(check_host_ports_unique([&fine].into_iter()), Ok(()));
    }

    #[test]
    fn bad_ranges_are_errors() {
        let maps = mappings(r#"[{"containerPortRange": "9000-8000"}]"#);
        assert!(matches!(
            container_ports("a", &maps, None, &BTreeMap::new()),
            Err(RenderError::InvalidPortRange { .. })
        ));
    }

    #[test]
    fn a_port_name_used_twice_is_refused_whichever_containers_use_it() {
        let spec = |json: &str| serde_json::from_str::<TaskDefinitionSpec>(json).unwrap();
        let one_container = spec(r#"{"containerDefinitions": [{"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "web"}, {"containerPort": 80, "name": "web"}]}]}"#);
        assert_eq!(check_port_names_unique(&one_container), Err(RenderError::DuplicatePortName("web".into())));
        let two_containers = spec(r#"{"containerDefinitions": [{"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "web"}]},
            {"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "web"}]}]}"#);
        assert!(check_port_names_unique(&two_containers).is_err());
        // Unnamed mappings and names that differ only once made Kubernetes names are fine.
        let fine = spec(r#"{"containerDefinitions": [{"name": "a", "image": "x", "portMappings": [{"containerPort": 80}, {"containerPort": 81},
            {"containerPort": 82, "name": "web_http"}, {"containerPort": 83, "name": "web-http"}]}]}"#);
        assert_eq!(check_port_names_unique(&fine), Ok(()));
    }

    #[test]
    fn port_names_are_unique_in_the_pod() {
        let spec: TaskDefinitionSpec = serde_json::from_str(
            r#"{"containerDefinitions": [
                {"name": "a", "image": "x", "portMappings": [{"containerPort": 80, "name": "metrics_endpoint_a"}]},
                {"name": "b", "image": "x", "portMappings": [{"containerPort": 81, "name": "metrics_endpoint_b"}]}
            ]}"#,
        )
        .unwrap();
        let names = port_names(&spec);
        assert_eq!(names.len(), 2);
        assert_ne!(names["metrics_endpoint_a"], names["metrics_endpoint_b"]);
    }
}
