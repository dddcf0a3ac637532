//! What a task requests and what a node has free, in the units placement
//! compares: CPU in millicores, memory in bytes, read from Kubernetes quantities.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::strategy::BinpackResource;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resources {
    pub cpu: i64,
    pub memory: i64,
}

impl Resources {
    pub fn of(&self, resource: BinpackResource) -> i64 {
        match resource {
            BinpackResource::Cpu => self.cpu,
            BinpackResource::Memory => self.memory,
        }
    }

    pub fn holds(&self, request: Resources) -> bool {
        self.cpu >= request.cpu && self.memory >= request.memory
    }

    pub fn less(self, other: Resources) -> Resources {
        Resources { cpu: self.cpu - other.cpu, memory: self.memory - other.memory }
    }

    pub fn plus(self, other: Resources) -> Resources {
        Resources { cpu: self.cpu + other.cpu, memory: self.memory + other.memory }
    }

    /// A `cpu`/`memory` map such as a node's allocatable or a container's requests.
    pub fn from_map(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let get = |key: &str| map.and_then(|m| m.get(key)).map(|q| q.0.as_str());
        Resources {
            cpu: get("cpu").and_then(|q| scaled(q, 1000)).unwrap_or(0),
            memory: get("memory").and_then(|q| scaled(q, 1)).unwrap_or(0),
        }
    }

    /// What a pod requests, as kube-scheduler counts it: its containers and
    /// sidecars (restartable init containers) together, or its largest
    /// run-to-completion init container if that is more.
    pub fn requested_by(spec: &PodSpec) -> Resources {
        let requests = |c: &k8s_openapi::api::core::v1::Container| Resources::from_map(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        let inits = spec.init_containers.iter().flatten();
        let sidecars = inits.clone().filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let running = spec.containers.iter().chain(sidecars).map(requests).fold(Resources::default(), Resources::plus);
        let containers = inits.filter(|c| c.restart_policy.as_deref() != Some("Always")).map(requests)
            .fold(running, |most, init| Resources { cpu: most.cpu.max(init.cpu), memory: most.memory.max(init.memory) });
        // Pod-level requests (an ECS task's cpu and memory) take the place of the containers' sum.
        let pod = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
        let pod_level = Resources::from_map(pod);
        let set = |key: &str| pod.is_some_and(|m| m.contains_key(key));
        Resources {
            cpu: if set("cpu") { pod_level.cpu } else { containers.cpu },
            memory: if set("memory") { pod_level.memory } else { containers.memory },
        }
    }
}

/// A Kubernetes quantity times `unit` (1000 reads CPU cores as millicores),
/// rounded up; `None` when it does not parse.
fn scaled(quantity: &str, unit: i64) -> Option<i64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0), ("Mi", 1048576.0), ("Gi", 1073741824.0), ("Ti", 1099511627776.0), ("Pi", 1125899906842624.0),
        ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15),
    ];
    let quantity = quantity.trim();
    let (number, factor) = SUFFIXES.iter().find_map(|(suffix, factor)| Some((quantity.strip_suffix(suffix)?, *factor))).unwrap_or((quantity, 1.0));
    let value: f64 = number.parse().ok()?;
    Some((value * factor * unit as f64).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    #[test]
    fn quantities_read_as_kube_scheduler_reads_them() {
        let map = BTreeMap::from([("cpu".to_string(), q("250m")), ("memory".to_string(), q("512Mi"))]);
        assert_eq!(Resources::from_map(Some(&map)), Resources { cpu: 250, memory: 512 << 20 });
        let map = BTreeMap::from([("cpu".to_string(), q("1.5")), ("memory".to_string(), q("2G"))]);
        assert_eq!(Resources::from_map(Some(&map)), Resources { cpu: 1500, memory: 2_000_000_000 });
        let map = BTreeMap::from([("cpu".to_string(), q("4")), ("memory".to_string(), q("16398256Ki"))]);
        assert_eq!(Resources::from_map(Some(&map)), Resources { cpu: 4000, memory: 16398256 * 1024 });
        assert_eq!(Resources::from_map(None), Resources::default());
        assert_eq!(scaled("lots", 1), None);
    }

    #[test]
    fn a_pod_requests_its_containers_and_sidecars_or_its_largest_init() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                           {"name": "log", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            "initContainers": [{"name": "envoy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                               {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}]})).unwrap();
        assert_eq!(Resources::requested_by(&spec), Resources { cpu: 2000, memory: (1 << 30) + (256 << 20) });
        let task_sized: PodSpec = serde_json::from_value(serde_json::json!({"resources": {"requests": {"memory": "512Mi"}},
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]})).unwrap();
        assert_eq!(Resources::requested_by(&task_sized), Resources { cpu: 100, memory: 512 << 20 });
    }
}
