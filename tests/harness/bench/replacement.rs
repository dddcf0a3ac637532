//! Replacement: tasks fail one at a time, then all at once; the latency from
//! the failure being visible on a pod watch to the replacement pod appearing
//! on the same watch. Berth's tasks fail (kwok makes the container exit 1);
//! kcm's pods are deleted (a Deployment's failed container would be
//! restarted in place by the kubelet, not replaced); the raw reference is the
//! round trip of a single pod create.
//!
//! Only tasks older than 10 s are failed: Berth, as ECS, counts a task that
//! stops sooner as a failed start and throttles starts after repeated ones
//! (`QUICK_EXIT` in the operator), which is not what this scenario measures.
//! So the fleet is twice `count`, and both halves are failed from the
//! originals, past that window: one half one at a time, the other in a burst.
//! kcm's pods get the same fleet and the same wait.
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::stats::replacement_latencies;
use super::timeline::Timeline;
use super::{Contender, scale_up, workload};

/// Latencies of replacing `count` tasks one at a time, and in a burst.
pub struct Replacements {
    pub one_at_a_time: Vec<Duration>,
    pub burst: Vec<Duration>,
}

pub async fn run(client: &Client, ns: &str, contender: Contender, count: usize, timeout: Duration) -> Result<Replacements> {
    if contender == Contender::Raw {
        return raw_creates(client, ns, count).await;
    }
    let fleet = 2 * count;
    scale_up::run(client, ns, contender, 1, fleet, timeout).await?;
    let mut timeline = Timeline::start(client, ns);
    timeline.until(&format!("{fleet} running"), timeout, |p| p.running() == fleet).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    until_past_quick_exit(&pods).await?;
    let originals = timeline.now().running_names();
    let (singles, burst) = originals.split_at(count);

    let (failures_from, creations_from) = marks(&timeline);
    for victim in singles {
        let (failures, creations) = marks(&timeline);
        fail(&pods, contender, victim).await?;
        timeline.until(&format!("a replacement for {victim}"), timeout, |p| {
            p.failures.len() > failures && p.creations.len() > creations && p.running() == fleet
        }).await?;
    }
    let one_at_a_time = latencies_since(&timeline, failures_from, creations_from);

    let (failures_from, creations_from) = marks(&timeline);
    futures::stream::iter(burst)
        .map(|victim| fail(&pods, contender, victim))
        .buffer_unordered(workload::CONCURRENT_REQUESTS)
        .try_collect::<()>()
        .await?;
    timeline.until(&format!("{count} replacements running"), timeout, |p| {
        p.creations.len() >= creations_from + burst.len() && p.running() == fleet
    }).await?;
    let burst = latencies_since(&timeline, failures_from, creations_from);
    Ok(Replacements { one_at_a_time, burst })
}

/// Berth's QUICK_EXIT: a task stopping sooner after its creation failed to start.
const QUICK_EXIT: Duration = Duration::from_secs(10);

/// Waits until the youngest pod is older than QUICK_EXIT (creation times
/// have whole seconds, hence one more). A plain sleep: nothing to watch for.
async fn until_past_quick_exit(pods: &Api<Pod>) -> Result<()> {
    let created = pods.list_metadata(&ListParams::default()).await?.items.into_iter()
        .filter_map(|p| Some(p.metadata.creation_timestamp?.0.as_second()))
        .max();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    if let Some(created) = created {
        let wait = created + QUICK_EXIT.as_secs() as i64 + 1 - now;
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
    }
    Ok(())
}

/// How many failures and creations the timeline has seen so far.
fn marks(timeline: &Timeline) -> (usize, usize) {
    let pods = timeline.now();
    (pods.failures.len(), pods.creations.len())
}

fn latencies_since(timeline: &Timeline, failures_from: usize, creations_from: usize) -> Vec<Duration> {
    let pods = timeline.now();
    replacement_latencies(&pods.failures[failures_from..], &pods.creations[creations_from..])
}

/// Berth: the task's essential container exits 1 (kwok's test hook). Kcm: the pod is deleted.
async fn fail(pods: &Api<Pod>, contender: Contender, name: &str) -> Result<()> {
    match contender {
        Contender::Berth => {
            let exit = serde_json::json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "1"}}});
            pods.patch(name, &PatchParams::default(), &Patch::Merge(&exit)).await?;
        }
        _ => {
            pods.delete(name, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

/// The raw limit: how long one pod create takes, one at a time and `count` at once.
async fn raw_creates(client: &Client, ns: &str, count: usize) -> Result<Replacements> {
    let create = |name: String| async move {
        let started = Instant::now();
        workload::create(client, ns, &workload::raw_pod(&name, workload::IMAGE)).await?;
        Ok::<_, anyhow::Error>(started.elapsed())
    };
    let mut one_at_a_time = vec![];
    for i in 0..count {
        one_at_a_time.push(create(format!("single-{i}")).await?);
    }
    let burst = futures::stream::iter(0..count)
        .map(|i| create(format!("burst-{i}")))
        .buffer_unordered(workload::CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    Ok(Replacements { one_at_a_time, burst })
}
