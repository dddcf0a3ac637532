//! `list-tasks`, `describe-tasks`, `run-task`, `stop-task`, `update-task-protection`, `get-task-protection`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::CliError;
use super::args::Args;
use super::arn::short_name;
use super::cluster::Cluster;
use super::output::{Response, failure_lines, table, text};
use super::services::FIELD_MANAGER;
use super::shape::failure;
use super::shape::task::{desired_status, from_pod, from_record, started_by};
use super::wait::{Ended, Verdict, watch_until};
use crate::api::{Service, TaskLastStatus, TaskRun, TaskStopCode, TaskSummary, wire_name};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::task::observed::Task;

/// How long `run-task` waits for the operator to create the tasks it prints.
const RUN_TASK_WAIT: Duration = Duration::from_secs(30);
/// ECS's default `stoppedReason` of StopTask.
const STOPPED_BY_USER: &str = "Task stopped by user";

/// The tasks of the cluster with the ids the user gave (ids or ARNs), found in the live
/// pods or, once a pod is gone, in the records its Service or TaskRun keeps.
pub struct TaskLookup<'a> {
    cluster: &'a Cluster,
}

/// A task the lookup found.
pub enum Found<'a> {
    Pod(&'a Pod),
    Record(TaskSummary, String),
    Missing,
}

impl<'a> TaskLookup<'a> {
    pub fn new(cluster: &'a Cluster) -> TaskLookup<'a> {
        TaskLookup { cluster }
    }

    /// Stopped tasks the owners' statuses keep, each with its ECS task group.
    async fn records(&self) -> Result<Vec<(TaskSummary, String)>, CliError> {
        let services = self.cluster.api::<Service>().list(&ListParams::default()).await.map_err(CliError::api)?;
        let runs = self.cluster.api::<TaskRun>().list(&ListParams::default()).await.map_err(CliError::api)?;
        let of_services = services.items.into_iter().flat_map(|s| {
            let group = format!("service:{}", s.name_any());
            s.status.and_then(|st| st.stopped_tasks).unwrap_or_default().into_iter().map(move |t| (t, group.clone()))
        });
        let of_runs = runs.items.into_iter().flat_map(|r| {
            let family = crate::ecs::task::reference::parse(&r.spec.task_definition).map(|f| f.family).unwrap_or_default();
            let group = r.spec.group.clone().unwrap_or_else(|| format!("family:{family}"));
            r.status.and_then(|st| st.tasks).unwrap_or_default().into_iter().map(move |t| (t, group.clone()))
        });
        Ok(of_services.chain(of_runs).collect())
    }

    /// Each id's task among `pods`, else among the records (read only when needed).
    pub async fn find<'p>(&self, ids: &[String], pods: &'p [Arc<Pod>]) -> Result<Vec<(String, Found<'p>)>, CliError> {
        let pod_of = |id: &str| pods.iter().find(|p| p.labels().get(labels::TASK_ID).map(String::as_str) == Some(id) || p.name_any() == id);
        let records = if ids.iter().all(|id| pod_of(id).is_some()) { vec![] } else { self.records().await? };
        Ok(ids.iter().map(|id| {
            let found = match pod_of(id) {
                Some(pod) => Found::Pod(pod.as_ref()),
                None => records.iter().find(|(r, _)| r.task_id == *id || r.pod_name.as_deref() == Some(id.as_str()))
                    .map_or(Found::Missing, |(r, group)| Found::Record(r.clone(), group.clone())),
            };
            (id.clone(), found)
        }).collect())
    }

    /// Each id's lastStatus, None when there is no trace of it.
    pub async fn statuses(&self, ids: &[String], pods: &[Arc<Pod>]) -> Result<Vec<(String, Option<TaskLastStatus>)>, CliError> {
        Ok(self.find(ids, pods).await?.into_iter().map(|(id, found)| {
            let status = match found {
                Found::Pod(pod) => Some(Task::of(pod.clone()).state.last_status),
                Found::Record(record, _) => Some(record.last_status.unwrap_or(TaskLastStatus::Stopped)),
                Found::Missing => None,
            };
            (id, status)
        }).collect())
    }
}

/// `list-tasks` filters the label selector cannot express.
#[derive(Debug, Default)]
pub struct TaskFilter {
    /// RUNNING (the ECS default) or STOPPED.
    pub desired_status: String,
    pub started_by: Option<String>,
}

impl TaskFilter {
    pub fn keeps(&self, task: &Task) -> bool {
        desired_status(task) == self.desired_status && self.started_by.as_ref().is_none_or(|s| started_by(task) == Some(s.as_str()))
    }
}

