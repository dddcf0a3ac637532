//! GitOps against the plane: a real Argo CD (redis, repo-server and
//! application controller as child processes on 127.0.0.1), git repositories
//! on disk that tests commit to, Applications and their status, and an
//! external metric for autoscaling tests.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::argocd::HealthStatus;
use crate::fixture::{TestNamespace, client, http_get, plane, repo_root, unique_suffix};
use crate::kubectl::Kubectl;
use crate::plane::binaries::ensure_argocd;
use crate::plane::{Proc, free_ports};
use crate::tasks::named;

/// How often the controller compares every Application with git and the
/// cluster. Its default (120 s plus up to 60 s of jitter) would leave a status
/// change that keeps the health status (only the message changes) unseen for
/// minutes: the stock argocd-cm ignores updates of `/status` alone.
const APP_RESYNC_SECONDS: &str = "5";
/// How long each Argo CD process may take to answer /healthz.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One Argo CD against the plane, in a namespace of its own.
pub struct ArgoCd {
    /// The folder `build-binaries.sh argocd` made: the binary, its CRDs and config maps.
    pub dir: PathBuf,
    /// The namespace of its config maps, AppProject and Applications.
    pub namespace: String,
    /// Its processes' logs (kept after the run, like the operators').
    pub logs: PathBuf,
    procs: Vec<Proc>,
    state: PathBuf,
}

impl ArgoCd {
    /// Installs Argo CD's CRDs and configuration in a new namespace (Berth's
    /// health checks added as the README tells users) and starts redis, the
    /// repo-server and the application controller.
    fn start(kubectl: &Kubectl, kubeconfig: &Path) -> Result<ArgoCd> {
        let dir = ensure_argocd()?;
        let redis = which("redis-server").context("redis-server is not on PATH (Debian: apt-get install redis-server; .ci/run installs it)")?;
        let suffix = unique_suffix();
        let namespace = format!("argocd-{suffix}");
        install(kubectl, &dir, &namespace)?;

        let state = std::env::temp_dir().join(format!("berth-argocd-{}-{suffix}", std::process::id()));
        let logs = repo_root().join("target/argocd-logs").join(&namespace);
        for sub in ["tmp", "tls", "ssh"] {
            std::fs::create_dir_all(state.join(sub))?;
        }
        std::fs::create_dir_all(&logs)?;
        let mut argocd = ArgoCd { dir: dir.clone(), namespace, logs, procs: vec![], state };
        let [redis_port, repo_port, repo_metrics_port, controller_metrics_port] = free_ports()?;
        let redis_addr = format!("127.0.0.1:{redis_port}");
        argocd.spawn("redis", &redis, &["--bind", "127.0.0.1", "--port", &redis_port.to_string(), "--save", "", "--appendonly", "no"], &[])?;
        argocd.wait_until("redis", || std::net::TcpStream::connect(&redis_addr).is_ok())?;

        let binary = dir.join("argocd");
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
        let state = argocd.state.clone();
        let data = |sub: &str| state.join(sub).display().to_string();
        // The repo-server runs git and git-verify-wrapper.sh (from PATH); its
        // askpass socket and checkouts default to fixed places under /tmp, so
        // each instance gets its own.
        let repo_env = [
            ("ARGOCD_BINARY_NAME", "argocd-repo-server".to_string()), ("PATH", path),
            ("TMPDIR", data("tmp")), ("ARGOCD_ASK_PASS_SOCK", format!("{}/askpass.sock", data("tmp"))),
            ("ARGOCD_GPG_ENABLED", "false".into()), ("ARGOCD_TLS_DATA_PATH", data("tls")), ("ARGOCD_SSH_DATA_PATH", data("ssh")),
        ];
        argocd.spawn("repo-server", &binary, &[
            "--address", "127.0.0.1", "--port", &repo_port.to_string(),
            "--metrics-address", "127.0.0.1", "--metrics-port", &repo_metrics_port.to_string(),
            "--redis", &redis_addr, "--disable-tls", "--client-ca-path=", "--logformat", "text",
            // How long a branch's resolved commit is cached (default 3 min): a
            // push is seen at the next comparison, as a git webhook would make it.
            "--revision-cache-expiration", "1s",
        ], &repo_env)?;
        // The in-cluster destination (https://kubernetes.default.svc) is the
        // plane through ARGOCD_FAKE_IN_CLUSTER and KUBECONFIG (one file).
        let controller_env = [
            ("ARGOCD_BINARY_NAME", "argocd-application-controller".to_string()), ("ARGOCD_FAKE_IN_CLUSTER", "true".into()),
            ("KUBECONFIG", kubeconfig.display().to_string()), ("ARGOCD_TLS_DATA_PATH", data("tls")), ("ARGOCD_SSH_DATA_PATH", data("ssh")),
        ];
        let namespace = argocd.namespace.clone();
        argocd.spawn("application-controller", &binary, &[
            "--kubeconfig", &kubeconfig.display().to_string(), "--namespace", &namespace,
            "--redis", &redis_addr, "--repo-server", &format!("127.0.0.1:{repo_port}"), "--repo-server-plaintext",
            "--metrics-port", &controller_metrics_port.to_string(),
            "--app-resync", APP_RESYNC_SECONDS, "--app-resync-jitter", "0",
            // Each resource's health in the Application's status, for the tests to read.
            "--persist-resource-health", "--logformat", "text",
        ], &controller_env)?;
        for (name, port) in [("repo-server", repo_metrics_port), ("application-controller", controller_metrics_port)] {
            let addr = format!("127.0.0.1:{port}");
            argocd.wait_until(name, || std::net::TcpStream::connect(&addr).is_ok() && http_get(&addr, "/healthz").0 == 200)?;
        }
        Ok(argocd)
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[&str], env: &[(&str, String)]) -> Result<()> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.procs.push(Proc::spawn_with_env(name, program, &args, env, &self.logs)?);
        Ok(())
    }

    /// Polls `ready` until it holds, failing at once if a process exited.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready() {
            for p in &mut self.procs {
                if let Some(status) = p.exited() {
                    bail!("Argo CD's {} exited ({status}) before {what} was ready; see {}", p.name, self.logs.display());
                }
            }
            ensure!(Instant::now() < deadline, "{what} not ready after {START_TIMEOUT:?}; logs in {}", self.logs.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// `argocd admin settings resource-overrides health OBJECT --argocd-cm-path
    /// CM`: Argo CD's own Lua runtime and settings parser on one object, no cluster.
    pub fn offline_health(argocd_dir: &Path, object: &Path, argocd_cm: &Path) -> Result<HealthStatus> {
        let out = Command::new(argocd_dir.join("argocd"))
            .args(["admin", "settings", "resource-overrides", "health"])
            .arg(object)
            .arg("--argocd-cm-path")
            .arg(argocd_cm)
            .output()
            .context("running argocd admin")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success(), "argocd admin failed ({}): {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
        let line = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string());
        Ok(HealthStatus {
            status: line("STATUS:").with_context(|| format!("no STATUS in {stdout:?}"))?,
            message: line("MESSAGE:").unwrap_or_default(),
        })
    }
}

