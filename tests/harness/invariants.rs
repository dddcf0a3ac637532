//! The invariant recorder of the fault tests: it watches every task pod,
//! Berth Service and EndpointSlice of a namespace for the whole run and checks,
//! at every event, what must hold whatever faults are injected:
//!
//! - **max**: a Service's tasks not told to stop never exceed what its
//!   `maximumPercent` allows of its desired count;
//! - **min**: when Berth itself decides to stop a healthy task (scale-in or a
//!   rollout step, "Scaling activity initiated by ..."), the healthy tasks left
//!   are at least what `minimumHealthyPercent` requires;
//! - **unique ids**: no two live tasks carry one task id;
//! - **stale leader**: no task is created and no Service status written
//!   while the test says only a stale leader could write
//!   ([`Recorder::stale_leader_window`]);
//! - **convergence**: after the last fault every Service reaches its desired
//!   count of healthy tasks, with status and endpoints agreeing, within a bound.
//!
//! Each check counts; each failure is a violation with the object, the counts
//! and the time. The counts come from three watches, which the API server
//! orders each on its own but not against each other: a desired count change
//! and the pods it causes may arrive in either order. So the count bounds
//! are judged against every desired count seen within [`SKEW`] either side of
//! the event (suspects wait that long to be confirmed), and a scale-in may keep
//! the bound of the count before it for [`SCALE_IN_GRACE`], the time Berth has
//! to stop the surplus.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::api::{SchedulingStrategy, Service};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::ResourceExt;
use tokio::sync::Notify;

use crate::fixture::client;
use crate::tasks::{is_deleting, is_draining, is_healthy, is_live, is_ready, phase};

/// How far apart in time the watches may deliver causally related events.
pub const SKEW: Duration = Duration::from_secs(5);
/// How long after a desired count falls the previous bound still holds.
pub const SCALE_IN_GRACE: Duration = Duration::from_secs(30);

const TASK_ID: &str = "berth.dev/task-id";
const SERVICE: &str = "berth.dev/service";
const STOPPED_REASON: &str = "berth.dev/stopped-reason";
/// How Berth words the reason of a stop it chose (scale-in, rollout step).
const BERTHS_CHOICE: &str = "Scaling activity initiated by";

/// What the recorder found, so far or in all.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub events: u64,
    pub checks: u64,
    pub violations: Vec<String>,
}

impl Report {
    /// Panics listing every violation.
    pub fn assert_clean(&self) {
        assert!(self.violations.is_empty(), "{} invariant violation(s) in {} checks:\n{}", self.violations.len(), self.checks,
            self.violations.join("\n"));
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} events, {} invariant checks, {} violations", self.events, self.checks, self.violations.len())
    }
}

/// A count bound that failed at `at`, confirmed only if it still fails
/// against the desired counts seen up to `at + SKEW`.
#[derive(Debug)]
struct Suspect {
    service: String,
    at: Instant,
    count: u32,
    kind: Bound,
    detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    Max,
    Min,
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    pods: Objects<Pod>,
    services: Objects<Service>,
    slices: Objects<EndpointSlice>,
    /// Tasks ever seen, and those seen told to stop: each creation and each
    /// stop decision is judged once, however often the pod changes after.
    first_seen: BTreeSet<String>,
    told: BTreeSet<String>,
    /// Per Service: each desired count and when it was first seen.
    desired: BTreeMap<String, VecDeque<(Instant, u32)>>,
    suspects: Vec<Suspect>,
    stale_since: Option<Instant>,
    report: Report,
}

/// Watches one namespace from `start` until dropped.
pub struct Recorder {
    client: kube::Client,
    namespace: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    watching: tokio::task::JoinHandle<()>,
}

/// One watch event, boxed: the three kinds differ much in size.
enum Change {
    Pod(Box<watcher::Event<Pod>>),
    Service(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
}

impl Recorder {
    /// Starts watching `namespace` of the run's plane; returns once all three watches have listed.
    pub async fn start(namespace: &str) -> Recorder {
        Recorder::start_with(client().await, namespace).await
    }

