//! The real kubectl (and helm), pointed at one kubeconfig. Every call is
//! bounded: kubectl's API requests time out, and a call that outlives its
//! bound is killed, so one hung call fails its test instead of hanging the run.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a call may run, unless it passes a longer `--timeout` of its own.
pub const CALL_LIMIT: Duration = Duration::from_secs(120);
/// kubectl's bound on each API request: well below CALL_LIMIT, so a slow
/// request fails with kubectl's own message rather than a kill.
const REQUEST_TIMEOUT: &str = "--request-timeout=60s";
/// What a command with its own `--timeout` gets beyond it to report that timeout.
const TIMEOUT_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Kubectl {
    pub bin_dir: PathBuf,
    pub kubeconfig: PathBuf,
    env: Vec<(String, String)>,
}

impl Kubectl {
    pub fn new(bin_dir: &Path, kubeconfig: &Path) -> Kubectl {
        Kubectl { bin_dir: bin_dir.to_path_buf(), kubeconfig: kubeconfig.to_path_buf(), env: vec![] }
    }

    /// The same, with `key=value` in the environment of each call (`KUBE_EDITOR` for `kubectl edit`).
    pub fn with_env(mut self, key: &str, value: &str) -> Kubectl {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `kubectl args...`; its stdout, or an error carrying its stderr.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        checked("kubectl", args, self.output("kubectl", args, None)?)
    }

    /// Runs `kubectl args...` with `input` on stdin (`apply -f -`).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Result<String> {
        checked("kubectl", args, self.output("kubectl", args, Some(input))?)
    }

    pub fn helm(&self, args: &[&str]) -> Result<String> {
        checked("helm", args, self.output("helm", args, None)?)
    }

    /// `run` without blocking the async runtime, for the checks of
    /// `fixture::wait_until`: the wait's timeout can fire while kubectl runs,
    /// and kubectl is killed when the wait gives up on it.
    pub async fn run_async(&self, args: &[&str]) -> Result<String> {
        let mut cmd = tokio::process::Command::from(self.command("kubectl", args));
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let bound = bound(args);
        let out = tokio::time::timeout(bound, cmd.output()).await.map_err(|_| killed("kubectl", args, bound))?;
        checked("kubectl", args, out.context("running kubectl")?)
    }

    /// Runs `tool args...` with `input` on stdin and returns its exit status
    /// and output whatever the status (for `kubectl auth can-i` and `kubectl
    /// diff`, whose status is their answer); an error if it could not start or
    /// outlived its bound, when it is killed.
    pub fn output(&self, tool: &str, args: &[&str], input: Option<&str>) -> Result<Output> {
        let mut cmd = self.command(tool, args);
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().with_context(|| format!("starting {tool}"))?;
        // Separate threads feed stdin and drain stdout and stderr, so no full
        // pipe can stall the child while this thread keeps the time.
        let feeder = child.stdin.take().zip(input.map(str::to_owned)).map(|(mut stdin, input)| {
            std::thread::spawn(move || {
                let _ = stdin.write_all(input.as_bytes());
            })
        });
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let bound = bound(args);
        let status = wait_at_most(&mut child, bound)?;
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
        match status {
            Some(status) => Ok(Output { status, stdout, stderr }),
            None => Err(killed(tool, args, bound)).with_context(|| format!("its stderr: {}", String::from_utf8_lossy(&stderr).trim())),
        }
    }

    /// `tool` from the plane's bin dir with this kubeconfig and `args`
    /// (behind kubectl's request timeout); stdout and stderr piped.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        cmd.env("KUBECONFIG", &self.kubeconfig).envs(self.env.iter().map(|(k, v)| (k, v)));
        // `kubectl wait` watches for as long as its own --timeout says.
        if tool == "kubectl" && args.first() != Some(&"wait") {
            cmd.arg(REQUEST_TIMEOUT);
        }
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }
}

fn checked(tool: &str, args: &[&str], out: Output) -> Result<String> {
    if !out.status.success() {
        bail!("{tool} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn killed(tool: &str, args: &[&str], bound: Duration) -> anyhow::Error {
    anyhow::anyhow!("{tool} {} did not finish within {bound:?} and was killed", args.join(" "))
}

/// How long a call with `args` may take: CALL_LIMIT, or its own `--timeout`
/// (`--timeout=60s` or `--timeout 2m`) and some grace if that is longer.
fn bound(args: &[&str]) -> Duration {
    let own = args.iter().enumerate().find_map(|(i, arg)| match arg.strip_prefix("--timeout") {
        Some("") => args.get(i + 1).copied(),
        Some(value) => value.strip_prefix('='),
        None => None,
    });
    own.and_then(parse_duration).map_or(CALL_LIMIT, |own| CALL_LIMIT.max(own + TIMEOUT_GRACE))
}

/// A Go duration of whole seconds, minutes or hours ("90s", "2m", "1h").
fn parse_duration(value: &str) -> Option<Duration> {
    let unit = match value.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return None,
    };
    value[..value.len() - 1].parse::<u64>().ok().map(|n| Duration::from_secs(n * unit))
}

/// Reads a pipe to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = vec![];
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// The child's exit status, or None if it ran past `bound` and was killed.
fn wait_at_most(child: &mut Child, bound: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_gets_the_limit_or_its_own_timeout_and_grace() {
        assert_eq!(bound(&["get", "pods"]), CALL_LIMIT);
        assert_eq!(bound(&["wait", "--for=condition=Ready", "--timeout=5s"]), CALL_LIMIT);
        assert_eq!(bound(&["wait", "--timeout=120s"]), Duration::from_secs(150));
        assert_eq!(bound(&["uninstall", "r", "--timeout", "3m"]), Duration::from_secs(210));
        assert_eq!(bound(&["wait", "--timeout=soon"]), CALL_LIMIT);
    }

    #[test]
    fn a_call_that_outlives_its_bound_is_killed() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        assert_eq!(wait_at_most(&mut child, Duration::from_millis(200)).unwrap(), None);
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut quick = Command::new("true").spawn().unwrap();
        assert!(wait_at_most(&mut quick, Duration::from_secs(5)).unwrap().is_some_and(|s| s.success()));
    }
}
