//! The benchmark (issue 7): Berth side by side with kube-controller-manager's
//! ReplicaSet/Deployment controllers and with the raw limit (the same pods
//! created directly), on one control plane, in one run. Each scenario runs
//! once per contender, each in a namespace of its own that is deleted (and
//! waited for) before the next starts. `cargo plane bench` runs it at full
//! scale; `tests/e2e/bench.rs` at a small one.
pub mod chart;
mod probe;
mod replacement;
pub mod report;
mod rollout;
mod scale_up;
pub mod stats;
mod steady;
mod timeline;
pub mod workload;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::watcher;
use serde::Serialize;

use crate::fixture::try_wait_for;
use crate::kubectl::Kubectl;
pub use probe::FlowSchemas;
pub use report::{Figure, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Contender {
    Berth,
    Kcm,
    Raw,
}

pub const CONTENDERS: [Contender; 3] = [Contender::Berth, Contender::Kcm, Contender::Raw];

/// The sizes of every scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    pub scale: f64,
    pub one_service_tasks: usize,
    pub services: usize,
    pub tasks_per_service: usize,
    pub replacements: usize,
    pub rollout_tasks: usize,
    #[serde(serialize_with = "report::seconds")]
    pub steady_window: Duration,
    pub memory_tasks: usize,
    /// The longest any one wait may take.
    #[serde(serialize_with = "report::seconds")]
    pub timeout: Duration,
}

impl Params {
    /// The sizes times `scale` (1.0: 1,000 tasks, 100 Services of 10,
    /// 100 replacements, a roll of 500, 60 s idle, 10,000 tasks for memory).
    pub fn scaled(scale: f64) -> Params {
        let n = |full: f64, least: usize| ((full * scale).round() as usize).max(least);
        Params {
            scale,
            one_service_tasks: n(1000.0, 10),
            services: n(100.0, 2),
            tasks_per_service: 10,
            replacements: n(100.0, 3),
            rollout_tasks: n(500.0, 10),
            steady_window: Duration::from_secs_f64((60.0 * scale).max(3.0)),
            memory_tasks: n(10_000.0, 20),
            timeout: Duration::from_secs_f64(120.0 + 480.0 * scale.min(1.0)),
        }
    }
}

/// The plane the benchmark runs against.
pub struct Target {
    /// An admin client without a rate limit (the raw reference uses it).
    pub client: Client,
    pub kubectl: Kubectl,
    pub operator_pid: u32,
    pub kcm_pid: u32,
    /// The operator's ServiceAccount (namespace, name), for its FlowSchema.
    pub operator_service_account: (String, String),
    /// Prefix of the namespaces and FlowSchemas this run creates (unique per run).
    pub prefix: String,
    /// Free text for the report: how the operator was built and its client limits.
    pub notes: Vec<String>,
}

