//! Issue 9 acceptance: load balancers, service registries and Service Connect become
//! Kubernetes Services whose EndpointSlices (kept by kube-controller-manager's
//! EndpointSlice controller) list exactly the ready tasks; stopping tasks leave them before
//! their pods are deleted; static host ports are the scheduler's business.
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, plane, wait_for, wait_for_service_status};
use berth_tests::objects::{apply, events, manifest, service_field};
use berth_tests::tasks::{is_deleting, is_draining, is_healthy, is_live, phase, revision_of, tasks_of};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service as CoreService};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
const TARGET_GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/6d0ecf831eec9f09";

fn task_definition(name: &str, network_mode: &str, image: &str, port_mappings: Value) -> Value {
    manifest("TaskDefinition", name, json!({"family": name, "networkMode": network_mode, "memory": "256",
        "containerDefinitions": [{"name": "web", "image": image, "portMappings": port_mappings}]}))
}

/// A task definition with an HTTP port 8080 and an admin port 9000.
fn web(name: &str, image: &str) -> Value {
    task_definition(name, "awsvpc", image, json!([
        {"containerPort": 8080, "name": "http", "appProtocol": "http"},
        {"containerPort": 9000, "name": "admin"},
    ]))
}

/// A service with a load balancer on container port 8080 that drains for `delay` seconds.
fn balanced(name: &str, desired: i32, min: i32, max: i32, delay: u32) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
        "metadata": {"name": name, "annotations": {"berth.dev/deregistration-delay-seconds": delay.to_string()}},
        "spec": {"taskDefinition": name, "desiredCount": desired,
            "deploymentConfiguration": {"minimumHealthyPercent": min, "maximumPercent": max},
            "loadBalancers": [{"targetGroupArn": TARGET_GROUP, "containerName": "web", "containerPort": 8080}]}})
}

fn slices_of(service: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"))
}

/// Running, Ready, not being deleted and not draining: a task traffic goes to.
fn ready_task(p: &Pod) -> bool {
    is_healthy(p) && !is_draining(p)
}

/// Live and not draining: a task that stays.
fn staying(p: &Pod) -> bool {
    is_live(p) && !is_draining(p)
}

fn names(pods: &[Arc<Pod>], keep: fn(&Pod) -> bool) -> BTreeSet<String> {
    pods.iter().filter(|p| keep(p)).map(|p| p.name_any()).collect()
}

/// Pods the slices list as ready, and every pod they list.
fn endpoints(slices: &[Arc<EndpointSlice>]) -> (BTreeSet<String>, BTreeSet<String>) {
    let listed = || slices.iter().flat_map(|s| s.endpoints.iter());
    let pod = |e: &k8s_openapi::api::discovery::v1::Endpoint| e.target_ref.as_ref().and_then(|r| r.name.clone());
    let ready = listed().filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true)).filter_map(pod).collect();
    (ready, listed().filter_map(pod).collect())
}

async fn slice_endpoints(ns: &str, service: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let slices = Api::<EndpointSlice>::namespaced(client().await, ns).list(&kube::api::ListParams::default().labels(&format!("kubernetes.io/service-name={service}"))).await.unwrap();
    endpoints(&slices.items.into_iter().map(Arc::new).collect::<Vec<_>>())
}

/// Waits until the Service's EndpointSlices list as ready exactly the service's ready tasks,
/// `count` of them, and returns their names.
async fn wait_endpoints_match_ready_tasks(ns: &str, svc: &str, service: &str, count: usize) -> BTreeSet<String> {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let mut ready = BTreeSet::new();
    wait_for(pods, tasks_of(svc), TIMEOUT, &format!("{count} ready tasks of {svc}"), |ps| {
        ready = names(ps, ready_task);
        ready.len() == count
    }).await;
    let slices = Api::<EndpointSlice>::namespaced(client().await, ns);
    wait_for(slices, slices_of(service), TIMEOUT, &format!("the endpoints of {service} to be {ready:?}"), |s| endpoints(s).0 == ready).await;
    ready
}

