//! A service's BLUE_GREEN, LINEAR and CANARY deployments pass by pass, as the planner
//! steps them (ecs-2025 §2-4; https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html,
//! .../deployment-type-linear.html, .../deployment-type-canary.html, .../pause-lifecycle-hooks.html).
use serde_json::json;

use super::*;

const GREEN: &str = "ecs-svc/0000000000000000002";

fn spec(configuration: serde_json::Value) -> ServiceSpec {
    serde_json::from_value(json!({"taskDefinition": "web", "desiredCount": 4, "deploymentConfiguration": configuration})).unwrap()
}

fn blue() -> Blue {
    Blue { id: "ecs-svc/0000000000000000001".into(), label: "ecs-svc-0000000000000000001".into(), task_definition: "web:1".into() }
}

fn tasks(healthy: u32) -> DeploymentTasks {
    DeploymentTasks { running: healthy, pending: 0, healthy }
}

/// One service with its status between passes, as the controller keeps it.
struct Service {
    spec: ServiceSpec,
    history: Vec<ServiceDeploymentRecord>,
    annotations: BTreeMap<String, String>,
    green: DeploymentTasks,
    blue: DeploymentTasks,
    firing: Vec<String>,
}

impl Service {
    fn new(configuration: serde_json::Value) -> Self {
        Service { spec: spec(configuration), history: vec![], annotations: BTreeMap::new(), green: tasks(0), blue: tasks(4), firing: vec![] }
    }

    /// One pass at `now`: the step, with the history written back.
    fn pass(&mut self, now: i64) -> Option<Lifecycle> {
        let checked = policy(&self.spec, 60).unwrap();
        let input = LifecycleInput {
            spec: &self.spec,
            namespace: "shop",
            name: "web",
            annotations: &self.annotations,
            history: &self.history,
            green_id: GREEN,
            green_task_definition: "web:2".into(),
            blue: (self.blue.active() > 0).then(blue),
            green_tasks: self.green,
            blue_tasks: self.blue,
            desired: 4,
            firing_alarms: &self.firing,
            traffic_shift: TrafficShift::EndpointRatio,
            now,
        };
        let step = decide(&input, &checked)?;
        self.history = history(&self.history, Some(&step.record), now).unwrap();
        // The tasks reach the counts asked for by the next pass.
        self.green = tasks(step.green_target);
        self.blue = tasks(step.blue_target);
        Some(step)
    }

    fn stage(&self) -> Stage {
        self.history[0].lifecycle.stage
    }
}

#[test]
fn a_blue_green_deployment_scales_green_to_desired_switches_in_one_step_bakes_then_removes_blue() {
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}));
    let first = service.pass(1000).expect("a new revision beside tasks of the old one starts a deployment");
    assert_eq!(first.record.lifecycle.stage, Stage::ScaleUp, "PRE_SCALE_UP without hooks passes at once");
    assert_eq!((first.green_target, first.blue_target, first.production_weight), (4, 4, 0.0), "green scales to 100 % with no traffic");
    assert!(first.events.iter().any(|e| e.reason == "SERVICE_DEPLOYMENT_IN_PROGRESS"), "{:?}", first.events);
    assert_eq!(first.record.source_task_definition.as_deref(), Some("web:1"));
    // ECS's ServiceRevisionSummary counts: green asked for 4 and has none yet, blue runs its 4.
    assert_eq!(first.record.target_tasks, RevisionTasks { requested: 4, running: 0, pending: 0 });
    assert_eq!(first.record.source_tasks, Some(RevisionTasks { requested: 4, running: 4, pending: 0 }));

    // Green is healthy: test traffic, then all production at once; blue stays through the bake.
    let switched = service.pass(1010).unwrap();
    assert_eq!(switched.record.lifecycle.stage, Stage::BakeTime);
    assert!(switched.test_on_green);
    assert_eq!((switched.production_weight, switched.blue_target), (100.0, 4));
    assert_eq!(switched.next_check, Some(1010 + 5 * 60), "the bake ends five minutes after it began");

    let baking = service.pass(1010 + 299).unwrap();
    assert_eq!((baking.record.lifecycle.stage, baking.blue_target), (Stage::BakeTime, 4));
    let cleaning = service.pass(1010 + 300).unwrap();
    assert_eq!((cleaning.record.lifecycle.stage, cleaning.blue_target), (Stage::CleanUp, 0));
    assert_eq!(cleaning.record.source_tasks.map(|t| t.requested), Some(0), "blue is asked for no task from CLEAN_UP");
    let done = service.pass(1400).unwrap();
    assert_eq!(done.record.lifecycle.status, LifecycleStatus::Successful);
    assert!(done.record.finished_at.is_some());
    assert!(done.events.iter().any(|e| e.reason == "SERVICE_DEPLOYMENT_COMPLETED"), "{:?}", done.events);
    assert!(service.pass(1500).is_none(), "a finished deployment leaves the service to plain passes");
}

