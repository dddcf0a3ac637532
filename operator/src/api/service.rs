//! `Service`: keeps a number of tasks running and rolls out new revisions (ECS CreateService, §2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, EnabledState, LaunchPlacement, PropagateTags, Tag};
use super::deployment::{DeploymentConfiguration, DeploymentController};
use super::described::ServiceDescription;
use super::rules::{NAME_PATTERN, TASK_DEFINITION_REF_PATTERN};
use super::service_connect::ServiceConnectConfiguration;
use super::task_status::TaskSummary;

/// An ECS service: `desiredCount` copies of a task definition kept running, replaced when they
/// stop, and rolled out with ECS rolling-deployment rules. The ECS cluster is the namespace
/// and the service name is `metadata.name`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "Service",
    doc = "An ECS service: keeps desiredCount tasks of a task definition running and rolls out new revisions.",
    namespaced,
    status = "ServiceStatus",
    shortname = "ecssvc",
    category = "ecs",
    derive = "PartialEq",
    cel,
    scale(
        spec_replicas_path = ".spec.desiredCount",
        status_replicas_path = ".status.runningCount",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.desiredCount"),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.runningCount"
    ),
    printcolumn(
        name = "Pending",
        type_ = "integer",
        json_path = ".status.pendingCount"
    ),
    printcolumn(
        name = "Task Definition",
        type_ = "string",
        json_path = ".status.taskDefinition"
    ),
    printcolumn(name = "Rollout", type_ = "string", json_path = ".status.rolloutState"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.desiredCount)")
    .message("desiredCount must be omitted when schedulingStrategy is DAEMON (one task per matching node)"))]
#[x_kube(validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.placementStrategy) || size(self.placementStrategy) == 0")
    .message("placementStrategy must be omitted when schedulingStrategy is DAEMON"))]
#[x_kube(validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.deploymentConfiguration) || !has(self.deploymentConfiguration.maximumPercent) || self.deploymentConfiguration.maximumPercent <= 100")
    .message("deploymentConfiguration.maximumPercent: the DAEMON scheduling strategy does not support values above 100"))]
#[x_kube(validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.volumeConfigurations)")
    .message("volumeConfigurations is only allowed with schedulingStrategy REPLICA"))]
#[x_kube(validation = Rule::new("!has(self.schedulingStrategy) || self.schedulingStrategy != 'DAEMON' || !has(self.launchType) || self.launchType != 'FARGATE'")
    .message("schedulingStrategy DAEMON is not supported with launchType FARGATE"))]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// ECS service name: 1-255 letters, digits, `_` and `-`. Optional here: the service is
    /// `metadata.name`; a different value is reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(NAME_PATTERN))]
    pub service_name: Option<String>,
    /// ECS cluster name or ARN. Optional here: the cluster is the namespace; a different
    /// value is reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1600))]
    pub cluster: Option<String>,
    /// Task definition to run: `family` (latest ACTIVE revision), `family:revision`, or a
    /// task-definition ARN (only its `family:revision` part is used).
    #[schemars(length(min = 1, max = 1600), pattern(TASK_DEFINITION_REF_PATTERN))]
    pub task_definition: String,
    /// Number of tasks to keep running, 0 or more. Omit for DAEMON services.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub desired_count: Option<i32>,
    /// REPLICA (ECS default: keep desiredCount tasks) or DAEMON (one task per matching node).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub scheduling_strategy: Option<SchedulingStrategy>,
    /// Rolling deployment bounds and the circuit breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Deployment controller: ECS (the default) or CODE_DEPLOY (run as BLUE_GREEN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_controller: Option<DeploymentController>,
    /// Launch type or capacity providers, placement, networking and tags.
    #[serde(flatten)]
    pub placement: LaunchPlacement,
    /// Fargate platform version (ECS default LATEST); accepted, not acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// Load balancer target groups the tasks register with, at most 5. Each becomes a
    /// Kubernetes Service named after the target group (or load balancer) on the container port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub load_balancers: Option<Vec<LoadBalancer>>,
    /// Cloud Map service discovery registration, at most 1: a headless Service named after
    /// the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub service_registries: Option<Vec<ServiceRegistry>>,
    /// Seconds after a task starts during which failed health checks are ignored (ECS default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub health_check_grace_period_seconds: Option<i32>,
    /// Copy tags to tasks from TASK_DEFINITION or SERVICE, or NONE (ECS default).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
    /// Adds the ECS-managed cluster and service tags to tasks (ECS default false).
    #[serde(
        rename = "enableECSManagedTags",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ecs_managed_tags: Option<bool>,
    /// Allows interactive exec into the service's containers (ECS default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    /// ENABLED keeps tasks balanced across zones; DISABLED does not.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub availability_zone_rebalancing: Option<EnabledState>,
    /// Berth extension: keep the tasks balanced over these spread attributes too, the way
    /// Availability Zone rebalancing keeps zones even (start first in the lightest value, then
    /// stop in the heaviest, within maximumPercent and minimumHealthyPercent, at most once
    /// per 5 minutes): `instanceId` (or `host`) for nodes, `attribute:<name>` for a node label.
    /// Off unless set; useful when nodes join a busy cluster (aws/containers-roadmap#42).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub rebalance_across: Option<Vec<String>>,
    /// Service Connect: each published port becomes a ClusterIP Service named after its client
    /// alias (no proxy: timeouts, TLS and access logs are accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnectConfiguration>,
    /// Volumes for the task definition's `configuredAtLaunch` volume; REPLICA only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub volume_configurations: Option<Vec<ServiceVolumeConfiguration>>,
    /// VPC Lattice target groups (accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_lattice_configurations: Option<Vec<VpcLatticeConfiguration>>,
    /// IAM role for load balancer calls (legacy; accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// ECS idempotency token, at most 36 characters; ignored by Berth.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    pub client_token: Option<String>,
    /// Berth extension of ECS `forceNewDeployment`: an opaque token. Any change of its value
    /// starts a new deployment with the current spec (for example to re-pull a `:latest` image).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub force_new_deployment: Option<String>,
    /// Read-only fields of describe-services output, accepted and ignored.
    #[serde(flatten)]
    pub described: ServiceDescription,
}

