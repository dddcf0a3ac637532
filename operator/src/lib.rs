//! Berth: an Amazon ECS-style operator for Kubernetes.

pub mod api;
pub mod import;
pub mod rollout;
pub mod capacity;
pub mod client;
pub mod controller;
pub mod scheduler;
pub mod task;
pub mod placement;
pub mod render;
pub mod traffic;
