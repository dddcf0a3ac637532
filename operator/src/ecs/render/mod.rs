//! Task definition → Pod (ecs-semantics §4.2-4.6). Pure: no client, no I/O.
//!
//! A task is one Pod with `restartPolicy: Never`; the controller supplies names, labels and
//! owner references and acts on essential containers exiting. Fields that cannot be
//! honoured are listed by [`unsupported_fields`] and otherwise left out of the pod.
//! Conventions for names Kubernetes has no place for are in [`secrets`] (Secrets Manager and
//! SSM references) and [`identity`] (task role → ServiceAccount).

mod annotations;
mod container;
mod dependencies;
mod environment;
pub mod identity;
pub mod names;
mod network;
mod platform;
mod ports;
mod probes;
mod resources;
pub mod secrets;
mod security;
mod unsupported;
mod volumes;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, LocalObjectReference, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::{ContainerOverride, TaskDefinitionSpec, TaskOverride};

pub use annotations::{
    CONTAINER_NAMES_ANNOTATION, ESSENTIAL_CONTAINERS_ANNOTATION, HEALTH_START_PERIODS_ANNOTATION, PORT_NAMES_ANNOTATION,
    RESTART_POLICIES_ANNOTATION, RestartRule, START_TIMEOUT_ANNOTATION, ecs_container_names, essential_containers, health_start_periods, restart_rules,
};
pub use ports::{parse_range as parse_port_range, port_names};
pub use resources::{GPU_RESOURCE, task_cpu_units, task_memory_mib};
pub use unsupported::{READ_ONLY_REASON, TAGS_REASON, UnsupportedField, unsupported_fields};

use container::{TaskParts, render_container};
use dependencies::{InitKind, start_order};
use resources::{ContainerSize, pod_resources};
use volumes::TaskVolumes;

/// ECS default for `stopTimeout`, in seconds.
const DEFAULT_STOP_TIMEOUT: i32 = 30;

/// What the controller decides about one task, beyond the task definition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskContext {
    pub namespace: String,
    pub pod_name: String,
    /// Labels set by the controller: service or task run, deployment id, family, revision, task id.
    pub labels: BTreeMap<String, String>,
    /// Annotations set by the controller; they win over rendered ones with the same key.
    pub annotations: BTreeMap<String, String>,
    /// RunTask overrides (container command, environment, cpu, memory, memoryReservation and
    /// GPUs; task cpu, memory and role).
    pub overrides: Option<TaskOverride>,
}

/// A task definition that cannot become a valid pod. Most of these are also rejected by the
/// CRD's rules; the renderer checks again because it must not trust its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("{field}: {value:?} is not a valid task size")]
    InvalidTaskSize { field: &'static str, value: String },
    #[error("{0}")]
    TaskSizeExceeded(String),
    #[error("containerDefinitions[].dependsOn has a cycle among: {}", .0.join(", "))]
    DependencyCycle(Vec<String>),
    #[error("containerDefinitions: name {0:?} is used more than once")]
    DuplicateContainer(String),
    #[error("{field} names container {target:?}, which is not in containerDefinitions")]
    UnknownContainer { field: String, target: String },
    #[error("{field} names volume {volume:?}, which is not in volumes")]
    UnknownVolume { field: String, volume: String },
    #[error("{field}: a HEALTHY dependency needs container {container:?} to have a healthCheck")]
    MissingHealthCheck { field: String, container: String },
    #[error("containerDefinitions[{container}].healthCheck.command has nothing to run")]
    EmptyHealthCheck { container: String },
    #[error("{field}: {range:?} is not a port range start-end within 1-65535")]
    InvalidPortRange { field: String, range: String },
    #[error("containerDefinitions[].portMappings: host port {port}/{protocol} is mapped more than once in the task")]
    DuplicateHostPort { port: i32, protocol: String },
    #[error("containerDefinitions[].portMappings[].name: {0:?} names more than one port mapping of the task")]
    DuplicatePortName(String),
}

/// The ECS path of a container field, as reported to users.
fn container_field(container: &str, field: &str) -> String {
    format!("containerDefinitions[{container}].{field}")
}

