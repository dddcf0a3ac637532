//! ECS ContainerDefinition and the shapes nested in it (ecs-semantics §1.5-1.9).

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EnvironmentFile, KeyValuePair, LogConfiguration, ResourceRequirement, Secret};
use super::rules::NAME_PATTERN;

/// One container of a task (ECS ContainerDefinition).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.memory) || !has(self.memoryReservation) || self.memory >= self.memoryReservation")
    .message("containerDefinitions[].memory must not be below memoryReservation"))]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// Container name, unique in the task: 1-255 letters, digits, `_` and `-`.
    #[schemars(length(min = 1, max = 255), pattern(NAME_PATTERN))]
    pub name: String,
    /// Image reference: `repo/image:tag` or `repo/image@sha256:<digest>`.
    #[schemars(length(min = 1, max = 4096))]
    pub image: String,
    /// Private registry credentials (a Secrets Manager reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<RepositoryCredentials>,
    /// CPU units reserved for the container (1024 = 1 vCPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB; the container is killed above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub memory: Option<i32>,
    /// Soft memory reservation in MiB, used for placement. At most `memory` when both are set
    /// (ECS registers equal values).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub memory_reservation: Option<i32>,
    /// Legacy links to other containers (`name:alias`); only with the `bridge` network mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Ports the container exposes, at most 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub port_mappings: Option<Vec<PortMapping>>,
    /// When true (the ECS default when omitted), the task stops when this container exits.
    /// Every task needs at least one essential container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// In-place restart of this container when it exits (off unless enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// Docker ENTRYPOINT override (Kubernetes `command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    /// Docker CMD override (Kubernetes `args`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables; these override values from `environmentFiles`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub environment: Option<Vec<KeyValuePair>>,
    /// `.env` files loaded into the environment, at most 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    /// Volumes mounted into the container, at most 64; each `sourceVolume` names a task `volumes[].name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["containerPath".into()]))]
    pub mount_points: Option<Vec<MountPoint>>,
    /// Containers of the same task whose mounts this container copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub volumes_from: Option<Vec<VolumeFrom>>,
    /// Linux kernel options: capabilities, devices, init process, shared memory, tmpfs, swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    /// Secrets exposed as environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub secrets: Option<Vec<Secret>>,
    /// Containers that must reach a condition before this one starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub depends_on: Option<Vec<ContainerDependency>>,
    /// Seconds a dependent waits for this container to meet its dependency condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub start_timeout: Option<i32>,
    /// Seconds between SIGTERM and SIGKILL when the container is stopped (ECS default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub stop_timeout: Option<i32>,
    /// `enabled` (ECS default) pins the image tag to a digest per deployment; `disabled` does not.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub version_consistency: Option<VersionConsistency>,
    /// Container hostname; not allowed with the `awsvpc` network mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// User to run as: `user`, `user:group`, `uid`, `uid:gid`, `user:gid` or `uid:group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory for the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Turns networking off inside the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_networking: Option<bool>,
    /// Runs the container privileged; not allowed on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Mounts the root filesystem read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// DNS servers for the container (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
    /// DNS search domains for the container (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_search_domains: Option<Vec<String>>,
    /// Extra `/etc/hosts` entries; not allowed with the `awsvpc` network mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<HostEntry>>,
    /// Docker security options (`no-new-privileges`, `apparmor:P`, `label:v`, `credentialspec:...`); EC2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_security_options: Option<Vec<String>>,
    /// Keeps stdin open (`docker run -i`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    /// Allocates a TTY (`docker run -t`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudo_terminal: Option<bool>,
    /// Docker labels, string to string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_labels: Option<BTreeMap<String, String>>,
    /// Resource limits (`nofile`, `nproc`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    /// Log driver and its options. Fargate allows awslogs, splunk and awsfirelens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Container health check (Docker HEALTHCHECK semantics); Berth turns it into a readiness probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Namespaced kernel parameters (sysctls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_controls: Option<Vec<SystemControl>>,
    /// GPU, inference accelerator or Neuron device requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
    /// FireLens log router configuration (this container routes the task's logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    /// gMSA credential specs (at most 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub credential_specs: Option<Vec<String>>,
}

/// Private registry credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryCredentials {
    /// ARN of the Secrets Manager secret holding the registry credentials.
    pub credentials_parameter: String,
}

/// Transport protocols of a port mapping.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportProtocol {
    Tcp,
    Udp,
}

/// Application protocols a port mapping may declare (for Service Connect).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationProtocol {
    Http,
    Http2,
    Grpc,
}

/// A port the container exposes (ECS PortMapping). Kept an atomic list: its natural key,
/// `containerPort`, is absent when `containerPortRange` is used.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.containerPort) != has(self.containerPortRange)")
    .message("portMappings[]: set exactly one of containerPort or containerPortRange"))]
