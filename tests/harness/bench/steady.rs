//! Steady state: what a controller costs while there is nothing to do
//! (API requests and CPU time over a quiet window), and its resident memory
//! with many tasks in the cluster (pods beyond the nodes' room stay Pending,
//! and still count).
use std::time::Duration;

use anyhow::Result;
use kube::Client;

use super::probe::{FlowSchemas, cpu_seconds, dispatched_requests, rss_mib};
use super::timeline::Timeline;
use super::{Contender, Target, workload};

/// API requests a controller sent and CPU seconds it used.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub requests: f64,
    pub cpu_seconds: f64,
}

impl Usage {
    /// What `contender` (Berth or kcm) has used so far.
    pub fn so_far(target: &Target, schemas: &FlowSchemas, contender: Contender) -> Result<Usage> {
        let (pid, schema) = match contender {
            Contender::Berth => (target.operator_pid, &schemas.operator),
            _ => (target.kcm_pid, &schemas.kcm),
        };
        Ok(Usage { requests: dispatched_requests(&target.kubectl, schema)?, cpu_seconds: cpu_seconds(pid)? })
    }

    /// What `contender` has used since `self` was taken.
    pub fn since(self, target: &Target, schemas: &FlowSchemas, contender: Contender) -> Result<Usage> {
        let now = Usage::so_far(target, schemas, contender)?;
        Ok(Usage { requests: now.requests - self.requests, cpu_seconds: now.cpu_seconds - self.cpu_seconds })
    }
}

/// Measures `contender` (Berth or kcm) over `window` of doing nothing. The
/// window is the measurement itself, so it is a plain sleep.
pub async fn idle(target: &Target, schemas: &FlowSchemas, contender: Contender, window: Duration) -> Result<Usage> {
    let before = Usage::so_far(target, schemas, contender)?;
    tokio::time::sleep(window).await;
    before.since(target, schemas, contender)
}

/// Resident memory (MiB) of Berth or kcm once `count` tasks exist.
pub async fn memory(target: &Target, ns: &str, contender: Contender, count: usize, timeout: Duration) -> Result<f64> {
    let client: &Client = &target.client;
    let mut timeline = Timeline::start(client, ns);
    timeline.until("the pod watch", timeout, |_| true).await?;
    let object = match contender {
        Contender::Berth => {
            workload::register_task_definition(client, ns, "bench", workload::IMAGE, 1, timeout).await?;
            workload::service("bench", "bench", count)
        }
        _ => workload::deployment("bench", count),
    };
    workload::create(client, ns, &object).await?;
    timeline.until(&format!("{count} pods"), timeout, |p| p.total() >= count).await?;
    rss_mib(if contender == Contender::Berth { target.operator_pid } else { target.kcm_pid })
}
