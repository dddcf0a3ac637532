//! The deployment circuit breaker (§2.8): count failed tasks of one deployment and trip
//! at a threshold derived from the desired count.

/// `deploymentCircuitBreaker.thresholdConfiguration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureThreshold {
    /// `ceil(value% × D)` clamped to [3, 200]. The default, with value 50.
    BoundedPercent(u32),
    /// Exactly `value` failed tasks.
    Count(u32),
    /// `ceil(value% × D)`, unclamped.
    UnboundedPercent(u32),
}

impl Default for FailureThreshold {
    fn default() -> Self {
        Self::BoundedPercent(50)
    }
}

const BOUNDED_MINIMUM: u64 = 3;
const BOUNDED_MAXIMUM: u64 = 200;

impl FailureThreshold {
    /// Failed tasks that trip the breaker for the latest desired count. Never below 1: a
    /// breaker that trips before any failure would fail every deployment at once.
    pub fn for_desired_count(self, desired: u32) -> u32 {
        let percent_of_desired =
            |percent: u32| (u64::from(percent) * u64::from(desired)).div_ceil(100);
        let threshold = match self {
            Self::BoundedPercent(percent) => {
                percent_of_desired(percent).clamp(BOUNDED_MINIMUM, BOUNDED_MAXIMUM)
            }
            Self::Count(count) => u64::from(count),
            Self::UnboundedPercent(percent) => percent_of_desired(percent),
        };
        u32::try_from(threshold.max(1)).unwrap_or(u32::MAX)
    }
}

/// The breaker's settings from `deploymentCircuitBreaker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreakerPolicy {
    pub threshold: FailureThreshold,
    /// The "consecutive" model (ECS default): any healthy task resets the count.
    pub reset_on_healthy_task: bool,
}

impl Default for CircuitBreakerPolicy {
    fn default() -> Self {
        Self {
            threshold: FailureThreshold::default(),
            reset_on_healthy_task: true,
        }
    }
}

/// Something that happened to a task of the monitored deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskEvent {
    /// The task reached RUNNING: from now on start failures no longer count (stage 2).
    ReachedRunning,
    /// The task could not be launched or stopped before reaching RUNNING.
    FailedToStart,
    /// The task was stopped for failing its container (or load balancer) health checks.
    FailedHealthChecks,
    /// The task became healthy (§2.4).
    BecameHealthy,
}

/// The breaker's memory for one deployment; small enough to live in the Service status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CircuitBreakerState {
    /// Failures counted so far (the deployment's `failedTasks`).
    pub failed_tasks: u32,
    /// Some task of the deployment has reached RUNNING (stage 2 of the counting).
    pub task_reached_running: bool,
    /// The breaker has tripped: the deployment is FAILED and launches no more tasks. Final.
    pub tripped: bool,
}

impl CircuitBreakerState {
    /// The state after `event`, for the deployment's latest desired count.
    ///
    /// Stage 1 counts start failures until some task reaches RUNNING; stage 2 counts
    /// health-check stops. A health-check failure implies the task ran, so it also moves
    /// the breaker to stage 2.
    pub fn record(self, event: TaskEvent, policy: &CircuitBreakerPolicy, desired: u32) -> Self {
        if self.tripped {
            return self;
        }
        let mut next = self;
        match event {
            TaskEvent::ReachedRunning => next.task_reached_running = true,
            TaskEvent::FailedToStart if !self.task_reached_running => {
                next.failed_tasks = self.failed_tasks.saturating_add(1)
            }
            TaskEvent::FailedToStart => {}
            TaskEvent::FailedHealthChecks => {
                next.task_reached_running = true;
                next.failed_tasks = self.failed_tasks.saturating_add(1);
            }
            TaskEvent::BecameHealthy if policy.reset_on_healthy_task => next.failed_tasks = 0,
            TaskEvent::BecameHealthy => {}
        }
        next.tripped = next.failed_tasks >= policy.threshold.for_desired_count(desired);
        next
    }
}

