//! The operator: one controller per kind, thin wiring around the pure
//! modules (render, scheduler, task lifecycle). Pods are watched once, into a
//! shared cache whose events trigger the Service and TaskRun controllers only
//! after the cache has them, so a reconcile never reads older state than the
//! event that woke it.
mod error;
mod errors;
mod kube_services;
mod observe;
mod pods;
mod revisions;
mod scheduling;
mod service;
mod task_run;
mod unplaced;
mod written;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, future};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Node, Pod, Service as CoreService};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Client, Resource, ResourceExt};

pub use error::Error;

use crate::api::{CapacityProvider, CapacityProviderSpec, Service, TaskDefinition, TaskRun};
use crate::ecs::scheduler::expectations::Expectations;
use crate::ecs::task::labels;

/// Field manager of every write Berth makes.
pub const MANAGER: &str = "berth-operator";

#[derive(Clone, Debug)]
pub struct Config {
    /// Watch only this namespace (None: all namespaces).
    pub namespace: Option<String>,
    /// What shapes the plans: node loss grace, stopped task records, starts per pass.
    pub limits: crate::ecs::plan::Limits,
    /// Reconciles running at once per controller.
    pub concurrency: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config { namespace: None, limits: Default::default(), concurrency: 8 }
    }
}

pub struct Context {
    pub client: Client,
    pub config: Config,
    pub recorder: Recorder,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub revisions: Store<ControllerRevision>,
    pub task_definitions: Store<TaskDefinition>,
    pub capacity_providers: Store<CapacityProvider>,
    /// Berth's Kubernetes Services (load balancers, registries, Service Connect) and
    /// their EndpointSlices (which inherit the Services' labels).
    pub services: Store<CoreService>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub expectations: Mutex<Expectations>,
    /// Tasks kube-scheduler could not place that were already reported.
    pub unplaced: Mutex<unplaced::Reported>,
    /// Service statuses written that the cache may not show yet.
    pub written: written::Written,
    /// Consecutive failed reconciles per object, for the backoff.
    pub errors: errors::Failures,
    pub health: Arc<crate::runtime::http::Health>,
    /// True once every cache has listed (see `synced`).
    synced: tokio::sync::watch::Receiver<bool>,
}

impl Context {
    /// Have all caches listed? A reconcile that acted earlier would see a
    /// partial world (no pods yet) and start duplicate tasks, so it requeues.
    pub fn synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// The CapacityProvider named `name`, from the cache.
    pub fn capacity_provider(&self, name: &str) -> Option<CapacityProviderSpec> {
        self.capacity_providers.get(&reflector::ObjectRef::new(name)).map(|p| p.spec.clone())
    }

    /// Publishes an event on `obj`; a failure to publish is logged, not fatal.
    /// Notes are cut to the 1024 characters Kubernetes allows (a service that
    /// starts 60 tasks lists more task ids than fit).
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &str, note: &str) {
        let note = match note.char_indices().nth(1021) {
            Some((cut, _)) => format!("{}...", &note[..cut]),
            None => note.to_string(),
        };
        let event = Event { type_, reason: reason.into(), note: Some(note), action: reason.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!("publishing event {reason}: {e}");
        }
    }
}

impl Context {
    /// Publishes the events a plan decided, in order.
    pub async fn publish_all<K: Resource<DynamicType = ()>>(&self, obj: &K, events: &[crate::ecs::plan::Event]) {
        for event in events {
            let type_ = if event.warning { EventType::Warning } else { EventType::Normal };
            self.publish(obj, type_, &event.reason, &event.message).await;
        }
    }
}

