//! `advise`: per Service (and per task family run by TaskRuns), the monthly cost on
//! Fargate and on EC2, from what ran (task sizes, task counts, the task-hours of runs)
//! and a price table kept in the repo (`us-east-1.json`; `--prices FILE` for another
//! region or your own rates), with the recommendation and why.

pub mod cost;

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::CliError;
use super::args::Args;
use super::cluster::Cluster;
use super::output::{Response, table};
use super::task_definitions::{family, stored_revision};
use crate::api::{CapacityProvider, CapacityProviderType, Service, TaskDefinitionSpec, TaskRun};
use crate::ecs::placement::Resources;
use crate::ecs::render::{task_cpu_units, task_memory_mib};
use crate::ecs::task::observed::Task;
use crate::ecs::task::reference;
use cost::{Prices, Workload, advise, default_prices};

/// EC2 capacity binpacked by ECS is rarely full: the share of each instance tasks use.
const DEFAULT_UTILIZATION: f64 = 0.9;

/// One task's vCPUs and GiB: the task-level size, else the sum of its containers'
/// (a container without memory is counted at its reservation), at least Fargate's smallest.
pub fn task_size(spec: &TaskDefinitionSpec) -> (f64, f64) {
    let containers = &spec.container_definitions;
    let cpu_units = spec.cpu.as_deref().and_then(task_cpu_units)
        .unwrap_or_else(|| containers.iter().map(|c| c.cpu.unwrap_or(0).max(0) as u32).sum());
    let memory_mib = spec.memory.as_deref().and_then(task_memory_mib)
        .unwrap_or_else(|| containers.iter().map(|c| c.memory.or(c.memory_reservation).unwrap_or(0).max(0) as u32).sum());
    (f64::from(cpu_units.max(256)) / 1024.0, f64::from(memory_mib.max(512)) / 1024.0)
}

/// Task-hours a month of periodic runs: the hours their tasks ran in the window the
/// cluster still shows (the oldest run to now, at least an hour), scaled to a month.
pub fn monthly_task_hours(ran_seconds: f64, window_seconds: f64, hours_per_month: f64) -> f64 {
    ran_seconds / 3600.0 * hours_per_month / (window_seconds / 3600.0).max(1.0)
}

async fn size_of(cluster: &Cluster, task_definition: &str) -> Result<(f64, f64), CliError> {
    let wanted = reference::parse(task_definition).ok_or_else(|| CliError::api_message(format!("{task_definition:?} is not a task definition reference")))?;
    let td = family(cluster, &wanted.family).await?.ok_or_else(|| CliError::api_message(format!("no TaskDefinition of family {}", wanted.family)))?;
    let stored = stored_revision(cluster, &td, wanted.revision).await?;
    let spec: TaskDefinitionSpec = serde_json::from_value(stored.spec).map_err(|e| CliError::api_message(format!("{task_definition}: {e}")))?;
    Ok(task_size(&spec))
}

/// How much of the EC2 capacity providers' nodes Berth's tasks use: their requests over the
/// nodes' allocatable, the larger of CPU and memory (what binpack fills first), over the
/// nodes of every EC2 provider that runs a task. None where there is none, or where the
/// user may not list nodes and pods cluster-wide.
async fn measured_utilization(cluster: &Cluster) -> Result<Option<f64>, CliError> {
    let Some(providers) = cluster.list_everywhere::<CapacityProvider>(&ListParams::default()).await? else { return Ok(None) };
    let pools: Vec<_> = providers.iter().filter(|p| p.spec.type_ == CapacityProviderType::Ec2).map(|p| p.spec.clone()).collect();
    let Some(nodes) = cluster.list_everywhere::<Node>(&ListParams::default()).await? else { return Ok(None) };
    let Some(pods) = cluster.berth_pods_everywhere().await? else { return Ok(None) };
    let ec2_nodes: Vec<&Node> = nodes.iter().filter(|n| {
        let taints = n.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
        pools.iter().any(|pool| crate::ecs::capacity::pool::admits(Some(pool), n.labels(), taints))
    }).collect();
    let allocatable = ec2_nodes.iter().map(|n| Resources::from_map(n.status.as_ref().and_then(|s| s.allocatable.as_ref()))).fold(Resources::default(), Resources::plus);
    let on_them = |p: &&Pod| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|node| ec2_nodes.iter().any(|n| n.name_any() == *node))
        && !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
    let used = pods.iter().filter(on_them).filter_map(|p| p.spec.as_ref()).map(Resources::requested_by).fold(Resources::default(), Resources::plus);
    Ok(utilization(used, allocatable))
}

