//! The benchmark (issues 7 and 18): Berth side by side with kube-controller-manager's
//! ReplicaSet/Deployment controllers and with the raw limit (the same pods
//! created directly), on one control plane, in one run. Each short scenario
//! runs `repeats` times per contender (the report keeps the median, min and
//! max), the long ones once; every run in a namespace of its own that is
//! deleted (and waited for) before the next starts. `cargo plane bench` runs
//! it at full scale; `tests/e2e/bench.rs` at a small one.
pub mod chart;
mod node_churn;
mod nodes;
mod probe;
mod replacement;
pub mod report;
mod rollout;
mod scale_up;
mod slope;
pub mod stats;
mod steady;
mod timeline;
pub mod workload;
mod zone_outage;

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
    /// The zone outage's fleet: services of `zone_tasks_per_service` each.
    pub zone_services: usize,
    pub zone_tasks_per_service: usize,
    /// How long a task may sit on a lost node before it is replaced: the
    /// operator's `--node-lost-grace-seconds`, and the kcm pods' tolerations.
    #[serde(serialize_with = "report::seconds")]
    pub node_lost_grace: Duration,
    /// The node churn's fleet: services of `churn_tasks_per_service` each,
    /// while every node posts a status heartbeat every `heartbeat_interval`.
    pub churn_services: usize,
    pub churn_tasks_per_service: usize,
    #[serde(serialize_with = "report::seconds")]
    pub heartbeat_interval: Duration,
    /// The scaling slope's steps: Berth's one Service grown to each in turn.
    pub slope_tasks: Vec<usize>,
    /// Runs of each short scenario (scale-up with the idle figures,
    /// replacement, rollout) per contender; the report keeps their median.
    pub repeats: usize,
    /// The longest any one wait may take.
    #[serde(serialize_with = "report::seconds")]
    pub timeout: Duration,
    /// Wait for each scenario's namespace to be gone before the next starts,
    /// so every measurement starts on a quiet plane (about 5 s each: the
    /// namespace controller's pace). A run that measures nothing may skip it.
    pub settle: bool,
    /// The phases to run (see [`PHASES`]); the default ones when empty. For
    /// measuring one change; the report's figures are the full set only without it.
    pub only: Vec<String>,
}

/// The phases `Params::only` may name, in the order they run.
pub const PHASES: [&str; 7] = ["scale-up", "replacement", "rollout", "zone-outage", "node-churn", "memory", "slope"];
/// Phases that run only when named: the slope takes longer at full scale
/// (50,000 tasks created and deleted) than every other phase together.
const ONLY_WHEN_NAMED: [&str; 1] = ["slope"];

impl Params {
    /// The issues' sizes times `scale` (1.0: 1,000 tasks, 100 Services of 10,
    /// 100 replacements, a roll of 500, 60 s idle, 100 Services of 10 in the
    /// zone outage, 100 of 100 in the node churn, 10,000 tasks for memory,
    /// 10,000, 25,000 and 50,000 for the slope), the short scenarios 3 times each.
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
            zone_services: n(100.0, 2),
            zone_tasks_per_service: 10,
            node_lost_grace: Duration::from_secs(30),
            churn_services: n(100.0, 2),
            churn_tasks_per_service: n(100.0, 10),
            heartbeat_interval: Duration::from_secs(10),
            slope_tasks: vec![n(10_000.0, 20), n(25_000.0, 40), n(50_000.0, 60)],
            repeats: 3,
            timeout: Duration::from_secs_f64(120.0 + 480.0 * scale.min(1.0)),
            settle: true,
            only: vec![],
        }
    }

    fn runs(&self, phase: &str) -> bool {
        if self.only.is_empty() { !ONLY_WHEN_NAMED.contains(&phase) } else { self.only.iter().any(|p| p == phase) }
    }
}

