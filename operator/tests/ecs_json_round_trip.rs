//! Real ECS JSON survives the Rust types unchanged: no field dropped, renamed or defaulted.

mod support;

use berth::api::{CapacityProviderSpec, ServiceSpec, TaskDefinitionSpec, TaskRunSpec};
use serde::{Serialize, de::DeserializeOwned};
use support::fixture;

fn assert_round_trips<T: Serialize + DeserializeOwned>(name: &str) {
    let original = fixture(name);
    let typed: T = serde_json::from_value(original.clone()).expect("fixture fits the type");
    assert_eq!(
        serde_json::to_value(typed).unwrap(),
        original,
        "{name} changed in a round trip"
    );
}

#[test]
fn task_definitions_round_trip() {
    assert_round_trips::<TaskDefinitionSpec>("fargate-web.json");
    assert_round_trips::<TaskDefinitionSpec>("ec2-everything.json");
}

#[test]
fn service_round_trips() {
    assert_round_trips::<ServiceSpec>("service-web.json");
}

#[test]
fn task_run_round_trips() {
    assert_round_trips::<TaskRunSpec>("taskrun-migrate.json");
}

#[test]
fn capacity_provider_round_trips() {
    assert_round_trips::<CapacityProviderSpec>("capacity-provider-spot.json");
}
