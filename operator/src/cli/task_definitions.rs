//! `describe-task-definition`, `list-task-definitions`, `register-task-definition`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::CliError;
use super::args::Args;
use super::cluster::Cluster;
use super::output::{Response, table, text};
use super::services::FIELD_MANAGER;
use super::shape::task_definition::{Revision, task_definition as shaped};
use super::wait::{Ended, Verdict, watch_until};
use crate::api::{TaskDefinition, TaskDefinitionRevisionStatus, wire_name};
use crate::ecs::task::reference;
use crate::import::{ImportOptions, Manifest, import};

/// How long `register-task-definition` waits for the operator to register the revision.
const REGISTER_WAIT: Duration = Duration::from_secs(30);

/// The revisions a family lists in its status, as (number, status).
fn revisions_of(td: &TaskDefinition) -> Vec<(i32, TaskDefinitionRevisionStatus)> {
    td.status.iter().flat_map(|s| s.revisions.iter().flatten()).map(|r| (r.revision, r.status)).collect()
}

/// The revision `wanted` names: its number, or the family's latest ACTIVE one.
pub fn pick_revision(revisions: &[(i32, TaskDefinitionRevisionStatus)], wanted: Option<i32>) -> Option<(i32, TaskDefinitionRevisionStatus)> {
    match wanted {
        Some(number) => revisions.iter().find(|(n, _)| *n == number).copied(),
        None => revisions.iter().filter(|(_, s)| *s == TaskDefinitionRevisionStatus::Active).max_by_key(|(n, _)| *n).copied(),
    }
}

/// The family a TaskDefinition registers under, as its status says (the operator
/// resolves `spec.family`, else the object's name).
pub fn family_of(td: &TaskDefinition) -> String {
    td.status.as_ref().and_then(|s| s.family.clone()).or_else(|| td.spec.family.clone()).unwrap_or_else(|| td.name_any())
}

/// A registered revision as the operator stored it (in a ControllerRevision owned by
/// its TaskDefinition).
pub struct Stored {
    pub number: i32,
    pub status: TaskDefinitionRevisionStatus,
    pub spec: Value,
    pub revision: ControllerRevision,
}

/// The family's revision `wanted` (None: the latest ACTIVE one).
pub async fn stored_revision(cluster: &Cluster, td: &TaskDefinition, wanted: Option<i32>) -> Result<Stored, CliError> {
    let family = family_of(td);
    let (number, status) = pick_revision(&revisions_of(td), wanted)
        .ok_or_else(|| CliError::api_message(format!("task definition {family}{} is not registered", wanted.map(|n| format!(":{n}")).unwrap_or_default())))?;
    let uid = td.metadata.uid.clone().unwrap_or_default();
    let revisions = cluster.api::<ControllerRevision>().list(&ListParams::default()).await.map_err(CliError::api)?;
    let revision = revisions.items.into_iter()
        .find(|r| r.revision == i64::from(number) && r.owner_references().iter().any(|o| o.uid == uid))
        .ok_or_else(|| CliError::api_message(format!("the ControllerRevision of {family}:{number} is gone")))?;
    let spec = revision.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    Ok(Stored { number, status, spec, revision })
}

/// The family's revision `wanted` (None: the latest ACTIVE), as describe prints it.
async fn describe_revision(cluster: &Cluster, td: &TaskDefinition, wanted: Option<i32>) -> Result<Value, CliError> {
    let family = family_of(td);
    let stored = stored_revision(cluster, td, wanted).await?;
    let revision = Revision { family: &family, number: stored.number, spec: &stored.spec, status: stored.status, registered_at: stored.revision.metadata.creation_timestamp.as_ref() };
    Ok(json!({"taskDefinition": shaped(&revision, &cluster.arns), "tags": td.spec.tags.clone().unwrap_or_default()}))
}

fn definition_table(described: &Value) -> String {
    let td = &described["taskDefinition"];
    let rows: Vec<Vec<String>> = td["containerDefinitions"].as_array().into_iter().flatten().map(|c| vec![
        text(&c["name"]), text(&c["image"]), text(&c["essential"]), text(&c["cpu"]), text(&c["memory"]),
    ]).collect();
    format!("{}\n{}", table(&["TASK DEFINITION", "STATUS", "CPU", "MEMORY", "NETWORK MODE", "COMPATIBILITIES"], &[vec![
        format!("{}:{}", text(&td["family"]), text(&td["revision"])), text(&td["status"]), text(&td["cpu"]), text(&td["memory"]),
        text(&td["networkMode"]), td["compatibilities"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(","),
    ]]), table(&["CONTAINER", "IMAGE", "ESSENTIAL", "CPU", "MEMORY"], &rows))
}

/// The TaskDefinition of family `name`.
pub async fn family(cluster: &Cluster, name: &str) -> Result<Option<TaskDefinition>, CliError> {
    let all = cluster.api::<TaskDefinition>().list(&ListParams::default()).await.map_err(CliError::api)?;
    Ok(all.items.into_iter().find(|td| family_of(td) == name))
}

pub async fn describe_task_definition(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let wanted = args.required("--task-definition")?;
    args.finish()?;
    let parsed = reference::parse(&wanted)
        .ok_or_else(|| CliError::usage(format!("--task-definition: {wanted:?} is not a family, family:revision or task definition ARN")))?;
    let td = family(cluster, &parsed.family).await?
        .ok_or_else(|| CliError::api_message(format!("task definition family {} is not in cluster {}", parsed.family, cluster.namespace)))?;
    let described = describe_revision(cluster, &td, parsed.revision).await?;
    Ok(Response { table: definition_table(&described), json: described })
}

pub async fn list_task_definitions(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let prefix = args.value("--family-prefix")?.unwrap_or_default();
    let status = args.value("--status")?.unwrap_or_else(|| "ACTIVE".to_string());
    let descending = match args.value("--sort")?.as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => return Err(CliError::usage(format!("--sort: {other:?} is not ASC or DESC"))),
    };
    args.finish()?;
    let all = cluster.api::<TaskDefinition>().list(&ListParams::default()).await.map_err(CliError::api)?;
    let mut references: Vec<(String, i32)> = all.items.iter()
        .filter(|td| family_of(td).starts_with(&prefix))
        .flat_map(|td| revisions_of(td).into_iter().filter(|(_, s)| wire_name(s) == status).map(|(n, _)| (family_of(td), n)).collect::<Vec<_>>())
        .collect();
    references.sort();
    if descending {
        references.reverse();
    }
    let rows: Vec<Vec<String>> = references.iter().map(|(f, n)| vec![format!("{f}:{n}"), status.clone()]).collect();
    let arns: Vec<String> = references.iter().map(|(f, n)| cluster.arns.task_definition(&format!("{f}:{n}"))).collect();
    Ok(Response { json: json!({"taskDefinitionArns": arns}), table: table(&["TASK DEFINITION", "STATUS"], &rows) })
}

