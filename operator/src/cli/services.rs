//! `describe-services`, `list-services`, `update-service`.

use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::args::Args;
use super::arn::short_name;
use super::cluster::Cluster;
use super::output::{Response, failure_lines, table, text};
use super::shape::{failure, service::service as shaped_service};
use super::CliError;
use crate::api::Service;

/// The field manager of the CLI's writes.
pub const FIELD_MANAGER: &str = "berth-cli";

pub async fn describe_services(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let names = args.required_list("--services")?;
    args.finish()?;
    let api = cluster.api::<Service>();
    let mut services = vec![];
    let mut failures = vec![];
    for name in &names {
        let name = short_name(name);
        match api.get_opt(name).await.map_err(CliError::api)? {
            Some(service) => services.push(shaped_service(&service, &cluster.service_events(name).await?, &cluster.arns)),
            None => failures.push(failure(&cluster.arns.service(name), "MISSING")),
        }
    }
    let table = services.iter().map(service_table).collect::<Vec<_>>().join("\n") + &failure_lines(&failures);
    Ok(Response { json: json!({"services": services, "failures": failures}), table })
}

/// One service for people: counts, deployments, and the latest events, newest first.
fn service_table(service: &Value) -> String {
    let summary = table(&["SERVICE", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION"], &[vec![
        text(&service["serviceName"]), text(&service["status"]), text(&service["desiredCount"]), text(&service["runningCount"]),
        text(&service["pendingCount"]), short_name(&text(&service["taskDefinition"])).to_string(),
    ]]);
    let deployments: Vec<Vec<String>> = service["deployments"].as_array().into_iter().flatten().map(|d| vec![
        text(&d["id"]), text(&d["status"]), short_name(&text(&d["taskDefinition"])).to_string(), text(&d["desiredCount"]),
        text(&d["runningCount"]), text(&d["pendingCount"]), text(&d["failedTasks"]), text(&d["rolloutState"]),
    ]).collect();
    let events: Vec<Vec<String>> = service["events"].as_array().into_iter().flatten().take(10).map(|e| vec![
        e["createdAt"].as_f64().map_or("-".into(), time_of_day), text(&e["message"]),
    ]).collect();
    format!("{summary}\n{}\n{}", table(&["DEPLOYMENT", "STATUS", "TASK DEFINITION", "DESIRED", "RUNNING", "PENDING", "FAILED", "ROLLOUT"], &deployments),
        table(&["EVENT TIME", "MESSAGE"], &events))
}

/// An epoch time as `YYYY-MM-DD HH:MM:SS` UTC.
fn time_of_day(epoch: f64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(epoch as i64).map_or("-".into(), |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
}

pub async fn list_services(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let launch_type = args.value("--launch-type")?;
    let scheduling_strategy = args.value("--scheduling-strategy")?;
    args.finish()?;
    let services = cluster.api::<Service>().list(&ListParams::default()).await.map_err(CliError::api)?;
    let mut rows = vec![];
    let mut arns = vec![];
    for service in &services.items {
        let shaped = shaped_service(service, &[], &cluster.arns);
        let keep = launch_type.as_ref().is_none_or(|l| shaped["launchType"] == json!(l))
            && scheduling_strategy.as_ref().is_none_or(|s| shaped["schedulingStrategy"] == json!(s));
        if keep {
            rows.push(vec![service.name_any(), text(&shaped["desiredCount"]), text(&shaped["runningCount"]), short_name(&text(&shaped["taskDefinition"])).to_string()]);
            arns.push(shaped["serviceArn"].clone());
        }
    }
    Ok(Response { json: json!({"serviceArns": arns}), table: table(&["SERVICE", "DESIRED", "RUNNING", "TASK DEFINITION"], &rows) })
}

/// What `update-service` changes: ECS's UpdateService arguments Berth's spec carries.
#[derive(Debug, Default, PartialEq)]
pub struct ServiceUpdate {
    pub desired_count: Option<i64>,
    pub task_definition: Option<String>,
    /// A new `forceNewDeployment` token: any change of it starts a deployment.
    pub force_new_deployment: Option<String>,
}

impl ServiceUpdate {
    /// The merge patch of the spec.
    pub fn patch(&self) -> Value {
        let mut spec = json!({});
        super::shape::insert_some(&mut spec, "desiredCount", self.desired_count);
        super::shape::insert_some(&mut spec, "taskDefinition", self.task_definition.as_ref());
        super::shape::insert_some(&mut spec, "forceNewDeployment", self.force_new_deployment.as_ref());
        json!({"spec": spec})
    }
}

pub async fn update_service(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let name = args.required("--service")?;
    let force = args.switch("--force-new-deployment")?.unwrap_or(false);
    let update = ServiceUpdate {
        desired_count: args.number("--desired-count", 0..=i32::MAX as i64)?,
        task_definition: args.value("--task-definition")?,
        force_new_deployment: force.then(|| uuid::Uuid::new_v4().simple().to_string()),
    };
    args.finish()?;
    if update == ServiceUpdate::default() {
        return Err(CliError::usage("update-service needs --desired-count, --task-definition or --force-new-deployment"));
    }
    let name = short_name(&name);
    let api = cluster.api::<Service>();
    let service = api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(update.patch())).await.map_err(CliError::api)?;
    let shaped = shaped_service(&service, &cluster.service_events(name).await?, &cluster.arns);
    let table = service_table(&shaped);
    Ok(Response { json: json!({"service": shaped}), table })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_patches_only_what_was_asked() {
        let update = ServiceUpdate { desired_count: Some(0), ..Default::default() };
        assert_eq!(update.patch(), json!({"spec": {"desiredCount": 0}}));
        let update = ServiceUpdate { task_definition: Some("web:3".into()), force_new_deployment: Some("t".into()), ..Default::default() };
        assert_eq!(update.patch(), json!({"spec": {"taskDefinition": "web:3", "forceNewDeployment": "t"}}));
    }

    #[test]
    fn the_table_shows_deployments_and_events_newest_first() {
        let service = json!({"serviceName": "web", "status": "ACTIVE", "desiredCount": 2, "runningCount": 2, "pendingCount": 0,
            "taskDefinition": "arn:aws:ecs:berth:000000000000:task-definition/web:3",
            "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": "arn:aws:ecs:berth:000000000000:task-definition/web:3",
                "desiredCount": 2, "runningCount": 2, "pendingCount": 0, "failedTasks": 0, "rolloutState": "COMPLETED"}],
            "events": [{"createdAt": 1767225620.0, "message": "newer"}, {"createdAt": 1767225610.0, "message": "older"}]});
        let text = service_table(&service);
        assert!(text.contains("web:3") && text.contains("ecs-svc/1") && text.contains("COMPLETED"), "{text}");
        assert!(text.find("newer").unwrap() < text.find("older").unwrap(), "{text}");
        assert!(text.contains("2026-01-01 00:00:20"), "{text}");
    }
}