pub async fn list_tasks(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let wanted = args.value("--desired-status")?.unwrap_or_else(|| "RUNNING".to_string());
    if !["RUNNING", "PENDING", "STOPPED"].contains(&wanted.as_str()) {
        return Err(CliError::usage(format!("--desired-status: {wanted:?} is not RUNNING, PENDING or STOPPED")));
    }
    // ECS's PENDING desired status lists nothing a task of Berth's has; RUNNING covers it.
    let filter = TaskFilter { desired_status: if wanted == "PENDING" { "RUNNING".into() } else { wanted }, started_by: args.value("--started-by")? };
    let mut selectors = vec![];
    if let Some(service) = args.value("--service-name")? {
        selectors.push(format!("{}={}", labels::SERVICE, label_value(short_name(&service))));
    }
    if let Some(family) = args.value("--family")? {
        selectors.push(format!("{}={}", labels::FAMILY, label_value(&family)));
    }
    args.finish()?;
    let pods = cluster.task_pods((!selectors.is_empty()).then(|| selectors.join(","))).await?;
    let mut tasks: Vec<Task> = pods.into_iter().map(Task::of).filter(|t| filter.keeps(t)).collect();
    tasks.sort_by_key(|t| (t.created_seconds(), t.task_id()));
    let rows: Vec<Vec<String>> = tasks.iter().map(|t| vec![
        t.task_id(), t.annotation(labels::GROUP).unwrap_or("-").to_string(), wire_name(&t.state.last_status), desired_status(t).to_string(),
        t.annotation(labels::TASK_DEFINITION).unwrap_or("-").to_string(), started_by(t).unwrap_or("-").to_string(),
    ]).collect();
    let arns: Vec<String> = tasks.iter().map(|t| cluster.arns.task(&t.task_id())).collect();
    Ok(Response { json: json!({"taskArns": arns}), table: table(&["TASK", "GROUP", "LAST STATUS", "DESIRED", "TASK DEFINITION", "STARTED BY"], &rows) })
}

pub async fn describe_tasks(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let ids: Vec<String> = args.required_list("--tasks")?.iter().map(|t| short_name(t).to_string()).collect();
    if ids.len() > 100 {
        return Err(CliError::usage(format!("--tasks: at most 100 tasks, got {}", ids.len())));
    }
    args.finish()?;
    let pods: Vec<Arc<Pod>> = cluster.task_pods(None).await?.into_iter().map(Arc::new).collect();
    describe(cluster, &ids, &pods).await
}

/// describe-tasks' answer for `ids`.
async fn describe(cluster: &Cluster, ids: &[String], pods: &[Arc<Pod>]) -> Result<Response, CliError> {
    let placement = cluster.placements().await?;
    let mut tasks = vec![];
    let mut failures = vec![];
    let lookup = TaskLookup::new(cluster);
    let found = lookup.find(ids, pods).await?;
    // Berth deletes the tasks it stops without a record on the pod: while one terminates,
    // why it stops is in its owner's status.
    let unrecorded = |pod: &Pod| pod.metadata.deletion_timestamp.is_some() && !pod.annotations().contains_key(labels::STOP_CODE);
    let records = if found.iter().any(|(_, f)| matches!(f, Found::Pod(p) if unrecorded(p))) { lookup.records().await? } else { vec![] };
    for (id, found) in found {
        match found {
            Found::Pod(pod) => {
                let task_id = pod.labels().get(labels::TASK_ID);
                let record = records.iter().map(|(r, _)| r).find(|r| unrecorded(pod) && task_id == Some(&r.task_id));
                let pod = record.map_or_else(|| pod.clone(), |r| with_record(pod, r));
                tasks.push(from_pod(&pod, &placement(&pod), &cluster.arns))
            }
            Found::Record(record, group) => tasks.push(from_record(&record, &group, &cluster.arns)),
            Found::Missing => failures.push(failure(&cluster.arns.task(&id), "MISSING")),
        }
    }
    let table = tasks_table(&tasks) + &failure_lines(&failures);
    Ok(Response { json: json!({"tasks": tasks, "failures": failures}), table })
}

/// A copy of `pod` carrying the stop its owner recorded (for the view only).
fn with_record(pod: &Pod, record: &TaskSummary) -> Pod {
    let mut pod = pod.clone();
    let annotations = pod.metadata.annotations.get_or_insert_with(Default::default);
    if let Some(code) = record.stop_code {
        annotations.insert(labels::STOP_CODE.to_string(), wire_name(&code));
    }
    annotations.insert(labels::STOPPED_REASON.to_string(), record.stopped_reason.clone().unwrap_or_default());
    pod
}

