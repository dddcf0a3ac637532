//! One pass of each owner, decided purely: the controllers gather plain
//! inputs (the owner, its tasks with their node facts, one `now`), call the
//! planner, execute the plan it returns and write the status it computes.
//!
//! A pass is observe → validate → plan → act → status. Validation (rendering
//! and placing what the pass would start) happens in the controller, before
//! planning; a failure reaches the planner as a [`Problem`], and a plan made
//! with a problem stops nothing and starts nothing.
pub mod conditions;
pub mod deployment;
pub mod lifecycle;
pub mod repeats;
pub mod service;
pub mod task_run;
pub mod throttle;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod testing;

use std::time::Duration;

/// Why a pass cannot act: the reason (a condition reason and event reason)
/// and a message naming the field, in ECS wording where ECS has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub message: String,
}

impl Problem {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { reason: reason.into(), message: message.into() }
    }
}

/// An event the pass publishes on its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &str, message: impl Into<String>) -> Event {
        Event { warning: false, reason: reason.into(), message: message.into() }
    }

    pub fn warning(reason: &str, message: impl Into<String>) -> Event {
        Event { warning: true, reason: reason.into(), message: message.into() }
    }
}

/// The stopped reason of a task whose containers waited on a dependency past its startTimeout.
pub const START_TIMEOUT_REASON: &str = "Task failed to start: a container dependency did not reach its condition within startTimeout";

/// The operator's settings that shape the plans.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A task whose node is NotReady or gone this long is replaced.
    pub node_lost_grace: Duration,
    /// Stopped task pods kept per owner as records, and for how long.
    pub stopped_task_retention: usize,
    pub stopped_task_ttl: Duration,
    /// A task kube-scheduler cannot place this long fails to start (ECS counts
    /// a task it cannot launch as a failure); a Deployment's default
    /// progressDeadlineSeconds.
    pub placement_timeout: Duration,
    /// Tasks one pass creates at most (kube-controller-manager's ReplicaSet
    /// controller creates at most 500 pods per sync); the pass requeues for more.
    pub max_starts_per_pass: usize,
    /// Seconds in a minute of a bake time or hook timeout: 60, fewer only under a test knob.
    pub deployment_minute: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            node_lost_grace: Duration::from_secs(30),
            placement_timeout: Duration::from_secs(600),
            stopped_task_retention: 10,
            stopped_task_ttl: Duration::from_secs(3600),
            max_starts_per_pass: 500,
            deployment_minute: 60,
        }
    }
}

/// What the pass's creates came to: the tasks created (pod name and task
/// id), and the API server's refusal that ended them, if any.
#[derive(Clone, Debug, Default)]
pub struct Launched {
    pub created: Vec<(String, String)>,
    pub refused: Option<String>,
}
