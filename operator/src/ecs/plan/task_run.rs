//! One pass of a TaskRun (ECS RunTask), decided purely: `count` tasks are
//! started once and never replaced; a task whose essential container exits is
//! stopped (§1.7; health never stops a standalone task); the status lists
//! every task with its lastStatus, stop code and exit codes.
use kube::ResourceExt;

use super::conditions::{self, Want};
use super::{Event, Launched, Problem, START_TIMEOUT_REASON};
use crate::api::{TaskRun, TaskRunStatus, TaskSummary};
use crate::ecs::capacity::CapacityStrategy;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{LastStatus, Stop, StopCode};
use crate::ecs::task::observed::Task;

pub struct TaskRunInput<'a> {
    pub run: &'a TaskRun,
    /// The run's task pods.
    pub tasks: &'a [Task],
    /// The capacity provider strategy its tasks follow, if any.
    pub strategy: Option<&'a CapacityStrategy>,
    /// The pass cannot render or place the tasks it would start.
    pub problem: Option<Problem>,
    pub unsupported: &'a [String],
    pub now: i64,
}

/// A task to start: its index in the run (its pod is `<run>-<index>`, so a
/// create that was already done is refused as existing, never doubled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStart {
    pub index: i32,
    pub provider: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct TaskRunPlan {
    pub starts: Vec<RunStart>,
    pub stops: Vec<(String, Stop)>,
    /// When a task still waiting on a dependency reaches its startTimeout, if one does.
    pub look_again: Option<std::time::Duration>,
}

/// How many tasks the run asks for (RunTask's `count`, 1 to 10).
pub fn count(run: &TaskRun) -> i32 {
    run.spec.count.unwrap_or(1).clamp(1, 10)
}

/// The pod name of the run's task number `index`.
pub fn pod_name(run: &TaskRun, index: i32) -> String {
    crate::ecs::render::names::task_pod_name(&run.name_any(), &index.to_string())
}

/// Has the run launched its tasks? Once the status lists them, it never starts any again.
fn launched(run: &TaskRun) -> bool {
    run.status.as_ref().is_some_and(|s| s.tasks.is_some())
}

pub fn plan(input: &TaskRunInput) -> TaskRunPlan {
    let run = input.run;
    let mut stops: Vec<(String, Stop)> = input.tasks.iter().filter(|t| t.needs_stop()).map(|t| (t.name().to_string(), t.state.stop.clone().expect("a task that needs a stop has one"))).collect();
    // A task whose containers wait on a dependency past its startTimeout fails to start.
    let deadlines: Vec<(&Task, i64)> = input.tasks.iter().filter_map(|t| Some((t, t.start_deadline()?))).collect();
    stops.extend(deadlines.iter().filter(|(t, at)| *at <= input.now && !t.needs_stop()).map(|(t, _)| (t.name().to_string(), Stop::new(StopCode::TaskFailedToStart, START_TIMEOUT_REASON))));
    let look_again = deadlines.iter().filter(|(_, at)| *at > input.now).map(|(_, at)| std::time::Duration::from_secs((at - input.now) as u64)).min();
    if launched(run) || input.problem.is_some() {
        return TaskRunPlan { starts: vec![], stops, look_again };
    }
    let count = count(run);
    let providers: Vec<Option<String>> = match input.strategy {
        Some(strategy) => crate::ecs::capacity::split::providers_for_new_tasks(strategy, &Default::default(), count as usize).into_iter().map(Some).collect(),
        None => vec![None; count as usize],
    };
    let starts = (1..=count).zip(providers)
        .filter(|(index, _)| !input.tasks.iter().any(|t| t.name() == pod_name(run, *index)))
        .map(|(index, provider)| RunStart { index, provider })
        .collect();
    TaskRunPlan { starts, stops, look_again }
}

pub struct Outcome {
    pub status: TaskRunStatus,
    pub events: Vec<Event>,
}

