//! The Helm chart (charts/berth): it lints, its output is accepted by a real
//! API server, it installs, upgrades and uninstalls without leaving objects
//! behind, and its ServiceAccount can do exactly what berth-operator needs
//! (operator/src/controller) and not more.
use berth_tests::fixture::{TestNamespace, install_crds, plane, repo_root, unique_suffix};
use berth_tests::kubectl::Kubectl;

const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

fn chart() -> String {
    repo_root().join("charts/berth").display().to_string()
}

fn ci_values(file: &str) -> String {
    repo_root().join("charts/berth/ci").join(file).display().to_string()
}

/// A release name no other test (or test process) on this plane uses: the
/// chart's ClusterRoles are named after it.
fn release() -> String {
    format!("berth-{}", unique_suffix())
}

/// `kubectl auth can-i VERB RESOURCE...` as the release's ServiceAccount.
fn can_i(kubectl: &Kubectl, service_account: &str, sa_namespace: &str, args: &[&str]) -> bool {
    let user = format!("--as=system:serviceaccount:{sa_namespace}:{service_account}");
    let question: Vec<&str> = ["auth", "can-i"].into_iter().chain(args.iter().copied()).chain([user.as_str()]).collect();
    let out = kubectl.output("kubectl", &question, None).unwrap_or_else(|e| panic!("{e:#}"));
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!("kubectl auth can-i {}: {other} {}", args.join(" "), String::from_utf8_lossy(&out.stderr)),
    }
}

/// One `kubectl auth can-i` question: verb, resource, extra arguments (`-n NS`).
type Check = (&'static str, String, Vec<String>);

/// The checks whose answer is not `expected`, for the failure message.
fn failing(kubectl: &Kubectl, sa: &str, sa_ns: &str, checks: &[Check], expected: bool) -> Vec<String> {
    checks
        .iter()
        .filter(|(verb, resource, extra)| {
            let args: Vec<&str> = [*verb, resource.as_str()].into_iter().chain(extra.iter().map(String::as_str)).collect();
            can_i(kubectl, sa, sa_ns, &args) != expected
        })
        .map(|(verb, resource, extra)| format!("{verb} {resource} {}", extra.join(" ")))
        .collect()
}

fn check_allowed(kubectl: &Kubectl, sa: &str, sa_ns: &str, checks: &[Check]) {
    let denied = failing(kubectl, sa, sa_ns, checks, true);
    assert!(denied.is_empty(), "the operator's ServiceAccount lacks: {denied:#?}");
}

fn check_denied(kubectl: &Kubectl, sa: &str, sa_ns: &str, checks: &[Check]) {
    let allowed = failing(kubectl, sa, sa_ns, checks, false);
    assert!(allowed.is_empty(), "the operator's ServiceAccount may do more than it needs: {allowed:#?}");
}

/// Everything the operator does in the namespace it watches.
fn namespaced_needs(ns: &str) -> Vec<Check> {
    let mut needs = Vec::new();
    let n = || vec!["-n".to_string(), ns.to_string()];
    for kind in ["taskdefinitions.berth.dev", "services.berth.dev", "taskruns.berth.dev", "taskschedules.berth.dev"] {
        for verb in ["get", "list", "watch"] {
            needs.push((verb, kind.to_string(), n()));
        }
        needs.push(("patch", kind.to_string(), [n(), vec!["--subresource=status".into()]].concat()));
    }
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        needs.push((verb, "pods".to_string(), n()));
    }
    for (verb, kind) in [("create", "taskruns.berth.dev"), ("delete", "taskruns.berth.dev"), ("delete", "taskschedules.berth.dev")] {
        needs.push((verb, kind.to_string(), n()));
    }
    for verb in ["get", "list", "watch", "create"] {
        needs.push((verb, "controllerrevisions.apps".to_string(), n()));
    }
    for verb in ["list", "watch", "create", "patch", "delete"] {
        needs.push((verb, "services".to_string(), n()));
    }
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        needs.push((verb, "serviceaccounts".to_string(), n()));
    }
    for verb in ["list", "watch"] {
        needs.push((verb, "endpointslices.discovery.k8s.io".to_string(), n()));
    }
    for verb in ["create", "patch"] {
        needs.push((verb, "events.events.k8s.io".to_string(), n()));
    }
    needs
}

/// Everything the operator reads at cluster scope (in both modes), and the
/// CapacityProviders' status it writes.
fn cluster_needs() -> Vec<Check> {
    let mut needs = vec![("patch", "capacityproviders.berth.dev".to_string(), vec!["--subresource=status".to_string()])];
    for verb in ["get", "list", "watch"] {
        needs.push((verb, "nodes".to_string(), vec![]));
        needs.push((verb, "capacityproviders.berth.dev".to_string(), vec![]));
    }
    for crd in ["taskdefinitions.berth.dev", "services.berth.dev", "taskruns.berth.dev", "taskschedules.berth.dev", "capacityproviders.berth.dev"] {
        needs.push(("get", format!("customresourcedefinitions.apiextensions.k8s.io/{crd}"), vec![]));
    }
    needs
}

