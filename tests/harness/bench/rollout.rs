//! Rollout: every task moves to a new image within minimum 50 % / maximum
//! 200 %. Done when every live pod runs the new image and no old one is live;
//! for Berth also when the Service shows one PRIMARY deployment, COMPLETED.
use std::time::{Duration, Instant};

use anyhow::Result;
use berth::api::{Service, wire_name};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::watcher;

use super::timeline::Timeline;
use super::{Contender, scale_up, workload};
use crate::fixture::try_wait_for;

/// Seconds from the new revision being requested to the roll being complete.
pub async fn run(client: &Client, ns: &str, contender: Contender, count: usize, timeout: Duration) -> Result<f64> {
    scale_up::run(client, ns, contender, 1, count, timeout).await?;
    let mut timeline = Timeline::start(client, ns);
    timeline.until(&format!("{count} running"), timeout, |p| p.running() == count).await?;
    let started = Instant::now();
    let roll = async {
        match contender {
            Contender::Berth => {
                let api = Api::<berth::api::TaskDefinition>::namespaced(client.clone(), ns);
                let next = workload::task_definition("bench", workload::NEXT_IMAGE);
                api.patch("bench", &PatchParams::apply("berth-bench").force(), &Patch::Apply(next)).await?;
            }
            Contender::Kcm => {
                let api = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), ns);
                let image = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": workload::NEXT_IMAGE}]}}}});
                api.patch("bench", &PatchParams::default(), &Patch::Strategic(&image)).await?;
            }
            Contender::Raw => replace_pods_directly(client, ns, count).await?,
        }
        Ok::<_, anyhow::Error>(())
    };
    let done = timeline.until("every live pod on the new image", timeout, |p| {
        p.live_with(workload::IMAGE) == 0 && p.running_with(workload::NEXT_IMAGE) == count && p.live() == count
    });
    let (_, mut finished) = tokio::try_join!(roll, done)?;
    if contender == Contender::Berth {
        service_completed(client, ns, timeout).await?;
        // Where a slow roll spends its time: the pods, or the Service's status after them.
        let completed = Instant::now();
        eprintln!("bench:   pods on the new image after {:.3} s, the deployment COMPLETED after {:.3} s",
            (finished - started).as_secs_f64(), (completed - started).as_secs_f64());
        finished = finished.max(completed);
    }
    Ok((finished - started).as_secs_f64())
}

/// The raw limit: create the new pods and delete the old ones, as fast as
/// the API server takes them.
async fn replace_pods_directly(client: &Client, ns: &str, count: usize) -> Result<()> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let old: Vec<String> = pods.list_metadata(&ListParams::default()).await?.items.into_iter().filter_map(|p| p.metadata.name).collect();
    let create = workload::create_all(client, ns, (0..count).map(|i| workload::raw_pod(&format!("next-{i}"), workload::NEXT_IMAGE)).collect());
    let delete = futures::stream::iter(&old)
        .map(|name| {
            let pods = pods.clone();
            async move { pods.delete(name, &DeleteParams::default()).await.map(|_| ()).map_err(anyhow::Error::from) }
        })
        .buffer_unordered(workload::CONCURRENT_REQUESTS)
        .try_collect::<()>();
    tokio::try_join!(create, delete)?;
    Ok(())
}

async fn service_completed(client: &Client, ns: &str, timeout: Duration) -> Result<()> {
    let services = Api::<Service>::namespaced(client.clone(), ns);
    try_wait_for(services, watcher::Config::default().fields("metadata.name=bench"), timeout, "bench:2 COMPLETED", |ss| {
        let deployments = ss.first().and_then(|s| s.status.as_ref()).and_then(|s| s.deployments.clone()).unwrap_or_default();
        deployments.len() == 1
            && deployments[0].task_definition == "bench:2"
            && wire_name(&deployments[0].status) == "PRIMARY"
            && wire_name(&deployments[0].rollout_state) == "COMPLETED"
    })
    .await?;
    Ok(())
}
