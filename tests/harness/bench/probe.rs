//! What the benchmark reads from outside the API: a process's CPU time and
//! resident memory (/proc), how many requests the API server dispatched for a
//! FlowSchema (its own /metrics), with FlowSchemas that single out the
//! operator and kube-controller-manager, and the operator's own metrics.
use anyhow::{Context, Result};
use serde_json::json;

use crate::kubectl::Kubectl;
use crate::plane::KCM_USER;

/// User plus system CPU time of process `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat).context("parsing /proc/<pid>/stat")?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// Resident memory of process `pid`, in MiB.
pub fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(vm_rss_kib(&status).context("no VmRSS in /proc/<pid>/status")? as f64 / 1024.0)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line; the command
/// name in parentheses may hold spaces, so fields count from its closing one.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn vm_rss_kib(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// Requests the API server has dispatched under `flow_schema` so far.
pub fn dispatched_requests(kubectl: &Kubectl, flow_schema: &str) -> Result<f64> {
    Ok(sum_samples(&kubectl.run(&["get", "--raw", "/metrics"])?, "apiserver_flowcontrol_dispatched_requests_total", "flow_schema", flow_schema))
}

/// The sum and count of the Service controller's reconcile durations so far,
/// from the operator's /metrics at `addr`.
pub fn service_reconciles(addr: &str) -> (f64, f64) {
    let (_, text) = crate::fixture::http_get(addr, "/metrics");
    let sample = |metric: &str| sum_samples(&text, metric, "controller", "service");
    (sample("berth_reconcile_duration_seconds_sum"), sample("berth_reconcile_duration_seconds_count"))
}

/// The sum of the samples of `metric` whose label `label` is `value`, from
/// the Prometheus text format.
fn sum_samples(text: &str, metric: &str, label: &str, value: &str) -> f64 {
    let wanted = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|l| l.strip_prefix(metric).is_some_and(|rest| rest.starts_with('{')) && l.contains(&wanted))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Two FlowSchemas that put the operator's ServiceAccount and kcm's user in
/// the `workload-high` priority level (where the built-in
/// `kube-controller-manager` schema puts kcm: both get the same treatment),
/// so the API server counts each one's requests under one name. Precedence
/// 2 matches before every built-in schema but `exempt`. Deleted when dropped.
pub struct FlowSchemas {
    pub operator: String,
    pub kcm: String,
    kubectl: Kubectl,
}

impl FlowSchemas {
    pub fn install(kubectl: &Kubectl, prefix: &str, operator_sa: (&str, &str)) -> Result<FlowSchemas> {
        let schemas = FlowSchemas { operator: format!("{prefix}-operator"), kcm: format!("{prefix}-kcm"), kubectl: kubectl.clone() };
        let (namespace, name) = operator_sa;
        let items = [
            flow_schema(&schemas.operator, json!({"kind": "ServiceAccount", "serviceAccount": {"namespace": namespace, "name": name}})),
            flow_schema(&schemas.kcm, json!({"kind": "User", "user": {"name": KCM_USER}})),
        ];
        kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string())?;
        Ok(schemas)
    }
}

impl Drop for FlowSchemas {
    fn drop(&mut self) {
        let _ = self.kubectl.run(&["delete", "flowschema", &self.operator, &self.kcm, "--ignore-not-found", "--wait=false"]);
    }
}

fn flow_schema(name: &str, subject: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": name},
        "spec": {"matchingPrecedence": 2, "priorityLevelConfiguration": {"name": "workload-high"},
            "rules": [{"subjects": [subject],
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": true}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_a_stat_line_with_spaces_in_the_name() {
        let stat = "1234 (berth op) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 1000 200";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn resident_memory_from_status() {
        assert_eq!(vm_rss_kib("Name:\tx\nVmRSS:\t   20480 kB\nThreads: 4\n"), Some(20480));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn samples_of_one_flow_schema_are_summed() {
        let text = "# HELP apiserver_flowcontrol_dispatched_requests_total x\n\
            apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"a\",priority_level=\"exempt\"} 10\n\
            apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"a\",priority_level=\"global-default\"} 5\n\
            apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"ab\",priority_level=\"exempt\"} 7\n\
            apiserver_flowcontrol_dispatched_requests_totalx{flow_schema=\"a\"} 100\n";
        assert_eq!(sum_samples(text, "apiserver_flowcontrol_dispatched_requests_total", "flow_schema", "a"), 15.0);
    }
}
