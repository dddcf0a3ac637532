//! Berth's task pods as the watch reports them, indexed as the passes read them: by
//! owner (a Service's or TaskRun's label), and what they hold on each node. A pass
//! then costs its own tasks and the nodes, not every task in the cluster: with 100
//! Services of 100 tasks, each pass used to go over all 10,000 pods twice.
//!
//! Each task is read as an ECS task once, when its pod changes, not on every pass over it:
//! a Service of 1,000 tasks starting up is passed over hundreds of times.
//!
//! It replaces kube's `Store` for pods (so each pod is kept once) and applies the
//! watch's events as kube's reflector does: a relist is buffered and swapped in whole.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::runtime::watcher;

use crate::ecs::placement::NodeUsage;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{self, TaskState};
use crate::ecs::task::pod::TaskPod;
use crate::ecs::task::wake::{Wake, wake};

/// What owns a task: the label the cache indexes tasks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OwnerLabel {
    Service,
    TaskRun,
}

impl OwnerLabel {
    const ALL: [OwnerLabel; 2] = [OwnerLabel::Service, OwnerLabel::TaskRun];

    pub fn key(self) -> &'static str {
        match self {
            OwnerLabel::Service => labels::SERVICE,
            OwnerLabel::TaskRun => labels::TASK_RUN,
        }
    }
}

/// A namespace, an owner label and its value.
type Owner = (String, OwnerLabel, String);

pub struct TaskCache {
    index: RwLock<Index>,
    /// Tasks listed since the watch (re)started, swapped in once the list is complete.
    relisting: std::sync::Mutex<Option<Index>>,
    ready: tokio::sync::watch::Sender<bool>,
}

/// A task pod and the ECS task it was read as (`lifecycle::observe`).
#[derive(Clone)]
pub struct CachedTask {
    pub pod: Arc<TaskPod>,
    pub state: Arc<TaskState>,
}

#[derive(Default)]
struct Index {
    /// By namespace, then name.
    pods: HashMap<(String, String), Arc<TaskPod>>,
    /// Each owner's tasks, by name.
    owned: HashMap<Owner, BTreeMap<String, CachedTask>>,
    usage: NodeUsage,
}

impl Default for TaskCache {
    fn default() -> TaskCache {
        TaskCache { index: RwLock::default(), relisting: Default::default(), ready: tokio::sync::watch::Sender::new(false) }
    }
}

impl TaskCache {
    /// A cache holding `pods`, listed and ready (`kubectl ecs` and tests).
    pub fn of(pods: impl IntoIterator<Item = TaskPod>) -> TaskCache {
        let cache = TaskCache::default();
        cache.apply(&watcher::Event::Init);
        for pod in pods {
            cache.apply(&watcher::Event::InitApply(pod));
        }
        cache.apply(&watcher::Event::InitDone);
        cache
    }

    /// Applies a watch event; for one that names a pod, how soon its owner needs a pass
    /// (every pod of a relist at once, as some may have changed in any way meanwhile).
    pub fn apply(&self, event: &watcher::Event<TaskPod>) -> Option<Wake> {
        match event {
            watcher::Event::Apply(pod) => {
                let pod = kept(pod);
                let (before, after) = self.index.write().unwrap().insert(pod);
                Some(wake(before.as_deref(), Some(&after)))
            }
            watcher::Event::Delete(pod) => {
                self.index.write().unwrap().remove(&key(pod));
                Some(Wake::Now)
            }
            watcher::Event::Init => {
                *self.relisting.lock().unwrap() = Some(Index::default());
                None
            }
            watcher::Event::InitApply(pod) => {
                if let Some(index) = self.relisting.lock().unwrap().as_mut() {
                    index.insert(kept(pod));
                }
                Some(Wake::Now)
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self.relisting.lock().unwrap().take() {
                    *self.index.write().unwrap() = listed;
                }
                self.ready.send_replace(true);
                None
            }
        }
    }

    /// Once the first list is complete.
    pub async fn wait_until_ready(&self) {
        let _ = self.ready.subscribe().wait_for(|ready| *ready).await;
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<TaskPod>> {
        self.index.read().unwrap().pods.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// The tasks in `namespace` whose owner label `key` is `value`, by name.
    pub fn owned_by(&self, namespace: &str, key: OwnerLabel, value: &str) -> Vec<CachedTask> {
        let index = self.index.read().unwrap();
        index.owned.get(&(namespace.to_string(), key, value.to_string())).map_or_else(Vec::new, |tasks| tasks.values().cloned().collect())
    }

    /// What every active task holds on each node, read under the cache's lock.
    pub fn with_usage<T>(&self, read: impl FnOnce(&NodeUsage) -> T) -> T {
        read(&self.index.read().unwrap().usage)
    }
}

/// The copy kept, in fresh allocations: what parsing kept sits among what it dropped,
/// and would pin the freed space around it.
fn kept(pod: &TaskPod) -> Arc<TaskPod> {
    Arc::new(pod.clone())
}

fn key(pod: &TaskPod) -> (String, String) {
    (pod.namespace().unwrap_or_default(), pod.name_any())
}

fn owners(pod: &TaskPod) -> impl Iterator<Item = Owner> + '_ {
    let ns = pod.namespace().unwrap_or_default();
    OwnerLabel::ALL.into_iter().filter_map(move |label| Some((ns.clone(), label, pod.labels().get(label.key())?.clone())))
}

impl Index {
    /// Caches `pod`; returns the task it was and is.
    fn insert(&mut self, pod: Arc<TaskPod>) -> (Option<Arc<TaskState>>, Arc<TaskState>) {
        let key = key(&pod);
        let before = self.remove(&key);
        let task = CachedTask { state: Arc::new(lifecycle::observe(&pod)), pod: pod.clone() };
        for owner in owners(&pod) {
            self.owned.entry(owner).or_default().insert(key.1.clone(), task.clone());
        }
        if let Some(holding) = pod.holding() {
            self.usage.add(&holding);
        }
        self.pods.insert(key, pod);
        (before, task.state)
    }

