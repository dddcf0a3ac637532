//! Scale-up: from nothing to `services` × `tasks` running, timed to "all
//! exist" and "all running". Also sets up the fleets the other scenarios start
//! from.
use std::time::{Duration, Instant};

use anyhow::Result;
use kube::Client;

use super::timeline::Timeline;
use super::{Contender, workload};

/// Seconds from the request to all pods existing and all running.
#[derive(Clone, Copy, Debug)]
pub struct ScaleUp {
    pub exist: f64,
    pub running: f64,
}

/// Starts `services` × `tasks` pods in `ns` the contender's way and times it.
pub async fn run(client: &Client, ns: &str, contender: Contender, services: usize, tasks: usize, timeout: Duration) -> Result<ScaleUp> {
    let total = services * tasks;
    run_fleet(client, ns, contender, fleet(contender, services, tasks), total, total, timeout).await
}

/// Creates `objects`, a fleet of `total` pods (see [`fleet`]), and times it
/// to all of them existing and `runnable` of them running (fewer than
/// `total` when the nodes have room for fewer: the rest stay Pending).
/// Berth's task definition is registered before the clock starts.
pub async fn run_fleet(client: &Client, ns: &str, contender: Contender, objects: Vec<serde_json::Value>, total: usize, runnable: usize,
    timeout: Duration) -> Result<ScaleUp> {
    let mut timeline = Timeline::start(client, ns);
    timeline.until("the pod watch", timeout, |_| true).await?;
    if contender == Contender::Berth {
        workload::register_task_definition(client, ns, "bench", workload::IMAGE, 1, timeout).await?;
    }
    let started = Instant::now();
    let wait = async {
        // Each timed on its own: with pods left Pending, `runnable` may run before all exist.
        let (mut exist, mut running) = (None, None);
        timeline.until(&format!("{total} pods and {runnable} running"), timeout, |p| {
            let now = Instant::now();
            exist = exist.or((p.total() >= total).then_some(now));
            running = running.or((p.running() >= runnable).then_some(now));
            exist.is_some() && running.is_some()
        }).await?;
        // Both are set once `until` returns.
        let seconds = |at: Option<Instant>| at.map_or(0.0, |at| (at - started).as_secs_f64());
        Ok::<_, anyhow::Error>(ScaleUp { exist: seconds(exist), running: seconds(running) })
    };
    let (_, times) = tokio::try_join!(workload::create_all(client, ns, objects), wait)?;
    // Where the last pods waited (on kube-scheduler or on kwok, which share the 2 cores).
    let backlog = timeline.now().backlog_at_last_creation();
    eprintln!("bench:     when the last pod appeared: {} running, {} bound and not running yet, {} not bound yet",
        backlog.running, backlog.bound, backlog.unbound);
    Ok(times)
}

/// What the contender is asked to create: Services, Deployments, or the pods themselves.
pub fn fleet(contender: Contender, services: usize, tasks: usize) -> Vec<serde_json::Value> {
    let name = |i: usize| if services == 1 { "bench".to_string() } else { format!("bench-{i}") };
    match contender {
        Contender::Berth => (0..services).map(|i| workload::service(&name(i), "bench", tasks)).collect(),
        Contender::Kcm => (0..services).map(|i| workload::deployment(&name(i), tasks)).collect(),
        Contender::Raw => (0..services * tasks).map(|i| workload::raw_pod(&format!("bench-{i}"), workload::IMAGE)).collect(),
    }
}
