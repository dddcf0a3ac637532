//! Placement and scale-in per strategy, as the ECS developer guide describes
//! them: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html
//! ("binpack: tasks are placed on container instances so as to leave the least
//! amount of unused CPU or memory"; "spread ... placed evenly based on the
//! specified value"; "random"; strategies are evaluated in order, later ones
//! break ties; on scale-in binpack "stops the task leaving the most unused
//! resources" and spread keeps the attribute balanced).
use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use super::Strategy;
use proptest::strategy::Strategy as _;

const GIB: i64 = 1 << 30;

fn node(name: &str, zone: &str, memory_gib: i64) -> NodeSlot {
    NodeSlot {
        name: name.into(),
        labels: BTreeMap::from([(ZONE_LABEL.to_string(), zone.to_string()), ("rack".to_string(), format!("r-{name}"))]),
        free: Resources { cpu: 16_000, memory: memory_gib * GIB },
        eligible: true,
        ..NodeSlot::default()
    }
}

fn placement(nodes: Vec<NodeSlot>, strategies: Vec<Strategy>) -> Placement {
    Placement { nodes, strategies, request: Resources { cpu: 250, memory: GIB / 2 }, seed: 7, group: "service:web".into(), ..Placement::default() }
}

fn tally(placed: &[Option<String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in placed.iter().flatten() {
        *counts.entry(node.clone()).or_default() += 1;
    }
    counts
}

fn memory() -> Strategy {
    Strategy::Binpack(BinpackResource::Memory)
}

fn instance() -> Strategy {
    Strategy::Spread(HOSTNAME_LABEL.into())
}

#[test]
fn binpack_fills_the_fullest_node_that_fits_first() {
    let p = placement(vec![node("big", "a", 8), node("small", "a", 1), node("mid", "b", 2)], vec![memory()]);
    let placed = p.place(&BTreeMap::new(), 10);
    // 1 GiB takes 2 half-GiB tasks, 2 GiB takes 4, then the 8 GiB node.
    let order: Vec<&str> = placed.iter().map(|n| n.as_deref().unwrap()).collect();
    assert_eq!(order, ["small", "small", "mid", "mid", "mid", "mid", "big", "big", "big", "big"]);
}

#[test]
fn ten_binpacked_tasks_land_on_the_fewest_nodes() {
    let p = placement((0..5).map(|i| node(&format!("n{i}"), "a", 4)).collect(), vec![memory()]);
    let counts = tally(&p.place(&BTreeMap::new(), 10));
    // A 4 GiB node holds 8 half-GiB tasks: the first fills, the rest go to one more.
    let mut sizes: Vec<usize> = counts.values().copied().collect();
    sizes.sort();
    assert_eq!(sizes, [2, 8], "{counts:?}");
}

#[test]
fn spread_then_binpack_covers_every_node_then_packs() {
    let nodes = vec![node("n1", "a", 8), node("n2", "b", 2), node("n3", "c", 4)];
    let p = placement(nodes, vec![instance(), memory()]);
    let placed = p.place(&BTreeMap::new(), 3);
    assert_eq!(tally(&placed).len(), 3, "one per node first: {placed:?}");
    // Ties on the spread go to the fullest node: n2 first.
    assert_eq!(placed[0].as_deref(), Some("n2"));
    let six = tally(&p.place(&BTreeMap::new(), 6));
    assert!(six.values().all(|c| *c == 2), "{six:?}");
}

#[test]
fn zone_spread_then_binpack_packs_within_each_zone() {
    let nodes = vec![node("a1", "a", 8), node("a2", "a", 2), node("b1", "b", 8), node("b2", "b", 1)];
    let p = placement(nodes, vec![Strategy::Spread(ZONE_LABEL.into()), memory()]);
    let counts = tally(&p.place(&BTreeMap::new(), 4));
    assert_eq!(counts, BTreeMap::from([("a2".into(), 2), ("b2".into(), 2)]));
}

#[test]
fn spread_counts_the_tasks_already_running() {
    let p = placement(vec![node("n1", "a", 8), node("n2", "b", 8)], vec![Strategy::Spread(ZONE_LABEL.into())]);
    let running = BTreeMap::from([("n1".to_string(), 3)]);
    assert_eq!(tally(&p.place(&running, 3)), BTreeMap::from([("n2".into(), 3)]));
}

#[test]
fn a_task_no_node_has_room_for_is_left_unplaced() {
    let mut full = node("n1", "a", 0);
    full.free.memory = GIB / 4;
    let mut ineligible = node("n2", "a", 8);
    ineligible.eligible = false;
    let p = placement(vec![full, ineligible, node("n3", "a", 1)], vec![memory()]);
    assert_eq!(p.place(&BTreeMap::new(), 3), vec![Some("n3".into()), Some("n3".into()), None]);
}

#[test]
fn distinct_instance_puts_one_task_per_node() {
    let mut p = placement(vec![node("n1", "a", 8), node("n2", "a", 8)], vec![memory()]);
    p.distinct_instance = true;
    let running = BTreeMap::from([("n1".to_string(), 1)]);
    assert_eq!(p.place(&running, 2), vec![Some("n2".into()), None]);
}

#[test]
fn random_is_uniform_over_the_nodes_that_fit() {
    let nodes: Vec<NodeSlot> = (0..4).map(|i| node(&format!("n{i}"), "a", 64)).collect();
    let mut counts = BTreeMap::<String, usize>::new();
    for seed in 0..2000 {
        let p = Placement { seed, ..placement(nodes.clone(), vec![Strategy::Random]) };
        *counts.entry(p.place(&BTreeMap::new(), 1)[0].clone().unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|c| (400..600).contains(c)), "{counts:?}");
}

fn task(name: &str, node: &str, zone: &str) -> TaskView {
    TaskView { name: name.into(), node: Some(node.into()), zone: Some(zone.into()), provider: None, pending: false, healthy: true, created: 0 }
}

#[test]
fn binpack_scale_in_empties_the_emptiest_node_first() {
    // n1 has 1 GiB free with 3 tasks, n2 6 GiB free with 1 task.
    let mut n1 = node("n1", "a", 1);
    let mut n2 = node("n2", "a", 6);
    n1.free.memory = GIB;
    n2.free.memory = 6 * GIB;
    let tasks = vec![task("t1", "n1", "a"), task("t2", "n1", "a"), task("t3", "n1", "a"), task("t4", "n2", "a")];
    let p = placement(vec![n1, n2], vec![memory()]);
    let victims: Vec<&str> = p.scale_in_victims(&tasks, 2).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(victims[0], "t4", "the task on the node with the most free goes first");
    assert_eq!(p.scale_in_victims(&tasks, 2).iter().filter(|t| t.node.as_deref() == Some("n1")).count(), 1);
}

#[test]
fn pending_and_unhealthy_go_before_any_strategy() {
    let mut tasks = vec![task("fine", "n2", "a"), task("sick", "n1", "a"), task("waiting", "n1", "a")];
    tasks[1].healthy = false;
    tasks[2].pending = true;
    let p = placement(vec![node("n1", "a", 1), node("n2", "a", 8)], vec![memory()]);
    let names: Vec<&str> = p.scale_in_victims(&tasks, 2).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["waiting", "sick"]);
}

