//! One pass of a TaskSchedule, decided purely from the schedule, its TaskRuns, what the
//! controller could not validate, and one `now`: which scheduled times are due and start a
//! TaskRun, which fail and are retried or dropped by the retry policy, which finished
//! TaskRuns leave the history, the next status and the events.
//!
//! Exactly once: every scheduled time up to `status.scheduledThrough` is done and never
//! starts again; a due time's TaskRun is named after the schedule and the time, so a create
//! repeated after a crash (before the status was written) meets the existing run instead of
//! starting a second one.
use kube::ResourceExt;

use super::expression::{Expression, Schedule};
use crate::api::{
    ActionAfterCompletion, EnabledState, FlexibleTimeWindowMode, InvocationRetry, RunOutcome,
    ScheduledRun, TaskRun, TaskSchedule, TaskScheduleStatus,
};
use crate::ecs::plan::conditions::{self, Want};
use crate::ecs::plan::{Event, Problem};
use crate::ecs::render::names::{dns_label, fnv1a};

/// EventBridge Scheduler's retry policy defaults (CreateSchedule RetryPolicy).
const DEFAULT_MAXIMUM_EVENT_AGE: i64 = 86_400;
const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: i32 = 185;
/// Finished TaskRuns kept per schedule, and invocations listed in `status.lastRuns`.
pub const HISTORY_LIMIT: usize = 10;
/// Invocations one pass starts at most (catching up after downtime); the pass requeues for more.
const MAX_STARTS_PER_PASS: usize = 20;
/// Retries wait 1 s, 2 s, 4 s, ... up to 5 minutes (schedule time).
const MAX_RETRY_WAIT: i64 = 300;

/// Schedule time runs `scale` times as fast as real time from the schedule's creation, so an
/// end-to-end test sees a minute's schedule in a second. `scale` is 1 outside tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub origin_ms: i64,
    pub scale: i64,
}

impl Clock {
    /// The schedule's time (Unix seconds) at the real time `real_ms`.
    pub fn schedule_second(&self, real_ms: i64) -> i64 {
        (self.origin_ms + (real_ms - self.origin_ms) * self.scale).div_euclid(1000)
    }

    /// The real time (Unix milliseconds) at which the schedule's time reaches `second`.
    pub fn real_ms(&self, second: i64) -> i64 {
        self.origin_ms + (second * 1000 - self.origin_ms + self.scale - 1).div_euclid(self.scale)
    }
}

/// A TaskRun the schedule started: its name, its scheduled time, how it is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRun {
    pub name: String,
    pub scheduled: i64,
    pub outcome: RunOutcome,
}

/// How a TaskRun is doing, from its conditions.
pub fn run_outcome(run: &TaskRun) -> RunOutcome {
    let holds = |type_: &str| run.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == type_ && c.status == "True");
    if holds("Degraded") {
        RunOutcome::Failed
    } else if holds("Ready") {
        RunOutcome::Succeeded
    } else {
        RunOutcome::Running
    }
}

/// The TaskRun of the invocation scheduled at `scheduled`: the schedule's name and the
/// scheduled minute. Its tasks' pods take the first 50 characters of a TaskRun's name, so the
/// name stays within 50; a longer schedule name is cut and gets a hash of the whole.
pub fn task_run_name(schedule: &str, scheduled: i64) -> String {
    let suffix = format!("-{}", scheduled.div_euclid(60));
    let room = 50 - suffix.len();
    let base = dns_label(schedule);
    let base = if base.len() <= room {
        base
    } else {
        format!("{}-{:06x}", base[..room - 7].trim_end_matches('-'), fnv1a(schedule) & 0xff_ffff)
    };
    format!("{base}{suffix}")
}

pub struct ScheduleInput<'a> {
    pub schedule: &'a TaskSchedule,
    /// The TaskRuns the schedule started (owned, labelled), with their scheduled times.
    pub runs: &'a [OwnedRun],
    /// The target cannot be started (the controller's validation of the RunTask it would make).
    pub problem: Option<Problem>,
    pub unsupported: &'a [String],
    pub clock: Clock,
    pub now_ms: i64,
}

/// An invocation to start now: its scheduled time, its TaskRun, the attempts before this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub scheduled: i64,
    pub task_run: String,
    attempts: i32,
}

/// What the pass decided before acting.
#[derive(Clone, Debug, Default)]
pub struct SchedulePlan {
    pub starts: Vec<Invocation>,
    /// Finished TaskRuns beyond the history limit, oldest first.
    pub trims: Vec<String>,
    /// Scheduled times handled before the starts (dropped, or started by an earlier pass).
    through: Option<i64>,
    last_started: Option<i64>,
    dropped: Vec<(i64, String)>,
    retry: Option<InvocationRetry>,
    /// When the pass wants to run again (schedule time), without starts to act on.
    wake: Option<i64>,
    schedule: Option<Schedule>,
    /// The spec itself cannot be read (expression, time zone, dates).
    invalid: Option<Problem>,
}

