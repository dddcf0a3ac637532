//! `TaskDefinition`: the ECS RegisterTaskDefinition input as a Kubernetes object (ecs-semantics §1).

use kube::{CustomResource, KubeSchema, core::Rule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, EphemeralStorage, KeyValuePair, Tag};
use super::container::ContainerDefinition;
use super::described::TaskDefinitionDescription;
use super::rules::{NAME_PATTERN, fargate_task_size};
use super::volume::Volume;

/// A rule that only applies when `requiresCompatibilities` contains FARGATE.
fn on_fargate(check: &str, message: &str) -> Rule {
    Rule::new(format!(
        "!has(self.requiresCompatibilities) || !('FARGATE' in self.requiresCompatibilities) || ({check})"
    ))
    .message(format!("with requiresCompatibilities FARGATE, {message}").as_str())
}

/// A rule over every container of the task.
fn each_container(check: &str, message: &str) -> Rule {
    Rule::new(format!("self.containerDefinitions.all(c, {check})")).message(message)
}

/// No two containers may bind one host port for one protocol (Kubernetes refuses such a pod,
/// so every task would fail to start; found by fuzzing the renderer, which refuses it too).
/// With `host` networking a mapping binds its containerPort (another rule makes hostPort
/// omitted or equal to it); with `bridge` (or no mode) its hostPort when above 0 (0 or none is a
/// dynamic port); `awsvpc` and `none` bind none. Each container's ports are mapped to keys
/// once (a port times 2, plus 1 for udp) and bound by iterating a one-element list (CEL has no
/// `let` the API server and kube's client-side check both take); the other containers' mappings
/// are then looked up with `in`. Four nested loops over 10 containers of 100 mappings, or the
/// map recomputed per mapping, put the API server's cost estimate 2.2 times over its budget.
/// Duplicates within one container are left to the renderer (`DuplicateHostPort`).
fn host_ports_unique_across_containers(host: bool) -> Rule {
    let (port, mode, message) = if host {
        ("containerPort", "has(self.networkMode) && self.networkMode == 'host'",
            "containerDefinitions[].portMappings[].hostPort (the containerPort, with networkMode host): two containers may not use the same port and protocol")
    } else {
        ("hostPort", "!has(self.networkMode) || self.networkMode in ['', 'bridge']",
            "containerDefinitions[].portMappings[].hostPort: two containers may not map the same hostPort and protocol")
    };
    let key = |x: &str| format!("(has({x}.{port}) ? {x}.{port} : 0) * 2 + (has({x}.protocol) && {x}.protocol == 'udp' ? 1 : 0)");
    Rule::new(format!(
        "!({mode}) || self.containerDefinitions.all(c, !has(c.portMappings) || [c.portMappings.map(p, {kp})].all(ports, \
         self.containerDefinitions.all(o, o.name == c.name || !has(o.portMappings) || o.portMappings.all(q, !has(q.{port}) || q.{port} == 0 || !(({kq}) in ports)))))",
        kq = key("q"), kp = key("p"),
    ))
    .message(message)
}

/// A port mapping name is what a Service's `serviceConnectConfiguration.services[].portName`
/// points at, so it names one mapping of the task; Kubernetes refuses a pod with two ports of
/// one name too (found by fuzzing: a duplicated named mapping). Each container's names are
/// listed once and looked up with `in` in the other containers, as in
/// [`host_ports_unique_across_containers`], to stay within the API server's cost budget.
fn port_names_unique_in_the_task() -> Rule {
    Rule::new(
        "self.containerDefinitions.all(c, !has(c.portMappings) || [c.portMappings.filter(p, has(p.name)).map(p, p.name)].all(names, \
         names.all(n, names.exists_one(m, m == n)) && \
         self.containerDefinitions.all(o, o.name == c.name || !has(o.portMappings) || o.portMappings.all(q, !has(q.name) || !(q.name in names)))))",
    )
    .message("containerDefinitions[].portMappings[].name must be unique within the task (a Service Connect portName names one port mapping)")
}

