//! Writes the CRD YAML generated from the Rust types into `crds/` and `charts/berth/crds/`.
//! With `--check`, writes nothing and exits 1 if the committed files differ.

use std::process::ExitCode;

use berth::api::manifests::{CRD_DIRS, crd_files, repo_root, stale_files};

fn main() -> anyhow::Result<ExitCode> {
    let root = repo_root();
    if std::env::args().skip(1).any(|arg| arg == "--check") {
        let stale = stale_files(&root).map_err(|err| anyhow::anyhow!("{err}"))?;
        for path in &stale {
            eprintln!("out of date: {}", path.display());
        }
        if !stale.is_empty() {
            eprintln!("run `cargo run -p berth --bin crdgen` to regenerate");
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let files = crd_files()?;
    for dir in CRD_DIRS.map(|dir| root.join(dir)) {
        std::fs::create_dir_all(&dir)?;
        for file in &files {
            std::fs::write(dir.join(&file.file_name), &file.yaml)?;
        }
        println!("wrote {} CRDs to {}", files.len(), dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
