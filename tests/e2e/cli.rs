//! Issue 20 acceptance: every `kubectl ecs` verb against the local plane on real objects;
//! `describe-services --output json` checked field by field against the AWS CLI's
//! documented sample; `wait services-stable` returning once a rollout completes and 255 on
//! timeout; `plan` predicting the rollout that then happens.
use std::sync::Arc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use berth::cli::shape::testing::conforms;
use berth_tests::cli::{berth, berth_json};
use berth_tests::fixture::{TestNamespace, client, operator, plane, repo_root, wait_for};
use berth_tests::objects::{apply, manifest};
use berth_tests::tasks::{is_live, revision_of, tasks_of};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(180);

/// A task definition with a health check, so a task counts as healthy once Ready.
fn task_definition(name: &str, image: &str) -> Value {
    manifest("TaskDefinition", name, json!({"family": name, "memory": "256", "containerDefinitions": [{"name": "web", "image": image,
        "healthCheck": {"command": ["CMD-SHELL", "true"]}}]}))
}

fn documented(file: &str) -> Value {
    let path = repo_root().join("tests/fixtures/aws-cli").join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn short(arn: &Value) -> String {
    arn.as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn service_verbs_describe_update_wait_and_plan() {
    operator();
    let ns = TestNamespace::create("cli-svc");
    let ns = ns.name.as_str();
    apply(ns, &task_definition("web", "nginx:1.27"));
    // Zone rebalancing off: after a roll it may start a task in the lightest zone and then stop
    // one in the heaviest while the service already counts as stable (as in ECS), and the
    // stop-task step below would race it for the task it listed.
    apply(ns, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 2, "availabilityZoneRebalancing": "DISABLED",
        "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}})));

    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "services-stable: {}", ran.stderr);

    // describe-services: the AWS CLI's shape, field by field, and failures[] for a missing service.
    let described = berth_json(ns, &["describe-services", "--services", "web", "absent"]).await;
    let shape_of_web = json!({"services": [described["services"][0].clone()], "failures": []});
    conforms(&shape_of_web, &documented("describe-services.json")).unwrap_or_else(|e| panic!("{e}\n{described:#}"));
    let web = &described["services"][0];
    assert_eq!((web["serviceName"].as_str(), web["desiredCount"].as_i64(), web["runningCount"].as_i64()), (Some("web"), Some(2), Some(2)), "{web:#}");
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    assert!(described["failures"][0]["arn"].as_str().unwrap().ends_with(&format!("service/{ns}/absent")), "{described:#}");
    let times: Vec<f64> = web["events"].as_array().unwrap().iter().map(|e| e["createdAt"].as_f64().unwrap()).collect();
    assert!(!times.is_empty() && times.windows(2).all(|w| w[0] >= w[1]), "events newest first: {times:?}");
    let table = berth(ns, &["describe-services", "--services", "web"]).await;
    assert!(table.code == 0 && table.stdout.contains("has reached a steady state") && table.stdout.contains("PRIMARY"), "{}", table.stdout);

    // list-services, list-tasks, describe-tasks, the task definition verbs.
    let listed = berth_json(ns, &["list-services"]).await;
    conforms(&listed, &documented("list-services.json")).unwrap();
    assert_eq!(listed["serviceArns"].as_array().unwrap().len(), 1);
    let task_arns = berth_json(ns, &["list-tasks", "--service-name", "web"]).await;
    conforms(&task_arns, &documented("list-tasks.json")).unwrap();
    let ids: Vec<String> = task_arns["taskArns"].as_array().unwrap().iter().map(short).collect();
    assert_eq!(ids.len(), 2, "{task_arns:#}");
    let mut describe = vec!["describe-tasks", "--tasks"];
    describe.extend(ids.iter().map(String::as_str));
    let tasks = berth_json(ns, &describe).await;
    for task in tasks["tasks"].as_array().unwrap() {
        assert_eq!((task["lastStatus"].as_str(), task["healthStatus"].as_str(), task["group"].as_str()), (Some("RUNNING"), Some("HEALTHY"), Some("service:web")), "{task:#}");
        assert!(task["startedBy"].as_str().unwrap().starts_with("ecs-svc/"), "{task:#}");
    }
    let definition = berth_json(ns, &["describe-task-definition", "--task-definition", "web"]).await;
    assert_eq!((definition["taskDefinition"]["family"].as_str(), definition["taskDefinition"]["revision"].as_i64()), (Some("web"), Some(1)));
    let definitions = berth_json(ns, &["list-task-definitions", "--family-prefix", "we"]).await;
    conforms(&definitions, &documented("list-task-definitions.json")).unwrap();

    // plan a new image, then register it (the service follows the family's latest revision)
    // and watch the rollout the plan predicted.
    let file = std::env::temp_dir().join(format!("berth-cli-plan-{ns}.yaml"));
    std::fs::write(&file, serde_json::to_string(&task_definition("web", "nginx:1.28")).unwrap()).unwrap();
    let plan = berth_json(ns, &["plan", "-f", file.to_str().unwrap()]).await;
    std::fs::remove_file(&file).unwrap();
    let planned = &plan["plans"][0];
    assert_eq!((planned["deployment"]["new"].as_bool(), planned["deployment"]["taskDefinition"].as_str(), planned["end"].as_str()), (Some(true), Some("web:2"), Some("COMPLETED")), "{plan:#}");
    let batches = planned["batches"].as_array().unwrap();
    let planned_starts: i64 = batches.iter().map(|b| b["start"].as_i64().unwrap()).sum();
    let planned_stops: i64 = batches.iter().flat_map(|b| b["stop"].as_array().unwrap()).map(|s| s["count"].as_i64().unwrap()).sum();
    // min 50 % / max 200 % of 2: both new tasks start at once (4 ≤ 200 %), then the old two stop.
    assert_eq!((batches[0]["start"].as_i64(), planned_starts, planned_stops), (Some(2), 2, 2), "{plan:#}");
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let input = json!({"family": "web", "memory": "256", "containerDefinitions": [{"name": "web", "image": "nginx:1.28", "healthCheck": {"command": ["CMD-SHELL", "true"]}}]});
    let registered = berth_json(ns, &["register-task-definition", "--cli-input-json", &input.to_string()]).await;
    assert_eq!(registered["taskDefinition"]["revision"], 2, "{registered:#}");
    let started = Instant::now();
    let mut most_live = 0;
    let mut new_seen = std::collections::BTreeSet::new();
    let waiting = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]);
    let watching = wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "the roll to web:2", |ps: &[Arc<Pod>]| {
        most_live = most_live.max(ps.iter().filter(|p| is_live(p)).count());
        new_seen.extend(ps.iter().filter(|p| revision_of(p) == "2").map(|p| p.metadata.name.clone().unwrap_or_default()));
        let live: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == 2 && live.iter().all(|p| revision_of(p) == "2")
    });
    // The roll first, then the wait: registering a revision leaves the Service's
    // generation as it was, so until the operator's first pass of the roll the
    // last (steady) status still answers for the spec, and a wait started at
    // once may return on it.
    watching.await;
    let ran = waiting.await;
    assert_eq!(ran.code, 0, "services-stable after the roll: {}", ran.stderr);
    assert_eq!(new_seen.len() as i64, planned_starts, "the plan's starts are the roll's new tasks");
    assert!(most_live <= 4, "at most maximumPercent 200 % of 2 live at once, saw {most_live}");
    let after = berth_json(ns, &["describe-services", "--services", "web"]).await;
    let deployments = after["services"][0]["deployments"].as_array().unwrap().clone();
    assert_eq!(deployments.len(), 1, "stable means one deployment: {deployments:#?}");
    assert!(deployments[0]["taskDefinition"].as_str().unwrap().ends_with("web:2"));
    println!("roll and wait took {:?}", started.elapsed());

    // update-service: scale, then force a new deployment; the waits return once done.
    let scaled = berth_json(ns, &["update-service", "--service", "web", "--desired-count", "3"]).await;
    assert_eq!(scaled["service"]["desiredCount"], 3);
    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let before = deployments[0]["id"].clone();
    berth_json(ns, &["update-service", "--service", "web", "--force-new-deployment"]).await;
    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let forced = berth_json(ns, &["describe-services", "--services", "web"]).await;
    let service = &forced["services"][0];
    assert_ne!(service["deployments"][0]["id"], before, "--force-new-deployment starts a deployment");
    assert_eq!((service["runningCount"].as_i64(), service["deployments"].as_array().unwrap().len()), (Some(3), 1), "{forced:#}");

    // stop-task: UserInitiated with the caller's reason; the service replaces the task.
    let id = short(&berth_json(ns, &["list-tasks", "--service-name", "web"]).await["taskArns"][0]);
    let stopped = berth_json(ns, &["stop-task", "--task", &id, "--reason", "e2e: rotating"]).await;
    assert_eq!((stopped["task"]["stopCode"].as_str(), stopped["task"]["stoppedReason"].as_str(), stopped["task"]["desiredStatus"].as_str()),
        (Some("UserInitiated"), Some("e2e: rotating"), Some("STOPPED")), "{stopped:#}");
    let ran = berth(ns, &["wait", "tasks-stopped", "--tasks", &id, "--timeout", "120"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // advise: both costs and a choice for the service, from the bundled price table; an
    // autoscaler that may take it to 8 tasks is the peak EC2 capacity must hold.
    apply(ns, &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "name": "web"}, "minReplicas": 1, "maxReplicas": 8}}));
    let advice = berth_json(ns, &["advise"]).await;
    let web = &advice["workloads"][0];
    assert_eq!((web["name"].as_str(), advice["region"].as_str()), (Some("service/web"), Some("us-east-1")), "{advice:#}");
    assert_eq!(web["peakTasks"], 8.0, "{advice:#}");
    assert!(advice["ec2UtilizationSource"].is_string(), "{advice:#}");
    assert!(web["advice"]["fargateMonthly"].as_f64().unwrap() > 0.0 && web["advice"]["ec2Monthly"].as_f64().unwrap() > 0.0, "{advice:#}");
    assert!(["EC2", "FARGATE"].contains(&web["advice"]["recommendation"].as_str().unwrap()), "{advice:#}");
}