/// What a watch saw, in etcd revision order: the plane has one etcd, so the resource
/// versions of pods and EndpointSlices are revisions of one counter.
#[derive(Default)]
struct History {
    /// (revision, pods listed in the slice) for every EndpointSlice change.
    slices: Vec<(u64, BTreeSet<String>)>,
    /// Pods seen deleting or deleted, in order.
    deletions: Vec<Deletion>,
    /// (revision, ready endpoints) after each slice change.
    ready: Vec<(u64, usize)>,
}

#[derive(Clone, Debug)]
struct Deletion {
    /// The revision at which the pod was first seen deleting (or deleted).
    revision: u64,
    pod: String,
    /// Seconds from the start of draining to the deletion request, for a drained task.
    drained_seconds: Option<i64>,
}

impl Deletion {
    fn of(pod: &Pod) -> Deletion {
        let requested = pod.metadata.deletion_timestamp.as_ref().map(|t| t.0.as_second() - pod.metadata.deletion_grace_period_seconds.unwrap_or(0));
        let since = pod.annotations().get("berth.dev/draining-since").and_then(|s| s.parse::<i64>().ok());
        Deletion { revision: revision(pod), pod: pod.name_any(), drained_seconds: requested.zip(since).map(|(r, s)| r - s) }
    }
}

/// Every deleted pod that an EndpointSlice listed was no longer listed by the last slice
/// change before the deletion.
fn assert_left_endpoints_before_deletion(h: &History) {
    for deletion in &h.deletions {
        let before: Vec<&(u64, BTreeSet<String>)> = h.slices.iter().filter(|(rv, _)| *rv < deletion.revision).collect();
        assert!(before.iter().any(|(_, listed)| listed.contains(&deletion.pod)), "{deletion:?} was never listed: {:?}", h.slices);
        let last = before.last().map(|(_, listed)| listed);
        assert!(last.is_some_and(|listed| !listed.contains(&deletion.pod)), "{deletion:?} was still listed when deleted: {:?}", h.slices);
    }
}

fn revision<K: kube::Resource>(o: &K) -> u64 {
    o.meta().resource_version.as_deref().and_then(|v| v.parse().ok()).expect("numeric resourceVersion")
}

/// Records the EndpointSlices of `service` and the deletions of `svc`'s pods until the
/// handles are aborted, once both watches have listed; the receiver counts the deletions.
async fn record(ns: &str, svc: &str, service: &str, history: Arc<Mutex<History>>) -> (Vec<tokio::task::JoinHandle<()>>, tokio::sync::watch::Receiver<usize>) {
    let (deleted, deletions) = tokio::sync::watch::channel(0);
    let (listed, mut watches_listed) = tokio::sync::watch::channel(0);
    let listed = Arc::new(listed);
    let (ns, svc, service) = (ns.to_string(), svc.to_string(), service.to_string());
    let slices = {
        let (ns, history, listed) = (ns.clone(), history.clone(), listed.clone());
        tokio::spawn(async move {
            let api = Api::<EndpointSlice>::namespaced(client().await, &ns);
            let mut stream = watcher(api, slices_of(&service)).boxed();
            let mut current: std::collections::BTreeMap<String, Arc<EndpointSlice>> = Default::default();
            while let Some(event) = stream.next().await {
                let rv = match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        let rv = revision(&s);
                        current.insert(s.name_any(), Arc::new(s));
                        rv
                    }
                    Ok(watcher::Event::Delete(s)) => {
                        current.remove(&s.name_any());
                        revision(&s)
                    }
                    Ok(watcher::Event::InitDone) => {
                        listed.send_modify(|n| *n += 1);
                        continue;
                    }
                    _ => continue,
                };
                let all: Vec<Arc<EndpointSlice>> = current.values().cloned().collect();
                let (ready, listed) = endpoints(&all);
                let mut h = history.lock().unwrap();
                h.slices.push((rv, listed));
                h.ready.push((rv, ready.len()));
            }
        })
    };
    let pods = tokio::spawn(async move {
        let api = Api::<Pod>::namespaced(client().await, &ns);
        let mut stream = watcher(api, tasks_of(&svc)).boxed();
        while let Some(event) = stream.next().await {
            let deletion = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) if is_deleting(&p) => Deletion::of(&p),
                Ok(watcher::Event::Delete(p)) => Deletion::of(&p),
                Ok(watcher::Event::InitDone) => {
                    listed.send_modify(|n| *n += 1);
                    continue;
                }
                _ => continue,
            };
            let mut h = history.lock().unwrap();
            if !h.deletions.iter().any(|d| d.pod == deletion.pod) {
                h.deletions.push(deletion);
                deleted.send_replace(h.deletions.len());
            }
        }
    });
    tokio::time::timeout(TIMEOUT, watches_listed.wait_for(|n| *n >= 2)).await.expect("the recorder's watches listed").unwrap();
    (vec![slices, pods], deletions)
}

