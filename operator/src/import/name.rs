//! Kubernetes object names from ECS names. ECS allows `_` and upper case in families and
//! service names; `metadata.name` must be an RFC 1123 label.

/// Longest RFC 1123 label.
const MAX_LABEL_LENGTH: usize = 63;

/// Lower case, every character outside `[a-z0-9-]` replaced by `-`, no `-` at either end,
/// at most 63 characters. `None` when nothing valid is left.
pub fn kubernetes_name(ecs_name: &str) -> Option<String> {
    let replaced: String = ecs_name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = replaced.trim_matches('-');
    let shortened = &trimmed[..trimmed.len().min(MAX_LABEL_LENGTH)];
    let name = shortened.trim_end_matches('-');
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::kubernetes_name;
    use proptest::prelude::*;

    #[test]
    fn keeps_valid_names() {
        assert_eq!(kubernetes_name("web-2").as_deref(), Some("web-2"));
    }

    #[test]
    fn lowers_and_replaces_invalid_characters() {
        assert_eq!(kubernetes_name("My_App.v2").as_deref(), Some("my-app-v2"));
    }

    #[test]
    fn trims_dashes_at_both_ends() {
        assert_eq!(kubernetes_name("__web__").as_deref(), Some("web"));
    }

    #[test]
    fn shortens_to_63_characters_without_a_trailing_dash() {
        let long = format!("{}_{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(kubernetes_name(&long), Some("a".repeat(62)));
    }

    #[test]
    fn gives_nothing_when_no_valid_character_is_left() {
        assert_eq!(kubernetes_name("___"), None);
        assert_eq!(kubernetes_name("日本"), None);
    }

    proptest! {
        #[test]
        fn always_gives_an_rfc_1123_label(ecs_name in any::<String>()) {
            if let Some(name) = kubernetes_name(&ecs_name) {
                prop_assert!(name.len() <= 63);
                prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
                prop_assert!(!name.starts_with('-') && !name.ends_with('-'));
            }
        }
    }
}
