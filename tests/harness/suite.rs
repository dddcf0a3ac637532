//! `cargo plane test`'s runner: every test binary built first, then run N at
//! a time, each on a control plane of its slot's own.
//!
//! `cargo test --workspace` runs its test binaries one after another, and the
//! end-to-end ones mostly wait (on watches, on kwok, on the operator's
//! timers): the suite's time was the sum of theirs. Here `cargo test
//! --no-run --message-format=json` builds them and names their executables;
//! then `slots` workers (`BERTH_TEST_JOBS`, default 4) each start a plane and
//! run binaries from one queue, longest-known first, one at a time on their
//! plane, each binary's output captured and printed as one block when it ends.
//!
//! Why a plane per slot rather than one plane for all: every end-to-end binary
//! starts a shared operator watching *all* namespaces (`fixture::operator`), so
//! two binaries on one plane would run two operators acting on the same
//! Services; and some binaries change the plane under every test on it
//! (`scheduler_nodes` adds untainted nodes and makes a zone NotReady;
//! `capacity` and `scale` add node pools). Within a slot binaries run one after
//! another as `cargo test` ran them all, so what held for one plane holds for
//! each. Faults that would break the plane for its other tests (an API server
//! restart, etcd killed) already run on planes of their own (`chaos.rs`).
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One test binary (or the doc tests): what to run, from where.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
}

/// How a job ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
    pub note: String,
}

/// The test executables in the output of `cargo test --no-run
/// --message-format=json`: its `compiler-artifact` messages of the test
/// profile. Named by target (`health`), a library's or binary's unit tests by
/// target and kind (`berth (lib)`, `berth-plane (bin)`).
pub fn test_binaries(cargo_json: &str, args: &[String]) -> Vec<Job> {
    let mut jobs = vec![];
    for line in cargo_json.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else { continue };
        let target = message["target"]["name"].as_str().unwrap_or("?");
        let kind = message["target"]["kind"][0].as_str().unwrap_or("?");
        let name = if kind == "test" { target.to_string() } else { format!("{target} ({kind})") };
        // Cargo runs a test binary from its package's directory.
        let cwd = message["manifest_path"].as_str().map(Path::new).and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        jobs.push(Job { name, program: executable.into(), args: args.to_vec(), cwd });
    }
    jobs
}

/// Seconds each binary took on the shared 2-core machine when it ran alone
/// (serially, in `cargo test --workspace`); the order to start in until a run
/// here has recorded its own (`target/test-times.tsv`).
const KNOWN_SECONDS: &[(&str, f64)] = &[
    ("gitops", 164.0), ("health", 104.0), ("rollout", 91.0), ("scheduler_nodes", 91.0), ("chaos", 64.0), ("cli", 63.0),
    ("stale_leader", 57.0), ("api", 52.0), ("bench", 60.0),
];

/// A binary not timed yet is started as if it took this long.
const UNKNOWN_SECONDS: f64 = 30.0;

/// Longest first, by `known` (a recorded run's times), else `KNOWN_SECONDS`.
pub fn longest_first(jobs: &mut [Job], known: &BTreeMap<String, f64>) {
    let seconds = |job: &Job| {
        known.get(&job.name).copied()
            .or_else(|| KNOWN_SECONDS.iter().find(|(n, _)| *n == job.name).map(|(_, s)| *s))
            .unwrap_or(UNKNOWN_SECONDS)
    };
    jobs.sort_by(|a, b| seconds(b).total_cmp(&seconds(a)).then_with(|| a.name.cmp(&b.name)));
}

/// `name<TAB>seconds` lines.
pub fn read_times(path: &Path) -> BTreeMap<String, f64> {
    std::fs::read_to_string(path).unwrap_or_default().lines()
        .filter_map(|l| l.split_once('\t')).filter_map(|(n, s)| Some((n.to_string(), s.parse().ok()?))).collect()
}

/// Adds this run's times to the file (a job not run this time, or failed,
/// keeps its old time: a binary failing at once says nothing of its length).
pub fn record_times(path: &Path, outcomes: &[Outcome]) {
    let mut times = read_times(path);
    for o in outcomes.iter().filter(|o| o.passed) {
        times.insert(o.name.clone(), o.seconds);
    }
    let text: String = times.iter().map(|(n, s)| format!("{n}\t{s:.1}\n")).collect();
    let _ = std::fs::write(path, text);
}