/// What the starts came to: how many were made (or existed), in order, and the API server's
/// refusal of the next, if any.
#[derive(Clone, Debug, Default)]
pub struct Invoked {
    pub started: usize,
    pub refused: Option<String>,
}

pub struct ScheduleOutcome {
    pub status: TaskScheduleStatus,
    pub events: Vec<Event>,
    /// When the next pass is due (real Unix milliseconds); none: only a change wakes it.
    pub wake_at_ms: Option<i64>,
    /// actionAfterCompletion DELETE, and the schedule has completed.
    pub delete_schedule: bool,
}

fn seconds(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    time.0.as_second()
}

fn shown(second: i64) -> String {
    conditions::time(second).0.to_string()
}

/// The spec's times as a [`Schedule`], or why they cannot be read, naming the field.
fn read_schedule(schedule: &TaskSchedule, anchor: i64) -> Result<Schedule, Problem> {
    let spec = &schedule.spec;
    let name = schedule.name_any();
    let expression = Expression::parse(&spec.schedule_expression).map_err(|why| {
        Problem::new("InvalidScheduleExpression", format!("(schedule {name}) scheduleExpression: Invalid Schedule Expression {}: {why}", spec.schedule_expression))
    })?;
    let time_zone = Schedule::time_zone(spec.schedule_expression_timezone.as_deref())
        .map_err(|why| Problem::new("InvalidTimezone", format!("(schedule {name}) scheduleExpressionTimezone: {why}")))?;
    let (start, end) = (spec.start_date.as_ref().map(seconds), spec.end_date.as_ref().map(seconds));
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        return Err(Problem::new("InvalidEndDate", format!("(schedule {name}) endDate: {} is not after startDate {}", shown(end), shown(start))));
    }
    Ok(Schedule { expression, time_zone, start, end, anchor })
}

/// A failed attempt at the invocation for `scheduled`: retried later, or dropped once it
/// has used up `maximumRetryAttempts`.
fn failed(scheduled: i64, attempts_before: i32, error: &str, now: i64, max_retries: i32) -> Result<InvocationRetry, String> {
    let attempts = attempts_before + 1;
    if attempts > max_retries {
        return Err(format!("it failed {attempts} times, the retry policy's maximumRetryAttempts is {max_retries}: {error}"));
    }
    let wait = 1i64.checked_shl(attempts as u32 - 1).unwrap_or(MAX_RETRY_WAIT).min(MAX_RETRY_WAIT);
    Ok(InvocationRetry { scheduled_time: conditions::time(scheduled), attempts, next_attempt_time: conditions::time(now + wait), last_error: error.to_string() })
}

