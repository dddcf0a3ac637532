//! Prometheus metrics of the controllers: reconciles, failures by reason,
//! reconcile duration, and tasks started and stopped (by ECS stop code).
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub controller: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StopLabel {
    pub stop_code: String,
}

pub struct Metrics {
    pub registry: Registry,
    reconciles: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabel, Histogram>,
    tasks_started: Family<ControllerLabel, Counter>,
    tasks_stopped: Family<StopLabel, Counter>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 14)));
        let tasks_started = Family::<ControllerLabel, Counter>::default();
        let tasks_stopped = Family::<StopLabel, Counter>::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register("reconcile_failures", "Reconciles that failed, by reason", failures.clone());
        registry.register("reconcile_duration_seconds", "How long a reconcile took", duration.clone());
        registry.register("tasks_started", "Tasks (pods) created", tasks_started.clone());
        registry.register("tasks_stopped", "Tasks stopped, by ECS stop code", tasks_stopped.clone());
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica reconciles (holds the leader Lease, or runs without election)", leader.clone());
        registry.register("fenced_writes", "Writes the leader-Lease fence held back (sent while the Lease was not known held)",
            crate::runtime::fence::FENCED_WRITES.clone());
        registry.register("client_rate_limiter_wait_seconds", "How long each API request waited for the client-side rate limiter",
            crate::runtime::client::RATE_LIMITER_WAIT.clone());
        registry.register("client_requests", "API requests sent, by the API server's verb and resource", crate::runtime::client::REQUESTS.clone());
        Metrics { registry, reconciles, failures, duration, tasks_started, tasks_stopped, leader }
    }
}

impl Metrics {
    /// Counts a reconcile and times it until the guard drops.
    pub fn reconcile(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.reconciles.get_or_create(&ControllerLabel { controller }).inc();
        ReconcileTimer { metrics: self, controller, start: Instant::now() }
    }

    pub fn failed(&self, controller: &'static str, reason: &'static str) {
        self.failures.get_or_create(&FailureLabels { controller, reason }).inc();
    }

    pub fn tasks_started(&self, controller: &'static str, count: usize) {
        self.tasks_started.get_or_create(&ControllerLabel { controller }).inc_by(count as u64);
    }

    pub fn task_stopped(&self, stop_code: String) {
        self.tasks_stopped.get_or_create(&StopLabel { stop_code }).inc();
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(leading.into());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.duration.get_or_create(&ControllerLabel { controller: self.controller }).observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_exposition() {
        let metrics = Metrics::default();
        drop(metrics.reconcile("service"));
        metrics.failed("service", "KubernetesApiError");
        metrics.tasks_started("service", 3);
        metrics.task_stopped("EssentialContainerExited".into());
        metrics.set_leader(true);
        let text = metrics.encode();
        assert!(text.contains("berth_reconciles_total{controller=\"service\"} 1"), "{text}");
        assert!(text.contains("berth_reconcile_failures_total{controller=\"service\",reason=\"KubernetesApiError\"} 1"), "{text}");
        assert!(text.contains("berth_tasks_started_total{controller=\"service\"} 3"), "{text}");
        assert!(text.contains("berth_tasks_stopped_total{stop_code=\"EssentialContainerExited\"} 1"), "{text}");
        assert!(text.contains("berth_reconcile_duration_seconds_count{controller=\"service\"} 1"), "{text}");
        assert!(text.contains("berth_leader 1"), "{text}");
        assert!(text.contains("berth_fenced_writes_total "), "{text}");
        assert!(text.contains("berth_client_rate_limiter_wait_seconds_count "), "{text}");
        crate::runtime::client::REQUESTS.get_or_create(&crate::runtime::client::RequestLabels { verb: "create", resource: "pods".into() }).inc();
        assert!(metrics.encode().contains("berth_client_requests_total{verb=\"create\",resource=\"pods\"}"), "{text}");
    }
}