/// What the operator must never be able to do, wherever it runs.
fn never(ns: &str) -> Vec<Check> {
    let n = || vec!["-n".to_string(), ns.to_string()];
    vec![
        ("get", "secrets".into(), n()),
        ("list", "secrets".into(), n()),
        ("get", "secrets".into(), vec!["-A".into()]),
        ("delete", "nodes".into(), vec![]),
        ("patch", "nodes".into(), vec![]),
        ("create", "customresourcedefinitions.apiextensions.k8s.io".into(), vec![]),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io/services.berth.dev".into(), vec![]),
        ("get", "customresourcedefinitions.apiextensions.k8s.io/other.example.com".into(), vec![]),
        ("list", "customresourcedefinitions.apiextensions.k8s.io".into(), vec![]),
        ("update", "services.berth.dev".into(), n()),
        ("create", "taskdefinitions.berth.dev".into(), n()),
        ("update", "pods".into(), n()),
        ("update", "services".into(), n()),
        ("delete", "endpointslices.discovery.k8s.io".into(), n()),
        ("create", "capacityproviders.berth.dev".into(), vec![]),
        ("update", "controllerrevisions.apps".into(), n()),
        ("create", "deployments.apps".into(), n()),
        ("create", "clusterroles.rbac.authorization.k8s.io".into(), vec![]),
        ("create", "rolebindings.rbac.authorization.k8s.io".into(), n()),
        ("create", "serviceaccounts".into(), [n(), vec!["--subresource=token".into()]].concat()),
    ]
}

/// Every kind the chart creates (and the ReplicaSets and pods its Deployment
/// makes), listed by the release's instance label; cluster-scoped kinds
/// included. The ServiceMonitor is left out: its CRD is not on the plane.
fn release_objects(kubectl: &Kubectl, release: &str) -> Vec<String> {
    let selector = format!("{INSTANCE_LABEL}={release}");
    let namespaced = "deployments.apps,replicasets.apps,pods,serviceaccounts,services,roles.rbac.authorization.k8s.io,\
                      rolebindings.rbac.authorization.k8s.io,poddisruptionbudgets.policy";
    let cluster = "clusterroles.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io,capacityproviders.berth.dev";
    let mut objects = Vec::new();
    for out in [
        kubectl.run(&["get", namespaced, "-A", "-l", &selector, "-o", "name"]).expect("listing namespaced objects"),
        kubectl.run(&["get", cluster, "-l", &selector, "-o", "name"]).expect("listing cluster-scoped objects"),
    ] {
        objects.extend(out.lines().filter(|l| !l.is_empty()).map(str::to_string));
    }
    objects.sort();
    objects
}

fn uninstall_leaves_nothing(kubectl: &Kubectl, release: &str, ns: &str) {
    // The listing sees the release's objects while it is installed, so an
    // empty listing afterwards means something.
    let before = release_objects(kubectl, release);
    for kind in ["deployment.apps/", "serviceaccount/", "service/", "clusterrole.rbac.authorization.k8s.io/",
        "clusterrolebinding.rbac.authorization.k8s.io/", "rolebinding.rbac.authorization.k8s.io/"] {
        assert!(before.iter().any(|o| o.starts_with(kind)), "no {kind} of {release} listed: {before:#?}");
    }
    // Foreground cascade with --wait: helm returns once the Deployment is gone,
    // and so its ReplicaSets and pods before it.
    kubectl.helm(&["uninstall", release, "-n", ns, "--wait", "--cascade", "foreground", "--timeout", "120s"]).unwrap();
    let left = release_objects(kubectl, release);
    assert!(left.is_empty(), "helm uninstall left objects of {release}: {left:#?}");
    // The API itself stays: Helm never deletes crds/.
    kubectl.run(&["get", "crd", "services.berth.dev", "capacityproviders.berth.dev"]).expect("CRDs survive uninstall");
}

#[test]
fn lint_passes_for_default_namespace_mode_and_capacity_provider_values() {
    let kubectl = plane().kubectl();
    let chart = chart();
    for extra in [
        vec![],
        vec!["-f".to_string(), ci_values("namespace-mode-values.yaml")],
        vec!["--set".to_string(), "namespaceMode.enabled=true,namespaceMode.namespace=team-a".to_string()],
        vec!["-f".to_string(), ci_values("capacity-providers-values.yaml")],
        vec!["--set".to_string(), "capacityProviders.createDefaults=true".to_string()],
        vec!["--set".to_string(), "leaderElection.enabled=false,metrics.serviceMonitor.enabled=true".to_string()],
    ] {
        let args: Vec<&str> = ["lint", "--strict", chart.as_str()].into_iter().chain(extra.iter().map(String::as_str)).collect();
        kubectl.helm(&args).unwrap_or_else(|e| panic!("{e:#}"));
    }
}

