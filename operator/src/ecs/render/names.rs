//! Kubernetes names from free-form names (ECS container, volume, port, role and secret names).
//!
//! Every helper returns a valid name for any input and never panics. A name that is already
//! valid comes back unchanged. A name that had to be shortened, or that lost every character,
//! gets a short hash of the original appended, so distinct long names stay distinct. The
//! hash is FNV-1a: stable across processes and releases, unlike std's `DefaultHasher`.

use std::collections::BTreeMap;

/// Hex digits of the hash suffix (24 bits).
const HASH_LEN: usize = 6;

/// The Kubernetes name syntaxes Berth produces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// RFC 1123 label: container, volume and host names.
    DnsLabel,
    /// RFC 1123 subdomain: most object names (Secrets, ServiceAccounts).
    DnsSubdomain,
    /// IANA_SVC_NAME: container port names.
    PortName,
    /// Label value: may be empty, keeps upper case, `.` and `_`.
    LabelValue,
}

impl Syntax {
    fn max_len(self) -> usize {
        match self {
            Syntax::DnsLabel | Syntax::LabelValue => 63,
            Syntax::DnsSubdomain => 253,
            Syntax::PortName => 15,
        }
    }

    fn allows(self, c: char) -> bool {
        match self {
            Syntax::DnsLabel | Syntax::PortName => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            }
            Syntax::DnsSubdomain => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
            }
            Syntax::LabelValue => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        }
    }

    fn is_valid(self, s: &str) -> bool {
        let fits = s.len() <= self.max_len() && s.chars().all(|c| self.allows(c));
        fits && match self {
            Syntax::LabelValue => s.is_empty() || alnum_at_ends(s),
            Syntax::DnsLabel => alnum_at_ends(s),
            Syntax::DnsSubdomain => s.split('.').all(alnum_at_ends),
            Syntax::PortName => alnum_at_ends(s) && !s.contains("--") && has_letter(s),
        }
    }

    /// Replaces forbidden characters by `-` and trims what may not stand at the ends;
    /// leaves the length alone.
    fn clean(self, s: &str) -> String {
        let lowered = match self {
            Syntax::LabelValue => s.to_owned(),
            _ => s.to_ascii_lowercase(),
        };
        let replaced: String = lowered
            .chars()
            .map(|c| if self.allows(c) { c } else { '-' })
            .collect();
        match self {
            Syntax::DnsSubdomain => replaced
                .split('.')
                .map(|part| collapse_dashes(part).trim_matches('-').to_owned())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("."),
            _ => collapse_dashes(&replaced)
                .trim_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned(),
        }
    }

    /// A valid name for `original`; `force_hash` appends the hash even when none is needed,
    /// to separate names that clean to the same string.
    fn shape(self, original: &str, force_hash: bool) -> String {
        if !force_hash && self.is_valid(original) {
            return original.to_owned();
        }
        let cleaned = self.clean(original);
        let fits = !cleaned.is_empty() && cleaned.len() <= self.max_len();
        let name = if fits && !force_hash {
            cleaned
        } else {
            // `cleaned` is ASCII, so any byte index is a character boundary.
            let budget = self.max_len() - HASH_LEN - 1;
            let prefix = cleaned[..cleaned.len().min(budget)]
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            let hash = hash_suffix(original);
            if prefix.is_empty() {
                hash
            } else {
                format!("{prefix}-{hash}")
            }
        };
        if self == Syntax::PortName && !has_letter(&name) {
            // IANA service names need a letter; all-digit names get a `p` in front.
            return if name.len() < self.max_len() {
                format!("p{name}")
            } else {
                format!("p{}", &name[1..])
            };
        }
        name
    }

    /// Names for `originals` that are valid and distinct. Names that clean to the same string
    /// all get a hash suffix, except one that was already valid as written, so the result
    /// does not depend on the order of the input.
    fn unique(self, originals: &[&str]) -> Vec<String> {
        let shaped: Vec<String> = originals.iter().map(|o| self.shape(o, false)).collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for name in &shaped {
            *counts.entry(name).or_default() += 1;
        }
        originals
            .iter()
            .zip(&shaped)
            .map(|(original, name)| {
                if counts[name.as_str()] == 1 || original == name {
                    name.clone()
                } else {
                    self.shape(original, true)
                }
            })
            .collect()
    }
}

fn alnum_at_ends(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    alnum(s.chars().next()) && alnum(s.chars().last())
}

fn has_letter(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_alphabetic())
}

fn collapse_dashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// 64-bit FNV-1a: a stable hash (the same across releases and processes).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hash_suffix(original: &str) -> String {
    format!(
        "{:0width$x}",
        fnv1a(original) & ((1 << (4 * HASH_LEN)) - 1),
        width = HASH_LEN
    )
}

/// A task pod's name: its owner's name as a DNS label, cut to leave room
/// for the suffix (a task id, or a TaskRun's task number).
pub fn task_pod_name(owner: &str, suffix: &str) -> String {
    let prefix: String = dns_label(owner).chars().take(50).collect();
    format!("{}-{suffix}", prefix.trim_end_matches('-'))
}

/// An RFC 1123 label (≤63 of `[a-z0-9-]`, alphanumeric at both ends).
pub fn dns_label(s: &str) -> String {
    Syntax::DnsLabel.shape(s, false)
}

/// An RFC 1123 subdomain (≤253, dot-separated labels), the syntax of most object names.
pub fn dns_subdomain(s: &str) -> String {
    Syntax::DnsSubdomain.shape(s, false)
}

/// An IANA service name (≤15 of `[a-z0-9-]`, at least one letter, no `--`), as container
/// port names require.
pub fn port_name(s: &str) -> String {
    Syntax::PortName.shape(s, false)
}

