//! Fields Berth accepts but cannot honour. The controller lists them on the TaskDefinition
//! status and in a Warning event, so nothing is dropped without a word. Reasons are short
//! and written for the user.

use crate::api::{
    set_fields,
    ContainerDefinition, DockerVolumeScope, IpcMode, LogDriver, NetworkMode, ResourceType,
    TaskDefinitionSpec, VersionConsistency, Volume,
};

use super::container_field;
use super::network::{MAX_NAMESERVERS, nameservers};
use super::ports::{MAX_PORTS_PER_RANGE, parse_range};
use super::security::parse_user;

/// A field and why Berth does not act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedField {
    /// ECS path, e.g. `containerDefinitions[web].linuxParameters.maxSwap`.
    pub field: String,
    pub reason: String,
}

/// Every field of `spec` that Berth accepts but cannot honour, task fields first, then
/// volumes, then containers in definition order.
pub fn unsupported_fields(spec: &TaskDefinitionSpec) -> Vec<UnsupportedField> {
    let mut found = Found(Vec::new());
    task_fields(spec, &mut found);
    for volume in spec.volumes.iter().flatten() {
        volume_fields(volume, &mut found);
    }
    for container in &spec.container_definitions {
        container_fields(container, &mut found.within(&container.name));
    }
    found.0
}

/// Why a read-only field of ECS describe output is ignored.
pub const READ_ONLY_REASON: &str = "read-only ECS output; Berth reports its own state in status";

/// Why tags are ignored: nothing in Kubernetes bills or filters by them.
pub const TAGS_REASON: &str = "tags are not copied to Kubernetes objects";

struct Found(Vec<UnsupportedField>);

impl Found {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(UnsupportedField {
            field: field.into(),
            reason: reason.into(),
        });
    }

    fn within<'a>(&'a mut self, container: &'a str) -> InContainer<'a> {
        InContainer {
            found: self,
            container,
        }
    }
}

/// Adds fields under `containerDefinitions[<name>]`.
struct InContainer<'a> {
    found: &'a mut Found,
    container: &'a str,
}

impl InContainer<'_> {
    fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.found
            .add(container_field(self.container, field), reason);
    }
}

fn task_fields(spec: &TaskDefinitionSpec, found: &mut Found) {
    for field in set_fields(&spec.described) {
        found.add(field, READ_ONLY_REASON);
    }
    if spec.tags.as_ref().is_some_and(|tags| !tags.is_empty()) {
        found.add("tags", TAGS_REASON);
    }
    if spec.execution_role_arn.is_some() {
        found.add(
            "executionRoleArn",
            "not used: Kubernetes pulls images and reads Secrets with its own credentials",
        );
    }
    if spec.network_mode == Some(NetworkMode::None) {
        found.add(
            "networkMode",
            "none has no Kubernetes equivalent; the task gets normal pod networking",
        );
    }
    if spec.ipc_mode == Some(IpcMode::None) {
        found.add(
            "ipcMode",
            "none has no Kubernetes equivalent; containers share the pod's IPC namespace",
        );
    }
    if spec.proxy_configuration.is_some() {
        found.add("proxyConfiguration", "App Mesh proxies are not supported");
    }
    if spec
        .inference_accelerators
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        found.add(
            "inferenceAccelerators",
            "Elastic Inference is not supported",
        );
    }
    if spec.ephemeral_storage.is_some() {
        found.add(
            "ephemeralStorage",
            "not applied: pod-level resources cannot size ephemeral storage",
        );
    }
    if spec.enable_fault_injection == Some(true) {
        found.add(
            "enableFaultInjection",
            "ECS fault injection endpoints are not provided",
        );
    }
    if nameservers(spec).len() > MAX_NAMESERVERS {
        found.add("containerDefinitions[].dnsServers", format!("a pod takes at most {MAX_NAMESERVERS} DNS servers; the first {MAX_NAMESERVERS} are used"));
    }
}

