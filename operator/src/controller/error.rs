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