/// A label value (≤63 of `[A-Za-z0-9._-]`, alphanumeric at both ends, or empty).
pub fn label_value(s: &str) -> String {
    Syntax::LabelValue.shape(s, false)
}

/// Distinct RFC 1123 labels for distinct `originals` (container and volume names of a pod).
pub fn unique_dns_labels(originals: &[&str]) -> Vec<String> {
    Syntax::DnsLabel.unique(originals)
}

/// Distinct port names for distinct `originals` (port names must be unique in a pod).
pub fn unique_port_names(originals: &[&str]) -> Vec<String> {
    Syntax::PortName.unique(originals)
}

pub fn is_dns_label(s: &str) -> bool {
    Syntax::DnsLabel.is_valid(s)
}

pub fn is_dns_subdomain(s: &str) -> bool {
    Syntax::DnsSubdomain.is_valid(s)
}

pub fn is_port_name(s: &str) -> bool {
    Syntax::PortName.is_valid(s)
}

pub fn is_label_value(s: &str) -> bool {
    Syntax::LabelValue.is_valid(s)
}

/// Whether `key` is a valid label or annotation key: an optional subdomain prefix and `/`,
/// then a non-empty name of label-value syntax.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_names_come_back_unchanged() {
        assert_eq!(dns_label("web-2"), "web-2");
        assert_eq!(dns_subdomain("db.password"), "db.password");
        assert_eq!(port_name("http"), "http");
        assert_eq!(label_value("My_App.v2"), "My_App.v2");
    }

    #[test]
    fn dns_label_lowers_replaces_collapses_and_trims() {
        assert_eq!(dns_label("My__App.v2"), "my-app-v2");
        assert_eq!(dns_label("__web__"), "web");
    }

    #[test]
    fn long_names_are_truncated_with_a_stable_hash() {
        let long = format!("{}_{}", "a".repeat(70), "b");
        let name = dns_label(&long);
        assert_eq!(name.len(), 63);
        assert!(name.starts_with(&"a".repeat(56)));
        assert_eq!(name, dns_label(&long));
        assert_ne!(name, dns_label(&format!("{}_{}", "a".repeat(70), "c")));
    }

    #[test]
    fn names_without_valid_characters_become_a_hash() {
        assert_eq!(dns_label("___").len(), HASH_LEN);
        assert_ne!(dns_label("___"), dns_label("日本"));
        assert!(is_label_value(&label_value("日本")) && !label_value("日本").is_empty());
        assert_eq!(label_value(""), "");
    }

    #[test]
    fn dns_subdomain_keeps_dots_between_clean_parts() {
        assert_eq!(dns_subdomain("prod/DB..Password."), "prod-db.password");
    }

    #[test]
    fn port_names_fit_fifteen_characters_and_contain_a_letter() {
        assert_eq!(port_name("http_admin"), "http-admin");
        assert_eq!(port_name("8080"), "p8080");
        let long = port_name("very_long_port_name_for_metrics");
        assert_eq!(long.len(), 15);
        assert!(long.starts_with("very-lon-"));
        assert!(is_port_name(&port_name("123456789012345678")));
    }

    #[test]
    fn colliding_names_get_hashes_except_the_one_already_valid() {
        let names = unique_dns_labels(&["web", "WEB", "Web_"]);
        assert_eq!(names[0], "web");
        assert!(names[1].starts_with("web-") && names[2].starts_with("web-"));
        assert_ne!(names[1], names[2]);
        assert_eq!(
            unique_dns_labels(&["WEB", "web"]),
            vec![names[1].clone(), "web".to_owned()]
        );
    }

    #[test]
    fn qualified_names() {
        assert!(is_qualified_name("sim.berth.dev/exit-code"));
        assert!(is_qualified_name("com.example.vendor"));
        assert!(!is_qualified_name("Example.com/x"));
        assert!(!is_qualified_name("a/b/c"));
        assert!(!is_qualified_name("sim.berth.dev/"));
    }

    proptest! {
        #[test]
        fn helpers_always_return_valid_names(s in any::<String>()) {
            prop_assert!(is_dns_label(&dns_label(&s)));
            prop_assert!(is_dns_subdomain(&dns_subdomain(&s)));
            prop_assert!(is_port_name(&port_name(&s)));
            prop_assert!(is_label_value(&label_value(&s)));
        }

        #[test]
        fn helpers_handle_ecs_shaped_names(s in "[A-Za-z0-9_.-]{0,300}") {
            prop_assert!(is_dns_label(&dns_label(&s)));
            prop_assert!(is_dns_subdomain(&dns_subdomain(&s)));
            prop_assert!(is_port_name(&port_name(&s)));
            prop_assert!(is_label_value(&label_value(&s)));
        }

        #[test]
        fn sanitising_is_idempotent(s in any::<String>()) {
            let label = dns_label(&s);
            prop_assert_eq!(dns_label(&label), label.clone());
            let port = port_name(&s);
            prop_assert_eq!(port_name(&port), port.clone());
        }

        #[test]
        fn unique_names_are_valid_and_distinct(originals in proptest::collection::btree_set("[A-Za-z_-]{1,70}", 1..8)) {
            let originals: Vec<&str> = originals.iter().map(String::as_str).collect();
            for names in [unique_dns_labels(&originals), unique_port_names(&originals)] {
                let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
                prop_assert_eq!(distinct.len(), names.len());
            }
            prop_assert!(unique_dns_labels(&originals).iter().all(|n| is_dns_label(n)));
            prop_assert!(unique_port_names(&originals).iter().all(|n| is_port_name(n)));
        }
    }
}
