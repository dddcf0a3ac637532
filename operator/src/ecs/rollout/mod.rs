//! Rollout arithmetic of the ECS service scheduler: the `minimumHealthyPercent` /
//! `maximumPercent` bounds (§2.6), task health as the scheduler counts it (§2.4), one
//! reconcile pass of a rolling deployment, and the deployment circuit breaker (§2.8).
//!
//! Pure functions over counts: the service controller observes pods, calls these, and acts.

pub mod bounds;
pub mod circuit_breaker;
pub mod health;
pub mod step;
pub mod strategy;

#[cfg(test)]
mod properties;

pub use bounds::{DeploymentBounds, SchedulingStrategy, max_tasks, min_healthy};
pub use circuit_breaker::{
    CircuitBreakerPolicy, CircuitBreakerState, FailureThreshold, TaskEvent,
    deployment_failed_message,
};
pub use health::{HealthCheckStatus, TaskHealth, TaskHealthInput, task_health};
pub use step::{
    DeploymentTasks, OldDeploymentStops, RolloutStep, plan_rollout_step, stuck_message,
};