#[test]
fn kube_scheduler_places_single_spreads_and_the_default_only() {
    assert!(Strategy::kube_scheduler_can_place(&default_spread()));
    assert!(Strategy::kube_scheduler_can_place(&[instance()]));
    assert!(!Strategy::kube_scheduler_can_place(&[memory()]));
    assert!(!Strategy::kube_scheduler_can_place(&[Strategy::Random]));
    assert!(!Strategy::kube_scheduler_can_place(&[instance(), memory()]));
    assert!(!Strategy::kube_scheduler_can_place(&[Strategy::Spread("rack".into()), instance()]));
}

fn arb_nodes() -> impl proptest::strategy::Strategy<Value = Vec<NodeSlot>> {
    prop::collection::vec((0..3usize, 0..9i64, any::<bool>()), 1..8).prop_map(|specs| {
        specs.into_iter().enumerate().map(|(i, (zone, gib, eligible))| NodeSlot { eligible, ..node(&format!("n{i}"), ["a", "b", "c"][zone], gib) }).collect()
    })
}

proptest! {
    /// Each binpacked task goes to a node that fits with the least memory
    /// left among those that fit, and no node is ever given more than it has.
    #[test]
    fn binpack_never_overcommits_and_always_takes_the_tightest_fit(nodes in arb_nodes(), count in 0..30usize) {
        let p = placement(nodes.clone(), vec![memory()]);
        let placed = p.place(&BTreeMap::new(), count);
        let mut free: BTreeMap<String, Resources> = nodes.iter().map(|n| (n.name.clone(), n.free)).collect();
        for chosen in &placed {
            let fitting: Vec<&NodeSlot> = nodes.iter().filter(|n| n.eligible && free[&n.name].holds(p.request)).collect();
            match chosen {
                None => prop_assert!(fitting.is_empty()),
                Some(name) => {
                    let tightest = fitting.iter().map(|n| free[&n.name].memory).min().unwrap();
                    prop_assert_eq!(free[name].memory, tightest);
                    let left = free[name].less(p.request);
                    free.insert(name.clone(), left);
                }
            }
        }
        prop_assert!(free.values().all(|f| f.memory >= 0 && f.cpu >= 0));
    }

    /// With the group spread over an attribute first, the counts per value
    /// among eligible nodes stay within one of each other, whatever breaks ties.
    #[test]
    fn spread_first_keeps_values_within_one(zones in prop::collection::vec(0..3usize, 3..9), count in 0..20usize, seed in any::<u64>()) {
        let nodes: Vec<NodeSlot> = zones.iter().enumerate().map(|(i, z)| node(&format!("n{i}"), ["a", "b", "c"][*z], 64)).collect();
        let p = Placement { seed, ..placement(nodes.clone(), vec![Strategy::Spread(ZONE_LABEL.into()), memory()]) };
        let counts = tally(&p.place(&BTreeMap::new(), count));
        let mut per_zone: BTreeMap<String, usize> = nodes.iter().map(|n| (n.labels[ZONE_LABEL].clone(), 0)).collect();
        for (name, c) in counts {
            let zone = nodes.iter().find(|n| n.name == name).unwrap().labels[ZONE_LABEL].clone();
            *per_zone.get_mut(&zone).unwrap() += c;
        }
        let (max, min) = (per_zone.values().max().unwrap(), per_zone.values().min().unwrap());
        prop_assert!(max - min <= 1, "{:?}", per_zone);
    }

    /// Each victim is the one the rule picks counted afresh over the tasks still left:
    /// pending, then unhealthy, then the strategies' keys in order (a spread's value held
    /// by the most remaining tasks; binpack's node left with the most free), then the newest.
    #[test]
    fn each_victim_is_the_best_ranked_of_the_tasks_left(nodes in arb_nodes(), specs in prop::collection::vec((0..8usize, any::<bool>(), any::<bool>(), 0..4i64), 0..24),
        strategies in prop::collection::vec(prop::sample::select(vec![instance(), Strategy::Spread(ZONE_LABEL.into()), Strategy::Spread("rack".into()), memory()]), 0..3), stop in 0..24usize) {
        let tasks: Vec<TaskView> = specs.iter().enumerate().map(|(i, (n, pending, healthy, created))| {
            let node = nodes.get(*n).map(|n| n.name.clone());
            let zone = nodes.get(*n).map(|n| n.labels[ZONE_LABEL].clone());
            TaskView { name: format!("t{i:02}"), node, zone, pending: *pending, healthy: *healthy, created: *created, provider: None }
        }).collect();
        let p = placement(nodes, strategies);
        let victims: Vec<&str> = p.scale_in_victims(&tasks, stop).iter().map(|t| t.name.as_str()).collect();
        let mut left: Vec<&TaskView> = tasks.iter().collect();
        let mut free: BTreeMap<String, Resources> = p.nodes.iter().map(|n| (n.name.clone(), n.free)).collect();
        for victim in &victims {
            let rank = |t: &TaskView| {
                let keys: Vec<i64> = p.strategies.iter().map(|s| match s {
                    Strategy::Spread(key) => left.iter().filter(|o| p.value_of(o, key).unwrap_or_default() == p.value_of(t, key).unwrap_or_default()).count() as i64,
                    Strategy::Binpack(r) => t.node.as_ref().and_then(|n| free.get(n)).map_or(i64::MAX, |f| f.of(*r)),
                    Strategy::Random => unreachable!(),
                }).collect();
                (t.pending, !t.healthy, keys, t.created, std::cmp::Reverse(t.name.clone()))
            };
            let best = left.iter().map(|t| rank(t)).max().unwrap();
            let chosen = left.iter().position(|t| t.name == *victim).unwrap();
            prop_assert_eq!(rank(left[chosen]), best);
            let gone = left.remove(chosen);
            if let Some(f) = gone.node.as_ref().and_then(|n| free.get_mut(n)) {
                *f = f.plus(p.request);
            }
        }
        prop_assert_eq!(victims.len(), stop.min(tasks.len()));
    }

    /// Scale-in under a spread on any attribute keeps it balanced within one.
    #[test]
    fn scale_in_keeps_a_custom_attribute_within_one(per_rack in 1..6usize, extra in prop::collection::vec(0..4usize, 0..4), stop in 0..20usize) {
        let nodes: Vec<NodeSlot> = (0..4).map(|i| node(&format!("n{i}"), "a", 8)).collect();
        let mut tasks = vec![];
        for i in 0..4 {
            for j in 0..per_rack + usize::from(extra.contains(&i)) {
                tasks.push(task(&format!("t{i}-{j}"), &format!("n{i}"), "a"));
            }
        }
        let p = placement(nodes, vec![Strategy::Spread("rack".into())]);
        let stop = stop.min(tasks.len());
        let victims: Vec<String> = p.scale_in_victims(&tasks, stop).iter().map(|t| t.name.clone()).collect();
        let mut kept = BTreeMap::<String, usize>::new();
        for t in tasks.iter().filter(|t| !victims.contains(&t.name)) {
            *kept.entry(t.node.clone().unwrap()).or_default() += 1;
        }
        let counts: Vec<usize> = (0..4).map(|i| kept.get(&format!("n{i}")).copied().unwrap_or(0)).collect();
        // Balanced within one before, so within one after any number of stops.
        prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
    }
}

