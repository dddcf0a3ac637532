//! What an end-to-end test needs: the run's shared control plane, a namespace
//! of its own, a client, and waits that follow watches (never sleeps).
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::kubectl::Kubectl;
use crate::objects::read_field;
use crate::plane::{Plane, PlaneConfig};
use crate::tasks::named;

/// The control plane of this test run.
pub struct SharedPlane {
    pub kubeconfig: PathBuf,
    pub bin_dir: PathBuf,
}

impl SharedPlane {
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.bin_dir, &self.kubeconfig)
    }

    /// The PID of the plane's process `name` (e.g. "kube-controller-manager"),
    /// from the `pids` file the plane keeps beside its kubeconfig.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        let pids = std::fs::read_to_string(self.kubeconfig.with_file_name("pids")).ok()?;
        pids.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

/// The plane `cargo plane test` started for the whole run (`BERTH_KUBECONFIG`
/// and `BERTH_BIN_DIR`), or else one started once for this test process. Its
/// processes die with the process (PR_SET_PDEATHSIG).
pub fn plane() -> &'static SharedPlane {
    PLANE.get_or_init(|| {
        if let (Ok(kubeconfig), Ok(bin_dir)) = (std::env::var("BERTH_KUBECONFIG"), std::env::var("BERTH_BIN_DIR")) {
            return SharedPlane { kubeconfig: kubeconfig.into(), bin_dir: bin_dir.into() };
        }
        // A thread that lives as long as the process keeps the plane (and so the
        // parent of its processes) alive.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || match Plane::start(&PlaneConfig::default()) {
            Ok(plane) => {
                let _ = tx.send(Ok(SharedPlane { kubeconfig: plane.kubeconfig.clone(), bin_dir: plane.bin_dir.clone() }));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("{e:#}")));
            }
        });
        rx.recv().expect("plane thread").unwrap_or_else(|e| panic!("starting the local control plane: {e}"))
    })
}

/// Makes `plane` the run's plane (for `cargo plane bench`, which starts its
/// own); must come before anything calls `plane()`.
pub fn adopt_plane(plane: SharedPlane) -> anyhow::Result<()> {
    PLANE.set(plane).map_err(|_| anyhow::anyhow!("a plane is already in use"))
}

static PLANE: OnceLock<SharedPlane> = OnceLock::new();

pub async fn client() -> Client {
    client_for(&plane().kubeconfig).await
}

/// A client of the plane whose admin kubeconfig is `kubeconfig` (a test's own plane).
pub async fn client_for(kubeconfig: &std::path::Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("reading kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// A namespace for one test, deleted (without waiting) when dropped.
pub struct TestNamespace {
    pub name: String,
    kubectl: Kubectl,
}

impl TestNamespace {
    pub fn create(prefix: &str) -> TestNamespace {
        let kubectl = plane().kubectl();
        let name = format!("{prefix}-{}", unique_suffix());
        kubectl.run(&["create", "namespace", &name]).expect("creating the test namespace");
        TestNamespace { name, kubectl }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = self.kubectl.run(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// Six hex digits that differ between calls and processes.
pub fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:06x}", h.finish() & 0xff_ffff)
}

/// Watches `api` (narrowed by `config`) until `done` holds for the current set
/// of objects, and returns that set; panics with `what` after `timeout`.
pub async fn wait_for<K>(
    api: Api<K>,
    config: watcher::Config,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[Arc<K>]) -> bool,
) -> Vec<Arc<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    wait_until(api, config, timeout, what, async |objects: &[Arc<K>]| done(objects)).await
}

/// `wait_for` whose check may await: a read through `Kubectl::run_async` or
/// the API. Only an awaited read lets the timeout fire while it runs; a
/// blocking kubectl call in a check holds the test's runtime.
pub async fn wait_until<K>(
    api: Api<K>,
    config: watcher::Config,
    timeout: Duration,
    what: &str,
    done: impl AsyncFnMut(&[Arc<K>]) -> bool,
) -> Vec<Arc<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    try_wait_until(api, config, timeout, what, done).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until `kubectl get ecssvc NAME -o jsonpath=PATH` in `ns` prints
/// `expected`, checked on each change of the Service. The operator writes a
/// service's status after it has acted on the pods, so a test that saw the
/// pods change must wait for the status too, not read it once.
pub async fn wait_for_service_status(ns: &str, name: &str, path: &str, expected: &str, timeout: Duration) {
    let services = Api::<berth::api::Service>::namespaced(client().await, ns);
    let mut last = String::new();
    let what = format!("service {name}'s {path} to be {expected:?}");
    let found = try_wait_until(services, named(name), timeout, &what, async |_: &[Arc<berth::api::Service>]| {
        last = read_field(ns, &format!("ecssvc/{name}"), path).await.unwrap_or_default().trim().to_string();
        last == expected
    })
    .await;
    if let Err(e) = found {
        panic!("{e}; last read: {last:?}");
    }
}

/// `wait_for` that returns an error instead of panicking (for the benchmark,
/// which reports rather than aborts).
pub async fn try_wait_for<K>(
    api: Api<K>,
    config: watcher::Config,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[Arc<K>]) -> bool,
) -> anyhow::Result<Vec<Arc<K>>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    try_wait_until(api, config, timeout, what, async |objects: &[Arc<K>]| done(objects)).await
}

