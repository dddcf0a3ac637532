//! Pieces shared by several kinds: ECS key/value shapes, tags, placement, capacity provider
//! strategies, network configuration, log configuration and status conditions.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules;
use super::rules::ENV_NAME_PATTERN;

/// Status conditions (`Ready`, `Progressing`, `Degraded`, ...), one per `type`.
pub type Conditions = Vec<Condition>;

/// A name/value pair, as ECS uses for `environment`, `properties` and similar lists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    /// Name of the variable or property: printable ASCII, no `=`.
    #[schemars(pattern(ENV_NAME_PATTERN))]
    pub name: String,
    /// Value of the variable or property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An ECS resource tag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Tag key, 1-128 characters. The `aws:` prefix is reserved.
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// Tag value, up to 256 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub value: Option<String>,
}

/// ECS launch types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LaunchType {
    #[serde(rename = "EC2")]
    Ec2,
    #[serde(rename = "FARGATE")]
    Fargate,
    #[serde(rename = "EXTERNAL")]
    External,
    #[serde(rename = "MANAGED_INSTANCES")]
    ManagedInstances,
}

/// Where task tags are copied from when a task is created.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropagateTags {
    TaskDefinition,
    Service,
    None,
}

/// Whether a feature is on; the ECS `ENABLED|DISABLED` switch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnabledState {
    Enabled,
    Disabled,
}

/// Kinds of placement constraint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlacementConstraintType {
    DistinctInstance,
    MemberOf,
}

/// A binding rule for where tasks may run (ECS PlacementConstraint).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type != 'distinctInstance' || !has(self.expression)")
    .message("placementConstraints: a distinctInstance constraint takes no expression"))]
#[x_kube(validation = Rule::new("self.type != 'memberOf' || (has(self.expression) && size(self.expression) > 0)")
    .message("placementConstraints: a memberOf constraint requires an expression (cluster query language, at most 2000 characters)"))]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// `distinctInstance` (every task on a different node) or `memberOf` (nodes matching `expression`).
    #[serde(rename = "type")]
    pub type_: PlacementConstraintType,
    /// Cluster query language expression for `memberOf`, at most 2000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub expression: Option<String>,
}

/// Kinds of placement strategy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlacementStrategyType {
    Random,
    Spread,
    Binpack,
}

/// A best-effort rule for choosing among nodes (ECS PlacementStrategy). The first entry is
/// primary, later entries break ties. On Kubernetes: one `spread` becomes a soft topology
/// spread constraint for kube-scheduler; `binpack`, `random` and several strategies in order
/// are applied by Berth itself, which picks each new task's node from the nodes' allocatable
/// less its tasks' requests and pins the pod there (a required node affinity on the node's
/// name, as the DaemonSet controller does); kube-scheduler still binds it. Scale-in follows
/// the same strategies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type != 'random' || !has(self.field)")
    .message("placementStrategy: a random strategy takes no field"))]
#[x_kube(validation = Rule::new("self.type != 'binpack' || (has(self.field) && self.field in ['cpu', 'memory'])")
    .message("placementStrategy: a binpack strategy requires field cpu or memory"))]
#[x_kube(validation = Rule::new("self.type != 'spread' || has(self.field)")
    .message("placementStrategy: a spread strategy requires a field such as instanceId, host or attribute:ecs.availability-zone"))]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// `random`: uniformly random among the nodes that fit. `spread`: balance the service's
    /// tasks over the values of `field`; scale-in keeps them balanced. `binpack`: the node
    /// with the least of `field` left that still fits; scale-in stops the task whose node
    /// keeps the most free.
    #[serde(rename = "type")]
    pub type_: PlacementStrategyType,
    /// `spread`: `instanceId`, `host` or `attribute:<name>` (a node label; `ecs.availability-zone`
    /// is `topology.kubernetes.io/zone`); `binpack`: `cpu` or `memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub field: Option<String>,
}

