//! One watch on a namespace's pods, kept as running counts, so a scenario can
//! wait for "N running", "every live pod on the new image" or "a replacement
//! for every failure" without sleeping and without rescanning every pod on
//! each event. Times are when this process saw the event on the watch.
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use crate::tasks::{is_healthy, is_live, node_of};

#[derive(Clone, Debug, PartialEq)]
struct PodView {
    image: String,
    /// The node it is bound to ("" before it is scheduled).
    node: String,
    /// Neither being deleted nor terminated.
    live: bool,
    /// Live, phase Running and Ready.
    running: bool,
}

impl PodView {
    fn of(pod: &Pod) -> PodView {
        let image = pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default();
        PodView { image, node: node_of(pod).unwrap_or_default().to_string(), live: is_live(pod), running: is_healthy(pod) }
    }
}

/// The pods of one namespace as counts, and when pods failed and appeared.
#[derive(Debug, Default)]
pub struct Pods {
    views: HashMap<String, PodView>,
    live_by_image: HashMap<String, usize>,
    running_by_image: HashMap<String, usize>,
    running_by_node: HashMap<String, usize>,
    /// When each pod was first seen terminated or being deleted (or gone).
    pub failures: Vec<Instant>,
    /// When each pod created after the watch's first list was first seen.
    pub creations: Vec<Instant>,
    /// When each pod created after the first list was first seen bound, and running.
    stages: HashMap<String, Stages>,
    synced: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stages {
    bound: Option<Instant>,
    running: Option<Instant>,
}

/// Where the pods stood when the last one appeared: still waiting for
/// kube-scheduler, bound and waiting for kwok to run them, or running.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Backlog {
    pub unbound: usize,
    pub bound: usize,
    pub running: usize,
}

impl Pods {
    /// Pods that exist (in any state).
    pub fn total(&self) -> usize {
        self.views.len()
    }

    pub fn live(&self) -> usize {
        self.live_by_image.values().sum()
    }

    pub fn running(&self) -> usize {
        self.running_by_image.values().sum()
    }

    pub fn live_with(&self, image: &str) -> usize {
        self.live_by_image.get(image).copied().unwrap_or(0)
    }

    pub fn running_with(&self, image: &str) -> usize {
        self.running_by_image.get(image).copied().unwrap_or(0)
    }

    /// Running pods on none of `nodes`.
    pub fn running_off(&self, nodes: &BTreeSet<String>) -> usize {
        self.running() - nodes.iter().filter_map(|n| self.running_by_node.get(n)).sum::<usize>()
    }

    /// Names of the running pods.
    pub fn running_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.views.iter().filter(|(_, v)| v.running).map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    /// Where the pods created after the first list stood when the last of them was seen.
    pub fn backlog_at_last_creation(&self) -> Backlog {
        let Some(&last) = self.creations.last() else { return Backlog::default() };
        let by = |at: Option<Instant>| at.is_some_and(|at| at <= last);
        let mut backlog = Backlog::default();
        for s in self.stages.values() {
            match (by(s.bound), by(s.running)) {
                (_, true) => backlog.running += 1,
                (true, false) => backlog.bound += 1,
                (false, false) => backlog.unbound += 1,
            }
        }
        backlog
    }

    fn apply(&mut self, name: String, view: PodView, now: Instant) {
        let old = self.views.get(&name).cloned();
        match &old {
            None if self.synced => {
                self.creations.push(now);
                self.stages.insert(name.clone(), Stages::default());
            }
            Some(old) if old.live && !view.live => self.failures.push(now),
            _ => {}
        }
        if let Some(stages) = self.stages.get_mut(&name) {
            stages.bound = stages.bound.or((!view.node.is_empty()).then_some(now));
            stages.running = stages.running.or(view.running.then_some(now));
        }
        if let Some(old) = &old {
            self.count(old, -1);
        }
        self.count(&view, 1);
        self.views.insert(name, view);
    }

    fn delete(&mut self, name: &str, now: Instant) {
        if let Some(old) = self.views.remove(name) {
            if old.live {
                self.failures.push(now);
            }
            self.count(&old, -1);
        }
    }

    fn count(&mut self, view: &PodView, delta: isize) {
        let add = |map: &mut HashMap<String, usize>, key: &str| {
            let n = map.entry(key.to_string()).or_default();
            *n = n.saturating_add_signed(delta);
        };
        if view.live {
            add(&mut self.live_by_image, &view.image);
        }
        if view.running {
            add(&mut self.running_by_image, &view.image);
            add(&mut self.running_by_node, &view.node);
        }
    }
}

