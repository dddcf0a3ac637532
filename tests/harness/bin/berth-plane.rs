//! `berth-plane`: the local control plane, from the command line.
//!
//!   berth-plane up [--workers N] [--no-demo] start it with Berth's CRDs, the default capacity providers and
//!                                           the operator, show the demo, run until Ctrl-C
//!   berth-plane demo [--workers N]          the same, but stop after the demo
//!   berth-plane run [--workers N] -- CMD..  start it, run CMD against it, stop it
//!   berth-plane test [-- TEST ARGS]         build every test binary, then run them BERTH_TEST_JOBS at a
//!                                           time (default 4), each slot on a plane of its own, killing
//!                                           what still runs after BERTH_TEST_TIMEOUT_MINUTES (default 40);
//!                                           BERTH_TEST_ONLY=health,cli runs only those binaries
//!   berth-plane bench [--scale F] [--out DIR] [--qps Q] [--burst B] [--only PHASE,...]
//!                                           Berth against kube-controller-manager and the raw
//!                                           limit; a JSON report and a PNG chart in DIR
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use berth_tests::plane::binaries::{ensure_argocd, ensure_prometheus};
use berth_tests::plane::{Plane, PlaneConfig, alive, spawn_tied};
use berth_tests::{bench, fixture, suite};
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
        Some("bench") => bench(&opts),
        Some("test") => test(&config, &rest),
        _ => bail!("usage: berth-plane up [--no-demo] | demo | run -- CMD... | test [-- ARGS] (options: --workers N) \
            | bench [--scale F] [--out DIR] [--qps Q] [--burst B] [--only PHASE,...]"),
    }
}

/// How long the whole test run may take: `BERTH_TEST_TIMEOUT_MINUTES`, by
/// default 40, counted from the start of `cargo plane test` (builds included);
/// a test binary still running then is killed and marked FAILED. One after
/// another the test binaries took about 18 minutes warm on 2 cores; 4 at a
/// time the 39 binaries take about 10 minutes (2,209 s of them one after
/// another; 18 minutes with cold builds). Each kubectl call and each wait has a bound of its
/// own; this one catches whatever has none, and stays far above a warm run so
/// that a loaded machine (other builds sharing the cores) stays under it.
fn suite_limit() -> Result<Duration> {
    let minutes: u64 = match std::env::var("BERTH_TEST_TIMEOUT_MINUTES") {
        Ok(value) => value.parse().context("BERTH_TEST_TIMEOUT_MINUTES takes a whole number of minutes")?,
        Err(_) => 40,
    };
    Ok(Duration::from_secs(minutes * 60))
}

