use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the API server refused a task: {0}")]
    LaunchRefused(String),
    #[error("rendering the task: {0}")]
    Render(String),
    #[error("placement: {0}")]
    Placement(#[from] crate::ecs::placement::PlacementError),
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

impl Error {
    /// A stable, low-cardinality name for metrics and event reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApiError",
            Error::LaunchRefused(_) => "TaskLaunchRefused",
            Error::Render(_) => "InvalidTaskDefinition",
            Error::Placement(_) => "PlacementInvalid",
            Error::Serialization(_) => "SerializationFailed",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The API server refused a request because the namespace is being deleted
/// (or is gone). Every create in it fails from then on, so the ReplicaSet
/// controller stops creating without an error or an event
/// (pkg/controller/replicaset/replica_set.go, `NamespaceTerminatingCause`), and
/// client-go's event recorder drops such events.
pub fn namespace_going_away(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else { return false };
    let details = status.details.as_ref();
    details.is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
        || (status.is_not_found() && details.is_some_and(|d| d.kind == "namespaces"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::testing::{api_error, refusal};

    #[test]
    fn a_terminating_or_deleted_namespace_is_going_away_and_a_quota_is_not() {
        // As the API server answers a create in a namespace being deleted, then once it is gone.
        let terminating = api_error(refusal(403, "Forbidden", serde_json::json!({"name": "web-1", "kind": "pods",
            "causes": [{"reason": "NamespaceTerminating", "message": "namespace ns is being terminated", "field": "metadata.namespace"}]})));
        let gone = api_error(refusal(404, "NotFound", serde_json::json!({"name": "ns", "kind": "namespaces"})));
        assert!(namespace_going_away(&terminating) && namespace_going_away(&gone));
        let quota = api_error(refusal(403, "Forbidden", serde_json::json!({"name": "web-1", "kind": "pods"})));
        let service_gone = api_error(refusal(404, "NotFound", serde_json::json!({"name": "web", "group": "berth.dev", "kind": "services"})));
        assert!(!namespace_going_away(&quota) && !namespace_going_away(&service_gone));
    }
}
