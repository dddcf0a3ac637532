//! Where an owner's tasks launch (ecs-semantics §2.11, §4.8): its `launchType` or
//! `capacityProviderStrategy`, resolved against the `CapacityProvider` objects, checked
//! against the task definition.
//!
//! ECS names (`FARGATE`, `FARGATE_SPOT`, `EC2`, `my_pool`) are matched to object names
//! case-insensitively with `_` read as `-`, because Kubernetes object names are lowercase
//! DNS names: `launchType: FARGATE` uses the CapacityProvider `fargate`, `FARGATE_SPOT`
//! uses `fargate-spot`. A launch type is a strategy of that one provider.
//!
//! Departure from ECS: a strategy may mix EC2 and FARGATE providers (ECS refuses to mix
//! Fargate and Auto Scaling group providers); the task definition must then suit both.

use std::collections::BTreeMap;

use super::compatibility::incompatibilities;
use super::{CapacityStrategy, StrategyError, StrategyItem};
use crate::api::{CapacityProviderSpec, CapacityProviderType, LaunchPlacement, TaskDefinitionSpec, wire_name};

/// The Kubernetes object name an ECS capacity provider or launch type name refers to.
pub fn object_name(ecs_name: &str) -> String {
    ecs_name.to_ascii_lowercase().replace('_', "-")
}

/// A resolved launch: the strategy over provider object names, and each provider's pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    pub strategy: CapacityStrategy,
    pub providers: BTreeMap<String, CapacityProviderSpec>,
}

/// Why an owner cannot launch tasks; messages name the provider or the reasons.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LaunchError {
    #[error("capacity provider {ecs_name} does not exist (no CapacityProvider named {object})")]
    UnknownProvider { ecs_name: String, object: String },
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error("task definition does not support launch type {launch_type} (capacity provider {provider}): {}", reasons.join("; "))]
    Incompatible { launch_type: &'static str, provider: String, reasons: Vec<String> },
    #[error("the DAEMON scheduling strategy does not support a capacity provider strategy; use launchType EC2")]
    DaemonWithStrategy,
    #[error("placementConstraints are not supported on FARGATE (capacity provider {0})")]
    ConstraintsOnFargate(String),
}

impl LaunchError {
    /// The condition and event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            LaunchError::UnknownProvider { .. } => "CapacityProviderNotFound",
            LaunchError::Strategy(_) | LaunchError::DaemonWithStrategy => "CapacityProviderStrategyInvalid",
            LaunchError::Incompatible { .. } => "TaskDefinitionIncompatible",
            LaunchError::ConstraintsOnFargate(_) => "PlacementInvalid",
        }
    }
}

