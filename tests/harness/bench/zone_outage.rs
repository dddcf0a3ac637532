//! Zone outage: `services` × `tasks` spread over the three zones, then every
//! node of one zone (a third of them) reports NotReady; timed until every
//! task runs on a Ready node again. Berth stops a task whose node has been
//! lost for its node-lost grace and starts a replacement; kcm's node
//! lifecycle controller taints the lost nodes NoExecute (one after another,
//! at its --node-eviction-rate: 0.1 nodes/s by default) and its taint
//! manager evicts the Deployments' pods after the same grace (their
//! tolerationSeconds), then the ReplicaSets replace them. The nodes are
//! Ready again before this returns, whatever happened.
use std::time::{Duration, Instant};

use anyhow::Result;
use kube::Client;

use super::timeline::Timeline;
use super::{Contender, nodes, scale_up, workload};

/// Seconds from the zone going NotReady to every task running off it.
pub async fn run(client: &Client, ns: &str, contender: Contender, services: usize, tasks: usize, node_lost_grace: Duration,
    timeout: Duration) -> Result<f64> {
    let total = services * tasks;
    let fleet = scale_up::fleet(contender, services, tasks).into_iter()
        .map(|object| if contender == Contender::Kcm { workload::evicted_like_berth(object, node_lost_grace) } else { object })
        .collect();
    scale_up::run_fleet(client, ns, contender, fleet, total, total, timeout).await?;
    let lost = nodes::ready_in_zone(client, nodes::LOST_ZONE).await?;
    anyhow::ensure!(!lost.is_empty(), "no Ready node in {}", nodes::LOST_ZONE);
    let mut timeline = Timeline::start(client, ns);
    timeline.until(&format!("{total} running"), timeout, |p| p.running() >= total).await?;
    eprintln!("bench:   {} tasks on the {} nodes of {} before the outage", total - timeline.now().running_off(&lost), lost.len(), nodes::LOST_ZONE);

    let started = Instant::now();
    nodes::set_not_ready(client, &lost, true).await?;
    let recovered = timeline.until(&format!("{total} running on Ready nodes"), timeout, |p| p.running_off(&lost) >= total).await;
    nodes::set_not_ready(client, &lost, false).await?;
    nodes::until_schedulable(client, &lost, timeout).await?;
    Ok((recovered? - started).as_secs_f64())
}
