//! One ECS container definition → one Kubernetes container, before probes and start order.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;

use crate::api::{ContainerDefinition, ContainerOverride, TaskDefinitionSpec};

use super::RenderError;
use super::environment::env;
use super::ports::container_ports;
use super::resources::{ContainerSize, container_resources, gpu_count};
use super::security::container_security_context;
use super::volumes::TaskVolumes;

/// What a container needs from the rest of the task.
pub(super) struct TaskParts<'a> {
    pub spec: &'a TaskDefinitionSpec,
    pub volumes: &'a TaskVolumes,
    pub port_names: &'a BTreeMap<String, String>,
}

/// ECS `entryPoint` is the Kubernetes `command` and ECS `command` the Kubernetes `args`: the
/// names are swapped. A RunTask override replaces `command`, so it lands in `args`.
pub(super) fn render_container(
    parts: &TaskParts,
    definition: &ContainerDefinition,
    name: String,
    overrides: Option<&ContainerOverride>,
) -> Result<Container, RenderError> {
    let args = overrides
        .and_then(|o| o.command.clone())
        .or_else(|| definition.command.clone());
    let requirements = overrides
        .and_then(|o| o.resource_requirements.as_ref())
        .or(definition.resource_requirements.as_ref());
    let ports = container_ports(
        &definition.name,
        definition.port_mappings.as_deref().unwrap_or_default(),
        parts.spec.network_mode,
        parts.port_names,
    )?;
    let mounts = parts.volumes.mounts(parts.spec, definition)?;
    let env = env(definition, overrides);
    Ok(Container {
        name,
        image: Some(definition.image.clone()),
        command: definition.entry_point.clone().filter(|c| !c.is_empty()),
        args: args.filter(|a| !a.is_empty()),
        working_dir: definition.working_directory.clone(),
        env: (!env.is_empty()).then_some(env),
        ports: (!ports.is_empty()).then_some(ports),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        resources: container_resources(
            &ContainerSize::of(definition, overrides),
            requirements.and_then(|r| gpu_count(r)),
        ),
        security_context: container_security_context(definition),
        stdin: definition.interactive.filter(|i| *i),
        tty: definition.pseudo_terminal.filter(|t| *t),
        ..Default::default()
    })
}