impl Drop for ArgoCd {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// What a user does before the first Application: Argo CD's CRDs, its
/// argocd-cm and argocd-secret, Berth's health checks patched into argocd-cm
/// (deploy/argocd/README.md), and the `default` AppProject (argocd-server
/// would create it; this Argo CD runs without one).
fn install(kubectl: &Kubectl, dir: &Path, namespace: &str) -> Result<()> {
    let crds = dir.join("crds").display().to_string();
    kubectl.run(&["apply", "--server-side", "--force-conflicts", "-f", &crds])?;
    wait_established(kubectl, &["-f", &crds])?;
    kubectl.run(&["create", "namespace", namespace])?;
    let config = dir.join("config").display().to_string();
    kubectl.run(&["apply", "-n", namespace, "-f", &config])?;
    let patch = repo_root().join("deploy/argocd/argocd-cm-patch.yaml").display().to_string();
    kubectl.run(&["-n", namespace, "patch", "configmap", "argocd-cm", "--patch-file", &patch])?;
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "default", "namespace": namespace},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}], "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
    });
    kubectl.run_with_input(&["apply", "-f", "-"], &project.to_string())?;
    Ok(())
}

/// `kubectl wait --for=condition=Established` on CRDs just created, which
/// fails outright while a CRD has no conditions yet.
/// `objects` as kubectl names them (`-f DIR`, `crd/NAME`).
fn wait_established(kubectl: &Kubectl, objects: &[&str]) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let args = [&["wait", "--for=condition=Established", "--timeout=60s"], objects].concat();
    loop {
        match kubectl.run(&args) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())
}