pub fn plan(input: &ScheduleInput) -> SchedulePlan {
    let schedule = input.schedule;
    let spec = &schedule.spec;
    let name = schedule.name_any();
    let old = schedule.status.clone().unwrap_or_default();
    let created = input.clock.origin_ms.div_euclid(1000);
    let now = input.clock.schedule_second(input.now_ms);
    let mut plan = SchedulePlan::default();

    // History: finished runs already behind the cursor, beyond the newest HISTORY_LIMIT.
    let old_through = old.scheduled_through.as_ref().map(seconds);
    let mut finished: Vec<&OwnedRun> = input.runs.iter()
        .filter(|r| r.outcome != RunOutcome::Running && old_through.is_some_and(|t| r.scheduled <= t))
        .collect();
    finished.sort_by_key(|r| std::cmp::Reverse(r.scheduled));
    plan.trims = finished.iter().skip(HISTORY_LIMIT).rev().map(|r| r.name.clone()).collect();

    let readable = read_schedule(schedule, created);
    let times = match readable {
        Err(problem) => {
            plan.invalid = Some(problem);
            return plan;
        }
        Ok(times) => times,
    };
    // An edit (or disabling and enabling again) does not catch up what was missed before it.
    let edited = old.observed_generation.is_some() && old.observed_generation != schedule.metadata.generation;
    let mut through = old_through.unwrap_or(created - 1);
    let mut retry = old.retry.clone();
    if edited {
        through = through.max(now);
        retry = None;
    }
    let disabled = spec.state == Some(EnabledState::Disabled);
    let policy = spec.target.retry_policy.as_ref();
    let max_age = policy.and_then(|p| p.maximum_event_age_in_seconds).map_or(DEFAULT_MAXIMUM_EVENT_AGE, i64::from);
    let max_retries = policy.and_then(|p| p.maximum_retry_attempts).unwrap_or(DEFAULT_MAXIMUM_RETRY_ATTEMPTS);
    let window = spec.flexible_time_window.as_ref()
        .filter(|w| w.mode == FlexibleTimeWindowMode::Flexible)
        .and_then(|w| w.maximum_window_in_minutes)
        .map_or(0, |minutes| i64::from(minutes) * 60);
    // Spread within the window, the same for a given time on every pass and every replica.
    let start_at = |t: i64| if window == 0 { t } else { t + (fnv1a(&format!("{}/{name}@{t}", schedule.namespace().unwrap_or_default())) % window as u64) as i64 };

    if !disabled {
        // Times older than maximumEventAgeInSeconds are dropped together, unstarted.
        if let Some(first) = times.next_after(through).filter(|t| now - *t > max_age) {
            let newest_too_old = now - max_age - 1;
            plan.dropped.push((first, format!("it was older than the retry policy's maximumEventAgeInSeconds ({max_age}), as was every time up to {}", shown(newest_too_old))));
            through = newest_too_old;
            retry = None;
        }
        let mut cursor = through;
        loop {
            if plan.starts.len() == MAX_STARTS_PER_PASS {
                plan.wake = Some(now);
                break;
            }
            let Some(t) = times.next_after(cursor) else { break };
            if start_at(t) > now {
                plan.wake = Some(start_at(t));
                break;
            }
            let task_run = task_run_name(&name, t);
            let attempts = retry.as_ref().filter(|r| seconds(&r.scheduled_time) == t).map_or(0, |r| r.attempts);
            if input.runs.iter().any(|r| r.name == task_run) {
                // Started by an earlier pass whose status write was lost.
                plan.last_started = Some(t);
                retry = retry.filter(|r| seconds(&r.scheduled_time) != t);
            } else if let Some(waiting) = retry.as_ref().filter(|r| seconds(&r.scheduled_time) == t && seconds(&r.next_attempt_time) > now) {
                plan.wake = Some(seconds(&waiting.next_attempt_time));
                break;
            } else if let Some(problem) = &input.problem {
                match failed(t, attempts, &problem.message, now, max_retries) {
                    Ok(next) => {
                        plan.wake = Some(seconds(&next.next_attempt_time));
                        retry = Some(next);
                        break;
                    }
                    Err(why) => {
                        plan.dropped.push((t, why));
                        retry = None;
                    }
                }
            } else {
                plan.starts.push(Invocation { scheduled: t, task_run, attempts });
                cursor = t;
                continue;
            }
            cursor = t;
            if plan.starts.is_empty() {
                through = t;
            }
        }
    }
    plan.through = Some(through);
    plan.retry = retry;
    plan.schedule = Some(times);
    plan
}