#[tokio::test]
async fn load_balancer_endpoints_are_the_ready_tasks_and_drain_before_deletion() {
    operator();
    let ns = TestNamespace::create("net-lb");
    apply(&ns.name, &web("web", "web:1"));
    apply(&ns.name, &balanced("web", 3, 100, 200, 2));

    // The Kubernetes Service: named after the target group, owned by the Berth Service,
    // selecting this service's serving tasks, on container port 8080 only.
    let services = Api::<CoreService>::namespaced(client().await, &ns.name);
    let found = wait_for(services.clone(), watcher::Config::default(), TIMEOUT, "Service web-tg", |s| s.iter().any(|s| s.name_any() == "web-tg")).await;
    let k8s = found.iter().find(|s| s.name_any() == "web-tg").unwrap();
    let spec = k8s.spec.clone().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.selector.unwrap(), [("berth.dev/service".to_string(), "web".to_string()), ("berth.dev/traffic".to_string(), "serve".to_string())].into());
    let ports: Vec<Value> = spec.ports.unwrap().iter().map(|p| json!([p.name, p.port, p.target_port, p.app_protocol])).collect();
    assert_eq!(ports, [json!(["http", 8080, 8080, "http"])]);
    let owner = &k8s.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Service", "web", Some(true)));
    assert_eq!(owner.uid, service_field(&ns.name, "web", "{.metadata.uid}").await);

    // Exactly the ready tasks; an unready one leaves and comes back. The slices inherit
    // the Service's labels, which is how the operator's cache sees them.
    let ready = wait_endpoints_match_ready_tasks(&ns.name, "web", "web-tg", 3).await;
    let slices = Api::<EndpointSlice>::namespaced(client().await, &ns.name).list(&kube::api::ListParams::default()).await.unwrap();
    assert!(!slices.items.is_empty() && slices.items.iter().all(|s| s.labels().get("app.kubernetes.io/managed-by").map(String::as_str) == Some("berth")),
        "{:?}", slices.items.iter().map(|s| s.labels()).collect::<Vec<_>>());
    wait_for_service_status(&ns.name, "web", "{.status.kubernetesServices[0].name} {.status.kubernetesServices[0].containerPort} {.status.kubernetesServices[0].source}",
        "web-tg 8080 loadBalancers", TIMEOUT).await;
    assert_eq!(service_field(&ns.name, "web", "{.status.conditions[?(@.type==\"TrafficRouted\")].status}").await, "True");
    let sick = ready.iter().next().unwrap().clone();
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let annotate = |value: Value| Patch::Merge(json!({"metadata": {"annotations": {"sim.berth.dev/unready": value}}}));
    pods.patch(&sick, &PatchParams::default(), &annotate(json!("true"))).await.unwrap();
    let slices = Api::<EndpointSlice>::namespaced(client().await, &ns.name);
    let others: BTreeSet<String> = ready.iter().filter(|p| **p != sick).cloned().collect();
    wait_for(slices.clone(), slices_of("web-tg"), TIMEOUT, "the unready task to leave the ready endpoints", |s| endpoints(s).0 == others).await;
    pods.patch(&sick, &PatchParams::default(), &annotate(Value::Null)).await.unwrap();
    wait_for(slices.clone(), slices_of("web-tg"), TIMEOUT, "the task to come back when ready", |s| endpoints(s).0 == ready).await;
    // A running task without the traffic label (started before Berth routed traffic, or
    // unlabelled by hand) is put back behind the Service.
    plane().kubectl().run(&["label", "-n", &ns.name, "pod", &sick, "berth.dev/traffic-"]).unwrap();
    wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "the label back", |ps| {
        ps.iter().any(|p| p.name_any() == sick && p.labels().get("berth.dev/traffic").map(String::as_str) == Some("serve"))
    }).await;
    wait_for(slices.clone(), slices_of("web-tg"), TIMEOUT, "the relabelled task listed again", |s| endpoints(s).0 == ready).await;

    // Scale in: the stopped task leaves the EndpointSlices before its pod is deleted, and
    // its pod lives on for the deregistration delay.
    let history = Arc::new(Mutex::new(History::default()));
    let (recorders, mut deletions) = record(&ns.name, "web", "web-tg", history.clone()).await;
    plane().kubectl().run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=2"]).unwrap();
    wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "one task drained and deleted", |ps| {
        names(ps, staying).len() == 2 && ps.iter().all(|p| staying(p) || is_deleting(p))
    }).await;
    let remaining = wait_endpoints_match_ready_tasks(&ns.name, "web", "web-tg", 2).await;
    tokio::time::timeout(TIMEOUT, deletions.wait_for(|n| *n >= 1)).await.expect("the recorder saw the deletion").unwrap();
    recorders.iter().for_each(|r| r.abort());
    let deletion = history.lock().unwrap().deletions[0].clone();
    assert!(ready.contains(&deletion.pod) && !remaining.contains(&deletion.pod), "stopped {deletion:?}, before {ready:?}, after {remaining:?}");
    assert!(deletion.drained_seconds.is_some_and(|s| s >= 2), "deleted before the 2-second deregistration delay: {deletion:?}");
    assert_left_endpoints_before_deletion(&history.lock().unwrap());
    let log = events(&ns.name).await;
    assert!(log.contains("(service web) registered container web port 8080 with Kubernetes Service web-tg (ClusterIP, port 8080)."), "{log}");
    assert!(log.contains("has begun draining connections on 1 tasks."), "{log}");

    // Without the load balancer the Service goes.
    let patch = json!({"spec": {"loadBalancers": null}});
    plane().kubectl().run(&["patch", "-n", &ns.name, "ecssvc/web", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for(services, watcher::Config::default(), TIMEOUT, "Service web-tg deleted", |s| !s.iter().any(|s| s.name_any() == "web-tg")).await;
}

#[tokio::test]
async fn a_rollout_never_drops_the_endpoints_below_the_minimum_healthy_count() {
    operator();
    let ns = TestNamespace::create("net-roll");
    apply(&ns.name, &web("api", "api:1"));
    // No deregistration delay: only waiting for the EndpointSlices orders removal and deletion.
    apply(&ns.name, &balanced("api", 3, 100, 200, 0));
    wait_endpoints_match_ready_tasks(&ns.name, "api", "web-tg", 3).await;
    let history = Arc::new(Mutex::new(History::default()));
    let (recorders, _) = record(&ns.name, "api", "web-tg", history.clone()).await;

    apply(&ns.name, &web("api", "api:2"));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods, tasks_of("api"), TIMEOUT, "3 ready tasks of revision 2 and nothing else", |ps| {
        let current: Vec<_> = ps.iter().filter(|p| staying(p)).collect();
        current.len() == 3 && current.iter().all(|p| ready_task(p) && revision_of(p) == "2") && ps.len() == 3
    }).await;
    let revision_2 = wait_endpoints_match_ready_tasks(&ns.name, "api", "web-tg", 3).await;
    recorders.iter().for_each(|r| r.abort());
    {
        let h = history.lock().unwrap();
        let fewest = h.ready.iter().map(|(_, n)| *n).min().unwrap();
        assert!(fewest >= 3, "the ready endpoints fell to {fewest} during the roll (minimumHealthyPercent 100 of 3): {:?}", h.ready);
        assert_eq!(h.deletions.len(), 3, "the three tasks of revision 1 were stopped: {:?}", h.deletions);
        assert_left_endpoints_before_deletion(&h);
    }
    assert_eq!(slice_endpoints(&ns.name, "web-tg").await.1, revision_2, "only revision 2 is listed at the end");
}