async fn try_wait_until<K>(
    api: Api<K>,
    config: watcher::Config,
    timeout: Duration,
    what: &str,
    mut done: impl AsyncFnMut(&[Arc<K>]) -> bool,
) -> anyhow::Result<Vec<Arc<K>>>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let mut objects: BTreeMap<String, Arc<K>> = BTreeMap::new();
    let mut initial: BTreeMap<String, Arc<K>> = BTreeMap::new();
    let mut synced = false;
    let mut stream = watcher(api, config).boxed();
    let watch = async {
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => initial.clear(),
                Ok(watcher::Event::InitApply(o)) => {
                    initial.insert(key(&o), Arc::new(o));
                }
                Ok(watcher::Event::InitDone) => {
                    objects = std::mem::take(&mut initial);
                    synced = true;
                }
                Ok(watcher::Event::Apply(o)) => {
                    objects.insert(key(&o), Arc::new(o));
                }
                Ok(watcher::Event::Delete(o)) => {
                    objects.remove(&key(&o));
                }
                Err(e) => eprintln!("watch error while waiting for {what}: {e}"),
            }
            let current: Vec<_> = objects.values().cloned().collect();
            if synced && done(&current).await {
                return Ok(current);
            }
        }
        anyhow::bail!("watch ended while waiting for {what}")
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(objects) => objects,
        Err(_) => anyhow::bail!("timed out after {timeout:?} waiting for {what}; last seen: {:#?}",
            objects.values().map(|o| o.name_any()).collect::<Vec<_>>()),
    }
}

fn key<K: Resource>(o: &K) -> String {
    format!("{}/{}", o.meta().namespace.clone().unwrap_or_default(), o.meta().name.clone().unwrap_or_default())
}

/// The repository's top directory (for crds/, examples/, fixtures).
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Applies the committed CRDs (server-side, so concurrent test processes do
/// not conflict) and waits until they are Established; once per process.
pub fn install_crds() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let kubectl = plane().kubectl();
        let crds = repo_root().join("crds");
        kubectl.run(&["apply", "--server-side", "--force-conflicts", "-f", &crds.display().to_string()]).expect("applying crds/");
        kubectl.run(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds.display().to_string()])
            .expect("CRDs established");
    });
}

/// The Helm release whose ServiceAccount the test operators run as.
pub const OPERATOR_RELEASE: &str = "berth-e2e";
/// Its namespace, where the chart's leader-election Role allows one Lease.
pub const OPERATOR_NAMESPACE: &str = "berth-system";

/// A kubeconfig that authenticates as the Helm chart's ServiceAccount (its
/// RBAC rendered from charts/berth and applied, a token from `kubectl create
/// token`), so every end-to-end scenario proves the chart grants enough.
pub fn operator_kubeconfig() -> &'static PathBuf {
    static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();
    KUBECONFIG.get_or_init(|| {
        let kubectl = plane().kubectl();
        let chart = repo_root().join("charts/berth").display().to_string();
        let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}});
        kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], &namespace.to_string()).expect("creating the operator namespace");
        let rbac = kubectl
            .helm(&["template", OPERATOR_RELEASE, &chart, "-n", OPERATOR_NAMESPACE, "--set", "leaderElection.enabled=true",
                "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"])
            .expect("rendering the chart's RBAC");
        kubectl.run_with_input(&["apply", "--server-side", "--force-conflicts", "-n", OPERATOR_NAMESPACE, "-f", "-"], &rbac)
            .expect("applying the chart's RBAC");
        let path = plane().kubeconfig.with_file_name(format!("operator-{}.kubeconfig", std::process::id()));
        write_service_account_kubeconfig(&kubectl, OPERATOR_RELEASE, OPERATOR_NAMESPACE, &path);
        let whoami = kubectl.run(&["auth", "whoami", "--kubeconfig", &path.display().to_string(), "-o", "jsonpath={.status.userInfo.username}"])
            .expect("kubectl auth whoami");
        assert_eq!(whoami, format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_RELEASE}"));
        path
    })
}

