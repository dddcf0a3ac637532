//! Issue 19: bad input never crashes Berth. Property-based fuzzing, from the
//! real ECS documents of `tests/fixtures/ecs` mutated (see
//! `berth_tests::ecs_shapes`), of `berth import`, the cluster query language
//! parser and the pod renderer: no input makes any of them panic. A sample of
//! the mutated task definitions the API server accepts is rendered and each
//! pod sent to the API server as a server-side dry-run create: none may be
//! refused (a task definition Berth accepts must run).
//!
//! The suite runs `BERTH_FUZZ_CASES` (default 2,000) cases per property and
//! `BERTH_FUZZ_DRY_RUNS` (default 200) dry runs; the long run, documented in
//! docs/reliability.md, is
//!
//!   BERTH_FUZZ_CASES=100000 BERTH_FUZZ_DRY_RUNS=2000 cargo test -p berth-tests --test fuzz
use std::cell::Cell;
use std::time::Instant;

use berth::api::{TaskDefinition, TaskDefinitionSpec};
use berth::ecs::placement::cql;
use berth::ecs::render::{TaskContext, render_pod};
use berth::import::{ImportOptions, import};
use berth_tests::chaos::setting;
use berth_tests::ecs_shapes::{corpus, cql_expression, import_input, mutated_document, task_definitions};
use berth_tests::fixture::{TestNamespace, client, install_crds};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

fn runner(cases: usize) -> TestRunner {
    TestRunner::new(Config { cases: cases as u32, failure_persistence: None, ..Config::default() })
}

fn cases() -> usize {
    setting("BERTH_FUZZ_CASES", 2000)
}

fn context(namespace: &str, pod_name: &str) -> TaskContext {
    TaskContext { namespace: namespace.into(), pod_name: pod_name.into(), ..TaskContext::default() }
}

#[test]
fn berth_import_never_panics() {
    let (imported, refused) = (Cell::new(0), Cell::new(0));
    let started = Instant::now();
    runner(cases()).run(&import_input(corpus()), |text| {
        match import(&text, &ImportOptions::default()) {
            Ok(_) => imported.set(imported.get() + 1),
            Err(_) => refused.set(refused.get() + 1),
        }
        Ok(())
    }).unwrap();
    eprintln!("berth import: {} cases in {:?}, {} imported, {} refused with an error", cases(), started.elapsed(), imported.get(), refused.get());
    // Both sides reached: the mutations are neither all harmless nor all fatal.
    assert!(imported.get() > 0 && refused.get() > 0, "imported {}, refused {}", imported.get(), refused.get());
}

#[test]
fn the_cluster_query_language_parser_never_panics() {
    let (parsed, refused) = (Cell::new(0), Cell::new(0));
    let started = Instant::now();
    runner(cases()).run(&cql_expression(), |expression| {
        match cql::parse(&expression) {
            Ok(_) => parsed.set(parsed.get() + 1),
            Err(_) => refused.set(refused.get() + 1),
        }
        Ok(())
    }).unwrap();
    eprintln!("cluster query language: {} cases in {:?}, {} parsed, {} refused", cases(), started.elapsed(), parsed.get(), refused.get());
    assert!(parsed.get() > 0 && refused.get() > 0, "parsed {}, refused {}", parsed.get(), refused.get());
}

#[test]
fn the_renderer_never_panics() {
    let (rendered, refused, unreadable) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let ctx = context("fuzz", "fuzz-task");
    let started = Instant::now();
    runner(cases()).run(&mutated_document(task_definitions(&corpus())), |(_, document)| {
        match serde_json::from_value::<TaskDefinitionSpec>(document) {
            Ok(spec) => match render_pod(&spec, &ctx) {
                Ok(_) => rendered.set(rendered.get() + 1),
                Err(_) => refused.set(refused.get() + 1),
            },
            Err(_) => unreadable.set(unreadable.get() + 1),
        }
        Ok(())
    }).unwrap();
    eprintln!("renderer: {} cases in {:?}, {} rendered, {} refused, {} not a task definition spec", cases(), started.elapsed(), rendered.get(),
        refused.get(), unreadable.get());
    assert!(rendered.get() > 0, "nothing rendered");
}

#[tokio::test]
async fn pods_rendered_from_accepted_task_definitions_are_accepted_by_the_api_server() {
    install_crds();
    let ns = TestNamespace::create("fuzz-pods");
    let samples = setting("BERTH_FUZZ_DRY_RUNS", 200);
    let client = client().await;
    let definitions: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ApiResource::erase::<TaskDefinition>(&()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let accounts: Api<ServiceAccount> = Api::namespaced(client, &ns.name);
    let dry_run = PostParams { dry_run: true, ..PostParams::default() };
    let strategy = mutated_document(task_definitions(&corpus()));
    let mut runner = runner(samples);
    let (mut accepted, mut rendered, mut refused_pods) = (0, 0, vec![]);
    for i in 0..samples {
        let (source, spec) = strategy.new_tree(&mut runner).expect("a case").current();
        let name = format!("fuzz-{i}");
        let object: DynamicObject = serde_json::from_value(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskDefinition",
            "metadata": {"name": name}, "spec": spec})).expect("a TaskDefinition object");
        // Only what the API server accepts ever reaches the renderer.
        let Ok(stored) = definitions.create(&dry_run, &object).await else { continue };
        accepted += 1;
        let spec: TaskDefinitionSpec = serde_json::from_value(stored.data["spec"].clone())
            .unwrap_or_else(|e| panic!("an accepted task definition (from {source}) does not read as a spec: {e}\n{}", stored.data["spec"]));
        let Ok(pod) = render_pod(&spec, &context(&ns.name, &name)) else { continue };
        rendered += 1;
        // Berth makes a task role's ServiceAccount before its first task (controller/task_roles.rs).
        if let Some(account) = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()) {
            let account = ServiceAccount { metadata: ObjectMeta { name: Some(account), ..ObjectMeta::default() }, ..ServiceAccount::default() };
            match accounts.create(&PostParams::default(), &account).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.is_already_exists() => {}
                Err(e) => panic!("creating the task role's ServiceAccount: {e}"),
            }
        }
        if let Err(e) = pods.create(&dry_run, &pod).await {
            refused_pods.push(format!("from {source}: {e}\n  task definition: {}", stored.data["spec"]));
        }
    }
    eprintln!("{samples} mutated task definitions: {accepted} accepted by the API server, {rendered} rendered, {} pods refused", refused_pods.len());
    assert!(rendered > 0, "no sample got as far as a pod");
    assert!(refused_pods.is_empty(), "{} rendered pods refused by the API server:\n{}", refused_pods.len(), refused_pods.join("\n"));
}
