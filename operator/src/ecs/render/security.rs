//! Container and pod security settings (ecs-semantics §4.2).

use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SecurityContext, Sysctl};

use crate::api::{ContainerDefinition, TaskDefinitionSpec};

/// The numeric parts of an ECS `user` (`uid`, `uid:gid`, `user:gid`, `uid:group`, ...).
/// Kubernetes only takes numeric IDs, so a name leaves its part unset (the image's `USER`
/// applies) and `named` records that for the unsupported-field report.
#[derive(Debug, Default, PartialEq)]
pub(super) struct User {
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub named: bool,
}

pub(super) fn parse_user(user: &str) -> User {
    let (user_part, group_part) = match user.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (user, None),
    };
    let uid = user_part.parse::<i64>().ok().filter(|id| *id >= 0);
    let gid = group_part
        .and_then(|g| g.parse::<i64>().ok())
        .filter(|id| *id >= 0);
    let named = uid.is_none() || (group_part.is_some() && gid.is_none());
    User { uid, gid, named }
}

/// `user`, `privileged`, `readonlyRootFilesystem` and `linuxParameters.capabilities`.
pub(super) fn container_security_context(
    container: &ContainerDefinition,
) -> Option<SecurityContext> {
    let user = container
        .user
        .as_deref()
        .map(parse_user)
        .unwrap_or_default();
    let capabilities = container
        .linux_parameters
        .as_ref()
        .and_then(|l| l.capabilities.as_ref())
        .filter(|c| {
            c.add.as_ref().is_some_and(|a| !a.is_empty())
                || c.drop.as_ref().is_some_and(|d| !d.is_empty())
        })
        .map(|c| Capabilities {
            add: c.add.clone().filter(|a| !a.is_empty()),
            drop: c.drop.clone().filter(|d| !d.is_empty()),
        });
    let context = SecurityContext {
        run_as_user: user.uid,
        run_as_group: user.gid,
        privileged: container.privileged.filter(|p| *p),
        read_only_root_filesystem: container.readonly_root_filesystem.filter(|r| *r),
        capabilities,
        ..Default::default()
    };
    (context != SecurityContext::default()).then_some(context)
}

/// Pod-wide sysctls from every container's `systemControls` (a pod shares one network and
/// IPC namespace, as `awsvpc` tasks do); the first value given for a name wins.
pub(super) fn pod_security_context(spec: &TaskDefinitionSpec) -> Option<PodSecurityContext> {
    let mut sysctls: Vec<Sysctl> = Vec::new();
    for control in spec
        .container_definitions
        .iter()
        .flat_map(|c| c.system_controls.iter().flatten())
    {
        let (Some(name), Some(value)) = (&control.namespace, &control.value) else {
            continue;
        };
        if !sysctls.iter().any(|s| &s.name == name) {
            sysctls.push(Sysctl {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    (!sysctls.is_empty()).then(|| PodSecurityContext {
        sysctls: Some(sysctls),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_users_and_groups() {
        assert_eq!(
            parse_user("1000"),
            User {
                uid: Some(1000),
                gid: None,
                named: false
            }
        );
        assert_eq!(
            parse_user("1000:2000"),
            User {
                uid: Some(1000),
                gid: Some(2000),
                named: false
            }
        );
    }

    #[test]
    fn names_cannot_be_expressed() {
        assert_eq!(
            parse_user("app"),
            User {
                uid: None,
                gid: None,
                named: true
            }
        );
        assert_eq!(
            parse_user("1000:staff"),
            User {
                uid: Some(1000),
                gid: None,
                named: true
            }
        );
        assert_eq!(
            parse_user("app:50"),
            User {
                uid: None,
                gid: Some(50),
                named: true
            }
        );
    }

    #[test]
    fn container_settings() {
        let container: ContainerDefinition = serde_json::from_str(
            r#"{"name": "a", "image": "x", "user": "1000:1000", "privileged": true, "readonlyRootFilesystem": true,
                "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}"#,
        )
        .unwrap();
        let context = container_security_context(&container).unwrap();
        assert_eq!(
            (context.run_as_user, context.run_as_group),
            (Some(1000), Some(1000))
        );
        assert_eq!(
            (context.privileged, context.read_only_root_filesystem),
            (Some(true), Some(true))
        );
        let capabilities = context.capabilities.unwrap();
        assert_eq!(
            (capabilities.add.unwrap(), capabilities.drop.unwrap()),
            (vec!["NET_ADMIN".to_owned()], vec!["ALL".to_owned()])
        );
    }

    #[test]
    fn nothing_set_gives_no_context() {
        let container: ContainerDefinition =
            serde_json::from_str(r#"{"name": "a", "image": "x", "privileged": false}"#).unwrap();
        assert_eq!(container_security_context(&container), None);
    }

    #[test]
    fn sysctls_are_pod_wide() {
        let spec: TaskDefinitionSpec = serde_json::from_str(
            r#"{"containerDefinitions": [
                {"name": "a", "image": "x", "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}]},
                {"name": "b", "image": "x", "systemControls": [{"namespace": "net.core.somaxconn", "value": "9"}, {"namespace": "kernel.shmmax", "value": "1"}]}
            ]}"#,
        )
        .unwrap();
        let sysctls = pod_security_context(&spec).unwrap().sysctls.unwrap();
        let pairs: Vec<(&str, &str)> = sysctls
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("net.core.somaxconn", "1024"), ("kernel.shmmax", "1")]
        );
    }
}