/// An ECS task definition family. Every change to `spec` registers a new immutable revision;
/// revisions are kept as ControllerRevisions and listed in `status.revisions`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "TaskDefinition",
    doc = "An ECS task definition family (RegisterTaskDefinition input as spec); each spec change registers a new immutable revision.",
    namespaced,
    status = "TaskDefinitionStatus",
    shortname = "taskdef",
    category = "ecs",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Family", type_ = "string", json_path = ".status.family"),
    printcolumn(
        name = "Latest",
        type_ = "integer",
        json_path = ".status.latestRevision"
    ),
    printcolumn(
        name = "Compatibilities",
        type_ = "string",
        json_path = ".spec.requiresCompatibilities"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.containerDefinitions.all(c, self.containerDefinitions.exists_one(o, o.name == c.name))")
    .message("containerDefinitions[].name must be unique within the task"))]
#[x_kube(validation = Rule::new("self.containerDefinitions.exists(c, !has(c.essential) || c.essential)")
    .message("containerDefinitions: at least one container must be essential (essential defaults to true when omitted)"))]
#[x_kube(validation = each_container("!has(c.dependsOn) || c.dependsOn.all(d, self.containerDefinitions.exists(o, o.name == d.containerName))",
    "containerDefinitions[].dependsOn[].containerName must name a container of this task"))]
#[x_kube(validation = each_container("!has(c.dependsOn) || c.dependsOn.all(d, !(d.condition in ['COMPLETE', 'SUCCESS']) || self.containerDefinitions.exists(o, o.name == d.containerName && has(o.essential) && !o.essential))",
    "containerDefinitions[].dependsOn[]: COMPLETE and SUCCESS conditions must point at a non-essential container (essential: false)"))]
#[x_kube(validation = each_container("!has(c.dependsOn) || c.dependsOn.all(d, d.condition != 'HEALTHY' || self.containerDefinitions.exists(o, o.name == d.containerName && has(o.healthCheck)))",
    "containerDefinitions[].dependsOn[]: a HEALTHY condition must point at a container with a healthCheck"))]
#[x_kube(validation = each_container("!has(c.volumesFrom) || c.volumesFrom.all(v, !has(v.sourceContainer) || self.containerDefinitions.exists(o, o.name == v.sourceContainer))",
    "containerDefinitions[].volumesFrom[].sourceContainer must name a container of this task"))]
#[x_kube(validation = each_container("!has(c.mountPoints) || c.mountPoints.all(m, !has(m.sourceVolume) || (has(self.volumes) && self.volumes.exists(v, v.name == m.sourceVolume)))",
    "containerDefinitions[].mountPoints[].sourceVolume must name an entry of volumes"))]
#[x_kube(validation = Rule::new("has(self.memory) || self.containerDefinitions.all(c, has(c.memory) || has(c.memoryReservation))")
    .message("memory: without a task-level memory, every container needs memory or memoryReservation"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || self.networkMode != 'none' || self.containerDefinitions.all(c, !has(c.portMappings) || size(c.portMappings) == 0)")
    .message("networkMode none allows no containerDefinitions[].portMappings"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || !(self.networkMode in ['awsvpc', 'host']) || self.containerDefinitions.all(c, !has(c.portMappings) || c.portMappings.all(p, !has(p.hostPort) || (has(p.containerPort) && p.hostPort == p.containerPort)))")
    .message("containerDefinitions[].portMappings[].hostPort: with networkMode awsvpc or host it must be omitted or equal containerPort"))]
#[x_kube(validation = port_names_unique_in_the_task())]
#[x_kube(validation = host_ports_unique_across_containers(false))]
#[x_kube(validation = host_ports_unique_across_containers(true))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || self.networkMode in ['', 'bridge', 'awsvpc'] || self.containerDefinitions.all(c, !has(c.portMappings) || c.portMappings.all(p, !has(p.containerPortRange)))")
    .message("containerDefinitions[].portMappings[].containerPortRange is only allowed with networkMode bridge or awsvpc"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || self.networkMode in ['', 'bridge'] || self.containerDefinitions.all(c, !has(c.links) || size(c.links) == 0)")
    .message("containerDefinitions[].links is only allowed with networkMode bridge"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || self.networkMode != 'awsvpc' || self.containerDefinitions.all(c, !has(c.hostname) && (!has(c.extraHosts) || size(c.extraHosts) == 0))")
    .message("containerDefinitions[].hostname and extraHosts are not allowed with networkMode awsvpc"))]
