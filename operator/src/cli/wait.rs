//! `wait services-stable | tasks-running | tasks-stopped`: the AWS CLI's waiters, on
//! watches instead of polls, so a wait returns as soon as what it waits for is true.
//! The AWS CLI gives up after 40 checks 15 s apart (services) or 100 checks 6 s apart
//! (tasks), 10 minutes either way, and then exits 255; so does `berth`, after
//! `--timeout` seconds (default 600). A terminal failure (a service that is gone or
//! draining, a task that stopped while waited on to run) also exits 255 at once.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::CliError;
use super::args::Args;
use super::arn::short_name;
use super::cluster::Cluster;
use super::tasks::TaskLookup;
use crate::api::{Service, TaskLastStatus};
use crate::ecs::task::labels;

/// The AWS CLI's waiters give up after 10 minutes.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What a waiter makes of what it sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Done,
    /// A state the wait can never leave for success (the AWS CLI's failure acceptors).
    Failed(String),
}

/// services-stable: each service has one deployment and runs its desired count, in a
/// status written for its current spec (so a wait right after an update does not pass on
/// the status of the spec before it).
pub fn services_stable(names: &[String], services: &[Arc<Service>]) -> Verdict {
    for name in names {
        let Some(service) = services.iter().find(|s| s.name_any() == *name) else {
            return Verdict::Failed(format!("service {name}: MISSING"));
        };
        if service.metadata.deletion_timestamp.is_some() {
            return Verdict::Failed(format!("service {name}: DRAINING"));
        }
        let Some(status) = &service.status else { return Verdict::Waiting };
        let current = status.observed_generation.is_some() && status.observed_generation == service.metadata.generation;
        let desired = service.spec.desired_count.or(status.desired_count).unwrap_or(0);
        let one_deployment = status.deployments.as_ref().is_some_and(|d| d.len() == 1);
        if !(current && one_deployment && status.running_count == Some(desired)) {
            return Verdict::Waiting;
        }
    }
    Verdict::Done
}

/// tasks-running: every task RUNNING; one that stopped (or is gone) never will be.
pub fn tasks_running(tasks: &[(String, Option<TaskLastStatus>)]) -> Verdict {
    for (id, status) in tasks {
        match status {
            None => return Verdict::Failed(format!("task {id}: MISSING")),
            Some(TaskLastStatus::Stopped) => return Verdict::Failed(format!("task {id} stopped")),
            Some(TaskLastStatus::Running) => {}
            Some(_) => return Verdict::Waiting,
        }
    }
    Verdict::Done
}

/// tasks-stopped: every task STOPPED; a task whose pod is gone has stopped.
pub fn tasks_stopped(tasks: &[(String, Option<TaskLastStatus>)]) -> Verdict {
    let stopped = tasks.iter().all(|(_, status)| matches!(status, None | Some(TaskLastStatus::Stopped)));
    if stopped { Verdict::Done } else { Verdict::Waiting }
}

/// How a watch-driven wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Done,
    Failed(String),
    TimedOut,
}

/// Watches `api` (narrowed by `config`) and judges the whole cached set after each
/// change, until a verdict or `timeout`.
pub async fn watch_until<K>(api: Api<K>, config: watcher::Config, timeout: Duration, mut judge: impl AsyncFnMut(&[Arc<K>]) -> Verdict) -> Result<Ended, CliError>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let mut events = Box::pin(reflector::reflector(writer, watcher(api, config)));
    let watching = async {
        let mut listed = false;
        while let Some(event) = events.next().await {
            match event {
                // Judged once the first list is in, then after each change.
                Ok(watcher::Event::InitDone) => listed = true,
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) if listed => {}
                Ok(_) => continue,
                Err(e) => return Err(CliError::api_message(format!("watch failed: {e}"))),
            }
            match judge(&reader.state()).await {
                Verdict::Done => return Ok(Ended::Done),
                Verdict::Failed(why) => return Ok(Ended::Failed(why)),
                Verdict::Waiting => {}
            }
        }
        Err(CliError::api_message("watch ended".to_string()))
    };
    match tokio::time::timeout(timeout, watching).await {
        Ok(ended) => ended,
        Err(_) => Ok(Ended::TimedOut),
    }
}

