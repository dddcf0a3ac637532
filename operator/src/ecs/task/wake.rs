//! How soon a change to a task's pod needs a pass of its owner. A task that ends, fails,
//! turns unready or is gone is acted on at once: it may need a replacement. A task that
//! only moves forward (seen after its create, scheduled, running, ready) changes no
//! decision but the counts in the owner's status, and a Service of 1,000 tasks starting
//! up sees about 4,000 such changes: its owner looks at them together, a moment later,
//! rather than passing over every task once for each.
use std::time::Duration;

use super::lifecycle::{LastStatus, TaskState};

/// How long forward progress may wait for its owner's pass. Short beside the seconds a
/// task takes to start, long beside one pass over a thousand tasks.
pub const PROGRESS_WAIT: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The owner may have to act: a pass now.
    Now,
    /// Only progress: a pass within [`PROGRESS_WAIT`].
    Soon,
}

/// The wake a pod's change calls for, from what its task was (`None`: not seen before)
/// and is (`None`: the pod is gone).
pub fn wake(before: Option<&TaskState>, after: Option<&TaskState>) -> Wake {
    match (before, after) {
        (_, None) => Wake::Now,
        (None, Some(after)) => if after.is_active() { Wake::Soon } else { Wake::Now },
        // A stopped task's record or delete landing: the pass that stopped it counted it.
        (Some(before), Some(after)) if !before.is_active() && !after.is_active() => Wake::Soon,
        (Some(before), Some(after)) => if after.is_active() && forward(before, after) { Wake::Soon } else { Wake::Now },
    }
}

/// Nothing went back: not its status, not its readiness, not a container's start, exit or restarts.
fn forward(before: &TaskState, after: &TaskState) -> bool {
    let rank = |s: LastStatus| s as u8;
    let containers = before.containers.len() == after.containers.len()
        && before.containers.iter().zip(&after.containers).all(|(b, a)| {
            b.name == a.name && a.started >= b.started && a.exit_code == b.exit_code && a.restarts == b.restarts && a.reason.is_none()
        });
    rank(after.last_status) >= rank(before.last_status) && after.ready >= before.ready && containers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::plan::testing::TaskBuilder;

    fn state(task: TaskBuilder) -> TaskState {
        (*task.build().state).clone()
    }

    #[test]
    fn a_task_moving_forward_waits_and_a_task_in_trouble_does_not() {
        let created = state(TaskBuilder::new("t", 0));
        let scheduled = state(TaskBuilder::new("t", 0).on("n1", "a"));
        let running = state(TaskBuilder::new("t", 0).running_since(10).unready_since(10));
        let ready = state(TaskBuilder::new("t", 0).running_since(10));
        let exited = state(TaskBuilder::new("t", 0).exited(1, 10, 20));
        let ended = state(TaskBuilder::new("t", 0).ended(1, 10, 20));
        let failing = state(TaskBuilder::new("t", 0).failed_to_start());

        assert_eq!(wake(None, Some(&created)), Wake::Soon, "its own create seen");
        assert_eq!(wake(Some(&created), Some(&scheduled)), Wake::Soon);
        assert_eq!(wake(Some(&scheduled), Some(&running)), Wake::Soon);
        assert_eq!(wake(Some(&running), Some(&ready)), Wake::Soon);
        assert_eq!(wake(Some(&ready), Some(&ready)), Wake::Soon, "a change the task does not show");

        assert_eq!(wake(Some(&ready), Some(&running)), Wake::Now, "readiness lost: its health may fail");
        assert_eq!(wake(Some(&running), Some(&exited)), Wake::Now, "an essential container exited");
        assert_eq!(wake(Some(&running), Some(&ended)), Wake::Now);
        assert_eq!(wake(Some(&running), None), Wake::Now, "the pod is gone");
        assert_eq!(wake(Some(&scheduled), Some(&failing)), Wake::Now, "its image cannot be pulled");
        assert_eq!(wake(None, Some(&ended)), Wake::Now, "first seen already ended");
        assert_eq!(wake(Some(&ended), Some(&ended)), Wake::Soon, "its record landing");
    }
}