/// The plane the benchmark runs against.
pub struct Target {
    /// An admin client without a rate limit (the raw reference uses it).
    pub client: Client,
    pub kubectl: Kubectl,
    pub operator_pid: u32,
    /// HOST:PORT where the operator serves /metrics.
    pub operator_metrics: String,
    pub kcm_pid: u32,
    /// The operator's ServiceAccount (namespace, name), for its FlowSchema.
    pub operator_service_account: (String, String),
    /// Prefix of the namespaces and FlowSchemas this run creates (unique per run).
    pub prefix: String,
    /// Free text for the report: how the operator was built and its client limits.
    pub notes: Vec<String>,
}

/// Runs every scenario for every contender into `report`, printing progress
/// to stderr. On an error the figures measured so far stay in `report`.
pub async fn run(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let started = Instant::now();
    let sa = &target.operator_service_account;
    let schemas = FlowSchemas::install(&target.kubectl, &target.prefix, (&sa.0, &sa.1))?;
    let requests_before = [probe::dispatched_requests(&target.kubectl, &schemas.operator)?, probe::dispatched_requests(&target.kubectl, &schemas.kcm)?];

    for phase in PHASES.into_iter().filter(|phase| params.runs(phase)) {
        let started = Instant::now();
        match phase {
            "scale-up" => scale_ups(target, params, &schemas, report).await?,
            "replacement" => replacements(target, params, report).await?,
            "rollout" => rollouts(target, params, report).await?,
            "zone-outage" => zone_outages(target, params, report).await?,
            "node-churn" => node_churns(target, params, &schemas, report).await?,
            "memory" => memory(target, params, report).await?,
            "slope" => slopes(target, params, report).await?,
            other => anyhow::bail!("no phase {other}"),
        }
        report.took(phase, started);
    }
    // Also proves the FlowSchemas attribute requests (an idle window may see none).
    for (contender, schema, before) in [(Contender::Berth, &schemas.operator, requests_before[0]), (Contender::Kcm, &schemas.kcm, requests_before[1])] {
        let requests = probe::dispatched_requests(&target.kubectl, schema)? - before;
        report.record("whole run", "API requests over the whole benchmark", "requests", contender, requests);
    }
    report.took("total", started);
    Ok(())
}

/// Each repeat runs every contender in turn, so drift over the run (a
/// growing etcd, a warming cache) touches every contender alike.
fn rounds(params: &Params) -> impl Iterator<Item = (usize, Contender)> {
    (1..=params.repeats).flat_map(|round| CONTENDERS.map(|contender| (round, contender)))
}

/// 1 × n and s × k from nothing, and the steady state's idle figures with the 1 × n fleet.
async fn scale_ups(target: &Target, params: &Params, schemas: &FlowSchemas, report: &mut Report) -> Result<()> {
    let (c, t) = (&target.client, params.timeout);
    let (n, s, k) = (params.one_service_tasks, params.services, params.tasks_per_service);
    for (round, contender) in rounds(params) {
        let ns = arena(target, "one", contender, round).await?;
        let before = (contender != Contender::Raw).then(|| steady::Usage::so_far(target, schemas, contender)).transpose()?;
        let times = scale_up::run(c, &ns, contender, 1, n, t).await?;
        report.record("scale-up", &format!("1 service x {n}: all exist"), "s", contender, times.exist);
        report.record("scale-up", &format!("1 service x {n}: all running"), "s", contender, times.running);
        // What the controller spent on it (it shares the 2 cores with the API server, kube-scheduler
        // and kwok), then its idle figures with the fleet.
        if let Some(before) = before {
            let used = before.since(target, schemas, contender)?;
            report.record("scale-up", &format!("1 service x {n}: CPU time until all running"), "cpu-s", contender, used.cpu_seconds);
            report.record("scale-up", &format!("1 service x {n}: API requests until all running"), "requests", contender, used.requests);
            let idle = steady::idle(target, schemas, contender, params.steady_window).await?;
            let window = params.steady_window.as_secs_f64();
            report.record("steady", &format!("API requests in {window:.0} s idle ({n} tasks)"), "requests", contender, idle.requests);
            report.record("steady", &format!("CPU time in {window:.0} s idle ({n} tasks)"), "cpu-s", contender, idle.cpu_seconds);
        }
        remove(target, &ns, t, params.settle).await?;
        let ns = arena(target, "many", contender, round).await?;
        let times = scale_up::run(c, &ns, contender, s, k, t).await?;
        report.record("scale-up", &format!("{s} services x {k}: all exist"), "s", contender, times.exist);
        report.record("scale-up", &format!("{s} services x {k}: all running"), "s", contender, times.running);
        remove(target, &ns, t, params.settle).await?;
    }
    Ok(())
}