/// The summary table, longest first, and a closing line.
pub fn summary(outcomes: &[Outcome], wall: Duration) -> String {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let width = sorted.iter().map(|o| o.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:width$}  result  seconds\n", "test");
    for o in &sorted {
        out += &format!("{:width$}  {:6}  {:7.1}{}\n", o.name, if o.passed { "ok" } else { "FAILED" }, o.seconds,
            if o.note.is_empty() { String::new() } else { format!("  ({})", o.note) });
    }
    let failed: Vec<&str> = sorted.iter().filter(|o| !o.passed).map(|o| o.name.as_str()).collect();
    let sum: f64 = outcomes.iter().map(|o| o.seconds).sum();
    out += &format!("{} binaries in {:.0} s of wall time ({:.0} s if run one after another); {}\n", outcomes.len(), wall.as_secs_f64(), sum,
        if failed.is_empty() { "all passed".to_string() } else { format!("{} failed: {}", failed.len(), failed.join(", ")) });
    out
}

/// What the workers share: the queue, the outcomes, the running children's
/// process groups (to kill on a signal or the deadline) and the print lock.
pub struct Shared {
    queue: Mutex<VecDeque<Job>>,
    outcomes: Mutex<Vec<Outcome>>,
    running: Mutex<Vec<u32>>,
    pub aborted: AtomicBool,
    print: Mutex<()>,
    deadline: Instant,
    logs: PathBuf,
}

impl Shared {
    pub fn new(jobs: Vec<Job>, deadline: Instant, logs: PathBuf) -> Arc<Shared> {
        Arc::new(Shared { queue: Mutex::new(jobs.into()), outcomes: Mutex::new(vec![]), running: Mutex::new(vec![]),
            aborted: AtomicBool::new(false), print: Mutex::new(()), deadline, logs })
    }

    /// SIGTERM then SIGKILL to every running job's process group.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        for pid in self.running.lock().unwrap().iter() {
            unsafe { libc::kill(-(*pid as i32), libc::SIGTERM) };
        }
    }

    /// Runs jobs from the queue until it is empty, each with `env` added.
    pub fn work(&self, slot: usize, env: &[(String, String)]) {
        loop {
            if self.aborted.load(Ordering::SeqCst) {
                return;
            }
            let Some(job) = self.queue.lock().unwrap().pop_front() else { return };
            let outcome = self.run(&job, slot, env);
            self.outcomes.lock().unwrap().push(outcome);
        }
    }

    /// Marks what was never run (no plane for it, or the run aborted) failed.
    pub fn finish(&self) -> Vec<Outcome> {
        let mut outcomes = self.outcomes.lock().unwrap().clone();
        for job in self.queue.lock().unwrap().drain(..) {
            outcomes.push(Outcome { name: job.name, passed: false, seconds: 0.0, note: "not run".into() });
        }
        outcomes
    }

    fn run(&self, job: &Job, slot: usize, env: &[(String, String)]) -> Outcome {
        let log = self.logs.join(format!("{}.log", job.name.replace([' ', '(', ')', '/'], "_")));
        let started = Instant::now();
        let result = (|| -> Result<(bool, String)> {
            let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
            let mut child = Command::new(&job.program).args(&job.args).current_dir(&job.cwd)
                .env("CARGO_MANIFEST_DIR", &job.cwd)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file)
                .process_group(0).spawn().with_context(|| format!("starting {}", job.program.display()))?;
            let pid = child.id();
            self.running.lock().unwrap().push(pid);
            let mut note = String::new();
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break Some(status);
                }
                if Instant::now() >= self.deadline {
                    note = "killed: the suite ran past BERTH_TEST_TIMEOUT_MINUTES".into();
                    kill_group(&mut child);
                    break None;
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            self.running.lock().unwrap().retain(|p| *p != pid);
            Ok((status.is_some_and(|s| s.success()), note))
        })();
        let seconds = started.elapsed().as_secs_f64();
        let (passed, note) = result.unwrap_or_else(|e| (false, format!("{e:#}")));
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let _lock = self.print.lock().unwrap();
        let mut out = std::io::stdout().lock();
        let verdict = if passed { "ok" } else { "FAILED" };
        let _ = writeln!(out, "\n===== {} (slot {slot}): {verdict} in {seconds:.1} s {}=====", job.name, if note.is_empty() { String::new() } else { format!("({note}) ") });
        let _ = out.write_all(output.as_bytes());
        let _ = writeln!(out, "===== end of {}: {verdict} in {seconds:.1} s (log: {}) =====", job.name, log.display());
        let _ = out.flush();
        Outcome { name: job.name.clone(), passed, seconds, note }
    }
}

