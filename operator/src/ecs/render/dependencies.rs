//! `dependsOn` → start order (ecs-semantics §4.5).
//!
//! Kubernetes starts init containers one after another, then the main containers together,
//! so the dependency graph is linearised: every container something depends on becomes an
//! init container, in a topological order (ties keep definition order), and only containers
//! nothing depends on stay main containers. This keeps every "before" relation and gives up
//! some parallelism.
//!
//! * Targets of `COMPLETE` or `SUCCESS` are classic init containers: the next one starts when
//!   this one exits 0, and a non-zero exit fails the pod (`TaskFailedToStart`). That is exactly
//!   `SUCCESS`; `COMPLETE` (any exit code) is treated the same, so a non-zero exit stops the
//!   task where ECS would carry on.
//! * Targets of `START` or `HEALTHY` are native sidecars (init containers with
//!   `restartPolicy: Always`) that keep running beside the main containers. For `HEALTHY` the
//!   sidecar gets a startup probe, and the kubelet starts later containers once it passes.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{ContainerCondition, ContainerDefinition};

use super::{RenderError, container_field};

/// How a dependency target runs among the init containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InitKind {
    /// Runs to completion before the next container starts.
    RunToCompletion,
    /// Keeps running; `wait_healthy` holds later containers until its startup probe passes.
    Sidecar { wait_healthy: bool },
}

/// Container indices in the order Kubernetes starts them.
#[derive(Debug, PartialEq)]
pub(super) struct StartOrder {
    pub init: Vec<(usize, InitKind)>,
    pub main: Vec<usize>,
}

pub(super) fn start_order(containers: &[ContainerDefinition]) -> Result<StartOrder, RenderError> {
    let index: BTreeMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // dependencies[i]: the containers i waits for; conditions[t]: how others wait for t.
    let mut dependencies: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); containers.len()];
    let mut conditions: BTreeMap<usize, BTreeSet<ConditionKey>> = BTreeMap::new();
    for (i, container) in containers.iter().enumerate() {
        for dependency in container.depends_on.iter().flatten() {
            let target = *index
                .get(dependency.container_name.as_str())
                .ok_or_else(|| RenderError::UnknownContainer {
                    field: container_field(&container.name, "dependsOn"),
                    target: dependency.container_name.clone(),
                })?;
            if dependency.condition == ContainerCondition::Healthy
                && containers[target].health_check.is_none()
            {
                return Err(RenderError::MissingHealthCheck {
                    field: container_field(&container.name, "dependsOn"),
                    container: dependency.container_name.clone(),
                });
            }
            dependencies[i].insert(target);
            conditions
                .entry(target)
                .or_default()
                .insert(ConditionKey::from(dependency.condition));
        }
    }
    let order = topological_order(containers, &dependencies)?;
    let init = order
        .iter()
        .filter_map(|i| conditions.get(i).map(|c| (*i, init_kind(c))))
        .collect();
    let main = (0..containers.len())
        .filter(|i| !conditions.contains_key(i))
        .collect();
    Ok(StartOrder { init, main })
}

/// `ContainerCondition` is not `Ord`; this is its rank for set membership.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ConditionKey {
    Start,
    Healthy,
    Exited,
}

impl From<ContainerCondition> for ConditionKey {
    fn from(condition: ContainerCondition) -> Self {
        match condition {
            ContainerCondition::Start => ConditionKey::Start,
            ContainerCondition::Healthy => ConditionKey::Healthy,
            ContainerCondition::Complete | ContainerCondition::Success => ConditionKey::Exited,
        }
    }
}

/// A target others wait to exit must run to completion, which also satisfies START and
/// HEALTHY waits on it (it started, and a passing run is as good as a health check).
fn init_kind(conditions: &BTreeSet<ConditionKey>) -> InitKind {
    if conditions.contains(&ConditionKey::Exited) {
        InitKind::RunToCompletion
    } else {
        InitKind::Sidecar {
            wait_healthy: conditions.contains(&ConditionKey::Healthy),
        }
    }
}