fn volume_fields(volume: &Volume, found: &mut Found) {
    let field = |name: &str| format!("volumes[{}].{name}", volume.name);
    const SCRATCH: &str = "the volume is an empty scratch directory deleted with the task";
    if let Some(docker) = &volume.docker_volume_configuration {
        if docker.scope == Some(DockerVolumeScope::Shared) {
            found.add(
                field("dockerVolumeConfiguration.scope"),
                format!("shared Docker volumes are not supported; {SCRATCH}"),
            );
        }
        if docker.driver.as_deref().is_some_and(|d| d != "local") {
            found.add(
                field("dockerVolumeConfiguration.driver"),
                format!("Docker volume drivers are not used; {SCRATCH}"),
            );
        }
        if docker.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
            found.add(
                field("dockerVolumeConfiguration.driverOpts"),
                format!("Docker volume driver options are not used; {SCRATCH}"),
            );
        }
        if docker.labels.as_ref().is_some_and(|l| !l.is_empty()) {
            found.add(
                field("dockerVolumeConfiguration.labels"),
                format!("Docker volume labels are not set; {SCRATCH}"),
            );
        }
        if docker.autoprovision == Some(true) {
            found.add(
                field("dockerVolumeConfiguration.autoprovision"),
                format!("there is no shared Docker volume to provision; {SCRATCH}"),
            );
        }
    }
    if volume.efs_volume_configuration.is_some() {
        found.add(
            field("efsVolumeConfiguration"),
            format!("EFS is not mounted; {SCRATCH}"),
        );
    }
    if volume
        .fsx_windows_file_server_volume_configuration
        .is_some()
    {
        found.add(
            field("fsxWindowsFileServerVolumeConfiguration"),
            format!("FSx is not mounted; {SCRATCH}"),
        );
    }
    if volume.s3files_volume_configuration.is_some() {
        found.add(
            field("s3filesVolumeConfiguration"),
            format!("S3 Files is not mounted; {SCRATCH}"),
        );
    }
    if volume.configured_at_launch == Some(true) {
        found.add(
            field("configuredAtLaunch"),
            format!("volumes configured at launch are not supported; {SCRATCH}"),
        );
    }
}

