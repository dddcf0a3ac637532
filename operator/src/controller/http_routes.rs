//! Acting on the Gateway API side of a service's traffic plan (`crate::ecs::traffic::gateway`):
//! whether the cluster serves HTTPRoutes, and applying a service's HTTPRoutes and deleting
//! those it no longer names. HTTPRoutes are not cached (the Gateway API is optional and
//! only services that shift traffic have them): a pass that has them lists its own.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::error::Result;
use super::{Context, MANAGER};
use crate::api::Service;
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::traffic::gateway::{self, API_VERSION, Backend, GatewayRef, KIND};
use crate::ecs::traffic::{APPLIED_HASH, Route};

/// How long an answer to "are HTTPRoutes served?" is trusted: Gateway API CRDs installed
/// after the operator started are seen within this.
const RECHECK: Duration = Duration::from_secs(60);

/// Whether the cluster serves `gateway.networking.k8s.io/v1` HTTPRoutes, asked of API
/// discovery at most once per [`RECHECK`].
#[derive(Default)]
pub struct Served(Mutex<Option<(Instant, bool)>>);

impl Served {
    pub async fn ask(&self, client: &Client) -> bool {
        if let Some((at, served)) = *self.0.lock().unwrap()
            && at.elapsed() < RECHECK
        {
            return served;
        }
        // Discovery is readable by every authenticated user; an error other than "no such
        // group" is a question for later, not a no.
        let served = match client.list_api_group_resources(API_VERSION).await {
            Ok(list) => list.resources.iter().any(|r| r.name == "httproutes"),
            Err(kube::Error::Api(status)) if status.is_not_found() => false,
            Err(e) => {
                tracing::debug!(error = %e, "Gateway API discovery failed");
                return self.0.lock().unwrap().is_some_and(|(_, served)| served);
            }
        };
        *self.0.lock().unwrap() = Some((Instant::now(), served));
        served
    }
}

fn api(client: &Client, ns: &str) -> Api<DynamicObject> {
    let (group, version) = API_VERSION.split_once('/').expect("group/version");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, KIND)))
}

/// Applies an HTTPRoute per weighted route of `service`, sending `backends` their weights, and
/// deletes the HTTPRoutes it controls that are not among them. Returns the names applied.
pub async fn sync(service: &Service, ctx: &Context, routes: &[&Route], backends: &[Backend], gateway: Option<&GatewayRef>) -> Result<Vec<String>> {
    let ns = service.namespace().unwrap_or_default();
    let api = api(&ctx.client, &ns);
    let selector = format!("{}={}", labels::SERVICE, label_value(&service.name_any()));
    let uid = service.uid();
    let existing: Vec<DynamicObject> = api.list(&ListParams::default().labels(&selector)).await?.items.into_iter()
        .filter(|r| r.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref()))
        .collect();
    let mut applied = vec![];
    if !backends.is_empty() {
        for route in routes {
            let wanted = gateway::http_route(service, route, backends, gateway);
            let name = route.status.name.clone();
            let hash = wanted["metadata"]["annotations"][APPLIED_HASH].as_str();
            let current = existing.iter().find(|r| r.name_any() == name);
            if current.is_none_or(|r| r.annotations().get(APPLIED_HASH).map(String::as_str) != hash) {
                api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&wanted)).await?;
            }
            applied.push(name);
        }
    }
    for stale in existing.iter().map(|r| r.name_any()).filter(|n| !applied.contains(n)) {
        match api.delete(&stale, &DeleteParams::default()).await {
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            other => drop(other?),
        }
    }
    Ok(applied)
}
