//! The service scheduler's decisions, pure (ecs-semantics §2.2-2.5, §2.10):
//! how many tasks to start, which to stop, where daemon tasks go, how long to
//! wait after failed starts. Controllers feed it observed tasks and act on
//! the plan.
pub mod backoff;
pub mod daemon;
pub mod expectations;
pub mod rebalance;
pub mod replica;

/// What the scheduler knows of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    pub name: String,
    pub node: Option<String>,
    pub zone: Option<String>,
    /// The capacity provider the task was placed on, if any.
    pub provider: Option<String>,
    /// Not yet RUNNING (provisioning or pending).
    pub pending: bool,
    /// Counts as healthy (§2.4).
    pub healthy: bool,
    /// Creation time in seconds; among equals the newest is stopped first.
    pub created: i64,
}