/// Service scheduling strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    Replica,
    Daemon,
}

/// A load balancer target group binding.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Target group ARN (ALB/NLB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// Classic Load Balancer name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,
    /// Container that receives the traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Container port that receives the traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
    /// Blue/green listener settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

/// Blue/green load balancer settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    /// Target group of the new revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate_target_group_arn: Option<String>,
    /// Listener rule for production traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_listener_rule: Option<String>,
    /// Listener rule for test traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    /// Role ECS assumes to change the listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// A Cloud Map service registration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistry {
    /// Cloud Map service ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_arn: Option<String>,
    /// Port for SRV records (awsvpc).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Container for SRV records (bridge/host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Container port for SRV records (bridge/host).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
}

/// A volume supplied at launch for a `configuredAtLaunch` task definition volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceVolumeConfiguration {
    /// Name of the task definition volume with `configuredAtLaunch: true`.
    pub name: String,
    /// An EBS volume created per task.
    #[serde(rename = "managedEBSVolume", skip_serializing_if = "Option::is_none")]
    pub managed_ebs_volume: Option<ServiceManagedEbsVolumeConfiguration>,
}

/// Filesystem types for EBS volumes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FilesystemType {
    Ext3,
    Ext4,
    Xfs,
    Ntfs,
}

/// A per-task EBS volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceManagedEbsVolumeConfiguration {
    /// Encrypts the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// KMS key for encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// EBS volume type (gp3, io2, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// Size in GiB.
    #[serde(rename = "sizeInGiB", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub size_in_gib: Option<i32>,
    /// Snapshot to create the volume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// MiB/s at which a snapshot is restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_initialization_rate: Option<i32>,
    /// Provisioned IOPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// Provisioned throughput in MiB/s (gp3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i32>,
    /// Tags for the created volumes (ECS tags only `volume` resources; at most 10 entries
    /// here, which bounds the cost of the CRD's validation rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub tag_specifications: Option<Vec<EbsTagSpecification>>,
    /// Role ECS assumes to manage the volume.
    pub role_arn: String,
    /// ext3, ext4, xfs or ntfs.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub filesystem_type: Option<FilesystemType>,
}

/// Tags applied to EBS volumes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EbsTagSpecification {
    /// Always `volume`.
    pub resource_type: String,
    /// Tags to apply, at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub tags: Option<Vec<Tag>>,
    /// Copy tags from TASK_DEFINITION or SERVICE, or NONE.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
}

/// A VPC Lattice target group binding.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpcLatticeConfiguration {
    /// Role ECS assumes for VPC Lattice.
    pub role_arn: String,
    /// VPC Lattice target group ARN.
    pub target_group_arn: String,
    /// Name of the port mapping to register.
    pub port_name: String,
}

