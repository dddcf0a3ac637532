//! The corpus of real, public ECS JSON in `tests/fixtures/ecs` (sources in its SOURCES.md):
//! every resource fits Berth's types as written, keeps every field it sets, imports, and
//! has its read-only fields reported as ignored; the few that ECS itself would refuse
//! (listed in `refused.json` beside them) are refused with a message naming the field.

use std::path::PathBuf;

use berth::api::{ServiceSpec, TaskDefinition, TaskDefinitionSpec};
use berth::ecs::render::unsupported_fields;
use berth::ecs::unsupported::service_unsupported_fields;
use berth::import::{EcsResource, ImportOptions, ResourceKind, import, resources};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ecs")
}

/// Every fixture as (path relative to the corpus, text), sorted by path.
fn corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for kind in std::fs::read_dir(corpus_dir()).expect("corpus exists") {
        let kind = kind.unwrap().path();
        if !kind.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&kind).unwrap() {
            let path = file.unwrap().path();
            let relative = path.strip_prefix(corpus_dir()).unwrap().display().to_string();
            files.push((relative, std::fs::read_to_string(&path).unwrap()));
        }
    }
    files.sort();
    files
}

/// Fixture path to the field whose value ECS itself refuses.
fn refused() -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus_dir().join("refused.json")).unwrap();
    let listed: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    listed.into_iter().map(|(path, why)| (path, why["field"].as_str().unwrap().to_owned())).collect()
}

/// The resources of every fixture ECS accepts.
fn corpus_resources() -> Vec<(String, EcsResource)> {
    let refused = refused();
    corpus()
        .into_iter()
        .filter(|(path, _)| !refused.contains_key(path))
        .flat_map(|(path, text)| {
            let found = resources(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
            assert!(!found.is_empty(), "{path}: no ECS resource");
            found.into_iter().map(move |resource| (path.clone(), resource))
        })
        .collect()
}

/// `value` without the object entries that read as unset: `null` and `""`.
fn without_unset(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .map(|(k, v)| (k.clone(), without_unset(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_unset).collect()),
        other => other.clone(),
    }
}

fn assert_fits<T: serde::Serialize + serde::de::DeserializeOwned>(path: &str, fields: &serde_json::Map<String, Value>) -> T {
    let original = Value::Object(fields.clone());
    let typed: T = serde_path_to_error::deserialize(&original).unwrap_or_else(|error| panic!("{path}: {error}"));
    let kept = serde_json::to_value(&typed).unwrap();
    assert_eq!(without_unset(&kept), without_unset(&original), "{path}: a field was lost or changed");
    typed
}

#[test]
fn the_corpus_is_large_listed_and_half_of_its_task_definitions_carry_a_task_role() {
    let files = corpus();
    assert!(files.len() >= 50, "{} fixtures", files.len());
    let sources = std::fs::read_to_string(corpus_dir().join("SOURCES.md")).unwrap();
    for (path, _) in &files {
        assert!(sources.contains(&format!("`{path}`")), "{path} is not listed in SOURCES.md");
    }
    for path in refused().keys() {
        assert!(files.iter().any(|(file, _)| file == path), "refused.json lists {path}, which is not in the corpus");
    }
    let task_definitions: Vec<_> = corpus_resources()
        .into_iter()
        .filter(|(_, resource)| resource.kind == ResourceKind::TaskDefinition)
        .collect();
    let with_role = task_definitions
        .iter()
        .filter(|(_, resource)| resource.fields.get("taskRoleArn").and_then(Value::as_str).is_some_and(|arn| !arn.is_empty()))
        .count();
    assert!(with_role * 5 >= task_definitions.len() * 2, "{with_role} of {} carry taskRoleArn", task_definitions.len());
}

#[test]
fn every_resource_fits_the_types_and_keeps_every_field_it_sets() {
    for (path, resource) in corpus_resources() {
        match resource.kind {
            ResourceKind::TaskDefinition => _ = assert_fits::<TaskDefinitionSpec>(&path, &resource.fields),
            ResourceKind::Service => _ = assert_fits::<ServiceSpec>(&path, &resource.fields),
            ResourceKind::Schedule | ResourceKind::ScheduleRule => panic!("{path}: the ECS corpus holds no EventBridge schedules"),
        }
    }
}

#[test]
fn every_read_only_field_of_describe_output_is_reported_as_ignored() {
    const TASK_DEFINITION_READ_ONLY: [&str; 5] = ["taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities"];
    const SERVICE_READ_ONLY: [&str; 6] = ["serviceArn", "clusterArn", "status", "runningCount", "deployments", "events"];
    let mut checked = 0;
    for (path, resource) in corpus_resources() {
        let (reported, read_only): (Vec<String>, &[&str]) = match resource.kind {
            ResourceKind::TaskDefinition => {
                let spec: TaskDefinitionSpec = assert_fits(&path, &resource.fields);
                (unsupported_fields(&spec).into_iter().map(|u| u.field).collect(), &TASK_DEFINITION_READ_ONLY)
            }
            ResourceKind::Service => {
                let spec: ServiceSpec = assert_fits(&path, &resource.fields);
                (service_unsupported_fields(&spec, "any", "any", true).into_iter().map(|u| u.field).collect(), &SERVICE_READ_ONLY)
            }
            ResourceKind::Schedule | ResourceKind::ScheduleRule => panic!("{path}: the ECS corpus holds no EventBridge schedules"),
        };
        for field in read_only.iter().filter(|f| resource.fields.get(**f).is_some_and(|v| !v.is_null())) {
            assert!(reported.iter().any(|r| r == field), "{path}: {field} is not reported: {reported:?}");
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} read-only fields in the corpus");
}

#[test]
fn every_fixture_ecs_accepts_imports() {
    let options = ImportOptions { namespace: Some("corpus".to_owned()), ..ImportOptions::default() };
    let refused = refused();
    for (path, text) in corpus().into_iter().filter(|(path, _)| !refused.contains_key(path)) {
        let imported = import(&text, &options).unwrap_or_else(|error| panic!("{path}: {error}"));
        let expected = resources(&text).unwrap().len();
        assert_eq!(imported.manifests.len(), expected, "{path}: every resource becomes a manifest");
    }
}

/// The CEL rules' messages for `spec` as a TaskDefinition, checked client-side.
fn cel_errors(spec: TaskDefinitionSpec) -> Vec<String> {
    let object = TaskDefinition::new("corpus", spec);
    match kube::core::cel::validate_cel(&object) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.message.clone()).collect(),
    }
}

#[test]
fn every_task_definition_ecs_accepts_passes_the_crd_rules() {
    for (path, resource) in corpus_resources().into_iter().filter(|(_, r)| r.kind == ResourceKind::TaskDefinition) {
        let errors = cel_errors(assert_fits(&path, &resource.fields));
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
}

#[test]
fn every_fixture_ecs_refuses_is_refused_naming_the_field() {
    let fixtures: std::collections::BTreeMap<String, String> = corpus().into_iter().collect();
    for (path, field) in refused() {
        let found = resources(&fixtures[&path]).unwrap();
        let why: Vec<String> = found
            .iter()
            .flat_map(|resource| match serde_path_to_error::deserialize::<_, TaskDefinitionSpec>(&Value::Object(resource.fields.clone())) {
                Err(error) => vec![error.to_string()],
                Ok(spec) => cel_errors(spec),
            })
            .collect();
        assert!(why.iter().any(|w| w.contains(field.as_str())), "{path}: expected a refusal naming {field}, got {why:?}");
    }
}
