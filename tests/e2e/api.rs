//! Issue 3 acceptance: the Berth API on a real apiserver. Real ECS shapes
//! apply verbatim and read back unchanged; bad input is refused at apply time
//! with the offending field named; kubectl feels native.
use std::path::{Path, PathBuf};

use berth_tests::fixture::{TestNamespace, install_crds, plane, repo_root};
use serde_json::Value;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// The objects in kubectl's JSON output: one object, a List, or several of either.
fn items(output: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(output)
        .into_iter::<Value>()
        .map(|v| v.expect("kubectl printed JSON"))
        .flat_map(|v| match v.get("items") {
            Some(items) => items.as_array().cloned().unwrap_or_default(),
            None => vec![v],
        })
        .collect()
}

fn key(o: &Value) -> String {
    format!("{}/{}", o["kind"].as_str().unwrap_or_default(), o["metadata"]["name"].as_str().unwrap_or_default())
}

/// Applies every file with `kubectl apply --server-side --validate=strict`
/// and checks that each object's spec reads back exactly as written; returns
/// the kinds of the objects applied.
fn assert_round_trip(files: &[PathBuf], ns: &str) -> Vec<String> {
    let kubectl = plane().kubectl();
    let mut problems = vec![];
    let mut kinds = vec![];
    for file in files {
        let f = file.display().to_string();
        let written = match kubectl.run(&["create", "--dry-run=client", "-o", "json", "-n", ns, "-f", &f]) {
            Ok(out) => items(&out),
            Err(e) => {
                problems.push(format!("{f}: kubectl cannot read it: {e}"));
                continue;
            }
        };
        let applied = match kubectl.run(&["apply", "--server-side", "--validate=strict", "-o", "json", "-n", ns, "-f", &f]) {
            Ok(out) => items(&out),
            Err(e) => {
                problems.push(format!("{f}: rejected: {e}"));
                continue;
            }
        };
        for w in &written {
            kinds.push(w["kind"].as_str().unwrap_or_default().to_string());
            match applied.iter().find(|a| key(a) == key(w)) {
                Some(a) if a["spec"] == w["spec"] => {}
                Some(a) => problems.push(format!("{f}: {} spec changed on the server:\n wrote {}\n read  {}", key(w), w["spec"], a["spec"])),
                None => problems.push(format!("{f}: {} missing from the apply result", key(w))),
            }
        }
    }
    // Cluster-scoped objects outlive the namespace: remove them, so other
    // tests (the Helm chart's default CapacityProviders) can use the names.
    for file in files {
        let _ = kubectl.run(&["delete", "--ignore-not-found", "--wait=false", "-f", &file.display().to_string()]);
    }
    assert!(problems.is_empty(), "{} of {} files failed:\n{}", problems.len(), files.len(), problems.join("\n"));
    kinds
}

#[test]
fn corpus_applies_verbatim_and_reads_back_unchanged() {
    install_crds();
    let ns = TestNamespace::create("api-corpus");
    let dir = repo_root().join("tests/fixtures/api/valid");
    let kinds = assert_round_trip(&yaml_files(&dir), &ns.name);
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert!(count("TaskDefinition") >= 25, "the corpus holds at least 25 task definitions");
    assert!(count("Service") >= 10, "the corpus holds at least 10 services");
}

#[test]
fn examples_apply_verbatim_and_read_back_unchanged() {
    install_crds();
    let ns = TestNamespace::create("api-examples");
    let files = yaml_files(&repo_root().join("examples"));
    assert!(!files.is_empty());
    assert_round_trip(&files, &ns.name);
}

#[test]
fn invalid_manifests_are_rejected_naming_the_field() {
    install_crds();
    let ns = TestNamespace::create("api-invalid");
    let kubectl = plane().kubectl();
    let files = yaml_files(&repo_root().join("tests/fixtures/api/invalid"));
    assert!(files.len() >= 40, "at least 40 invalid manifests");
    let mut problems = vec![];
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expect = text.lines().find_map(|l| l.strip_prefix("# expect:")).map(str::trim)
            .unwrap_or_else(|| panic!("{}: no '# expect:' line", file.display()));
        let f = file.display().to_string();
        match kubectl.run(&["apply", "--server-side", "--validate=strict", "-n", &ns.name, "-f", &f]) {
            Ok(_) => problems.push(format!("{f}: accepted, but should be rejected ({expect})")),
            Err(e) if !e.to_string().contains(expect) => problems.push(format!("{f}: message lacks '{expect}': {e}")),
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "{} of {} invalid manifests misbehaved:\n{}", problems.len(), files.len(), problems.join("\n"));
}