/// Observed state of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Generation of the spec this status reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Tasks the scheduler aims to keep running (for DAEMON: one per matching node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Tasks in RUNNING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Tasks in PENDING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Resolved `family:revision` of the primary deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Rollout state of the primary deployment: IN_PROGRESS, COMPLETED or FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<RolloutState>,
    /// Label selector of the service's tasks, for the scale subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The PRIMARY deployment and any ACTIVE ones still being replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["id".into()]))]
    pub deployments: Option<Vec<ServiceDeployment>>,
    /// The service's BLUE_GREEN, LINEAR and CANARY deployments, newest first (at most 10):
    /// source and target revisions, lifecycle stage, traffic weights, hooks and rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_deployments: Option<Vec<super::ServiceDeploymentRecord>>,
    /// Recently stopped tasks, newest first, bounded in length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_tasks: Option<Vec<TaskSummary>>,
    /// The Kubernetes Services that carry the service's traffic: one per load balancer,
    /// service registry and Service Connect port, each for one container port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub kubernetes_services: Option<Vec<TrafficRoute>>,
    /// Running or pending tasks under scale-in protection (ECS UpdateTaskProtection):
    /// neither scale-in nor a deployment stops them until it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_tasks: Option<i32>,
    /// In-place restarts of the running tasks' containers, made by their `restartPolicy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_restarts: Option<i32>,
    /// Availability Zone rebalancing (`availabilityZoneRebalancing`): whether tasks are being
    /// moved to even the zones out, and when the last move started and ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone_rebalancing: Option<RebalancingStatus>,
    /// Fields Berth accepts but does not act on, each `field: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_fields: Option<Vec<String>>,
    /// Standard conditions (`Ready`, `Progressing`, `Degraded`, and `TrafficRouted` when the
    /// service has load balancers, registries or Service Connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Conditions>,
}

/// An Availability Zone rebalancing, as the ECS service events tell it
/// (SERVICE_REBALANCING_STARTED, then SERVICE_REBALANCING_COMPLETED).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalancingStatus {
    /// Tasks are being moved from the zones with the most to those with the fewest.
    pub in_progress: bool,
    /// The node label balanced, when not zones (`rebalanceAcross`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// A Kubernetes Service carrying traffic to one container port of the service's tasks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRoute {
    /// Name of the core Service in the namespace (`<name>.<namespace>.svc` in cluster DNS).
    pub name: String,
    /// What asked for it: `loadBalancers`, `serviceRegistries` or `serviceConnectConfiguration`.
    pub source: TrafficSource,
    /// Kubernetes Service type: ClusterIP, NodePort, LoadBalancer, or Headless (no cluster IP).
    #[serde(rename = "type")]
    pub type_: String,
    /// Container receiving the traffic (none for a portless registry: DNS names only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Container port receiving the traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    /// Port clients connect to on the Kubernetes Service (none for a portless registry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The name ECS clients use (Service Connect client alias or discovery name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// The ECS target: target group ARN, load balancer name or registry ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A test Service (BLUE_GREEN, LINEAR, CANARY): it selects the revision being deployed
    /// from TEST_TRAFFIC_SHIFT on, as ECS's test listener rule does, and production's otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// The spec field a traffic route comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrafficSource {
    LoadBalancers,
    ServiceRegistries,
    ServiceConnectConfiguration,
}

/// Deployment roles.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Primary,
    Active,
}

/// Deployment rollout states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

/// One deployment of the service (ECS Deployment, §2.7).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeployment {
    /// Deployment ID, `ecs-svc/<number>`.
    pub id: String,
    /// PRIMARY (newest) or ACTIVE (older, still being replaced).
    pub status: DeploymentStatus,
    /// `family:revision` this deployment runs.
    pub task_definition: String,
    /// Tasks this deployment should run.
    pub desired_count: i32,
    /// Tasks of this deployment in PENDING.
    pub pending_count: i32,
    /// Tasks of this deployment in RUNNING.
    pub running_count: i32,
    /// Failures counted by the circuit breaker.
    pub failed_tasks: i32,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: RolloutState,
    /// Why the rollout is in this state, in ECS wording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_state_reason: Option<String>,
    /// When the deployment was created.
    pub created_at: Time,
    /// When the deployment last changed.
    pub updated_at: Time,
    /// What the circuit breaker has counted so far, kept between passes
    /// (Berth's; ECS keeps it to itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerProgress>,
}

/// The circuit breaker's memory of one deployment (§2.8).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerProgress {
    /// A task reached RUNNING: start failures no longer count, health-check
    /// failures do (the breaker's second stage).
    #[serde(default)]
    pub task_reached_running: bool,
    /// When the latest task counted as *becoming* healthy did (resetOnHealthyTask
    /// resets on that transition, once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_healthy_task_at: Option<Time>,
}
