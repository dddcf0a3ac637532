//! A task definition revision as `aws ecs describe-task-definition` and
//! `register-task-definition` print it: the registered input plus what ECS adds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::{epoch_seconds, insert_some};
use crate::api::{TaskDefinitionRevisionStatus, wire_name};
use crate::cli::arn::Arns;

/// One registered revision: its spec (the ControllerRevision's data) and its facts.
pub struct Revision<'a> {
    pub family: &'a str,
    pub number: i32,
    pub spec: &'a Value,
    pub status: TaskDefinitionRevisionStatus,
    pub registered_at: Option<&'a Time>,
}

/// The ECS `TaskDefinition` object.
pub fn task_definition(revision: &Revision, arns: &Arns) -> Value {
    let mut shaped = match revision.spec {
        Value::Object(fields) => Value::Object(fields.clone()),
        _ => json!({}),
    };
    let reference = format!("{}:{}", revision.family, revision.number);
    let compatibilities = shaped.get("requiresCompatibilities").cloned().unwrap_or_else(|| json!(["EC2"]));
    shaped["taskDefinitionArn"] = json!(arns.task_definition(&reference));
    shaped["family"] = json!(revision.family);
    shaped["revision"] = json!(revision.number);
    shaped["status"] = json!(wire_name(&revision.status));
    shaped["compatibilities"] = compatibilities;
    shaped["requiresAttributes"] = json!([]);
    shaped["registeredBy"] = json!("berth");
    insert_some(&mut shaped, "registeredAt", revision.registered_at.map(epoch_seconds));
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_ecs_adds_to_the_input() {
        let spec = json!({"family": "web", "cpu": "256", "memory": "512", "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [{"name": "web", "image": "nginx"}]});
        let registered = crate::cli::shape::testing::at(1_700_000_000);
        let revision = Revision { family: "web", number: 3, spec: &spec, status: TaskDefinitionRevisionStatus::Active, registered_at: Some(&registered) };
        let shaped = task_definition(&revision, &Arns { cluster: "prod".into() });
        assert_eq!(shaped["taskDefinitionArn"], "arn:aws:ecs:berth:000000000000:task-definition/web:3");
        assert_eq!((shaped["revision"].as_i64(), shaped["status"].as_str()), (Some(3), Some("ACTIVE")));
        assert_eq!(shaped["compatibilities"], json!(["FARGATE"]));
        assert_eq!(shaped["containerDefinitions"][0]["image"], "nginx");
        assert_eq!(shaped["registeredAt"], 1_700_000_000.0);
    }
}