#[test]
fn linear_shifts_production_in_steps_of_its_percent_with_the_step_bake_between() {
    let mut service = Service::new(json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 20.0, "stepBakeTimeInMinutes": 1}}));
    let mut now = 1000;
    let mut weights = vec![];
    while service.history.first().is_none_or(|r| !r.lifecycle.status.is_final()) && now < 5000 {
        let step = service.pass(now).unwrap();
        if weights.last() != Some(&step.production_weight) {
            weights.push(step.production_weight);
        }
        now += 1;
    }
    assert_eq!(weights, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
    assert_eq!(service.history[0].lifecycle.status, LifecycleStatus::Successful);
    // Four bakes of a minute between five steps.
    assert!(now >= 1000 + 4 * 60, "{now}");
}

#[test]
fn canary_sends_its_percent_for_the_canary_bake_then_the_rest() {
    let mut service = Service::new(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}}));
    service.pass(1000);
    let canary = service.pass(1001).unwrap();
    assert_eq!(canary.production_weight, 10.0);
    assert_eq!(service.pass(1001 + 119).unwrap().production_weight, 10.0);
    assert_eq!(service.pass(1001 + 120).unwrap().production_weight, 100.0);
}

#[test]
fn a_pause_hook_holds_until_the_annotation_names_its_hook_id() {
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}]}));
    service.pass(1000);
    let paused = service.pass(1001).unwrap();
    assert_eq!(paused.record.lifecycle.stage, Stage::PostScaleUp);
    let hook_id = pause_hook_id(paused.record.lifecycle.hooks.as_ref().unwrap().invocation);
    assert_eq!(paused.record.awaiting_action.as_deref(), Some(hook_id.as_str()));
    assert!(paused.events.iter().any(|e| e.reason == "HOOK_AWAITING_ACTION" && e.message.contains(&hook_id)), "{:?}", paused.events);
    assert_eq!(paused.next_check, Some(1001 + 1440 * 60), "the default timeout is 1440 minutes");

    service.annotations.insert(CONTINUE_DEPLOYMENT.into(), "ecs-pause-99".into());
    assert_eq!(service.pass(2000).unwrap().record.lifecycle.stage, Stage::PostScaleUp, "another hook's id continues nothing");
    service.annotations.insert(CONTINUE_DEPLOYMENT.into(), hook_id);
    let continued = service.pass(2001).unwrap();
    assert_eq!(continued.production_weight, 100.0);
    assert_eq!(continued.record.awaiting_action, None);
}

#[test]
fn a_pause_continued_with_rollback_and_a_stop_request_each_put_production_back_on_blue() {
    for (annotation, value) in [(CONTINUE_DEPLOYMENT, "ecs-pause-0=ROLLBACK"), (STOP_DEPLOYMENT, GREEN)] {
        let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10,
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"]}]}));
        service.pass(1000);
        let shifted = service.pass(1001).unwrap();
        assert_eq!((shifted.production_weight, service.stage()), (100.0, Stage::PostProductionTrafficShift));
        service.annotations.insert(annotation.into(), value.into());
        let back = service.pass(1002).unwrap();
        assert_eq!((back.production_weight, back.test_on_green, back.green_target, back.blue_target), (0.0, false, 0, 4), "{annotation}");
        assert_eq!(back.record.lifecycle.status, LifecycleStatus::RollbackInProgress);
        assert!(back.events.iter().any(|e| e.reason == "SERVICE_DEPLOYMENT_FAILED" && e.warning), "{:?}", back.events);
        let rolled_back = service.pass(1003).unwrap();
        assert_eq!(rolled_back.record.lifecycle.status, LifecycleStatus::RollbackSuccessful, "green's tasks are gone");
        assert!(rolled_back.record.status_reason.is_some());
    }
}

