//! `berth import`: ECS JSON in, Berth manifests that fit the CRD types out, with a note for
//! every dropped field.

use berth::api::{Service, ServiceSpec, TaskDefinition, TaskDefinitionSpec};
use berth::import::{ECS_NAME_ANNOTATION, ImportError, ImportOptions, Imported, Manifest, import};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).expect("fixture exists")
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture is JSON")
}

fn import_fixture(name: &str) -> Imported {
    import(&fixture_text(name), &ImportOptions::default()).expect("fixture imports")
}

fn import_json(input: Value) -> Imported {
    import(&input.to_string(), &ImportOptions::default()).expect("input imports")
}

fn task_definitions(imported: &Imported) -> Vec<&TaskDefinition> {
    imported
        .manifests
        .iter()
        .filter_map(|manifest| match manifest {
            Manifest::TaskDefinition(task_definition) => Some(task_definition.as_ref()),
            _ => None,
        })
        .collect()
}

fn services(imported: &Imported) -> Vec<&Service> {
    imported
        .manifests
        .iter()
        .filter_map(|manifest| match manifest {
            Manifest::Service(service) => Some(service.as_ref()),
            _ => None,
        })
        .collect()
}

/// `object` without `keys`.
fn without(mut object: Value, keys: &[&str]) -> Value {
    for key in keys {
        object.as_object_mut().unwrap().remove(*key);
    }
    object
}

const TASK_DEFINITION_READ_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

#[test]
fn describe_task_definition_of_a_fargate_app_keeps_the_input_fields_and_the_tags() {
    let imported = import_fixture("describe-task-definition-fargate.json");
    let [task_definition] = task_definitions(&imported)[..] else {
        panic!("one task definition")
    };
    assert_eq!(task_definition.metadata.name.as_deref(), Some("web-api"));
    assert_eq!(task_definition.metadata.namespace, None);
    let described = fixture_json("describe-task-definition-fargate.json");
    let mut expected = without(
        described["taskDefinition"].clone(),
        &TASK_DEFINITION_READ_ONLY,
    );
    expected["tags"] = described["tags"].clone();
    assert_eq!(
        serde_json::to_value(&task_definition.spec).unwrap(),
        expected
    );
    assert_eq!(
        imported.notes,
        [
            "dropped taskDefinition.taskDefinitionArn: read-only (Berth names revisions family:revision)",
            "dropped taskDefinition.revision: read-only (assigned by Berth on apply)",
            "dropped taskDefinition.status: read-only (Berth tracks the status of each revision)",
            "dropped taskDefinition.requiresAttributes: read-only (worked out by ECS from the features used)",
            "dropped taskDefinition.compatibilities: read-only (worked out by ECS from the features used)",
            "dropped taskDefinition.registeredAt: read-only (set by ECS on registration)",
            "dropped taskDefinition.registeredBy: read-only (set by ECS on registration)",
        ]
    );
}

#[test]
fn describe_task_definition_of_an_ec2_bridge_app_gets_a_kubernetes_name_and_keeps_the_family() {
    let imported = import_fixture("describe-task-definition-ec2-bridge.json");
    let [task_definition] = task_definitions(&imported)[..] else {
        panic!("one task definition")
    };
    assert_eq!(
        task_definition.metadata.name.as_deref(),
        Some("legacy-worker")
    );
    assert_eq!(
        task_definition.spec.family.as_deref(),
        Some("Legacy_Worker")
    );
    let described = fixture_json("describe-task-definition-ec2-bridge.json");
    let expected = without(
        described["taskDefinition"].clone(),
        &TASK_DEFINITION_READ_ONLY,
    );
    assert_eq!(
        serde_json::to_value(&task_definition.spec).unwrap(),
        expected,
        "empty tags are not added"
    );
    assert!(imported.notes.contains(
        &"dropped taskDefinition.deregisteredAt: read-only (set by ECS when the revision was deregistered)".to_owned()
    ));
    assert_eq!(imported.notes.len(), 8);
}