/// A background watch of the pods in one namespace; stopped when dropped.
pub struct Timeline {
    pods: watch::Receiver<Pods>,
    task: tokio::task::JoinHandle<()>,
}

impl Timeline {
    pub fn start(client: &Client, ns: &str) -> Timeline {
        let (tx, pods) = watch::channel(Pods::default());
        let mut stream = watcher(Api::<Pod>::namespaced(client.clone(), ns), watcher::Config::default()).boxed();
        let task = tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                let now = Instant::now();
                match event {
                    Ok(watcher::Event::InitApply(pod) | watcher::Event::Apply(pod)) => {
                        tx.send_modify(|p| p.apply(pod.name_any(), PodView::of(&pod), now))
                    }
                    Ok(watcher::Event::Delete(pod)) => tx.send_modify(|p| p.delete(&pod.name_any(), now)),
                    Ok(watcher::Event::InitDone) => tx.send_modify(|p| p.synced = true),
                    Ok(watcher::Event::Init) => {}
                    Err(e) => eprintln!("bench: pod watch error: {e}"),
                }
            }
        });
        Timeline { pods, task }
    }

    /// Waits until `done` holds (after the first list) and returns when.
    pub async fn until(&mut self, what: &str, timeout: Duration, mut done: impl FnMut(&Pods) -> bool) -> Result<Instant> {
        tokio::time::timeout(timeout, self.pods.wait_for(|p| p.synced && done(p)))
            .await
            .with_context(|| format!("timed out after {timeout:?} waiting for {what}"))?
            .with_context(|| format!("the pod watch ended while waiting for {what}"))?;
        Ok(Instant::now())
    }

    /// The current state, for a quick look (do not hold across an await).
    pub fn now(&self) -> watch::Ref<'_, Pods> {
        self.pods.borrow()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(image: &str, live: bool, running: bool) -> PodView {
        PodView { image: image.into(), node: "n1".into(), live, running }
    }

    #[test]
    fn counts_follow_each_pod_through_its_life() {
        let t0 = Instant::now();
        let mut pods = Pods::default();
        pods.apply("before".into(), view("a", true, true), t0);
        pods.synced = true;
        pods.apply("p".into(), view("a", true, false), t0);
        assert_eq!((pods.total(), pods.live(), pods.running()), (2, 2, 1));
        pods.apply("p".into(), view("a", true, true), t0);
        pods.apply("q".into(), view("b", true, true), t0);
        assert_eq!((pods.running_with("a"), pods.running_with("b"), pods.live_with("a")), (2, 1, 2));
        pods.apply("p".into(), view("a", false, false), t0);
        assert_eq!((pods.live_with("a"), pods.running(), pods.total()), (1, 2, 3));
        pods.delete("p", t0);
        pods.delete("q", t0);
        assert_eq!((pods.total(), pods.live(), pods.running()), (1, 1, 1));
        // Only pods seen after the first list are creations; p failed once, q once.
        assert_eq!((pods.creations.len(), pods.failures.len()), (2, 2));
        assert_eq!(pods.running_names(), vec!["before".to_string()]);
    }

    #[test]
    fn the_backlog_is_where_each_pod_stood_when_the_last_appeared() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut pods = Pods { synced: true, ..Default::default() };
        let mut bound = view("a", true, false);
        pods.apply("running".into(), view("a", true, false), at(0));
        pods.apply("running".into(), view("a", true, true), at(5));
        pods.apply("bound".into(), view("a", true, false), at(10));
        pods.apply("unbound".into(), PodView { node: String::new(), ..view("a", true, false) }, at(20));
        // Bound and running after the last appeared: counted where they stood at 20 ms.
        pods.apply("unbound".into(), bound.clone(), at(30));
        bound.running = true;
        pods.apply("bound".into(), bound, at(40));
        assert_eq!(pods.backlog_at_last_creation(), Backlog { unbound: 1, bound: 1, running: 1 });
    }

    #[test]
    fn running_pods_are_counted_by_node() {
        let t0 = Instant::now();
        let mut pods = Pods::default();
        let on = |node: &str, running: bool| PodView { node: node.into(), ..view("a", true, running) };
        pods.apply("p".into(), on("", false), t0);
        pods.apply("p".into(), on("n1", true), t0);
        pods.apply("q".into(), on("n2", true), t0);
        pods.apply("r".into(), on("n2", false), t0);
        let lost = BTreeSet::from(["n2".to_string()]);
        assert_eq!((pods.running(), pods.running_off(&lost)), (2, 1));
        pods.delete("q", t0);
        assert_eq!(pods.running_off(&lost), 1);
        assert_eq!(pods.running_off(&BTreeSet::from(["n1".to_string()])), 0);
    }
}
