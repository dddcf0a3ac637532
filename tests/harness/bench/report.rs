//! The benchmark's report: every figure for Berth and the two references,
//! Berth's ratios to them, the parameters and how long each part took; as
//! JSON and as a table.
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::stats::ratio;
use super::{Contender, Params, Target};

pub const READING: &str = "Every figure is lower-is-better (seconds, requests, CPU seconds, MiB). \
    berth_vs_kcm and berth_vs_raw are Berth's figure divided by the reference's: below 1 Berth did better, above 1 worse. \
    kcm: kube-controller-manager's Deployment/ReplicaSet controllers doing the same work; raw: the same pods created \
    (or deleted) directly by the benchmark, 32 requests at a time, no client rate limit. Replacement latency: from the \
    failure being seen on a pod watch (Berth: phase Failed; kcm: the pod being deleted) to the replacement pod being \
    seen on the same watch; for raw, the round trip of one pod create. Steady-state and whole-run figures have no raw reference; the whole-run count of kcm includes all of its controllers (garbage collector, namespace deletion, ...).";

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub metric: String,
    pub unit: String,
    pub berth: Option<f64>,
    pub kcm: Option<f64>,
    pub raw: Option<f64>,
    pub berth_vs_kcm: Option<f64>,
    pub berth_vs_raw: Option<f64>,
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

    /// Records `value` for `contender` under (`scenario`, `metric`).
    pub fn set(&mut self, scenario: &str, metric: &str, unit: &str, contender: Contender, value: f64) {
        let index = match self.figures.iter().position(|f| f.scenario == scenario && f.metric == metric) {
            Some(i) => i,
            None => {
                self.figures.push(Figure { scenario: scenario.into(), metric: metric.into(), unit: unit.into(),
                    berth: None, kcm: None, raw: None, berth_vs_kcm: None, berth_vs_raw: None });
                self.figures.len() - 1
            }
        };
        let figure = &mut self.figures[index];
        *match contender {
            Contender::Berth => &mut figure.berth,
            Contender::Kcm => &mut figure.kcm,
            Contender::Raw => &mut figure.raw,
        } = Some(value);
        figure.berth_vs_kcm = ratio(figure.berth, figure.kcm);
        figure.berth_vs_raw = ratio(figure.berth, figure.raw);
        eprintln!("bench:   {metric}: {contender:?} {value:.3} {unit}");
    }

    pub fn took(&mut self, part: &str, since: Instant) {
        self.durations.push((part.into(), since.elapsed().as_secs_f64()));
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    pub fn print_table(&self, out: &mut dyn Write) -> Result<()> {
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        writeln!(out, "{:<12} {:<52} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8}", "SCENARIO", "METRIC", "UNIT", "BERTH", "KCM", "RAW", "B/KCM", "B/RAW")?;
        for f in &self.figures {
            writeln!(out, "{:<12} {:<52} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8}", f.scenario, f.metric, f.unit,
                cell(f.berth), cell(f.kcm), cell(f.raw), cell(f.berth_vs_kcm), cell(f.berth_vs_raw))?;
        }
        let durations: Vec<String> = self.durations.iter().map(|(part, s)| format!("{part} {s:.0}s")).collect();
        writeln!(out, "took: {}", durations.join(", "))?;
        Ok(())
    }
}

pub fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
