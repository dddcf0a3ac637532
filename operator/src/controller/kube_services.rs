//! Acting on a service's traffic plan (`crate::ecs::traffic`): applying its Kubernetes Services,
//! deleting the ones it no longer names, and draining tasks out of their endpoints before
//! their pods are deleted (the ELB deregistration delay, ecs-semantics §2.12).
//!
//! Draining: the task loses [`crate::ecs::task::labels::TRAFFIC`], which every Service of the service selects,
//! and its stop code is recorded. Its pod is deleted only when the deregistration delay has
//! passed *and* no EndpointSlice in the operator's cache lists it, so a task always leaves
//! the endpoints before it is killed, however late the EndpointSlice controller is.
use std::collections::BTreeSet;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service as CoreService};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::error::Result;
use super::{Context, MANAGER, http_routes, pods};
use crate::api::{Service, TaskDefinitionSpec, TrafficRoute};
use crate::ecs::plan::conditions::Want;
use crate::ecs::plan::service::{self as planner, TaskStop};
use crate::ecs::task::labels;
use crate::ecs::traffic::{self, APPLIED_HASH, Plan, Problem, Route, Selection, gateway};

/// The condition type that says whether every traffic route has its Service.
const CONDITION: &str = "TrafficRouted";

/// What this pass applied, and the tasks it began to drain.
pub struct Traffic {
    /// The tasks take traffic (they carry the label and are drained before they stop).
    serves: bool,
    plan: Plan,
    /// The routes whose Service exists (a name taken by a foreign Service is left out).
    routes: Vec<TrafficRoute>,
    problems: Vec<Problem>,
    drained: Vec<String>,
    /// Production weights also go through HTTPRoutes (the cluster serves them, the service
    /// shifts traffic, a route can carry them).
    http_routes: bool,
    /// The HTTPRoutes applied.
    applied_http_routes: Vec<String>,
}

/// The Services `service` should have for the task definition `td` its new tasks run,
/// and HTTPRoutes where `http_routes_served`; nothing is applied until [`Traffic::apply`].
pub fn plan(service: &Service, td: &TaskDefinitionSpec, http_routes_served: bool) -> Traffic {
    let plan = traffic::plan(&service.name_any(), &service.spec, service.annotations(), td);
    let problems = plan.problems.clone();
    let http_routes = http_routes_served && plan.routes.iter().any(gateway::weighted);
    Traffic { serves: traffic::routes_traffic(&service.spec), plan, routes: vec![], problems, drained: vec![], http_routes, applied_http_routes: vec![] }
}

impl Traffic {
    /// Applies the planned Services, selecting the tasks `selection` names, then the
    /// HTTPRoutes with its weights (their backend Services first), and deletes the Services
    /// and HTTPRoutes it owns that are no longer wanted.
    pub async fn apply(&mut self, service: &Service, ctx: &Context, selection: &Selection) -> Result<()> {
        let (ns, name) = (service.namespace().unwrap_or_default(), service.name_any());
        let api: Api<CoreService> = Api::namespaced(ctx.client.clone(), &ns);
        let uid = service.uid();
        let ours = |s: &CoreService| s.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref());
        let headless = |s: &CoreService| s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
        let weighted: Vec<&Route> = if self.http_routes { self.plan.routes.iter().filter(|r| gateway::weighted(r)).collect() } else { vec![] };
        let backends: Vec<Route> = weighted.iter()
            .flat_map(|route| selection.backends.iter().map(|b| gateway::backend_route(route, &b.deployment)))
            .collect();
        let mut backend_names = vec![];
        for (route, backend) in self.plan.routes.iter().map(|r| (r, false)).chain(backends.iter().map(|r| (r, true))) {
            let wanted = traffic::kubernetes_service(service, route, selection);
            let existing = ctx.services.get(&ObjectRef::new(&route.status.name).within(&ns));
            match existing {
                Some(s) if !ours(&s) => {
                    self.problems.push(Problem { reason: "ServiceNameConflict", message: format!(
                        "(service {name}) Kubernetes Service {} already exists and belongs to someone else; it is left alone", route.status.name) });
                    continue;
                }
                Some(s) if s.annotations().get(APPLIED_HASH) == wanted.annotations().get(APPLIED_HASH) => {}
                Some(s) => {
                    // The cluster IP of a Service cannot change: a headless Service is recreated.
                    if headless(&s) != headless(&wanted) {
                        delete(&api, &route.status.name).await?;
                    }
                    api.patch(&route.status.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&wanted)).await?;
                }
                None => {
                    api.patch(&route.status.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&wanted)).await?;
                }
            }
            if backend {
                backend_names.push(route.status.name.clone());
            } else {
                self.routes.push(route.status.clone());
            }
        }
        let cached_ours: Vec<_> = ctx.services.state().into_iter().filter(|s| s.namespace().as_deref() == Some(ns.as_str()) && ours(s)).collect();
        // HTTPRoutes are listed only where there are some to have or, by their backend Services, some to delete.
        if self.http_routes || cached_ours.iter().any(|s| s.labels().contains_key(labels::HTTP_ROUTE_BACKEND)) {
            let routes: Vec<&Route> = weighted.into_iter().filter(|r| self.routes.iter().any(|applied| applied.name == r.status.name)).collect();
            self.applied_http_routes = http_routes::sync(service, ctx, &routes, &selection.backends, self.plan.gateway.as_ref()).await?;
        }
        let stale: Vec<String> = cached_ours.iter()
            .filter(|s| !self.routes.iter().any(|r| r.name == s.name_any()) && !backend_names.contains(&s.name_any()))
            .map(|s| s.name_any())
            .collect();
        for stale in stale {
            delete(&api, &stale).await?;
        }
        Ok(())
    }
}