/// Tasks for people: states, health, and how each ended.
fn tasks_table(tasks: &[Value]) -> String {
    let rows: Vec<Vec<String>> = tasks.iter().map(|t| {
        let exits: Vec<String> = t["containers"].as_array().into_iter().flatten()
            .filter(|c| c.get("exitCode").is_some()).map(|c| format!("{}={}", text(&c["name"]), text(&c["exitCode"]))).collect();
        vec![
            short_name(&text(&t["taskArn"])).to_string(), text(&t["lastStatus"]), text(&t["desiredStatus"]), text(&t["healthStatus"]),
            short_name(&text(&t["taskDefinitionArn"])).to_string(), text(&t["stopCode"]), text(&t["stoppedReason"]),
            if exits.is_empty() { "-".to_string() } else { exits.join(",") },
        ]
    }).collect();
    table(&["TASK", "LAST STATUS", "DESIRED", "HEALTH", "TASK DEFINITION", "STOP CODE", "STOPPED REASON", "EXIT CODES"], &rows)
}

/// The TaskRun a `run-task` call becomes.
pub fn task_run(name: &str, task_definition: &str, count: i64, started_by: Option<&str>, group: Option<&str>, launch_type: Option<&str>, overrides: Option<Value>) -> Result<TaskRun, CliError> {
    let mut spec = json!({"taskDefinition": task_definition, "count": count});
    super::shape::insert_some(&mut spec, "startedBy", started_by);
    super::shape::insert_some(&mut spec, "group", group);
    super::shape::insert_some(&mut spec, "launchType", launch_type);
    super::shape::insert_some(&mut spec, "overrides", overrides);
    let object = json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskRun", "metadata": {"name": name}, "spec": spec});
    serde_path_to_error::deserialize(object).map_err(|e| CliError::usage(format!("run-task: {} ({})", e.inner(), e.path())))
}

pub async fn run_task(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let task_definition = args.required("--task-definition")?;
    let count = args.number("--count", 1..=10)?.unwrap_or(1);
    let started_by = args.value("--started-by")?;
    let group = args.value("--group")?;
    let launch_type = args.value("--launch-type")?;
    let overrides = args.value("--overrides")?.map(|text| serde_json::from_str::<Value>(&text)
        .map_err(|e| CliError::usage(format!("--overrides is not JSON: {e}")))).transpose()?;
    args.finish()?;
    let family = crate::ecs::task::reference::parse(&task_definition)
        .ok_or_else(|| CliError::usage(format!("--task-definition: {task_definition:?} is not a family, family:revision or task definition ARN")))?.family;
    let prefix: String = crate::ecs::render::names::dns_label(&family).chars().take(40).collect();
    let name = format!("{}-{}", prefix.trim_end_matches('-'), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let run = task_run(&name, &task_definition, count, started_by.as_deref(), group.as_deref(), launch_type.as_deref(), overrides)?;
    cluster.api::<TaskRun>().create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }, &run).await.map_err(CliError::api)?;

    // RunTask answers with the tasks it started: wait (on a watch) for the operator to create them.
    let selector = format!("{}={}", labels::TASK_RUN, label_value(&name));
    let created = watch_until(cluster.api::<Pod>(), watcher::Config::default().labels(&selector), RUN_TASK_WAIT,
        async |pods: &[Arc<Pod>]| if pods.len() as i64 >= count { Verdict::Done } else { Verdict::Waiting }).await?;
    let pods: Vec<Arc<Pod>> = cluster.task_pods(Some(selector)).await?.into_iter().map(Arc::new).collect();
    let ids: Vec<String> = pods.iter().map(|p| Task::of((**p).clone()).task_id()).collect();
    let mut response = describe(cluster, &ids, &pods).await?;
    if created != Ended::Done {
        let reason = format!("TaskRun {name} has {} of {count} tasks after {} s: see kubectl describe taskrun {name}", pods.len(), RUN_TASK_WAIT.as_secs());
        response.json["failures"].as_array_mut().expect("describe answers with failures").push(json!({"arn": cluster.arns.task(&name), "reason": reason}));
        response.table.push_str(&format!("FAILURE  {reason}\n"));
    }
    Ok(response)
}

