//! Issue 5: the Argo CD health checks in deploy/argocd. Runs every case of each
//! kind's health_test.yaml the way Argo CD's `go test ./util/lua/` runs the
//! bundled checks, in a Lua 5.4 interpreter set up like Argo CD's for argocd-cm
//! scripts, and through Argo CD's own binary; and checks that
//! argocd-cm-patch.yaml carries the same Lua.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_tests::argocd::{HealthStatus, run};
use berth_tests::fixture::repo_root;
use berth_tests::gitops::ArgoCd;
use berth_tests::plane::binaries::ensure_argocd;
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

/// Every case of the kind's health_test.yaml in the embedded interpreter, and
/// no fixture left without one.
fn check(kind: &str) {
    let script = read(&kind_dir(kind).join("health.lua"));
    check_with(kind, |_, obj| run(&script, &format!("{kind}/health.lua"), obj).map_err(|e| e.to_string()));
}

/// Every case of the kind's health_test.yaml through `evaluate` (given the
/// case's file and its object), and no fixture left without one.
fn check_with(kind: &str, evaluate: impl Fn(&Path, &Value) -> Result<HealthStatus, String>) {
    let dir = kind_dir(kind);
    let cases: HealthTests = yaml(&dir.join("health_test.yaml"));
    let mut failures = vec![];
    for case in &cases.tests {
        let expected = &case.health_status;
        assert!(
            ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&expected.status.as_str()),
            "{kind} {}: {} is not a status a health check returns", case.input_path, expected.status
        );
        let path = dir.join(&case.input_path);
        match evaluate(&path, &yaml(&path)) {
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

/// Issue 21: Argo CD itself (`argocd admin settings resource-overrides
/// health`: its gopher-lua, its argocd-cm parser) given argocd-cm-patch.yaml
/// agrees with every case. Builds Argo CD the first time (cached after).
#[test]
fn argocd_itself_agrees_with_every_case() {
    let argocd = ensure_argocd().unwrap_or_else(|e| panic!("building Argo CD: {e:#}"));
    let argocd_cm = argocd_dir().join("argocd-cm-patch.yaml");
    for kind in KINDS {
        check_with(kind, |path, _| ArgoCd::offline_health(&argocd, path, &argocd_cm).map_err(|e| format!("{e:#}")));
    }
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