    /// Forgets a pod; returns the task it was, if an owner's.
    fn remove(&mut self, key: &(String, String)) -> Option<Arc<TaskState>> {
        let pod = self.pods.remove(key)?;
        let mut removed = None;
        for owner in owners(&pod) {
            if let Some(tasks) = self.owned.get_mut(&owner) {
                removed = tasks.remove(&key.1).map(|t| t.state).or(removed);
                if tasks.is_empty() {
                    self.owned.remove(&owner);
                }
            }
        }
        if let Some(holding) = pod.holding() {
            self.usage.remove(&holding);
        }
        removed
    }

    #[cfg(test)]
    fn holdings(&self) -> Vec<crate::ecs::placement::Holding> {
        self.pods.values().filter_map(|p| p.holding()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, service: &str, node: Option<&str>, phase: &str) -> TaskPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {labels::SERVICE: service},
                "annotations": {labels::GROUP: format!("service:{service}")}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "resources": {"requests": {"cpu": "250m"}}}]},
            "status": {"phase": phase}
        })).unwrap()
    }

    fn names(tasks: Vec<CachedTask>) -> Vec<String> {
        tasks.iter().map(|t| t.pod.name_any()).collect()
    }

    fn consistent(cache: &TaskCache) {
        let index = cache.index.read().unwrap();
        assert_eq!(index.usage, NodeUsage::of(&index.holdings()), "the usage kept up to date is the usage of the pods cached");
    }

    #[test]
    fn a_pass_reads_its_own_tasks_and_what_every_task_holds_on_each_node() {
        let cache = TaskCache::of([pod("web-1", "web", Some("n1"), "Running"), pod("web-2", "web", None, "Pending"), pod("api-1", "api", Some("n1"), "Running")]);
        assert_eq!(names(cache.owned_by("ns", OwnerLabel::Service, "web")), ["web-1", "web-2"]);
        assert_eq!(names(cache.owned_by("other", OwnerLabel::Service, "web")), Vec::<String>::new());
        assert_eq!(cache.with_usage(|u| u.on("n1").map(|h| (h.tasks, h.requests.cpu))), Some((2, 500)));
        consistent(&cache);
    }

    #[test]
    fn a_change_moves_a_task_and_a_delete_forgets_it() {
        let cache = TaskCache::of([pod("web-1", "web", None, "Pending")]);
        let woken = cache.apply(&watcher::Event::Apply(pod("web-1", "web", Some("n2"), "Running")));
        assert_eq!(woken, Some(Wake::Soon), "scheduled: progress");
        assert_eq!(cache.with_usage(|u| u.on("n2").map(|h| h.tasks)), Some(1));
        let state = |cache: &TaskCache| cache.owned_by("ns", OwnerLabel::Service, "web")[0].state.last_status;
        assert_eq!(state(&cache), lifecycle::LastStatus::Pending, "each change is read as the task it says: on a node, not started");
        let woken = cache.apply(&watcher::Event::Apply(pod("web-1", "web", Some("n2"), "Failed")));
        assert_eq!((state(&cache), woken), (lifecycle::LastStatus::Stopped, Some(Wake::Now)), "ended: its owner acts at once");
        assert_eq!(cache.with_usage(|u| u.on("n2").cloned()), None, "a finished task holds nothing");
        consistent(&cache);
        assert_eq!(cache.apply(&watcher::Event::Delete(pod("web-1", "web", Some("n2"), "Failed"))), Some(Wake::Now));
        assert!(cache.get("ns", "web-1").is_none());
        assert!(cache.owned_by("ns", OwnerLabel::Service, "web").is_empty());
        consistent(&cache);
    }

    #[tokio::test]
    async fn a_relist_replaces_the_cache_whole_once_complete() {
        let cache = TaskCache::default();
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(pod("web-1", "web", Some("n1"), "Running")));
        assert!(!*cache.ready.borrow(), "not ready before the first list is complete");
        cache.apply(&watcher::Event::InitDone);
        cache.wait_until_ready().await;
        // The watch restarts: web-1 was deleted meanwhile, web-2 created.
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(pod("web-2", "web", Some("n2"), "Running")));
        assert_eq!(names(cache.owned_by("ns", OwnerLabel::Service, "web")), ["web-1"], "the old list serves until the new one is complete");
        cache.apply(&watcher::Event::InitDone);
        assert_eq!(names(cache.owned_by("ns", OwnerLabel::Service, "web")), ["web-2"]);
        assert_eq!(cache.with_usage(|u| u.on("n1").cloned()), None);
        consistent(&cache);
    }
}