pub async fn stop_task(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let id = short_name(&args.required("--task")?).to_string();
    let reason = args.value("--reason")?.unwrap_or_else(|| STOPPED_BY_USER.to_string());
    if reason.chars().count() > 255 {
        return Err(CliError::usage("--reason: at most 255 characters"));
    }
    args.finish()?;
    let pods: Vec<Arc<Pod>> = cluster.task_pods(None).await?.into_iter().map(Arc::new).collect();
    let found = TaskLookup::new(cluster).find(std::slice::from_ref(&id), &pods).await?;
    let pod = match found.into_iter().next().map(|(_, f)| f) {
        Some(Found::Pod(pod)) => pod.clone(),
        Some(Found::Record(..)) => return describe(cluster, &[id], &pods).await,
        _ => return Err(CliError::api_message(format!("stop-task: task {id} not found in cluster {}", cluster.namespace))),
    };
    // As Berth stops a task: the stop is recorded on the pod first, so the operator and
    // every later reader see UserInitiated and the caller's reason, then the pod goes.
    let record = json!({"metadata": {"annotations": {labels::STOP_CODE: wire_name(&TaskStopCode::UserInitiated), labels::STOPPED_REASON: reason}}});
    let api = cluster.api::<Pod>();
    let name = pod.name_any();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&record)).await.map_err(CliError::api)?;
    let stopping = api.delete(&name, &DeleteParams::default()).await.map_err(CliError::api)?.left();
    let pods: Vec<Arc<Pod>> = stopping.map(Arc::new).into_iter().collect();
    let mut response = describe(cluster, &[id], &pods).await?;
    response.json = json!({"task": response.json["tasks"][0]});
    Ok(response)
}

/// ECS's protection period when `--expires-in-minutes` is not given.
const DEFAULT_PROTECTION_MINUTES: i64 = 120;

/// `update-task-protection`: the protection is an annotation on the task, which the
/// operator honours (scale-in and deployments leave the task until it expires).
pub async fn update_task_protection(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let ids: Vec<String> = args.required_list("--tasks")?.iter().map(|t| short_name(t).to_string()).collect();
    let enabled = args.switch("--protection-enabled")?
        .ok_or_else(|| CliError::usage("update-task-protection needs --protection-enabled or --no-protection-enabled"))?;
    let minutes = args.number("--expires-in-minutes", 1..=2880)?.unwrap_or(DEFAULT_PROTECTION_MINUTES);
    args.finish()?;
    let expires = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_mins(minutes);
    let value = if enabled { json!(expires.to_string()) } else { Value::Null };
    let patch = json!({"metadata": {"annotations": {labels::PROTECTION_EXPIRES_AT: value}}});
    let pods: Vec<Arc<Pod>> = cluster.task_pods(None).await?.into_iter().map(Arc::new).collect();
    let (tasks, failures) = protectable(cluster, &ids, &pods).await?;
    let api = cluster.api::<Pod>();
    let mut updated = vec![];
    for pod in tasks {
        updated.push(api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(CliError::api)?);
    }
    Ok(protection_response(cluster, &updated, failures))
}

/// `get-task-protection`: each task's protection as the operator reads it.
pub async fn get_task_protection(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let ids: Vec<String> = args.required_list("--tasks")?.iter().map(|t| short_name(t).to_string()).collect();
    args.finish()?;
    let pods: Vec<Arc<Pod>> = cluster.task_pods(None).await?.into_iter().map(Arc::new).collect();
    let (tasks, failures) = protectable(cluster, &ids, &pods).await?;
    let tasks: Vec<Pod> = tasks.into_iter().cloned().collect();
    Ok(protection_response(cluster, &tasks, failures))
}

/// The running or pending service tasks among `ids`, and a failure for each other
/// id, with ECS's reasons (only a service's tasks can be protected).
async fn protectable<'p>(cluster: &Cluster, ids: &[String], pods: &'p [Arc<Pod>]) -> Result<(Vec<&'p Pod>, Vec<Value>), CliError> {
    let (mut tasks, mut failures) = (vec![], vec![]);
    for (id, found) in TaskLookup::new(cluster).find(ids, pods).await? {
        match found {
            Found::Pod(pod) if pod.labels().contains_key(labels::SERVICE) && Task::of(pod.clone()).is_active() => tasks.push(pod),
            Found::Missing => failures.push(failure(&cluster.arns.task(&id), "MISSING")),
            _ => failures.push(failure(&cluster.arns.task(&id), "TASK_NOT_VALID")),
        }
    }
    Ok((tasks, failures))
}

