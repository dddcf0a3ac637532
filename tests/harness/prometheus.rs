//! A real Prometheus server on 127.0.0.1 (built from Go modules by
//! `build-binaries.sh prometheus`): it scrapes the targets a test serves and
//! evaluates the test's alerting rules every second, so a test can assert
//! which alerts fire, as Alertmanager would be told.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::fixture::{http_get, repo_root, unique_suffix};
use crate::plane::binaries::ensure_prometheus;
use crate::plane::{Proc, free_ports};

/// How long Prometheus may take to answer /-/ready (it replays an empty TSDB).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One Prometheus server, its configuration and TSDB in a temporary folder
/// removed when dropped; its log kept in `target/prometheus-logs/`.
pub struct Prometheus {
    addr: String,
    log: PathBuf,
    proc: Proc,
    state: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with the rule file `rules` (a `groups:` document) and
    /// one scrape job, `targets`, of `scrape_targets` (`host:port`, scraped
    /// at /metrics); scraping and rule evaluation every second, so an alert
    /// without `for` fires within seconds. Returns once it is ready. The
    /// process is tied to the calling thread (`spawn_tied`).
    pub fn start(rules: &str, scrape_targets: &[String]) -> Result<Prometheus> {
        let binary = ensure_prometheus()?.join("prometheus");
        let suffix = unique_suffix();
        let state = std::env::temp_dir().join(format!("berth-prometheus-{}-{suffix}", std::process::id()));
        let logs = repo_root().join("target/prometheus-logs");
        std::fs::create_dir_all(&state)?;
        std::fs::create_dir_all(&logs)?;
        let rules_file = state.join("rules.yml");
        std::fs::write(&rules_file, rules)?;
        // JSON is YAML, and serde_json quotes whatever a target or path holds.
        let config = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [rules_file],
            "scrape_configs": [{"job_name": "targets", "static_configs": [{"targets": scrape_targets}]}],
        });
        let config_file = state.join("prometheus.yml");
        std::fs::write(&config_file, config.to_string())?;

        // Free when looked at; another process may take it first (then start fails and says so).
        let [port] = free_ports()?;
        let addr = format!("127.0.0.1:{port}");
        let name = format!("prometheus-{suffix}");
        let args = [
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", state.join("data").display()),
            format!("--web.listen-address={addr}"),
            "--web.enable-lifecycle".to_string(),
        ];
        let proc = Proc::spawn(&name, &binary, &args, &logs)?;
        let mut prometheus = Prometheus { addr, log: logs.join(format!("{name}.log")), proc, state };
        prometheus.wait_ready()?;
        Ok(prometheus)
    }

    /// Polls /-/ready until it answers 200, failing at once if Prometheus exited.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        // http_get panics on a refused connection, so connect first.
        while !(std::net::TcpStream::connect(&self.addr).is_ok() && http_get(&self.addr, "/-/ready").0 == 200) {
            if let Some(status) = self.proc.exited() {
                bail!("Prometheus exited ({status}) before it was ready; see {}", self.log.display());
            }
            ensure!(Instant::now() < deadline, "Prometheus not ready after {START_TIMEOUT:?}; see {}", self.log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The names of the alerts firing now (not those pending their `for`).
    pub fn firing_alerts(&self) -> Result<Vec<String>> {
        firing_alerts(&self.addr)
    }

    /// Waits until `alert` fires; panics after `timeout` with the alerts
    /// firing then. The HTTP reads run off the runtime's thread, so a target
    /// the test serves on that runtime keeps answering scrapes meanwhile.
    pub async fn wait_firing(&self, alert: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            let addr = self.addr.clone();
            let firing = tokio::task::spawn_blocking(move || firing_alerts(&addr)).await.expect("the alerts read");
            match firing {
                Ok(names) if names.iter().any(|n| n == alert) => {
                    eprintln!("alert {alert} firing after {:.1}s", started.elapsed().as_secs_f64());
                    return;
                }
                last if started.elapsed() > timeout => {
                    panic!("alert {alert} not firing after {timeout:?}; firing: {last:?}; Prometheus log: {}", self.log.display())
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

/// GET /api/v1/alerts of the Prometheus at `addr`: `data.alerts[]`, each with
/// `labels.alertname` and `state` (pending or firing).
fn firing_alerts(addr: &str) -> Result<Vec<String>> {
    let (status, body) = http_get(addr, "/api/v1/alerts");
    ensure!(status == 200, "GET /api/v1/alerts answered {status}: {body}");
    let reply: Value = serde_json::from_str(&body).with_context(|| format!("GET /api/v1/alerts: {body}"))?;
    let alerts = reply["data"]["alerts"].as_array().with_context(|| format!("no data.alerts in {body}"))?;
    Ok(alerts.iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect())
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.proc.stop(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