/// The AWS CLI's `--cli-input-json`: the JSON itself, or `file://PATH`.
pub fn cli_input(value: &str) -> Result<String, CliError> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("--cli-input-json: cannot read {path}: {e}"))),
        None => Ok(value.to_string()),
    }
}

/// The one TaskDefinition that RegisterTaskDefinition input makes.
pub fn registration(input: &str, namespace: &str) -> Result<(TaskDefinition, Vec<String>), CliError> {
    let options = ImportOptions { namespace: Some(namespace.to_string()), name: None };
    let imported = import(input, &options).map_err(|e| CliError::usage(format!("--cli-input-json: {e}")))?;
    let mut definitions = imported.manifests.into_iter().filter_map(|m| match m {
        Manifest::TaskDefinition(td) => Some(*td),
        Manifest::Service(_) | Manifest::TaskSchedule(_) => None,
    });
    match (definitions.next(), definitions.next()) {
        (Some(td), None) => Ok((td, imported.notes)),
        _ => Err(CliError::usage("--cli-input-json: expected one RegisterTaskDefinition input")),
    }
}

pub async fn register_task_definition(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let input = cli_input(&args.required("--cli-input-json")?)?;
    args.finish()?;
    let (wanted, notes) = registration(&input, &cluster.namespace)?;
    for note in notes {
        eprintln!("{note}");
    }
    let api = cluster.api::<TaskDefinition>();
    let name = wanted.name_any();
    let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    // RegisterTaskDefinition replaces the whole definition: the new spec as given, not merged.
    let written = match api.get_opt(&name).await.map_err(CliError::api)? {
        Some(mut existing) => {
            existing.spec = wanted.spec;
            api.replace(&name, &post, &existing).await
        }
        None => api.create(&post, &wanted).await,
    }.map_err(CliError::api)?;
    let generation = written.metadata.generation;
    let registered = watch_until(api, watcher::Config::default().fields(&format!("metadata.name={name}")), REGISTER_WAIT, async |tds: &[Arc<TaskDefinition>]| {
        let observed = tds.iter().find(|td| td.name_any() == name).and_then(|td| td.status.as_ref()).and_then(|s| s.observed_generation);
        if observed.is_some() && observed >= generation { Verdict::Done } else { Verdict::Waiting }
    }).await?;
    if registered != Ended::Done {
        return Err(CliError::api_message(format!("the operator registered no revision of {name} within {} s: is berth-operator running?", REGISTER_WAIT.as_secs())));
    }
    let td = cluster.api::<TaskDefinition>().get(&name).await.map_err(CliError::api)?;
    let mut described = describe_revision(cluster, &td, None).await?;
    described.as_object_mut().expect("describe answers with an object").remove("tags");
    Ok(Response { table: definition_table(&described), json: described })
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskDefinitionRevisionStatus::{Active, Inactive};

    #[test]
    fn the_latest_active_revision_unless_one_is_named() {
        let revisions = [(1, Active), (2, Active), (3, Inactive)];
        assert_eq!(pick_revision(&revisions, None), Some((2, Active)));
        assert_eq!(pick_revision(&revisions, Some(3)), Some((3, Inactive)));
        assert_eq!(pick_revision(&revisions, Some(9)), None);
    }

    #[test]
    fn registration_takes_one_task_definition_and_names_bad_fields() {
        let (td, _) = registration(r#"{"family": "web_api", "containerDefinitions": [{"name": "web", "image": "nginx"}]}"#, "prod").unwrap();
        assert_eq!((td.name_any(), td.namespace().as_deref()), ("web-api".to_string(), Some("prod")));
        assert_eq!(td.spec.family.as_deref(), Some("web_api"));
        let error = registration(r#"{"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx", "memory": "lots"}]}"#, "prod").unwrap_err();
        assert!(error.to_string().contains("memory"), "{error}");
        assert!(registration("not json", "prod").is_err());
    }

    #[test]
    fn cli_input_reads_a_file_url() {
        let path = std::env::temp_dir().join(format!("berth-cli-input-{}.json", std::process::id()));
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(cli_input(&format!("file://{}", path.display())).unwrap(), "{}");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cli_input("{\"a\":1}").unwrap(), "{\"a\":1}");
        assert!(cli_input("file:///nonexistent/x.json").unwrap_err().to_string().contains("/nonexistent/x.json"));
    }
}