/// Writes to `path` a kubeconfig of the plane `kubectl` talks to that
/// authenticates as ServiceAccount `namespace/name` (a token of a day).
pub fn write_service_account_kubeconfig(kubectl: &Kubectl, name: &str, namespace: &str, path: &std::path::Path) {
    let token = kubectl.run(&["create", "token", name, "-n", namespace, "--duration=24h"]).expect("a token");
    let admin = kubectl.run(&["config", "view", "--raw", "--minify", "-o", "json"]).expect("kubeconfig");
    let mut config: serde_json::Value = serde_json::from_str(&admin).expect("kubeconfig JSON");
    let user = config["contexts"][0]["context"]["user"].clone();
    config["users"] = serde_json::json!([{"name": user, "user": {"token": token.trim()}}]);
    std::fs::write(path, config.to_string()).expect("writing a ServiceAccount kubeconfig");
}

/// A `berth-operator` process against the plane, authenticated as the
/// chart's ServiceAccount, logging to `target/operator-logs/<name>.log`;
/// SIGTERMed when dropped.
pub struct Operator {
    pub pid: u32,
    pub log: PathBuf,
}

impl Operator {
    /// Starts an operator with `args`, from a thread that lives as long as the
    /// test process, so it dies with the process (`spawn_tied` follows the
    /// spawning thread, and test threads end with their tests).
    pub fn start(name: &str, args: &[&str]) -> Operator {
        Operator::start_with_env(name, args, &[])
    }

    /// Starts an operator with `args` and extra environment variables.
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Operator {
        Operator::start_binary(&operator_binary(), name, args, env)
    }

