//! Can a task definition run on a capacity provider of a given type (ecs-semantics §1.2,
//! §1.10, §2.11)? ECS refuses to launch a task definition on a launch type it is not
//! compatible with; Berth refuses the same way, listing every reason at once.
//!
//! `requiresCompatibilities`, when given, must name the type. When it is omitted, ECS
//! derives the task definition's compatibilities from its content, so the type's own rules
//! decide (for FARGATE: awsvpc, a Fargate size, nothing privileged or host-bound).

use crate::api::{CapacityProviderType, Compatibility, IpcMode, NetworkMode, PidMode, TaskDefinitionSpec, is_fargate_task_size};
use crate::ecs::render::{task_cpu_units, task_memory_mib};

/// Why `spec` cannot run on a provider of type `type_`; empty when it can.
pub fn incompatibilities(spec: &TaskDefinitionSpec, type_: CapacityProviderType) -> Vec<String> {
    let (compatibility, name) = match type_ {
        CapacityProviderType::Ec2 => (Compatibility::Ec2, "EC2"),
        CapacityProviderType::Fargate => (Compatibility::Fargate, "FARGATE"),
    };
    let mut reasons = vec![];
    if let Some(required) = spec.requires_compatibilities.as_ref().filter(|r| !r.is_empty())
        && !required.contains(&compatibility)
    {
        reasons.push(format!("requiresCompatibilities does not include {name}"));
    }
    if type_ == CapacityProviderType::Fargate {
        reasons.extend(fargate_rule_breaches(spec));
    }
    reasons
}

/// The Fargate rules of §1.10 that decide where a task may run: isolated awsvpc
/// networking, an exact task size, and nothing that reaches into the host.
fn fargate_rule_breaches(spec: &TaskDefinitionSpec) -> Vec<String> {
    let mut reasons = vec![];
    match spec.network_mode {
        Some(NetworkMode::Awsvpc) => {}
        Some(NetworkMode::Host) => reasons.push("networkMode host (host networking) is not supported, Fargate needs awsvpc".into()),
        Some(mode) => reasons.push(format!("networkMode {} is not supported, Fargate needs awsvpc", crate::api::wire_name(&mode))),
        None => reasons.push("networkMode is unset (bridge), Fargate needs awsvpc".into()),
    }
    if let Some(size) = fargate_size_problem(spec) {
        reasons.push(size);
    }
    for container in &spec.container_definitions {
        let field = |f: &str| format!("containerDefinitions[{}].{f}", container.name);
        if container.privileged == Some(true) {
            reasons.push(format!("{} is true; privileged containers are not supported", field("privileged")));
        }
        for mapping in container.port_mappings.iter().flatten() {
            if let Some(host) = mapping.host_port.filter(|p| *p > 0 && Some(*p) != mapping.container_port) {
                reasons.push(format!("{}: hostPort {host} is a host port; it must be empty or equal containerPort", field("portMappings")));
            }
        }
        let devices = container.linux_parameters.as_ref().and_then(|l| l.devices.as_ref());
        if devices.is_some_and(|d| !d.is_empty()) {
            reasons.push(format!("{} are not supported", field("linuxParameters.devices")));
        }
    }
    for volume in spec.volumes.iter().flatten() {
        if volume.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            reasons.push(format!("volumes[{}].host.sourcePath (a host path) is not supported", volume.name));
        }
        if volume.docker_volume_configuration.is_some() {
            reasons.push(format!("volumes[{}].dockerVolumeConfiguration is not supported", volume.name));
        }
    }
    if spec.placement_constraints.as_ref().is_some_and(|c| !c.is_empty()) {
        reasons.push("placementConstraints are not supported".into());
    }
    if spec.pid_mode == Some(PidMode::Host) {
        reasons.push("pidMode host is not supported".into());
    }
    if let Some(mode) = spec.ipc_mode {
        let mode = if mode == IpcMode::Host { "host" } else { "task or none" };
        reasons.push(format!("ipcMode {mode} is not supported"));
    }
    reasons
}

