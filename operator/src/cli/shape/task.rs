//! A task as `aws ecs describe-tasks` prints it: from its pod while the pod exists, else
//! from the record its Service or TaskRun keeps of it (`stoppedTasks`, `tasks`).

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::{epoch_seconds, insert_some};
use crate::api::{TaskSummary, wire_name};
use crate::cli::arn::Arns;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{ContainerState, LastStatus};
use crate::ecs::task::observed::Task;

/// What the pod alone does not say: its node's zone and its capacity provider's launch type.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub zone: Option<String>,
    pub launch_type: Option<String>,
}

/// ECS's `desiredStatus`: STOPPED once the task is stopping or must stop.
pub fn desired_status(task: &Task) -> &'static str {
    if task.state.stop.is_some() || task.state.is_stopped() || task.pod.metadata.deletion_timestamp.is_some() {
        "STOPPED"
    } else {
        "RUNNING"
    }
}

/// Who started the task, as ECS says it: the deployment id of a service task, the
/// `startedBy` of a RunTask.
pub fn started_by(task: &Task) -> Option<&str> {
    task.annotation(labels::DEPLOYMENT_ID).or_else(|| task.annotation(labels::STARTED_BY))
}

/// The task of a live pod.
pub fn from_pod(pod: &Pod, placement: &Placement, arns: &Arns) -> Value {
    let task = Task::of(pod.clone());
    let task_id = task.task_id();
    let task_arn = arns.task(&task_id);
    let probed: Vec<&str> = pod.spec.iter().flat_map(|s| &s.containers).filter(|c| c.readiness_probe.is_some()).map(|c| c.name.as_str()).collect();
    let ready = |name: &str| pod.status.as_ref().and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|statuses| statuses.iter().any(|s| s.name == name && s.ready));
    let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    let health = |c: &ContainerState| match (probed.contains(&c.name.as_str()), ready(&c.name)) {
        (false, _) => "UNKNOWN",
        (true, true) => "HEALTHY",
        (true, false) if c.started && c.exit_code.is_none() => "UNHEALTHY",
        (true, false) => "UNKNOWN",
    };
    let containers: Vec<Value> = task.state.containers.iter().map(|c| {
        let mut container = json!({
            "containerArn": arns.container(&task_id, &c.name),
            "taskArn": task_arn,
            "name": c.name,
            "lastStatus": container_status(c),
            "networkBindings": [],
            "networkInterfaces": pod_ip.iter().map(|ip| json!({"privateIpv4Address": ip})).collect::<Vec<_>>(),
            "healthStatus": health(c),
        });
        insert_some(&mut container, "exitCode", c.exit_code);
        insert_some(&mut container, "reason", c.reason.as_ref());
        container
    }).collect();
    let essential_health: Vec<&str> = task.state.containers.iter().filter(|c| c.essential).map(health).filter(|h| *h != "UNKNOWN").collect();
    let task_health = if essential_health.contains(&"UNHEALTHY") {
        "UNHEALTHY"
    } else if essential_health.is_empty() {
        "UNKNOWN"
    } else {
        "HEALTHY"
    };
    let desired = desired_status(&task);
    let mut shaped = json!({
        "taskArn": task_arn,
        "clusterArn": arns.cluster(),
        "lastStatus": wire_name(&task.state.last_status),
        "desiredStatus": desired,
        "containers": containers,
        "overrides": {"containerOverrides": task.state.containers.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>()},
        "healthStatus": task_health,
        "tags": [],
    });
    insert_some(&mut shaped, "taskDefinitionArn", task.annotation(labels::TASK_DEFINITION).map(|r| arns.task_definition(r)));
    insert_some(&mut shaped, "startedBy", started_by(&task));
    insert_some(&mut shaped, "group", task.annotation(labels::GROUP));
    insert_some(&mut shaped, "createdAt", pod.metadata.creation_timestamp.as_ref().map(epoch_seconds));
    insert_some(&mut shaped, "startedAt", task.running_since().map(|s| s as f64));
    insert_some(&mut shaped, "containerInstanceArn", task.node().map(|n| arns.container_instance(n)));
    insert_some(&mut shaped, "availabilityZone", placement.zone.as_ref());
    insert_some(&mut shaped, "launchType", placement.launch_type.as_ref());
    insert_some(&mut shaped, "capacityProviderName", task.label(labels::CAPACITY_PROVIDER));
    if desired == "STOPPED" {
        insert_some(&mut shaped, "stopCode", task.state.stop.as_ref().map(|s| wire_name(&s.code)));
        insert_some(&mut shaped, "stoppedReason", task.state.stop.as_ref().map(|s| &s.reason));
        insert_some(&mut shaped, "stoppingAt", pod.metadata.deletion_timestamp.as_ref().map(epoch_seconds));
    }
    if task.state.last_status == LastStatus::Stopped {
        insert_some(&mut shaped, "stoppedAt", task.finished_at().as_ref().map(epoch_seconds));
    }
    shaped
}

fn container_status(container: &ContainerState) -> &'static str {
    match (container.exit_code, container.started) {
        (Some(_), _) => "STOPPED",
        (None, true) => "RUNNING",
        (None, false) => "PENDING",
    }
}