pub async fn wait(cluster: &Cluster, mut args: Args) -> Result<(), CliError> {
    let positional = args.positional();
    let waiter = positional.first().ok_or_else(|| CliError::usage("wait needs a waiter: services-stable, tasks-running or tasks-stopped"))?.clone();
    if let Some(extra) = positional.get(1) {
        return Err(CliError::usage(format!("unexpected argument {extra:?}")));
    }
    let timeout = args.number("--timeout", 1..=86_400)?.map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s as u64));
    let ended = match waiter.as_str() {
        "services-stable" => {
            let names: Vec<String> = args.required_list("--services")?.iter().map(|s| short_name(s).to_string()).collect();
            args.finish()?;
            watch_until(cluster.api::<Service>(), watcher::Config::default(), timeout, async |services: &[Arc<Service>]| services_stable(&names, services)).await?
        }
        "tasks-running" | "tasks-stopped" => {
            let ids: Vec<String> = args.required_list("--tasks")?.iter().map(|s| short_name(s).to_string()).collect();
            args.finish()?;
            let judge = if waiter == "tasks-running" { tasks_running } else { tasks_stopped };
            let config = watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));
            let lookup = TaskLookup::new(cluster);
            watch_until(cluster.api(), config, timeout, async |pods: &[Arc<k8s_openapi::api::core::v1::Pod>]| {
                match lookup.statuses(&ids, pods).await {
                    Ok(statuses) => judge(&statuses),
                    Err(e) => Verdict::Failed(e.to_string()),
                }
            }).await?
        }
        other => return Err(CliError::usage(format!("unknown waiter {other:?}: services-stable, tasks-running or tasks-stopped"))),
    };
    match ended {
        Ended::Done => Ok(()),
        Ended::Failed(why) => Err(CliError::waiter(format!("Waiter {waiter} failed: {why}"))),
        Ended::TimedOut => Err(CliError::waiter(format!("Waiter {waiter} failed: Max attempts exceeded (gave up after {} s)", timeout.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, generation: i64, status: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": name, "generation": generation}, "spec": {"taskDefinition": "web", "desiredCount": 2}, "status": status})).unwrap())
    }

    fn deployment(id: &str) -> serde_json::Value {
        json!({"id": id, "status": "PRIMARY", "taskDefinition": "web:1", "desiredCount": 2, "pendingCount": 0, "runningCount": 2,
            "failedTasks": 0, "rolloutState": "COMPLETED", "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn a_service_is_stable_with_one_deployment_at_its_desired_count() {
        let names = ["web".to_string()];
        let stable = service("web", 2, json!({"observedGeneration": 2, "runningCount": 2, "deployments": [deployment("a")]}));
        assert_eq!(services_stable(&names, &[stable]), Verdict::Done);
        let rolling = service("web", 2, json!({"observedGeneration": 2, "runningCount": 2, "deployments": [deployment("a"), deployment("b")]}));
        assert_eq!(services_stable(&names, &[rolling]), Verdict::Waiting);
        let short = service("web", 2, json!({"observedGeneration": 2, "runningCount": 1, "deployments": [deployment("a")]}));
        assert_eq!(services_stable(&names, &[short]), Verdict::Waiting);
    }

    #[test]
    fn a_status_of_an_older_spec_is_not_stable() {
        let stale = service("web", 3, json!({"observedGeneration": 2, "runningCount": 2, "deployments": [deployment("a")]}));
        assert_eq!(services_stable(&["web".to_string()], &[stale]), Verdict::Waiting);
    }

    #[test]
    fn a_missing_or_draining_service_fails_the_wait() {
        assert_eq!(services_stable(&["api".to_string()], &[]), Verdict::Failed("service api: MISSING".into()));
        let mut draining = (*service("web", 1, json!({}))).clone();
        draining.metadata.deletion_timestamp = Some(crate::cli::shape::testing::at(1));
        assert!(matches!(services_stable(&["web".to_string()], &[Arc::new(draining)]), Verdict::Failed(_)));
    }

    #[test]
    fn task_waiters_follow_the_aws_acceptors() {
        let running = ("a".to_string(), Some(TaskLastStatus::Running));
        let pending = ("b".to_string(), Some(TaskLastStatus::Pending));
        let stopped = ("c".to_string(), Some(TaskLastStatus::Stopped));
        let gone = ("d".to_string(), None);
        assert_eq!(tasks_running(std::slice::from_ref(&running)), Verdict::Done);
        assert_eq!(tasks_running(&[running.clone(), pending.clone()]), Verdict::Waiting);
        assert_eq!(tasks_running(&[running.clone(), stopped.clone()]), Verdict::Failed("task c stopped".into()));
        assert!(matches!(tasks_running(std::slice::from_ref(&gone)), Verdict::Failed(_)));
        assert_eq!(tasks_stopped(&[stopped, gone]), Verdict::Done);
        assert_eq!(tasks_stopped(&[running]), Verdict::Waiting);
    }
}