#[tokio::test]
async fn a_static_host_port_leaves_the_fourth_task_pending_and_dynamic_ports_run_all() {
    operator();
    let ns = TestNamespace::create("net-bridge");
    // 31977 and 31978 are used by no other test: the three worker nodes are shared.
    apply(&ns.name, &task_definition("static", "bridge", "web:1", json!([{"containerPort": 80, "hostPort": 31977}])));
    apply(&ns.name, &manifest("Service", "static", json!({"taskDefinition": "static", "desiredCount": 4})));
    apply(&ns.name, &task_definition("dynamic", "bridge", "web:1", json!([{"containerPort": 80, "hostPort": 0}])));
    apply(&ns.name, &manifest("Service", "dynamic", json!({"taskDefinition": "dynamic", "desiredCount": 4})));
    // Host networking: the container port is the host port.
    apply(&ns.name, &task_definition("host", "host", "web:1", json!([{"containerPort": 31978}])));
    apply(&ns.name, &manifest("Service", "host", json!({"taskDefinition": "host", "desiredCount": 4})));

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let unschedulable = |p: &Pod| p.status.as_ref().and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable")));
    let static_tasks = wait_for(pods.clone(), tasks_of("static"), TIMEOUT, "3 running static tasks and 1 unschedulable", |ps| {
        ps.iter().filter(|p| phase(p) == "Running").count() == 3 && ps.iter().filter(|p| unschedulable(p)).count() == 1
    }).await;
    let nodes: BTreeSet<String> = static_tasks.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
    assert_eq!(nodes.len(), 3, "one static task per node");
    let host_ports: Vec<Option<i32>> = static_tasks.iter().map(|p| p.spec.as_ref().unwrap().containers[0].ports.as_ref().unwrap()[0].host_port).collect();
    assert!(host_ports.iter().all(|p| *p == Some(31977)), "{host_ports:?}");
    wait_for(pods.clone(), tasks_of("dynamic"), TIMEOUT, "4 running dynamic tasks", |ps| names(ps, ready_task).len() == 4).await;
    let host_tasks = wait_for(pods.clone(), tasks_of("host"), TIMEOUT, "3 running host-network tasks and 1 unschedulable", |ps| {
        ps.iter().filter(|p| phase(p) == "Running").count() == 3 && ps.iter().filter(|p| unschedulable(p)).count() == 1
    }).await;
    assert!(host_tasks.iter().all(|p| p.spec.as_ref().unwrap().host_network == Some(true)));

    let kubectl = plane().kubectl();
    let warning = "(service static) was unable to place a task because no container instance met all of its requirements. \
                   The closest matching container instance is already using a port required by your task.";
    let event_api = Api::<Event>::namespaced(client().await, &ns.name);
    wait_for(event_api, watcher::Config::default(), TIMEOUT, "the placement warning", |es| {
        es.iter().any(|e| e.type_.as_deref() == Some("Warning") && e.note.as_deref().is_some_and(|n| n.starts_with(warning)))
    }).await;
    // Pending is not failing: nothing stopped, the pending task is still there.
    wait_for_service_status(&ns.name, "static", "{.status.runningCount} {.status.pendingCount}", "3 1", TIMEOUT).await;
    let stopped = service_field(&ns.name, "static", "{.status.stoppedTasks}").await;
    assert!(stopped.is_empty() || stopped == "[]", "stopped tasks: {stopped}");
    let failed = kubectl.run(&["get", "pods", "-n", &ns.name, "--field-selector=status.phase=Failed", "-o", "name"]).unwrap();
    assert_eq!(failed.trim(), "", "no task failed");
}