/// Fargate needs both task `cpu` and `memory`, as one of the pairs of §1.3.
fn fargate_size_problem(spec: &TaskDefinitionSpec) -> Option<String> {
    let (Some(cpu), Some(memory)) = (spec.cpu.as_deref(), spec.memory.as_deref()) else {
        return Some("task cpu and memory are both required".into());
    };
    let valid = match (task_cpu_units(cpu), task_memory_mib(memory)) {
        (Some(units), Some(mib)) => is_fargate_task_size(i64::from(units), i64::from(mib)),
        _ => false,
    };
    (!valid).then(|| format!("cpu {cpu} with memory {memory} is not a valid Fargate task size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TaskDefinitionSpec {
        serde_saphyr::from_str(yaml).expect("task definition fixture")
    }

    const FARGATE_WEB: &str = r#"
requiresCompatibilities: [FARGATE]
networkMode: awsvpc
cpu: "256"
memory: "512"
containerDefinitions:
- {name: web, image: nginx, portMappings: [{containerPort: 80, hostPort: 80}]}
"#;

    #[test]
    fn a_fargate_task_definition_runs_on_fargate_but_not_ec2() {
        assert_eq!(incompatibilities(&spec(FARGATE_WEB), CapacityProviderType::Fargate), Vec::<String>::new());
        assert_eq!(incompatibilities(&spec(FARGATE_WEB), CapacityProviderType::Ec2), ["requiresCompatibilities does not include EC2"]);
    }

    #[test]
    fn without_requires_compatibilities_the_content_decides() {
        let portable = FARGATE_WEB.replace("requiresCompatibilities: [FARGATE]\n", "");
        assert!(incompatibilities(&spec(&portable), CapacityProviderType::Fargate).is_empty());
        assert!(incompatibilities(&spec(&portable), CapacityProviderType::Ec2).is_empty());
    }

    #[test]
    fn an_ec2_bridge_task_definition_lists_every_fargate_breach() {
        let ec2 = spec(r#"
requiresCompatibilities: [EC2]
containerDefinitions:
- name: agent
  image: agent
  memory: 256
  privileged: true
  portMappings: [{containerPort: 80, hostPort: 8080}]
  linuxParameters: {devices: [{hostPath: /dev/fuse}]}
volumes: [{name: docker, host: {sourcePath: /var/run/docker.sock}}]
placementConstraints: [{type: memberOf, expression: "attribute:ecs.instance-type =~ t3.*"}]
pidMode: host
ipcMode: host
"#);
        assert!(incompatibilities(&ec2, CapacityProviderType::Ec2).is_empty());
        assert_eq!(incompatibilities(&ec2, CapacityProviderType::Fargate), [
            "requiresCompatibilities does not include FARGATE",
            "networkMode is unset (bridge), Fargate needs awsvpc",
            "task cpu and memory are both required",
            "containerDefinitions[agent].privileged is true; privileged containers are not supported",
            "containerDefinitions[agent].portMappings: hostPort 8080 is a host port; it must be empty or equal containerPort",
            "containerDefinitions[agent].linuxParameters.devices are not supported",
            "volumes[docker].host.sourcePath (a host path) is not supported",
            "placementConstraints are not supported",
            "pidMode host is not supported",
            "ipcMode host is not supported",
        ]);
    }

    #[test]
    fn host_networking_is_named() {
        let host = FARGATE_WEB.replace("requiresCompatibilities: [FARGATE]\n", "").replace("awsvpc", "host");
        assert_eq!(incompatibilities(&spec(&host), CapacityProviderType::Fargate),
            ["networkMode host (host networking) is not supported, Fargate needs awsvpc"]);
    }

    #[test]
    fn task_sizes_follow_the_fargate_table() {
        let sized = |cpu: &str, memory: &str| {
            let text = FARGATE_WEB.replace("cpu: \"256\"", &format!("cpu: \"{cpu}\"")).replace("memory: \"512\"", &format!("memory: \"{memory}\""));
            incompatibilities(&spec(&text), CapacityProviderType::Fargate)
        };
        for (cpu, memory) in [("256", "512"), ("256", "2048"), ("512", "4096"), ("1 vCPU", "8GB"), ("2048", "16384"),
            ("4096", "30720"), ("8192", "20480"), ("16384", "122880")] {
            assert!(sized(cpu, memory).is_empty(), "{cpu}/{memory}");
        }
        for (cpu, memory) in [("256", "4096"), ("512", "512"), ("1024", "1024"), ("8192", "18432"), ("300", "1024")] {
            assert_eq!(sized(cpu, memory), [format!("cpu {cpu} with memory {memory} is not a valid Fargate task size")]);
        }
    }
}
