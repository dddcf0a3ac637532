//! `CapacityProvider`: a named pool of nodes tasks can be placed on (ecs-semantics §2.11).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Conditions;

/// A pool of nodes, selected by labels and tolerated taints, that capacity provider
/// strategies and launch types refer to by name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "CapacityProvider",
    doc = "A named pool of nodes (node selector and tolerations) that tasks are placed on, of type EC2 or FARGATE.",
    status = "CapacityProviderStatus",
    shortname = "capprov",
    category = "ecs",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Ready Nodes", type_ = "integer", json_path = ".status.readyNodes"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderSpec {
    /// EC2 (nodes Berth places onto with the full placement rules) or FARGATE (isolated
    /// per-task capacity: awsvpc only, zone spread only, no daemons or privileged containers).
    #[serde(rename = "type")]
    pub type_: CapacityProviderType,
    /// Labels a node must carry to belong to this provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Taints of this provider's nodes that its tasks tolerate (Kubernetes tolerations).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(t, !has(t.operator) || t.operator in ['Exists', 'Equal'])")
        .message("tolerations[].operator must be Exists or Equal"))]
    #[x_kube(validation = Rule::new("self.all(t, !has(t.effect) || t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])")
        .message("tolerations[].effect must be NoSchedule, PreferNoSchedule or NoExecute"))]
    pub tolerations: Option<Vec<Toleration>>,
    /// RuntimeClass for tasks on this provider (for example a sandboxed runtime for FARGATE).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub runtime_class_name: Option<String>,
}

/// Capacity provider types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapacityProviderType {
    #[serde(rename = "EC2")]
    Ec2,
    Fargate,
}

/// Observed state of a capacity provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStatus {
    /// Generation of the spec this status reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Nodes whose labels and taints admit this provider's tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching_nodes: Option<i32>,
    /// Of those, the ones Ready and schedulable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_nodes: Option<i32>,
    /// Standard conditions (`Ready`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Conditions>,
}
