//! A schedule's ECS target as the RunTask call each invocation makes: the `TaskRun` spec.
use crate::api::{LaunchPlacement, ScheduleTarget, Tag, TaskOverride, TaskRunSpec};

/// The TaskRun spec of one invocation; an error names the field that cannot be read.
pub fn task_run_spec(target: &ScheduleTarget) -> Result<TaskRunSpec, String> {
    let ecs = &target.ecs_parameters;
    let overrides = match target.input.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        None => None,
        Some(input) => Some(serde_json::from_str::<TaskOverride>(input).map_err(|e| format!("target.input is not RunTask overrides JSON (containerOverrides, cpu, memory, ...): {e}"))?),
    };
    // Scheduler tags are one-entry maps; ECS tags are key/value pairs.
    let tags = ecs.tags.as_ref().map(|maps| maps.iter().flatten().map(|(key, value)| Tag { key: key.clone(), value: Some(value.clone()) }).collect());
    Ok(TaskRunSpec {
        task_definition: ecs.task_definition_arn.clone(),
        cluster: None,
        count: ecs.task_count,
        overrides,
        started_by: None,
        group: ecs.group.clone(),
        placement: LaunchPlacement {
            launch_type: ecs.launch_type,
            capacity_provider_strategy: ecs.capacity_provider_strategy.clone(),
            placement_constraints: ecs.placement_constraints.clone(),
            placement_strategy: ecs.placement_strategy.clone(),
            network_configuration: ecs.network_configuration.clone(),
            tags,
        },
        propagate_tags: ecs.propagate_tags,
    })
}

/// Where a TaskRun field came from in the schedule (for reporting what it does not honour).
pub fn schedule_field(task_run_field: &str) -> String {
    match task_run_field.strip_prefix("overrides.") {
        Some(rest) => format!("target.input.{rest}"),
        None if task_run_field == "overrides" => "target.input".into(),
        None => format!("target.ecsParameters.{task_run_field}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(extra: serde_json::Value) -> ScheduleTarget {
        let mut target = json!({"ecsParameters": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/report:3"}});
        target.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(target).unwrap()
    }

    #[test]
    fn the_input_is_the_run_task_overrides() {
        let spec = task_run_spec(&target(json!({"input": r#"{"containerOverrides": [{"name": "app", "command": ["report", "--daily"]}], "cpu": "512"}"#}))).unwrap();
        let overrides = spec.overrides.unwrap();
        assert_eq!(overrides.cpu.as_deref(), Some("512"));
        assert_eq!(overrides.container_overrides.unwrap()[0].command.as_deref(), Some(&["report".to_string(), "--daily".to_string()][..]));
        assert_eq!(spec.task_definition, "arn:aws:ecs:us-east-1:123456789012:task-definition/report:3");
        let error = task_run_spec(&target(json!({"input": "{\"containerOverrides\": 3}"}))).unwrap_err();
        assert!(error.starts_with("target.input is not RunTask overrides JSON"), "{error}");
        assert_eq!(task_run_spec(&target(json!({"input": ""}))).unwrap().overrides, None);
    }

    #[test]
    fn ecs_parameters_become_the_run_task_parameters() {
        let spec = task_run_spec(&target(json!({"ecsParameters": {
            "taskDefinitionArn": "report", "taskCount": 3, "launchType": "FARGATE", "group": "nightly",
            "tags": [{"team": "data"}, {"cost": "batch"}], "propagateTags": "TASK_DEFINITION",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        }}))).unwrap();
        assert_eq!((spec.count, spec.group.as_deref(), spec.placement.launch_type), (Some(3), Some("nightly"), Some(crate::api::LaunchType::Fargate)));
        let tags: Vec<(String, Option<String>)> = spec.placement.tags.unwrap().into_iter().map(|t| (t.key, t.value)).collect();
        assert_eq!(tags, [("team".to_string(), Some("data".to_string())), ("cost".to_string(), Some("batch".to_string()))]);
        assert!(spec.placement.network_configuration.is_some());
    }

    #[test]
    fn task_run_fields_map_back_to_the_schedule() {
        assert_eq!(schedule_field("overrides.executionRoleArn"), "target.input.executionRoleArn");
        assert_eq!(schedule_field("tags"), "target.ecsParameters.tags");
        assert_eq!(schedule_field("networkConfiguration.awsvpcConfiguration"), "target.ecsParameters.networkConfiguration.awsvpcConfiguration");
    }
}