async fn replacements(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let r = params.replacements;
    for (round, contender) in rounds(params) {
        let ns = arena(target, "replace", contender, round).await?;
        let replaced = replacement::run(&target.client, &ns, contender, r, params.timeout).await?;
        for (how, latencies) in [("one at a time", &replaced.one_at_a_time), ("burst", &replaced.burst)] {
            let summary = stats::summarize(latencies).with_context(|| format!("no replacement latencies ({how})"))?;
            for (which, value) in [("p50", summary.p50), ("p99", summary.p99), ("max", summary.max)] {
                report.record("replacement", &format!("{r} failures {how}: {which}"), "s", contender, value);
            }
        }
        remove(target, &ns, params.timeout, params.settle).await?;
    }
    Ok(())
}

async fn rollouts(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let n = params.rollout_tasks;
    for (round, contender) in rounds(params) {
        let ns = arena(target, "roll", contender, round).await?;
        let seconds = rollout::run(&target.client, &ns, contender, n, params.timeout).await?;
        report.record("rollout", &format!("roll {n} tasks (min 50 % / max 200 %)"), "s", contender, seconds);
        remove(target, &ns, params.timeout, params.settle).await?;
    }
    Ok(())
}

/// Once each: a long scenario (the node-lost grace is most of it). No raw
/// reference: nothing replaces bare pods.
async fn zone_outages(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let (s, k) = (params.zone_services, params.zone_tasks_per_service);
    for contender in [Contender::Berth, Contender::Kcm] {
        let ns = arena(target, "zone", contender, 1).await?;
        let seconds = zone_outage::run(&target.client, &ns, contender, s, k, params.node_lost_grace, params.timeout).await?;
        report.record("zone-outage", &format!("{s} services x {k}: a zone NotReady, all running again"), "s", contender, seconds);
        remove(target, &ns, params.timeout, params.settle).await?;
    }
    Ok(())
}

/// Once each: a long scenario. No raw reference: the figures that matter
/// here are what the controllers spend.
async fn node_churns(target: &Target, params: &Params, schemas: &FlowSchemas, report: &mut Report) -> Result<()> {
    let (s, k) = (params.churn_services, params.churn_tasks_per_service);
    for contender in [Contender::Berth, Contender::Kcm] {
        let ns = arena(target, "churn", contender, 1).await?;
        let churn = node_churn::run(target, schemas, &ns, contender, params).await?;
        eprintln!("bench:   {} of the {} tasks fit on the nodes", churn.runnable, s * k);
        let metric = |what: &str| format!("{s} services x {k}, node heartbeats: {what}");
        report.record("node-churn", &metric("all exist"), "s", contender, churn.times.exist);
        report.record("node-churn", &metric("all that fit running"), "s", contender, churn.times.running);
        report.record("node-churn", &metric("API requests"), "requests", contender, churn.usage.requests);
        report.record("node-churn", &metric("CPU time"), "cpu-s", contender, churn.usage.cpu_seconds);
        remove(target, &ns, params.timeout, params.settle).await?;
    }
    Ok(())
}

/// Once each: a long scenario whose figure varies little.
async fn memory(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let n = params.memory_tasks;
    // Berth caches only its own pods, kcm every pod: kcm goes first, so
    // neither holds the other's.
    for contender in [Contender::Kcm, Contender::Berth] {
        let ns = arena(target, "memory", contender, 1).await?;
        let mib = steady::memory(target, &ns, contender, n, params.timeout).await?;
        report.record("steady", &format!("resident memory with {n} tasks"), "MiB", contender, mib);
        remove(target, &ns, params.timeout, params.settle).await?;
    }
    Ok(())
}