impl SchedulePlan {
    /// The schedule's next status and events once the starts were made.
    pub fn outcome(&self, input: &ScheduleInput, invoked: &Invoked) -> ScheduleOutcome {
        let schedule = input.schedule;
        let spec = &schedule.spec;
        let name = schedule.name_any();
        let old = schedule.status.clone().unwrap_or_default();
        let now = input.clock.schedule_second(input.now_ms);
        let disabled = spec.state == Some(EnabledState::Disabled);
        let mut events = vec![];
        let mut through = self.through;
        let mut last_started = self.last_started.or(old.last_scheduled_time.as_ref().map(seconds));
        let mut retry = self.retry.clone();
        let mut dropped = self.dropped.clone();
        let mut wake = self.wake;

        for invocation in &self.starts[..invoked.started.min(self.starts.len())] {
            through = Some(invocation.scheduled);
            last_started = Some(invocation.scheduled);
            retry = None;
            events.push(Event::normal("TargetInvoked", format!("(schedule {name}) invoked its target for {}: started TaskRun {}.", shown(invocation.scheduled), invocation.task_run)));
        }
        if let (Some(error), Some(refused)) = (&invoked.refused, self.starts.get(invoked.started)) {
            let max_retries = spec.target.retry_policy.as_ref().and_then(|p| p.maximum_retry_attempts).unwrap_or(DEFAULT_MAXIMUM_RETRY_ATTEMPTS);
            match failed(refused.scheduled, refused.attempts, &format!("the API server refused TaskRun {}: {error}", refused.task_run), now, max_retries) {
                Ok(next) => {
                    wake = Some(seconds(&next.next_attempt_time));
                    retry = Some(next);
                }
                Err(why) => {
                    through = Some(refused.scheduled);
                    dropped.push((refused.scheduled, why));
                    retry = None;
                    wake = Some(now);
                }
            }
        }
        if let Some(r) = retry.as_ref().filter(|r| Some(*r) != old.retry.as_ref()) {
            events.push(Event::warning("InvocationFailed", format!(
                "(schedule {name}) failed to invoke its target for {} (attempt {}): {}; retrying at {}.",
                shown(seconds(&r.scheduled_time)), r.attempts, r.last_error, shown(seconds(&r.next_attempt_time)))));
        }
        for (t, why) in &dropped {
            events.push(Event::warning("InvocationDropped", format!("(schedule {name}) dropped the invocation scheduled for {}: {why}.", shown(*t))));
        }

        let next = match (&retry, &self.schedule) {
            (Some(r), _) => Some(seconds(&r.scheduled_time)),
            (None, Some(times)) if !disabled => through.and_then(|t| times.next_after(t)),
            _ => None,
        };
        let completed = self.schedule.is_some() && !disabled && retry.is_none() && next.is_none();
        let blocking = self.invalid.clone().or_else(|| input.problem.clone());
        let next_shown = next.map_or_else(|| "none".to_string(), shown);
        let (ready, reason, message) = match (&blocking, &retry) {
            (Some(problem), _) => (false, problem.reason.clone(), problem.message.clone()),
            (None, Some(r)) => (false, "InvocationFailed".to_string(), format!("(schedule {name}) retrying the invocation scheduled for {}: {}", shown(seconds(&r.scheduled_time)), r.last_error)),
            (None, None) if disabled => (true, "Disabled".to_string(), format!("(schedule {name}) state is DISABLED: no invocations")),
            (None, None) if completed => (true, "Completed".to_string(), format!("(schedule {name}) has no more scheduled times")),
            (None, None) => (true, "Scheduled".to_string(), format!("(schedule {name}) next invocation at {next_shown}")),
        };
        let wanted = vec![
            Want { type_: "Ready", status: ready, reason: &reason, message: message.clone() },
            Want {
                type_: "Degraded",
                status: !ready,
                reason: if ready { "AsExpected" } else { &reason },
                message: if ready { String::new() } else { message.clone() },
            },
        ];
        let said = |reason: &str, message: &str| old.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.reason == reason && c.message == message);
        if let Some(problem) = &blocking
            && !said(&problem.reason, &problem.message)
        {
            events.push(Event::warning(&problem.reason, problem.message.clone()));
        }
        let was_completed = old.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.reason == "Completed");
        let delete = spec.action_after_completion == Some(ActionAfterCompletion::Delete);
        if completed && !was_completed {
            let then = if delete { " Deleting it (actionAfterCompletion DELETE); its TaskRuns are kept." } else { "" };
            events.push(Event::normal("ScheduleCompleted", format!("(schedule {name}) has no more scheduled times.{then}")));
        }
        if !input.unsupported.is_empty() && old.unsupported_fields.as_deref().unwrap_or_default() != input.unsupported {
            events.push(Event::warning("UnsupportedFields", format!("(schedule {name}) Berth accepts but does not act on: {}", input.unsupported.join("; "))));
        }

        let status = TaskScheduleStatus {
            observed_generation: schedule.metadata.generation,
            scheduled_through: through.map(conditions::time).or(old.scheduled_through.clone()),
            last_scheduled_time: last_started.map(conditions::time),
            next_scheduled_time: next.map(conditions::time),
            retry,
            last_runs: Some(self.last_runs(input, invoked, &old, &dropped)).filter(|runs| !runs.is_empty()),
            unsupported_fields: (!input.unsupported.is_empty()).then(|| input.unsupported.to_vec()),
            conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, schedule.metadata.generation, &conditions::time(now))),
        };
        ScheduleOutcome {
            status,
            events,
            wake_at_ms: wake.filter(|_| self.invalid.is_none()).map(|t| input.clock.real_ms(t)),
            delete_schedule: completed && delete,
        }
    }

    /// The newest invocations with their outcome: the old list, updated from the TaskRuns
    /// that still exist, with this pass's starts and drops.
    fn last_runs(&self, input: &ScheduleInput, invoked: &Invoked, old: &TaskScheduleStatus, dropped: &[(i64, String)]) -> Vec<ScheduledRun> {
        let mut runs: Vec<ScheduledRun> = old.last_runs.clone().unwrap_or_default();
        let mut record = |scheduled: i64, task_run: Option<&str>, outcome: RunOutcome, message: Option<String>| {
            runs.retain(|r| seconds(&r.scheduled_time) != scheduled);
            runs.push(ScheduledRun { scheduled_time: conditions::time(scheduled), task_run: task_run.map(String::from), outcome, message });
        };
        for run in input.runs {
            record(run.scheduled, Some(&run.name), run.outcome, None);
        }
        for started in &self.starts[..invoked.started.min(self.starts.len())] {
            record(started.scheduled, Some(&started.task_run), RunOutcome::Running, None);
        }
        for (t, why) in dropped {
            record(*t, None, RunOutcome::Dropped, Some(why.clone()));
        }
        runs.sort_by_key(|r| std::cmp::Reverse(seconds(&r.scheduled_time)));
        runs.truncate(HISTORY_LIMIT);
        runs
    }
}

#[cfg(test)]
mod tests;