/// Resolves `placement` for tasks of `task_definition`; `None` when it names no launch type
/// and no strategy (tasks then go anywhere, as before capacity providers). `lookup` finds a
/// CapacityProvider by object name.
pub fn resolve(
    placement: &LaunchPlacement,
    task_definition: &TaskDefinitionSpec,
    daemon: bool,
    lookup: impl Fn(&str) -> Option<CapacityProviderSpec>,
) -> Result<Option<Launch>, LaunchError> {
    let items: Vec<(String, StrategyItem)> = match (&placement.launch_type, &placement.capacity_provider_strategy) {
        (Some(launch_type), _) => {
            let ecs_name = wire_name(launch_type);
            vec![(ecs_name.clone(), StrategyItem { provider: object_name(&ecs_name), base: 0, weight: 1 })]
        }
        (None, Some(_)) if daemon => return Err(LaunchError::DaemonWithStrategy),
        (None, Some(strategy)) if !strategy.is_empty() => strategy
            .iter()
            .map(|item| {
                let provider = object_name(&item.capacity_provider);
                (item.capacity_provider.clone(), StrategyItem { provider, base: item.base.unwrap_or(0), weight: item.weight.unwrap_or(0) })
            })
            .collect(),
        _ => return Ok(None),
    };
    let strategy = CapacityStrategy::new(&items.iter().map(|(_, item)| item.clone()).collect::<Vec<_>>())?;
    let mut providers = BTreeMap::new();
    for (ecs_name, item) in items {
        let spec = lookup(&item.provider).ok_or_else(|| LaunchError::UnknownProvider { ecs_name, object: item.provider.clone() })?;
        let constrained = placement.placement_constraints.as_ref().is_some_and(|c| !c.is_empty());
        if spec.type_ == CapacityProviderType::Fargate && constrained {
            return Err(LaunchError::ConstraintsOnFargate(item.provider));
        }
        let reasons = incompatibilities(task_definition, spec.type_);
        if !reasons.is_empty() {
            let launch_type = match spec.type_ {
                CapacityProviderType::Ec2 => "EC2",
                CapacityProviderType::Fargate => "FARGATE",
            };
            return Err(LaunchError::Incompatible { launch_type, provider: item.provider, reasons });
        }
        providers.insert(item.provider, spec);
    }
    Ok(Some(Launch { strategy, providers }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(type_: CapacityProviderType) -> CapacityProviderSpec {
        CapacityProviderSpec { type_, node_selector: None, tolerations: None, runtime_class_name: None }
    }

    fn pools(name: &str) -> Option<CapacityProviderSpec> {
        match name {
            "fargate" | "fargate-spot" => Some(provider(CapacityProviderType::Fargate)),
            "ec2" => Some(provider(CapacityProviderType::Ec2)),
            _ => None,
        }
    }

    fn placement(yaml: &str) -> LaunchPlacement {
        serde_saphyr::from_str(yaml).expect("placement fixture")
    }

    fn task_definition(yaml: &str) -> TaskDefinitionSpec {
        serde_saphyr::from_str(yaml).expect("task definition fixture")
    }

    const PORTABLE: &str = r#"
requiresCompatibilities: [EC2, FARGATE]
networkMode: awsvpc
cpu: "256"
memory: "512"
containerDefinitions: [{name: web, image: nginx}]
"#;

    #[test]
    fn ecs_names_map_to_lowercase_object_names() {
        assert_eq!(object_name("FARGATE"), "fargate");
        assert_eq!(object_name("FARGATE_SPOT"), "fargate-spot");
        assert_eq!(object_name("my-pool"), "my-pool");
    }

    #[test]
    fn a_launch_type_is_a_strategy_of_its_provider() {
        let launch = resolve(&placement("launchType: FARGATE"), &task_definition(PORTABLE), false, pools).unwrap().unwrap();
        assert_eq!(launch.providers.keys().collect::<Vec<_>>(), ["fargate"]);
        assert_eq!(launch.strategy.split(3), BTreeMap::from([("fargate".to_string(), 3)]));
    }

    #[test]
    fn a_strategy_keeps_base_and_weights_under_object_names() {
        let yaml = "capacityProviderStrategy: [{capacityProvider: FARGATE, base: 2, weight: 3}, {capacityProvider: EC2, weight: 1}]";
        let launch = resolve(&placement(yaml), &task_definition(PORTABLE), false, pools).unwrap().unwrap();
        assert_eq!(launch.strategy.split(10), BTreeMap::from([("fargate".to_string(), 8), ("ec2".to_string(), 2)]));
        assert_eq!(launch.providers.keys().collect::<Vec<_>>(), ["ec2", "fargate"]);
    }

    #[test]
    fn nothing_to_resolve_without_launch_type_or_strategy() {
        assert_eq!(resolve(&placement("{}"), &task_definition(PORTABLE), false, pools), Ok(None));
    }

    #[test]
    fn a_missing_provider_is_named() {
        let error = resolve(&placement("capacityProviderStrategy: [{capacityProvider: SPOT_POOL, weight: 1}]"), &task_definition(PORTABLE), false, pools)
            .unwrap_err();
        assert_eq!(error.reason(), "CapacityProviderNotFound");
        assert_eq!(error.to_string(), "capacity provider SPOT_POOL does not exist (no CapacityProvider named spot-pool)");
    }

    #[test]
    fn an_incompatible_task_definition_is_refused_with_its_reasons() {
        let privileged = task_definition("containerDefinitions: [{name: agent, image: agent, privileged: true}]\nnetworkMode: awsvpc\ncpu: '256'\nmemory: '512'");
        let error = resolve(&placement("launchType: FARGATE"), &privileged, false, pools).unwrap_err();
        assert_eq!(error.reason(), "TaskDefinitionIncompatible");
        assert_eq!(error.to_string(), "task definition does not support launch type FARGATE (capacity provider fargate): \
            containerDefinitions[agent].privileged is true; privileged containers are not supported");
        assert!(resolve(&placement("launchType: EC2"), &privileged, false, pools).is_ok());
    }

    #[test]
    fn every_provider_of_a_strategy_must_suit_the_task_definition() {
        let ec2_only = task_definition("requiresCompatibilities: [EC2]\ncontainerDefinitions: [{name: a, image: a, memory: 128}]");
        let yaml = "capacityProviderStrategy: [{capacityProvider: EC2, weight: 1}, {capacityProvider: FARGATE_SPOT, weight: 1}]";
        let error = resolve(&placement(yaml), &ec2_only, false, pools).unwrap_err();
        assert!(matches!(&error, LaunchError::Incompatible { provider, .. } if provider == "fargate-spot"), "{error}");
    }

    #[test]
    fn fargate_takes_no_placement_constraints_from_the_owner() {
        let constrained = "{launchType: FARGATE, placementConstraints: [{type: distinctInstance}]}";
        let error = resolve(&placement(constrained), &task_definition(PORTABLE), false, pools).unwrap_err();
        assert_eq!(error, LaunchError::ConstraintsOnFargate("fargate".into()));
        let on_ec2 = "{launchType: EC2, placementConstraints: [{type: distinctInstance}]}";
        assert!(resolve(&placement(on_ec2), &task_definition(PORTABLE), false, pools).is_ok());
    }

    #[test]
    fn daemon_services_take_a_launch_type_but_no_strategy() {
        let yaml = "capacityProviderStrategy: [{capacityProvider: EC2, weight: 1}]";
        assert_eq!(resolve(&placement(yaml), &task_definition(PORTABLE), true, pools), Err(LaunchError::DaemonWithStrategy));
        assert!(resolve(&placement("launchType: EC2"), &task_definition(PORTABLE), true, pools).is_ok());
    }
}