#[tokio::test]
async fn service_connect_aliases_and_registries_are_services_named_as_clients_call_them() {
    operator();
    let ns = TestNamespace::create("net-connect");
    apply(&ns.name, &web("orders", "orders:1"));
    apply(&ns.name, &json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "metadata": {"name": "orders"},
        "spec": {"taskDefinition": "orders", "desiredCount": 2,
            "serviceRegistries": [{"registryArn": "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-abc", "port": 8080}],
            "serviceConnectConfiguration": {"enabled": true, "namespace": "internal", "services": [
                {"portName": "http", "clientAliases": [{"port": 80, "dnsName": "orders-api"}]},
                {"portName": "admin", "clientAliases": [{"port": 9000, "dnsName": "orders-admin.internal"}]},
            ]}}}));

    let services = Api::<CoreService>::namespaced(client().await, &ns.name);
    let all = wait_for(services.clone(), watcher::Config::default(), TIMEOUT, "three Services", |s| s.len() == 3).await;
    let get = |name: &str| all.iter().find(|s| s.name_any() == name).unwrap_or_else(|| panic!("no Service {name}: {all:?}")).clone();
    let shape = |s: &CoreService| {
        let spec = s.spec.clone().unwrap();
        let port = spec.ports.unwrap_or_default().first().map(|p| json!([p.port, p.target_port, p.name]));
        json!([spec.cluster_ip.filter(|ip| ip == "None"), port, s.annotations().get("berth.dev/dns-name")])
    };
    // A client calling orders-api:80 reaches the tasks' port 8080 through Service orders-api.
    assert_eq!(shape(&get("orders-api")), json!([null, [80, 8080, "http"], "orders-api"]));
    // orders-admin.internal: Service orders-admin (resolves as orders-admin.internal in namespace "internal").
    assert_eq!(shape(&get("orders-admin")), json!([null, [9000, 9000, "admin"], "orders-admin.internal"]));
    // Cloud Map's per-task records: a headless Service named after the service.
    assert_eq!(shape(&get("orders")), json!(["None", [8080, 8080, "http"], "orders"]));

    // The alias's Service has the service's ready tasks as endpoints; the status (written
    // by the pass that applied the Services, long before the tasks are ready) lists them.
    let tasks = wait_endpoints_match_ready_tasks(&ns.name, "orders", "orders-api", 2).await;
    wait_for_service_status(&ns.name, "orders", "{range .status.kubernetesServices[*]}{.name}={.dnsName}:{.port}>{.containerPort}/{.type} {end}",
        "orders=orders:8080>8080/Headless orders-api=orders-api:80>8080/ClusterIP orders-admin=orders-admin.internal:9000>9000/ClusterIP", TIMEOUT).await;
    let slices = Api::<EndpointSlice>::namespaced(client().await, &ns.name);
    wait_for(slices, slices_of("orders"), TIMEOUT, &format!("the registry's endpoints to be {tasks:?}"), |s| endpoints(s).0 == tasks).await;

    // Service Connect off: its Services go, the registry stays.
    let patch = json!({"spec": {"serviceConnectConfiguration": {"enabled": false}}});
    plane().kubectl().run(&["patch", "-n", &ns.name, "ecssvc/orders", "--type=merge", "-p", &patch.to_string()]).unwrap();
    wait_for(services.clone(), watcher::Config::default(), TIMEOUT, "only Service orders", |s| s.len() == 1 && s[0].name_any() == "orders").await;

    // Deleting the Berth Service garbage-collects its Services.
    plane().kubectl().run(&["delete", "-n", &ns.name, "ecssvc/orders", "--wait=false"]).unwrap();
    wait_for(services, watcher::Config::default(), TIMEOUT, "no Services left", |s| s.is_empty()).await;
}

#[tokio::test]
async fn a_load_balancer_on_a_port_the_task_lacks_gets_a_warning_and_no_service() {
    operator();
    let ns = TestNamespace::create("net-bad-lb");
    apply(&ns.name, &web("web", "web:1"));
    apply(&ns.name, &json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"taskDefinition": "web", "desiredCount": 1,
            "loadBalancers": [{"loadBalancerName": "front", "containerName": "web", "containerPort": 7777}]}}));
    // The task runs all the same.
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"TrafficRouted\")].reason} {.status.runningCount}", "InvalidLoadBalancer 1", TIMEOUT).await;
    let message = "(service web) (load-balancer front): container web has no portMappings entry for containerPort 7777; no Kubernetes Service is created for it";
    assert_eq!(service_field(&ns.name, "web", "{.status.conditions[?(@.type==\"TrafficRouted\")].message}").await, message);
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l == format!("Warning InvalidLoadBalancer {message}")), "{log}");
    let services = plane().kubectl().run(&["get", "services", "-n", &ns.name, "-o", "name"]).unwrap();
    assert_eq!(services.trim(), "");
}
