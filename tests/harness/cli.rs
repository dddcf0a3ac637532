//! The `berth` CLI run as a user runs it, against the plane.
use std::time::Duration;

use serde_json::Value;

use crate::fixture::{berth_cli, plane};

/// One call may take this long at most.
pub const CALL_LIMIT: Duration = Duration::from_secs(200);

/// What one run of the CLI printed.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// `berth ARGS --cluster NS` with the plane's kubeconfig, killed after CALL_LIMIT.
pub async fn berth(ns: &str, args: &[&str]) -> Ran {
    let mut command = tokio::process::Command::new(berth_cli());
    command.args(args).args(["--cluster", ns]).env("KUBECONFIG", &plane().kubeconfig).kill_on_drop(true);
    let output = tokio::time::timeout(CALL_LIMIT, command.output()).await
        .unwrap_or_else(|_| panic!("berth {args:?} ran longer than {CALL_LIMIT:?}"))
        .expect("running berth");
    Ran { code: output.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&output.stdout).into(), stderr: String::from_utf8_lossy(&output.stderr).into() }
}

/// `berth ARGS` that must succeed, its JSON output.
pub async fn berth_json(ns: &str, args: &[&str]) -> Value {
    let mut with_output = args.to_vec();
    with_output.extend(["--output", "json"]);
    let ran = berth(ns, &with_output).await;
    assert_eq!(ran.code, 0, "berth {args:?}: {}", ran.stderr);
    ran.json()
}

