//! Berth: an Amazon ECS-style operator for Kubernetes.
//!
//! - [`api`]: the custom resources (ECS's JSON, field for field).
//! - [`ecs`]: the pure ECS core: rendering, placement, the service scheduler's plan.
//! - [`controller`]: the Kubernetes adapters: observe, call the core, act, write status.
//! - [`runtime`]: client, leader election, HTTP endpoints and metrics.
//! - [`import`]: `berth import`, from AWS CLI JSON to manifests.
//! - [`cli`]: the `berth` command line (`kubectl ecs`): the AWS CLI's ECS verbs, plan, advise.

pub mod api;
pub mod cli;
pub mod controller;
pub mod ecs;
pub mod import;
pub mod runtime;
