//! One local control plane: etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok on 127.0.0.1, with kwok nodes that mirror
//! `kind-config.yaml`. Dropping the `Plane` stops every process by PID and
//! removes its temporary state.
pub mod binaries;
pub mod nodes;
mod pki;
mod process;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::kubectl::Kubectl;
pub use nodes::NodeSpec;
pub use pki::KCM_USER;
use pki::Pki;
pub use process::{Proc, alive, spawn_tied};

/// The kwok stages that make nodes and pods behave (see the file for test hooks).
pub const STAGES: &str = include_str!("../../plane/kwok-stages.yaml");

#[derive(Clone, Debug)]
pub struct PlaneConfig {
    /// How many workers; default: as many as `kind-config.yaml` declares.
    pub workers: Option<usize>,
    /// Client QPS and burst of kube-controller-manager (its defaults: 20/30).
    pub kcm_qps_burst: (u32, u32),
}

impl Default for PlaneConfig {
    fn default() -> Self {
        PlaneConfig { workers: None, kcm_qps_burst: (20, 30) }
    }
}

pub struct Plane {
    pub dir: PathBuf,
    pub bin_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub workers: Vec<NodeSpec>,
    procs: Vec<Proc>,
}

/// How long each step of start-up may take before the plane gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);
/// How many times start-up may begin again on new ports.
const PORT_ATTEMPTS: usize = 3;

impl Plane {
    /// Starts a plane. The ports `free_ports` chooses are free when it looks,
    /// but another process (a parallel plane, any outgoing connection) may bind
    /// one before etcd or the apiserver does; then the plane starts again on
    /// new ports.
    pub fn start(config: &PlaneConfig) -> Result<Plane> {
        let bin_dir = binaries::ensure()?;
        remove_stale_dirs();
        let kind_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kind-config.yaml");
        let workers = nodes::workers_from_kind_config(&kind_config, config.workers)?;
        let mut attempt = 1;
        loop {
            let dir = std::env::temp_dir().join(format!("berth-plane-{}-{}", std::process::id(), nanos()));
            std::fs::create_dir_all(dir.join("logs"))?;
            std::fs::write(dir.join("owner.pid"), std::process::id().to_string())?;
            let mut plane = Plane { kubeconfig: dir.join("kubeconfig"), dir, bin_dir: bin_dir.clone(), workers: workers.clone(), procs: vec![] };
            match plane.boot(config) {
                Ok(()) => return Ok(plane),
                // Dropping the plane stops what it started and removes its directory.
                Err(e) if attempt < PORT_ATTEMPTS && plane.lost_a_port() => {
                    eprintln!("berth-plane: a port was taken before the plane bound it ({e:#}); starting again on new ports");
                    attempt += 1;
                }
                Err(e) => {
                    plane.dump_logs_hint();
                    return Err(e);
                }
            }
        }
    }

