//! Recorders of where traffic goes: every change of a Kubernetes Service's ready endpoints
//! (from its EndpointSlices, as kube-proxy would read them), each read as the task
//! definition revisions of the tasks behind them; and every change of a Gateway API
//! HTTPRoute's backend weights (as a mesh or a Gateway would read them).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use tokio::task::JoinHandle;

use crate::fixture::client;
use crate::tasks::{revision_of, tasks_of};

/// The ready endpoints of a Service at one moment, by pod name.
pub type Endpoints = BTreeSet<String>;

pub struct TrafficRecorder {
    snapshots: Arc<Mutex<Vec<Endpoints>>>,
    revisions: Arc<Mutex<BTreeMap<String, String>>>,
    /// Counts the changes of endpoints and of the pods' revisions.
    changes: tokio::sync::watch::Receiver<usize>,
    watches: Vec<JoinHandle<()>>,
}

impl TrafficRecorder {
    /// Starts recording the Kubernetes Service `kube_service`, whose tasks belong to the
    /// Berth Service `service`, in `ns`.
    pub async fn start(ns: &str, kube_service: &str, service: &str) -> TrafficRecorder {
        let client = client().await;
        let snapshots: Arc<Mutex<Vec<Endpoints>>> = Arc::default();
        let revisions: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
        let slices = Api::<EndpointSlice>::namespaced(client.clone(), ns);
        let config = watcher::Config::default().labels(&format!("kubernetes.io/service-name={kube_service}"));
        let recorded = snapshots.clone();
        let (changed, changes) = tokio::sync::watch::channel(0usize);
        let pod_seen = changed.clone();
        let slice_watch = tokio::spawn(async move {
            let mut current: BTreeMap<String, EndpointSlice> = BTreeMap::new();
            let mut listing: BTreeMap<String, EndpointSlice> = BTreeMap::new();
            let mut events = watcher(slices, config).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Init) => {
                        listing.clear();
                        continue;
                    }
                    Ok(watcher::Event::InitApply(slice)) => {
                        listing.insert(slice.name_any(), slice);
                        continue;
                    }
                    Ok(watcher::Event::InitDone) => current = std::mem::take(&mut listing),
                    Ok(watcher::Event::Apply(slice)) => {
                        current.insert(slice.name_any(), slice);
                    }
                    Ok(watcher::Event::Delete(slice)) => {
                        current.remove(&slice.name_any());
                    }
                    Err(_) => continue,
                }
                let ready = ready_endpoints(current.values());
                let mut snapshots = recorded.lock().unwrap();
                if snapshots.last() != Some(&ready) {
                    snapshots.push(ready);
                    changed.send_modify(|n| *n += 1);
                }
            }
        });
        let pods = Api::<Pod>::namespaced(client, ns);
        let known = revisions.clone();
        let service = service.to_string();
        let pod_watch = tokio::spawn(async move {
            let mut events = watcher(pods, tasks_of(&service)).boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event {
                    known.lock().unwrap().insert(pod.name_any(), revision_of(&pod).to_string());
                    pod_seen.send_modify(|n| *n += 1);
                }
            }
        });
        TrafficRecorder { snapshots, revisions, changes, watches: vec![slice_watch, pod_watch] }
    }

    /// Keeps only the latest snapshot: the run is judged from here on.
    pub fn restart_from_now(&self) {
        let mut snapshots = self.snapshots.lock().unwrap();
        let latest = snapshots.pop();
        snapshots.clear();
        snapshots.extend(latest);
    }

    /// Waits until the latest ready endpoints, per revision, satisfy `done`.
    pub async fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&BTreeMap<String, usize>) -> bool) {
        let held = holds_within(&self.changes, timeout, || self.shares().last().is_some_and(&done)).await;
        assert!(held, "{what} within {timeout:?}; endpoints over the run: {:?}", self.shares());
    }

    /// Every change so far, each the number of ready endpoints per revision.
    pub fn shares(&self) -> Vec<BTreeMap<String, usize>> {
        let revisions = self.revisions.lock().unwrap();
        self.snapshots.lock().unwrap().iter().map(|endpoints| {
            let mut share = BTreeMap::new();
            for pod in endpoints {
                *share.entry(revisions.get(pod).cloned().unwrap_or_else(|| format!("unknown pod {pod}"))).or_insert(0) += 1;
            }
            share
        }).collect()
    }
}

