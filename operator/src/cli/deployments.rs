//! `list-service-deployments`, `describe-service-deployments`, `stop-service-deployment` and
//! `continue-service-deployment`: the records of BLUE_GREEN, LINEAR and CANARY deployments in
//! `status.serviceDeployments`, and the annotations that stop or continue one.

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::args::Args;
use super::arn::{Arns, short_name};
use super::cluster::Cluster;
use super::output::{Response, failure_lines, table, text};
use super::services::FIELD_MANAGER;
use super::shape::{epoch_seconds, failure, insert_some};
use super::CliError;
use crate::api::{RevisionTasks, Service, ServiceDeploymentRecord};
use crate::ecs::plan::lifecycle::{CONTINUE_DEPLOYMENT, STOP_DEPLOYMENT};

/// A record as ECS's `ServiceDeployment` (describe) or `ServiceDeploymentBrief` (list).
pub fn shaped(record: &ServiceDeploymentRecord, service: &str, arns: &Arns, brief: bool) -> Value {
    let state = &record.lifecycle;
    let mut shaped = json!({
        "serviceDeploymentArn": arns.service_deployment(service, &record.service_deployment_id),
        "serviceArn": arns.service(service),
        "clusterArn": arns.cluster(),
        "createdAt": epoch_seconds(&record.created_at),
        "startedAt": epoch_seconds(&record.created_at),
        "targetServiceRevisionArn": arns.task_definition(&record.target_task_definition),
        "status": crate::api::wire_name(&state.status),
    });
    insert_some(&mut shaped, "finishedAt", record.finished_at.as_ref().map(epoch_seconds));
    insert_some(&mut shaped, "statusReason", record.status_reason.clone());
    if brief {
        return shaped;
    }
    shaped["lifecycleStage"] = json!(crate::api::wire_name(&state.stage));
    shaped["deploymentConfiguration"] = json!({"strategy": crate::api::wire_name(&record.strategy)});
    // ECS ServiceRevisionSummary: each revision's task counts and requested traffic weights.
    let test_weight = if state.test_traffic_on_green { 100.0 } else { 0.0 };
    let revision = |td: &str, tasks: Option<&RevisionTasks>, production: f64, test: f64| {
        let tasks = tasks.copied().unwrap_or_default();
        json!({"arn": arns.task_definition(td), "requestedTaskCount": tasks.requested, "runningTaskCount": tasks.running,
            "pendingTaskCount": tasks.pending, "requestedProductionTrafficWeight": production, "requestedTestTrafficWeight": test})
    };
    shaped["sourceServiceRevisions"] = json!(record.source_task_definition.iter()
        .map(|td| revision(td, record.source_tasks.as_ref(), 100.0 - state.production_weight, 100.0 - test_weight)).collect::<Vec<_>>());
    shaped["targetServiceRevision"] = revision(&record.target_task_definition, Some(&record.target_tasks), state.production_weight, test_weight);
    shaped["productionTrafficWeight"] = json!(state.production_weight);
    shaped["testTrafficWeight"] = json!(test_weight);
    if let Some(hook_id) = &record.awaiting_action {
        shaped["lifecycleHookDetails"] = json!([{"hookId": hook_id, "status": "AWAITING_ACTION", "lifecycleStage": crate::api::wire_name(&state.stage)}]);
    }
    if let Some(rollback) = &state.rollback {
        shaped["rollback"] = json!({"reason": rollback.reason, "startedAt": rollback.started_at as f64});
    }
    if !state.triggered_alarms.is_empty() {
        shaped["alarms"] = json!({"status": "TRIGGERED", "alarmNames": state.triggered_alarms});
    }
    shaped
}

fn records(service: &Service) -> &[ServiceDeploymentRecord] {
    service.status.as_ref().and_then(|s| s.service_deployments.as_deref()).unwrap_or_default()
}

pub async fn list_service_deployments(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let name = args.required("--service")?;
    let statuses = args.value("--status")?.map(|s| s.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>());
    args.finish()?;
    let name = short_name(&name).to_string();
    let service = cluster.api::<Service>().get(&name).await.map_err(CliError::api)?;
    let briefs: Vec<Value> = records(&service).iter().map(|r| shaped(r, &name, &cluster.arns, true))
        .filter(|b| statuses.as_ref().is_none_or(|wanted| wanted.iter().any(|s| b["status"] == s.as_str()))).collect();
    let rows: Vec<Vec<String>> = briefs.iter().map(|b| vec![text(&b["serviceDeploymentArn"]), text(&b["status"]), short_name(&text(&b["targetServiceRevisionArn"])).to_string()]).collect();
    Ok(Response { table: table(&["SERVICE DEPLOYMENT", "STATUS", "TARGET"], &rows), json: json!({"serviceDeployments": briefs}) })
}