/// A stopped task whose pod is gone, from its owner's record of it.
pub fn from_record(record: &TaskSummary, group: &str, arns: &Arns) -> Value {
    let task_arn = arns.task(&record.task_id);
    let containers: Vec<Value> = record.containers.iter().flatten().map(|c| {
        let mut container = json!({
            "containerArn": arns.container(&record.task_id, &c.name),
            "taskArn": task_arn,
            "name": c.name,
            "lastStatus": "STOPPED",
            "networkBindings": [],
            "networkInterfaces": [],
            "healthStatus": "UNKNOWN",
        });
        insert_some(&mut container, "exitCode", c.exit_code);
        insert_some(&mut container, "reason", c.reason.as_ref());
        container
    }).collect();
    let mut shaped = json!({
        "taskArn": task_arn,
        "clusterArn": arns.cluster(),
        "lastStatus": record.last_status.as_ref().map_or("STOPPED".to_string(), wire_name),
        "desiredStatus": "STOPPED",
        "containers": containers,
        "group": group,
        "healthStatus": "UNKNOWN",
        "tags": [],
    });
    insert_some(&mut shaped, "stopCode", record.stop_code.as_ref().map(wire_name));
    insert_some(&mut shaped, "stoppedReason", record.stopped_reason.as_ref());
    insert_some(&mut shaped, "stoppedAt", record.stopped_at.as_ref().map(epoch_seconds));
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::shape::testing::conforms;

    fn arns() -> Arns {
        Arns { cluster: "prod".into() }
    }

    fn pod(status: Value, annotations: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {labels::TASK_ID: "abc", labels::SERVICE: "web"}, "annotations": annotations},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}]},
            "status": status,
        })).unwrap()
    }

    fn running() -> Value {
        json!({"phase": "Running", "podIP": "10.0.0.4", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}}]})
    }

    #[test]
    fn a_running_task_has_the_documented_shape() {
        let annotations = json!({labels::TASK_DEFINITION: "web:2", labels::DEPLOYMENT_ID: "ecs-svc/1", labels::GROUP: "service:web"});
        let placement = Placement { zone: Some("us-east-1a".into()), launch_type: Some("FARGATE".into()) };
        let shaped = from_pod(&pod(running(), annotations), &placement, &arns());
        let mut documented: Value = serde_json::from_str(include_str!("../../../../tests/fixtures/aws-cli/describe-tasks.json")).unwrap();
        // What the ECS agent and Fargate report and Kubernetes has no equivalent for.
        let task = documented["tasks"][0].as_object_mut().unwrap();
        for agent_only in ["cpu", "memory", "version", "connectivity", "connectivityAt", "pullStartedAt", "pullStoppedAt", "platformVersion", "attachments"] {
            task.remove(agent_only);
        }
        let container = task["containers"][0].as_object_mut().unwrap();
        container.remove("cpu");
        container["networkInterfaces"][0].as_object_mut().unwrap().remove("attachmentId");
        conforms(&json!({"tasks": [shaped.clone()], "failures": []}), &documented).unwrap();
        assert_eq!((shaped["lastStatus"].as_str(), shaped["desiredStatus"].as_str(), shaped["healthStatus"].as_str()), (Some("RUNNING"), Some("RUNNING"), Some("HEALTHY")));
        assert_eq!(shaped["startedBy"], "ecs-svc/1");
        assert_eq!(shaped["containerInstanceArn"], "arn:aws:ecs:berth:000000000000:container-instance/prod/n1");
        assert_eq!(shaped["taskDefinitionArn"], "arn:aws:ecs:berth:000000000000:task-definition/web:2");
        assert!(shaped.get("stopCode").is_none());
    }

    #[test]
    fn a_stopped_task_has_its_stop_code_reason_and_exit_code() {
        let status = json!({"phase": "Failed", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-01-01T00:00:05Z", "finishedAt": "2026-01-01T00:01:00Z"}}}]});
        let shaped = from_pod(&pod(status, json!({})), &Placement::default(), &arns());
        assert_eq!(shaped["lastStatus"], "STOPPED");
        assert_eq!(shaped["desiredStatus"], "STOPPED");
        assert_eq!(shaped["stopCode"], "EssentialContainerExited");
        assert_eq!(shaped["stoppedReason"], "Essential container in task exited");
        assert_eq!(shaped["containers"][0]["exitCode"], 137);
        assert_eq!(shaped["containers"][0]["reason"], "OutOfMemoryError: Container killed due to memory usage");
        assert_eq!(shaped["stoppedAt"], 1767225660.0);
    }

    #[test]
    fn a_user_stop_reads_as_user_initiated_with_the_callers_reason() {
        let annotations = json!({labels::STOP_CODE: "UserInitiated", labels::STOPPED_REASON: "rotating credentials"});
        let mut stopping = pod(running(), annotations);
        stopping.metadata.deletion_timestamp = Some(crate::cli::shape::testing::at(1767225700));
        let shaped = from_pod(&stopping, &Placement::default(), &arns());
        assert_eq!((shaped["lastStatus"].as_str(), shaped["desiredStatus"].as_str()), (Some("STOPPING"), Some("STOPPED")));
        assert_eq!((shaped["stopCode"].as_str(), shaped["stoppedReason"].as_str()), (Some("UserInitiated"), Some("rotating credentials")));
    }

    #[test]
    fn a_record_keeps_the_stop() {
        let record: TaskSummary = serde_json::from_value(json!({"taskId": "abc", "lastStatus": "STOPPED", "stopCode": "UserInitiated",
            "stoppedReason": "Task stopped by user", "containers": [{"name": "app", "exitCode": 0}]})).unwrap();
        let shaped = from_record(&record, "family:batch", &arns());
        assert_eq!(shaped["taskArn"], "arn:aws:ecs:berth:000000000000:task/prod/abc");
        assert_eq!(shaped["stopCode"], "UserInitiated");
        assert_eq!(shaped["containers"][0]["exitCode"], 0);
    }
}
