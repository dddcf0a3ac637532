//! The manifests as one multi-document YAML stream, ready for `kubectl apply -f -`.

use super::Manifest;
use super::error::ImportError;

/// Documents separated by `---`, in input order. Long values such as ARNs stay on one line,
/// as in the ECS JSON, instead of being folded.
pub fn to_yaml(manifests: &[Manifest]) -> Result<String, ImportError> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    Ok(serde_saphyr::to_string_multiple_with_options(
        manifests, options,
    )?)
}
