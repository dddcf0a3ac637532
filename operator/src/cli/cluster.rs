//! The ECS cluster the CLI talks to: a namespace of the current kubeconfig's cluster
//! (`--cluster`, kubectl's `-n/--namespace`, else the context's namespace), and the reads
//! every verb group shares.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams};
use kube::{Client, Config, ResourceExt};

use super::CliError;
use super::arn::{Arns, cluster_name};
use super::shape::service::ServiceEvent;
use super::shape::task::Placement;
use crate::api::{CapacityProvider, wire_name};
use crate::ecs::placement::node_labels::ZONE_LABEL;
use crate::ecs::task::labels;

pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    pub arns: Arns,
}

impl Cluster {
    /// Connects with the current kubeconfig (or in-cluster config) to `cluster`, a
    /// namespace name or cluster ARN, or the context's namespace.
    pub async fn connect(cluster: Option<String>) -> Result<Cluster, CliError> {
        let config = Config::infer().await.map_err(|e| CliError::config(format!("no Kubernetes configuration: {e}")))?;
        let namespace = cluster.as_deref().map(cluster_name).map(str::to_string).unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| CliError::config(format!("cannot build a Kubernetes client: {e}")))?;
        Ok(Cluster { client, arns: Arns { cluster: namespace.clone() }, namespace })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Every object of kind `K` in the whole cluster (every namespace), narrowed by `params`;
    /// None where the user may not list them there (403).
    pub async fn list_everywhere<K>(&self, params: &ListParams) -> Result<Option<Vec<K>>, CliError>
    where
        K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    {
        match Api::<K>::all(self.client.clone()).list(params).await {
            Ok(list) => Ok(Some(list.items)),
            Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
            Err(e) => Err(CliError::api(e)),
        }
    }

    /// Every pod Berth made, in every namespace; None where the user may not list them there.
    pub async fn berth_pods_everywhere(&self) -> Result<Option<Vec<Pod>>, CliError> {
        self.list_everywhere(&ListParams::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE))).await
    }

    /// Task pods (every pod Berth made for a Service or TaskRun), narrowed by `selector`.
    pub async fn task_pods(&self, selector: Option<String>) -> Result<Vec<Pod>, CliError> {
        let base = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let selector = selector.map_or(base.clone(), |s| format!("{base},{s}"));
        let pods = self.api::<Pod>().list(&ListParams::default().labels(&selector)).await.map_err(CliError::api)?;
        Ok(pods.items.into_iter().filter(|p| p.labels().contains_key(labels::TASK_ID)).collect())
    }

    /// The zone of each node that has one.
    pub async fn node_zones(&self) -> Result<BTreeMap<String, String>, CliError> {
        let nodes = Api::<Node>::all(self.client.clone()).list(&ListParams::default()).await.map_err(CliError::api)?;
        Ok(nodes.items.iter().filter_map(|n| Some((n.name_any(), n.labels().get(ZONE_LABEL)?.clone()))).collect())
    }

    /// What each pod's node and capacity provider say of where it runs.
    pub async fn placements(&self) -> Result<impl Fn(&Pod) -> Placement, CliError> {
        let zones = self.node_zones().await?;
        let providers = Api::<CapacityProvider>::all(self.client.clone()).list(&ListParams::default()).await.map_err(CliError::api)?;
        let launch_types: BTreeMap<String, String> = providers.items.iter().map(|p| (p.name_any(), wire_name(&p.spec.type_))).collect();
        Ok(move |pod: &Pod| Placement {
            zone: pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).and_then(|n| zones.get(n)).cloned(),
            launch_type: pod.labels().get(labels::CAPACITY_PROVIDER).and_then(|p| launch_types.get(p)).cloned(),
        })
    }

    /// The Kubernetes Events about the Berth Service `name`, as ECS service events.
    pub async fn service_events(&self, name: &str) -> Result<Vec<ServiceEvent>, CliError> {
        let selector = format!("involvedObject.kind=Service,involvedObject.apiVersion=berth.dev/v1alpha1,involvedObject.name={name}");
        let events = self.api::<Event>().list(&ListParams::default().fields(&selector)).await.map_err(CliError::api)?;
        Ok(events.items.into_iter().filter_map(|e| {
            // Events from kube's recorder carry eventTime and a series; older ones lastTimestamp.
            let created_at = e.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0))
                .or(e.last_timestamp.clone())
                .or_else(|| e.event_time.as_ref().map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0)))
                .or(e.metadata.creation_timestamp.clone())?;
            Some(ServiceEvent { id: e.metadata.uid.clone().unwrap_or_default(), created_at, message: e.message.clone().unwrap_or_default() })
        }).collect())
    }
}
