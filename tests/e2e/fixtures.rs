//! Issue 14, tested on what others wrote: every fixture of `tests/fixtures/ecs` (real, public
//! ECS JSON; sources in its SOURCES.md) applies as written with strict field validation and
//! reads back identical, goes through `berth import` into objects that apply, and every task
//! definition runs as a TaskRun of one task on the shared operator. The fixtures ECS itself
//! would refuse (`refused.json`) are refused, naming the field; the tasks that need capacity
//! the test plane lacks (`unplaced.json`: ARM64, Windows, GPUs) wait unplaced, the scheduler
//! saying why.
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth::api::{TaskDefinition, TaskLastStatus, TaskRun};
use berth::ecs::render::identity::service_account_name;
use berth::import::{EcsResource, ResourceKind, kubernetes_name, resources};
use berth_tests::fixture::{TestNamespace, berth_cli, client, install_crds, operator, plane, repo_root, try_wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::{Api, ResourceExt};
use kube::runtime::watcher;
use serde_json::{Value, json};

/// Bounds the wait for all TaskRuns, which start together.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Task definitions registered and run at the same time.
const RUNS_AT_ONCE: usize = 16;
/// How long Berth may take to make a task role's ServiceAccount.
const ROLE_ACCOUNT_GRACE: Duration = Duration::from_secs(60);

struct Fixture {
    /// Path under the corpus, e.g. `task-definitions/samples-nginx-ec2.json`.
    path: String,
    file: PathBuf,
    text: String,
    /// The field ECS itself refuses, from `refused.json`.
    refused: Option<String>,
    /// What kube-scheduler names when the task cannot be placed here, from `unplaced.json`.
    unplaced: Option<String>,
}

impl Fixture {
    /// A Kubernetes name unique in the corpus (families repeat across fixtures).
    fn name(&self) -> String {
        let stem = self.path.rsplit('/').next().unwrap().trim_end_matches(".json");
        kubernetes_name(stem).unwrap()
    }

    fn resources(&self) -> Vec<EcsResource> {
        resources(&self.text).unwrap_or_else(|e| panic!("{}: {e}", self.path))
    }
}

fn corpus_dir() -> PathBuf {
    repo_root().join("tests/fixtures/ecs")
}

/// `file` beside the corpus: fixture path to what is expected of it.
fn expectations(file: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(corpus_dir().join(file)).unwrap()).unwrap()
}

fn corpus() -> Vec<Fixture> {
    let refused = expectations("refused.json");
    let unplaced = expectations("unplaced.json");
    let mut fixtures = Vec::new();
    for kind in std::fs::read_dir(corpus_dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        for file in std::fs::read_dir(&kind).unwrap().map(|e| e.unwrap().path()) {
            let path = file.strip_prefix(corpus_dir()).unwrap().display().to_string();
            fixtures.push(Fixture {
                text: std::fs::read_to_string(&file).unwrap(),
                refused: refused.get(&path).map(|r| r["field"].as_str().unwrap().to_owned()),
                unplaced: unplaced.get(&path).map(|u| u["scheduler"].as_str().unwrap().to_owned()),
                path,
                file,
            });
        }
    }
    fixtures.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(fixtures.len() >= 50, "{} fixtures", fixtures.len());
    fixtures
}

/// The Berth object with the ECS resource as its spec, verbatim. Services are named after
/// `serviceName` (a disagreeing one is reported, not refused), task definitions after the file.
fn object(fixture: &Fixture, resource: &EcsResource, index: usize) -> Value {
    let (kind, name) = match resource.kind {
        ResourceKind::TaskDefinition => ("TaskDefinition", fixture.name()),
        ResourceKind::Service => ("Service", format!("{}-{index}", fixture.name())),
        ResourceKind::Schedule | ResourceKind::ScheduleRule => panic!("{}: an EventBridge schedule is no ECS spec as written (PascalCase)", fixture.name()),
    };
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": resource.fields})
}

fn apply_strict(ns: &str, manifest: &str) -> anyhow::Result<String> {
    plane().kubectl().run_with_input(&["apply", "--server-side", "--validate=strict", "-o", "json", "-n", ns, "-f", "-"], manifest)
}

