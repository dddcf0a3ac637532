//! The demo `berth-plane up` narrates (and `tests/e2e/demo.rs` checks): the
//! web example's tasks spread across zones, a failed task replaced, and a
//! roll to a new revision, each step waited for on watches and timed.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use berth::api::{Service, wire_name};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::fixture::{repo_root, wait_for};
use crate::tasks::{is_healthy, named, phase, revision_of, tasks_of};
use crate::kubectl::Kubectl;

/// What `launchType: EC2` and `FARGATE` use (docs/capacity-providers.md): on
/// the local plane both pools are every worker.
pub const DEFAULT_CAPACITY_PROVIDERS: &str = "\
apiVersion: berth.dev/v1alpha1
kind: CapacityProvider
metadata: {name: ec2}
spec: {type: EC2}
---
apiVersion: berth.dev/v1alpha1
kind: CapacityProvider
metadata: {name: fargate}
spec: {type: FARGATE}
";

const STEP_TIMEOUT: Duration = Duration::from_secs(120);
const ZONE: &str = "topology.kubernetes.io/zone";

/// What the demo showed, for a test to check.
#[derive(Debug)]
pub struct Report {
    pub tasks_per_zone: BTreeMap<String, usize>,
    pub stopped_reason: String,
    /// From the failed task being visible to its replacement being created.
    pub replaced_after: Duration,
    pub rolled_in: Duration,
}

/// Runs the demo in namespace `ns` (created if missing), writing the story to `out`.
pub async fn run(client: Client, kubectl: &Kubectl, ns: &str, out: &mut dyn Write) -> Result<Report> {
    let example = repo_root().join("examples/web-fargate.yaml");
    let manifest = std::fs::read_to_string(&example).with_context(|| format!("reading {}", example.display()))?;
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &namespace.to_string())?;
    // The example's launchType: FARGATE needs the provider of that name.
    kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], DEFAULT_CAPACITY_PROVIDERS)?;
    kubectl.run_with_input(&["apply", "--server-side", "-n", ns, "-f", "-"], &manifest)?;
    writeln!(out, "\n== 1. kubectl apply -n {ns} -f examples/web-fargate.yaml: a Service of 6 tasks")?;

    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let tasks = tasks_of("web");
    let started = Instant::now();
    let ready = wait_for(pods.clone(), tasks.clone(), STEP_TIMEOUT, "6 running tasks of web", |ps| {
        ps.iter().filter(|p| is_healthy(p)).count() == 6
    })
    .await;
    let zones: BTreeMap<String, String> = Api::<Node>::all(client.clone()).list(&Default::default()).await?
        .into_iter()
        .map(|n| (n.name_any(), n.labels().get(ZONE).cloned().unwrap_or_default()))
        .collect();
    let mut tasks_per_zone = BTreeMap::new();
    writeln!(out, "   {:<28} {:<16} {:<12} REVISION", "TASK (POD)", "NODE", "ZONE")?;
    for pod in ready.iter().filter(|p| is_healthy(p)) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        let zone = zones.get(&node).cloned().unwrap_or_default();
        writeln!(out, "   {:<28} {:<16} {:<12} web:{}", pod.name_any(), node, zone, revision_of(pod))?;
        *tasks_per_zone.entry(zone).or_insert(0) += 1;
    }
    writeln!(out, "   all 6 RUNNING after {:.1}s; per zone: {tasks_per_zone:?}", started.elapsed().as_secs_f64())?;

    let victim = ready.iter().find(|p| is_healthy(p)).context("a running task")?.name_any();
    writeln!(out, "\n== 2. Task {victim} fails: its essential container exits with code 1")?;
    let fail = json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "1"}}});
    pods.patch(&victim, &PatchParams::default(), &Patch::Merge(&fail)).await?;
    let before: BTreeSet<String> = ready.iter().map(|p| p.name_any()).collect();
    let mut failed_at = None;
    let mut replaced_after = Duration::ZERO;
    let after = wait_for(pods.clone(), tasks.clone(), STEP_TIMEOUT, "a replacement running", |ps| {
        if failed_at.is_none() && ps.iter().any(|p| p.name_any() == victim && phase(p) == "Failed") {
            failed_at = Some(Instant::now());
        }
        let replacement = ps.iter().find(|p| !before.contains(&p.name_any()));
        if let (Some(at), Some(_), true) = (failed_at, replacement, replaced_after.is_zero()) {
            replaced_after = at.elapsed();
        }
        replacement.is_some_and(|p| is_healthy(p))
    })
    .await;
    let replacement = after.iter().find(|p| !before.contains(&p.name_any())).map(|p| p.name_any()).unwrap_or_default();
    // The status follows the pods: wait for it to list the stopped task.
    let services = Api::<Service>::namespaced(client.clone(), ns);
    let reason_of = |service: &Service| service.status.as_ref().and_then(|s| s.stopped_tasks.as_ref())
        .and_then(|ts| ts.iter().find(|t| t.pod_name.as_deref() == Some(&victim)))
        .and_then(|t| t.stopped_reason.clone());
    let service = wait_for(services.clone(), named("web"), STEP_TIMEOUT,
        &format!("{victim} among the stopped tasks"), |ss| ss.iter().any(|s| reason_of(s).is_some())).await;
    let stopped_reason = service.first().and_then(|s| reason_of(s)).unwrap_or_default();
    writeln!(out, "   stopped: {stopped_reason}")?;
    writeln!(out, "   replaced by {replacement}, created {:.2}s after the failure was visible", replaced_after.as_secs_f64())?;

    writeln!(out, "\n== 3. A new revision (image nginx:1.28) rolls out: minimumHealthyPercent 50, maximumPercent 200")?;
    let next = manifest.replace("public.ecr.aws/nginx/nginx:1.27", "public.ecr.aws/nginx/nginx:1.28");
    kubectl.run_with_input(&["apply", "--server-side", "-n", ns, "-f", "-"], &next)?;
    let rolling = Instant::now();
    let mut last = String::new();
    let mut progress = vec![];
    wait_for(services, named("web"), STEP_TIMEOUT, "the roll to web:2", |ss| {
        let Some(status) = ss.first().and_then(|s| s.status.as_ref()) else { return false };
        let deployments = status.deployments.clone().unwrap_or_default();
        let line = deployments.iter()
            .map(|d| format!("{} {} running {}/{} {}", wire_name(&d.status), d.task_definition, d.running_count, d.desired_count, wire_name(&d.rollout_state)))
            .collect::<Vec<_>>()
            .join(" | ");
        if line != last {
            progress.push(format!("   {:>5.1}s  {line}", rolling.elapsed().as_secs_f64()));
            last = line;
        }
        deployments.len() == 1 && deployments[0].task_definition == "web:2" && wire_name(&deployments[0].rollout_state) == "COMPLETED"
    })
    .await;
    let rolled_in = rolling.elapsed();
    for line in progress {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "   web:2 COMPLETED in {:.1}s", rolled_in.as_secs_f64())?;
    writeln!(out, "\n== kubectl get ecs -n {ns}\n{}", kubectl.run(&["get", "ecs", "-n", ns])?)?;
    Ok(Report { tasks_per_zone, stopped_reason, replaced_after, rolled_in })
}