/// SIGTERM to the process group `child` leads, SIGKILL to what is left of it
/// once `child` has exited or 10 s have passed; reaps `child`.
pub fn kill_group(child: &mut std::process::Child) {
    let group = -(child.id() as i32);
    let sent = Instant::now();
    unsafe { libc::kill(group, libc::SIGTERM) };
    while sent.elapsed() < Duration::from_secs(10) && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(group, libc::SIGKILL) };
    let _ = child.wait();
}

/// Builds every test binary of the workspace (`cargo test --workspace
/// --no-run`) and returns them, `args` to be passed to each.
pub fn build_test_binaries(repo: &Path, args: &[String]) -> Result<Vec<Job>> {
    let output = Command::new("cargo").args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(repo).stderr(Stdio::inherit()).output().context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("building the test binaries failed");
    }
    Ok(test_binaries(&String::from_utf8_lossy(&output.stdout), args))
}

/// The doc tests, as one job (`cargo test --workspace --doc`).
pub fn doc_tests(repo: &Path, args: &[String]) -> Job {
    let mut all = vec!["test".to_string(), "--workspace".into(), "--doc".into()];
    if !args.is_empty() {
        all.push("--".into());
        all.extend(args.iter().cloned());
    }
    Job { name: "doc tests".into(), program: "cargo".into(), args: all, cwd: repo.to_path_buf() }
}

/// `BERTH_TEST_ONLY=health,rollout` keeps only the binaries so named (`doc`
/// for the doc tests); unset, all of them.
pub fn select(jobs: Vec<Job>, only: Option<&str>) -> Vec<Job> {
    let Some(only) = only.filter(|o| !o.trim().is_empty()) else { return jobs };
    let names: Vec<&str> = only.split(',').map(str::trim).collect();
    jobs.into_iter().filter(|j| names.iter().any(|n| *n == j.name || (*n == "doc" && j.name == "doc tests"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_executables_are_read_from_compiler_artifacts_of_the_test_profile() {
        let json = [
            r#"{"reason":"compiler-artifact","manifest_path":"/r/tests/Cargo.toml","target":{"kind":["test"],"name":"health"},"profile":{"test":true},"executable":"/r/target/debug/deps/health-1"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/r/operator/Cargo.toml","target":{"kind":["lib"],"name":"berth"},"profile":{"test":true},"executable":"/r/target/debug/deps/berth-2"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/r/operator/Cargo.toml","target":{"kind":["lib"],"name":"berth"},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/r/operator/Cargo.toml","target":{"kind":["bin"],"name":"crdgen"},"profile":{"test":false},"executable":"/r/target/debug/crdgen"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ].join("\n");
        let jobs = test_binaries(&json, &["--exact".to_string()]);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["health", "berth (lib)"]);
        assert_eq!(jobs[0].cwd, PathBuf::from("/r/tests"));
        assert_eq!(jobs[0].args, ["--exact"]);
    }

    fn job(name: &str) -> Job {
        Job { name: name.into(), program: "x".into(), args: vec![], cwd: "/".into() }
    }

    #[test]
    fn the_longest_known_start_first() {
        let mut jobs = vec![job("api"), job("unknown"), job("gitops"), job("health")];
        let recorded = BTreeMap::from([("health".to_string(), 200.0)]);
        longest_first(&mut jobs, &recorded);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["health", "gitops", "api", "unknown"]);
    }

    #[test]
    fn only_the_named_binaries_are_selected() {
        let jobs = vec![job("api"), job("health"), job("doc tests")];
        let names = |js: Vec<Job>| js.into_iter().map(|j| j.name).collect::<Vec<_>>();
        assert_eq!(names(select(jobs.clone(), Some("health, doc"))), ["health", "doc tests"]);
        assert_eq!(names(select(jobs.clone(), None)), ["api", "health", "doc tests"]);
    }

    #[test]
    fn the_summary_is_longest_first_and_names_the_failures() {
        let o = |name: &str, passed, seconds| Outcome { name: name.into(), passed, seconds, note: String::new() };
        let text = summary(&[o("a", true, 10.0), o("b", false, 30.0)], Duration::from_secs(31));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("b ") && lines[2].starts_with("a "), "{text}");
        assert!(text.contains("2 binaries in 31 s of wall time (40 s if run one after another); 1 failed: b"), "{text}");
    }
}