/// Each resource applied with its ECS JSON as `spec`, verbatim: accepted and read back
/// identical (nulls, `""`, read-only describe fields and all), or, where ECS itself would
/// refuse it, refused naming the field. Covers RegisterTaskDefinition and CreateService inputs
/// (with serviceName and cluster), describe-task-definition and describe-services output, and
/// console exports full of nulls.
#[test]
fn every_fixture_applies_as_written_and_reads_back_identical() {
    install_crds();
    let ns = TestNamespace::create("corpus-apply");
    let mut problems = Vec::new();
    let mut applied_by_dir: BTreeMap<String, usize> = BTreeMap::new();
    for fixture in corpus() {
        for (index, resource) in fixture.resources().iter().enumerate() {
            let manifest = object(&fixture, resource, index);
            let result = apply_strict(&ns.name, &manifest.to_string());
            match (&fixture.refused, result) {
                (Some(field), Err(e)) if e.to_string().contains(field.as_str()) => {}
                (Some(field), outcome) => problems.push(format!("{}: ECS refuses it, expected a refusal naming {field}: {outcome:?}", fixture.path)),
                (None, Err(e)) => problems.push(format!("{}: refused: {e}", fixture.path)),
                (None, Ok(_)) => {
                    let kind = manifest["kind"].as_str().unwrap().to_lowercase();
                    let name = manifest["metadata"]["name"].as_str().unwrap();
                    let read = plane().kubectl().run(&["get", "-n", &ns.name, &format!("{kind}s.berth.dev"), name, "-o", "json"]).unwrap();
                    let read: Value = serde_json::from_str(&read).unwrap();
                    if read["spec"] != manifest["spec"] {
                        problems.push(format!("{}: read back differs:\n  applied {}\n  read    {}", fixture.path, manifest["spec"], read["spec"]));
                    }
                    *applied_by_dir.entry(fixture.path.split('/').next().unwrap().to_owned()).or_default() += 1;
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    for kind in ["task-definitions", "create-service", "described-task-definitions", "described-services", "console-exports"] {
        assert!(applied_by_dir.get(kind).is_some_and(|n| *n > 0), "no {kind} fixture applied: {applied_by_dir:?}");
    }
}

/// `berth import FILE` of every fixture prints manifests that apply with strict validation;
/// a fixture ECS refuses is refused, by the import or by the apiserver, naming the field.
#[test]
fn every_fixture_imports_and_the_output_applies() {
    install_crds();
    let mut problems = Vec::new();
    for fixture in corpus() {
        // Families repeat across fixtures: one namespace each keeps them apart.
        let ns = TestNamespace::create("corpus-import");
        let output = std::process::Command::new(berth_cli())
            .args(["import", &fixture.file.display().to_string(), "--namespace", &ns.name])
            .output()
            .expect("berth import runs");
        let outcome = if output.status.success() {
            apply_strict(&ns.name, &String::from_utf8_lossy(&output.stdout)).map(drop).map_err(|e| e.to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        };
        match (&fixture.refused, outcome) {
            (Some(field), Err(e)) if e.contains(field.as_str()) => {}
            (Some(field), outcome) => problems.push(format!("{}: ECS refuses it, expected a refusal naming {field}: {outcome:?}", fixture.path)),
            (None, Err(e)) => problems.push(format!("{}: import or apply failed: {e}", fixture.path)),
            (None, Ok(())) => {}
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// A CreateService input written for `aws ecs create-service --service-name NAME
/// --cli-input-json ...` has no serviceName: `berth import --name NAME` names the service.
#[test]
fn a_create_service_input_without_service_name_imports_with_the_name_option() {
    install_crds();
    let ns = TestNamespace::create("corpus-name");
    let mut input: Value = serde_json::from_str(&std::fs::read_to_string(corpus_dir().join("create-service/docs-service-discovery-service.json")).unwrap()).unwrap();
    input.as_object_mut().unwrap().remove("serviceName");
    let mut import = std::process::Command::new(berth_cli())
        .args(["import", "-", "--name", "Discovery_Demo", "--namespace", &ns.name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("berth import runs");
    import.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = import.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    apply_strict(&ns.name, &String::from_utf8_lossy(&output.stdout)).unwrap();
    let read = plane().kubectl().run(&["get", "-n", &ns.name, "services.berth.dev", "discovery-demo", "-o", "jsonpath={.metadata.annotations.berth\\.dev/ecs-name}"]).unwrap();
    assert_eq!(read.trim(), "Discovery_Demo");
}

/// The ServiceAccount of a task role, which Berth makes: wait for it, and check it is
/// Berth's and carries the role for IRSA when the role is an ARN.
async fn berth_made_role_account(ns: &str, task_role_arn: &str) -> Result<(), String> {
    let name = service_account_name(task_role_arn);
    let accounts = Api::<ServiceAccount>::namespaced(client().await, ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let found = try_wait_for(accounts, config, ROLE_ACCOUNT_GRACE, "the task role's ServiceAccount", |found| !found.is_empty()).await
        .map_err(|e| format!("Berth made no ServiceAccount {name}: {e}"))?;
    let account = &found[0];
    if account.labels().get("app.kubernetes.io/managed-by").map(String::as_str) != Some("berth") {
        return Err(format!("ServiceAccount {name} is not Berth's"));
    }
    let annotated = account.annotations().get("eks.amazonaws.com/role-arn").map(String::as_str);
    if task_role_arn.starts_with("arn:") && annotated != Some(task_role_arn) {
        return Err(format!("ServiceAccount {name} carries {annotated:?}, not the role {task_role_arn}"));
    }
    Ok(())
}

/// How a TaskRun ended up: its task RUNNING, refused with a reason, or waiting unplaced
/// with the scheduler's reason.
enum Outcome {
    Running,
    Refused(String),
    Unplaced(String),
}

fn outcome(run: &TaskRun) -> Option<Outcome> {
    let status = run.status.as_ref()?;
    if status.tasks.iter().flatten().any(|t| t.last_status == Some(TaskLastStatus::Running)) {
        return Some(Outcome::Running);
    }
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "False" && c.reason != "TasksRunning")
        .map(|c| Outcome::Refused(format!("{}: {}", c.reason, c.message)))
}

/// The scheduler's reason for not placing a pod, once it has given one.
fn unplaced(pod: &Pod) -> Option<Outcome> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let scheduled = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(Outcome::Unplaced(scheduled.message.clone().unwrap_or_default()))
}

/// Applies `manifest` and waits until its TaskDefinition has registered a revision.
async fn register(ns: &str, path: &str, manifest: &Value) {
    apply_strict(ns, &manifest.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
    let api = Api::<TaskDefinition>::namespaced(client().await, ns);
    try_wait_for(api, watcher::Config::default(), RUN_TIMEOUT, &format!("{path}: a registered revision"), |found| {
        found.iter().any(|td| td.status.as_ref().is_some_and(|s| s.latest_revision.is_some()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits for the TaskRun's outcome; for a task the plane cannot place, for the scheduler's reason.
async fn run_outcome(ns: &str, path: &str, expect_unplaced: bool) -> anyhow::Result<Outcome> {
    let what = format!("{path}: its task RUNNING, a refusal or the scheduler's reason");
    if expect_unplaced {
        let pods = Api::<Pod>::namespaced(client().await, ns);
        let found = try_wait_for(pods, watcher::Config::default(), RUN_TIMEOUT, &what, |pods| pods.iter().any(|p| unplaced(p).is_some())).await?;
        return Ok(found.iter().find_map(|p| unplaced(p)).unwrap());
    }
    let runs = Api::<TaskRun>::namespaced(client().await, ns);
    let found = try_wait_for(runs, watcher::Config::default(), RUN_TIMEOUT, &what, |runs| runs.iter().any(|r| outcome(r).is_some())).await?;
    Ok(found.iter().find_map(|r| outcome(r)).unwrap())
}

/// Every task definition of the corpus runs as a TaskRun of one task (each in its own
/// namespace, all at once): its task reaches RUNNING; where it needs capacity the plane lacks,
/// it waits unplaced with the scheduler naming what is missing.
#[tokio::test(flavor = "multi_thread")]
async fn every_task_definition_runs_as_a_task_run_of_one_task() {
    operator();
    let started = Instant::now();
    let mut runs = Vec::new();
    for fixture in corpus().into_iter().filter(|f| f.refused.is_none()) {
        for resource in fixture.resources().into_iter().filter(|r| r.kind == ResourceKind::TaskDefinition) {
            let family = resource.fields.get("family").and_then(Value::as_str).map_or_else(|| fixture.name(), str::to_owned);
            let role = resource.fields.get("taskRoleArn").and_then(Value::as_str).filter(|r| !r.is_empty()).map(str::to_owned);
            runs.push((fixture.path.clone(), TestNamespace::create("corpus-run"), object(&fixture, &resource, 0), family, role, fixture.unplaced.clone()));
        }
    }
    let tasks = runs.iter().map(|(path, ns, manifest, family, role, expect_unplaced)| async move {
        register(&ns.name, path, manifest).await;
        let run = json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskRun", "metadata": {"name": "once"},
            "spec": {"taskDefinition": family, "count": 1}});
        apply_strict(&ns.name, &run.to_string()).unwrap_or_else(|e| panic!("{path}: TaskRun refused: {e}"));
        let account = match role {
            Some(role) => berth_made_role_account(&ns.name, role).await,
            None => Ok(()),
        };
        (path, expect_unplaced, account, run_outcome(&ns.name, path, expect_unplaced.is_some()).await)
    });
    let mut problems = Vec::new();
    let with_roles = runs.iter().filter(|r| r.4.is_some()).count();
    // A bounded number at a time: all at once (~80 namespaces, each with its watches) made the
    // plane refuse connections when the suite ran four planes side by side.
    let outcomes: Vec<_> = futures::stream::iter(tasks).buffer_unordered(RUNS_AT_ONCE).collect().await;
    for (path, expect_unplaced, account, found) in outcomes {
        if let Err(e) = account {
            problems.push(format!("{path}: {e}"));
        }
        match (expect_unplaced, found) {
            (None, Ok(Outcome::Running)) => {}
            (Some(reason), Ok(Outcome::Unplaced(message))) if message.contains(reason.as_str()) => {}
            (_, Ok(Outcome::Refused(why))) => problems.push(format!("{path}: refused: {why}")),
            (None, Ok(Outcome::Unplaced(message))) => problems.push(format!("{path}: not placed: {message}")),
            (Some(reason), Ok(Outcome::Unplaced(message))) => problems.push(format!("{path}: the scheduler does not name {reason}: {message}")),
            (Some(reason), Ok(Outcome::Running)) => problems.push(format!("{path}: runs, though the plane has no capacity for {reason}")),
            (_, Err(e)) => problems.push(format!("{path}: {e}")),
        }
    }
    eprintln!(
        "{} task definitions run as TaskRuns in {:.1}s; {with_roles} of them under a task role's ServiceAccount Berth made",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
