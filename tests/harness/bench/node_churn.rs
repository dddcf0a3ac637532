//! Node churn: `churn_services` × `churn_tasks_per_service` started while
//! every node posts a status heartbeat every `heartbeat_interval` (a Node
//! update for every watcher of nodes), timed to all existing and to all that
//! fit on the nodes running, with the controller's API requests and CPU time
//! from the first create until `steady_window` of heartbeats after. Pods beyond the nodes' room stay
//! Pending and count as existing, as in the memory scenario.
use anyhow::Result;

use super::scale_up::{self, ScaleUp};
use super::steady::Usage;
use super::{Contender, FlowSchemas, Params, Target, nodes};

pub struct Churn {
    pub times: ScaleUp,
    /// How many of the tasks fit on the nodes (all running counts to it).
    pub runnable: usize,
    pub usage: Usage,
}

pub async fn run(target: &Target, schemas: &FlowSchemas, ns: &str, contender: Contender, params: &Params) -> Result<Churn> {
    let client = &target.client;
    let (services, tasks) = (params.churn_services, params.churn_tasks_per_service);
    let total = services * tasks;
    let runnable = total.min(nodes::pod_room(client).await?);
    let _heartbeats = nodes::Heartbeats::start(client, params.heartbeat_interval).await?;
    let before = Usage::so_far(target, schemas, contender)?;
    let fleet = scale_up::fleet(contender, services, tasks);
    let times = scale_up::run_fleet(client, ns, contender, fleet, total, runnable, params.timeout).await?;
    tokio::time::sleep(params.steady_window).await;
    Ok(Churn { times, runnable, usage: before.since(target, schemas, contender)? })
}