    /// `start` on the plane `client` talks to. The watches back off and
    /// resume across API server and etcd restarts.
    pub async fn start_with(client: kube::Client, namespace: &str) -> Recorder {
        let client_for_lists = client.clone();
        let tasks = watcher::Config::default().labels(SERVICE);
        let pods = watcher(Api::<Pod>::namespaced(client.clone(), namespace), tasks).default_backoff().map(|e| e.map(|event| Change::Pod(Box::new(event))));
        let services = watcher(Api::<Service>::namespaced(client.clone(), namespace), watcher::Config::default()).default_backoff()
            .map(|e| e.map(|event| Change::Service(Box::new(event))));
        let slices = watcher(Api::<EndpointSlice>::namespaced(client, namespace), watcher::Config::default()).default_backoff()
            .map(|e| e.map(|event| Change::Slice(Box::new(event))));
        let mut changes = futures::stream::select_all([pods.boxed(), services.boxed(), slices.boxed()]);
        let state = Arc::new(Mutex::new(State { started: Some(Instant::now()), ..State::default() }));
        let changed = Arc::new(Notify::new());
        let (listed_tx, mut listed_rx) = tokio::sync::mpsc::channel(3);
        let watching = {
            let (state, changed) = (state.clone(), changed.clone());
            tokio::spawn(async move {
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(change) => {
                            if state.lock().unwrap().apply(change, Instant::now()) {
                                let _ = listed_tx.try_send(());
                            }
                        }
                        Err(e) => eprintln!("invariant recorder watch: {e}"),
                    }
                    changed.notify_waiters();
                }
            })
        };
        let listed = async {
            for _ in 0..3 {
                listed_rx.recv().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), listed).await.expect("the invariant recorder's watches listed within 30 s");
        Recorder { client: client_for_lists, namespace: namespace.to_string(), state, changed, watching }
    }

    /// From now until [`Recorder::stale_leader_window_ends`], only a stale
    /// leader could create a task or change a Service's status (the test
    /// holds everything else steady): either is a violation.
    pub fn stale_leader_window(&self) {
        self.state.lock().unwrap().stale_since = Some(Instant::now());
    }

    pub fn stale_leader_window_ends(&self) {
        self.state.lock().unwrap().stale_since = None;
    }

    /// Waits (on the watches) until every Service has converged: its desired
    /// count of healthy tasks, none other live, status.runningCount equal to
    /// it, and every ready endpoint of its EndpointSlices a healthy task of it.
    /// Past `bound` that is a violation. Returns how long it took.
    ///
    /// The watches' view is confirmed by fresh lists: after a restart of the
    /// API server a watch may not have noticed it broke, and its view is old.
    pub async fn wait_converged(&self, bound: Duration) -> Duration {
        let started = Instant::now();
        let converged = async {
            loop {
                let notified = self.changed.notified();
                if self.state.lock().unwrap().unconverged().is_empty() && self.listed_unconverged().await.is_empty() {
                    return;
                }
                // A watch that broke unnoticed brings no event: look again within a second.
                let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
            }
        };
        if tokio::time::timeout(bound, converged).await.is_err() {
            let mut state = self.state.lock().unwrap();
            let unconverged = state.unconverged();
            state.report.checks += 1;
            state.report.violations.push(format!("[convergence] not converged {bound:?} after the last fault in {}: {}", self.namespace,
                unconverged.join("; ")));
        } else {
            self.state.lock().unwrap().report.checks += 1;
        }
        started.elapsed()
    }

    /// `unconverged` on fresh lists from the API server (an error reads as not converged).
    async fn listed_unconverged(&self) -> Vec<String> {
        async fn listed<K>(api: Api<K>, params: ListParams) -> Result<BTreeMap<String, Arc<K>>, kube::Error>
        where
            K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
        {
            Ok(api.list(&params).await?.items.into_iter().map(|o| (key(&o), Arc::new(o))).collect())
        }
        let (client, ns) = (&self.client, self.namespace.as_str());
        let lists = futures::try_join!(
            listed(Api::<Pod>::namespaced(client.clone(), ns), ListParams::default().labels(SERVICE)),
            listed(Api::<Service>::namespaced(client.clone(), ns), ListParams::default()),
            listed(Api::<EndpointSlice>::namespaced(client.clone(), ns), ListParams::default()),
        );
        match lists {
            Ok((pods, services, slices)) => unconverged(&pods, &services, &slices),
            Err(e) => vec![format!("listing: {e}")],
        }
    }

    /// The live tasks not told to stop, by name: what a fault may kill.
    pub fn kept_tasks(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.pods.live.values().filter(|p| is_live(p) && !told_to_stop(p)).map(|p| p.name_any()).collect()
    }

    /// The report so far; suspects younger than SKEW stay pending.
    pub fn report(&self) -> Report {
        let mut state = self.state.lock().unwrap();
        state.confirm_suspects(Instant::now());
        state.report.clone()
    }

    /// Waits out SKEW so every suspect is judged, and returns the final report.
    pub async fn finish(self) -> Report {
        tokio::time::sleep(SKEW).await;
        let mut state = self.state.lock().unwrap();
        state.confirm_suspects(Instant::now() + SKEW);
        state.report.clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.watching.abort();
    }
}

