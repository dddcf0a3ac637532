//! Issue 5: the Argo CD health checks in deploy/argocd. Runs every case of each
//! kind's health_test.yaml the way Argo CD's `go test ./util/lua/` runs the
//! bundled checks, in a Lua 5.4 interpreter set up like Argo CD's for argocd-cm
//! scripts; and checks that argocd-cm-patch.yaml carries the same Lua.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_tests::argocd::{HealthStatus, run};
use berth_tests::fixture::repo_root;
use serde::Deserialize;
use serde_json::Value;

const KINDS: [&str; 4] = ["Service", "TaskRun", "TaskDefinition", "TaskSchedule"];

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: HealthStatus,
    input_path: String,
}

fn argocd_dir() -> PathBuf {
    repo_root().join("deploy/argocd")
}

fn kind_dir(kind: &str) -> PathBuf {
    argocd_dir().join("health/berth.dev").join(kind)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every case of the kind's health_test.yaml, and no fixture left without one.
fn check(kind: &str) {
    let dir = kind_dir(kind);
    let script = read(&dir.join("health.lua"));
    let cases: HealthTests = yaml(&dir.join("health_test.yaml"));
    let mut failures = vec![];
    for case in &cases.tests {
        let expected = &case.health_status;
        assert!(
            ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&expected.status.as_str()),
            "{kind} {}: {} is not a status a health check returns", case.input_path, expected.status
        );
        let obj: Value = yaml(&dir.join(&case.input_path));
        match run(&script, &format!("{kind}/health.lua"), &obj) {
            Ok(got) if &got == expected => {}
            Ok(got) => failures.push(format!("{}: expected {expected:?}, got {got:?}", case.input_path)),
            Err(e) => failures.push(format!("{}: {e}", case.input_path)),
        }
    }
    assert!(failures.is_empty(), "{kind} health check:\n{}", failures.join("\n"));

    let tested: BTreeSet<String> = cases.tests.iter().map(|c| c.input_path.clone()).collect();
    let untested: Vec<String> = std::fs::read_dir(dir.join("testdata"))
        .expect("testdata exists")
        .map(|e| format!("testdata/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|p| !tested.contains(p))
        .collect();
    assert!(untested.is_empty(), "{kind}: fixtures with no case in health_test.yaml: {untested:?}");
}

#[test]
fn service_health() {
    check("Service");
}

#[test]
fn task_run_health() {
    check("TaskRun");
}

#[test]
fn task_schedule_health() {
    check("TaskSchedule");
}

#[test]
fn task_definition_health() {
    check("TaskDefinition");
}

#[test]
fn argocd_cm_patch_carries_the_scripts() {
    let kinds: BTreeSet<String> = std::fs::read_dir(argocd_dir().join("health/berth.dev"))
        .expect("health/berth.dev exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kinds, KINDS.map(String::from).into(), "a kind without a test here, or a test without its kind");

    let patch: Value = yaml(&argocd_dir().join("argocd-cm-patch.yaml"));
    assert_eq!(patch["metadata"]["name"], "argocd-cm");
    let data = patch["data"].as_object().expect("the patch has data");
    let expected: BTreeSet<String> = KINDS.iter().map(|k| format!("resource.customizations.health.berth.dev_{k}")).collect();
    assert_eq!(data.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for kind in KINDS {
        let script = read(&kind_dir(kind).join("health.lua"));
        let key = format!("resource.customizations.health.berth.dev_{kind}");
        assert!(
            data[&key].as_str() == Some(script.as_str()),
            "{key} in argocd-cm-patch.yaml differs from health/berth.dev/{kind}/health.lua: copy the file in, indented by four spaces"
        );
    }
}