/// Task scale-in protection (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection.html):
/// a task protected with `update-task-protection` is not "terminated by scale-in events
/// from either service auto scaling or deployments" until the protection expires; then
/// the deployment it held up completes.
#[tokio::test]
async fn a_protected_task_survives_scale_in_and_a_deployment_until_it_expires() {
    operator();
    let ns = TestNamespace::create("cli-protect");
    let ns = &ns.name;
    apply(ns, &task_definition("web", "web:1"));
    apply(ns, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 3,
        "deploymentConfiguration": {"minimumHealthyPercent": 0, "maximumPercent": 100}})));
    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ids: Vec<String> = berth_json(ns, &["list-tasks", "--service-name", "web"]).await["taskArns"].as_array().unwrap().iter().map(short).collect();
    let kept = ids[0].clone();

    let protected = berth_json(ns, &["update-task-protection", "--tasks", &kept, "--protection-enabled", "--expires-in-minutes", "1"]).await;
    conforms(&protected, &documented("update-task-protection.json")).unwrap_or_else(|e| panic!("{e}\n{protected:#}"));
    let expires = k8s_openapi::jiff::Timestamp::from_str(protected["protectedTasks"][0]["expirationDate"].as_str().unwrap()).unwrap();
    let read = berth_json(ns, &["get-task-protection", "--tasks", &kept, "no-such-task"]).await;
    assert_eq!((read["protectedTasks"][0]["protectionEnabled"].as_bool(), read["failures"][0]["reason"].as_str()), (Some(true), Some("MISSING")), "{read:#}");

    // Scale-in to 1 stops the two others; a new revision cannot stop the protected task.
    berth_json(ns, &["update-service", "--service", "web", "--desired-count", "1"]).await;
    apply(ns, &task_definition("web", "web:2"));
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let only_kept = |ps: &[Arc<Pod>]| {
        let live: Vec<&Arc<Pod>> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == 1 && live[0].labels().get("berth.dev/task-id") == Some(&kept)
    };
    wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "only the protected task left", only_kept).await;
    // The scale-in alone leaves only the protected task: wait for the deployment of web:2 too.
    let services = Api::<berth::api::Service>::namespaced(client().await, ns);
    wait_for(services, kube::runtime::watcher::Config::default(), TIMEOUT, "the deployment of web:2", |ss: &[Arc<berth::api::Service>]| {
        ss.iter().any(|s| s.status.as_ref().and_then(|st| st.task_definition.as_deref()).is_some_and(|td| td.ends_with(":2")))
    }).await;
    let status = berth_json(ns, &["describe-services", "--services", "web"]).await;
    let protected_count = plane().kubectl().run(&["get", "ecssvc", "web", "-n", ns, "-o", "jsonpath={.status.protectedTasks}"]).unwrap();
    // Read while the protection holds (a loaded machine can take the whole minute to get
    // here; then the deployment has rightly moved on, which the stoppedAt check below covers).
    if k8s_openapi::jiff::Timestamp::now().as_second() + 5 < expires.as_second() {
        assert_eq!(status["services"][0]["deployments"][0]["rolloutState"], "IN_PROGRESS", "{status:#}");
        assert_eq!(protected_count, "1");
    }

    // Once the protection expires the deployment stops it and completes on revision 2.
    let ran = berth(ns, &["wait", "services-stable", "--services", "web", "--timeout", "150"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let running = wait_for(pods, tasks_of("web"), TIMEOUT, "one task of revision 2", |ps| {
        let live: Vec<&Arc<Pod>> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == 1 && revision_of(live[0]) == "2"
    }).await;
    assert!(running.iter().all(|p| p.labels().get("berth.dev/task-id") != Some(&kept)));
    let stopped = plane().kubectl().run(&["get", "ecssvc", "web", "-n", ns, "-o", &format!("jsonpath={{.status.stoppedTasks[?(@.taskId==\"{kept}\")].stoppedAt}}")]).unwrap();
    let stopped = k8s_openapi::jiff::Timestamp::from_str(stopped.trim()).unwrap_or_else(|e| panic!("stoppedAt {stopped:?}: {e}"));
    assert!(stopped.as_second() >= expires.as_second(), "the protected task stopped at {stopped}, before its protection expired at {expires}");
}

#[tokio::test]
async fn a_wait_that_cannot_succeed_exits_255_and_bad_input_names_the_field() {
    operator();
    let ns = TestNamespace::create("cli-fail");
    let ns = ns.name.as_str();
    apply(ns, &manifest("Service", "broken", json!({"taskDefinition": "absent", "desiredCount": 1})));
    let started = Instant::now();
    let ran = berth(ns, &["wait", "services-stable", "--services", "broken", "--timeout", "3"]).await;
    assert_eq!(ran.code, 255, "{}", ran.stderr);
    assert!(ran.stderr.contains("Max attempts exceeded") && started.elapsed() < Duration::from_secs(30), "{} after {:?}", ran.stderr, started.elapsed());
    let ran = berth(ns, &["wait", "services-stable", "--services", "nowhere", "--timeout", "60"]).await;
    assert_eq!(ran.code, 255, "a missing service fails at once: {}", ran.stderr);
    assert!(ran.stderr.contains("MISSING"), "{}", ran.stderr);
    let ran = berth(ns, &["update-service", "--service", "broken", "--desired-count", "many"]).await;
    assert_eq!(ran.code, 252);
    assert!(ran.stderr.contains("--desired-count"), "{}", ran.stderr);
    let ran = berth(ns, &["run-task", "--task-definition", "absent", "--overrides", "{not json"]).await;
    assert_eq!(ran.code, 252);
    assert!(ran.stderr.contains("--overrides"), "{}", ran.stderr);
}

#[tokio::test]
async fn task_run_verbs_run_wait_list_describe_and_stop() {
    operator();
    let ns = TestNamespace::create("cli-run");
    let ns = ns.name.as_str();
    apply(ns, &task_definition("batch", "busybox:1.36"));
    let ran = berth_json(ns, &["run-task", "--task-definition", "batch", "--count", "2", "--started-by", "nightly"]).await;
    let mut shape = ran.clone();
    shape.as_object_mut().unwrap().remove("failures");
    // A task kube-scheduler has not bound yet has no container instance (node).
    let mut sample = documented("run-task.json");
    sample["tasks"][0].as_object_mut().unwrap().remove("containerInstanceArn");
    conforms(&shape, &sample).unwrap_or_else(|e| panic!("{e}\n{ran:#}"));
    assert_eq!(ran["failures"], json!([]), "{ran:#}");
    let ids: Vec<String> = ran["tasks"].as_array().unwrap().iter().map(|t| short(&t["taskArn"])).collect();
    assert_eq!(ids.len(), 2);
    assert!(ran["tasks"].as_array().unwrap().iter().all(|t| t["startedBy"] == "nightly" && t["group"] == "family:batch"), "{ran:#}");

    let mut wait = vec!["wait", "tasks-running", "--timeout", "120", "--tasks"];
    wait.extend(ids.iter().map(String::as_str));
    let waited = berth(ns, &wait).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert_eq!(berth_json(ns, &["list-tasks", "--started-by", "nightly"]).await["taskArns"].as_array().unwrap().len(), 2);
    assert_eq!(berth_json(ns, &["list-tasks", "--started-by", "hourly"]).await["taskArns"], json!([]));

    // One task's essential container exits 3: describe-tasks shows the stop code and exit code.
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let listed = pods.list(&Default::default()).await.unwrap();
    let exiting = listed.items.iter().find(|p| p.metadata.labels.as_ref().and_then(|l| l.get("berth.dev/task-id")) == Some(&ids[0])).unwrap();
    let annotate = json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "3"}}});
    pods.patch(exiting.metadata.name.as_deref().unwrap(), &PatchParams::default(), &Patch::Merge(&annotate)).await.unwrap();
    let waited = berth(ns, &["wait", "tasks-stopped", "--tasks", &ids[0], "--timeout", "120"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    let described = berth_json(ns, &["describe-tasks", "--tasks", &ids[0], "missing-task"]).await;
    let task = &described["tasks"][0];
    assert_eq!((task["lastStatus"].as_str(), task["stopCode"].as_str()), (Some("STOPPED"), Some("EssentialContainerExited")), "{described:#}");
    assert_eq!(task["containers"][0]["exitCode"], 3, "{described:#}");
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    let table = berth(ns, &["describe-tasks", "--tasks", &ids[0]]).await;
    assert!(table.stdout.contains("EssentialContainerExited") && table.stdout.contains("web=3"), "{}", table.stdout);

    // stop-task on the other: UserInitiated with the reason, then STOPPED.
    let stopped = berth_json(ns, &["stop-task", "--task", &ids[1], "--reason", "no longer needed"]).await;
    assert_eq!((stopped["task"]["stopCode"].as_str(), stopped["task"]["stoppedReason"].as_str()), (Some("UserInitiated"), Some("no longer needed")), "{stopped:#}");
    let waited = berth(ns, &["wait", "tasks-stopped", "--tasks", &ids[1], "--timeout", "120"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    let stopped_list = berth_json(ns, &["list-tasks", "--desired-status", "STOPPED"]).await;
    assert!(stopped_list["taskArns"].as_array().unwrap().iter().any(|a| short(a) == ids[0]), "{stopped_list:#}");
    let gone = berth_json(ns, &["describe-tasks", "--tasks", &ids[1]]).await;
    assert_eq!(gone["tasks"][0]["stopCode"], "UserInitiated", "the TaskRun's record keeps the stop: {gone:#}");
}