/// Kahn's algorithm, always taking the lowest ready index so ties keep definition order.
fn topological_order(
    containers: &[ContainerDefinition],
    dependencies: &[BTreeSet<usize>],
) -> Result<Vec<usize>, RenderError> {
    let mut waiting: Vec<usize> = dependencies.iter().map(BTreeSet::len).collect();
    let mut ready: BTreeSet<usize> = (0..containers.len()).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(containers.len());
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for (dependent, deps) in dependencies.iter().enumerate() {
            if deps.contains(&next) {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
        }
    }
    if order.len() < containers.len() {
        let stuck = (0..containers.len())
            .filter(|i| waiting[*i] > 0)
            .map(|i| containers[i].name.clone())
            .collect();
        return Err(RenderError::DependencyCycle(stuck));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn containers(json: &str) -> Vec<ContainerDefinition> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn no_dependencies_keeps_everything_main() {
        let order = start_order(&containers(
            r#"[{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]"#,
        ))
        .unwrap();
        assert_eq!(
            order,
            StartOrder {
                init: vec![],
                main: vec![0, 1]
            }
        );
    }

    #[test]
    fn targets_become_init_containers_in_topological_order() {
        let order = start_order(&containers(
            r#"[
              {"name": "app", "image": "x", "dependsOn": [{"containerName": "proxy", "condition": "HEALTHY"}, {"containerName": "migrate", "condition": "SUCCESS"}]},
              {"name": "migrate", "image": "x", "essential": false, "dependsOn": [{"containerName": "proxy", "condition": "START"}]},
              {"name": "proxy", "image": "x", "healthCheck": {"command": ["CMD", "true"]}},
              {"name": "logs", "image": "x"}
            ]"#,
        ))
        .unwrap();
        assert_eq!(
            order,
            StartOrder {
                init: vec![
                    (2, InitKind::Sidecar { wait_healthy: true }),
                    (1, InitKind::RunToCompletion)
                ],
                main: vec![0, 3],
            }
        );
    }

    #[test]
    fn start_only_targets_are_sidecars_without_a_wait() {
        let order = start_order(&containers(
            r#"[{"name": "app", "image": "x", "dependsOn": [{"containerName": "envoy", "condition": "START"}]}, {"name": "envoy", "image": "x"}]"#,
        ))
        .unwrap();
        assert_eq!(
            order.init,
            vec![(
                1,
                InitKind::Sidecar {
                    wait_healthy: false
                }
            )]
        );
    }

    #[test]
    fn complete_is_run_to_completion_like_success() {
        let order = start_order(&containers(
            r#"[{"name": "app", "image": "x", "dependsOn": [{"containerName": "seed", "condition": "COMPLETE"}]}, {"name": "seed", "image": "x", "essential": false}]"#,
        ))
        .unwrap();
        assert_eq!(order.init, vec![(1, InitKind::RunToCompletion)]);
    }

    #[test]
    fn cycles_are_errors_naming_the_containers() {
        let result = start_order(&containers(
            r#"[
              {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "START"}]},
              {"name": "b", "image": "x", "dependsOn": [{"containerName": "a", "condition": "START"}]},
              {"name": "c", "image": "x"}
            ]"#,
        ));
        assert_eq!(
            result,
            Err(RenderError::DependencyCycle(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn unknown_targets_and_healthy_without_a_check_are_errors() {
        let unknown = start_order(&containers(
            r#"[{"name": "a", "image": "x", "dependsOn": [{"containerName": "zz", "condition": "START"}]}]"#,
        ));
        assert!(matches!(unknown, Err(RenderError::UnknownContainer { .. })));
        let unhealthy = start_order(&containers(
            r#"[{"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]}, {"name": "b", "image": "x"}]"#,
        ));
        assert!(matches!(
            unhealthy,
            Err(RenderError::MissingHealthCheck { .. })
        ));
    }
}
