//! The operator: one controller per kind, thin wiring around the pure
//! modules (render, scheduler, task lifecycle). Every kind is watched once,
//! into one cache shared by all controllers, whose events trigger the
//! controllers only after the cache has them, so a reconcile never reads
//! older state than the event that woke it.
mod capacity_providers;
mod error;
mod errors;
mod events;
mod http_routes;
mod kube_services;
mod node_wakes;
mod observe;
mod outbound;
mod pods;
mod progress_wakes;
mod revisions;
pub(crate) mod scheduling;
mod service;
mod stopping;
pub(crate) mod task_cache;
mod task_roles;
mod task_run;
mod task_schedule;
#[cfg(test)]
mod testing;
mod unplaced;
mod written;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, future};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Service as CoreService, ServiceAccount};
use crate::ecs::task::pod::TaskPod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::core::{DeserializeGuard, error_boundary::InvalidObject};
use kube::{Client, Resource, ResourceExt};

pub use error::Error;

use crate::api::{CapacityProvider, CapacityProviderSpec, Service, TaskDefinition, TaskRun, TaskSchedule};
use crate::ecs::scheduler::expectations::Expectations;
use crate::ecs::task::{labels, wake};

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
    /// Annotations set to the role ARN on the ServiceAccounts Berth makes for
    /// task roles (IRSA's by default); none: the ServiceAccounts only exist.
    pub task_role_annotations: Vec<String>,
    /// Schedule time runs this many times as fast as real time (1 but in end-to-end tests,
    /// which see a minute's schedule pass in a second).
    pub schedule_time_scale: i64,
    /// The Prometheus whose firing alerts are the deployment alarms (None: alarms are not watched).
    pub prometheus_url: Option<String>,
    /// Give exact production weights through Gateway API HTTPRoutes where the cluster serves them.
    pub http_routes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            limits: Default::default(),
            concurrency: 8,
            task_role_annotations: vec![crate::ecs::task::roles::IRSA_ROLE_ARN.to_string()],
            schedule_time_scale: 1,
            prometheus_url: None,
            http_routes: true,
        }
    }
}

pub struct Context {
    /// Watches, status, events and every object but tasks.
    pub client: Client,
    /// Tasks' pods, with a rate limit of their own (see `runtime::client::Clients`).
    pub tasks: Client,
    pub config: Config,
    /// Events, sent aside in order.
    pub events: events::Events,
    /// Berth's task pods, in the compact form the core reads, by owner and node.
    pub pods: task_cache::TaskCache,
    pub nodes: Store<Node>,
    pub revisions: Store<ControllerRevision>,
    /// Revisions created that the cache may not show yet, per TaskDefinition uid.
    pub revision_expectations: Mutex<Expectations>,
    pub task_definitions: Store<TaskDefinition>,
    /// The ServiceAccounts Berth made for task roles.
    pub service_accounts: Store<ServiceAccount>,
    pub capacity_providers: Store<CapacityProvider>,
    /// TaskRuns, which the TaskSchedules read to know which of their times have run.
    pub task_runs: Store<TaskRun>,
    /// Berth's Kubernetes Services (load balancers, registries, Service Connect) and
    /// their EndpointSlices (which inherit the Services' labels).
    pub services: Store<CoreService>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub expectations: Mutex<Expectations>,
    /// Why each task Berth is deleting stops, until its pod is gone.
    pub stopping: stopping::Stopping,
    /// Tasks kube-scheduler could not place that were already reported.
    pub unplaced: Mutex<unplaced::Reported>,
    /// Service statuses written that the cache may not show yet.
    pub written: written::Written,
    /// Consecutive failed reconciles per object, for the backoff.
    pub errors: errors::Failures,
    pub health: Arc<crate::runtime::http::Health>,
    /// Whether the cluster serves Gateway API HTTPRoutes.
    pub http_routes_served: http_routes::Served,
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
    pub fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &str, note: &str) {
        let note = match note.char_indices().nth(1021) {
            Some((cut, _)) => format!("{}...", &note[..cut]),
            None => note.to_string(),
        };
        // The recorder folds events of one key into a series that keeps the first note; as
        // client-go's correlator, a different message is a different event: the note's hash
        // is part of the action, which is part of the key.
        let action = format!("{reason}-{:08x}", crate::ecs::render::names::fnv1a(&note) as u32);
        let event = Event { type_, reason: reason.into(), note: Some(note), action, secondary: None };
        self.events.publish(event, obj.object_ref(&()));
    }
}