impl Drop for TrafficRecorder {
    fn drop(&mut self) {
        for watch in &self.watches {
            watch.abort();
        }
    }
}

/// Whether `holds` is true within `timeout`, looked at again on each change
/// `changes` counts (and once more when its watch has ended).
async fn holds_within(changes: &tokio::sync::watch::Receiver<usize>, timeout: Duration, holds: impl Fn() -> bool) -> bool {
    let mut changes = changes.clone();
    let watched = tokio::time::timeout(timeout, async {
        while !holds() {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }).await;
    watched.is_ok() && holds()
}

fn ready_endpoints<'a>(slices: impl Iterator<Item = &'a EndpointSlice>) -> Endpoints {
    slices.flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .filter_map(|e| e.target_ref.as_ref().and_then(|r| r.name.clone()))
        .collect()
}

/// Each backend Service of an HTTPRoute's first rule, with its weight.
pub type Weights = Vec<(String, u64)>;

pub struct WeightRecorder {
    snapshots: Arc<Mutex<Vec<Weights>>>,
    parents: Arc<Mutex<Vec<String>>>,
    changes: tokio::sync::watch::Receiver<usize>,
    watch: JoinHandle<()>,
}

impl WeightRecorder {
    /// Starts recording the HTTPRoute `name` in `ns` (none yet is no snapshot).
    pub async fn start(ns: &str, name: &str) -> WeightRecorder {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"));
        let routes = Api::<DynamicObject>::namespaced_with(client().await, ns, &resource);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let snapshots: Arc<Mutex<Vec<Weights>>> = Arc::default();
        let parents: Arc<Mutex<Vec<String>>> = Arc::default();
        let (recorded, parented) = (snapshots.clone(), parents.clone());
        let (changed, changes) = tokio::sync::watch::channel(0usize);
        let watch = tokio::spawn(async move {
            let mut events = watcher(routes, config).boxed();
            while let Some(event) = events.next().await {
                let Ok(watcher::Event::Apply(route) | watcher::Event::InitApply(route)) = event else { continue };
                let spec = &route.data["spec"];
                let weights: Weights = spec["rules"][0]["backendRefs"].as_array().into_iter().flatten()
                    .map(|b| (b["name"].as_str().unwrap_or_default().to_string(), b["weight"].as_u64().unwrap_or(1)))
                    .collect();
                *parented.lock().unwrap() = spec["parentRefs"].as_array().into_iter().flatten()
                    .map(|p| format!("{}/{}", p["kind"].as_str().unwrap_or_default(), p["name"].as_str().unwrap_or_default())).collect();
                let mut snapshots = recorded.lock().unwrap();
                if snapshots.last() != Some(&weights) {
                    snapshots.push(weights);
                    changed.send_modify(|n| *n += 1);
                }
            }
        });
        WeightRecorder { snapshots, parents, changes, watch }
    }

    /// Waits until the latest weights satisfy `done`.
    pub async fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&Weights) -> bool) {
        let held = holds_within(&self.changes, timeout, || self.snapshots.lock().unwrap().last().is_some_and(&done)).await;
        assert!(held, "{what} within {timeout:?}; weights over the run: {:?}", self.weights());
    }

    /// The weight of the backend that had all of it in the first snapshot (production before
    /// the deployment), at each change: 0 where it is no longer a backend; repeats folded.
    pub fn first_backend_weights(&self) -> Vec<u64> {
        let snapshots = self.weights();
        let Some(first) = snapshots.first().and_then(|s| s.first()).map(|(name, _)| name.clone()) else { return vec![] };
        snapshots.iter().map(|s| s.iter().find(|(name, _)| *name == first).map_or(0, |(_, w)| *w))
            .fold(vec![], |mut weights, w| {
                if weights.last() != Some(&w) {
                    weights.push(w);
                }
                weights
            })
    }

    /// Every distinct set of weights so far.
    pub fn weights(&self) -> Vec<Weights> {
        self.snapshots.lock().unwrap().clone()
    }

    /// The latest parentRefs, each `kind/name`.
    pub fn parents(&self) -> Vec<String> {
        self.parents.lock().unwrap().clone()
    }
}

impl Drop for WeightRecorder {
    fn drop(&mut self) {
        self.watch.abort();
    }
}
