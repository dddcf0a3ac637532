//! Pod annotations: docker labels, and the records the controller needs to read a pod back
//! in ECS terms (which containers are essential, the ECS name of each container and port).

use std::collections::{BTreeMap, BTreeSet};

use crate::api::TaskDefinitionSpec;

use super::names::{is_qualified_name, label_value};

/// Comma-separated Kubernetes names of the essential containers (ECS `essential`, default true).
pub const ESSENTIAL_CONTAINERS_ANNOTATION: &str = "berth.dev/essential-containers";
/// JSON object ECS container name → Kubernetes container name; present when any name changed.
pub const CONTAINER_NAMES_ANNOTATION: &str = "berth.dev/container-names";
/// JSON object ECS port name → Kubernetes port name; present when any name changed.
pub const PORT_NAMES_ANNOTATION: &str = "berth.dev/port-names";
/// JSON object Kubernetes container name → health check `startPeriod` (seconds); present
/// when any container sets one. The operator needs it to tell UNHEALTHY from UNKNOWN.
pub const HEALTH_START_PERIODS_ANNOTATION: &str = "berth.dev/health-start-periods";
/// JSON object Kubernetes container name → its ECS `restartPolicy` (enabled ones only):
/// the kubelet restarts every container of such a task, and the operator tells from this
/// which restarts ECS would have made and which exits stop the task.
pub const RESTART_POLICIES_ANNOTATION: &str = "berth.dev/restart-policies";
/// The longest ECS `startTimeout` (seconds) of the task's containers: a task whose
/// containers wait on a dependency longer than that since it started fails to start.
pub const START_TIMEOUT_ANNOTATION: &str = "berth.dev/start-timeout";
/// Prefix of docker labels whose key is not a valid annotation key.
const DOCKER_LABEL_PREFIX: &str = "berth.dev/";

/// Docker labels as pod annotations (Kubernetes has no container labels). A label keeps its
/// key when that is a valid annotation key, so `sim.berth.dev/...` labels reach the simulator
/// unchanged. Otherwise, or when another container already set the key to another value, it
/// becomes `berth.dev/docker-label.<container>.<key>`, sanitised.
pub(super) fn docker_label_annotations(spec: &TaskDefinitionSpec) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    for container in &spec.container_definitions {
        for (key, value) in container.docker_labels.iter().flatten() {
            let keep_key =
                is_qualified_name(key) && annotations.get(key).is_none_or(|v| v == value);
            let key = if keep_key {
                key.clone()
            } else {
                format!(
                    "{DOCKER_LABEL_PREFIX}{}",
                    label_value(&format!("docker-label.{}.{key}", container.name))
                )
            };
            annotations.insert(key, value.clone());
        }
    }
    annotations
}

/// The JSON name mapping, or `None` when every name was kept.
pub(super) fn name_mapping(names: &BTreeMap<String, String>) -> Option<String> {
    names
        .iter()
        .any(|(ecs, kubernetes)| ecs != kubernetes)
        .then(|| serde_json::to_string(names).expect("a string map always serialises"))
}

/// Health check start periods by Kubernetes container name, read back from a rendered pod's
/// annotations (containers without one are absent).
pub fn health_start_periods(annotations: &BTreeMap<String, String>) -> BTreeMap<String, i64> {
    annotations.get(HEALTH_START_PERIODS_ANNOTATION).and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// A container's restart policy as the operator applies it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestartRule {
    /// Exits with these codes are not restarted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_exit_codes: Vec<i32>,
    /// Seconds a container must have run for its exit to be restarted.
    pub restart_attempt_period: i64,
}

/// ECS's default `restartAttemptPeriod`.
pub const DEFAULT_RESTART_ATTEMPT_PERIOD: i64 = 300;

impl RestartRule {
    /// ECS restarts an exit unless its code is ignored or the container ran
    /// less than restartAttemptPeriod.
    pub fn restarts(&self, exit_code: i32, ran_seconds: i64) -> bool {
        !self.ignored_exit_codes.contains(&exit_code) && ran_seconds >= self.restart_attempt_period
    }
}

/// Restart rules by Kubernetes container name, read back from a rendered pod's annotations.
pub fn restart_rules(annotations: &BTreeMap<String, String>) -> BTreeMap<String, RestartRule> {
    annotations.get(RESTART_POLICIES_ANNOTATION).and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// Kubernetes container name → ECS container name, read back from a rendered pod's
/// annotations. Names missing from the mapping were not changed.
pub fn ecs_container_names(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .get(CONTAINER_NAMES_ANNOTATION)
        .and_then(|json| serde_json::from_str::<BTreeMap<String, String>>(json).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(ecs, kubernetes)| (kubernetes, ecs))
        .collect()
}

/// Kubernetes names of the essential containers, read back from a rendered pod's annotations.
pub fn essential_containers(annotations: &BTreeMap<String, String>) -> BTreeSet<String> {
    annotations
        .get(ESSENTIAL_CONTAINERS_ANNOTATION)
        .map(|names| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys_are_kept_and_others_prefixed() {
        let spec: TaskDefinitionSpec = serde_json::from_str(
            r#"{"containerDefinitions": [
                {"name": "Web_App", "image": "x", "dockerLabels": {"sim.berth.dev/exit-code": "3", "com.example.team": "shop", "bad key!": "v"}},
                {"name": "b", "image": "x", "dockerLabels": {"com.example.team": "other"}}
            ]}"#,
        )
        .unwrap();
        let annotations = docker_label_annotations(&spec);
        assert_eq!(annotations["sim.berth.dev/exit-code"], "3");
        assert_eq!(annotations["com.example.team"], "shop");
        assert_eq!(annotations["berth.dev/docker-label.Web_App.bad-key"], "v");
        assert_eq!(
            annotations["berth.dev/docker-label.b.com.example.team"],
            "other"
        );
        assert!(annotations.keys().all(|k| is_qualified_name(k)));
    }

    #[test]
    fn mapping_only_when_a_name_changed() {
        let same = BTreeMap::from([("web".to_owned(), "web".to_owned())]);
        assert_eq!(name_mapping(&same), None);
        let changed = BTreeMap::from([("Web_App".to_owned(), "web-app".to_owned())]);
        assert_eq!(
            name_mapping(&changed).as_deref(),
            Some(r#"{"Web_App":"web-app"}"#)
        );
    }

    #[test]
    fn reading_back() {
        let annotations = BTreeMap::from([
            (
                CONTAINER_NAMES_ANNOTATION.to_owned(),
                r#"{"Web_App":"web-app"}"#.to_owned(),
            ),
            (
                ESSENTIAL_CONTAINERS_ANNOTATION.to_owned(),
                "web-app,sidecar".to_owned(),
            ),
        ]);
        assert_eq!(
            ecs_container_names(&annotations),
            BTreeMap::from([("web-app".to_owned(), "Web_App".to_owned())])
        );
        assert_eq!(
            essential_containers(&annotations),
            BTreeSet::from(["web-app".to_owned(), "sidecar".to_owned()])
        );
    }
}
