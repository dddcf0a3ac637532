//! `berth-operator`: runs Berth's controllers against the current kubeconfig
//! or the in-cluster config.
//!
//!   berth-operator [--namespace NS] [--log-format text|json] [--http-addr ADDR]
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
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--namespace" => config.namespace = Some(args.next().context("--namespace takes a namespace")?),
            "--log-format" => json_logs = args.next().as_deref() == Some("json"),
            "--http-addr" => http_addr = args.next().context("--http-addr takes HOST:PORT")?.parse()?,
            "--node-lost-grace-seconds" => {
                config.node_lost_grace = Duration::from_secs(args.next().context("a number of seconds")?.parse()?)
            }
            "-h" | "--help" => {
                println!("berth-operator [--namespace NS] [--log-format text|json] [--http-addr HOST:PORT] [--node-lost-grace-seconds N]");
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

    // The Helm chart's leaderElection.enabled runs two replicas and sets this;
    // without leader election both would start tasks, so refuse clearly.
    if std::env::var_os("BERTH_LEADER_ELECTION_LEASE").is_some() {
        bail!("leader election is not implemented in this version of berth-operator: \
               install with leaderElection.enabled=false (one replica)");
    }
    let health = std::sync::Arc::new(controller::http::Health::default());
    let bound = controller::http::serve(http_addr, health.clone()).await.with_context(|| format!("listening on {http_addr}"))?;
    tracing::info!("serving /livez, /readyz and /metrics on http://{bound}");
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (kubeconfig or in-cluster)")?;
    controller::wait_for_crds(&client).await;
    tracing::info!(namespace = ?config.namespace, "berth-operator started");
    controller::run(client, config, health, shutdown_signal()).await;
    tracing::info!("berth-operator stopped");
    Ok(())
}

/// SIGTERM or SIGINT: stop taking work and let running reconciles finish.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