    /// Did etcd or the apiserver exit because a port it was given was taken?
    fn lost_a_port(&self) -> bool {
        ["etcd", "kube-apiserver"].iter().any(|name| {
            std::fs::read_to_string(self.dir.join("logs").join(format!("{name}.log"))).is_ok_and(|log| says_port_taken(&log))
        })
    }

    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.bin_dir, &self.kubeconfig)
    }

    /// PIDs of every process this plane started.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| p.pid()).collect()
    }

    fn boot(&mut self, config: &PlaneConfig) -> Result<()> {
        let pki = Pki::generate(&self.dir.join("pki"))?;
        let [etcd_port, peer_port, api_port] = free_ports()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let data = self.dir.join("etcd");
        self.spawn("etcd", &[
            "--name=berth", &format!("--data-dir={}", data.display()),
            &format!("--listen-client-urls={etcd_url}"), &format!("--advertise-client-urls={etcd_url}"),
            &format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
            &format!("--initial-cluster=berth=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync=true", "--quota-backend-bytes=8589934592", "--auto-compaction-retention=1",
            "--listen-metrics-urls=",
        ])?;
        write_kubeconfig(&self.kubeconfig, api_port, &pki, "admin")?;
        let kcm_kubeconfig = self.dir.join("kcm.kubeconfig");
        write_kubeconfig(&kcm_kubeconfig, api_port, &pki, "kcm")?;
        self.spawn("kube-apiserver", &[
            &format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", &format!("--secure-port={api_port}"),
            &format!("--tls-cert-file={}", pki.path("apiserver.crt")),
            &format!("--tls-private-key-file={}", pki.path("apiserver.key")),
            &format!("--cert-dir={}", self.dir.join("apiserver-certs").display()),
            &format!("--client-ca-file={}", pki.path("ca.crt")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            &format!("--service-account-key-file={}", pki.path("sa.pub")),
            &format!("--service-account-signing-key-file={}", pki.path("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true",
            "--endpoint-reconciler-type=none", "--profiling=false",
            // Namespace cleanup deletes each kind's objects with one
            // DeleteCollection; one worker (the default) deletes 10,000 pods
            // slower than the request timeout allows.
            "--delete-collection-workers=8",
        ])?;
        let kubectl = self.kubectl();
        self.wait("kube-apiserver /readyz", || Ok(kubectl.run(&["get", "--raw=/readyz"])?.trim() == "ok"))?;
        let kubeconfig = self.kubeconfig.display().to_string();
        // kcm runs every controller as itself (no per-controller service
        // accounts), so it needs every permission.
        kubectl.run(&["create", "clusterrolebinding", "berth-plane-kube-controller-manager", "--clusterrole=cluster-admin",
            &format!("--user={KCM_USER}")])?;
        let (qps, burst) = config.kcm_qps_burst;
        self.spawn("kube-controller-manager", &[
            &format!("--kubeconfig={}", kcm_kubeconfig.display()), "--bind-address=127.0.0.1", "--secure-port=0",
            "--leader-elect=false", "--use-service-account-credentials=false",
            &format!("--service-account-private-key-file={}", pki.path("sa.key")),
            &format!("--root-ca-file={}", pki.path("ca.crt")),
            &format!("--kube-api-qps={qps}"), &format!("--kube-api-burst={burst}"),
            "--node-monitor-period=2s", "--profiling=false",
            // The HPA controller's pass (default 15 s): the GitOps autoscaling
            // test waits for several of them.
            "--horizontal-pod-autoscaler-sync-period=3s",
        ])?;
        let scheduler_config = self.dir.join("kube-scheduler.yaml");
        std::fs::write(&scheduler_config, format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
             clientConnection: {{kubeconfig: {kubeconfig:?}, qps: 100, burst: 200}}\n\
             leaderElection: {{leaderElect: false}}\n"))?;
        self.spawn("kube-scheduler", &[
            &format!("--config={}", scheduler_config.display()), "--bind-address=127.0.0.1", "--secure-port=0",
        ])?;
        let stages = self.dir.join("kwok-stages.yaml");
        std::fs::write(&stages, STAGES)?;
        self.spawn("kwok", &[
            &format!("--kubeconfig={kubeconfig}"), &format!("--config={}", stages.display()),
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16", "--node-ip=10.255.0.1",
        ])?;
        self.add_nodes(&self.workers.clone())?;
        // The Gateway API, as a cluster with a mesh or a Gateway controller has it: Berth gives
        // BLUE_GREEN, LINEAR and CANARY weights through HTTPRoutes where it is served.
        let gateway_api = binaries::ensure_gateway_api()?.display().to_string();
        kubectl.run(&["apply", "--server-side", "-f", &gateway_api])?;
        kubectl.run(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &gateway_api])?;
        // Pods need the namespace's default ServiceAccount (kcm creates it).
        self.wait("default ServiceAccount", || Ok(kubectl.run(&["get", "serviceaccount", "default", "-o", "name"]).is_ok()))?;
        Ok(())
    }

    /// Creates kwok nodes and waits until they are Ready and kcm has lifted the
    /// not-ready taint, so pods can land on them.
    pub fn add_nodes(&mut self, nodes: &[NodeSpec]) -> Result<()> {
        let kubectl = self.kubectl();
        let manifests: Vec<_> = nodes.iter().map(nodes::node_manifest).collect();
        kubectl.run_with_input(&["apply", "-f", "-"], &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": manifests}).to_string())?;
        for node in nodes {
            self.wait(&format!("node {} schedulable", node.name), || {
                let out = kubectl.run(&["get", "node", &node.name, "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints[*].key}"])?;
                Ok(out.trim() == "True" || (out.starts_with("True ") && !out.contains("node.kubernetes.io/not-ready")))
            })?;
        }
        Ok(())
    }

    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<()> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let proc = Proc::spawn(name, &self.bin_dir.join(name), &args, &self.dir.join("logs"))?;
        self.procs.push(proc);
        self.write_pids()
    }

    /// The `pids` file beside the kubeconfig (read by `SharedPlane::pid_of`).
    fn write_pids(&self) -> Result<()> {
        let pids: Vec<String> = self.procs.iter().map(|p| format!("{} {}", p.name, p.pid())).collect();
        std::fs::write(self.dir.join("pids"), pids.join("\n") + "\n")?;
        Ok(())
    }

    /// Restarts the plane's process `name` ("etcd", "kube-apiserver", ...) by
    /// PID with `signal` (SIGKILL: killed; SIGTERM: an orderly restart, SIGKILL
    /// after 10 s: kube-apiserver drains for up to a minute otherwise), on
    /// the same arguments and data, and waits until the API server answers
    /// ready again. The new process is tied to the calling thread, which must
    /// outlive the plane (the test's own).
    pub fn restart(&mut self, name: &str, signal: i32) -> Result<()> {
        let proc = self.procs.iter_mut().find(|p| p.name == name).with_context(|| format!("no process {name} in this plane"))?;
        proc.restart(signal)?;
        self.write_pids()?;
        let kubectl = self.kubectl();
        self.wait(&format!("kube-apiserver /readyz after restarting {name}"), || Ok(kubectl.run(&["get", "--raw=/readyz"])?.trim() == "ok"))
    }

    /// Polls `ready` (a cheap status read) until true, failing fast if a
    /// process of the plane died, and giving up after STEP_TIMEOUT.
    fn wait(&mut self, what: &str, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            for p in &mut self.procs {
                if let Some(status) = p.exited() {
                    let log = std::fs::read_to_string(self.dir.join("logs").join(format!("{}.log", p.name))).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
                    bail!("{} exited ({status}) while waiting for {what}; its log ends:\n{}", p.name, tail.join("\n"));
                }
            }
            if ready().unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {STEP_TIMEOUT:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn dump_logs_hint(&self) {
        eprintln!("berth-plane: start-up failed; logs in {}", self.dir.join("logs").display());
        if let Ok(dest) = std::env::var("BERTH_PLANE_LOGS") {
            let _ = copy_dir(&self.dir.join("logs"), Path::new(&dest));
        }
    }

    /// Stops the processes in reverse start order, by PID, and removes the
    /// plane's directory (logs are copied to `$BERTH_PLANE_LOGS` first if set).
    pub fn stop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(10));
        }
        self.procs.clear();
        if let Ok(dest) = std::env::var("BERTH_PLANE_LOGS") {
            let _ = copy_dir(&self.dir.join("logs"), Path::new(&dest));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A kubeconfig for the client certificate `user` (`<user>.crt`) of `pki`.
fn write_kubeconfig(path: &Path, port: u16, pki: &Pki, user: &str) -> Result<()> {
    use base64::Engine;
    let b64 = |file: &str| -> Result<String> { Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(pki.dir.join(file))?)) };
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: berth\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {}\n\
         users:\n- name: berth-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n\
         contexts:\n- name: berth\n  context: {{cluster: berth, user: berth-admin}}\ncurrent-context: berth\n",
        b64("ca.crt")?, b64(&format!("{user}.crt"))?, b64(&format!("{user}.key"))?);
    std::fs::write(path, config).context("writing kubeconfig")
}

/// N distinct free ports: all listeners are held until every port is chosen.
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<std::io::Result<_>>()?;
    Ok(ports.try_into().expect("N ports"))
}

/// How Go's net package reports a port another process holds (etcd and the
/// apiserver exit with it).
fn says_port_taken(log: &str) -> bool {
    log.contains("bind: address already in use")
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Removes directories of planes whose owner process is gone (its children
/// died with it; only files remain).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_plane = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("berth-plane-"));
        if !is_plane {
            continue;
        }
        let owner = std::fs::read_to_string(path.join("owner.pid")).ok().and_then(|s| s.trim().parse().ok());
        // No owner.pid yet may be a plane another thread is creating this
        // moment (`cargo plane test` starts one per slot at once): only a
        // directory a minute old without one is stale.
        let young = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age < Duration::from_secs(60));
        if owner.map_or(!young, |pid| !alive(pid)) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_recognised_in_the_log() {
        let etcd = r#"{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:41234: bind: address already in use"}"#;
        assert!(says_port_taken(etcd));
        let apiserver = "E1128 failed to create listener: failed to listen on 127.0.0.1:6443: listen tcp 127.0.0.1:6443: bind: address already in use";
        assert!(says_port_taken(apiserver));
        assert!(!says_port_taken("etcdserver: request timed out"));
    }
}