/// The AWS CLI's `protectedTasks[]` and `failures[]`, or a table.
fn protection_response(cluster: &Cluster, pods: &[Pod], failures: Vec<Value>) -> Response {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let entries: Vec<Value> = pods.iter().map(|pod| {
        let task = Task::of(pod.clone());
        let mut entry = json!({"taskArn": cluster.arns.task(&task.task_id()), "protectionEnabled": false});
        if let Some(until) = task.protected_until(now) {
            entry["protectionEnabled"] = json!(true);
            entry["expirationDate"] = json!(crate::ecs::plan::conditions::time(until).0.to_string());
        }
        entry
    }).collect();
    let rows: Vec<Vec<String>> = entries.iter().map(|e| vec![short_name(&text(&e["taskArn"])).to_string(), text(&e["protectionEnabled"]), text(&e["expirationDate"])]).collect();
    let table = table(&["TASK", "PROTECTED", "EXPIRES"], &rows) + &failure_lines(&failures);
    Response { json: json!({"protectedTasks": entries, "failures": failures}), table }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(annotations: Value, phase: &str) -> Task {
        Task::of(serde_json::from_value::<Pod>(json!({
            "metadata": {"name": "p", "labels": {labels::TASK_ID: "t"}, "annotations": annotations},
            "spec": {"nodeName": "n", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": phase},
        })).unwrap())
    }

    #[test]
    fn a_terminating_task_shows_the_stop_its_owner_recorded() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {labels::TASK_ID: "t"}, "deletionTimestamp": "2026-11-29T10:00:00Z"},
            "spec": {"nodeName": "n", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running"}})).unwrap();
        assert_eq!(Task::of(pod.clone()).state.stop.as_ref().map(|s| s.code), Some(TaskStopCode::UserInitiated), "no record: someone else deleted it");
        let record = TaskSummary { task_id: "t".into(), stop_code: Some(TaskStopCode::ServiceSchedulerInitiated),
            stopped_reason: Some("Scaling activity initiated by (deployment ecs-svc/7)".into()), pod_name: None, last_status: None, stopped_at: None, containers: None };
        let stop = Task::of(with_record(&pod, &record)).state.stop.clone().unwrap();
        assert_eq!((stop.code, stop.reason.as_str()), (TaskStopCode::ServiceSchedulerInitiated, "Scaling activity initiated by (deployment ecs-svc/7)"));
    }

    #[test]
    fn filters_by_desired_status_and_started_by() {
        let nightly = task(json!({labels::STARTED_BY: "nightly"}), "Running");
        let running = TaskFilter { desired_status: "RUNNING".into(), started_by: None };
        assert!(running.keeps(&nightly));
        assert!(TaskFilter { desired_status: "RUNNING".into(), started_by: Some("nightly".into()) }.keeps(&nightly));
        assert!(!TaskFilter { desired_status: "RUNNING".into(), started_by: Some("hourly".into()) }.keeps(&nightly));
        let ended = task(json!({}), "Succeeded");
        assert!(!running.keeps(&ended));
        assert!(TaskFilter { desired_status: "STOPPED".into(), started_by: None }.keeps(&ended));
        let service_task = task(json!({labels::DEPLOYMENT_ID: "ecs-svc/7"}), "Running");
        assert!(TaskFilter { desired_status: "RUNNING".into(), started_by: Some("ecs-svc/7".into()) }.keeps(&service_task));
    }

    #[test]
    fn run_task_input_becomes_a_task_run_and_bad_overrides_name_the_field() {
        let run = task_run("batch-1", "batch:2", 3, Some("nightly"), None, Some("FARGATE"), Some(json!({"containerOverrides": [{"name": "app", "command": ["go"]}]}))).unwrap();
        assert_eq!(run.spec.count, Some(3));
        assert_eq!(run.spec.started_by.as_deref(), Some("nightly"));
        let error = task_run("b", "batch", 1, None, None, None, Some(json!({"containerOverrides": [{"command": ["go"]}]}))).unwrap_err();
        assert!(error.to_string().contains("spec.overrides.containerOverrides[0]"), "{error}");
        assert!(task_run("b", "batch", 1, None, None, Some("MOON"), None).unwrap_err().to_string().contains("MOON"));
    }

    #[test]
    fn the_table_shows_stop_codes_and_exit_codes() {
        let tasks = [json!({"taskArn": "arn:aws:ecs:berth:000000000000:task/prod/abc", "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
            "healthStatus": "UNKNOWN", "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "app", "exitCode": 3}, {"name": "sidecar"}]})];
        let text = tasks_table(&tasks);
        assert!(text.contains("abc") && text.contains("EssentialContainerExited") && text.contains("app=3"), "{text}");
    }
}
