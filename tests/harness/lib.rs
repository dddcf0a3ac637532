//! Berth's local control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok, built from Go modules) and the fixtures end-to-end
//! tests share.
pub mod argocd;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod demo;
pub mod fault_proxy;
pub mod ecs_shapes;
pub mod fixture;
pub mod gitops;
pub mod invariants;
pub mod kubectl;
pub mod objects;
pub mod plane;
pub mod pools;
pub mod prometheus;
pub mod suite;
pub mod tasks;
pub mod traffic;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The `path`s of the `[[test]]` stanzas of a Cargo manifest.
    fn test_targets(manifest: &str) -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        let mut in_test = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_test = line == "[[test]]";
            } else if in_test && let Some(value) = line.strip_prefix("path").map(str::trim_start).and_then(|l| l.strip_prefix('=')) {
                paths.insert(value.trim().trim_matches('"').to_string());
            }
        }
        paths
    }

    /// Cargo runs a file of tests/e2e/ only if tests/Cargo.toml names it in a
    /// `[[test]]` stanza (autotests look in tests/tests/, not here): without
    /// one, the file would silently never run.
    #[test]
    fn every_e2e_file_has_a_test_stanza() {
        let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let targets = test_targets(&std::fs::read_to_string(tests.join("Cargo.toml")).unwrap());
        let files: BTreeSet<String> = std::fs::read_dir(tests.join("e2e")).unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".rs"))
            .map(|name| format!("e2e/{name}"))
            .collect();
        let forgotten: Vec<&String> = files.difference(&targets).collect();
        assert!(forgotten.is_empty(), "tests/Cargo.toml has no [[test]] stanza for {forgotten:?}; add one per file:\n\
            [[test]]\nname = \"<file name without .rs>\"\npath = \"e2e/<file name>\"");
    }

    #[test]
    fn test_targets_are_read_from_test_stanzas_only() {
        let manifest = "[lib]\npath = \"harness/lib.rs\"\n\n[[test]]\nname = \"api\"\npath = \"e2e/api.rs\"\n\n\
            [[bin]]\nname = \"x\"\npath = \"harness/bin/x.rs\"\n[[test]]\nname=\"b\"\npath=\"e2e/b.rs\"\n";
        assert_eq!(test_targets(manifest), BTreeSet::from(["e2e/api.rs".to_string(), "e2e/b.rs".to_string()]));
    }
}