impl TaskRunPlan {
    /// The run's next status and events, once its creates are done.
    pub fn outcome(&self, input: &TaskRunInput, launched_now: &Launched) -> Outcome {
        let run = input.run;
        let name = run.name_any();
        let old = run.status.clone().unwrap_or_default();
        let now = conditions::time(input.now);
        let summaries = summarise(input.tasks, old.tasks.as_deref().unwrap_or_default(), &self.stops, &now);
        // The tasks are listed once every one of them exists: until then a refused create is retried.
        let all_exist = (1..=count(run)).all(|i| {
            let pod = pod_name(run, i);
            input.tasks.iter().any(|t| t.name() == pod) || launched_now.created.iter().any(|(p, _)| *p == pod)
        });
        let listed = launched(run) || (input.problem.is_none() && launched_now.refused.is_none() && all_exist);
        let count_of = |s: LastStatus| summaries.iter().filter(|t| t.last_status == Some(s)).count() as i32;
        let (running, stopped) = (count_of(LastStatus::Running), count_of(LastStatus::Stopped));
        let pending = summaries.len() as i32 - running - stopped + launched_now.created.len() as i32;
        let all_stopped = listed && !summaries.is_empty() && stopped == summaries.len() as i32;
        let failed = summaries.iter().filter(|t| {
            t.stop_code == Some(StopCode::TaskFailedToStart) || t.containers.iter().flatten().any(|c| c.exit_code.is_some_and(|code| code != 0))
        }).count();
        let refused = launched_now.refused.as_ref().map(|e| format!("(task run {name}) was unable to launch tasks: the API server refused the task: {e}"));
        let blocking = input.problem.as_ref().map(|p| (p.reason.clone(), p.message.clone())).or_else(|| refused.clone().map(|m| ("TaskLaunchRefused".to_string(), m)));
        let wanted = match &blocking {
            Some((reason, message)) => vec![
                Want { type_: "Ready", status: false, reason, message: message.clone() },
                Want { type_: "Progressing", status: false, reason, message: message.clone() },
                Want { type_: "Degraded", status: true, reason, message: message.clone() },
            ],
            None => vec![
                Want {
                    type_: "Ready",
                    status: all_stopped,
                    reason: if all_stopped { "TasksCompleted" } else { "TasksRunning" },
                    message: format!("{stopped} of {} tasks stopped", summaries.len()),
                },
                Want {
                    type_: "Progressing",
                    status: !all_stopped,
                    reason: if all_stopped { "TasksCompleted" } else { "TasksRunning" },
                    message: format!("{pending} pending, {running} running"),
                },
                Want {
                    type_: "Degraded",
                    status: failed > 0,
                    reason: if failed > 0 { "TasksFailed" } else { "AsExpected" },
                    message: if failed > 0 { format!("{failed} tasks failed to start or exited non-zero") } else { String::new() },
                },
            ],
        };
        let status = TaskRunStatus {
            observed_generation: run.metadata.generation,
            running_count: Some(running),
            pending_count: Some(pending),
            stopped_count: Some(stopped),
            tasks: listed.then_some(summaries),
            unsupported_fields: (!input.unsupported.is_empty()).then(|| input.unsupported.to_vec()),
            conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, run.metadata.generation, &now)),
        };

        let mut events = vec![];
        if !launched_now.created.is_empty() {
            let ids: Vec<String> = launched_now.created.iter().map(|(_, id)| format!("(task {id})")).collect();
            events.push(Event::normal("TasksStarted", format!("(task run {name}) has started {} tasks: {}.", ids.len(), ids.join(" "))));
        }
        for (pod, stop) in &self.stops {
            events.push(Event::warning("TaskStopped", format!("(task run {name}) stopped (task {}). Reason: {} ({})", task_id(input.tasks, pod), stop.reason, crate::api::wire_name(&stop.code))));
        }
        let said = |reason: &str, message: &str| old.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.reason == reason && c.message == message);
        if let Some((reason, message)) = &blocking
            && !said(reason, message)
        {
            events.push(Event::warning(reason, message.clone()));
        }
        let done = |s: &TaskRunStatus| s.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        if done(&status) && !done(&old) {
            events.push(Event::normal("TasksCompleted", format!("(task run {name}) all tasks stopped.")));
        }
        let old_unsupported = old.unsupported_fields.clone().unwrap_or_default();
        if !input.unsupported.is_empty() && old_unsupported != input.unsupported {
            events.push(Event::warning("UnsupportedFields", format!("(task run {name}) Berth accepts but does not act on: {}", input.unsupported.join("; "))));
        }
        Outcome { status, events }
    }
}

