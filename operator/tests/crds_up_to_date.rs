//! Fails when the committed CRD YAML no longer matches what the Rust types generate.

use berth::api::manifests::{repo_root, stale_files};

#[test]
fn committed_crds_match_the_types() {
    let stale = stale_files(&repo_root()).expect("CRDs render");
    assert!(
        stale.is_empty(),
        "CRD files out of date (run `cargo run -p berth --bin crdgen`): {stale:?}"
    );
}
