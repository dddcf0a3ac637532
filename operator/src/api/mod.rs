//! Berth's API, group `berth.dev` version `v1alpha1`: the custom resource types and the CRD
//! manifests generated from them.

// Clippy reads repeated `type_ = ...` keys of separate `printcolumn(...)` entries in
// `#[kube(...)]` as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod capacity_provider;
mod common;
mod container;
mod deployment;
mod described;
pub mod manifests;
mod rules;
mod service;
mod service_connect;
mod service_deployment;
mod task_definition;
mod task_run;
mod task_schedule;
mod task_status;
mod unset;
mod volume;

pub use capacity_provider::*;
pub use common::*;
pub use rules::{is_fargate_task_size, schedule_expression_pattern};
pub use container::*;
pub use deployment::*;
pub use described::*;
pub use service::*;
pub use service_connect::*;
pub use service_deployment::*;
pub use task_definition::*;
pub use task_run::*;
pub use task_schedule::*;
pub use task_status::*;
pub use volume::*;