/// runningTasksCount is read again after each task placed: three tasks with
/// `runningTasksCount < 2` over two empty nodes and one holding a task fill
/// each node up to two, never beyond.
#[test]
fn member_of_is_evaluated_again_after_each_task() {
    let mut nodes = vec![node("n1", "a", 8), node("n2", "b", 8), node("n3", "c", 8)];
    nodes[2].running_tasks = 1;
    let mut p = placement(nodes, vec![Strategy::Random]);
    p.member_of = vec![crate::ecs::placement::parse("runningTasksCount < 2").unwrap()];
    let placed = p.place(&BTreeMap::new(), 6);
    let counts = tally(&placed);
    assert_eq!(counts, BTreeMap::from([("n1".into(), 2), ("n2".into(), 2), ("n3".into(), 1)]), "{placed:?}");
    assert_eq!(placed.iter().filter(|n| n.is_none()).count(), 1);
    // task:group affinity counts the tasks placed by this pass too.
    let mut q = placement(vec![node("n1", "a", 8), node("n2", "b", 8)], vec![instance()]);
    q.member_of = vec![crate::ecs::placement::parse("not(task:group == service:web)").unwrap()];
    assert_eq!(tally(&q.place(&BTreeMap::new(), 3)).len(), 2, "one per node, the third unplaced");
}

/// ECS's words (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html):
/// "The closest matching container-instance container-instance-id has insufficient memory
/// available." The node's name changes as tasks fill nodes; the cause does not.
#[test]
fn the_closest_node_is_named_in_the_message_not_in_the_cause() {
    let mut p = placement(vec![node("a", "z1", 0), node("b", "z2", 0)], vec![memory()]);
    p.nodes[1].free.memory = GIB / 4;
    let why = p.why_unplaced();
    assert_eq!(why.message, "The closest matching container instance b has insufficient memory available.");
    assert_eq!(why.cause, "The closest matching container instance has insufficient memory available.");
    p.nodes[0].free.memory = GIB / 3;
    assert_eq!(p.why_unplaced().cause, why.cause, "another closest node, the same cause");
    p.nodes[0].free = Resources { cpu: 100, memory: GIB };
    assert_eq!(p.why_unplaced().message, "The closest matching container instance a has insufficient CPU units available.");
    p.nodes.iter_mut().for_each(|n| n.eligible = false);
    assert!(p.why_unplaced().cause.starts_with("Reason: No Container Instances were found"));
}