    /// Starts the operator `binary` (a debug or release build).
    pub fn start_binary(binary: &std::path::Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Operator {
        install_crds();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let binary = binary.to_path_buf();
        let logs = repo_root().join("target/operator-logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let log = logs.join(format!("{name}-{}.log", unique_suffix()));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let kubeconfig = operator_kubeconfig().clone();
        let (tx, rx) = mpsc::channel();
        let log_path = log.clone();
        let binary_name = binary.clone();
        std::thread::spawn(move || {
            let spawned = (|| -> std::io::Result<std::process::Child> {
                let file = std::fs::File::create(&log_path)?;
                let mut cmd = std::process::Command::new(&binary);
                cmd.args(&args).env("KUBECONFIG", &kubeconfig).env("RUST_LOG", "info,berth=debug,kube=warn").envs(env)
                    .stdout(file.try_clone()?).stderr(file);
                crate::plane::spawn_tied(&mut cmd)
            })();
            match spawned {
                Ok(mut child) => {
                    let _ = tx.send(Ok(child.id()));
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
        let pid = rx.recv().expect("operator thread").unwrap_or_else(|e| panic!("starting {}: {e}", binary_name.display()));
        Operator { pid, log }
    }

    /// SIGKILL: the operator dies mid-work, as on a node crash.
    pub fn kill(&self) {
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }

    /// SIGTERM: a graceful shutdown.
    pub fn terminate(&self) {
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
    }

    /// SIGSTOP: the process freezes mid-work (a VM pause, a stalled node),
    /// its monotonic clock running on.
    pub fn pause(&self) {
        unsafe { libc::kill(self.pid as i32, libc::SIGSTOP) };
    }

    /// SIGCONT: the paused process runs on from where it stopped.
    pub fn resume(&self) {
        unsafe { libc::kill(self.pid as i32, libc::SIGCONT) };
    }

    /// Whether the process still runs (or is paused); false once it exited.
    pub fn is_running(&self) -> bool {
        crate::plane::alive(self.pid)
    }

    /// Waits up to `timeout` for the process to exit; whether it did.
    pub async fn exited_within(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        // No event to wait on for another process's exit: poll /proc, briefly.
        while self.is_running() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // SIGCONT too: a paused operator acts on SIGTERM only once resumed.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
            libc::kill(self.pid as i32, libc::SIGCONT);
        }
    }
}

/// The operator shared by every test of this process (watching all namespaces).
pub fn operator() -> &'static Operator {
    static OPERATOR: OnceLock<Operator> = OnceLock::new();
    OPERATOR.get_or_init(|| Operator::start("shared", &[]))
}

/// `BERTH_OPERATOR_BIN` (set by `cargo plane test`, which builds it), or the
/// debug build, checked once to be newer than its sources.
fn operator_binary() -> PathBuf {
    if let Ok(binary) = std::env::var("BERTH_OPERATOR_BIN") {
        return binary.into();
    }
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED.get_or_init(|| up_to_date(&repo_root().join("target/debug/berth-operator"))).clone()
}

/// The `berth` CLI, built beside the operator.
pub fn berth_cli() -> PathBuf {
    let cli = operator_binary().with_file_name("berth");
    if std::env::var("BERTH_OPERATOR_BIN").is_err() {
        up_to_date(&cli);
    }
    cli
}

/// `binary`, if it exists and no source it was built from (the list in
/// Cargo's `<binary>.d` beside it) changed since; else a panic saying how to
/// rebuild it. `cargo test -p berth-tests` builds only the tests, not the
/// operator they start, so a run after an edit would test the old operator.
fn up_to_date(binary: &std::path::Path) -> PathBuf {
    const REBUILD: &str = "cargo build -p berth --bins";
    let built = std::fs::metadata(binary).and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run `{REBUILD}` first (`cargo plane test` does it for you)", binary.display()));
    let dep_info = std::fs::read_to_string(binary.with_extension("d")).unwrap_or_default();
    if let Some(source) = newer_sources(&dep_info, built).first() {
        panic!("{} is older than {}: run `{REBUILD}` first (`cargo plane test` does it for you)", binary.display(), source.display());
    }
    binary.to_path_buf()
}

/// The sources listed in a Cargo dep-info file (`target: source source ...`)
/// modified after `built`.
fn newer_sources(dep_info: &str, built: std::time::SystemTime) -> Vec<PathBuf> {
    let Some(first_line) = dep_info.lines().next() else { return vec![] };
    let Some((_, sources)) = first_line.split_once(": ") else { return vec![] };
    // Spaces inside a path are escaped as "\ ".
    let sources = sources.replace("\\ ", "\u{0}");
    sources.split_whitespace()
        .map(|s| PathBuf::from(s.replace('\u{0}', " ")))
        .filter(|s| std::fs::metadata(s).and_then(|m| m.modified()).is_ok_and(|modified| modified > built))
        .collect()
}

impl Operator {
    /// The address the operator serves /livez, /readyz and /metrics on, from its log.
    pub fn http_addr(&self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(addr) = log.lines().find_map(|l| l.split("/metrics on http://").nth(1)) {
                return addr.trim().to_string();
            }
            assert!(std::time::Instant::now() < deadline, "the operator never said where it serves HTTP: {}", self.log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to `timeout`) until /readyz answers 200: caches synced.
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let addr = self.http_addr();
        let deadline = std::time::Instant::now() + timeout;
        while http_get(&addr, "/readyz").0 != 200 {
            anyhow::ensure!(std::time::Instant::now() < deadline, "the operator was not ready after {timeout:?}: {}", self.log.display());
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

/// A plain HTTP/1.0 GET: the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("writing the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading the response");
    let status = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn only_sources_changed_after_the_build_are_named() {
        let dir = std::env::temp_dir().join(format!("berth-dep-info-{}", unique_suffix()));
        std::fs::create_dir_all(dir.join("with space")).unwrap();
        let built = SystemTime::now();
        let touch = |path: &std::path::Path, at: SystemTime| {
            std::fs::File::create(path).unwrap().set_modified(at).unwrap();
        };
        let (before, after) = (dir.join("before.rs"), dir.join("with space/after.rs"));
        touch(&before, built - Duration::from_secs(10));
        touch(&after, built + Duration::from_secs(10));
        let escaped = after.display().to_string().replace(' ', "\\ ");
        let dep_info = format!("{}: {} {escaped}\n\n{}:\n", dir.join("bin").display(), before.display(), before.display());
        assert_eq!(newer_sources(&dep_info, built), [after]);
        assert!(newer_sources("", built).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