/// The Argo CD shared by every test of this process, started once from a
/// thread that lives as long as the process (its children die with it).
pub fn argocd() -> &'static ArgoCd {
    static ARGOCD: OnceLock<ArgoCd> = OnceLock::new();
    static STARTED: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    // A test that failed to start it leaves the lock poisoned; the next tries again.
    let _once = STARTED.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(argocd) = ARGOCD.get() {
        return argocd;
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let plane = plane();
        match ArgoCd::start(&plane.kubectl(), &plane.kubeconfig) {
            Ok(argocd) => {
                let _ = ARGOCD.set(argocd);
                let _ = tx.send(Ok(()));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("{e:#}")));
            }
        }
    });
    rx.recv().expect("Argo CD thread").unwrap_or_else(|e| panic!("starting Argo CD: {e}"));
    ARGOCD.get().expect("Argo CD started")
}

/// A bare git repository on disk (what Argo CD pulls, `file://`) and a clone
/// the test commits in and pushes from; both removed when dropped.
pub struct GitRepo {
    root: PathBuf,
}

impl GitRepo {
    pub fn create(name: &str) -> GitRepo {
        let root = std::env::temp_dir().join(format!("berth-git-{name}-{}", unique_suffix()));
        std::fs::create_dir_all(&root).expect("creating the repository folder");
        let repo = GitRepo { root };
        repo.git_in(&repo.root, &["init", "--quiet", "--bare", "-b", "main", "remote.git"]);
        repo.git_in(&repo.root, &["clone", "--quiet", "remote.git", "work"]);
        repo.git(&["checkout", "--quiet", "-b", "main"]);
        repo
    }

    /// The URL an Application's `repoURL` takes.
    pub fn url(&self) -> String {
        format!("file://{}", self.root.join("remote.git").display())
    }

    /// Writes `contents` to `path` (relative to the repository's top) in the clone.
    pub fn write(&self, path: &str, contents: &str) {
        let file = self.work().join(path);
        std::fs::create_dir_all(file.parent().expect("a file in a folder")).expect("creating folders");
        std::fs::write(&file, contents).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }

    /// Writes a list of Kubernetes objects as one YAML stream.
    pub fn write_objects(&self, path: &str, objects: &[Value]) {
        self.write(path, &yaml_stream(objects));
    }

    pub fn remove(&self, path: &str) {
        self.git(&["rm", "--quiet", path]);
    }