/// Runs every scenario for every contender, printing progress to stderr.
pub async fn run(target: &Target, params: &Params) -> Result<Report> {
    let started = Instant::now();
    let sa = &target.operator_service_account;
    let schemas = FlowSchemas::install(&target.kubectl, &target.prefix, (&sa.0, &sa.1))?;
    let mut report = Report::new(target, params)?;
    let requests_before = [probe::dispatched_requests(&target.kubectl, &schemas.operator)?, probe::dispatched_requests(&target.kubectl, &schemas.kcm)?];
    let t = params.timeout;
    let c = &target.client;

    let phase = Instant::now();
    let (n, s, k) = (params.one_service_tasks, params.services, params.tasks_per_service);
    for contender in CONTENDERS {
        let ns = arena(target, "one", contender).await?;
        let times = scale_up::run(c, &ns, contender, 1, n, t).await?;
        report.set("scale-up", &format!("1 service x {n}: all exist"), "s", contender, times.exist);
        report.set("scale-up", &format!("1 service x {n}: all running"), "s", contender, times.running);
        if contender != Contender::Raw {
            let idle = steady::idle(target, &schemas, contender, params.steady_window).await?;
            let window = params.steady_window.as_secs_f64();
            report.set("steady", &format!("API requests in {window:.0} s idle ({n} tasks)"), "requests", contender, idle.requests);
            report.set("steady", &format!("CPU time in {window:.0} s idle ({n} tasks)"), "cpu-s", contender, idle.cpu_seconds);
        }
        remove(target, &ns, t).await?;
        let ns = arena(target, "many", contender).await?;
        let times = scale_up::run(c, &ns, contender, s, k, t).await?;
        report.set("scale-up", &format!("{s} services x {k}: all exist"), "s", contender, times.exist);
        report.set("scale-up", &format!("{s} services x {k}: all running"), "s", contender, times.running);
        remove(target, &ns, t).await?;
    }
    report.took("scale-up and steady state", phase);

    let phase = Instant::now();
    let r = params.replacements;
    for contender in CONTENDERS {
        let ns = arena(target, "replace", contender).await?;
        let replaced = replacement::run(c, &ns, contender, r, t).await?;
        for (how, latencies) in [("one at a time", &replaced.one_at_a_time), ("burst", &replaced.burst)] {
            let summary = stats::summarize(latencies).with_context(|| format!("no replacement latencies ({how})"))?;
            for (which, value) in [("p50", summary.p50), ("p99", summary.p99), ("max", summary.max)] {
                report.set("replacement", &format!("{r} failures {how}: {which}"), "s", contender, value);
            }
        }
        remove(target, &ns, t).await?;
    }
    report.took("replacement", phase);

    let phase = Instant::now();
    let n = params.rollout_tasks;
    for contender in CONTENDERS {
        let ns = arena(target, "roll", contender).await?;
        let seconds = rollout::run(c, &ns, contender, n, t).await?;
        report.set("rollout", &format!("roll {n} tasks (min 50 % / max 200 %)"), "s", contender, seconds);
        remove(target, &ns, t).await?;
    }
    report.took("rollout", phase);

    let phase = Instant::now();
    let n = params.memory_tasks;
    for contender in [Contender::Berth, Contender::Kcm] {
        let ns = arena(target, "memory", contender).await?;
        let mib = steady::memory(target, &ns, contender, n, t).await?;
        report.set("steady", &format!("resident memory with {n} tasks"), "MiB", contender, mib);
        remove(target, &ns, t).await?;
    }
    report.took("memory", phase);
    // Also proves the FlowSchemas attribute requests (an idle window may see none).
    for (contender, schema, before) in [(Contender::Berth, &schemas.operator, requests_before[0]), (Contender::Kcm, &schemas.kcm, requests_before[1])] {
        let requests = probe::dispatched_requests(&target.kubectl, schema)? - before;
        report.set("whole run", "API requests over the whole benchmark", "requests", contender, requests);
    }
    report.took("total", started);
    Ok(report)
}

/// A fresh namespace for one contender's run of one scenario.
async fn arena(target: &Target, scenario: &str, contender: Contender) -> Result<String> {
    let ns = format!("{}-{scenario}-{}", target.prefix, serde_json::to_value(contender)?.as_str().unwrap_or_default());
    eprintln!("bench: {scenario} / {contender:?} in namespace {ns}");
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    target.kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &namespace.to_string())?;
    // Pods need the namespace's default ServiceAccount (kcm creates it).
    let accounts = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(target.client.clone(), &ns);
    try_wait_for(accounts, watcher::Config::default().fields("metadata.name=default"), Duration::from_secs(60),
        "the default ServiceAccount", |sas| !sas.is_empty()).await?;
    Ok(ns)
}

/// Deletes the namespace, removes its pods at once (a Terminating namespace
/// takes no new ones), and waits until the namespace is gone, so the next
/// run starts on a quiet plane.
pub async fn remove(target: &Target, ns: &str, timeout: Duration) -> Result<()> {
    let namespaces = Api::<Namespace>::all(target.client.clone());
    namespaces.delete(ns, &DeleteParams::default()).await?;
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(target.client.clone(), ns);
    pods.delete_collection(&DeleteParams { grace_period_seconds: Some(0), ..Default::default() }, &ListParams::default()).await?;
    try_wait_for(namespaces, watcher::Config::default().fields(&format!("metadata.name={ns}")), timeout,
        &format!("namespace {ns} gone"), |nss| nss.is_empty()).await?;
    Ok(())
}
