//! Issues 7 and 18, scaled down: every benchmark scenario converges for
//! Berth, kube-controller-manager and the raw reference, and the report has
//! every figure. No timing is asserted (the shared plane is busy with other
//! tests); `cargo plane bench` measures on a plane of its own.
use std::time::Duration;

use berth_tests::bench::{self, Contender, Params, Target};
use berth_tests::fixture::{OPERATOR_NAMESPACE, OPERATOR_RELEASE, Operator, client, plane, unique_suffix};

#[tokio::test]
async fn every_scenario_converges_and_is_reported() {
    let params = Params {
        one_service_tasks: 30,
        services: 3,
        tasks_per_service: 10,
        replacements: 5,
        rollout_tasks: 20,
        steady_window: Duration::from_secs(3),
        memory_tasks: 50,
        zone_services: 2,
        zone_tasks_per_service: 6,
        // Short, so the zone outage takes seconds; the operator gets the same.
        node_lost_grace: Duration::from_secs(5),
        churn_services: 2,
        churn_tasks_per_service: 10,
        heartbeat_interval: Duration::from_secs(1),
        slope_tasks: vec![20, 60],
        repeats: 1,
        timeout: Duration::from_secs(180),
        settle: false,
        // Every phase, the slope too (it runs only when named).
        only: bench::PHASES.map(String::from).to_vec(),
        ..Params::scaled(0.03)
    };
    let grace = params.node_lost_grace.as_secs().to_string();
    let operator = Operator::start("bench", &["--node-lost-grace-seconds", &grace]);
    let target = Target {
        client: client().await,
        kubectl: plane().kubectl(),
        operator_pid: operator.pid,
        operator_metrics: operator.http_addr(),
        kcm_pid: plane().pid_of("kube-controller-manager").expect("kube-controller-manager's PID beside the kubeconfig"),
        operator_service_account: (OPERATOR_NAMESPACE.into(), OPERATOR_RELEASE.into()),
        prefix: format!("bench-{}", unique_suffix()),
        notes: vec!["e2e: shared plane, an operator of its own (debug build)".into()],
    };
    let mut report = bench::Report::new(&target, &params).unwrap();
    bench::run(&target, &params, &mut report).await.unwrap();
    let mut table = Vec::new();
    report.print_table(&mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    eprintln!("{table}");

    let scenarios: Vec<&str> = report.figures.iter().map(|f| f.scenario.as_str()).collect();
    for scenario in ["scale-up", "replacement", "rollout", "steady", "zone-outage", "node-churn", "slope"] {
        assert!(scenarios.contains(&scenario), "no {scenario} figures:\n{table}");
    }
    // 6 scale-up (with the 1 × n fleet's CPU time and requests), 6 replacement, 1 rollout, 2 idle,
    // 1 zone-outage, 4 node-churn, 1 memory, 6 slope (memory and reconcile time at 2 steps, and
    // their slopes) and 1 whole-run figure.
    assert_eq!(report.figures.len(), 28, "{table}");
    for figure in &report.figures {
        // The slope is Berth's alone.
        assert!(figure.berth.is_some() && figure.kcm.is_some() != (figure.scenario == "slope"), "{figure:?}");
        // What a controller spends has no raw reference: nothing runs the raw pods.
        let no_raw = ["steady", "zone-outage", "node-churn", "slope", "whole run"].contains(&figure.scenario.as_str())
            || ["cpu-s", "requests"].contains(&figure.unit.as_str());
        assert_eq!(figure.raw.is_some(), !no_raw, "{figure:?}");
        for runs in [&figure.berth, &figure.kcm, &figure.raw].into_iter().flatten() {
            assert!(runs.min <= runs.median && runs.median <= runs.max && runs.values.len() == params.repeats.max(1), "{figure:?}");
        }
    }
    let whole_run = report.figures.iter().find(|f| f.scenario == "whole run").unwrap();
    assert!(whole_run.median(Contender::Berth) > Some(0.0) && whole_run.median(Contender::Kcm) > Some(0.0),
        "the FlowSchemas attribute no requests: {whole_run:?}");

    let dir = std::env::temp_dir().join(format!("berth-bench-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    report.write_json(&dir.join("bench-report.json")).unwrap();
    bench::chart::draw(&report.figures, &dir.join("bench-chart.png")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("bench-report.json")).unwrap()).unwrap();
    assert_eq!(json["figures"].as_array().map(Vec::len), Some(report.figures.len()));
    assert!(std::fs::metadata(dir.join("bench-chart.png")).unwrap().len() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