#[test]
fn an_http_hook_is_called_with_ecs_payload_until_it_answers_and_a_failure_rolls_back() {
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5,
        "lifecycleHooks": [{"hookTargetArn": "http://127.0.0.1:9/check", "lifecycleStages": ["PRE_SCALE_UP"], "hookDetails": {"team": "shop"}}]}));
    let first = service.pass(1000).unwrap();
    assert_eq!(first.record.lifecycle.stage, Stage::PreScaleUp);
    assert_eq!(first.green_target, 0, "green waits for the PRE_SCALE_UP hook");
    let [call] = &first.calls[..] else { panic!("one call: {:?}", first.calls) };
    assert_eq!(call.url, "http://127.0.0.1:9/check");
    assert_eq!(call.payload["executionDetails"]["lifecycleStage"], "PRE_SCALE_UP");
    assert_eq!(call.payload["executionDetails"]["serviceArn"], "arn:aws:ecs:berth:000000000000:service/shop/web");
    assert_eq!(call.payload["executionDetails"]["productionTrafficWeights"]["arn:aws:ecs:berth:000000000000:task-definition/web:1"], 100.0);
    assert_eq!(call.payload["hookDetails"], json!({"team": "shop"}));

    // IN_PROGRESS: called again after its callBackDelay, with the hookDetails it returned.
    let in_progress = hook_answer(call, Ok((200, r#"{"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"n": 1}}"#.into())), 1000);
    service.history[0] = with_answers(service.history[0].clone(), vec![in_progress]);
    let waiting = service.pass(1001).unwrap();
    assert!(waiting.calls.is_empty(), "not before the callBackDelay");
    assert_eq!(waiting.next_check, Some(1005));
    let again = service.pass(1005).unwrap();
    assert_eq!(again.calls[0].payload["hookDetails"], json!({"n": 1}));

    let failed = hook_answer(&again.calls[0], Ok((200, r#"{"hookStatus": "FAILED"}"#.into())), 1005);
    service.history[0] = with_answers(service.history[0].clone(), vec![failed]);
    let rolled_back = service.pass(1006).unwrap();
    assert_eq!(rolled_back.record.lifecycle.status, LifecycleStatus::RollbackSuccessful, "green never started");
    assert!(rolled_back.record.status_reason.as_deref().unwrap_or_default().contains("lifecycle hook 0 at PRE_SCALE_UP returned FAILED"), "{:?}", rolled_back.record.status_reason);
}

#[test]
fn a_hook_reply_ecs_would_not_accept_fails_the_hook() {
    let call = HookCall { deployment: "ecs-svc-0000000000000000002".into(), hook: 0, invocation: 0, url: "http://h".into(), payload: json!({}) };
    let status = |reply: Result<(u16, String), String>| hook_answer(&call, reply, 0).status;
    assert_eq!(status(Ok((200, r#"{"hookStatus": "SUCCEEDED"}"#.into()))), HookStatus::Succeeded);
    assert_eq!(status(Ok((200, r#"{"hookStatus": "IN_PROGRESS"}"#.into()))), HookStatus::InProgress);
    assert_eq!(hook_answer(&call, Ok((200, r#"{"hookStatus": "IN_PROGRESS"}"#.into())), 7).next_call_at, Some(7 + DEFAULT_CALL_BACK_SECONDS));
    for bad in [Ok((500, r#"{"hookStatus": "SUCCEEDED"}"#.to_string())), Ok((200, "ok".into())), Ok((200, "{}".into())),
        Ok((200, r#"{"hookStatus": "DONE"}"#.into())), Err("connection refused".into())] {
        assert_eq!(status(bad.clone()), HookStatus::Failed, "{bad:?}");
    }
}

#[test]
fn code_deploy_runs_as_blue_green_and_a_configuration_ecs_refuses_is_a_problem() {
    let code_deploy: ServiceSpec = serde_json::from_value(json!({"taskDefinition": "web", "deploymentController": {"type": "CODE_DEPLOY"}})).unwrap();
    assert_eq!(strategy_of(&code_deploy), DeploymentStrategy::BlueGreen);
    assert!(policy(&code_deploy, 60).is_ok(), "CodeDeploy's bake is not read: none");
    assert!(policy(&spec(json!({"strategy": "BLUE_GREEN"})), 60).unwrap_err().message.contains("bakeTimeInMinutes"));
    assert!(policy(&spec(json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.0}})), 60).unwrap_err().message.contains("stepPercent"));
    let pause_in_shift = spec(json!({"strategy": "CANARY", "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}]}));
    assert!(policy(&pause_in_shift, 60).is_err());
    let lambda = spec(json!({"strategy": "CANARY", "lifecycleHooks": [{"hookTargetArn": "arn:aws:lambda:us-east-1:1:function:f", "lifecycleStages": ["PRE_SCALE_UP"]}]}));
    assert!(policy(&lambda, 60).unwrap().hooks.is_empty(), "a Lambda cannot be called: skipped, and listed as unsupported");
}

#[test]
fn a_test_minute_shortens_bakes() {
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 3}));
    let checked = policy(&service.spec, 2).unwrap();
    assert_eq!(checked.policy.strategy, strategy::Strategy::BlueGreen { bake: 6 });
    service.pass(0);
}

#[test]
fn a_new_deployment_supersedes_one_under_way_and_the_history_is_bounded() {
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60}));
    service.pass(1000);
    let mut older = service.history[0].clone();
    older.service_deployment_id = "ecs-svc/0000000000000000009".into();
    let list = history(&[older.clone()], Some(&service.history[0]), 2000).unwrap();
    assert_eq!(list[1].lifecycle.status, LifecycleStatus::Stopped);
    assert_eq!(list[1].status_reason.as_deref(), Some(format!("superseded by deployment {GREEN}").as_str()));
    let many: Vec<ServiceDeploymentRecord> = (0..15).map(|_| older.clone()).collect();
    assert_eq!(history(&many, None, 0).unwrap().len(), HISTORY);
    assert_eq!(history(&many, None, 0).unwrap()[0].lifecycle.status, older.lifecycle.status, "without a current deployment nothing is superseded");
}

fn task(name: &str, serving: bool, ready: bool) -> ServingTask {
    ServingTask { name: name.into(), serving, ready }
}

#[test]
fn serving_selects_one_deployment_at_the_ends_and_ready_tasks_in_ratio_between() {
    let green = [task("g1", false, true), task("g2", false, true), task("g3", false, false), task("g4", false, true)];
    let blue = [task("b1", true, true), task("b2", true, true), task("b3", true, true), task("b4", true, true)];
    let all_blue = serving(0.0, 4, &green, &blue, "green", "blue");
    assert_eq!((all_blue.production.as_deref(), all_blue.enlist.len(), all_blue.delist.len()), (Some("blue"), 0, 0));

    let quarter = serving(25.0, 4, &green, &blue, "green", "blue");
    assert_eq!(quarter.production, None, "a share in between selects by the traffic label");
    assert_eq!(quarter.enlist, vec!["g1".to_string()], "ready tasks first");
    assert_eq!(quarter.delist.len(), 1);

    let small = serving(5.0, 4, &green, &blue, "green", "blue");
    assert_eq!(small.enlist.len(), 1, "a share above 0 has at least one task");
    let nearly = serving(99.0, 4, &green, &blue, "green", "blue");
    assert_eq!((nearly.enlist.len(), nearly.delist.len()), (3, 3), "a share below 100 keeps one blue task");

    let all_green = serving(100.0, 4, &green, &blue, "green", "blue");
    assert_eq!(all_green.production.as_deref(), Some("green"));
    assert_eq!((all_green.enlist.len(), all_green.delist.len()), (4, 4), "green joins before the selector moves, blue leaves after");
}

#[test]
fn an_alarm_firing_during_the_deployment_rolls_it_back_and_one_firing_at_its_start_is_ignored() {
    // ECS ignores alarms already in ALARM when the deployment starts
    // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html).
    let mut service = Service::new(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10,
        "alarms": {"alarmNames": ["HighErrors", "HighLatency"], "enable": true, "rollback": true}}));
    service.firing = vec!["HighLatency".into()];
    service.pass(1000);
    let baking = service.pass(1001).unwrap();
    assert_eq!(baking.record.lifecycle.stage, Stage::BakeTime, "an alarm firing at the start does not fail it");
    assert_eq!(baking.next_check, Some(1001 + ALARM_POLL_SECONDS), "alarms are read again while it bakes");
    service.firing.push("HighErrors".into());
    let back = service.pass(1002).unwrap();
    assert_eq!(back.record.lifecycle.status, LifecycleStatus::RollbackInProgress);
    assert_eq!(back.record.lifecycle.triggered_alarms, vec!["HighErrors".to_string()]);
    assert_eq!(back.production_weight, 0.0);
}

#[test]
fn firing_alerts_are_read_from_prometheus_answer() {
    let body = r#"{"status":"success","data":{"alerts":[
        {"labels":{"alertname":"HighErrors","severity":"page"},"state":"firing"},
        {"labels":{"alertname":"SlowStart"},"state":"pending"},
        {"labels":{"alertname":"HighErrors","instance":"b"},"state":"firing"}]}}"#;
    assert_eq!(firing_alert_names(body).unwrap(), vec!["HighErrors".to_string()]);
    assert!(firing_alert_names("<html>").is_err());
    assert!(firing_alert_names("{}").is_err());
}

#[test]
fn a_task_run_hook_succeeds_when_its_task_exits_0_and_fails_otherwise() {
    let call = HookCall { deployment: "ecs-svc-0000000001234567890".into(), hook: 1, invocation: 2, url: "taskrun:smoke:3".into(), payload: json!({}) };
    assert!(callable(Some("taskrun:smoke")) && !callable(Some("taskrun:")));
    assert_eq!(task_run_target(&call.url), Some("smoke:3"));
    assert_eq!(hook_run_name("web", &call), "web-34567890-hook-2-1");
    // The next deployment's first invocation is another TaskRun, not the last one's answer.
    let next = HookCall { deployment: "ecs-svc-0000000009876543210".into(), ..call.clone() };
    assert_ne!(hook_run_name("web", &next), hook_run_name("web", &call));
    let runs = [("web-34567890-hook-2-1".to_string(), call.deployment.clone()), ("web-76543210-hook-2-1".to_string(), next.deployment.clone())];
    assert_eq!(stale_hook_runs(&runs, Some(&next.deployment)), ["web-34567890-hook-2-1"]);
    assert_eq!(stale_hook_runs(&runs, None).len(), 2, "none under way: every hook run is done with");
    let task = |status: &str, codes: &[i32]| -> crate::api::TaskSummary {
        serde_json::from_value(json!({"taskId": "t1", "lastStatus": status, "stoppedReason": "Essential container in task exited",
            "containers": codes.iter().enumerate().map(|(i, c)| json!({"name": format!("c{i}"), "exitCode": c})).collect::<Vec<_>>()})).unwrap()
    };
    let waiting = task_run_answer(&call, None, 100);
    assert_eq!((waiting.status, waiting.next_call_at), (HookStatus::InProgress, Some(100 + TASK_RUN_HOOK_POLL_SECONDS)));
    assert_eq!(task_run_answer(&call, Some(&task("RUNNING", &[])), 100).status, HookStatus::InProgress);
    assert_eq!(task_run_answer(&call, Some(&task("STOPPED", &[0, 0])), 100).status, HookStatus::Succeeded);
    let failed = task_run_answer(&call, Some(&task("STOPPED", &[0, 1])), 100);
    assert_eq!(failed.status, HookStatus::Failed);
    assert!(failed.reason.as_deref().unwrap_or_default().contains("c1 exited 1"), "{failed:?}");
    assert_eq!(task_run_answer(&call, Some(&task("STOPPED", &[])), 100).status, HookStatus::Failed, "a task stopped before its containers ran");
}