#[x_kube(validation = Rule::new("!has(self.volumes) || self.volumes.filter(v, has(v.configuredAtLaunch) && v.configuredAtLaunch).size() <= 1")
    .message("volumes: at most one volume may set configuredAtLaunch"))]
#[x_kube(validation = fargate_task_size())]
#[x_kube(validation = on_fargate("has(self.networkMode) && self.networkMode == 'awsvpc'", "networkMode must be awsvpc"))]
#[x_kube(validation = on_fargate("self.containerDefinitions.all(c, !has(c.privileged) || !c.privileged)",
    "containerDefinitions[].privileged must not be true"))]
#[x_kube(validation = on_fargate("self.containerDefinitions.all(c, !has(c.linuxParameters) || ((!has(c.linuxParameters.devices) || size(c.linuxParameters.devices) == 0) && !has(c.linuxParameters.sharedMemorySize) && !has(c.linuxParameters.maxSwap) && !has(c.linuxParameters.swappiness)))",
    "containerDefinitions[].linuxParameters may not set devices, sharedMemorySize, maxSwap or swappiness"))]
#[x_kube(validation = on_fargate("self.containerDefinitions.all(c, !has(c.linuxParameters) || !has(c.linuxParameters.capabilities) || !has(c.linuxParameters.capabilities.add) || c.linuxParameters.capabilities.add.all(a, a == 'SYS_PTRACE'))",
    "containerDefinitions[].linuxParameters.capabilities.add may only contain SYS_PTRACE"))]
#[x_kube(validation = on_fargate("self.containerDefinitions.all(c, (!has(c.stopTimeout) || c.stopTimeout <= 120) && (!has(c.startTimeout) || (c.startTimeout >= 2 && c.startTimeout <= 120)))",
    "containerDefinitions[].stopTimeout must be at most 120 and startTimeout 2-120"))]
#[x_kube(validation = on_fargate("self.containerDefinitions.all(c, !has(c.logConfiguration) || c.logConfiguration.logDriver in ['awslogs', 'splunk', 'awsfirelens'])",
    "containerDefinitions[].logConfiguration.logDriver must be awslogs, splunk or awsfirelens"))]
#[x_kube(validation = on_fargate("!has(self.volumes) || self.volumes.all(v, !has(v.dockerVolumeConfiguration) && (!has(v.host) || !has(v.host.sourcePath)))",
    "volumes[] may not use dockerVolumeConfiguration or host.sourcePath"))]
#[x_kube(validation = on_fargate("!has(self.placementConstraints) || size(self.placementConstraints) == 0",
    "placementConstraints are not allowed"))]
#[x_kube(validation = on_fargate("(!has(self.pidMode) || self.pidMode in ['', 'task']) && (!has(self.ipcMode) || self.ipcMode == '')",
    "pidMode may only be task and ipcMode must be omitted"))]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionSpec {
    /// Family name: 1-255 letters, digits, `_` and `-`. Optional here: when omitted, Berth uses
    /// the object's `metadata.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(NAME_PATTERN))]
    pub family: Option<String>,
    /// IAM role the application assumes; Berth maps it to a ServiceAccount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// IAM role the agent uses for image pulls, logs and secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// bridge (ECS default on Linux EC2), host, awsvpc (required by Fargate) or none.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// The task's containers: 1-10, unique names, at least one essential.
    #[schemars(length(min = 1, max = 10))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub container_definitions: Vec<ContainerDefinition>,
    /// Volumes the containers can mount, at most 64.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub volumes: Option<Vec<Volume>>,
    /// `memberOf` placement constraints, at most 10; not on Fargate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Option<Vec<TaskDefinitionPlacementConstraint>>,
    /// Launch types to validate against: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    pub requires_compatibilities: Option<Vec<Compatibility>>,
    /// Task CPU cap: CPU units as an integer string (`"1024"`) or vCPUs (`"1 vCPU"`).
    /// Required by Fargate, from the Fargate size table.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 32),
        pattern(r"^([0-9]+|[0-9]*\.?[0-9]+ ?[vV][cC][pP][uU])$")
    )]
    pub cpu: Option<String>,
    /// Task memory cap: MiB as an integer string (`"2048"`) or GB (`"2GB"`, `"2 GB"`).
    /// Required by Fargate, from the Fargate size table.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+|[0-9]*\.?[0-9]+ ?[gG][bB])$"))]
    pub memory: Option<String>,
    /// Tags on the task definition, at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["key".into()]))]
    pub tags: Option<Vec<Tag>>,
    /// `host` or `task` process namespace sharing; unset gives each container its own. Fargate allows only `task`.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<PidMode>,
    /// `host`, `task` or `none` IPC namespace; unset uses the runtime default. Not on Fargate.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<IpcMode>,
    /// App Mesh proxy configuration (legacy; accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    /// Elastic Inference accelerators (discontinued; accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
    /// Task ephemeral storage, 21-200 GiB (Fargate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// CPU architecture and operating system family the task needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// Enables ECS fault injection endpoints (ECS default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
    /// Read-only fields of describe-task-definition output, accepted and ignored.
    #[serde(flatten)]
    pub described: TaskDefinitionDescription,
}