    /// Commits everything in the clone and pushes it; the new commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["push", "--quiet", "origin", "main"]);
        self.head()
    }

    /// `git revert` of the last commit, pushed; the new commit's SHA.
    pub fn revert_last(&self) -> String {
        self.git(&["revert", "--no-edit", "HEAD"]);
        self.git(&["push", "--quiet", "origin", "main"]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.work(), args)
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Berth tests", "-c", "user.email=tests@berth.invalid", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("running git");
        assert!(out.status.success(), "git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for GitRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Kubernetes objects as one YAML stream (of JSON documents, which are YAML).
pub fn yaml_stream(objects: &[Value]) -> String {
    let docs: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
    docs.join("\n---\n") + "\n"
}

/// What each GitOps test starts from: the shared operator, a namespace, a git
/// repository whose first commit holds `files` under `app/`, and an
/// Application of that folder, Synced and Healthy at that commit. Dropped in
/// field order: the Application first, so Argo CD stops before the namespace
/// goes (a test that takes it apart binds `ns` first and `app` last, as
/// bindings drop in reverse).
pub struct GitOpsCase {
    pub app: Application,
    pub repo: GitRepo,
    pub ns: TestNamespace,
    /// The first commit.
    pub revision: String,
}

impl GitOpsCase {
    /// `files`: (path under `app/`, contents); `extra_spec` as in `Application::create`.
    pub async fn start(prefix: &str, files: &[(&str, String)], extra_spec: Value, timeout: Duration) -> GitOpsCase {
        GitOpsCase::start_with(prefix, files, extra_spec, timeout, |_| {}).await
    }

    /// `start`, running `prepare` on the new namespace before the Application exists.
    pub async fn start_with(prefix: &str, files: &[(&str, String)], extra_spec: Value, timeout: Duration, prepare: impl FnOnce(&str)) -> GitOpsCase {
        crate::fixture::operator();
        let ns = TestNamespace::create(&format!("gitops-{prefix}"));
        prepare(&ns.name);
        let repo = GitRepo::create(prefix);
        for (path, contents) in files {
            repo.write(&format!("app/{path}"), contents);
        }
        let revision = repo.commit(&format!("{prefix}: the first commit"));
        let app = Application::create(&format!("{prefix}-{}", unique_suffix()), &repo, "app", &ns.name, extra_spec);
        app.wait_synced_healthy(&revision, timeout).await;
        GitOpsCase { app, repo, ns, revision }
    }
}

/// An Argo CD Application, deleted (not its resources: the test's namespace
/// takes those) when dropped, so Argo CD stops syncing into a namespace that
/// is going away.
pub struct Application {
    pub name: String,
    pub namespace: String,
    kubectl: Kubectl,
}

impl Application {
    /// An Application of `path` in `repo`'s main branch into namespace
    /// `destination`, synced automatically with prune and self-heal, plus
    /// whatever `extra_spec` sets (merged at the top of `spec`).
    pub fn create(name: &str, repo: &GitRepo, path: &str, destination: &str, extra_spec: Value) -> Application {
        let argocd = argocd();
        let mut spec = json!({
            "project": "default",
            "source": {"repoURL": repo.url(), "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
        });
        spec.as_object_mut().expect("an object").extend(extra_spec.as_object().cloned().unwrap_or_default());
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": argocd.namespace}, "spec": spec});
        let kubectl = plane().kubectl();
        kubectl.run_with_input(&["apply", "-f", "-"], &app.to_string()).unwrap_or_else(|e| panic!("creating Application {name}: {e:#}"));
        Application { name: name.to_string(), namespace: argocd.namespace.clone(), kubectl }
    }

    pub async fn api(&self) -> Api<DynamicObject> {
        applications(&self.namespace).await
    }

    /// Waits (on a watch) until the Application's status satisfies `done`;
    /// returns that status. Panics after `timeout`, with the last status seen.
    pub async fn wait(&self, timeout: Duration, what: &str, mut done: impl FnMut(&AppStatus) -> bool) -> AppStatus {
        let mut last = None;
        let what = format!("Application {}: {what}", self.name);
        let started = Instant::now();
        let found = crate::fixture::try_wait_for(self.api().await, named(&self.name), timeout, &what, |apps| {
            let status = apps.first().map(|a| AppStatus::of(a));
            let ok = status.as_ref().is_some_and(&mut done);
            last = status;
            ok
        })
        .await;
        match found {
            Ok(apps) => {
                eprintln!("{what}: after {:.1}s", started.elapsed().as_secs_f64());
                AppStatus::of(&apps[0])
            }
            Err(e) => panic!("{e}\nlast status: {last:#?}"),
        }
    }

    /// Waits until Argo CD has synced `revision` and the app is Synced and Healthy.
    pub async fn wait_synced_healthy(&self, revision: &str, timeout: Duration) -> AppStatus {
        self.wait(timeout, &format!("Synced and Healthy at {revision}"), |s| s.is_synced_to(revision) && s.health == "Healthy").await
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        let _ = self.kubectl.run(&["delete", "application", "-n", &self.namespace, &self.name, "--wait=false"]);
    }
}

pub async fn applications(namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    Api::namespaced_with(client().await, namespace, &ApiResource::from_gvk(&gvk))
}

/// What an Application's status says, as the tests read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppStatus {
    /// `.status.sync.status`: Synced, OutOfSync or Unknown.
    pub sync: String,
    /// The git commit the sync status is for.
    pub revision: String,
    /// `.status.health.status`: Healthy, Progressing, Degraded, Missing, ...
    pub health: String,
    /// When the controller last compared the app with git and the cluster.
    pub reconciled_at: String,
    /// The last sync operation's phase (Running, Succeeded, Failed, ...).
    pub operation_phase: String,
    pub resources: Vec<ResourceStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceStatus {
    pub kind: String,
    pub name: String,
    pub sync: String,
    pub health: String,
    pub message: String,
}

impl AppStatus {
    pub fn of(app: &DynamicObject) -> AppStatus {
        let status = &app.data["status"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        AppStatus {
            sync: text(&status["sync"]["status"]),
            revision: text(&status["sync"]["revision"]),
            health: text(&status["health"]["status"]),
            reconciled_at: text(&status["reconciledAt"]),
            operation_phase: text(&status["operationState"]["phase"]),
            resources: status["resources"].as_array().into_iter().flatten().map(|r| ResourceStatus {
                kind: text(&r["kind"]),
                name: text(&r["name"]),
                sync: text(&r["status"]),
                health: text(&r["health"]["status"]),
                message: text(&r["health"]["message"]),
            }).collect(),
        }
    }

    /// Argo CD compared the app with git and the cluster after `moment`.
    pub fn reconciled_after(&self, moment: Timestamp) -> bool {
        self.reconciled_at.parse::<Timestamp>().is_ok_and(|at| at > moment)
    }

    pub fn is_synced_to(&self, revision: &str) -> bool {
        self.sync == "Synced" && self.revision == revision
    }

    /// The status Argo CD shows for the resource `kind`/`name`.
    pub fn resource(&self, kind: &str, name: &str) -> Option<&ResourceStatus> {
        self.resources.iter().find(|r| r.kind == kind && r.name == name)
    }
}

/// Follows the Application for `duration` and returns every distinct status
/// it had (the first is the status at the start); for checks that something
/// held *throughout*, e.g. that it stayed Synced while an autoscaler worked.
pub struct AppHistory {
    stop: tokio::sync::oneshot::Sender<()>,
    seen: tokio::task::JoinHandle<Vec<AppStatus>>,
}

impl AppHistory {
    pub async fn follow(app: &Application) -> AppHistory {
        let mut stream = watcher(app.api().await, named(&app.name)).boxed();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let seen = tokio::spawn(async move {
            let mut seen: Vec<AppStatus> = vec![];
            loop {
                tokio::select! {
                    _ = &mut stopped => return seen,
                    event = stream.next() => match event {
                        Some(Ok(watcher::Event::Apply(a) | watcher::Event::InitApply(a))) => {
                            let status = AppStatus::of(&a);
                            if seen.last() != Some(&status) {
                                seen.push(status);
                            }
                        }
                        Some(_) => {}
                        None => return seen,
                    },
                }
            }
        });
        AppHistory { stop, seen }
    }

    /// Stops following; every distinct status seen.
    pub async fn finish(self) -> Vec<AppStatus> {
        let _ = self.stop.send(());
        self.seen.await.expect("the Application watch task")
    }
}

/// Every status in `history` satisfied `check`, and Argo CD compared the app
/// at least `comparisons` times meanwhile (so the check saw live verdicts,
/// not one stale status).
pub fn assert_throughout(history: &[AppStatus], comparisons: usize, what: &str, check: impl Fn(&AppStatus) -> bool) {
    let bad: Vec<&AppStatus> = history.iter().filter(|s| !check(s)).collect();
    assert!(bad.is_empty(), "not {what} throughout: {bad:#?}");
    let mut times: Vec<&str> = history.iter().map(|s| s.reconciled_at.as_str()).collect();
    times.dedup();
    assert!(times.len() >= comparisons, "Argo CD compared the app only {} times ({times:?}); expected at least {comparisons}", times.len());
}

/// Installs (once per process) an external metric `name` for the
/// HorizontalPodAutoscaler controller: a CustomResourceDefinition in the
/// group `external.metrics.k8s.io` whose objects have the shape of
/// `ExternalMetricValue`, so the API server itself serves
/// `/apis/external.metrics.k8s.io/v1beta1/namespaces/NS/NAME?labelSelector=`
/// as an `ExternalMetricValueList`, which is what kube-controller-manager
/// reads. No metrics adapter or aggregation is needed; a test sets the value
/// with `set_external_metric`.
pub fn install_external_metric(name: &str) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{name}.external.metrics.k8s.io"),
                // Groups under k8s.io need this; "unapproved" is the allowed value for a non-upstream API.
                "annotations": {"api-approved.kubernetes.io": "unapproved, a test metric of Berth's end-to-end tests"}},
            "spec": {
                "group": "external.metrics.k8s.io", "scope": "Namespaced",
                "names": {"plural": name, "singular": name, "kind": "ExternalMetricValue", "listKind": "ExternalMetricValueList"},
                "versions": [{"name": "v1beta1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "metricName": {"type": "string"},
                        "metricLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "value": {"x-kubernetes-int-or-string": true},
                    },
                }}}],
            },
        });
        let kubectl = plane().kubectl();
        kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &crd.to_string()).expect("applying the external metric CRD");
        wait_established(&kubectl, &[&format!("crd/{name}.external.metrics.k8s.io")]).expect("the external metric CRD established");
    });
}