fn key<K: kube::Resource>(o: &K) -> String {
    o.name_any()
}

impl State {
    /// Applies one watch event and checks the invariants; true when a watch
    /// finished its initial list.
    fn apply(&mut self, change: Change, now: Instant) -> bool {
        self.report.events += 1;
        match change {
            Change::Pod(event) => match self.pods.apply(*event) {
                Applied::Touched(pod) => {
                    self.check_pod(&pod, now, true);
                    false
                }
                // What changed while the watch was down is judged as of now;
                // the moments of stop decisions made then are unknown, so
                // those are not judged against the minimum.
                Applied::Listed(pods) => {
                    pods.iter().for_each(|pod| self.check_pod(pod, now, false));
                    true
                }
                Applied::Nothing => false,
            },
            Change::Service(event) => {
                let before = match event.as_ref() {
                    watcher::Event::Apply(s) => self.services.live.get(&key(s)).and_then(|s| s.status.clone()),
                    _ => None,
                };
                let (listed, touched) = match self.services.apply(*event) {
                    Applied::Touched(service) => (false, vec![service]),
                    Applied::Listed(services) => (true, services),
                    Applied::Nothing => (false, vec![]),
                };
                if let (Some(since), false, Some(service)) = (self.stale_since, listed, touched.first()) {
                    // The Service is steady: a status written now is a stale leader's.
                    self.report.checks += 1;
                    if service.status != before {
                        self.report.violations.push(format!("[stale leader] status of service {} written {:?} into the stale-leader window: {}",
                            key(service.as_ref()), now - since, serde_json::to_string(&service.status).unwrap_or_default()));
                    }
                }
                for service in touched {
                    let desired = service.spec.desired_count.unwrap_or(0).max(0) as u32;
                    let history = self.desired.entry(key(service.as_ref())).or_default();
                    if history.back().is_none_or(|(_, last)| *last != desired) {
                        history.push_back((now, desired));
                    }
                }
                self.confirm_suspects(now);
                listed
            }
            Change::Slice(event) => matches!(self.slices.apply(*event), Applied::Listed(_)),
        }
    }

