//! `berth-operator`: runs Berth's controllers against the current kubeconfig
//! or the in-cluster config.
//!
//!   berth-operator [--namespace NS] [--log-format text|json] [--http-addr ADDR]
//!                  [--kube-api-qps Q] [--kube-api-burst B]
//!
//! `--kube-api-qps` and `--kube-api-burst` limit the requests the operator
//! sends, as kube-controller-manager's flags of the same names do (defaults
//! 50 and 100: see `berth::runtime::client::DEFAULT_QPS`); the controllers share one
//! bucket, leader election has its own.
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use berth::controller::{self, Config};
use berth::runtime;
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
                config.node_lost_grace = Duration::from_secs(args.next().context("a number of seconds")?.parse()?)
            }
            "--kube-api-qps" => qps = args.next().context("--kube-api-qps takes a number")?.parse()?,
            "--kube-api-burst" => burst = args.next().context("--kube-api-burst takes a number")?.parse()?,
            "-h" | "--help" => {
                println!("berth-operator [--namespace NS] [--log-format text|json] [--http-addr HOST:PORT] [--node-lost-grace-seconds N] \
                    [--kube-api-qps Q (default {qps})] [--kube-api-burst B (default {burst})]");
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

    let health = std::sync::Arc::new(runtime::http::Health::default());
    let bound = runtime::http::serve(http_addr, health.clone()).await.with_context(|| format!("listening on {http_addr}"))?;
    tracing::info!("serving /livez, /readyz and /metrics on http://{bound}");
    let client = berth::runtime::client::rate_limited(qps, burst).await.context("connecting to Kubernetes (kubeconfig or in-cluster)")?;
    tracing::info!(qps, burst, "client rate limit");
    controller::wait_for_crds(&client).await;
    // With BERTH_LEADER_ELECTION_LEASE (the Helm chart sets it for HA) only
    // the replica holding that Lease reconciles. A standby is live and ready:
    // it is doing its job, which is to wait.
    let Ok(lease) = std::env::var("BERTH_LEADER_ELECTION_LEASE") else {
        tracing::info!(namespace = ?config.namespace, "berth-operator started");
        controller::run(client, config, health, shutdown_signal()).await;
        tracing::info!("berth-operator stopped");
        return Ok(());
    };
    let lease_namespace = std::env::var("BERTH_LEADER_ELECTION_NAMESPACE").unwrap_or_else(|_| "default".into());
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("berth-operator-{}", std::process::id()));
    tracing::info!(%lease, %lease_namespace, %identity, "standing by for the leader Lease");
    health.stand_by();
    // A client of its own, as kube-controller-manager does: renewals must not
    // queue behind the controllers' requests on a shared connection pool.
    let election_client = berth::runtime::client::rate_limited(qps, burst).await.context("connecting to Kubernetes for leader election")?;
    let elector = runtime::leader::Elector::new(election_client, &lease_namespace, &lease, &identity);
    let mut leadership = tokio::select! {
        leadership = elector.acquire() => leadership,
        _ = shutdown_signal() => return Ok(()),
    };
    health.lead();
    tracing::info!(namespace = ?config.namespace, "berth-operator started as the leader");
    tokio::select! {
        _ = controller::run(client, config, health, shutdown_signal()) => {
            leadership.release().await;
            tracing::info!("berth-operator stopped");
            Ok(())
        }
        // Stop at once: the caches and expectations of a former leader are
        // not to be trusted; a restart stands by again with fresh ones.
        _ = leadership.lost() => bail!("lost the leader Lease; exiting so that this replica stands by afresh"),
    }
}

/// SIGTERM or SIGINT: stop taking work and let running reconciles finish.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