fn task_id(tasks: &[Task], pod: &str) -> String {
    tasks.iter().find(|t| t.name() == pod).map_or_else(|| pod.to_string(), Task::task_id)
}

/// One summary per task: from its pod while the pod exists (with the stop
/// this pass makes), else the last one recorded (a task whose pod vanished
/// unrecorded was stopped by a user).
fn summarise(tasks: &[Task], previous: &[TaskSummary], stopping: &[(String, Stop)], now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Vec<TaskSummary> {
    let mut summaries: Vec<TaskSummary> = tasks
        .iter()
        .map(|t| {
            let stopping_now = stopping.iter().find(|(pod, _)| *pod == t.name()).map(|(_, stop)| stop);
            let stopped = t.state.is_stopped();
            let stop = stopping_now.or(t.state.stop.as_ref().filter(|_| stopped));
            let stopped_at = if stopping_now.is_some() { Some(now.clone()) } else { t.finished_at().filter(|_| stopped) };
            TaskSummary {
                task_id: t.label(labels::TASK_ID).unwrap_or_default().to_string(),
                pod_name: Some(t.name().to_string()),
                last_status: Some(if stopping_now.is_some() { LastStatus::Stopping } else { t.state.last_status }),
                stop_code: stop.map(|s| s.code),
                stopped_reason: stop.map(|s| s.reason.clone()),
                stopped_at,
                containers: Some(t.container_outcomes()),
            }
        })
        .collect();
    for old in previous {
        if !summaries.iter().any(|s| s.task_id == old.task_id) {
            let mut gone = old.clone();
            if gone.last_status != Some(LastStatus::Stopped) {
                gone.last_status = Some(LastStatus::Stopped);
                gone.stop_code = Some(StopCode::UserInitiated);
                gone.stopped_reason = Some("Task stopped by user".into());
                gone.stopped_at = Some(now.clone());
            }
            summaries.push(gone);
        }
    }
    summaries.sort_by(|a, b| a.pod_name.cmp(&b.pod_name));
    summaries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::plan::testing::TaskBuilder;

    /// A RunTask task waits on its dependencies no longer than startTimeout either
    /// (API_ContainerDefinition `startTimeout`): then it fails to start.
    #[test]
    fn a_run_task_waiting_past_its_start_timeout_fails_to_start() {
        let run: TaskRun = serde_json::from_value(serde_json::json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskRun",
            "metadata": {"name": "once", "namespace": "ns"}, "spec": {"taskDefinition": "batch:1"}, "status": {"tasks": []}})).unwrap();
        let tasks = [TaskBuilder::new("once-1", 100).on("n1", "a").start_timeout(60, 100).build()];
        let input = |now| TaskRunInput { run: &run, tasks: &tasks, strategy: None, problem: None, unsupported: &[], now };
        let waiting = plan(&input(150));
        assert_eq!((waiting.stops.len(), waiting.look_again), (0, Some(std::time::Duration::from_secs(10))));
        let failed = plan(&input(160));
        assert_eq!(failed.stops, vec![("once-1".to_string(), Stop::new(StopCode::TaskFailedToStart, START_TIMEOUT_REASON))]);
    }
}