    /// The tasks of `service` still meant to run: live and not told to stop.
    fn kept<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Arc<Pod>> + 'a {
        self.pods.live.values().filter(move |p| p.labels().get(SERVICE).map(String::as_str) == Some(service))
            .filter(|p| is_live(p) && !told_to_stop(p))
    }

    /// The checks of one pod event; `at_its_moment` is false for a pod met
    /// in a relist, whose changes happened at unknown times.
    fn check_pod(&mut self, pod: &Arc<Pod>, now: Instant, at_its_moment: bool) {
        let name = pod.name_any();
        let new_to_us = self.first_seen.insert(name.clone());
        // Unique ids: no two live tasks with one task id.
        self.report.checks += 1;
        if let Some(id) = pod.labels().get(TASK_ID) && is_live(pod) {
            let twins: Vec<String> = self.pods.live.values().filter(|p| is_live(p) && p.labels().get(TASK_ID) == Some(id)).map(|p| p.name_any()).collect();
            if twins.len() > 1 {
                self.report.violations.push(format!("[unique ids] task id {id} is live on {twins:?}"));
            }
        }
        // Stale leader: nothing may create a task in the window.
        if let Some(since) = self.stale_since {
            self.report.checks += 1;
            if new_to_us {
                let created = pod.creation_timestamp().map(|t| t.0.to_string()).unwrap_or_default();
                self.report.violations.push(format!("[stale leader] task {name} created {:?} into the stale-leader window (creationTimestamp {created})",
                    now - since));
            }
        }
        let Some(service) = pod.labels().get(SERVICE).cloned() else { return };
        let Some(svc) = self.services.live.get(&service).cloned() else { return };
        let daemon = svc.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon);
        if daemon {
            return;
        }
        let bounds = berth::ecs::plan::deployment::bounds(svc.spec.deployment_configuration.as_ref(), false);
        // Max: the tasks not told to stop.
        self.report.checks += 1;
        let kept = self.kept(&service).count() as u32;
        let desired = self.desired_at(&service, now);
        if kept > bounds.max_tasks(desired) {
            let detail = format!("{kept} tasks not told to stop, maximumPercent {} of desired {desired} allows {} (at {name})",
                bounds.maximum_percent, bounds.max_tasks(desired));
            self.suspects.push(Suspect { service: service.clone(), at: now, count: kept, kind: Bound::Max, detail });
        }
        // Min: judged when Berth decides to stop a healthy task.
        let newly_told = told_to_stop(pod) && self.told.insert(name.clone());
        if at_its_moment && newly_told && berths_choice(pod) {
            self.report.checks += 1;
            let healthy = self.kept(&service).filter(|p| is_healthy(p)).count() as u32;
            if healthy < bounds.min_healthy(desired) {
                let detail = format!("Berth stopped {name} leaving {healthy} healthy, minimumHealthyPercent {} of desired {desired} needs {}",
                    bounds.minimum_healthy_percent, bounds.min_healthy(desired));
                self.suspects.push(Suspect { service, at: now, count: healthy, kind: Bound::Min, detail });
            }
        }
    }

    /// The desired count bounding an event at `from..=to` for `bound`: the
    /// largest desired count seen within SKEW of it (or in force before it,
    /// for SCALE_IN_GRACE) for the max; the smallest for the min.
    fn desired_between(&self, service: &str, from: Instant, to: Instant, bound: Bound) -> u32 {
        let Some(history) = self.desired.get(service) else { return 0 };
        let lookback = match bound {
            Bound::Max => SCALE_IN_GRACE,
            Bound::Min => SKEW,
        };
        let earliest = from.checked_sub(lookback).unwrap_or(from);
        // The count in force at `earliest`, and every one seen from then until `to + SKEW`.
        let in_force = history.iter().rev().find(|(at, _)| *at <= earliest).map(|(_, d)| *d);
        let counts = in_force.into_iter().chain(history.iter().filter(|(at, _)| *at > earliest && *at <= to + SKEW).map(|(_, d)| *d));
        match bound {
            Bound::Max => counts.max().unwrap_or(0),
            Bound::Min => counts.min().unwrap_or(0),
        }
    }

    /// The last desired count seen at or before `at`.
    fn desired_at(&self, service: &str, at: Instant) -> u32 {
        self.desired.get(service).and_then(|h| h.iter().rev().find(|(seen, _)| *seen <= at)).map_or(0, |(_, d)| *d)
    }

    /// Judges every suspect at least SKEW old against the desired counts seen around it.
    fn confirm_suspects(&mut self, now: Instant) {
        let (ripe, young): (Vec<Suspect>, Vec<Suspect>) = std::mem::take(&mut self.suspects).into_iter().partition(|s| now >= s.at + SKEW);
        self.suspects = young;
        for suspect in ripe {
            let Some(svc) = self.services.live.get(&suspect.service) else { continue };
            let bounds = berth::ecs::plan::deployment::bounds(svc.spec.deployment_configuration.as_ref(), false);
            let desired = self.desired_between(&suspect.service, suspect.at, suspect.at, suspect.kind);
            let broken = match suspect.kind {
                Bound::Max => suspect.count > bounds.max_tasks(desired),
                Bound::Min => suspect.count < bounds.min_healthy(desired),
            };
            if broken {
                let since = self.started.map(|s| suspect.at - s).unwrap_or_default();
                self.report.violations.push(format!("[{:?}] service {} at +{since:.1?}: {}", suspect.kind, suspect.service, suspect.detail));
            }
        }
    }

    fn unconverged(&self) -> Vec<String> {
        unconverged(&self.pods.live, &self.services.live, &self.slices.live)
    }
}