/// The share of `allocatable` that `used` takes, the larger of CPU and memory; None when
/// nothing is used, at least the 10 % `--ec2-utilization` allows.
pub fn utilization(used: Resources, allocatable: Resources) -> Option<f64> {
    let share = |used: i64, of: i64| if of > 0 { used as f64 / of as f64 } else { 0.0 };
    let larger = share(used.cpu, allocatable.cpu).max(share(used.memory, allocatable.memory));
    (larger > 0.0).then(|| larger.clamp(0.1, 1.0))
}

/// The most tasks each Service may be scaled to: `maxReplicas` of the
/// HorizontalPodAutoscalers (Application Auto Scaling's counterpart) that scale it.
async fn autoscaling_ranges(cluster: &Cluster) -> Result<BTreeMap<String, i32>, CliError> {
    let autoscalers = cluster.api::<HorizontalPodAutoscaler>().list(&ListParams::default()).await.map_err(CliError::api)?;
    Ok(autoscalers.items.into_iter().filter_map(|hpa| {
        let spec = hpa.spec?;
        let target = &spec.scale_target_ref;
        (target.kind == "Service" && target.api_version.as_deref().is_some_and(|v| v.starts_with("berth.dev/"))).then(|| (target.name.clone(), spec.max_replicas))
    }).collect())
}

