//! The benchmark's report: every figure for Berth and the two references
//! (each the median of its runs, with min and max), Berth's ratios to them,
//! the parameters and how long each part took; as JSON and as a table.
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::stats::{median, ratio};
use super::{Contender, Params, Target};

pub const READING: &str = "Every figure is lower-is-better (seconds, requests, CPU seconds, MiB). \
    Each contender's figure is the median of its runs (values, in run order), with their min and max: the short scenarios \
    (scale-up with the idle figures, replacement, rollout) run `repeats` times, every contender once per repeat in turn, \
    the others once. berth_vs_kcm and berth_vs_raw are Berth's median divided by the reference's: below 1 Berth did \
    better, above 1 worse. \
    kcm: kube-controller-manager's Deployment/ReplicaSet controllers doing the same work; raw: the same pods created \
    (or deleted) directly by the benchmark, 32 requests at a time, no client rate limit. Replacement latency: from the \
    failure being seen on a pod watch (Berth: phase Failed; kcm: the pod being deleted) to the replacement pod being \
    seen on the same watch; for raw, the round trip of one pod create. Zone outage: from every node of one zone (a third \
    of them) being made NotReady to every task running on a Ready node again; Berth replaces a task once its node has been \
    lost for node_lost_grace (its --node-lost-grace-seconds), kcm's pods tolerate the not-ready and unreachable taints \
    as long, then kcm's taint manager evicts them, but kcm's node lifecycle controller taints the nodes of a zone at its \
    --node-eviction-rate (default 0.1 nodes/s), so with n nodes lost the last is tainted about 10 (n - 1) s after the \
    first: kcm's figure includes that pacing. Node churn: the Services (Deployments) created while every node posts a \
    status heartbeat (a new lastHeartbeatTime on each condition, as a kubelet posts its status) every heartbeat_interval; \
    all running counts to as many tasks as the nodes had room for at the start (110 pods a node; the rest stay Pending \
    and count as existing, as in the memory scenario); API requests and CPU time from the first create until \
    steady_window after all that fit run. Slope (run only when named: --only slope): Berth alone, one Service grown to \
    each of slope_tasks in turn; at each, once every task exists and all that fit run, the operator's resident memory \
    and one Service reconcile's time (the mean of berth_reconcile_duration_seconds{controller=\"service\"} over 10 \
    reconciles forced by annotating the Service), then the least-squares slope of each per 1,000 tasks. \
    Steady-state, zone-outage, node-churn and whole-run figures have no raw reference, slope figures no reference; \
    the whole-run count of kcm includes all of its controllers (garbage collector, namespace deletion, ...).";

/// One contender's runs of one figure: the median is the figure, min and max its spread.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Runs {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Every run's value, in run order.
    pub values: Vec<f64>,
}

impl Runs {
    fn add(&mut self, value: f64) {
        self.values.push(value);
        self.median = median(&self.values).unwrap_or(value);
        self.min = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        self.max = self.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub metric: String,
    pub unit: String,
    pub berth: Option<Runs>,
    pub kcm: Option<Runs>,
    pub raw: Option<Runs>,
    pub berth_vs_kcm: Option<f64>,
    pub berth_vs_raw: Option<f64>,
}

impl Figure {
    pub fn runs(&self, contender: Contender) -> Option<&Runs> {
        match contender {
            Contender::Berth => self.berth.as_ref(),
            Contender::Kcm => self.kcm.as_ref(),
            Contender::Raw => self.raw.as_ref(),
        }
    }

    pub fn median(&self, contender: Contender) -> Option<f64> {
        self.runs(contender).map(|r| r.median)
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub reading: &'static str,
    pub parameters: Params,
    pub environment: serde_json::Value,
    pub figures: Vec<Figure>,
    /// Seconds each part of the run took.
    pub durations: Vec<(String, f64)>,
    /// Why the run stopped before its end, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    pub fn new(target: &Target, params: &Params) -> Result<Report> {
        let version: serde_json::Value = serde_json::from_str(&target.kubectl.run(&["version", "-o", "json"])?)?;
        let nodes = target.kubectl.run(&["get", "nodes", "-o", "name"])?.lines().count();
        let environment = serde_json::json!({
            "berth": env!("CARGO_PKG_VERSION"),
            "kubernetes": version["serverVersion"]["gitVersion"],
            "nodes": nodes,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "notes": target.notes,
        });
        Ok(Report { reading: READING, parameters: params.clone(), environment, figures: vec![], durations: vec![], error: None })
    }

    /// Adds one run's `value` for `contender` under (`scenario`, `metric`).
    pub fn record(&mut self, scenario: &str, metric: &str, unit: &str, contender: Contender, value: f64) {
        let index = match self.figures.iter().position(|f| f.scenario == scenario && f.metric == metric) {
            Some(i) => i,
            None => {
                self.figures.push(Figure { scenario: scenario.into(), metric: metric.into(), unit: unit.into(),
                    berth: None, kcm: None, raw: None, berth_vs_kcm: None, berth_vs_raw: None });
                self.figures.len() - 1
            }
        };
        let figure = &mut self.figures[index];
        match contender {
            Contender::Berth => &mut figure.berth,
            Contender::Kcm => &mut figure.kcm,
            Contender::Raw => &mut figure.raw,
        }
        .get_or_insert_default()
        .add(value);
        figure.berth_vs_kcm = ratio(figure.median(Contender::Berth), figure.median(Contender::Kcm));
        figure.berth_vs_raw = ratio(figure.median(Contender::Berth), figure.median(Contender::Raw));
        eprintln!("bench:   {metric}: {contender:?} {value:.3} {unit}");
    }

    pub fn took(&mut self, part: &str, since: Instant) {
        self.durations.push((part.into(), since.elapsed().as_secs_f64()));
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    /// One line per figure: each contender's median, and [min-max] when it ran more than once.
    pub fn print_table(&self, out: &mut dyn Write) -> Result<()> {
        let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let runs = |r: Option<&Runs>| match r {
            None => "-".to_string(),
            Some(r) if r.values.len() > 1 => format!("{:.3} [{:.3}-{:.3}]", r.median, r.min, r.max),
            Some(r) => format!("{:.3}", r.median),
        };
        writeln!(out, "{:<12} {:<60} {:>12} {:>25} {:>25} {:>25} {:>8} {:>8}", "SCENARIO", "METRIC", "UNIT", "BERTH", "KCM", "RAW", "B/KCM", "B/RAW")?;
        for f in &self.figures {
            writeln!(out, "{:<12} {:<60} {:>12} {:>25} {:>25} {:>25} {:>8} {:>8}", f.scenario, f.metric, f.unit,
                runs(f.berth.as_ref()), runs(f.kcm.as_ref()), runs(f.raw.as_ref()), ratio(f.berth_vs_kcm), ratio(f.berth_vs_raw))?;
        }
        let durations: Vec<String> = self.durations.iter().map(|(part, s)| format!("{part} {s:.0}s")).collect();
        writeln!(out, "took: {}", durations.join(", "))?;
        Ok(())
    }
}

pub fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_keep_their_median_and_ends() {
        let mut runs = Runs::default();
        for value in [3.0, 1.0, 2.0] {
            runs.add(value);
        }
        assert_eq!((runs.median, runs.min, runs.max), (2.0, 1.0, 3.0));
        assert_eq!(runs.values, [3.0, 1.0, 2.0]);
    }
}