/// What keeps each Service from having converged (empty when all have).
fn unconverged(pods: &BTreeMap<String, Arc<Pod>>, services: &BTreeMap<String, Arc<Service>>, slices: &BTreeMap<String, Arc<EndpointSlice>>) -> Vec<String> {
    {
        let mut waiting = vec![];
        for (name, svc) in services {
            if svc.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon) {
                continue;
            }
            let desired = svc.spec.desired_count.unwrap_or(0).max(0) as usize;
            let tasks: Vec<&Arc<Pod>> = pods.values().filter(|p| p.labels().get(SERVICE) == Some(name) && is_live(p)).collect();
            let healthy: Vec<String> = tasks.iter().filter(|p| is_healthy(p) && !told_to_stop(p)).map(|p| p.name_any()).collect();
            let running = svc.status.as_ref().and_then(|s| s.running_count).unwrap_or(-1);
            if healthy.len() != desired || tasks.len() != desired || running != desired as i32 {
                // How each task that is not healthy stands, so a failure says where it got stuck.
                let stuck: Vec<String> = tasks.iter().filter(|p| !healthy.contains(&p.name_any())).map(|p| {
                    let status = p.status.as_ref();
                    let conditions: Vec<String> = status.and_then(|s| s.conditions.as_ref()).into_iter().flatten()
                        .map(|c| format!("{}={}{}", c.type_, c.status, c.reason.as_ref().map(|r| format!("({r})")).unwrap_or_default())).collect();
                    format!("{} phase {:?} node {:?} [{}]", p.name_any(), status.and_then(|s| s.phase.clone()).unwrap_or_default(),
                        p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(), conditions.join(" "))
                }).collect();
                waiting.push(format!("{name}: desired {desired}, {} healthy, {} live, status.runningCount {running}; not healthy: {}",
                    healthy.len(), tasks.len(), stuck.join(", ")));
                continue;
            }
            let stray = slices.values()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
                .filter_map(|e| e.target_ref.as_ref()?.name.clone())
                .filter(|pod| pods.get(pod).is_some_and(|p| p.labels().get(SERVICE) == Some(name)) && !healthy.contains(pod))
                .collect::<Vec<_>>();
            if !stray.is_empty() {
                waiting.push(format!("{name}: ready endpoints for tasks not healthy or gone: {stray:?}"));
            }
        }
        waiting
    }
}

/// A stop Berth chose (a scale-in, a deployment's replacement, a rebalance), which
/// minimumHealthyPercent bounds, at the event that tells it: a task drained with ECS's scaling
/// reason, or a task still Running and Ready deleted with a grace period and no
/// DisruptionTarget (Berth deletes such a task without a record on it; the chaos kills with
/// none, and Kubernetes' own evictions say so). Stops of unhealthy or exited tasks are not.
fn berths_choice(pod: &Pod) -> bool {
    let disrupted = pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "DisruptionTarget" && c.status == "True"));
    match pod.annotations().get(STOPPED_REASON) {
        Some(reason) => reason.starts_with(BERTHS_CHOICE),
        None => pod.metadata.deletion_grace_period_seconds.is_some_and(|grace| grace > 0) && phase(pod) == "Running" && is_ready(pod) && !disrupted,
    }
}