/// Renders the pod of one task. Owner references are the caller's to add.
pub fn render_pod(spec: &TaskDefinitionSpec, ctx: &TaskContext) -> Result<Pod, RenderError> {
    let definitions = &spec.container_definitions;
    let overrides = container_overrides(spec, ctx.overrides.as_ref())?;
    let ecs_names: Vec<&str> = definitions.iter().map(|c| c.name.as_str()).collect();
    let kubernetes_names = names::unique_dns_labels(&ecs_names);
    let order = start_order(definitions)?;
    let volumes = TaskVolumes::new(spec);
    ports::check_port_names_unique(spec)?;
    let port_names = ports::port_names(spec);
    let parts = TaskParts {
        spec,
        volumes: &volumes,
        port_names: &port_names,
    };

    let mut rendered: Vec<Option<Container>> = definitions
        .iter()
        .zip(&kubernetes_names)
        .map(|(definition, name)| {
            render_container(
                &parts,
                definition,
                name.clone(),
                overrides[definition.name.as_str()],
            )
            .map(Some)
        })
        .collect::<Result<_, _>>()?;
    let mut take = |index: usize| {
        rendered[index]
            .take()
            .expect("start order lists each container once")
    };

    let mut init_containers = Vec::with_capacity(order.init.len());
    for (index, kind) in order.init {
        let definition = &definitions[index];
        let mut container = take(index);
        if let InitKind::Sidecar { wait_healthy } = kind {
            container.restart_policy = Some("Always".to_owned());
            if let Some(check) = &definition.health_check {
                container.readiness_probe = Some(probes::readiness_probe(&definition.name, check)?);
                if wait_healthy {
                    container.startup_probe = Some(probes::startup_probe(
                        &definition.name,
                        check,
                        definition.start_timeout,
                    )?);
                }
            }
        }
        // Run-to-completion init containers may not carry probes; their exit is what counts.
        init_containers.push(container);
    }
    let mut containers = Vec::with_capacity(order.main.len());
    for index in order.main {
        let definition = &definitions[index];
        let mut container = take(index);
        if let Some(check) = &definition.health_check {
            container.readiness_probe = Some(probes::readiness_probe(&definition.name, check)?);
        }
        containers.push(container);
    }

    let task_override = ctx.overrides.as_ref();
    let sizes: Vec<ContainerSize> = definitions
        .iter()
        .map(|c| ContainerSize::of(c, overrides[c.name.as_str()]))
        .collect();
    let task_cpu = task_override
        .and_then(|o| o.cpu.as_deref())
        .or(spec.cpu.as_deref());
    let task_memory = task_override
        .and_then(|o| o.memory.as_deref())
        .or(spec.memory.as_deref());
    let task_role = task_override
        .and_then(|o| o.task_role_arn.as_deref())
        .or(spec.task_role_arn.as_deref());

    let mut pod_spec = PodSpec {
        restart_policy: Some("Never".to_owned()),
        init_containers: (!init_containers.is_empty()).then_some(init_containers),
        containers,
        volumes: Some(volumes.into_volumes()).filter(|v| !v.is_empty()),
        resources: pod_resources(task_cpu, task_memory, &sizes)?,
        termination_grace_period_seconds: Some(termination_grace_period(spec)),
        service_account_name: task_role.map(identity::service_account_name),
        image_pull_secrets: image_pull_secrets(spec),
        node_selector: platform::node_selector(spec),
        security_context: security::pod_security_context(spec),
        // ECS injects no service discovery variables; Kubernetes would add one set per Service.
        enable_service_links: Some(false),
        ..Default::default()
    };
    network::apply(spec, &mut pod_spec);

    let mut pod_annotations = annotations::docker_label_annotations(spec);
    let essential: Vec<&str> = definitions
        .iter()
        .zip(&kubernetes_names)
        .filter(|(c, _)| c.essential != Some(false))
        .map(|(_, name)| name.as_str())
        .collect();
    pod_annotations.insert(
        ESSENTIAL_CONTAINERS_ANNOTATION.to_owned(),
        essential.join(","),
    );
    let container_names: BTreeMap<String, String> = ecs_names
        .iter()
        .map(|n| n.to_string())
        .zip(kubernetes_names.iter().cloned())
        .collect();
    if let Some(mapping) = annotations::name_mapping(&container_names) {
        pod_annotations.insert(CONTAINER_NAMES_ANNOTATION.to_owned(), mapping);
    }
    let start_periods: BTreeMap<&str, i32> = definitions
        .iter()
        .zip(&kubernetes_names)
        .filter_map(|(c, name)| Some((name.as_str(), c.health_check.as_ref()?.start_period.filter(|p| *p > 0)?)))
        .collect();
    if !start_periods.is_empty() {
        pod_annotations.insert(
            HEALTH_START_PERIODS_ANNOTATION.to_owned(),
            serde_json::to_string(&start_periods).expect("a map of numbers always serialises"),
        );
    }
    if let Some(mapping) = annotations::name_mapping(&port_names) {
        pod_annotations.insert(PORT_NAMES_ANNOTATION.to_owned(), mapping);
    }
    if let Some(timeout) = definitions.iter().filter_map(|c| c.start_timeout.filter(|t| *t > 0)).max() {
        pod_annotations.insert(START_TIMEOUT_ANNOTATION.to_owned(), timeout.to_string());
    }
    let restart_rules: BTreeMap<&str, RestartRule> = definitions
        .iter()
        .zip(&kubernetes_names)
        .filter_map(|(c, name)| {
            let policy = c.restart_policy.as_ref().filter(|p| p.enabled)?;
            Some((name.as_str(), RestartRule {
                ignored_exit_codes: policy.ignored_exit_codes.clone().unwrap_or_default(),
                restart_attempt_period: policy.restart_attempt_period.map_or(annotations::DEFAULT_RESTART_ATTEMPT_PERIOD, i64::from),
            }))
        })
        .collect();
    if !restart_rules.is_empty() {
        // Kubernetes restarts containers per pod: the kubelet restarts them all in
        // place, and the operator stops the task on any restart ECS would not make.
        pod_spec.restart_policy = Some("Always".to_owned());
        pod_annotations.insert(
            RESTART_POLICIES_ANNOTATION.to_owned(),
            serde_json::to_string(&restart_rules).expect("restart rules always serialise"),
        );
    }
    pod_annotations.extend(ctx.annotations.clone());
    ports::check_host_ports_unique(pod_spec.containers.iter().chain(pod_spec.init_containers.iter().flatten()))?;

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(ctx.pod_name.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: (!ctx.labels.is_empty()).then(|| ctx.labels.clone()),
            annotations: Some(pod_annotations),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    })
}