async fn delete(api: &Api<CoreService>, name: &str) -> Result<()> {
    match api.delete(name, &DeleteParams::default()).await {
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        other => other.map(drop).map_err(Into::into),
    }
}

impl Traffic {
    /// What the planner needs of the traffic: whether tasks drain, for how long, and the
    /// status's routes and condition.
    pub fn facts(&self) -> planner::Traffic {
        planner::Traffic {
            serves: self.serves,
            deregistration_delay: self.plan.deregistration_delay,
            routes: self.status(),
            condition: self.condition().map(|w| (w.status, w.reason.to_string(), w.message)),
            http_routes: self.http_routes,
        }
    }

    /// Stops the planned tasks, several at a time, each expected deleted for `owner` once
    /// its request succeeded: a task the plan drains leaves its Services' endpoints first,
    /// any other is stopped at once.
    pub async fn stop(&mut self, ctx: &Context, api: &Api<Pod>, owner: &str, stops: &[TaskStop], now: i64) -> Result<(), kube::Error> {
        pods::concurrently(stops.iter().cloned(), |stop| async move {
            if stop.drain {
                pods::drain(api, &stop.pod, &stop.stop, now).await?;
            } else if stop.record {
                pods::stop_recorded(api, &stop.pod, &stop.stop).await?;
            } else {
                pods::stop(api, &ctx.stopping, owner, &stop.pod, &stop.stop).await?;
            }
            ctx.expectations.lock().unwrap().deleted(owner, &stop.pod, Instant::now());
            Ok(())
        })
        .await?;
        self.drained.extend(stops.iter().filter(|s| s.drain).map(|s| s.pod.clone()));
        Ok(())
    }

    /// The routes for the service's status.
    pub fn status(&self) -> Option<Vec<TrafficRoute>> {
        (!self.routes.is_empty()).then(|| self.routes.clone())
    }

    /// `TrafficRouted`: every route has its Service (only for services that route traffic).
    pub fn condition(&self) -> Option<Want<'static>> {
        if !self.serves && self.problems.is_empty() {
            return None;
        }
        Some(match self.problems.first() {
            Some(first) => Want {
                type_: CONDITION,
                status: false,
                reason: first.reason,
                message: self.problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "),
            },
            None => Want {
                type_: CONDITION,
                status: true,
                reason: "ServicesApplied",
                message: format!("Kubernetes Services carrying the traffic: {}{}", self.routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
                    if self.applied_http_routes.is_empty() { String::new() } else { format!("; HTTPRoutes weighting production: {}", self.applied_http_routes.join(", ")) }),
            },
        })
    }

    /// ECS-worded events: tasks that began draining, Services that began carrying traffic,
    /// and (once per change) the routes that got no Service.
    pub fn publish(&self, service: &Service, ctx: &Context, deployment_id: &str) {
        let name = service.name_any();
        if !self.drained.is_empty() {
            ctx.publish(service, EventType::Normal, "TasksDraining", &format!(
                "(service {name}, taskSet {deployment_id}) has begun draining connections on {} tasks.", self.drained.len()));
        }
        let old = service.status.as_ref();
        let known: BTreeSet<&str> = old.and_then(|s| s.kubernetes_services.as_ref()).into_iter().flatten().map(|r| r.name.as_str()).collect();
        for route in self.routes.iter().filter(|r| !known.contains(r.name.as_str())) {
            let target = match (&route.container_name, route.container_port) {
                (Some(container), Some(port)) => format!("container {container} port {port}"),
                _ => "its tasks".to_string(),
            };
            let port = route.port.map_or(String::new(), |p| format!(", port {p}"));
            ctx.publish(service, EventType::Normal, "TrafficRouted", &format!(
                "(service {name}) registered {target} with Kubernetes Service {} ({}{port}).", route.name, route.type_));
        }
        let old_message = old.and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION)).map(|c| c.message.as_str());
        for problem in self.problems.iter().filter(|p| old_message.is_none_or(|m| !m.contains(&p.message))) {
            ctx.publish(service, EventType::Warning, problem.reason, &problem.message);
        }
    }
}