/// One entry of a capacity provider strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    /// Name of a Berth `CapacityProvider` (or the reserved `FARGATE` / `FARGATE_SPOT`).
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Relative share of tasks beyond the bases, 0-1000 (ECS default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: Option<i32>,
    /// Tasks placed on this provider before weights apply, 0-100000 (ECS default 0).
    /// Only one entry of a strategy may set a base above 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub base: Option<i32>,
}

/// Task networking for the `awsvpc` network mode.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// Subnets and security groups for `awsvpc` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awsvpc_configuration: Option<AwsVpcConfiguration>,
}

/// ECS AwsVpcConfiguration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    /// Subnet IDs, at most 16.
    #[schemars(length(max = 16))]
    pub subnets: Vec<String>,
    /// Security group IDs, at most 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub security_groups: Option<Vec<String>>,
    /// `ENABLED` or `DISABLED` (ECS default DISABLED).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<EnabledState>,
}

/// Log drivers ECS accepts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    JsonFile,
    Syslog,
    Journald,
    Gelf,
    Fluentd,
    Awslogs,
    Splunk,
    Awsfirelens,
}

/// A secret injected by name, from a Secrets Manager or SSM Parameter Store reference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Environment variable (or log option) name the secret is exposed as: printable ASCII, no `=`.
    #[schemars(pattern(ENV_NAME_PATTERN))]
    pub name: String,
    /// Secrets Manager ARN (optionally `:json-key:version-stage:version-id`) or SSM parameter ARN/name.
    pub value_from: String,
}

/// Log routing for a container (or the Service Connect proxy).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// json-file, syslog, journald, gelf, fluentd, awslogs, splunk or awsfirelens.
    pub log_driver: LogDriver,
    /// Driver options, string to string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// Secrets passed to the log driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
}

/// Task-level ephemeral storage (Fargate).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralStorage {
    /// Size in GiB, 21-200 (Fargate default 20 when unset).
    #[serde(rename = "sizeInGiB")]
    #[schemars(range(min = 21, max = 200))]
    pub size_in_gib: i32,
}

/// ECS container resource requirement kinds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ResourceType {
    #[serde(rename = "GPU")]
    Gpu,
    InferenceAccelerator,
    NeuronDevice,
}

/// A GPU, inference accelerator or Neuron device request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirement {
    /// Amount (a count, or `ALL` for GPUs) or device name.
    pub value: String,
    /// GPU, InferenceAccelerator or NeuronDevice.
    #[serde(rename = "type")]
    pub type_: ResourceType,
}

/// Environment file types (only `s3`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentFileType {
    S3,
}

/// An `.env` file loaded into the container environment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    /// S3 object ARN of the `.env` file.
    pub value: String,
    /// Always `s3`.
    #[serde(rename = "type")]
    pub type_: EnvironmentFileType,
}

/// Launch placement shared by Service and TaskRun: launch type or capacity providers,
/// placement rules, networking and tags. Flattened into both specs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = rules::launch_type_or_strategy())]
#[serde(rename_all = "camelCase")]
pub struct LaunchPlacement {
    /// EC2, FARGATE, EXTERNAL or MANAGED_INSTANCES. Mutually exclusive with capacityProviderStrategy.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity providers and their base/weight split, at most 20 entries, at most one with
    /// a base above 0, not all weights 0. Mutually exclusive with launchType.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = rules::single_base(), validation = rules::some_weight())]
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    /// Binding placement rules, at most 10 (counting the task definition's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    /// Best-effort placement rules applied in order, at most 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// Subnets and security groups; required by ECS for `awsvpc` task definitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Tags for the tasks, at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["key".into()]))]
    pub tags: Option<Vec<Tag>>,
}

/// Schema for free-form JSON that the apiserver must keep as written.
pub fn any_json(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true, "nullable": true })
}

/// The wire spelling of an API enum value (`memberOf`, `EssentialContainerExited`, ...).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
