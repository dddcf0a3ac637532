//! ECS secret references (`secrets[].valueFrom`, `repositoryCredentials`) as Kubernetes
//! Secrets.
//!
//! Convention: every reference names a Secret in the task's namespace, and the operator never
//! calls AWS. Copy the values in (by hand or with External Secrets) under these names:
//!
//! | `valueFrom` | Secret name | key |
//! |---|---|---|
//! | `arn:aws:secretsmanager:<region>:<account>:secret:NAME[-XXXXXX][:json-key[:stage[:id]]]` | `NAME` | `json-key`, else `value` |
//! | `arn:aws:ssm:<region>:<account>:parameter/NAME` | `NAME` | `value` |
//! | `NAME` or `/NAME` (plain parameter or secret name) | `NAME` | `value` |
//!
//! `NAME` is sanitised with [`dns_subdomain`] (`/` becomes `-`, upper case is lowered). The
//! six-character random suffix Secrets Manager appends to full ARNs (`-AbC123`) is dropped
//! when it contains an upper-case letter or a digit; a suffix of six lower-case letters
//! (`-secret`) is more likely part of the name and is kept.

use k8s_openapi::api::core::v1::SecretKeySelector;

use super::names::dns_subdomain;

/// Key read from the Secret when the reference names no JSON key.
pub const DEFAULT_SECRET_KEY: &str = "value";

/// The Secret and key an ECS secret reference points at.
pub fn secret_key_ref(value_from: &str) -> SecretKeySelector {
    let (name, json_key) = parse(value_from);
    SecretKeySelector {
        name: dns_subdomain(name),
        key: json_key.unwrap_or(DEFAULT_SECRET_KEY).to_owned(),
        optional: None,
    }
}

/// The Secret an ECS secret reference points at, ignoring any JSON key.
pub fn secret_name(reference: &str) -> String {
    dns_subdomain(parse(reference).0)
}

/// Splits a reference into the secret name and the optional JSON key.
fn parse(reference: &str) -> (&str, Option<&str>) {
    if let Some((_, rest)) = reference
        .split_once(":secret:")
        .filter(|_| reference.starts_with("arn:"))
    {
        let mut parts = rest.split(':');
        let name = strip_random_suffix(parts.next().unwrap_or_default());
        let json_key = parts.next().filter(|key| !key.is_empty());
        return (name, json_key);
    }
    if let Some((_, name)) = reference
        .split_once(":parameter")
        .filter(|_| reference.starts_with("arn:"))
    {
        return (name.trim_start_matches('/'), None);
    }
    (reference.trim_start_matches('/'), None)
}

fn strip_random_suffix(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, suffix))
            if !base.is_empty()
                && suffix.len() == 6
                && suffix.chars().all(|c| c.is_ascii_alphanumeric())
                && suffix
                    .chars()
                    .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
        {
            base
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_ref(value_from: &str) -> (String, String) {
        let selector = secret_key_ref(value_from);
        (selector.name, selector.key)
    }

    #[test]
    fn secrets_manager_arn_with_random_suffix() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/DB_Password-AbC123";
        assert_eq!(key_ref(arn), ("prod-db-password".into(), "value".into()));
    }

    #[test]
    fn secrets_manager_arn_with_json_key_and_empty_version_fields() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-creds-x1Y2z3:password::";
        assert_eq!(key_ref(arn), ("db-creds".into(), "password".into()));
    }

    #[test]
    fn partial_secrets_manager_arn_keeps_a_lowercase_word_suffix() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-secret";
        assert_eq!(key_ref(arn), ("db-secret".into(), "value".into()));
    }

    #[test]
    fn ssm_parameter_arn_and_plain_names() {
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/prod/api/token";
        assert_eq!(key_ref(arn), ("prod-api-token".into(), "value".into()));
        assert_eq!(
            key_ref("/prod/api/token"),
            ("prod-api-token".into(), "value".into())
        );
        assert_eq!(key_ref("api_token"), ("api-token".into(), "value".into()));
    }

    #[test]
    fn repository_credentials_name_the_secret() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-Qw3rTy";
        assert_eq!(secret_name(arn), "dockerhub");
    }
}
