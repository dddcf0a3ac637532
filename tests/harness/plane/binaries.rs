//! Locating the control plane's binaries, building them once if needed.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The bin directory from `BERTH_BIN_DIR`, or from `build-binaries.sh`, which
/// builds and caches them (keyed by version) the first time.
pub fn ensure() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BERTH_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("plane/build-binaries.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    let dir = String::from_utf8(out.stdout)?.trim().lines().last().unwrap_or_default().to_string();
    Ok(PathBuf::from(dir))
}
