//! ECS ARNs for Berth objects (the CLI prints them; lifecycle hooks receive them). Berth has no AWS account or region: its ARNs use the
//! region `berth` and the account `000000000000`, so scripts that split ARNs on `:` and
//! `/` (the cluster, the service, the task id) keep working.

const PREFIX: &str = "arn:aws:ecs:berth:000000000000";

/// ARNs of the objects of one ECS cluster (a namespace).
#[derive(Clone, Debug)]
pub struct Arns {
    pub cluster: String,
}

impl Arns {
    pub fn cluster(&self) -> String {
        format!("{PREFIX}:cluster/{}", self.cluster)
    }

    pub fn service(&self, name: &str) -> String {
        format!("{PREFIX}:service/{}/{name}", self.cluster)
    }

    pub fn task(&self, task_id: &str) -> String {
        format!("{PREFIX}:task/{}/{task_id}", self.cluster)
    }

    /// A node, the container instance of the tasks on it.
    pub fn container_instance(&self, node: &str) -> String {
        format!("{PREFIX}:container-instance/{}/{node}", self.cluster)
    }

    pub fn container(&self, task_id: &str, container: &str) -> String {
        format!("{PREFIX}:container/{}/{task_id}/{container}", self.cluster)
    }

    /// A deployment (`ecs-svc/<number>`) of the service `name`.
    pub fn service_deployment(&self, name: &str, id: &str) -> String {
        format!("{PREFIX}:service-deployment/{}/{name}/{}", self.cluster, id.trim_start_matches("ecs-svc/"))
    }

    /// `family:revision` as a task definition ARN.
    pub fn task_definition(&self, reference: &str) -> String {
        format!("{PREFIX}:task-definition/{reference}")
    }
}

/// The name or id a user gave: the last path segment of an ARN, or the text itself.
pub fn short_name(name_or_arn: &str) -> &str {
    match name_or_arn.strip_prefix("arn:") {
        Some(arn) => arn.rsplit('/').next().unwrap_or(arn),
        None => name_or_arn,
    }
}

/// The cluster named by `--cluster` (a name or a cluster ARN).
pub fn cluster_name(name_or_arn: &str) -> &str {
    short_name(name_or_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split_like_ecs_arns() {
        let arns = Arns { cluster: "prod".into() };
        assert_eq!(arns.service("web"), "arn:aws:ecs:berth:000000000000:service/prod/web");
        assert_eq!(arns.task("abc"), "arn:aws:ecs:berth:000000000000:task/prod/abc");
        let td = arns.task_definition("web:3");
        assert_eq!(crate::ecs::task::reference::parse(&td).unwrap().to_string(), "web:3");
        assert_eq!(short_name(&arns.task("abc")), "abc");
        assert_eq!(short_name("web"), "web");
        assert_eq!(cluster_name(&arns.cluster()), "prod");
    }
}