/// Sets the external metric `name` for `labels` in `ns` to `value`.
pub fn set_external_metric(ns: &str, name: &str, labels: &Value, value: u32) {
    let object_name = labels.as_object().into_iter().flatten().map(|(k, v)| format!("{k}-{}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join("-");
    let metric = json!({
        "apiVersion": "external.metrics.k8s.io/v1beta1", "kind": "ExternalMetricValue",
        "metadata": {"name": object_name, "namespace": ns, "labels": labels},
        "metricName": name, "metricLabels": labels, "value": value.to_string(),
        "timestamp": Timestamp::now().to_string(),
    });
    plane().kubectl().run_with_input(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &metric.to_string())
        .unwrap_or_else(|e| panic!("setting metric {name}: {e:#}"));
}

/// The `ec2` and `fargate` CapacityProviders the examples' launch types use,
/// deleted when dropped: they are cluster-scoped, and a later test (the Helm
/// chart's) creates its own of those names.
pub struct DefaultCapacityProviders;

impl DefaultCapacityProviders {
    pub fn install() -> DefaultCapacityProviders {
        crate::fixture::install_crds();
        plane().kubectl().run_with_input(&["apply", "--server-side", "-f", "-"], crate::demo::DEFAULT_CAPACITY_PROVIDERS)
            .expect("applying the default capacity providers");
        DefaultCapacityProviders
    }
}

impl Drop for DefaultCapacityProviders {
    fn drop(&mut self) {
        let _ = plane().kubectl().run(&["delete", "capacityprovider", "ec2", "fargate", "--ignore-not-found", "--wait=false"]);
    }
}

/// Who owns each top-level spec field of the objects of `resources` (e.g.
/// "services.berth.dev": qualified, as plain "services" are Kubernetes') in
/// `ns`, from their managedFields: ("services.berth.dev/web f:desiredCount",
/// manager), one entry per owner.
pub async fn spec_field_owners(ns: &str, resources: &[&str]) -> Vec<(String, String)> {
    let kubectl = plane().kubectl();
    let mut owners = vec![];
    for resource in resources {
        let json = kubectl.run_async(&["get", resource, "-n", ns, "-o", "json", "--show-managed-fields"]).await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let list: Value = serde_json::from_str(&json).expect("a JSON list");
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            for entry in item["metadata"]["managedFields"].as_array().into_iter().flatten() {
                let manager = entry["manager"].as_str().unwrap_or_default();
                for field in entry["fieldsV1"]["f:spec"].as_object().into_iter().flatten().map(|(k, _)| k) {
                    owners.push((format!("{resource}/{name} {field}"), manager.to_string()));
                }
            }
        }
    }
    owners
}

/// A HorizontalPodAutoscaler (autoscaling/v2) on the scale subresource of
/// Berth Service `service`: one task per `per_task` of the external metric
/// `metric` (labels `labels`), between `min` and `max` tasks. Scaling in
/// needs no 5-minute stabilization here, so a test sees it at once.
pub fn service_autoscaler(service: &str, metric: &str, labels: &Value, per_task: u32, (min, max): (u32, u32)) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": service},
        "spec": {
            "scaleTargetRef": {"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "name": service},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": metric, "selector": {"matchLabels": labels}},
                "target": {"type": "AverageValue", "averageValue": per_task.to_string()}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    })
}

/// The Application spec (merged into `Application::create`'s) that lets an
/// autoscaler own `desiredCount` of Berth Services: Argo CD ignores the
/// fields kube-controller-manager (the HPA controller) owns, in diffs and,
/// with RespectIgnoreDifferences, in syncs. The README's recipe.
pub fn autoscaled_services_spec() -> Value {
    json!({
        "ignoreDifferences": [{"group": "berth.dev", "kind": "Service", "managedFieldsManagers": ["kube-controller-manager"]}],
        "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["RespectIgnoreDifferences=true"]},
    })
}

/// Waits until the autoscaler has set Service `name`'s desiredCount to `count`.
pub async fn wait_autoscaled(ns: &str, name: &str, count: i32, timeout: Duration) {
    let services = Api::<berth::api::Service>::namespaced(client().await, ns);
    crate::fixture::wait_for(services, named(name), timeout, &format!("the autoscaler to set {name}'s desiredCount to {count}"), |s| {
        s.first().is_some_and(|s| s.spec.desired_count == Some(count))
    })
    .await;
}
