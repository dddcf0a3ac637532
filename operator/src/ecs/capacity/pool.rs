//! A capacity provider's node pool (design.md, ecs-semantics §4.8): the node selector,
//! tolerations and runtime class a task placed on it carries, and which nodes belong to it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, Taint, Toleration};

use crate::api::CapacityProviderSpec;

/// Confines a task's pod to `provider`'s nodes: its node selector joins the pod's (the
/// task definition's platform labels stay), its tolerations are added, and its runtime
/// class is used.
pub fn confine_to_pool(spec: &mut PodSpec, provider: &CapacityProviderSpec) {
    if let Some(selector) = provider.node_selector.as_ref().filter(|s| !s.is_empty()) {
        spec.node_selector.get_or_insert_with(BTreeMap::new).extend(selector.clone());
    }
    if let Some(tolerations) = provider.tolerations.as_ref().filter(|t| !t.is_empty()) {
        spec.tolerations.get_or_insert_with(Vec::new).extend(tolerations.iter().cloned());
    }
    if let Some(runtime_class) = &provider.runtime_class_name {
        spec.runtime_class_name = Some(runtime_class.clone());
    }
}

/// Does a node with these labels and taints belong to `provider`'s pool, in the sense that
/// kube-scheduler would place its tasks there: every selector label matches and every
/// NoSchedule or NoExecute taint is tolerated.
pub fn admits(provider: Option<&CapacityProviderSpec>, labels: &BTreeMap<String, String>, taints: &[Taint]) -> bool {
    let selector = provider.and_then(|p| p.node_selector.as_ref());
    let tolerations = provider.and_then(|p| p.tolerations.as_deref()).unwrap_or_default();
    let selected = selector.into_iter().flatten().all(|(key, value)| labels.get(key) == Some(value));
    let repelling = taints.iter().filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute");
    selected && repelling.into_iter().all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Kubernetes' toleration rule: the effect matches (or the toleration names none), the key
/// matches (or the toleration is `Exists` without a key), and `Equal` needs the same value.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let exists = toleration.operator.as_deref() == Some("Exists");
    let effect = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = match toleration.key.as_deref().filter(|k| !k.is_empty()) {
        // An empty key is a wildcard, allowed only with `Exists`.
        None => exists,
        Some(key) => key == taint.key,
    };
    let value = exists || toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default();
    effect && key && value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(yaml: &str) -> CapacityProviderSpec {
        serde_saphyr::from_str(yaml).expect("capacity provider fixture")
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.map(str::to_string), effect: effect.into(), time_added: None }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const FARGATE_POOL: &str = r#"
type: FARGATE
nodeSelector: {berth.dev/pool: fargate}
tolerations: [{key: berth.dev/pool, operator: Equal, value: fargate, effect: NoSchedule}]
runtimeClassName: kata
"#;

    #[test]
    fn a_pod_on_a_pool_gets_its_selector_tolerations_and_runtime_class() {
        let mut spec = PodSpec { node_selector: Some(labels(&[("kubernetes.io/arch", "arm64")])), ..Default::default() };
        confine_to_pool(&mut spec, &provider(FARGATE_POOL));
        assert_eq!(spec.node_selector, Some(labels(&[("berth.dev/pool", "fargate"), ("kubernetes.io/arch", "arm64")])));
        assert_eq!(spec.tolerations.as_ref().map(Vec::len), Some(1));
        assert_eq!(spec.runtime_class_name.as_deref(), Some("kata"));
    }

    #[test]
    fn a_pool_without_selector_or_tolerations_changes_nothing_else() {
        let mut spec = PodSpec::default();
        confine_to_pool(&mut spec, &provider("type: EC2"));
        assert_eq!(spec, PodSpec::default());
    }

    #[test]
    fn pool_nodes_match_the_selector_and_have_only_tolerated_taints() {
        let pool = provider(FARGATE_POOL);
        let pool_labels = labels(&[("berth.dev/pool", "fargate")]);
        assert!(admits(Some(&pool), &pool_labels, &[taint("berth.dev/pool", Some("fargate"), "NoSchedule")]));
        assert!(admits(Some(&pool), &pool_labels, &[taint("other", None, "PreferNoSchedule")]));
        assert!(!admits(Some(&pool), &pool_labels, &[taint("berth.dev/pool", Some("ec2"), "NoSchedule")]));
        assert!(!admits(Some(&pool), &pool_labels, &[taint("dedicated", None, "NoExecute")]));
        assert!(!admits(Some(&pool), &labels(&[("berth.dev/pool", "ec2")]), &[]));
    }

    #[test]
    fn without_a_provider_any_untainted_node_is_admitted() {
        assert!(admits(None, &labels(&[]), &[]));
        assert!(!admits(None, &labels(&[]), &[taint("berth.dev/pool", Some("x"), "NoSchedule")]));
    }

    fn task_pod(task_definition: &str, pool: &str) -> PodSpec {
        let spec: crate::api::TaskDefinitionSpec = serde_saphyr::from_str(task_definition).unwrap();
        let pod = crate::ecs::render::render_pod(&spec, &crate::ecs::render::TaskContext::default()).unwrap();
        let mut pod_spec = pod.spec.unwrap();
        confine_to_pool(&mut pod_spec, &provider(pool));
        pod_spec
    }

    fn amounts(map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Vec<(String, String)> {
        map.into_iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
    }

    #[test]
    fn a_fargate_task_is_sized_exactly_and_confined_to_its_pool() {
        let spec = task_pod(r#"
requiresCompatibilities: [FARGATE]
networkMode: awsvpc
cpu: "1024"
memory: "2048"
containerDefinitions:
- {name: web, image: nginx, portMappings: [{containerPort: 80}]}
- {name: log, image: fluent-bit, essential: false, memoryReservation: 64}
"#, FARGATE_POOL);
        let size = vec![("cpu".to_string(), "1000m".to_string()), ("memory".to_string(), "2048Mi".to_string())];
        let resources = spec.resources.as_ref().unwrap();
        assert_eq!(amounts(resources.requests.as_ref()), size);
        assert_eq!(amounts(resources.limits.as_ref()), size);
        assert_eq!(spec.node_selector, Some(labels(&[("berth.dev/pool", "fargate")])));
        assert_eq!(spec.runtime_class_name.as_deref(), Some("kata"));
        assert!(spec.containers.iter().flat_map(|c| c.ports.iter().flatten()).all(|p| p.host_port.is_none()));
    }

    #[test]
    fn an_ec2_task_keeps_container_shares_hard_and_soft_memory_and_host_ports() {
        let spec = task_pod(r#"
requiresCompatibilities: [EC2]
networkMode: bridge
containerDefinitions:
- {name: worker, image: worker, cpu: 512, memory: 1024, memoryReservation: 256, portMappings: [{containerPort: 8080, hostPort: 80}]}
"#, "{type: EC2, nodeSelector: {berth.dev/pool: ec2}}");
        assert_eq!(spec.resources, None);
        let container = &spec.containers[0];
        let resources = container.resources.as_ref().unwrap();
        assert_eq!(amounts(resources.requests.as_ref()), [("cpu".to_string(), "500m".to_string()), ("memory".to_string(), "256Mi".to_string())]);
        assert_eq!(amounts(resources.limits.as_ref()), [("memory".to_string(), "1024Mi".to_string())]);
        assert_eq!(container.ports.as_ref().unwrap()[0].host_port, Some(80));
        assert_eq!(spec.node_selector, Some(labels(&[("berth.dev/pool", "ec2")])));
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let toleration = |yaml: &str| -> Toleration { serde_saphyr::from_str(yaml).unwrap() };
        let t = taint("k", Some("v"), "NoSchedule");
        assert!(tolerates(&toleration("{operator: Exists}"), &t));
        assert!(tolerates(&toleration("{key: k, operator: Exists}"), &t));
        assert!(tolerates(&toleration("{key: k, value: v}"), &t));
        assert!(!tolerates(&toleration("{key: k, value: w}"), &t));
        assert!(!tolerates(&toleration("{key: k, operator: Exists, effect: NoExecute}"), &t));
        assert!(!tolerates(&toleration("{value: v}"), &t));
    }
}
