//! Pod-wide networking and namespaces (ecs-semantics §4.2): network mode, PID and IPC
//! sharing, hostname, `/etc/hosts` entries and DNS. ECS sets several of these per container;
//! a pod has one of each, so values from all containers are merged in definition order.

use k8s_openapi::api::core::v1::{HostAlias, PodDNSConfig, PodSpec};

use crate::api::{IpcMode, NetworkMode, PidMode, TaskDefinitionSpec};

use super::names::{dns_label, dns_subdomain};

/// Nameservers a pod may list; more are reported by [`super::unsupported_fields`].
pub const MAX_NAMESERVERS: usize = 3;

const LOCALHOST: &str = "127.0.0.1";

pub(super) fn apply(spec: &TaskDefinitionSpec, pod: &mut PodSpec) {
    let containers = &spec.container_definitions;
    if spec.network_mode == Some(NetworkMode::Host) {
        pod.host_network = Some(true);
        pod.dns_policy = Some("ClusterFirstWithHostNet".to_owned());
    }
    match spec.pid_mode {
        Some(PidMode::Task) => pod.share_process_namespace = Some(true),
        Some(PidMode::Host) => pod.host_pid = Some(true),
        None => {}
    }
    if spec.ipc_mode == Some(IpcMode::Host) {
        pod.host_ipc = Some(true);
    }
    // A pod has one hostname, a DNS label: the first label of the first container's hostname.
    pod.hostname = containers
        .iter()
        .find_map(|c| c.hostname.as_deref())
        .map(|h| dns_label(h.split('.').next().unwrap_or(h)));
    pod.host_aliases = host_aliases(spec);

    let nameservers: Vec<String> = nameservers(spec)
        .into_iter()
        .take(MAX_NAMESERVERS)
        .collect();
    let searches = distinct(
        containers
            .iter()
            .flat_map(|c| c.dns_search_domains.iter().flatten()),
    );
    if !nameservers.is_empty() {
        // Only `None` replaces the cluster resolver; search domains alone add to it.
        pod.dns_policy = Some("None".to_owned());
    }
    if !nameservers.is_empty() || !searches.is_empty() {
        pod.dns_config = Some(PodDNSConfig {
            nameservers: (!nameservers.is_empty()).then_some(nameservers),
            searches: (!searches.is_empty()).then_some(searches),
            options: None,
        });
    }
}

/// Every DNS server the containers ask for, in order, without repeats.
pub(super) fn nameservers(spec: &TaskDefinitionSpec) -> Vec<String> {
    distinct(
        spec.container_definitions
            .iter()
            .flat_map(|c| c.dns_servers.iter().flatten()),
    )
}

/// `extraHosts` grouped by address, plus `links` aliases on 127.0.0.1: containers of a pod
/// share localhost, so a linked name reaches its container there.
fn host_aliases(spec: &TaskDefinitionSpec) -> Option<Vec<HostAlias>> {
    let mut aliases: Vec<HostAlias> = Vec::new();
    let mut add = |ip: &str, hostname: &str| {
        let hostname = dns_subdomain(hostname);
        match aliases.iter_mut().find(|a| a.ip == ip) {
            Some(alias) => {
                let names = alias.hostnames.get_or_insert_with(Vec::new);
                if !names.contains(&hostname) {
                    names.push(hostname);
                }
            }
            None => aliases.push(HostAlias {
                ip: ip.to_owned(),
                hostnames: Some(vec![hostname]),
            }),
        }
    };
    for container in &spec.container_definitions {
        for host in container.extra_hosts.iter().flatten() {
            add(&host.ip_address, &host.hostname);
        }
        for link in container.links.iter().flatten() {
            // `name:alias` makes `alias` resolve; a bare `name` makes the name resolve.
            add(LOCALHOST, link.rsplit(':').next().unwrap_or(link));
        }
    }
    (!aliases.is_empty()).then_some(aliases)
}

fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_for(yaml: &str) -> PodSpec {
        let spec: TaskDefinitionSpec = serde_saphyr::from_str(yaml).unwrap();
        let mut pod = PodSpec::default();
        apply(&spec, &mut pod);
        pod
    }

    #[test]
    fn host_network_mode() {
        let pod = pod_for("networkMode: host\ncontainerDefinitions: [{name: a, image: x}]\n");
        assert_eq!(pod.host_network, Some(true));
        assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
        let pod = pod_for("networkMode: awsvpc\ncontainerDefinitions: [{name: a, image: x}]\n");
        assert_eq!((pod.host_network, pod.dns_policy), (None, None));
    }

    #[test]
    fn pid_and_ipc_modes() {
        let pod =
            pod_for("pidMode: task\nipcMode: host\ncontainerDefinitions: [{name: a, image: x}]\n");
        assert_eq!(
            (pod.share_process_namespace, pod.host_pid, pod.host_ipc),
            (Some(true), None, Some(true))
        );
        let pod = pod_for("pidMode: host\ncontainerDefinitions: [{name: a, image: x}]\n");
        assert_eq!(
            (pod.share_process_namespace, pod.host_pid),
            (None, Some(true))
        );
    }

    #[test]
    fn hostname_extra_hosts_and_links() {
        let pod = pod_for(
            r#"
containerDefinitions:
  - name: a
    image: x
    hostname: Web_1.example.com
    extraHosts: [{hostname: db.internal, ipAddress: 10.0.0.5}, {hostname: cache, ipAddress: 10.0.0.5}]
    links: ["b:backend", "c"]
"#,
        );
        assert_eq!(pod.hostname.as_deref(), Some("web-1"));
        let aliases: Vec<(String, Vec<String>)> = pod
            .host_aliases
            .unwrap()
            .into_iter()
            .map(|a| (a.ip, a.hostnames.unwrap()))
            .collect();
        assert_eq!(
            aliases,
            [
                (
                    "10.0.0.5".to_owned(),
                    vec!["db.internal".to_owned(), "cache".to_owned()]
                ),
                (
                    "127.0.0.1".to_owned(),
                    vec!["backend".to_owned(), "c".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn dns_servers_replace_the_cluster_resolver() {
        let pod = pod_for(
            "containerDefinitions: [{name: a, image: x, dnsServers: [1.1.1.1, 8.8.8.8], dnsSearchDomains: [corp]}, {name: b, image: x, dnsServers: [8.8.8.8]}]\n",
        );
        assert_eq!(pod.dns_policy.as_deref(), Some("None"));
        let config = pod.dns_config.unwrap();
        assert_eq!(config.nameservers.unwrap(), ["1.1.1.1", "8.8.8.8"]);
        assert_eq!(config.searches.unwrap(), ["corp"]);
    }

    #[test]
    fn search_domains_alone_keep_the_cluster_resolver() {
        let pod =
            pod_for("containerDefinitions: [{name: a, image: x, dnsSearchDomains: [corp]}]\n");
        assert_eq!(pod.dns_policy, None);
        assert_eq!(pod.dns_config.unwrap().searches.unwrap(), ["corp"]);
    }
}