/// One row of `tests/fixtures/api/invalid-mutations.yaml`: a valid fixture
/// with exactly one field set to a value the API must refuse, naming it.
#[derive(serde::Deserialize)]
struct Mutation {
    base: String,
    path: String,
    value: Value,
    expect: String,
}

/// Sets the field at `path` (dot-separated; a number indexes an array) to
/// `value`, making the objects and array elements on the way.
fn set_path(object: &mut Value, path: &str, value: Value) {
    let mut at = object;
    for segment in path.split('.') {
        at = match segment.parse::<usize>() {
            Ok(index) => {
                if !at.is_array() {
                    *at = Value::Array(vec![]);
                }
                let items = at.as_array_mut().unwrap();
                while items.len() <= index {
                    items.push(Value::Object(Default::default()));
                }
                &mut items[index]
            }
            Err(_) => {
                if !at.is_object() {
                    *at = Value::Object(Default::default());
                }
                at.as_object_mut().unwrap().entry(segment).or_insert(Value::Null)
            }
        };
    }
    *at = value;
}

#[test]
fn field_mutations_of_valid_manifests_are_rejected_naming_the_field() {
    install_crds();
    let ns = TestNamespace::create("api-mutations");
    let kubectl = plane().kubectl();
    let fixtures = repo_root().join("tests/fixtures/api");
    let table = std::fs::read_to_string(fixtures.join("invalid-mutations.yaml")).unwrap();
    let mutations: Vec<Mutation> = serde_saphyr::from_str(&table).unwrap_or_else(|e| panic!("invalid-mutations.yaml: {e}"));
    let invalid_files = yaml_files(&fixtures.join("invalid")).len();
    assert!(invalid_files + mutations.len() >= 150, "at least 150 invalid manifests in all, {} files and {} mutations", invalid_files, mutations.len());
    let mut problems = vec![];
    for Mutation { base, path, value, expect } in mutations {
        let mut object: Value = serde_saphyr::from_str(&std::fs::read_to_string(fixtures.join("valid").join(&base)).unwrap()).unwrap();
        set_path(&mut object, &path, value.clone());
        let case = format!("{base} with {path} = {value}");
        match kubectl.run_with_input(&["apply", "--server-side", "--dry-run=server", "-n", &ns.name, "-f", "-"], &object.to_string()) {
            Ok(_) => problems.push(format!("{case}: accepted, but should be rejected ({expect})")),
            Err(e) if !e.to_string().contains(&expect) => problems.push(format!("{case}: message lacks '{expect}': {e}")),
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "{} invalid mutations misbehaved:\n{}", problems.len(), problems.join("\n"));
}

const WEB: &str = r#"
apiVersion: berth.dev/v1alpha1
kind: TaskDefinition
metadata: {name: web}
spec:
  family: web
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  containerDefinitions:
  - name: web
    image: public.ecr.aws/nginx/nginx:1.27
    portMappings: [{containerPort: 80, protocol: tcp}]
    environment: [{name: MODE, value: prod}]
---
apiVersion: berth.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  taskDefinition: web
  desiredCount: 2
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration: {subnets: [subnet-0a1b2c3d]}
---
apiVersion: berth.dev/v1alpha1
kind: TaskRun
metadata: {name: web-once}
spec:
  taskDefinition: web:1
  count: 1
"#;

#[test]
fn server_side_apply_twice_changes_nothing() {
    install_crds();
    let ns = TestNamespace::create("api-ssa");
    let kubectl = plane().kubectl();
    let versions = || kubectl.run_with_input(&["apply", "--server-side", "--validate=strict", "-n", &ns.name, "-o",
        "jsonpath={range .items[*]}{.metadata.resourceVersion} {end}", "-f", "-"], WEB).unwrap();
    let first = versions();
    let second = versions();
    assert_eq!(first, second, "a second apply of the same manifest wrote something");
    let diff = kubectl.output("kubectl", &["diff", "--server-side", "-n", &ns.name, "-f", "-"], Some(WEB)).unwrap();
    assert!(diff.status.success(), "kubectl diff --server-side finds a difference: {}", String::from_utf8_lossy(&diff.stdout));
}

#[test]
fn kubectl_scale_sets_desired_count() {
    install_crds();
    let ns = TestNamespace::create("api-scale");
    let kubectl = plane().kubectl();
    kubectl.run_with_input(&["apply", "--server-side", "-n", &ns.name, "-f", "-"], WEB).unwrap();
    kubectl.run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=5"]).unwrap();
    let desired = kubectl.run(&["get", "-n", &ns.name, "ecssvc/web", "-o", "jsonpath={.spec.desiredCount}"]).unwrap();
    assert_eq!(desired, "5");
}

#[test]
fn kubectl_get_ecs_lists_every_berth_kind_with_its_columns() {
    install_crds();
    let ns = TestNamespace::create("api-get");
    let kubectl = plane().kubectl();
    kubectl.run_with_input(&["apply", "--server-side", "-n", &ns.name, "-f", "-"], WEB).unwrap();
    let all = kubectl.run(&["get", "ecs", "-n", &ns.name]).unwrap();
    for kind in ["taskdefinition.berth.dev/web", "service.berth.dev/web", "taskrun.berth.dev/web-once"] {
        assert!(all.contains(kind), "{kind} missing from `kubectl get ecs`:\n{all}");
    }
    let header = |resource: &str| kubectl.run(&["get", resource, "-n", &ns.name]).unwrap().lines().next().unwrap_or_default().to_string();
    let service = header("ecssvc");
    for column in ["DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "ROLLOUT", "AGE"] {
        assert!(service.contains(column), "ecssvc lacks {column}: {service}");
    }
    let taskdef = header("taskdef");
    for column in ["FAMILY", "LATEST", "COMPATIBILITIES", "AGE"] {
        assert!(taskdef.contains(column), "taskdef lacks {column}: {taskdef}");
    }
    let taskrun = header("taskrun");
    for column in ["COUNT", "RUNNING", "STOPPED", "AGE"] {
        assert!(taskrun.contains(column), "taskrun lacks {column}: {taskrun}");
    }
}

#[test]
fn kubectl_explain_documents_fields() {
    install_crds();
    let explain = plane().kubectl().run(&["explain", "taskdefinition.spec.containerDefinitions.healthCheck"]).unwrap();
    for field in ["command", "interval", "timeout", "retries", "startPeriod"] {
        assert!(explain.contains(field), "explain lacks {field}:\n{explain}");
    }
    assert!(explain.contains("DESCRIPTION"), "{explain}");
}

#[test]
fn berth_import_output_applies_as_is() {
    install_crds();
    let ns = TestNamespace::create("api-import");
    let kubectl = plane().kubectl();
    let fixtures = repo_root().join("operator/tests/fixtures/import");
    let mut imported = 0;
    for file in std::fs::read_dir(&fixtures).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let out = std::process::Command::new(berth_tests::fixture::berth_cli())
            .args(["import", &file.display().to_string(), "--namespace", &ns.name])
            .output()
            .expect("running berth import");
        assert!(out.status.success(), "berth import {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
        let manifests = String::from_utf8(out.stdout).unwrap();
        kubectl.run_with_input(&["apply", "--server-side", "--validate=strict", "-f", "-"], &manifests)
            .unwrap_or_else(|e| panic!("applying the import of {}: {e}\n{manifests}", file.display()));
        imported += 1;
    }
    assert!(imported >= 4, "import fixtures found: {imported}");
    let services = kubectl.run(&["get", "ecssvc", "-n", &ns.name, "-o", "name"]).unwrap();
    assert!(services.lines().count() >= 2, "{services}");
}
