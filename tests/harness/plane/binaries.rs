//! Locating the control plane's binaries (and Argo CD's and Prometheus'),
//! building them once if needed.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The bin directory from `BERTH_BIN_DIR`, or from `build-binaries.sh`, which
/// builds and caches them (keyed by version) the first time.
pub fn ensure() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BERTH_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    build_script(&[])
}

/// Argo CD's folder (the `argocd` binary, its CRDs and config maps, the
/// repo-server's wrapper scripts) from `BERTH_ARGOCD_DIR`, or from
/// `build-binaries.sh argocd`, which builds it the first time (about 8 minutes
/// on 2 cores) and caches it under its version.
pub fn ensure_argocd() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BERTH_ARGOCD_DIR") {
        return Ok(PathBuf::from(dir));
    }
    build_script(&["argocd"])
}

/// Prometheus' folder (the `prometheus` server binary) from
/// `BERTH_PROMETHEUS_DIR`, or from `build-binaries.sh prometheus`, which
/// builds it the first time (23 minutes on 2 busy cores) and caches it under
/// its version.
pub fn ensure_prometheus() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BERTH_PROMETHEUS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    build_script(&["prometheus"])
}

/// The Gateway API's standard CRDs (HTTPRoute among them) from `BERTH_GATEWAY_API_DIR`,
/// or from `build-binaries.sh gateway-api`, which copies them out of their Go module.
pub fn ensure_gateway_api() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BERTH_GATEWAY_API_DIR") {
        return Ok(PathBuf::from(dir));
    }
    build_script(&["gateway-api"])
}

/// Runs build-binaries.sh with `args`; the folder it prints last.
fn build_script(args: &[&str]) -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("plane/build-binaries.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} {} failed ({})", script.display(), args.join(" "), out.status);
    }
    let dir = String::from_utf8(out.stdout)?.trim().lines().last().unwrap_or_default().to_string();
    Ok(PathBuf::from(dir))
}