fn container_fields(container: &ContainerDefinition, found: &mut InContainer) {
    if container
        .environment_files
        .as_ref()
        .is_some_and(|f| !f.is_empty())
    {
        found.add(
            "environmentFiles",
            "S3 environment files are not loaded; use environment or secrets",
        );
    }
    if container
        .user
        .as_deref()
        .is_some_and(|u| parse_user(u).named)
    {
        found.add("user", "Kubernetes takes numeric user and group IDs only; names are ignored and the image's USER applies");
    }
    if container.ulimits.as_ref().is_some_and(|u| !u.is_empty()) {
        found.add(
            "ulimits",
            "Kubernetes cannot set ulimits per container; the runtime defaults apply",
        );
    }
    if let Some(log) = container
        .log_configuration
        .as_ref()
        .filter(|l| l.log_driver != LogDriver::JsonFile)
    {
        let driver = serde_json::to_value(log.log_driver)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        found.add(
            "logConfiguration.logDriver",
            format!("logs stay on the node (kubectl logs); the {driver} driver is not used"),
        );
    }
    if container.firelens_configuration.is_some() {
        found.add(
            "firelensConfiguration",
            "FireLens log routing is not supported",
        );
    }
    if container
        .credential_specs
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        found.add("credentialSpecs", "gMSA credential specs are not supported");
    }
    if container
        .docker_security_options
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        found.add(
            "dockerSecurityOptions",
            "Docker security options are not supported",
        );
    }
    if container.disable_networking == Some(true) {
        found.add(
            "disableNetworking",
            "containers share the pod network; it cannot be turned off for one container",
        );
    }
    if container.version_consistency == Some(VersionConsistency::Enabled) {
        found.add("versionConsistency", "image tags are not pinned to digests");
    }
    for requirement in container.resource_requirements.iter().flatten() {
        match requirement.type_ {
            ResourceType::Gpu if requirement.value.trim().parse::<u32>().is_err() => {
                found.add(
                    "resourceRequirements",
                    "only a whole number of GPUs can be requested",
                );
            }
            ResourceType::Gpu => {}
            ResourceType::InferenceAccelerator | ResourceType::NeuronDevice => {
                found.add(
                    "resourceRequirements",
                    "only GPU requirements are supported",
                );
            }
        }
    }
    for (index, mapping) in container.port_mappings.iter().flatten().enumerate() {
        let range = mapping
            .container_port_range
            .as_deref()
            .and_then(parse_range);
        if range.is_some_and(|(start, end)| end - start >= MAX_PORTS_PER_RANGE as i32) {
            found.add(
                &format!("portMappings[{index}].containerPortRange"),
                format!(
                    "only the first {MAX_PORTS_PER_RANGE} ports of a range are declared on the pod"
                ),
            );
        }
    }
    let Some(linux) = &container.linux_parameters else {
        return;
    };
    if linux.devices.as_ref().is_some_and(|d| !d.is_empty()) {
        found.add(
            "linuxParameters.devices",
            "host devices are not exposed; use a device plugin resource",
        );
    }
    if linux.init_process_enabled == Some(true) {
        found.add(
            "linuxParameters.initProcessEnabled",
            "no init process is injected; add one (such as tini) to the image",
        );
    }
    if linux.max_swap.is_some() {
        found.add(
            "linuxParameters.maxSwap",
            "swap is configured per node in Kubernetes",
        );
    }
    if linux.swappiness.is_some() {
        found.add(
            "linuxParameters.swappiness",
            "swap is configured per node in Kubernetes",
        );
    }
    if linux
        .tmpfs
        .iter()
        .flatten()
        .any(|t| t.mount_options.as_ref().is_some_and(|o| !o.is_empty()))
    {
        found.add(
            "linuxParameters.tmpfs.mountOptions",
            "tmpfs mount options are not supported",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(yaml: &str) -> Vec<(String, String)> {
        let spec: TaskDefinitionSpec = serde_saphyr::from_str(yaml).unwrap();
        unsupported_fields(&spec)
            .into_iter()
            .map(|u| (u.field, u.reason))
            .collect()
    }

    fn paths(yaml: &str) -> Vec<String> {
        fields(yaml).into_iter().map(|(field, _)| field).collect()
    }

    #[test]
    fn a_plain_task_definition_has_nothing_to_report() {
        let yaml = r#"
containerDefinitions:
  - name: web
    image: nginx
    user: "1000:1000"
    logConfiguration: {logDriver: json-file}
    resourceRequirements: [{type: GPU, value: "1"}]
    restartPolicy: {enabled: true, ignoredExitCodes: [0], restartAttemptPeriod: 60}
"#;
        assert_eq!(fields(yaml), []);
    }

    #[test]
    fn task_and_volume_fields() {
        let yaml = r#"
executionRoleArn: arn:aws:iam::1:role/exec
networkMode: none
ipcMode: none
ephemeralStorage: {sizeInGiB: 30}
proxyConfiguration: {containerName: envoy}
containerDefinitions: [{name: web, image: nginx}]
volumes:
  - {name: shared, dockerVolumeConfiguration: {scope: shared, driver: rexray}}
  - {name: files, efsVolumeConfiguration: {fileSystemId: fs-1}}
  - {name: ebs, configuredAtLaunch: true}
"#;
        assert_eq!(
            paths(yaml),
            [
                "executionRoleArn",
                "networkMode",
                "ipcMode",
                "proxyConfiguration",
                "ephemeralStorage",
                "volumes[shared].dockerVolumeConfiguration.scope",
                "volumes[shared].dockerVolumeConfiguration.driver",
                "volumes[files].efsVolumeConfiguration",
                "volumes[ebs].configuredAtLaunch",
            ]
        );
    }

    #[test]
    fn read_only_describe_fields_tags_and_docker_volume_options() {
        let yaml = r#"
taskDefinitionArn: arn:aws:ecs:us-east-1:123456789012:task-definition/web:3
revision: 3
status: ACTIVE
compatibilities: [EC2, FARGATE]
requiresAttributes: [{name: com.amazonaws.ecs.capability.task-iam-role}]
registeredAt: "2024-01-02T03:04:05Z"
deregisteredAt: null
tags: [{key: team, value: shop}]
containerDefinitions: [{name: web, image: nginx}]
volumes:
  - {name: cache, dockerVolumeConfiguration: {autoprovision: true, driverOpts: {type: tmpfs}, labels: {app: web}}}
"#;
        assert_eq!(
            paths(yaml),
            [
                "compatibilities",
                "registeredAt",
                "requiresAttributes",
                "revision",
                "status",
                "taskDefinitionArn",
                "tags",
                "volumes[cache].dockerVolumeConfiguration.driverOpts",
                "volumes[cache].dockerVolumeConfiguration.labels",
                "volumes[cache].dockerVolumeConfiguration.autoprovision",
            ]
        );
    }

    #[test]
    fn container_fields_carry_the_ecs_container_name() {
        let yaml = r#"
containerDefinitions:
  - name: Web_App
    image: nginx
    user: www-data
    ulimits: [{name: nofile, softLimit: 1024, hardLimit: 4096}]
    logConfiguration: {logDriver: awslogs}
    environmentFiles: [{value: "arn:aws:s3:::b/app.env", type: s3}]
    resourceRequirements: [{type: GPU, value: ALL}]
    portMappings: [{containerPortRange: "10000-10100"}]
    linuxParameters: {maxSwap: 10, swappiness: 5, initProcessEnabled: true, devices: [{hostPath: /dev/fuse}], tmpfs: [{containerPath: /t, size: 1, mountOptions: [noexec]}]}
"#;
        let found = fields(yaml);
        let paths: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            paths,
            [
                "containerDefinitions[Web_App].environmentFiles",
                "containerDefinitions[Web_App].user",
                "containerDefinitions[Web_App].ulimits",
                "containerDefinitions[Web_App].logConfiguration.logDriver",
                "containerDefinitions[Web_App].resourceRequirements",
                "containerDefinitions[Web_App].portMappings[0].containerPortRange",
                "containerDefinitions[Web_App].linuxParameters.devices",
                "containerDefinitions[Web_App].linuxParameters.initProcessEnabled",
                "containerDefinitions[Web_App].linuxParameters.maxSwap",
                "containerDefinitions[Web_App].linuxParameters.swappiness",
                "containerDefinitions[Web_App].linuxParameters.tmpfs.mountOptions",
            ]
        );
        assert!(found[3].1.contains("awslogs"));
    }

    #[test]
    fn too_many_dns_servers() {
        let yaml = "containerDefinitions: [{name: a, image: x, dnsServers: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4]}]\n";
        assert_eq!(paths(yaml), ["containerDefinitions[].dnsServers"]);
    }
}
