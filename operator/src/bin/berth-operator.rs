//! `berth-operator`: runs Berth's controllers against the current kubeconfig
//! or the in-cluster config.
//!
//!   berth-operator [--namespace NS] [--log-format text|json] [--http-addr ADDR]
//!                  [--kube-api-qps Q] [--kube-api-burst B]
//!                  [--task-role-annotations KEY[,KEY...]] [--max-starts-per-pass N]
//!
//! `--max-starts-per-pass` bounds the tasks one Service pass creates (default
//! 500, as kube-controller-manager bounds a ReplicaSet sync); a larger service
//! is reached over several passes while other services keep being served.
//! `--kube-api-qps` and `--kube-api-burst` limit the requests the operator
//! sends, as kube-controller-manager's flags of the same names do (defaults
//! 50 and 100: see `berth::runtime::client::DEFAULT_QPS`) for each of the
//! operator's clients, as for each of kube-controller-manager's controllers:
//! tasks' pods have one, everything else another, leader election a third. `--task-role-annotations` names the
//! annotations set to the role ARN on the ServiceAccounts Berth makes for task
//! roles (default IRSA's `eks.amazonaws.com/role-arn`; empty: none).
//! `--schedule-time-scale N` is for end-to-end tests only: TaskSchedules' time runs N times
//! as fast as real time from each schedule's creation (`rate(1 minute)` starts a TaskRun every
//! second at 60). It is left out of `--help` and the Helm chart.
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use berth::controller::{self, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    let mut config = Config::default();
    let mut json_logs = false;
    // Loopback and an ephemeral port unless told otherwise (the Helm chart
    // passes 0.0.0.0:8080), so several local operators never collide.
    let mut http_addr: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let (mut qps, mut burst) = (berth::runtime::client::DEFAULT_QPS, berth::runtime::client::DEFAULT_BURST);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--namespace" => config.namespace = Some(args.next().context("--namespace takes a namespace")?),
            "--log-format" => json_logs = args.next().as_deref() == Some("json"),
            "--http-addr" => http_addr = args.next().context("--http-addr takes HOST:PORT")?.parse()?,
            "--node-lost-grace-seconds" => {
                config.limits.node_lost_grace = Duration::from_secs(args.next().context("a number of seconds")?.parse()?)
            }
            "--placement-timeout-seconds" => {
                config.limits.placement_timeout = Duration::from_secs(args.next().context("a number of seconds")?.parse()?)
            }
            "--max-starts-per-pass" => {
                config.limits.max_starts_per_pass = args.next().context("--max-starts-per-pass takes a number")?.parse()?
            }
            "--kube-api-qps" => qps = args.next().context("--kube-api-qps takes a number")?.parse()?,
            "--kube-api-burst" => burst = args.next().context("--kube-api-burst takes a number")?.parse()?,
            "--schedule-time-scale" => {
                config.schedule_time_scale = args.next().context("--schedule-time-scale takes a number")?.parse::<i64>()?.max(1)
            }
            "--http-routes" => {
                config.http_routes = match args.next().as_deref() {
                    Some("auto") => true,
                    Some("off") => false,
                    _ => bail!("--http-routes takes auto or off"),
                }
            }
            "--prometheus-url" => config.prometheus_url = Some(args.next().context("--prometheus-url takes a URL")?),
            // A test knob: bake times and hook timeouts count minutes of N seconds.
            "--deployment-minute-seconds" => {
                config.limits.deployment_minute = args.next().context("--deployment-minute-seconds takes a number")?.parse::<u64>()?.max(1)
            }
            "--task-role-annotations" => {
                let keys = args.next().context("--task-role-annotations takes annotation keys separated by commas")?;
                config.task_role_annotations = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
            }
            "-h" | "--help" => {
                println!("berth-operator [--namespace NS] [--log-format text|json] [--http-addr HOST:PORT] [--node-lost-grace-seconds N] [--placement-timeout-seconds N (default {})] \
                    [--max-starts-per-pass N (default {})] [--deployment-minute-seconds N (tests only; default 60)] [--prometheus-url URL (deployment alarms)] [--http-routes auto|off (Gateway API weights; default auto)] [--kube-api-qps Q (default {qps})] [--kube-api-burst B (default {burst})] \
                    [--task-role-annotations KEY[,KEY...] (default {})]", config.limits.placement_timeout.as_secs(), config.limits.max_starts_per_pass, config.task_role_annotations.join(","));
                return Ok(());
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    if json_logs {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }

    berth::runtime::memory::release_freed_memory();
    let health = std::sync::Arc::new(berth::runtime::http::Health::default());
    let bound = berth::runtime::http::serve(http_addr, health.clone()).await.with_context(|| format!("listening on {http_addr}"))?;
    tracing::info!("serving /livez, /readyz and /metrics on http://{bound}");
    // With BERTH_LEADER_ELECTION_LEASE (the Helm chart sets it for HA) only
    // the replica holding that Lease reconciles. A standby is live and ready:
    // it is doing its job, which is to wait.
    let Ok(lease) = std::env::var("BERTH_LEADER_ELECTION_LEASE") else {
        let clients = controller_clients(qps, burst, None).await?;
        controller::wait_for_crds(&clients.control).await;
        tracing::info!(namespace = ?config.namespace, "berth-operator started");
        controller::run(clients, config, health, shutdown_signal()).await;
        tracing::info!("berth-operator stopped");
        return Ok(());
    };
    let lease_namespace = std::env::var("BERTH_LEADER_ELECTION_NAMESPACE").unwrap_or_else(|_| "default".into());
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("berth-operator-{}", std::process::id()));
    // A client of its own, as kube-controller-manager does: renewals must not
    // queue behind the controllers' requests on a shared connection pool.
    let election_client = berth::runtime::client::rate_limited(qps, burst, None).await.context("connecting to Kubernetes for leader election")?;
    let elector = berth::runtime::leader::Elector::new(election_client, &lease_namespace, &lease, &identity);
    // The controllers' writes go out only while the Lease is known held: a
    // leader paused past its renew deadline must not act on stale caches.
    let clients = controller_clients(qps, burst, Some(elector.fence())).await?;
    controller::wait_for_crds(&clients.control).await;
    tracing::info!(%lease, %lease_namespace, %identity, "standing by for the leader Lease");
    health.stand_by();
    let mut leadership = tokio::select! {
        leadership = elector.acquire() => leadership,
        _ = shutdown_signal() => return Ok(()),
    };
    health.lead();
    tracing::info!(namespace = ?config.namespace, "berth-operator started as the leader");
    tokio::select! {
        _ = controller::run(clients, config, health, shutdown_signal()) => {
            leadership.release().await;
            tracing::info!("berth-operator stopped");
            Ok(())
        }
        // Stop at once: the caches and expectations of a former leader are
        // not to be trusted; a restart stands by again with fresh ones.
        _ = leadership.lost() => bail!("lost the leader Lease; exiting so that this replica stands by afresh"),
    }
}

/// The controllers' clients, writing only while `fence` (if any) is open.
async fn controller_clients(qps: f64, burst: u32, fence: Option<berth::runtime::fence::Fence>) -> Result<berth::runtime::client::Clients> {
    let clients = berth::runtime::client::Clients::rate_limited(qps, burst, fence).await.context("connecting to Kubernetes (kubeconfig or in-cluster)")?;
    tracing::info!(qps, burst, "client rate limit, for tasks and for the rest each");
    Ok(clients)
}

/// SIGTERM or SIGINT: stop taking work and let running reconciles finish.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