/// The ECS service event when the breaker trips.
pub fn deployment_failed_message(service: &str, deployment_id: &str) -> String {
    format!(
        "(service {service}) (deployment {deployment_id}) deployment failed: tasks failed to start."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threshold_matches_the_documented_examples() {
        let default = FailureThreshold::default();
        assert_eq!(default.for_desired_count(1), 3);
        assert_eq!(default.for_desired_count(25), 13);
        assert_eq!(default.for_desired_count(400), 200);
        assert_eq!(default.for_desired_count(5000), 200);
        assert_eq!(default.for_desired_count(0), 3);
    }

    #[test]
    fn count_and_unbounded_thresholds() {
        assert_eq!(FailureThreshold::Count(7).for_desired_count(1000), 7);
        assert_eq!(
            FailureThreshold::UnboundedPercent(50).for_desired_count(1000),
            500
        );
        assert_eq!(
            FailureThreshold::UnboundedPercent(50).for_desired_count(1),
            1
        );
        assert_eq!(
            FailureThreshold::UnboundedPercent(10).for_desired_count(0),
            1,
            "never zero"
        );
        assert_eq!(
            FailureThreshold::Count(0).for_desired_count(5),
            1,
            "never zero"
        );
    }

    fn replay(
        events: &[TaskEvent],
        policy: &CircuitBreakerPolicy,
        desired: u32,
    ) -> CircuitBreakerState {
        events
            .iter()
            .fold(CircuitBreakerState::default(), |state, &event| {
                state.record(event, policy, desired)
            })
    }

    #[test]
    fn single_task_service_trips_after_three_start_failures() {
        let policy = CircuitBreakerPolicy::default();
        let two = replay(&[TaskEvent::FailedToStart; 2], &policy, 1);
        assert_eq!((two.failed_tasks, two.tripped), (2, false));
        let three = two.record(TaskEvent::FailedToStart, &policy, 1);
        assert_eq!((three.failed_tasks, three.tripped), (3, true));
    }

    #[test]
    fn start_failures_stop_counting_once_a_task_runs() {
        let policy = CircuitBreakerPolicy::default();
        let state = replay(
            &[
                TaskEvent::ReachedRunning,
                TaskEvent::FailedToStart,
                TaskEvent::FailedToStart,
                TaskEvent::FailedToStart,
            ],
            &policy,
            1,
        );
        assert_eq!((state.failed_tasks, state.tripped), (0, false));
    }

    #[test]
    fn health_check_failures_count_in_stage_two() {
        let policy = CircuitBreakerPolicy::default();
        let state = replay(
            &[
                TaskEvent::ReachedRunning,
                TaskEvent::FailedHealthChecks,
                TaskEvent::FailedHealthChecks,
                TaskEvent::FailedHealthChecks,
            ],
            &policy,
            2,
        );
        assert!(state.tripped);
    }

    #[test]
    fn healthy_task_resets_in_the_consecutive_model_only() {
        let events = [
            TaskEvent::FailedToStart,
            TaskEvent::FailedToStart,
            TaskEvent::BecameHealthy,
            TaskEvent::FailedHealthChecks,
        ];
        let consecutive = replay(&events, &CircuitBreakerPolicy::default(), 1);
        assert_eq!((consecutive.failed_tasks, consecutive.tripped), (1, false));
        let cumulative = replay(
            &events,
            &CircuitBreakerPolicy {
                reset_on_healthy_task: false,
                ..Default::default()
            },
            1,
        );
        assert_eq!((cumulative.failed_tasks, cumulative.tripped), (3, true));
    }

    #[test]
    fn tripped_is_final() {
        let policy = CircuitBreakerPolicy {
            threshold: FailureThreshold::Count(1),
            reset_on_healthy_task: true,
        };
        let tripped = replay(
            &[TaskEvent::FailedToStart, TaskEvent::BecameHealthy],
            &policy,
            1,
        );
        assert_eq!((tripped.failed_tasks, tripped.tripped), (1, true));
    }

    #[test]
    fn threshold_follows_the_latest_desired_count() {
        let policy = CircuitBreakerPolicy::default();
        let state = replay(&[TaskEvent::FailedToStart; 3], &policy, 10);
        assert!(!state.tripped, "threshold for D=10 is 5");
        assert!(
            state.record(TaskEvent::FailedToStart, &policy, 1).tripped,
            "D lowered to 1: threshold 3"
        );
    }

    #[test]
    fn failed_event_wording() {
        assert_eq!(
            deployment_failed_message("web", "ecs-svc/1234567890123456789"),
            "(service web) (deployment ecs-svc/1234567890123456789) deployment failed: tasks failed to start."
        );
    }
}