pub async fn run(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let prices: Prices = match args.value("--prices")? {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|e| CliError::usage(format!("--prices: cannot read {file}: {e}")))?;
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
                .map_err(|e| CliError::usage(format!("--prices {file}: {} at {}", e.inner(), e.path())))?
        }
        None => default_prices(),
    };
    if let Some(region) = args.value("--region")?.filter(|r| *r != prices.region) {
        return Err(CliError::usage(format!("--region {region}: the price table is for {}; give one for {region} with --prices FILE", prices.region)));
    }
    let given = match args.value("--ec2-utilization")? {
        None => None,
        Some(text) => Some(text.parse::<f64>().ok().filter(|u| (0.1..=1.0).contains(u))
            .ok_or_else(|| CliError::usage(format!("--ec2-utilization: {text:?} is not a fraction between 0.1 and 1")))?),
    };
    args.finish()?;
    let measured = measured_utilization(cluster).await?;
    let (utilization, utilization_source) = match (given, measured) {
        (Some(u), _) => (u, "--ec2-utilization".to_string()),
        (None, Some(u)) => (u, "measured on the EC2 capacity providers' nodes".to_string()),
        (None, None) => (DEFAULT_UTILIZATION, "default; no EC2 capacity provider node runs tasks".to_string()),
    };

    let autoscaled = autoscaling_ranges(cluster).await?;
    let mut rows: Vec<(String, Workload, bool)> = vec![];
    for service in cluster.api::<Service>().list(&ListParams::default()).await.map_err(CliError::api)?.items {
        let status = service.status.clone().unwrap_or_default();
        let reference = status.task_definition.clone().unwrap_or_else(|| service.spec.task_definition.clone());
        let (vcpu, memory_gib) = size_of(cluster, &reference).await?;
        let desired = service.spec.desired_count.or(status.desired_count).unwrap_or(0).max(0);
        // What runs now is what Fargate bills; EC2 must hold the most the service may run.
        let running = status.running_count.unwrap_or(desired).max(0);
        let peak = autoscaled.get(&service.name_any()).map_or(desired.max(running), |max| (*max).max(running));
        let workload = Workload { vcpu, memory_gib, peak_tasks: f64::from(peak), task_hours: f64::from(running) * prices.hours_per_month };
        rows.push((format!("service/{}", service.name_any()), workload, false));
    }
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let mut runs: BTreeMap<String, (Workload, i64)> = BTreeMap::new();
    let pods: Vec<Pod> = cluster.task_pods(Some(crate::ecs::task::labels::TASK_RUN.to_string())).await?;
    for run in cluster.api::<TaskRun>().list(&ListParams::default()).await.map_err(CliError::api)?.items {
        let Some(wanted) = reference::parse(&run.spec.task_definition) else { continue };
        let (vcpu, memory_gib) = size_of(cluster, &run.spec.task_definition).await?;
        let ran: f64 = pods.iter().filter(|p| p.labels().get(crate::ecs::task::labels::TASK_RUN) == Some(&crate::ecs::render::names::label_value(&run.name_any())))
            .map(|p| Task::of(p.clone())).filter_map(|t| Some((t.finished_at().map_or(now, |f| f.0.as_second()) - t.running_since()?) as f64)).sum();
        let created = run.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0.as_second());
        let entry = runs.entry(format!("runs/{}", wanted.family)).or_insert((Workload { vcpu, memory_gib, peak_tasks: 0.0, task_hours: 0.0 }, created));
        entry.0.peak_tasks = entry.0.peak_tasks.max(f64::from(crate::ecs::plan::task_run::count(&run)));
        entry.0.task_hours += ran;
        entry.1 = entry.1.min(created);
    }
    for (name, (mut workload, since)) in runs {
        workload.task_hours = monthly_task_hours(workload.task_hours, (now - since) as f64, prices.hours_per_month);
        rows.push((name, workload, true));
    }

    let mut advice = vec![];
    let mut lines = vec![];
    for (name, workload, periodic) in &rows {
        let entry = match advise(workload, &prices, utilization, *periodic) {
            Some(a) => {
                lines.push(vec![name.clone(), format!("{} vCPU / {} GiB", workload.vcpu, workload.memory_gib), format!("{:.0}", workload.task_hours),
                    format!("{:.2}", a.fargate_monthly), format!("{:.2} ({}x {})", a.ec2_monthly, a.ec2_instances, a.ec2_instance_type),
                    serde_json::to_value(a.recommendation).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(), a.reason.clone()]);
                json!({"name": name, "vcpu": workload.vcpu, "memoryGiB": workload.memory_gib, "peakTasks": workload.peak_tasks,
                    "taskHoursPerMonth": workload.task_hours, "advice": a})
            }
            None => {
                lines.push(vec![name.clone(), format!("{} vCPU / {} GiB", workload.vcpu, workload.memory_gib), "-".into(), "-".into(), "-".into(), "FARGATE".into(),
                    "no instance type in the price table holds one task".into()]);
                json!({"name": name, "vcpu": workload.vcpu, "memoryGiB": workload.memory_gib, "advice": Value::Null})
            }
        };
        advice.push(entry);
    }
    let header = format!("prices: {} ({}); EC2 instances {:.0}% used by tasks ({utilization_source})\n", prices.region, prices.source, utilization * 100.0);
    Ok(Response {
        json: json!({"region": prices.region, "ec2Utilization": utilization, "ec2UtilizationSource": utilization_source, "workloads": advice}),
        table: header + &table(&["WORKLOAD", "TASK SIZE", "TASK-HOURS/MONTH", "FARGATE $/MONTH", "EC2 $/MONTH", "CHOOSE", "WHY"], &lines),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_size_is_the_task_level_size_else_the_containers_sum() {
        let spec: TaskDefinitionSpec = serde_json::from_value(json!({"cpu": "1 vCPU", "memory": "2GB", "containerDefinitions": [{"name": "a", "image": "x"}]})).unwrap();
        assert_eq!(task_size(&spec), (1.0, 2.0));
        let spec: TaskDefinitionSpec = serde_json::from_value(json!({"containerDefinitions": [
            {"name": "a", "image": "x", "cpu": 512, "memory": 1024}, {"name": "b", "image": "x", "cpu": 512, "memoryReservation": 1024}]})).unwrap();
        assert_eq!(task_size(&spec), (1.0, 2.0));
        let tiny: TaskDefinitionSpec = serde_json::from_value(json!({"containerDefinitions": [{"name": "a", "image": "x", "memory": 128}]})).unwrap();
        assert_eq!(task_size(&tiny), (0.25, 0.5), "Fargate's smallest size");
    }

    #[test]
    fn utilization_is_the_larger_share_of_cpu_and_memory() {
        let allocatable = Resources { cpu: 4000, memory: 8 << 30 };
        assert_eq!(utilization(Resources { cpu: 1000, memory: 6 << 30 }, allocatable), Some(0.75), "memory is the fuller");
        assert_eq!(utilization(Resources { cpu: 3000, memory: 1 << 30 }, allocatable), Some(0.75), "cpu is the fuller");
        assert_eq!(utilization(Resources::default(), allocatable), None, "no task: nothing measured");
        assert_eq!(utilization(Resources { cpu: 10, memory: 0 }, allocatable), Some(0.1), "at least 10 %");
    }

    #[test]
    fn run_hours_scale_to_a_month() {
        // 2 task-hours in the last day: 2 x 730 / 24 = 60.8 task-hours a month.
        assert!((monthly_task_hours(7200.0, 86_400.0, 730.0) - 60.83).abs() < 0.01);
        // A window under an hour counts as an hour.
        assert_eq!(monthly_task_hours(1800.0, 60.0, 730.0), 365.0);
    }
}
