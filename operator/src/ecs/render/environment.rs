//! `environment` and `secrets` → container `env` (ecs-semantics §4.2).

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource};

use crate::api::{ContainerDefinition, ContainerOverride};

use super::secrets::secret_key_ref;

/// The definition's variables with RunTask override values merged over them (a variable
/// keeps its place when overridden; new ones follow), then `secrets` read from Kubernetes
/// Secrets. Kubernetes lets the last of two same-named entries win, so a secret shadows a
/// plain variable of the same name.
pub(super) fn env(
    container: &ContainerDefinition,
    overrides: Option<&ContainerOverride>,
) -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = Vec::new();
    let definition = container.environment.iter().flatten();
    let overridden = overrides
        .and_then(|o| o.environment.as_ref())
        .into_iter()
        .flatten();
    for pair in definition.chain(overridden) {
        let var = EnvVar {
            name: pair.name.clone(),
            value: pair.value.clone(),
            value_from: None,
        };
        match vars.iter_mut().find(|v| v.name == pair.name) {
            Some(existing) => *existing = var,
            None => vars.push(var),
        }
    }
    vars.extend(container.secrets.iter().flatten().map(|secret| EnvVar {
        name: secret.name.clone(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(secret_key_ref(&secret.value_from)),
            ..Default::default()
        }),
    }));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_over_the_definition_and_secrets_follow() {
        let container: ContainerDefinition = serde_json::from_str(
            r#"{"name": "a", "image": "x",
                "environment": [{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db/password"}]}"#,
        )
        .unwrap();
        let overrides: ContainerOverride =
            serde_json::from_str(r#"{"name": "a", "environment": [{"name": "LOG", "value": "debug"}, {"name": "EXTRA", "value": "1"}]}"#).unwrap();
        let vars = env(&container, Some(&overrides));
        let plain: Vec<(&str, Option<&str>)> = vars
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_deref()))
            .collect();
        assert_eq!(
            plain,
            [
                ("MODE", Some("prod")),
                ("LOG", Some("debug")),
                ("EXTRA", Some("1")),
                ("DB_PASSWORD", None)
            ]
        );
        let selector = vars[3]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("db-password", "value")
        );
    }
}
