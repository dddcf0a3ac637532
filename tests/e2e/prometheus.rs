//! The harness's Prometheus: a real server scrapes a target the test serves
//! and fires alerts from its rules, one on a constant and one on the scraped
//! metric.
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use berth_tests::prometheus::Prometheus;

const RULES: &str = "
groups:
  - name: e2e
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
      - alert: DeployErrors
        expr: deploy_errors > 0
";

#[tokio::test]
async fn alerts_fire_from_a_constant_and_from_a_scraped_metric() {
    let app = Router::new().route("/metrics", get(|| async { "# TYPE deploy_errors gauge\ndeploy_errors 1\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let prometheus = Prometheus::start(RULES, &[target]).unwrap_or_else(|e| panic!("starting Prometheus: {e:#}"));
    eprintln!("Prometheus at {}", prometheus.url());
    for alert in ["AlwaysFiring", "DeployErrors"] {
        prometheus.wait_firing(alert, Duration::from_secs(30)).await;
    }
    let firing = prometheus.firing_alerts().unwrap();
    assert!(firing.contains(&"AlwaysFiring".to_string()) && firing.contains(&"DeployErrors".to_string()), "firing: {firing:?}");
}