#[test]
fn a_register_input_passes_unchanged_including_fields_berth_does_not_act_on() {
    let imported = import_fixture("register-task-definition.json");
    let [task_definition] = task_definitions(&imported)[..] else {
        panic!("one task definition")
    };
    assert_eq!(
        task_definition.metadata.name.as_deref(),
        Some("batch-report")
    );
    assert!(task_definition.spec.proxy_configuration.is_some());
    assert_eq!(
        serde_json::to_value(&task_definition.spec).unwrap(),
        fixture_json("register-task-definition.json")
    );
    assert_eq!(imported.notes, Vec::<String>::new());
}

#[test]
fn a_create_service_input_names_the_service_and_hints_at_the_namespace() {
    let imported = import_fixture("create-service.json");
    let [service] = services(&imported)[..] else {
        panic!("one service")
    };
    assert_eq!(service.metadata.name.as_deref(), Some("web-api"));
    let annotations = service
        .metadata
        .annotations
        .as_ref()
        .expect("the ECS name is kept");
    assert_eq!(annotations[ECS_NAME_ANNOTATION], "Web_API");
    let expected = without(
        fixture_json("create-service.json"),
        &["serviceName", "cluster"],
    );
    assert_eq!(serde_json::to_value(&service.spec).unwrap(), expected);
    assert_eq!(service.spec.task_definition, "web-api:7");
    assert_eq!(
        imported.notes,
        ["cluster prod maps to a namespace: use --namespace"]
    );
}