#[test]
fn values_schema_rejects_unknown_keys_and_replicas_without_leader_election() {
    let kubectl = plane().kubectl();
    let chart = chart();
    let unknown = kubectl.helm(&["template", "r", &chart, "--set", "replicas=2"]).unwrap_err();
    assert!(format!("{unknown:#}").contains("additional properties"), "{unknown:#}");
    let format = kubectl.helm(&["template", "r", &chart, "--set", "logFormat=xml"]).unwrap_err();
    assert!(format!("{format:#}").contains("logFormat"), "{format:#}");
    let two = kubectl.helm(&["template", "r", &chart, "--set", "replicaCount=2,leaderElection.enabled=false"]).unwrap_err();
    assert!(format!("{two:#}").contains("leaderElection.enabled"), "{two:#}");
    let qps = kubectl.helm(&["template", "r", &chart, "--set", "kubeApi.qps=0"]).unwrap_err();
    assert!(format!("{qps:#}").contains("kubeApi/qps"), "{qps:#}");
    let limits = kubectl.helm(&["template", "r", &chart, "--set", "kubeApi.qps=75,kubeApi.burst=150"]).unwrap();
    assert!(limits.contains("- --kube-api-qps\n            - \"75\"\n            - --kube-api-burst\n            - \"150\""), "{limits}");
    // Highly available by default: two replicas on a Lease, kept by a PDB.
    let ha = kubectl.helm(&["template", "r", &chart]).unwrap();
    assert!(ha.contains("replicas: 2") && ha.contains("kind: PodDisruptionBudget") && ha.contains("BERTH_LEADER_ELECTION_LEASE"), "{ha}");
}

#[test]
fn rendered_manifests_pass_server_side_dry_run() {
    install_crds();
    let kubectl = plane().kubectl();
    let ns = TestNamespace::create("helm-dry");
    let watched = TestNamespace::create("helm-dry-watched");
    let chart = chart();
    let namespace_mode = format!("namespaceMode.enabled=true,namespaceMode.namespace={}", watched.name);
    let value_sets: [Vec<String>; 4] = [
        vec![],
        vec!["-f".into(), ci_values("namespace-mode-values.yaml")],
        vec!["--set".into(), namespace_mode],
        vec!["--set".into(), "leaderElection.enabled=false".into(), "-f".into(), ci_values("capacity-providers-values.yaml")],
    ];
    for values in value_sets {
        let release = release();
        let mut args = vec!["template", release.as_str(), chart.as_str(), "-n", ns.name.as_str()];
        args.extend(values.iter().map(String::as_str));
        let manifests = kubectl.helm(&args).unwrap_or_else(|e| panic!("{e:#}"));
        let applied = kubectl
            .run_with_input(&["apply", "--dry-run=server", "--validate=strict", "-f", "-"], &manifests)
            .unwrap_or_else(|e| panic!("values {values:?}: {e:#}"));
        for kind in ["deployment.apps", "serviceaccount", "clusterrole.rbac", "clusterrolebinding.rbac", "service/"] {
            assert!(applied.contains(kind), "values {values:?}: no {kind} in {applied}");
        }
    }
}

