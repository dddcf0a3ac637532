//! Scaling slope: Berth alone, one Service grown step by step (10,000, 25,000
//! and 50,000 tasks at full scale). At each step, once every task exists and
//! all that fit on the nodes run, the operator's resident memory and the time
//! of one reconcile of the Service: the mean of
//! `berth_reconcile_duration_seconds{controller="service"}` over reconciles
//! forced by touching the Service. Tasks beyond the nodes' room stay Pending,
//! as in the memory scenario.
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use berth::api::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::probe::{rss_mib, service_reconciles};
use super::timeline::Timeline;
use super::{Target, nodes, workload};

/// Reconciles forced and averaged at each step.
const RECONCILES: usize = 10;

pub struct Point {
    pub tasks: usize,
    pub memory_mib: f64,
    pub reconcile_seconds: f64,
}

pub async fn run(target: &Target, ns: &str, steps: &[usize], timeout: Duration) -> Result<Vec<Point>> {
    let client = &target.client;
    let mut timeline = Timeline::start(client, ns);
    timeline.until("the pod watch", timeout, |_| true).await?;
    workload::register_task_definition(client, ns, "bench", workload::IMAGE, 1, timeout).await?;
    let room = nodes::pod_room(client).await?;
    let services = Api::<Service>::namespaced(client.clone(), ns);
    let mut points = vec![];
    for &tasks in steps {
        let apply = PatchParams::apply("berth-bench").force();
        services.patch("bench", &apply, &Patch::Apply(workload::service("bench", "bench", tasks))).await?;
        timeline.until(&format!("{tasks} tasks"), timeout, |p| p.total() >= tasks).await?;
        let runnable = tasks.min(room);
        timeline.until(&format!("{runnable} running"), timeout, |p| p.running() >= runnable).await?;
        let reconcile_seconds = reconcile_time(&target.operator_metrics, &services, timeout).await?;
        points.push(Point { tasks, memory_mib: rss_mib(target.operator_pid)?, reconcile_seconds });
    }
    Ok(points)
}

/// Touches the Service (an annotation: any change to a Service wakes its
/// reconcile) RECONCILES times, each once the operator has counted a
/// reconcile since the one before, and returns the mean duration of the
/// reconciles counted meanwhile (all of this Service: it is alone).
async fn reconcile_time(metrics: &str, services: &Api<Service>, timeout: Duration) -> Result<f64> {
    let (sum_before, count_before) = service_reconciles(metrics);
    let mut count = count_before;
    for touch in 0..RECONCILES {
        let annotation = json!({"metadata": {"annotations": {"bench.berth.dev/touch": touch.to_string()}}});
        services.patch("bench", &PatchParams::default(), &Patch::Merge(&annotation)).await?;
        count = next_reconcile(metrics, count, timeout).await?;
    }
    let (sum, count) = service_reconciles(metrics);
    Ok((sum - sum_before) / (count - count_before))
}

/// Waits until the operator has counted more Service reconciles than `count`
/// and returns the new count. It exposes no watch: polled, briefly.
async fn next_reconcile(metrics: &str, count: f64, timeout: Duration) -> Result<f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, now) = service_reconciles(metrics);
        if now > count {
            return Ok(now);
        }
        if Instant::now() > deadline {
            bail!("no Service reconcile counted within {timeout:?} of touching the Service (berth_reconcile_duration_seconds_count)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