#[test]
fn the_namespace_option_replaces_the_cluster_hint() {
    let options = ImportOptions {
        namespace: Some("prod".to_owned()),
        ..ImportOptions::default()
    };
    let imported = import(&fixture_text("create-service.json"), &options).unwrap();
    let [service] = services(&imported)[..] else {
        panic!("one service")
    };
    assert_eq!(service.metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(imported.notes, Vec::<String>::new());
}

#[test]
fn describe_services_gives_one_service_per_entry_without_the_read_only_fields() {
    let imported = import_fixture("describe-services.json");
    let [web, shipper] = services(&imported)[..] else {
        panic!("two services")
    };
    assert_eq!(web.metadata.name.as_deref(), Some("web-api"));
    assert_eq!(
        web.metadata.annotations, None,
        "the ECS name is already valid"
    );
    assert_eq!(
        web.spec.task_definition,
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web-api:7"
    );
    assert_eq!(web.spec.desired_count, Some(3));
    assert_eq!(shipper.metadata.name.as_deref(), Some("log-shipper"));
    assert_eq!(
        shipper.metadata.annotations.as_ref().unwrap()[ECS_NAME_ANNOTATION],
        "Log_Shipper"
    );
    assert_eq!(
        shipper.spec.desired_count, None,
        "DAEMON services take no desiredCount"
    );
    for line in [
        "dropped services[0].deployments: read-only (Berth records its own deployments in status.deployments)",
        "dropped services[0].events: read-only (Berth reports service events as Kubernetes Events)",
        "dropped services[0].runningCount: read-only (Berth counts tasks in status)",
        "dropped services[0].roleArn: read-only (the role ECS chose for load balancer calls; set role to choose one)",
        "dropped services[1].desiredCount: a DAEMON service runs one task per matching node",
        "cluster prod maps to a namespace: use --namespace",
    ] {
        assert!(
            imported.notes.contains(&line.to_owned()),
            "missing note {line:?} in {:#?}",
            imported.notes
        );
    }
    let hints = imported
        .notes
        .iter()
        .filter(|note| note.starts_with("cluster "))
        .count();
    assert_eq!(hints, 1, "one hint per cluster");
    assert_eq!(imported.notes.len(), 20);
}

#[test]
fn the_yaml_output_reads_back_as_berth_objects() {
    let yaml = import_fixture("describe-services.json").to_yaml().unwrap();
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
    assert_eq!(documents.len(), 2);
    for document in &documents {
        assert_eq!(document["apiVersion"], "berth.dev/v1alpha1");
        assert_eq!(document["kind"], "Service");
        assert_eq!(document.get("status"), None);
        let _: ServiceSpec =
            serde_json::from_value(document["spec"].clone()).expect("spec fits the Service type");
    }
    assert!(yaml.contains("\n---\n"));
    assert!(yaml.contains(
        "  taskDefinition: arn:aws:ecs:eu-west-1:123456789012:task-definition/web-api:7\n"
    ));
}

#[test]
fn an_array_gives_the_documents_in_input_order() {
    let input = json!([
        fixture_json("register-task-definition.json"),
        fixture_json("create-service.json")
    ]);
    let imported = import_json(input);
    assert!(matches!(
        imported.manifests[..],
        [Manifest::TaskDefinition(_), Manifest::Service(_)]
    ));
    let yaml = imported.to_yaml().unwrap();
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
    let kinds: Vec<&str> = documents
        .iter()
        .map(|document| document["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["TaskDefinition", "Service"]);
    let _: TaskDefinitionSpec = serde_json::from_value(documents[0]["spec"].clone()).unwrap();
}

#[test]
fn unknown_task_definition_fields_are_dropped_with_a_note() {
    let mut input = fixture_json("register-task-definition.json");
    input["fooBar"] = json!(1);
    input["containerDefinitions"][1]["sidecarMode"] = json!("yes");
    let imported = import_json(input);
    assert_eq!(
        imported.notes,
        [
            "dropped containerDefinitions[1].sidecarMode: not part of the ECS RegisterTaskDefinition input",
            "dropped fooBar: not part of the ECS RegisterTaskDefinition input",
        ]
    );
    let [task_definition] = task_definitions(&imported)[..] else {
        panic!("one task definition")
    };
    assert_eq!(
        serde_json::to_value(&task_definition.spec).unwrap(),
        fixture_json("register-task-definition.json")
    );
}

#[test]
fn unknown_service_fields_and_nulls_are_dropped_with_a_note() {
    let mut input = fixture_json("create-service.json");
    input["forceDelete"] = json!(true);
    input["platformVersion"] = Value::Null;
    let imported = import(
        &input.to_string(),
        &ImportOptions {
            namespace: Some("prod".to_owned()),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        imported.notes,
        [
            "dropped forceDelete: not part of the ECS CreateService input",
            "dropped platformVersion: null, the same as leaving it out",
        ]
    );
}

#[test]
fn a_create_service_input_without_service_name_takes_the_name_option() {
    let input = without(fixture_json("create-service.json"), &["serviceName"]);
    let options = ImportOptions {
        name: Some("Checkout_API".to_owned()),
        ..ImportOptions::default()
    };
    let imported = import(&input.to_string(), &options).unwrap();
    let [service] = services(&imported)[..] else {
        panic!("one service")
    };
    assert_eq!(service.metadata.name.as_deref(), Some("checkout-api"));
    let annotations = service.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get(ECS_NAME_ANNOTATION).map(String::as_str), Some("Checkout_API"));
}

#[test]
fn without_service_name_or_the_name_option_the_service_is_refused() {
    let input = without(fixture_json("create-service.json"), &["serviceName"]);
    let error = import(&input.to_string(), &ImportOptions::default()).unwrap_err();
    assert!(matches!(error, ImportError::MissingName { field: "serviceName", .. }), "{error}");
}

#[test]
fn create_service_output_gives_its_service() {
    let input = json!({"service": fixture_json("create-service.json")});
    let imported = import_json(input);
    assert_eq!(services(&imported).len(), 1);
}

#[test]
fn an_empty_capacity_provider_strategy_gives_way_to_the_launch_type() {
    let mut input = fixture_json("create-service.json");
    input["capacityProviderStrategy"] = json!([]);
    let imported = import_json(input);
    let [service] = services(&imported)[..] else {
        panic!("one service")
    };
    assert_eq!(service.spec.placement.capacity_provider_strategy, None);
    assert!(imported.notes.contains(
        &"dropped capacityProviderStrategy: empty, and launchType is set (the two are mutually exclusive)".to_owned()
    ));
}

#[test]
fn describe_services_failures_are_reported() {
    let input = json!({
        "services": [],
        "failures": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/gone", "reason": "MISSING"}]
    });
    let imported = import_json(input);
    assert!(imported.manifests.is_empty());
    assert_eq!(
        imported.notes,
        [
            r#"skipped failures[0]: ECS reported the failure {"arn":"arn:aws:ecs:eu-west-1:123456789012:service/prod/gone","reason":"MISSING"}"#
        ]
    );
}

#[test]
fn broken_json_is_reported_with_its_line_and_column() {
    let error = import(
        "{\n  \"family\": \"web\",\n  oops\n}",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            ImportError::InvalidJson {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "invalid JSON at line 3, column 3: key must be a string"
    );
}

#[test]
fn an_unknown_shape_names_the_accepted_ones() {
    let error = import(r#"[{"family": "web"}]"#, &ImportOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("[0]: expected a RegisterTaskDefinition input"),
        "{message}"
    );
    assert!(
        message.contains("describe-services output (with services)"),
        "{message}"
    );
    assert!(
        message.ends_with("found an object with keys family"),
        "{message}"
    );
}

#[test]
fn a_value_the_crd_rejects_names_the_field() {
    let mut input = fixture_json("describe-task-definition-fargate.json");
    input["taskDefinition"]["containerDefinitions"][0]["portMappings"][0]["protocol"] =
        json!("sctp");
    let error = import(&input.to_string(), &ImportOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("taskDefinition.containerDefinitions[0].portMappings[0].protocol: does not fit the Berth TaskDefinition spec: unknown variant `sctp`"),
        "{message}"
    );
}

#[test]
fn a_name_that_leaves_no_valid_character_is_an_error() {
    let error = import(
        r#"{"serviceName": "__", "taskDefinition": "web"}"#,
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            ImportError::NoValidName {
                field: "serviceName",
                ..
            }
        ),
        "{error:?}"
    );
    let error = import(r#"{"containerDefinitions": []}"#, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            ImportError::MissingName {
                field: "family",
                ..
            }
        ),
        "{error:?}"
    );
}

/// Arbitrary JSON trees, biased towards the keys `import` looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("family".to_owned()),
        Just("containerDefinitions".to_owned()),
        Just("taskDefinition".to_owned()),
        Just("services".to_owned()),
        Just("serviceName".to_owned()),
        Just("schedulingStrategy".to_owned()),
        Just("capacityProviderStrategy".to_owned()),
        Just("cluster".to_owned()),
        Just("tags".to_owned()),
        Just("failures".to_owned()),
        "[a-zA-Z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("DAEMON")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn import_and_render(input: &str) {
    if let Ok(imported) = import(input, &ImportOptions::default()) {
        imported.to_yaml().expect("valid manifests render as YAML");
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(input in any::<String>()) {
        import_and_render(&input);
    }

    #[test]
    fn never_panics_on_arbitrary_json(value in json_value()) {
        import_and_render(&value.to_string());
    }

    #[test]
    fn never_panics_on_fixtures_with_a_field_replaced(
        name in prop::sample::select(&[
            "describe-task-definition-fargate.json",
            "describe-task-definition-ec2-bridge.json",
            "register-task-definition.json",
            "create-service.json",
            "describe-services.json",
        ][..]),
        key in "[a-zA-Z]{1,24}",
        value in json_value(),
    ) {
        let mut input = fixture_json(name);
        let object = match input.get_mut("taskDefinition").filter(|inner| inner.is_object()) {
            Some(inner) => inner,
            None => &mut input,
        };
        object.as_object_mut().unwrap().insert(key, value);
        import_and_render(&input.to_string());
    }
}

fn schedules(imported: &Imported) -> Vec<&berth::api::TaskSchedule> {
    imported.manifests.iter().filter_map(|manifest| match manifest {
        Manifest::TaskSchedule(schedule) => Some(schedule.as_ref()),
        _ => None,
    }).collect()
}

#[test]
fn get_schedule_output_imports_as_a_task_schedule() {
    let imported = import_fixture("get-schedule-ecs.json");
    let schedule = schedules(&imported)[0];
    assert_eq!(schedule.metadata.name.as_deref(), Some("nightly-report"));
    let spec = serde_json::to_value(&schedule.spec).unwrap();
    assert_eq!(spec["scheduleExpression"], "cron(30 2 ? * MON-FRI *)");
    assert_eq!(spec["scheduleExpressionTimezone"], "America/Los_Angeles");
    assert_eq!(spec["startDate"], "2024-05-06T07:00:00Z");
    assert_eq!(spec["flexibleTimeWindow"], json!({"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}));
    assert_eq!(spec["target"]["retryPolicy"], json!({"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 3}));
    let ecs = &spec["target"]["ecsParameters"];
    assert_eq!(ecs["taskDefinitionArn"], "arn:aws:ecs:us-east-1:123456789012:task-definition/sales-report:7");
    assert_eq!(ecs["capacityProviderStrategy"], json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]));
    assert_eq!(ecs["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"], "DISABLED");
    assert_eq!(ecs["enableECSManagedTags"], true);
    assert_eq!(ecs["tags"], json!([{"team": "analytics"}]));
    assert!(spec["target"]["input"].as_str().unwrap().contains("containerOverrides"));
    for field in ["Arn", "CreationDate", "LastModificationDate"] {
        assert!(imported.notes.iter().any(|n| n.starts_with(&format!("dropped {field}: read-only"))), "{:?}", imported.notes);
    }
    assert!(imported.to_yaml().unwrap().contains("kind: TaskSchedule"));
}

#[test]
fn an_eventbridge_rule_beside_its_targets_imports_its_ecs_target() {
    let imported = import_fixture("describe-rule-with-targets.json");
    let all = schedules(&imported);
    assert_eq!(all.len(), 1);
    let spec = serde_json::to_value(&all[0].spec).unwrap();
    assert_eq!(all[0].metadata.name.as_deref(), Some("hourly-cleanup"));
    assert_eq!((spec["scheduleExpression"].as_str(), spec["state"].as_str(), spec["description"].as_str()),
        (Some("rate(1 hour)"), Some("ENABLED"), Some("Deletes expired uploads")));
    assert_eq!(spec["target"]["ecsParameters"]["launchType"], "FARGATE");
    assert_eq!(spec["target"]["ecsParameters"]["tags"], json!([{"team": "platform"}]));
    assert_eq!(spec["target"]["retryPolicy"]["maximumRetryAttempts"], 2);
    let notes = imported.notes.join("\n");
    for expected in ["dropped [0].EventBusName", "dropped [0].Targets[1]: not an ECS target", "dropped [0].Targets[0].Id"] {
        assert!(notes.contains(expected), "{expected} not in {notes}");
    }
}

#[test]
fn schedules_that_start_no_ecs_task_are_refused_saying_why() {
    let mut lambda = fixture_json("get-schedule-ecs.json");
    lambda["Target"] = json!({"Arn": "arn:aws:lambda:us-east-1:123456789012:function:report", "RoleArn": "r"});
    let error = import(&lambda.to_string(), &ImportOptions::default()).unwrap_err().to_string();
    assert!(error.contains("Target: does not fit the Berth TaskSchedule spec: the target is not ECS RunTask"), "{error}");
    let [rule, targets] = [0, 1].map(|i| fixture_json("describe-rule-with-targets.json")[i].clone());
    let error = import(&rule.to_string(), &ImportOptions::default()).unwrap_err().to_string();
    assert!(error.contains("a rule needs its targets"), "{error}");
    let error = import(&targets.to_string(), &ImportOptions::default()).unwrap_err().to_string();
    assert!(error.contains("needs its scheduled rule beside it"), "{error}");
}
