//! Property tests of the production service planner ([`super::service::plan`])
//! against a model cluster: passes alternate with a model of kube-scheduler
//! (a new task goes to the zone with the fewest of the service's tasks) and the
//! kubelet (a pending task runs 10 s later; without health checks it counts as
//! healthy 40 s after that, §2.4). With `lag`, the cache shows a created task
//! only a pass later, as a watch does: meanwhile the planner sees it as a
//! create in flight, and must not start it again.
use crate::ecs::placement::Placement;
use crate::ecs::placement::place::default_spread;
use std::collections::BTreeMap;

use proptest::prelude::*;

use super::deployment::{Deployment, Primary};
use super::service::{Scheduling, ServiceInput, Traffic, plan};
use super::testing::TaskBuilder;
use super::{Launched, Limits};
use crate::api::{Service, TaskStopCode};
use crate::ecs::rollout::DeploymentBounds;
use crate::ecs::task::observed::Task;
use crate::ecs::task::reference::Resolved;

const ZONES: [&str; 3] = ["a", "b", "c"];
const PASS_SECONDS: i64 = 10;

struct Cluster {
    service: Service,
    primary: Primary,
    tasks: Vec<Task>,
    now: i64,
    next: usize,
    lag: bool,
    /// Tasks created that the cache does not show yet.
    unseen: Vec<Task>,
}

/// How a model task was made: (deployment index, zone, state).
#[derive(Clone, Debug)]
enum Start {
    Pending,
    Running,
    Healthy,
}

impl Cluster {
    fn new(desired: u32, min: u32, max: u32, initial: &[(usize, usize, Start)]) -> Cluster {
        let service: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "generation": 1},
            "spec": {"taskDefinition": "web:2", "desiredCount": desired,
                "deploymentConfiguration": {"minimumHealthyPercent": min, "maximumPercent": max}}})).unwrap();
        let resolved = Resolved { family: "web".into(), revision: 2, spec: serde_json::from_value(serde_json::json!({"containerDefinitions": [{"name": "app", "image": "x"}]})).unwrap() };
        let deployment = Deployment::of(&service.spec, &resolved);
        let primary = Primary { deployment, resolved, launches: true, failed: None };
        let mut cluster = Cluster { service, primary, tasks: vec![], now: 1_000, next: 0, lag: false, unseen: vec![] };
        for (deployment, zone, start) in initial {
            let label = if *deployment == 0 { cluster.primary.deployment.label.clone() } else { format!("ecs-svc-old{deployment}") };
            let name = cluster.name();
            let node = format!("{}-{}", ZONES[*zone], cluster.next % 2);
            let builder = TaskBuilder::new(&name, 900).deployment(&label).on(&node, ZONES[*zone]);
            cluster.tasks.push(match start {
                Start::Pending => builder.build(),
                Start::Running => builder.running_since(cluster.now - 5).build(),
                Start::Healthy => builder.running_since(cluster.now - 100).build(),
            });
        }
        cluster
    }

    fn name(&mut self) -> String {
        self.next += 1;
        format!("t{}", self.next)
    }

    fn desired(&self) -> usize {
        self.service.spec.desired_count.unwrap_or(0) as usize
    }

    fn bounds(&self) -> DeploymentBounds {
        super::deployment::bounds(self.service.spec.deployment_configuration.as_ref(), false)
    }

    fn healthy(&self, task: &Task) -> bool {
        super::deployment::health(task, std::time::Duration::ZERO, self.now) == crate::ecs::rollout::TaskHealth::Healthy
    }

    fn zone_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts: BTreeMap<&str, usize> = ZONES.iter().map(|z| (*z, 0)).collect();
        for task in &self.tasks {
            *counts.get_mut(task.zone.as_deref().unwrap_or("a")).unwrap() += 1;
        }
        counts
    }

    /// One pass of the planner, checked, then acted on by the model.
    fn pass(&mut self) -> Result<(), TestCaseError> {
        let traffic = Traffic::default();
        let limits = Limits::default();
        let input = ServiceInput {
            service: &self.service,
            primary: &self.primary,
            tasks: &self.tasks,
            creations_in_flight: self.unseen.len(),
            scheduling: Scheduling::Replica { strategy: None },
            traffic: &traffic,
            placement: &Placement { strategies: default_spread(), ..Default::default() },
            old_revisions: &Default::default(),
            lifecycle: None,
            firing_alarms: &[],
            problem: None,
            unsupported: &[],
            limits: &limits,
            now: self.now,
        };
        let plan = plan(&input);
        let outcome = plan.outcome(&input, &Launched::default());
        prop_assert_eq!(outcome.status.desired_count, Some(self.desired() as i32));

        // Never a task stopped twice, never a task that is not there.
        let mut stopped: Vec<&str> = plan.stops.iter().map(|s| s.pod.as_str()).collect();
        stopped.sort();
        let before = stopped.len();
        stopped.dedup();
        prop_assert_eq!(before, stopped.len(), "a task stopped twice");
        for pod in &stopped {
            prop_assert!(self.tasks.iter().any(|t| t.name() == *pod), "stopping unknown task {}", pod);
        }
        // Never below minimumHealthyPercent by its own choice.
        let desired = self.desired() as u32;
        let healthy_before = self.tasks.iter().filter(|t| self.healthy(t)).count() as u32;
        let chosen_healthy = plan.stops.iter()
            .filter(|s| s.stop.code == TaskStopCode::ServiceSchedulerInitiated)
            .filter(|s| self.tasks.iter().any(|t| t.name() == s.pod && self.healthy(t)))
            .count() as u32;
        prop_assert!(healthy_before - chosen_healthy >= self.bounds().min_healthy(desired).min(healthy_before),
            "healthy {} - {} below minimum {}", healthy_before, chosen_healthy, self.bounds().min_healthy(desired));
        // Never above maximumPercent by its starts, counting the creates in flight.
        let after = self.tasks.len() - stopped.len() + self.unseen.len() + plan.starts.len();
        if !plan.starts.is_empty() {
            prop_assert!(after as u32 <= self.bounds().max_tasks(desired), "{} tasks above the maximum {}", after, self.bounds().max_tasks(desired));
        }

        // The model acts: stops are gone, starts land in the emptiest zone.
        self.tasks.retain(|t| !stopped.contains(&t.name()));
        self.tasks.append(&mut self.unseen);
        for _ in &plan.starts {
            let counts = self.zone_counts();
            let zone = ZONES.iter().min_by_key(|z| counts[*z]).unwrap();
            let name = self.name();
            let task = TaskBuilder::new(&name, self.now).deployment(&self.primary.deployment.label).on(&format!("{zone}-{}", self.next % 2), zone).build();
            if self.lag { self.unseen.push(task) } else { self.tasks.push(task) }
        }
        self.now += PASS_SECONDS;
        // The kubelet: tasks pending for a pass run now.
        let now = self.now;
        for task in self.tasks.iter_mut() {
            if task.state.last_status != crate::ecs::task::lifecycle::LastStatus::Running && task.created_seconds() <= now - PASS_SECONDS {
                let zone = task.zone.clone().unwrap();
                let label = task.label(crate::ecs::task::labels::DEPLOYMENT).unwrap().to_string();
                *task = TaskBuilder::new(task.name(), task.created_seconds()).deployment(&label).on(task.node().unwrap(), &zone).running_since(now).build();
            }
        }
        Ok(())
    }

    /// Passes until the service holds `desired` healthy tasks of PRIMARY only.
    fn converge(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..60 {
            self.pass()?;
            let settled = self.unseen.is_empty() && self.tasks.len() == self.desired()
                && self.tasks.iter().all(|t| t.label(crate::ecs::task::labels::DEPLOYMENT) == Some(self.primary.deployment.label.as_str()) && self.healthy(t));
            if settled {
                return Ok(());
            }
        }
        Err(TestCaseError::fail(format!("not converged: {} tasks for {} desired", self.tasks.len(), self.desired())))
    }
}