#[x_kube(validation = Rule::new("!has(self.containerPortRange) || !has(self.hostPort)")
    .message("portMappings[]: hostPort is not allowed with containerPortRange"))]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port the container listens on, 1-65535.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
    /// Host port, 0-65535. With awsvpc/host it must be omitted or equal containerPort;
    /// with bridge, omitted or 0 picks a dynamic port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    /// `tcp` (ECS default) or `udp`.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// Port name used by Service Connect: up to 64 lowercase letters, digits, `_` and `-`, not starting with `-`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern("^[a-z0-9_][a-z0-9_-]{0,63}$"))]
    pub name: Option<String>,
    /// `http`, `http2` or `grpc`; only used by Service Connect.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<ApplicationProtocol>,
    /// A port range `start-end`, instead of containerPort; bridge and awsvpc modes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 11), pattern("^[0-9]{1,5}-[0-9]{1,5}$"))]
    pub container_port_range: Option<String>,
}

/// Container restart policy (ecs-semantics §1.8).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRestartPolicy {
    /// Turns in-place restarts on.
    pub enabled: bool,
    /// Exit codes that do not trigger a restart, at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub ignored_exit_codes: Option<Vec<i32>>,
    /// Seconds the container must run before a restart is attempted, 60-1800 (ECS default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 1800))]
    pub restart_attempt_period: Option<i32>,
}

/// A volume mounted into a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// Name of a task `volumes[]` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub source_volume: Option<String>,
    /// Path inside the container.
    pub container_path: String,
    /// Mounts read-only (ECS default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Copies every mount of another container of the task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    /// Name of another container in the same task.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub source_container: Option<String>,
    /// Mounts read-only (ECS default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Linux-specific container options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    /// Capabilities added to or dropped from the Docker default set. Fargate may only add SYS_PTRACE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    /// Host devices exposed to the container; not on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    /// Runs an init process (tini) as PID 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    /// `/dev/shm` size in MiB; not on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub shared_memory_size: Option<i32>,
    /// tmpfs mounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<Tmpfs>>,
    /// Swap in MiB the container may use; not on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<i32>,
    /// Swappiness 0-100 (ECS default 60); not on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub swappiness: Option<i32>,
}

/// Linux capabilities to add or drop (names such as `SYS_PTRACE`, `NET_ADMIN`, `ALL`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KernelCapabilities {
    /// Capabilities to add, at most 64 names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub add: Option<Vec<String>>,
    /// Capabilities to drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

/// Device access permissions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DevicePermission {
    Read,
    Write,
    Mknod,
}

/// A host device exposed to the container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Path of the device on the host.
    pub host_path: String,
    /// Path of the device inside the container (defaults to hostPath).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// read, write and/or mknod (Docker default: all three).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<DevicePermission>>,
}

/// A tmpfs mount.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tmpfs {
    /// Mount path inside the container.
    pub container_path: String,
    /// Size in MiB.
    pub size: i32,
    /// Mount options (`noexec`, `size=...`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<Vec<String>>,
}

/// Conditions a dependency must reach (ecs-semantics §1.9).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerCondition {
    Start,
    Complete,
    Success,
    Healthy,
}

/// A start-order dependency on another container of the task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// Name of the container this one waits for.
    #[schemars(length(max = 255))]
    pub container_name: String,
    /// START, COMPLETE (exited), SUCCESS (exited 0; both need a non-essential target) or
    /// HEALTHY (target needs a healthCheck).
    pub condition: ContainerCondition,
}

/// Whether ECS pins image tags to digests.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionConsistency {
    Enabled,
    Disabled,
}

/// An extra `/etc/hosts` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    /// Host name.
    pub hostname: String,
    /// IP address for the host name.
    pub ip_address: String,
}

/// Resource limit names ECS accepts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UlimitName {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

/// A resource limit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending or stack.
    pub name: UlimitName,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// Container health check (ecs-semantics §1.6).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `["CMD", exe, args...]` or `["CMD-SHELL", "command"]`; exit 0 means healthy.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Seconds between checks, 5-300 (ECS default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval: Option<i32>,
    /// Seconds before a check counts as failed, 2-60 (ECS default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout: Option<i32>,
    /// Consecutive failures before UNHEALTHY, 1-10 (ECS default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: Option<i32>,
    /// Grace seconds after start during which failures do not count, 0-300 (ECS default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub start_period: Option<i32>,
}

/// A namespaced kernel parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemControl {
    /// Parameter name, such as `net.core.somaxconn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Parameter value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// FireLens router types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirelensType {
    Fluentd,
    Fluentbit,
}

/// FireLens log router configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    /// `fluentd` or `fluentbit`.
    #[serde(rename = "type")]
    pub type_: FirelensType,
    /// Router options, string to string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}
