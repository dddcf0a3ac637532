//! `berth-plane`: the local control plane, from the command line.
//!
//!   berth-plane up [--workers N] [--no-demo] start it with Berth's CRDs, the default capacity providers and
//!                                           the operator, show the demo, run until Ctrl-C
//!   berth-plane demo [--workers N]          the same, but stop after the demo
//!   berth-plane run [--workers N] -- CMD..  start it, run CMD against it, stop it
//!   berth-plane test [-- CARGO TEST ARGS]   run the whole test suite against one plane
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use berth_tests::plane::{Plane, PlaneConfig, alive, spawn_tied};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-plane: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode> {
    let (opts, rest) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args.clone(), vec![]),
    };
    let mut config = PlaneConfig::default();
    if let Some(i) = opts.iter().position(|a| a == "--workers") {
        config.workers = Some(opts.get(i + 1).context("--workers takes a number")?.parse()?);
    }
    match opts.first().map(String::as_str) {
        Some("up") => up(&config, !opts.iter().any(|a| a == "--no-demo"), true),
        Some("demo") => up(&config, true, false),
        Some("run") if !rest.is_empty() => with_plane(&config, &rest),
        Some("test") => {
            build_operator()?;
            let mut cmd = vec!["cargo".to_string(), "test".into(), "--workspace".into(), "--no-fail-fast".into()];
            if !rest.is_empty() {
                cmd.push("--".into());
                cmd.extend(rest);
            }
            with_plane(&config, &cmd)
        }
        _ => bail!("usage: berth-plane up [--no-demo] | demo | run -- CMD... | test [-- ARGS] (options: --workers N)"),
    }
}

/// Builds the operator binary the end-to-end tests run as a process.
fn build_operator() -> Result<()> {
    let status = Command::new("cargo").args(["build", "--quiet", "-p", "berth", "--bins"]).current_dir(repo()).status()?;
    if !status.success() {
        bail!("building berth-operator failed");
    }
    Ok(())
}

fn start(config: &PlaneConfig) -> Result<Plane> {
    let t0 = std::time::Instant::now();
    let plane = Plane::start(config)?;
    eprintln!("berth-plane: control plane up in {:.1}s ({} workers); kubeconfig {}",
        t0.elapsed().as_secs_f64(), plane.workers.len(), plane.kubeconfig.display());
    Ok(plane)
}

/// Berth's main job on a local machine: the plane, Berth's CRDs, the
/// default capacity providers and the operator (its log in
/// target/berth-plane-operator.log); then the demo (the web example across
/// zones, a failed task replaced, a roll); then, with `stay`, everything keeps
/// running until Ctrl-C.
fn up(config: &PlaneConfig, demo: bool, stay: bool) -> Result<ExitCode> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    build_operator()?;
    let mut plane = start(config)?;
    let kubectl = plane.kubectl();
    print!("{}", kubectl.run(&["version"])?);
    print!("{}", kubectl.run(&["get", "nodes", "-L", "topology.kubernetes.io/zone,node.kubernetes.io/instance-type"])?);
    let crds = repo().join("crds").display().to_string();
    kubectl.run(&["apply", "--server-side", "-f", &crds])?;
    kubectl.run(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds])?;
    kubectl.run_with_input(&["apply", "--server-side", "-f", "-"], berth_tests::demo::DEFAULT_CAPACITY_PROVIDERS)?;
    let log_path = repo().join("target/berth-plane-operator.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut operator = Command::new(repo().join("target/debug/berth-operator"));
    operator.env("KUBECONFIG", &plane.kubeconfig).stdout(log.try_clone()?).stderr(log);
    let mut operator = spawn_tied(&mut operator).context("starting berth-operator")?;
    println!("berth-operator is running; its log: {}", log_path.display());
    let outcome = if demo { show_demo(&plane) } else { Ok(()) };
    if let Err(e) = &outcome {
        eprintln!("berth-plane: the demo failed: {e:#}");
    } else if stay {
        println!("\nBerth runs until Ctrl-C. In another shell:\n  export KUBECONFIG={}\n  export PATH={}:$PATH\n  \
            kubectl get ecs -A    # then apply your own: kubectl create namespace my-cluster && kubectl apply -n my-cluster -f examples/\n",
            plane.kubeconfig.display(), plane.bin_dir.display());
        signals.forever().next();
    }
    eprintln!("berth-plane: stopping");
    unsafe { libc::kill(operator.id() as i32, libc::SIGTERM) };
    let _ = operator.wait();
    stop_and_check(&mut plane)?;
    Ok(if outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn show_demo(plane: &Plane) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(&plane.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        let client = kube::Client::try_from(config)?;
        berth_tests::demo::run(client, &plane.kubectl(), "demo", &mut std::io::stdout()).await.map(|_| ())
    })
}

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `cmd` with KUBECONFIG (and BERTH_KUBECONFIG, BERTH_BIN_DIR, PATH) set
/// to the plane; stops the plane whatever happens and returns CMD's status.
fn with_plane(config: &PlaneConfig, cmd: &[String]) -> Result<ExitCode> {
    static CHILD: AtomicU32 = AtomicU32::new(0);
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let pid = CHILD.load(Ordering::SeqCst);
            if pid != 0 {
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
        }
    });
    let mut plane = start(config)?;
    let path = format!("{}:{}", plane.bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("BERTH_KUBECONFIG", &plane.kubeconfig)
        .env("BERTH_BIN_DIR", &plane.bin_dir)
        .env("BERTH_OPERATOR_BIN", repo().join("target/debug/berth-operator"))
        .env("PATH", path)
        .spawn()
        .with_context(|| format!("starting {}", cmd[0]))?;
    CHILD.store(child.id(), Ordering::SeqCst);
    let status = child.wait()?;
    CHILD.store(0, Ordering::SeqCst);
    handle.close();
    stop_and_check(&mut plane)?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Stops the plane and proves that none of its processes outlived it.
fn stop_and_check(plane: &mut Plane) -> Result<()> {
    let pids = plane.pids();
    plane.stop();
    let leaked: Vec<_> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    if !leaked.is_empty() {
        bail!("processes outlived the plane: {leaked:?}");
    }
    eprintln!("berth-plane: stopped; no process left behind");
    Ok(())
}