/// `berth-plane test`: the operator and every test binary built first (and
/// Argo CD and Prometheus, cached, for the GitOps and deployment tests), then the binaries run
/// `BERTH_TEST_JOBS` at a time, each slot on a plane of its own (see
/// `berth_tests::suite` for why), longest first; a block of output per binary
/// as it ends, then a table of them all.
fn test(config: &PlaneConfig, args: &[String]) -> Result<ExitCode> {
    let started = Instant::now();
    let deadline = started + suite_limit()?;
    build_operator()?;
    // Built once and cached (about 8 minutes cold), before any plane starts,
    // so no test waits on it.
    let argocd = ensure_argocd().context("building Argo CD for the GitOps tests")?;
    // The same for Prometheus (about 20 minutes cold on 2 cores), for the deployment alarms.
    let prometheus = ensure_prometheus().context("building Prometheus for the deployment alarm tests")?;
    let mut jobs = suite::build_test_binaries(&repo(), args)?;
    jobs.push(suite::doc_tests(&repo(), args));
    let mut jobs = suite::select(jobs, std::env::var("BERTH_TEST_ONLY").ok().as_deref());
    if jobs.is_empty() {
        bail!("no test binary matches BERTH_TEST_ONLY");
    }
    let times = repo().join("target/test-times.tsv");
    suite::longest_first(&mut jobs, &suite::read_times(&times));
    let slots: usize = match std::env::var("BERTH_TEST_JOBS") {
        Ok(n) => n.parse().context("BERTH_TEST_JOBS takes a number")?,
        Err(_) => 4,
    };
    let slots = slots.clamp(1, jobs.len());
    let logs = repo().join("target/test-logs");
    std::fs::create_dir_all(&logs)?;
    eprintln!("berth-plane: {} test binaries, {slots} at a time, longest first: {}", jobs.len(),
        jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", "));
    let shared = suite::Shared::new(jobs, deadline, logs);

    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    let on_signal = shared.clone();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            eprintln!("berth-plane: stopping the tests");
            on_signal.abort();
        }
    });
    let running = Instant::now();
    let workers: Vec<_> = (0..slots).map(|slot| {
        let (shared, config, argocd, prometheus) = (shared.clone(), config.clone(), argocd.clone(), prometheus.clone());
        // The plane's processes are tied to this thread: it lives until the
        // plane is stopped.
        std::thread::spawn(move || -> Result<()> {
            let mut plane = start(&config).with_context(|| format!("starting slot {slot}'s plane"))?;
            let mut env = plane_env(&plane);
            env.push(("BERTH_ARGOCD_DIR".into(), argocd.display().to_string()));
            env.push(("BERTH_PROMETHEUS_DIR".into(), prometheus.display().to_string()));
            shared.work(slot, &env);
            stop_and_check(&mut plane)
        })
    }).collect();
    let mut planes_ok = true;
    for worker in workers {
        if let Err(e) = worker.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a slot panicked"))) {
            eprintln!("berth-plane: {e:#}");
            planes_ok = false;
        }
    }
    handle.close();
    let outcomes = shared.finish();
    // A run with test filters times only part of each binary.
    if args.is_empty() {
        suite::record_times(&times, &outcomes);
    }
    print!("\n{}", suite::summary(&outcomes, running.elapsed()));
    eprintln!("berth-plane: {:.0} s in all, builds included", started.elapsed().as_secs_f64());
    Ok(if planes_ok && outcomes.iter().all(|o| o.passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The environment a command gets to use `plane`: KUBECONFIG (and
/// BERTH_KUBECONFIG, BERTH_BIN_DIR, PATH) and the operator binary.
fn plane_env(plane: &Plane) -> Vec<(String, String)> {
    vec![
        ("KUBECONFIG".into(), plane.kubeconfig.display().to_string()),
        ("BERTH_KUBECONFIG".into(), plane.kubeconfig.display().to_string()),
        ("BERTH_BIN_DIR".into(), plane.bin_dir.display().to_string()),
        ("BERTH_OPERATOR_BIN".into(), repo().join("target/debug/berth-operator").display().to_string()),
        ("PATH".into(), format!("{}:{}", plane.bin_dir.display(), std::env::var("PATH").unwrap_or_default())),
    ]
}

/// Builds the operator binary the end-to-end tests run as a process.
fn build_operator() -> Result<()> {
    let status = Command::new("cargo").args(["build", "--quiet", "-p", "berth", "--bins"]).current_dir(repo()).status()?;
    if !status.success() {
        bail!("building berth-operator failed");
    }
    Ok(())
}

/// The client QPS and burst both controllers get in the benchmark: high
/// enough that the API server, not the client limiter, sets the pace.
const BENCH_QPS_BURST: (u32, u32) = (100, 200);

/// The bench operator's placement timeout: longer than the slope takes to
/// grow to 50,000 tasks, so the tasks that do not fit stay PROVISIONING
/// rather than failing and being replaced midway. No other scenario keeps a
/// task unplaced for the default 600 s.
const BENCH_PLACEMENT_TIMEOUT_SECONDS: &str = "3600";

/// `berth-plane bench`: a plane of its own (50 kwok nodes at full scale), kcm
/// and a release build of the operator at the same client QPS/burst, the
/// operator authenticated as the Helm chart's ServiceAccount; then every
/// scenario of `berth_tests::bench`, a report and a chart in `--out`.
fn bench(opts: &[String]) -> Result<ExitCode> {
    let flag = |name: &str| opts.iter().position(|a| a == name).and_then(|i| opts.get(i + 1));
    let scale: f64 = flag("--scale").map(|s| s.parse()).transpose().context("--scale takes a number")?.unwrap_or(1.0);
    let out = flag("--out").map(std::path::PathBuf::from).unwrap_or_else(|| repo().join("target/bench"));
    let qps: u32 = flag("--qps").map(|s| s.parse()).transpose().context("--qps takes a number")?.unwrap_or(BENCH_QPS_BURST.0);
    let burst: u32 = flag("--burst").map(|s| s.parse()).transpose().context("--burst takes a number")?.unwrap_or(BENCH_QPS_BURST.1);
    let only: Vec<String> = flag("--only").map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default();
    if let Some(unknown) = only.iter().find(|p| !bench::PHASES.contains(&p.as_str())) {
        bail!("--only {unknown}: the phases are {}", bench::PHASES.join(", "));
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let building = std::time::Instant::now();
    let status = Command::new("cargo").args(["build", "--quiet", "--release", "-p", "berth", "--bin", "berth-operator"]).current_dir(repo()).status()?;
    if !status.success() {
        bail!("building the release berth-operator failed");
    }
    let build_seconds = building.elapsed().as_secs_f64();
    let workers = ((50.0 * scale).round() as usize).max(3);
    let config = PlaneConfig { workers: Some(workers), kcm_qps_burst: (qps, burst) };
    let mut plane = start(&config)?;
    fixture::adopt_plane(fixture::SharedPlane { kubeconfig: plane.kubeconfig.clone(), bin_dir: plane.bin_dir.clone() })?;
    let params = bench::Params { only: only.clone(), ..bench::Params::scaled(scale) };
    let (q, b, grace) = (qps.to_string(), burst.to_string(), params.node_lost_grace.as_secs().to_string());
    let operator = fixture::Operator::start_binary(&repo().join("target/release/berth-operator"), "bench",
        &["--kube-api-qps", &q, "--kube-api-burst", &b, "--node-lost-grace-seconds", &grace,
            "--placement-timeout-seconds", BENCH_PLACEMENT_TIMEOUT_SECONDS], &[("RUST_LOG", "info,kube=warn")]);
    eprintln!("berth-plane: berth-operator (release build, {build_seconds:.0}s to build) logs to {}", operator.log.display());
    let outcome = operator.wait_ready(std::time::Duration::from_secs(60)).and_then(|()| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async {
            let target = bench::Target {
                client: fixture::client().await,
                kubectl: plane.kubectl(),
                operator_pid: operator.pid,
                operator_metrics: operator.http_addr(),
                kcm_pid: fixture::plane().pid_of("kube-controller-manager").context("kube-controller-manager's PID")?,
                operator_service_account: (fixture::OPERATOR_NAMESPACE.into(), fixture::OPERATOR_RELEASE.into()),
                prefix: "bench".into(),
                notes: vec![
                    format!("berth-operator: release build ({build_seconds:.0} s to build here), --kube-api-qps {qps} --kube-api-burst {burst} \
                        --node-lost-grace-seconds {grace} --placement-timeout-seconds {BENCH_PLACEMENT_TIMEOUT_SECONDS}"),
                    format!("kube-controller-manager: --kube-api-qps {qps} --kube-api-burst {burst}, default concurrent syncs"),
                ],
            };
            let mut report = bench::Report::new(&target, &params)?;
            let finished = bench::run(&target, &params, &mut report).await;
            Ok::<_, anyhow::Error>((report, finished))
        })
    });
    drop(operator);
    // A late failure keeps the figures measured before it: the report is
    // written either way, naming the error.
    let (mut report, finished) = outcome?;
    if let Err(e) = &finished {
        report.error = Some(format!("{e:#}"));
    }
    let json = out.join("bench-report.json");
    report.write_json(&json)?;
    let png = out.join("bench-chart.png");
    let labelled = bench::chart::draw(&report.figures, &png)?;
    report.print_table(&mut std::io::stdout())?;
    println!("report: {}
chart:  {}{}", json.display(), png.display(),
        if labelled { "" } else { " (no font found: panels without text, in the JSON's order)" });
    stop_and_check(&mut plane)?;
    finished.context("the benchmark stopped early; the report has the figures measured before")?;
    Ok(ExitCode::SUCCESS)
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
/// to the plane, in a process group of its own (SIGTERMed on Ctrl-C); stops
/// the plane whatever happens and returns CMD's status.
fn with_plane(config: &PlaneConfig, cmd: &[String]) -> Result<ExitCode> {
    static CHILD: AtomicU32 = AtomicU32::new(0);
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let pid = CHILD.load(Ordering::SeqCst);
            if pid != 0 {
                unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
            }
        }
    });
    let mut plane = start(config)?;
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .envs(plane_env(&plane))
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", cmd[0]))?;
    CHILD.store(child.id(), Ordering::SeqCst);
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    handle.close();
    stop_and_check(&mut plane)?;
    Ok(if status?.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
