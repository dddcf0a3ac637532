//! Task-start throttling (§2.5) over a deployment's tasks: consecutive failed
//! starts, newest first, and how long to wait before the next launch. ECS
//! throttles only tasks that never reached RUNNING; Berth also counts tasks
//! that stop within [`QUICK_EXIT`] of RUNNING, because with no image pull to
//! slow it a crashing container would otherwise be recreated in a hot loop on
//! Kubernetes. As ECS throttles only repeated failures, the first delay comes
//! after [`TOLERATED_FAILURES`] consecutive failed starts; single failures are
//! replaced at once.
use std::time::Duration;

use super::deployment::{QUICK_EXIT, established};
use crate::ecs::scheduler::backoff;
use crate::ecs::task::lifecycle::StopCode;
use crate::ecs::task::observed::Task;

pub const TOLERATED_FAILURES: u32 = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttle {
    pub failures: u32,
    /// How long until the next launch is allowed, when it must wait.
    pub wait: Option<Duration>,
}

/// The throttle of the deployment whose tasks are `tasks`, at `now`.
pub fn throttle<'a>(tasks: impl Iterator<Item = &'a Task>, now: i64) -> Throttle {
    let mut outcomes: Vec<(i64, bool)> = tasks
        .filter_map(|t| {
            let created = t.created_seconds();
            match (&t.state.stop, t.state.last_status) {
                (Some(stop), _) if stop.code == StopCode::TaskFailedToStart || t.lived_less_than(QUICK_EXIT) => Some((created, true)),
                _ if established(t, now) => Some((created, false)),
                _ => None,
            }
        })
        .collect();
    outcomes.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    let failures = outcomes.iter().take_while(|(_, failed)| *failed).count() as u32;
    let last_failure = outcomes.first().filter(|(_, failed)| *failed).map(|(created, _)| *created);
    let wait = last_failure.and_then(|at| {
        let next = at + backoff::start_delay(failures.saturating_sub(TOLERATED_FAILURES)).as_secs() as i64;
        (next > now).then(|| Duration::from_secs((next - now) as u64))
    });
    Throttle { failures, wait }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::plan::testing::TaskBuilder;

    #[test]
    fn two_failures_are_tolerated_the_third_waits_ten_seconds() {
        let failed = |created| TaskBuilder::new("t", created).failed_to_start().build();
        let tasks = [failed(100), failed(110)];
        assert_eq!(throttle(tasks.iter(), 111), Throttle { failures: 2, wait: None });
        let tasks = [failed(100), failed(110), failed(120)];
        assert_eq!(throttle(tasks.iter(), 121), Throttle { failures: 3, wait: Some(Duration::from_secs(9)) });
        // The wait is over once the delay has passed.
        assert_eq!(throttle(tasks.iter(), 130).wait, None);
    }

    #[test]
    fn a_task_that_runs_resets_the_count() {
        let tasks = [
            TaskBuilder::new("a", 100).failed_to_start().build(),
            TaskBuilder::new("b", 110).failed_to_start().build(),
            TaskBuilder::new("c", 120).failed_to_start().build(),
            TaskBuilder::new("d", 130).running_since(131).build(),
        ];
        assert_eq!(throttle(tasks.iter(), 200), Throttle { failures: 0, wait: None });
    }

    #[test]
    fn a_task_running_for_an_instant_does_not_reset_the_count() {
        let failed = |name, created| TaskBuilder::new(name, created).failed_to_start().build();
        let tasks = [failed("a", 100), failed("b", 110), failed("c", 120), TaskBuilder::new("d", 130).running_since(131).build()];
        assert_eq!(throttle(tasks.iter(), 132).failures, 3);
    }
}