/// The service and deployment id an ARN names (`...:service-deployment/<cluster>/<service>/<number>`).
fn parse_arn(arn: &str) -> Result<(String, String), CliError> {
    let path = arn.split_once(":service-deployment/").map(|(_, p)| p).unwrap_or(arn);
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        [_, service, number] | [service, number] => Ok((service.to_string(), format!("ecs-svc/{number}"))),
        _ => Err(CliError::usage(format!("{arn} is not a service deployment ARN (arn:aws:ecs:...:service-deployment/CLUSTER/SERVICE/ID)"))),
    }
}

pub async fn describe_service_deployments(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let arns = args.required_list("--service-deployment-arns")?;
    args.finish()?;
    let (mut found, mut failures) = (vec![], vec![]);
    for arn in &arns {
        let (name, id) = parse_arn(arn)?;
        let service = cluster.api::<Service>().get_opt(&name).await.map_err(CliError::api)?;
        match service.as_ref().and_then(|s| records(s).iter().find(|r| r.service_deployment_id == id)) {
            Some(record) => found.push(shaped(record, &name, &cluster.arns, false)),
            None => failures.push(failure(arn, "MISSING")),
        }
    }
    let rows: Vec<Vec<String>> = found.iter().map(|d| vec![text(&d["serviceDeploymentArn"]), text(&d["status"]), text(&d["lifecycleStage"]),
        d["productionTrafficWeight"].to_string(), d["lifecycleHookDetails"][0]["hookId"].as_str().unwrap_or("-").to_string()]).collect();
    let table = table(&["SERVICE DEPLOYMENT", "STATUS", "STAGE", "PRODUCTION %", "AWAITING"], &rows) + &failure_lines(&failures);
    Ok(Response { table, json: json!({"serviceDeployments": found, "failures": failures}) })
}

/// Sets one annotation on the service the deployment ARN names; the operator acts on it.
async fn annotate(cluster: &Cluster, arn: &str, key: &str, value: String) -> Result<Response, CliError> {
    let (name, id) = parse_arn(arn)?;
    let service = cluster.api::<Service>().get(&name).await.map_err(CliError::api)?;
    let record = records(&service).iter().find(|r| r.service_deployment_id == id)
        .ok_or_else(|| CliError::api_message(format!("ServiceDeploymentNotFoundException: {arn}")))?;
    if record.lifecycle.status.is_final() {
        return Err(CliError::api_message(format!("InvalidParameterException: service deployment {arn} is {}", crate::api::wire_name(&record.lifecycle.status))));
    }
    let patch = json!({"metadata": {"annotations": {key: value}}});
    cluster.api::<Service>().patch(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&patch)).await.map_err(CliError::api)?;
    Ok(Response { table: format!("{arn}\n"), json: json!({"serviceDeploymentArn": arn}) })
}

pub async fn stop_service_deployment(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let arn = args.required("--service-deployment-arn")?;
    let stop_type = args.value("--stop-type")?.unwrap_or_else(|| "ROLLBACK".into());
    args.finish()?;
    if stop_type != "ROLLBACK" {
        return Err(CliError::usage(format!("--stop-type {stop_type}: Berth stops a deployment by rolling it back (ROLLBACK)")));
    }
    let (_, id) = parse_arn(&arn)?;
    annotate(cluster, &arn, STOP_DEPLOYMENT, id).await
}

pub async fn continue_service_deployment(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let arn = args.required("--service-deployment-arn")?;
    let hook_id = args.required("--hook-id")?;
    let action = args.value("--action")?.unwrap_or_else(|| "CONTINUE".into());
    args.finish()?;
    if !["CONTINUE", "ROLLBACK"].contains(&action.as_str()) {
        return Err(CliError::usage(format!("--action {action}: CONTINUE or ROLLBACK")));
    }
    annotate(cluster, &arn, CONTINUE_DEPLOYMENT, format!("{hook_id}={action}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_deployment_arn_names_its_service_and_deployment() {
        let arns = Arns { cluster: "shop".into() };
        let arn = arns.service_deployment("web", "ecs-svc/0123");
        assert_eq!(arn, "arn:aws:ecs:berth:000000000000:service-deployment/shop/web/0123");
        assert_eq!(parse_arn(&arn).unwrap(), ("web".to_string(), "ecs-svc/0123".to_string()));
        assert!(parse_arn("arn:aws:ecs:berth:000000000000:service-deployment/only-one").is_err());
    }
}