/// Task network modes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Bridge,
    Host,
    Awsvpc,
    None,
}

/// Launch types a task definition is validated for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    #[serde(rename = "EC2")]
    Ec2,
    Fargate,
    External,
    ManagedInstances,
}

/// Process namespace modes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PidMode {
    Host,
    Task,
}

/// IPC namespace modes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpcMode {
    Host,
    Task,
    None,
}

/// Task-definition placement constraint types (only `memberOf`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TaskDefinitionPlacementConstraintType {
    MemberOf,
}

/// A `memberOf` placement constraint carried by the task definition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionPlacementConstraint {
    /// Only `memberOf` is allowed at task-definition level.
    #[serde(rename = "type")]
    pub type_: TaskDefinitionPlacementConstraintType,
    /// Cluster query language expression, at most 2000 characters.
    #[schemars(length(min = 1, max = 2000))]
    pub expression: String,
}

/// Proxy types (only App Mesh).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProxyConfigurationType {
    Appmesh,
}

/// App Mesh proxy configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    /// Always `APPMESH`.
    #[serde(rename = "type", default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ProxyConfigurationType>,
    /// Name of the container acting as the proxy.
    pub container_name: String,
    /// Proxy settings as name/value pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<KeyValuePair>>,
}

/// An Elastic Inference accelerator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceAccelerator {
    /// Device name referenced by container resourceRequirements.
    pub device_name: String,
    /// Accelerator type.
    pub device_type: String,
}

/// CPU architectures.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CpuArchitecture {
    #[serde(rename = "X86_64")]
    X86_64,
    #[serde(rename = "ARM64")]
    Arm64,
}

/// Operating system families.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(non_camel_case_types)]
pub enum OsFamily {
    LINUX,
    WINDOWS_SERVER_2019_FULL,
    WINDOWS_SERVER_2019_CORE,
    WINDOWS_SERVER_2016_FULL,
    WINDOWS_SERVER_2004_CORE,
    WINDOWS_SERVER_2022_CORE,
    WINDOWS_SERVER_2022_FULL,
    WINDOWS_SERVER_2025_CORE,
    WINDOWS_SERVER_2025_FULL,
    WINDOWS_SERVER_20H2_CORE,
}

/// Platform the task needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// X86_64 or ARM64.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// LINUX or a WINDOWS_SERVER_* family.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<OsFamily>,
}

/// Observed state of a task definition family.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionStatus {
    /// Generation of the spec this status reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Resolved family: `spec.family`, or `metadata.name` when that is unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Highest revision registered so far; revision numbers are never reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<i32>,
    /// Every revision still kept, with the ControllerRevision holding its spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["revision".into()]))]
    pub revisions: Option<Vec<TaskDefinitionRevision>>,
    /// JSON paths of spec fields Berth accepts but does not act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_fields: Option<Vec<String>>,
    /// Standard conditions (`Ready`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Conditions>,
}

/// One registered revision of the family.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRevision {
    /// Revision number, starting at 1.
    pub revision: i32,
    /// Name of the ControllerRevision storing this revision's spec.
    pub controller_revision: String,
    /// ACTIVE, INACTIVE or DELETE_IN_PROGRESS.
    pub status: TaskDefinitionRevisionStatus,
}

/// Lifecycle of a revision.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskDefinitionRevisionStatus {
    Active,
    Inactive,
    DeleteInProgress,
}