/// Each container's RunTask override, if any, by container name. Container names must be
/// unique and an override must name a container, as in ECS.
fn container_overrides<'a>(
    spec: &'a TaskDefinitionSpec,
    overrides: Option<&'a TaskOverride>,
) -> Result<BTreeMap<&'a str, Option<&'a ContainerOverride>>, RenderError> {
    let mut by_name: BTreeMap<&str, Option<&ContainerOverride>> = BTreeMap::new();
    for container in &spec.container_definitions {
        if by_name.insert(container.name.as_str(), None).is_some() {
            return Err(RenderError::DuplicateContainer(container.name.clone()));
        }
    }
    for container_override in overrides
        .and_then(|o| o.container_overrides.as_ref())
        .into_iter()
        .flatten()
    {
        let slot = by_name
            .get_mut(container_override.name.as_str())
            .ok_or_else(|| RenderError::UnknownContainer {
                field: "overrides.containerOverrides".to_owned(),
                target: container_override.name.clone(),
            })?;
        *slot = Some(container_override);
    }
    Ok(by_name)
}

/// Kubernetes has one grace period per pod: the longest `stopTimeout` (30 s when unset).
fn termination_grace_period(spec: &TaskDefinitionSpec) -> i64 {
    let longest = spec
        .container_definitions
        .iter()
        .map(|c| c.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT).max(0))
        .max();
    i64::from(longest.unwrap_or(DEFAULT_STOP_TIMEOUT))
}

/// `repositoryCredentials` → image pull Secrets named by the [`secrets`] convention.
fn image_pull_secrets(spec: &TaskDefinitionSpec) -> Option<Vec<LocalObjectReference>> {
    let mut names: Vec<String> = Vec::new();
    for credentials in spec
        .container_definitions
        .iter()
        .filter_map(|c| c.repository_credentials.as_ref())
    {
        let name = secrets::secret_name(&credentials.credentials_parameter);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    (!names.is_empty()).then(|| {
        names
            .into_iter()
            .map(|name| LocalObjectReference { name })
            .collect()
    })
}

#[cfg(test)]
mod tests;