/// Berth alone: memory and one reconcile's time at each step, and their
/// least-squares slopes over the tasks.
async fn slopes(target: &Target, params: &Params, report: &mut Report) -> Result<()> {
    let ns = arena(target, "slope", Contender::Berth, 1).await?;
    let points = slope::run(target, &ns, &params.slope_tasks, params.timeout).await?;
    for point in &points {
        let n = point.tasks;
        report.record("slope", &format!("resident memory with {n} tasks"), "MiB", Contender::Berth, point.memory_mib);
        report.record("slope", &format!("one Service reconcile with {n} tasks"), "ms", Contender::Berth, point.reconcile_seconds * 1000.0);
    }
    let per_thousand = |y: fn(&slope::Point) -> f64| stats::slope(&points.iter().map(|p| (p.tasks as f64 / 1000.0, y(p))).collect::<Vec<_>>());
    if let (Some(memory), Some(reconcile)) = (per_thousand(|p| p.memory_mib), per_thousand(|p| p.reconcile_seconds * 1000.0)) {
        report.record("slope", "resident memory per 1,000 tasks", "MiB/1k tasks", Contender::Berth, memory);
        report.record("slope", "one Service reconcile per 1,000 tasks", "ms/1k tasks", Contender::Berth, reconcile);
    }
    // The last phase: nothing waits for its 50,000 pods to be gone (minutes).
    remove(target, &ns, params.timeout, false).await
}

/// A fresh namespace for one contender's `round`th run of one scenario.
async fn arena(target: &Target, scenario: &str, contender: Contender, round: usize) -> Result<String> {
    let ns = format!("{}-{scenario}-{}-{round}", target.prefix, serde_json::to_value(contender)?.as_str().unwrap_or_default());
    eprintln!("bench: {scenario} / {contender:?} (run {round}) in namespace {ns}");
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    target.kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &namespace.to_string())?;
    // Pods need the namespace's default ServiceAccount (kcm creates it).
    let accounts = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(target.client.clone(), &ns);
    try_wait_for(accounts, watcher::Config::default().fields("metadata.name=default"), Duration::from_secs(60),
        "the default ServiceAccount", |sas| !sas.is_empty()).await?;
    Ok(ns)
}

/// Deletes the namespace; with `settle`, also removes its pods at once (a
/// Terminating namespace takes no new ones) and waits until the namespace is
/// gone. Without, the namespace controller removes the pods in its own time.
async fn remove(target: &Target, ns: &str, timeout: Duration, settle: bool) -> Result<()> {
    let started = Instant::now();
    let namespaces = Api::<Namespace>::all(target.client.clone());
    retrying(&format!("deleting namespace {ns}"), timeout, || async {
        match namespaces.delete(ns, &DeleteParams::default()).await {
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    })
    .await?;
    if settle {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(target.client.clone(), ns);
        let (now, every) = (DeleteParams { grace_period_seconds: Some(0), ..Default::default() }, ListParams::default());
        retrying(&format!("deleting the pods of {ns}"), timeout, || pods.delete_collection(&now, &every)).await?;
        try_wait_for(namespaces, watcher::Config::default().fields(&format!("metadata.name={ns}")), timeout,
            &format!("namespace {ns} gone"), |nss| nss.is_empty()).await?;
        eprintln!("bench: namespace {ns} removed in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Sends `request` again after an error until `timeout` has passed. Deleting
/// 10,000 pods in one request can outlast the API server's request timeout,
/// which drops the connection; the pods deleted so far stay deleted, so the
/// next attempt has less to do.
async fn retrying<T, F, Fut>(what: &str, timeout: Duration, request: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match request().await {
            Ok(done) => return Ok(done),
            Err(e) if Instant::now() < deadline => {
                eprintln!("bench: {what}: {e}; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{what}: no success within {timeout:?}")),
        }
    }
}
