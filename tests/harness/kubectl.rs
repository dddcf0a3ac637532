//! The real kubectl (and helm), pointed at one kubeconfig.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

#[derive(Clone, Debug)]
pub struct Kubectl {
    pub bin_dir: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(bin_dir: &Path, kubeconfig: &Path) -> Kubectl {
        Kubectl { bin_dir: bin_dir.to_path_buf(), kubeconfig: kubeconfig.to_path_buf() }
    }

    /// A command for `tool` (kubectl, helm) from the plane's bin dir, with this kubeconfig.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// Runs `kubectl args...`; its stdout, or an error carrying its stderr.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        self.run_tool("kubectl", args, None)
    }

    /// Runs `kubectl args...` with `input` on stdin (`apply -f -`).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Result<String> {
        self.run_tool("kubectl", args, Some(input))
    }

    pub fn helm(&self, args: &[&str]) -> Result<String> {
        self.run_tool("helm", args, None)
    }

    fn run_tool(&self, tool: &str, args: &[&str], input: Option<&str>) -> Result<String> {
        let mut cmd = self.command(tool);
        cmd.args(args).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {tool}"))?;
        if let Some(input) = input {
            child.stdin.take().expect("piped stdin").write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("{tool} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