#[test]
fn install_upgrade_uninstall_in_cluster_mode_with_least_privilege() {
    install_crds();
    let kubectl = plane().kubectl();
    let ns = TestNamespace::create("helm-cluster");
    let release = release();
    let chart = chart();
    let installed = kubectl.helm(&["install", &release, &chart, "-n", &ns.name, "--set", "leaderElection.enabled=false"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(installed.contains("kubectl get ecs -A"), "NOTES: {installed}");
    let sa = release.clone(); // the release name contains "berth", so it is the full name
    kubectl.run(&["get", "deployment", &release, "-n", &ns.name]).unwrap();

    // Cluster mode: every namespace, including one created after install.
    let other = TestNamespace::create("helm-cluster-other");
    for watched in [ns.name.as_str(), other.name.as_str()] {
        check_allowed(&kubectl, &sa, &ns.name, &namespaced_needs(watched));
    }
    check_allowed(&kubectl, &sa, &ns.name, &cluster_needs());
    check_denied(&kubectl, &sa, &ns.name, &never(&ns.name));
    // No leader election: no Lease access either.
    check_denied(&kubectl, &sa, &ns.name, &[("create", "leases.coordination.k8s.io".into(), vec!["-n".into(), ns.name.clone()])]);

    // Upgrade with changed values: leader election back to its default (2
    // replicas, PDB, Lease Role), the default CapacityProviders, text logs.
    kubectl
        .helm(&["upgrade", &release, &chart, "-n", &ns.name, "--set", "logFormat=text",
            "-f", &ci_values("capacity-providers-values.yaml")])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let replicas = kubectl.run(&["get", "deployment", &release, "-n", &ns.name, "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].args}"]).unwrap();
    assert!(replicas.starts_with("2 ") && replicas.contains("\"text\""), "{replicas}");
    kubectl.run(&["get", "pdb", &release, "-n", &ns.name]).unwrap();
    let ec2 = kubectl.run(&["get", "capacityprovider", "ec2", "-o", "jsonpath={.spec.type} {.spec.nodeSelector}"]).unwrap();
    assert!(ec2.starts_with("EC2 ") && ec2.contains("berth.dev/capacity"), "{ec2}");
    let fargate = kubectl.run(&["get", "capacityprovider", "fargate", "-o", "jsonpath={.spec.type} {.spec.tolerations[0].key}"]).unwrap();
    assert_eq!(fargate, "FARGATE berth.dev/fargate");
    let lease = format!("{release}-leader");
    let n = || vec!["-n".to_string(), ns.name.clone()];
    check_allowed(&kubectl, &sa, &ns.name, &[
        ("create", "leases.coordination.k8s.io".into(), n()),
        ("get", format!("leases.coordination.k8s.io/{lease}"), n()),
        ("update", format!("leases.coordination.k8s.io/{lease}"), n()),
        ("watch", format!("leases.coordination.k8s.io/{lease}"), n()),
    ]);
    check_denied(&kubectl, &sa, &ns.name, &[
        ("get", "leases.coordination.k8s.io/someone-else".into(), n()),
        ("delete", format!("leases.coordination.k8s.io/{lease}"), n()),
        ("patch", format!("leases.coordination.k8s.io/{lease}"), n()),
        ("list", "leases.coordination.k8s.io".into(), n()),
        ("create", "leases.coordination.k8s.io".into(), vec!["-n".into(), "kube-system".into()]),
    ]);

    uninstall_leaves_nothing(&kubectl, &release, &ns.name);
}

#[test]
fn namespace_mode_confines_the_operator_to_its_namespace() {
    install_crds();
    let kubectl = plane().kubectl();
    let ns = TestNamespace::create("helm-nsmode");
    let watched = TestNamespace::create("helm-nsmode-watched");
    let elsewhere = TestNamespace::create("helm-nsmode-other");
    let release = release();
    let chart = chart();
    let values = format!("namespaceMode.enabled=true,namespaceMode.namespace={}", watched.name);
    kubectl.helm(&["install", &release, &chart, "-n", &ns.name, "--set", &values]).unwrap_or_else(|e| panic!("{e:#}"));
    let args = kubectl.run(&["get", "deployment", &release, "-n", &ns.name, "-o", "jsonpath={.spec.template.spec.containers[0].args}"]).unwrap();
    assert!(args.contains(&format!("\"--namespace\",\"{}\"", watched.name)), "{args}");
    let sa = release.clone();

    check_allowed(&kubectl, &sa, &ns.name, &namespaced_needs(&watched.name));
    // Nodes, CapacityProviders and Berth's CRDs are cluster-scoped: the small
    // ClusterRole grants them.
    check_allowed(&kubectl, &sa, &ns.name, &cluster_needs());
    check_denied(&kubectl, &sa, &ns.name, &never(&watched.name));
    // Nothing namespaced outside the watched namespace, not even the release's own.
    for outside in [elsewhere.name.as_str(), ns.name.as_str(), "default"] {
        check_denied(&kubectl, &sa, &ns.name, &namespaced_needs(outside));
    }
    check_denied(&kubectl, &sa, &ns.name, &[
        ("list", "pods".into(), vec!["-A".into()]),
        ("list", "services.berth.dev".into(), vec!["-A".into()]),
        ("create", "events.events.k8s.io".into(), vec!["-n".into(), "default".into()]),
    ]);

    // An upgrade that switches the watched namespace moves the Role.
    kubectl
        .helm(&["upgrade", &release, &chart, "-n", &ns.name, "--reuse-values", "--set", &format!("namespaceMode.namespace={}", elsewhere.name)])
        .unwrap_or_else(|e| panic!("{e:#}"));
    check_allowed(&kubectl, &sa, &ns.name, &namespaced_needs(&elsewhere.name));
    check_denied(&kubectl, &sa, &ns.name, &namespaced_needs(&watched.name));

    uninstall_leaves_nothing(&kubectl, &release, &ns.name);
}