fn arb_start() -> impl Strategy<Value = Start> {
    prop_oneof![Just(Start::Pending), Just(Start::Running), Just(Start::Healthy)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// From any mix of old and new tasks, in any state, the planner reaches the
    /// desired count of PRIMARY tasks within the deployment bounds.
    #[test]
    fn converges_within_bounds_from_any_start(
        desired in 0u32..10,
        min in prop_oneof![Just(0u32), Just(50), Just(100)],
        max in prop_oneof![Just(100u32), Just(150), Just(200)],
        initial in prop::collection::vec((0usize..3, 0usize..3, arb_start()), 0..14),
        lag in any::<bool>(),
    ) {
        let bounds = DeploymentBounds { minimum_healthy_percent: min, maximum_percent: max };
        prop_assume!(!bounds.deadlocks(desired));
        let mut cluster = Cluster::new(desired, min, max, &initial);
        cluster.lag = lag;
        cluster.converge()?;
    }

    /// Scaling a fresh service up and down keeps its zones within one task of each other.
    #[test]
    fn scaling_keeps_zones_within_one(steps in prop::collection::vec(0u32..13, 1..5)) {
        let mut cluster = Cluster::new(0, 100, 200, &[]);
        for desired in steps {
            cluster.service.spec.desired_count = Some(desired as i32);
            cluster.converge()?;
            let counts = cluster.zone_counts();
            let (least, most) = (counts.values().min().unwrap(), counts.values().max().unwrap());
            prop_assert!(most - least <= 1, "zones {:?} after scaling to {}", counts, desired);
        }
    }
}
