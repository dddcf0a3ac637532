//! `berth import`: turns ECS JSON into Berth manifests. Accepts RegisterTaskDefinition and
//! CreateService inputs (`--cli-input-json` files), describe-task-definition and
//! describe-services output, EventBridge schedules running ECS tasks (`aws scheduler
//! get-schedule`, or `aws events describe-rule` beside `list-targets-by-rule`), or a JSON
//! array of these. Read-only and unknown fields are
//! dropped with a note each, so the output applies unchanged against the CRDs.

mod error;
mod fit;
mod name;
mod notes;
mod path;
mod schedule;
mod service;
mod shape;
mod task_definition;
mod yaml;

use serde::Serialize;

use crate::api::{Service, TaskDefinition, TaskSchedule};

pub use error::ImportError;
pub use name::kubernetes_name;
pub use service::ECS_NAME_ANNOTATION;
pub use shape::{EcsResource, ResourceKind};
use shape::find_resources;

/// Choices the ECS JSON cannot make.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `metadata.namespace` of every object; the ECS cluster has no fixed namespace.
    pub namespace: Option<String>,
    /// Name of a service whose input has no `serviceName` (a CreateService input written
    /// for `aws ecs create-service --service-name NAME --cli-input-json ...`).
    pub name: Option<String>,
}

/// A Berth object made from one ECS resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    TaskDefinition(Box<TaskDefinition>),
    Service(Box<Service>),
    TaskSchedule(Box<TaskSchedule>),
}

/// The import result: manifests in input order, and one line per dropped field or hint.
#[derive(Debug)]
pub struct Imported {
    pub manifests: Vec<Manifest>,
    pub notes: Vec<String>,
}

impl Imported {
    /// The manifests as multi-document YAML.
    pub fn to_yaml(&self) -> Result<String, ImportError> {
        yaml::to_yaml(&self.manifests)
    }
}

/// The ECS resources in `input` as written, unwrapped from the CLI output envelopes: a task
/// definition or service is what the CRDs accept as `spec` unchanged (an EventBridge schedule,
/// in PascalCase, is not: `import` converts it).
pub fn resources(input: &str) -> Result<Vec<EcsResource>, ImportError> {
    let value = serde_json::from_str(input).map_err(ImportError::invalid_json)?;
    find_resources(value, "", &mut Vec::new())
}

/// Imports the ECS JSON text `input`.
pub fn import(input: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    let value = serde_json::from_str(input).map_err(ImportError::invalid_json)?;
    let mut notes = Vec::new();
    let mut manifests = Vec::new();
    for resource in find_resources(value, "", &mut notes)? {
        let (fields, path) = (resource.fields, resource.path.as_str());
        match resource.kind {
            ResourceKind::TaskDefinition => manifests.push(Manifest::TaskDefinition(Box::new(
                task_definition::task_definition(fields, path, options, &mut notes)?,
            ))),
            ResourceKind::Service => manifests.push(Manifest::Service(Box::new(service::service(
                fields, path, options, &mut notes,
            )?))),
            ResourceKind::Schedule => manifests.push(Manifest::TaskSchedule(Box::new(
                schedule::schedule(fields, path, options, &mut notes)?,
            ))),
            ResourceKind::ScheduleRule => manifests.extend(
                schedule::rule_schedules(fields, path, options, &mut notes)?
                    .into_iter()
                    .map(|s| Manifest::TaskSchedule(Box::new(s))),
            ),
        }
    }
    Ok(Imported { manifests, notes })
}