/// Berth has decided to stop the task: a stop reason recorded, draining, or deleted.
fn told_to_stop(pod: &Pod) -> bool {
    is_deleting(pod) || is_draining(pod) || pod.annotations().contains_key(STOPPED_REASON)
}

/// The objects of one watch as it last listed and changed them.
struct Objects<K> {
    live: BTreeMap<String, Arc<K>>,
    /// During a (re)list: the objects listed so far. They replace `live` at
    /// once when the list is done, so no check ever sees half a list.
    listing: Option<BTreeMap<String, Arc<K>>>,
}

impl<K> Default for Objects<K> {
    fn default() -> Self {
        Objects { live: BTreeMap::new(), listing: None }
    }
}

/// What one watch event did.
enum Applied<K> {
    /// A (re)list finished: every object now.
    Listed(Vec<Arc<K>>),
    /// One object added or changed.
    Touched(Arc<K>),
    Nothing,
}

impl<K: kube::Resource + Clone> Objects<K> {
    fn apply(&mut self, event: watcher::Event<K>) -> Applied<K> {
        match event {
            watcher::Event::Apply(o) => {
                let o = Arc::new(o);
                self.live.insert(key(o.as_ref()), o.clone());
                Applied::Touched(o)
            }
            watcher::Event::InitApply(o) => {
                self.listing.get_or_insert_default().insert(key(&o), Arc::new(o));
                Applied::Nothing
            }
            watcher::Event::Delete(o) => {
                self.live.remove(&key(&o));
                Applied::Nothing
            }
            watcher::Event::Init => {
                self.listing = Some(BTreeMap::new());
                Applied::Nothing
            }
            watcher::Event::InitDone => {
                self.live = self.listing.take().unwrap_or_default();
                Applied::Listed(self.live.values().cloned().collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_bound_is_judged_against_every_desired_count_seen_around_it() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut state = State::default();
        state.desired.insert("web".into(), VecDeque::from([(at(0), 4), (at(10), 8)]));
        // Pods of the scale-up seen 2 s before the count that caused them: the max is 8's.
        assert_eq!(state.desired_between("web", at(8), at(8), Bound::Max), 8);
        // The min is the smaller count of that moment, 4's.
        assert_eq!(state.desired_between("web", at(8), at(8), Bound::Min), 4);
        // After a scale-in to 2 the bound of 8 holds for SCALE_IN_GRACE, then 2's.
        state.desired.get_mut("web").unwrap().push_back((at(20), 2));
        assert_eq!(state.desired_between("web", at(40), at(40), Bound::Max), 8);
        assert_eq!(state.desired_between("web", at(20) + SCALE_IN_GRACE + SKEW, at(60), Bound::Max), 2);
    }

    fn pod(name: &str) -> Pod {
        Pod { metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() }
    }

    #[test]
    fn a_relist_replaces_the_objects_at_once_when_it_is_done() {
        let mut pods = Objects::<Pod>::default();
        pods.apply(watcher::Event::Apply(pod("gone")));
        pods.apply(watcher::Event::Init);
        assert!(matches!(pods.apply(watcher::Event::InitApply(pod("kept"))), Applied::Nothing));
        assert!(pods.live.contains_key("gone"), "half a list never shows");
        let Applied::Listed(listed) = pods.apply(watcher::Event::InitDone) else { panic!("a finished list") };
        assert_eq!(listed.iter().map(|p| p.name_any()).collect::<Vec<_>>(), ["kept"]);
        assert_eq!(pods.live.keys().collect::<Vec<_>>(), ["kept"]);
    }
}