impl Context {
    /// Publishes the events a plan decided, in order.
    pub fn publish_all<K: Resource<DynamicType = ()>>(&self, obj: &K, events: &[crate::ecs::plan::Event]) {
        for event in events {
            let type_ = if event.warning { EventType::Warning } else { EventType::Normal };
            self.publish(obj, type_, &event.reason, &event.message);
        }
    }
}

/// Writes `status` of `obj` by server-side apply under Berth's field manager,
/// touching only the status fields Berth owns.
pub async fn apply_status<K>(client: &Client, obj: &K, status: &impl serde::Serialize) -> Result<Option<String>, kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let body = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    let written = api.patch_status(&obj.name_any(), &kube::api::PatchParams::apply(MANAGER).force(), &kube::api::Patch::Apply(&body)).await?;
    Ok(written.resource_version())
}

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn api_all<K: Resource<DynamicType = ()>>(client: &Client) -> Api<K> {
    Api::all(client.clone())
}

/// Waits for Berth's CRDs, saying which are missing and how to install them.
pub async fn wait_for_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["taskdefinitions.berth.dev", "services.berth.dev", "taskruns.berth.dev", "taskschedules.berth.dev", "capacityproviders.berth.dev"] {
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
///
/// Every kind is watched once, into one cache; each change then wakes the
/// controllers that follow it. Triggers go out only after the cache has the
/// change (the reflector applies it before yielding), over unbounded channels
/// so a busy controller never stalls a cache.
pub async fn run(clients: crate::runtime::client::Clients, config: Config, health: Arc<crate::runtime::http::Health>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = clients.control;
    let ns = config.namespace.clone();
    let managed = watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE));
    let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    let (events, sending_events) = events::Events::new(Recorder::new(client.clone(), reporter));
    // Aside from the select below, so the events of a graceful shutdown's last passes still go out.
    tokio::spawn(sending_events);

    let (service_triggers, services_woken) = futures::channel::mpsc::unbounded();
    let (run_triggers, runs_woken) = futures::channel::mpsc::unbounded();
    // Nodes: a change that matters to placement (joined, left, relabelled, Ready flipped;
    // not a heartbeat) wakes every service and every capacity provider.
    let (nodes, node_writer) = reflector::store::<Node>();
    let (node_triggers, node_changes) = futures::channel::mpsc::unbounded();
    let (provider_node_triggers, provider_node_changes) = futures::channel::mpsc::unbounded();
    let node_cache = reflected(Api::<Node>::all(client.clone()), watcher::Config::default(), node_writer)
        .for_each({
            let mut wakes = node_wakes::NodeWakes::default();
            move |event| {
                if event.is_ok_and(|e| wakes.matters(&e)) {
                    let _ = node_triggers.unbounded_send(());
                    let _ = provider_node_triggers.unbounded_send(());
                }
                future::ready(())
            }
        });

    // CapacityProviders: a pool created, changed or removed wakes its own
    // controller, and every service and task run (one may wait for its
    // provider, or its pool moved).
    let (capacity_providers, provider_writer) = reflector::store::<CapacityProvider>();
    let (provider_triggers, provider_changes) = futures::channel::mpsc::unbounded();
    let (run_provider_triggers, run_provider_changes) = futures::channel::mpsc::unbounded();
    let (provider_cache, [providers_changed]) = fan_out(
        guarded_cache(api_all(&client), watcher::Config::default(), provider_writer, events.clone()).inspect(move |_| {
            let _ = provider_triggers.unbounded_send(());
            let _ = run_provider_triggers.unbounded_send(());
        }),
    );

    // Task definitions: wake their own controller, and the services and task
    // runs that may resolve them.
    let (task_definitions, td_writer) = reflector::store::<TaskDefinition>();
    let (td_cache, [tds_changed, tds_for_services, tds_for_runs, tds_for_schedules]) =
        fan_out(guarded_cache(api(&client, &ns), watcher::Config::default(), td_writer, events.clone()));
    // Their revisions, and the ServiceAccounts of their task roles, wake the
    // task definitions (and task runs) owning them.
    let (revisions, revision_writer) = reflector::store::<ControllerRevision>();
    let (revision_cache, [revisions_changed]) = fan_out(cache(api(&client, &ns), managed.clone(), revision_writer));
    let (service_accounts, service_account_writer) = reflector::store::<ServiceAccount>();
    let (service_account_cache, [service_accounts_changed]) =
        fan_out(cache(api(&client, &ns), managed.clone(), service_account_writer));
    // Berth's Services and TaskRuns wake their controllers.
    let (berth_services, berth_service_writer) = reflector::store::<Service>();
    let (berth_service_cache, [berth_services_changed, berth_services_gone]) =
        fan_out(guarded_cache(api(&client, &ns), watcher::Config::default(), berth_service_writer, events.clone()));
    let (runs, run_writer) = reflector::store::<TaskRun>();
    let (run_cache, [runs_changed, runs_gone, runs_for_schedules]) =
        fan_out(guarded_cache(api(&client, &ns), watcher::Config::default(), run_writer, events.clone()));
    // TaskSchedules wake their controller; their TaskRuns (above) wake them too.
    let (schedules, schedule_writer) = reflector::store::<TaskSchedule>();
    let (schedule_cache, [schedules_changed, schedules_gone]) =
        fan_out(guarded_cache(api(&client, &ns), watcher::Config::default(), schedule_writer, events.clone()));

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
    let slice_cache = cache(api::<EndpointSlice>(&client, &ns), managed.clone(), slice_writer)
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

    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(Context {
        client: client.clone(),
        tasks: clients.tasks,
        config: config.clone(),
        events,
        pods: task_cache::TaskCache::default(),
        nodes,
        revisions,
        revision_expectations: Mutex::new(Expectations::default()),
        task_definitions: task_definitions.clone(),
        service_accounts,
        capacity_providers: capacity_providers.clone(),
        task_runs: runs.clone(),
        services,
        endpoint_slices,
        expectations: Mutex::new(Expectations::default()),
        stopping: Default::default(),
        unplaced: Mutex::new(unplaced::Reported::default()),
        written: written::Written::default(),
        errors: errors::Failures::default(),
        health: health.clone(),
        http_routes_served: Default::default(),
        synced: synced_rx,
    });

    // Pods: each change settles its create and wakes the pod's owner, at once or, for
    // progress only, a moment later together with its other tasks' (`ecs::task::wake`).
    let service_progress = progress_wakes::ProgressWakes::new(service_triggers.clone(), wake::PROGRESS_WAIT);
    let run_progress = progress_wakes::ProgressWakes::new(run_triggers.clone(), wake::PROGRESS_WAIT);
    let pod_cache = watcher(api::<TaskPod>(&client, &ns), managed).default_backoff().modify(TaskPod::drop_field_ownership)
        .for_each({
            let (service_triggers, ctx) = (service_triggers.clone(), ctx.clone());
            move |event| {
                let Ok(event) = event else { return future::ready(()) };
                let woken = ctx.pods.apply(&event);
                let (watcher::Event::Apply(pod) | watcher::Event::Delete(pod) | watcher::Event::InitApply(pod)) = &event else { return future::ready(()) };
                // Settled before the owner wakes, so its pass counts the create done.
                ctx.expectations.lock().unwrap().observed(&pod.name_any(), Instant::now());
                let now = woken == Some(wake::Wake::Now);
                if let Some(owner) = controller_of::<Service>(pod) {
                    if now { let _ = service_triggers.unbounded_send(owner); } else { service_progress.wake(owner) }
                }
                if let Some(owner) = controller_of::<TaskRun>(pod) {
                    if now { let _ = run_triggers.unbounded_send(owner); } else { run_progress.wake(owner) }
                }
                future::ready(())
            }
        });
    let controller_config = controller::Config::default().concurrency(config.concurrency);

    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let td_runner = Controller::for_shared_stream(tds_changed, task_definitions)
        .owns_shared_stream(revisions_changed)
        .watches_shared_stream(service_accounts_changed, |sa| owners_of::<TaskDefinition>(sa.as_ref()))
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(revisions::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("taskdefinition", r));

    let service_runner = Controller::for_shared_stream(berth_services_changed, berth_services.clone())
        .reconcile_on(services_woken)
        .reconcile_all_on(futures::stream::select(node_changes, provider_changes))
        .watches_shared_stream(tds_for_services, {
            let store = berth_services.clone();
            move |td| running_family(&store, &td, |s: &Service| &s.spec.task_definition)
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(service::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("service", r));

    let run_runner = Controller::for_shared_stream(runs_changed, runs.clone())
        .reconcile_on(runs_woken)
        .reconcile_all_on(run_provider_changes)
        .watches_shared_stream(tds_for_runs, {
            let store = runs.clone();
            move |td| {
                let ns = td.namespace();
                store.state().iter()
                    .filter(|r| r.namespace() == ns && r.status.as_ref().and_then(|s| s.tasks.as_ref()).is_none())
                    .map(|r| reflector::ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            }
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(task_run::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("taskrun", r));

    // A schedule waiting for its task definition is woken when one of its family changes.
    let schedule_runner = Controller::for_shared_stream(schedules_changed, schedules.clone())
        .owns_shared_stream(runs_for_schedules)
        .watches_shared_stream(tds_for_schedules, {
            let store = schedules.clone();
            move |td| running_family(&store, &td, |s: &TaskSchedule| &s.spec.target.ecs_parameters.task_definition_arn)
        })
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(task_schedule::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("taskschedule", r));

    let provider_runner = Controller::for_shared_stream(providers_changed, capacity_providers)
        .reconcile_all_on(provider_node_changes)
        .with_config(controller_config)
        .graceful_shutdown_on(shutdown.clone())
        .run(errors::reporting(capacity_providers::reconcile), errors::policy, ctx.clone())
        .for_each(|r| log_result("capacityprovider", r));

    // Synced and ready once every cache has its first full list. This is the
    // only place that awaits the stores: a store wakes just one waiter.
    let forgetting = futures::future::join3(forget_deleted(berth_services_gone, berth_services.clone(), ctx.clone()), forget_deleted(runs_gone, runs.clone(), ctx.clone()),
        forget_deleted(schedules_gone, schedules.clone(), ctx.clone()));
    let readiness = {
        let (health, ctx) = (health.clone(), ctx.clone());
        async move {
            let _ = futures::join!(ctx.pods.wait_until_ready(), ctx.nodes.wait_until_ready(), ctx.revisions.wait_until_ready(),
                ctx.capacity_providers.wait_until_ready(), ctx.task_definitions.wait_until_ready(), berth_services.wait_until_ready(),
                runs.wait_until_ready(), schedules.wait_until_ready(), ctx.service_accounts.wait_until_ready(), ctx.services.wait_until_ready(),
                ctx.endpoint_slices.wait_until_ready());
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
        _ = forgetting => {}
        _ = futures::future::join5(td_runner, service_runner, run_runner, provider_runner, schedule_runner) => {}
        _ = shutdown_deadline(shutdown.clone(), ctx.clone()) => {}
        _ = pod_cache => tracing::error!("pod watch ended"),
        _ = node_cache => tracing::error!("node watch ended"),
        _ = revision_cache => tracing::error!("revision watch ended"),
        _ = provider_cache => tracing::error!("capacity provider watch ended"),
        _ = td_cache => tracing::error!("task definition watch ended"),
        _ = berth_service_cache => tracing::error!("service watch ended"),
        _ = run_cache => tracing::error!("task run watch ended"),
        _ = schedule_cache => tracing::error!("task schedule watch ended"),
        _ = service_account_cache => tracing::error!("service account watch ended"),
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
    reflected(api, config, writer).touched_objects()
}

/// [`cache`]'s watch as its events, relists included.
fn reflected<K>(api: Api<K>, config: watcher::Config, writer: reflector::store::Writer<K>) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    watcher(api, config).default_backoff().modify(|o| o.managed_fields_mut().clear()).reflect(writer)
}

/// `cache` for Berth's own kinds, where an object the API server stored may
/// still not deserialize (a CRD newer than this operator allowed a value it
/// does not know): such an object is reported (a log line and a Warning event
/// on it) and left out of the cache, instead of failing the whole watch, which
/// would stall every object of the kind. One that was read before it broke
/// leaves the cache too: Berth pauses it (its tasks keep running, untouched)
/// rather than act on a spec the user has since changed.
fn guarded_cache<K>(api: Api<DeserializeGuard<K>>, config: watcher::Config, writer: reflector::store::Writer<K>, events: events::Events)
    -> impl futures::Stream<Item = Result<K, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let reader = writer.as_reader();
    let cached = move |meta: &ObjectMeta| {
        let mut key = reflector::ObjectRef::new(meta.name.as_deref().unwrap_or_default());
        key.namespace = meta.namespace.clone();
        reader.get(&key).map(|o| o.as_ref().clone())
    };
    watcher(api, config).default_backoff()
        .filter_map(move |event| future::ready(match event {
            Ok(event) => readable(event, &cached, |invalid| report_unreadable::<K>(&events, invalid)).map(Ok),
            Err(e) => Some(Err(e)),
        }))
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects()
}

/// The event with its object read. An object that cannot be read is told to
/// `unreadable` and becomes the deletion of its `cached` copy, if any.
fn readable<K>(event: watcher::Event<DeserializeGuard<K>>, cached: impl Fn(&ObjectMeta) -> Option<K>, mut unreadable: impl FnMut(InvalidObject))
    -> Option<watcher::Event<K>> {
    use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
    match event {
        Apply(DeserializeGuard(Ok(o))) => Some(Apply(o)),
        Apply(DeserializeGuard(Err(invalid))) => {
            let stale = cached(&invalid.metadata);
            unreadable(invalid);
            stale.map(Delete)
        }
        // A relist rebuilds the cache from what it lists: leaving it out is enough.
        InitApply(DeserializeGuard(Ok(o))) => Some(InitApply(o)),
        InitApply(DeserializeGuard(Err(invalid))) => {
            unreadable(invalid);
            None
        }
        Delete(DeserializeGuard(Ok(o))) => Some(Delete(o)),
        Delete(DeserializeGuard(Err(invalid))) => cached(&invalid.metadata).map(Delete),
        Init => Some(Init),
        InitDone => Some(InitDone),
    }
}

fn report_unreadable<K: Resource<DynamicType = ()>>(events: &events::Events, invalid: InvalidObject) {
    let (kind, meta) = (K::kind(&()).to_string(), invalid.metadata);
    let name = format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default());
    tracing::warn!(%kind, %name, "skipping {kind} {name}, which this operator cannot read: {}", invalid.error);
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(kind.clone()),
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        ..ObjectReference::default()
    };
    let note = format!("Berth cannot read this {kind} and ignores it until it is fixed (is the operator older than its CRD?): {}", invalid.error);
    let event = Event { type_: EventType::Warning, reason: "Unreadable".into(), note: Some(note.chars().take(1000).collect()), action: "Read".into(), secondary: None };
    events.publish(event, reference);
}

/// Drops what the operator remembers of owners that were deleted (the creates
/// and deletes it expects, the status it wrote, the failures it counts), so a
/// long-running operator's memory follows its live objects. `changes` are the
/// owners the cache touched; one no longer in `store` was deleted.
async fn forget_deleted<K>(changes: impl futures::Stream<Item = Arc<K>>, store: Store<K>, ctx: Arc<Context>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    changes
        .for_each(|owner| {
            if store.get(&reflector::ObjectRef::from_obj(owner.as_ref())).is_none() {
                let (ns, name) = (owner.namespace().unwrap_or_default(), owner.name_any());
                let kind = K::kind(&()).to_lowercase();
                let key = format!("{kind}/{ns}/{name}");
                ctx.expectations.lock().unwrap().forget(&key);
                ctx.stopping.forget(&key);
                ctx.written.forget(&ns, &name);
                ctx.unplaced.lock().unwrap().forget(&ns, &name);
                ctx.errors.forget(owner.as_ref());
            }
            future::ready(())
        })
        .await
}

/// Drives `objects` and sends each object to N followers; returns the driving
/// future and the followers' streams.
fn fan_out<K, const N: usize>(objects: impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static)
    -> (impl Future<Output = ()> + Send, [futures::channel::mpsc::UnboundedReceiver<Arc<K>>; N])
where
    K: Send + Sync + 'static,
{
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..N).map(|_| futures::channel::mpsc::unbounded()).unzip();
    let drive = objects.for_each(move |object| {
        if let Ok(object) = object {
            let object = Arc::new(object);
            for sender in &senders {
                let _ = sender.unbounded_send(object.clone());
            }
        }
        future::ready(())
    });
    let receivers: [_; N] = receivers.try_into().unwrap_or_else(|_| unreachable!("N receivers"));
    (drive, receivers)
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

/// The objects in `store` whose task definition (`reference`) is of `td`'s family, in its
/// namespace: a change of the task definition may concern them.
fn running_family<K>(store: &Store<K>, td: &TaskDefinition, reference: impl Fn(&K) -> &str) -> Vec<reflector::ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let family = revisions::family_of(td);
    store.state().iter()
        .filter(|o| o.namespace() == td.namespace() && crate::ecs::task::reference::parse(reference(o)).is_some_and(|r| r.family == family))
        .map(|o| reflector::ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Every owner of `obj` that is a `K` (the TaskDefinitions or TaskRuns sharing a task role's ServiceAccount).
fn owners_of<K: Resource<DynamicType = ()>>(obj: &impl Resource) -> Vec<reflector::ObjectRef<K>> {
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    obj.meta().owner_references.iter().flatten()
        .filter(|o| o.kind == K::kind(&()) && o.api_version == K::api_version(&()))
        .map(|o| reflector::ObjectRef::new(&o.name).within(&ns))
        .collect()
}

async fn log_result<K: std::fmt::Debug, E: std::fmt::Display>(kind: &str, result: Result<K, E>) {
    match result {
        Ok(obj) => tracing::debug!("reconciled {kind} {obj:?}"),
        Err(e) => tracing::debug!("{kind} controller: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded(desired_count: serde_json::Value) -> DeserializeGuard<Service> {
        serde_json::from_value(serde_json::json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "team"}, "spec": {"taskDefinition": "web", "desiredCount": desired_count}}))
        .expect("any object with metadata reads into a guard")
    }

    #[test]
    fn an_unreadable_object_is_reported_and_left_out_while_readable_ones_pass() {
        let mut reported = Vec::new();
        let event = readable(watcher::Event::Apply(guarded(serde_json::json!(4294967296u64))), |_| None, |invalid| reported.push(invalid));
        assert!(event.is_none());
        assert_eq!(reported.len(), 1);
        assert_eq!(reported[0].metadata.name.as_deref(), Some("web"));
        assert!(reported[0].error.contains("4294967296"), "{}", reported[0].error);

        let event = readable(watcher::Event::InitApply(guarded(serde_json::json!(3))), |_| None, |_| panic!("readable"));
        assert!(matches!(event, Some(watcher::Event::InitApply(s)) if s.spec.desired_count == Some(3)));
        assert!(matches!(readable::<Service>(watcher::Event::InitDone, |_| None, |_| {}), Some(watcher::Event::InitDone)));
    }

    #[test]
    fn an_object_that_breaks_after_it_was_read_leaves_the_cache() {
        let Ok(earlier) = guarded(serde_json::json!(2)).0 else { panic!("readable") };
        let cached = |meta: &ObjectMeta| (meta.name.as_deref() == Some("web") && meta.namespace.as_deref() == Some("team")).then(|| earlier.clone());
        let mut reported = 0;
        let event = readable(watcher::Event::Apply(guarded(serde_json::json!(-1.5))), cached, |_| reported += 1);
        assert!(matches!(event, Some(watcher::Event::Delete(s)) if s.spec.desired_count == Some(2)));
        assert_eq!(reported, 1);
        // Its deletion, unreadable too, removes the cached copy without a report.
        let event = readable(watcher::Event::Delete(guarded(serde_json::json!(-1.5))), cached, |_| panic!("deletions are not reported"));
        assert!(matches!(event, Some(watcher::Event::Delete(_))));
    }
}