/// Writes `status` of `obj` by server-side apply under Berth's field manager,
/// touching only the status fields Berth owns.
pub async fn apply_status<K>(client: &Client, obj: &K, status: &impl serde::Serialize) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let body = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(&obj.name_any(), &kube::api::PatchParams::apply(MANAGER).force(), &kube::api::Patch::Apply(&body)).await?;
    Ok(())
}

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Waits for Berth's CRDs, saying which are missing and how to install them.
pub async fn wait_for_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["taskdefinitions.berth.dev", "services.berth.dev", "taskruns.berth.dev", "capacityproviders.berth.dev"] {
        let mut warned = false;
        loop {
            match crds.get_opt(name).await {
                Ok(Some(crd)) if kube::runtime::wait::Condition::matches_object(&kube::runtime::conditions::is_crd_established(), Some(&crd)) => break,
                other => {
                    if !warned {
                        let why = match other { Err(e) => format!(" ({e})"), _ => String::new() };
                        tracing::warn!("waiting for CRD {name}{why}: install Berth's CRDs with `kubectl apply --server-side -f crds/`");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
}

/// How long a graceful shutdown waits for running reconciles.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the controllers until `shutdown` resolves; `health` reports them.
pub async fn run(client: Client, config: Config, health: Arc<crate::runtime::http::Health>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let ns = config.namespace.clone();
    let managed = watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));

    // Pods: one watch into one cache; each change then wakes the pod's owner.
    // Triggers go out only after the cache has the change (the reflector
    // applies it before yielding), over unbounded channels so a busy
    // controller never stalls the cache.
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (service_triggers, services_woken) = futures::channel::mpsc::unbounded();
    let (run_triggers, runs_woken) = futures::channel::mpsc::unbounded();
    let pod_cache = cache(api::<Pod>(&client, &ns), managed.clone(), pod_writer)
        .for_each({
            let service_triggers = service_triggers.clone();
            move |pod| {
                if let Ok(pod) = pod {
                    if let Some(owner) = controller_of::<Service>(&pod) {
                        let _ = service_triggers.unbounded_send(owner);
                    }
                    if let Some(owner) = controller_of::<TaskRun>(&pod) {
                        let _ = run_triggers.unbounded_send(owner);
                    }
                }
                future::ready(())
            }
        });

    // Nodes: a change (joined, left, Ready flipped) wakes every service.
    let (nodes, node_writer) = reflector::store::<Node>();
    let (node_triggers, node_changes) = futures::channel::mpsc::unbounded();
    let node_cache = cache(Api::<Node>::all(client.clone()), watcher::Config::default(), node_writer)
        .for_each(move |_| {
            let _ = node_triggers.unbounded_send(());
            future::ready(())
        });

    // CapacityProviders: a pool created, changed or removed wakes every service
    // and task run (one may wait for its provider, or its pool moved).
    let (capacity_providers, provider_writer) = reflector::store::<CapacityProvider>();
    let (provider_triggers, provider_changes) = futures::channel::mpsc::unbounded();
    let (run_provider_triggers, run_provider_changes) = futures::channel::mpsc::unbounded();
    let provider_cache = cache(Api::<CapacityProvider>::all(client.clone()), watcher::Config::default(), provider_writer)
        .for_each(move |_| {
            let _ = provider_triggers.unbounded_send(());
            let _ = run_provider_triggers.unbounded_send(());
            future::ready(())
        });

    let (revisions, revision_writer) = reflector::store::<ControllerRevision>();
    let revision_cache = watcher(api::<ControllerRevision>(&client, &ns), managed.clone())
        .default_backoff()
        .reflect(revision_writer)
        .for_each(|_| future::ready(()));

    // Kubernetes Services Berth applied: a change (deleted by hand) wakes their owner.
    let (services, service_writer) = reflector::store::<CoreService>();
    let service_cache = cache(api::<CoreService>(&client, &ns), managed.clone(), service_writer)
        .for_each({
            let triggers = service_triggers.clone();
            move |service| {
                if let Some(owner) = service.ok().and_then(|s| controller_of::<Service>(&s)) {
                    let _ = triggers.unbounded_send(owner);
                }
                future::ready(())
            }
        });

    // Their EndpointSlices: a task leaving them may let its draining pod be deleted.
    let (endpoint_slices, slice_writer) = reflector::store::<EndpointSlice>();
    let slice_cache = cache(api::<EndpointSlice>(&client, &ns), managed, slice_writer)
        .for_each({
            let (triggers, services) = (service_triggers.clone(), services.clone());
            move |slice| {
                let service = slice.ok().and_then(|slice| {
                    let name = slice.labels().get("kubernetes.io/service-name")?.clone();
                    services.get(&reflector::ObjectRef::new(&name).within(&slice.namespace()?))
                });
                if let Some(owner) = service.and_then(|s| controller_of::<Service>(s.as_ref())) {
                    let _ = triggers.unbounded_send(owner);
                }
                future::ready(())
            }
        });

    let td_controller = Controller::new(api::<TaskDefinition>(&client, &ns), watcher::Config::default())
        .owns(api::<ControllerRevision>(&client, &ns), watcher::Config::default());
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        pods,
        nodes,
        revisions,
        task_definitions: td_controller.store(),
        capacity_providers,
        services,
        endpoint_slices,
        expectations: Mutex::new(Expectations::default()),
        unplaced: Mutex::new(unplaced::Reported::default()),
        written: written::Written::default(),
        errors: errors::Failures::default(),
        health: health.clone(),
        synced: synced_rx,
    });
    let controller_config = controller::Config::default().concurrency(config.concurrency);

    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let td_runner = td_controller
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(revisions::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("taskdefinition", r));

    let services = Controller::new(api::<Service>(&client, &ns), watcher::Config::default());
    let service_store = services.store();
    let service_runner = services
        .reconcile_on(services_woken)
        .reconcile_all_on(futures::stream::select(node_changes, provider_changes))
        .watches(api::<TaskDefinition>(&client, &ns), watcher::Config::default(), {
            let store = service_store.clone();
            move |td| {
                let family = revisions::family_of(&td);
                let ns = td.namespace();
                store.state().iter()
                    .filter(|s| s.namespace() == ns && crate::ecs::task::reference::parse(&s.spec.task_definition).is_some_and(|r| r.family == family))
                    .map(|s| reflector::ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            }
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(service::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("service", r));

    let runs = Controller::new(api::<TaskRun>(&client, &ns), watcher::Config::default());
    let run_store = runs.store();
    let run_runner = runs
        .reconcile_on(runs_woken)
        .reconcile_all_on(run_provider_changes)
        .watches(api::<TaskDefinition>(&client, &ns), watcher::Config::default(), move |td| {
            let ns = td.namespace();
            run_store.state().iter()
                .filter(|r| r.namespace() == ns && r.status.as_ref().and_then(|s| s.tasks.as_ref()).is_none())
                .map(|r| reflector::ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        .with_config(controller_config)
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(task_run::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("taskrun", r));

    // Synced and ready once every cache has its first full list. This is the
    // only place that awaits the stores: a store wakes just one waiter.
    let readiness = {
        let (health, ctx, services) = (health.clone(), ctx.clone(), service_store.clone());
        async move {
            let _ = futures::join!(ctx.pods.wait_until_ready(), ctx.nodes.wait_until_ready(), ctx.revisions.wait_until_ready(),
                ctx.capacity_providers.wait_until_ready(), ctx.task_definitions.wait_until_ready(), services.wait_until_ready(),
                ctx.services.wait_until_ready(), ctx.endpoint_slices.wait_until_ready());
            let _ = synced_tx.send(true);
            health.ready.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!("caches synced");
            future::pending::<()>().await
        }
    };
    health.live.store(true, std::sync::atomic::Ordering::SeqCst);
    health.metrics.set_leader(true);
    // The caches stop with the process; the controllers stop on `shutdown`.
    tokio::select! {
        _ = readiness => {}
        _ = futures::future::join3(td_runner, service_runner, run_runner) => {}
        _ = shutdown_deadline(shutdown.clone(), ctx.clone()) => {}
        _ = pod_cache => tracing::error!("pod watch ended"),
        _ = node_cache => tracing::error!("node watch ended"),
        _ = revision_cache => tracing::error!("revision watch ended"),
        _ = provider_cache => tracing::error!("capacity provider watch ended"),
        _ = service_cache => tracing::error!("kubernetes service watch ended"),
        _ = slice_cache => tracing::error!("endpointslice watch ended"),
    }
    health.live.store(false, std::sync::atomic::Ordering::SeqCst);
    health.ready.store(false, std::sync::atomic::Ordering::SeqCst);
    health.metrics.set_leader(false);
}

/// One watch into one cache (managedFields dropped: nothing reads them), as
/// a stream of the objects it touched, each yielded only once the cache holds it.
fn cache<K>(api: Api<K>, config: watcher::Config, writer: reflector::store::Writer<K>) -> impl futures::Stream<Item = Result<K, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    watcher(api, config).default_backoff().modify(|o| o.managed_fields_mut().clear()).reflect(writer).touched_objects()
}

/// Resolves when a stopping operator should stop waiting for its
/// controllers: at once if the caches never synced (no reconcile has acted,
/// and kube's controllers wait forever for a store that will not fill once
/// shutdown stopped its watch), else after SHUTDOWN_GRACE, so a reconcile
/// stuck on the API cannot keep the process (and its Lease) alive.
async fn shutdown_deadline(shutdown: impl Future<Output = ()>, ctx: Arc<Context>) {
    shutdown.await;
    if ctx.synced() {
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::warn!("reconciles still running {SHUTDOWN_GRACE:?} after the shutdown signal; stopping anyway");
    }
}

/// The object's controlling owner when it is a `K` (a task pod's Service or TaskRun, a
/// Kubernetes Service's Berth Service), to wake it up.
fn controller_of<K: Resource<DynamicType = ()>>(obj: &impl Resource) -> Option<reflector::ObjectRef<K>> {
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    obj.meta().owner_references.iter().flatten()
        .find(|o| o.controller == Some(true) && o.kind == K::kind(&()) && o.api_version == K::api_version(&()))
        .map(|o| reflector::ObjectRef::new(&o.name).within(&ns))
}

async fn log_result<K: std::fmt::Debug, E: std::fmt::Display>(kind: &str, result: Result<K, E>) {
    match result {
        Ok(obj) => tracing::debug!("reconciled {kind} {obj:?}"),
        Err(e) => tracing::debug!("{kind} controller: {e}"),
    }
}
