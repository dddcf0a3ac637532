//! Task volumes and container mounts (ecs-semantics §1.4, §4.2).
//!
//! | ECS volume | Kubernetes volume |
//! |---|---|
//! | `host.sourcePath` | `hostPath` |
//! | `host: {}` or no source | `emptyDir` (scratch space deleted with the task, as in ECS) |
//! | `dockerVolumeConfiguration` | `emptyDir`; a `shared` scope does not outlive the task (reported) |
//! | EFS, FSx, S3 Files, `configuredAtLaunch` | `emptyDir`, reported as unsupported: Berth cannot know how the cluster reaches the file system, and an empty scratch directory fails loudly instead of hanging the task in Pending |
//!
//! `linuxParameters.sharedMemorySize` and `tmpfs` become memory-backed `emptyDir`s of their
//! own, mounted at `/dev/shm` and at the tmpfs path.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, HostPathVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::{ContainerDefinition, TaskDefinitionSpec};

use super::names::unique_dns_labels;
use super::{RenderError, container_field};

const SHARED_MEMORY_PATH: &str = "/dev/shm";

/// The pod's volumes and the Kubernetes name of each, keyed by ECS volume name or by a
/// generated key for shared memory and tmpfs (generated keys contain `/`, which ECS names
/// cannot, so they never clash).
pub(super) struct TaskVolumes {
    volumes: Vec<Volume>,
    names: BTreeMap<String, String>,
}

fn shared_memory_key(container: &str) -> String {
    format!("shm/{container}")
}

fn tmpfs_key(container: &str, index: usize) -> String {
    format!("tmpfs/{container}/{index}")
}

impl TaskVolumes {
    pub(super) fn new(spec: &TaskDefinitionSpec) -> Self {
        let mut sources: Vec<(String, Volume)> = Vec::new();
        for volume in spec.volumes.iter().flatten() {
            let host_path = volume.host.as_ref().and_then(|h| h.source_path.clone());
            let source = match host_path {
                Some(path) => Volume {
                    host_path: Some(HostPathVolumeSource { path, type_: None }),
                    ..Default::default()
                },
                None => empty_dir(None, None),
            };
            sources.push((volume.name.clone(), source));
        }
        for container in &spec.container_definitions {
            let Some(linux) = &container.linux_parameters else {
                continue;
            };
            if let Some(size) = linux.shared_memory_size.filter(|s| *s > 0) {
                sources.push((
                    shared_memory_key(&container.name),
                    empty_dir(Some("Memory"), Some(size)),
                ));
            }
            for (index, tmpfs) in linux.tmpfs.iter().flatten().enumerate() {
                sources.push((
                    tmpfs_key(&container.name, index),
                    empty_dir(Some("Memory"), Some(tmpfs.size)),
                ));
            }
        }
        let keys: Vec<&str> = sources.iter().map(|(key, _)| key.as_str()).collect();
        let k8s_names = unique_dns_labels(&keys);
        let names = keys
            .iter()
            .map(|k| k.to_string())
            .zip(k8s_names.iter().cloned())
            .collect();
        let volumes = sources
            .into_iter()
            .zip(k8s_names)
            .map(|((_, volume), name)| Volume { name, ..volume })
            .collect();
        TaskVolumes { volumes, names }
    }

    pub(super) fn into_volumes(self) -> Vec<Volume> {
        self.volumes
    }

    /// The container's mounts: its own `mountPoints`, tmpfs and shared memory, then the mounts
    /// copied by `volumesFrom`. The first mount of a path wins, as Docker lets a container's
    /// own mounts shadow inherited ones.
    pub(super) fn mounts(
        &self,
        spec: &TaskDefinitionSpec,
        container: &ContainerDefinition,
    ) -> Result<Vec<VolumeMount>, RenderError> {
        let mut mounts = self.mount_points(container)?;
        if let Some(linux) = &container.linux_parameters {
            for (index, tmpfs) in linux.tmpfs.iter().flatten().enumerate() {
                mounts.push(
                    self.generated_mount(&tmpfs_key(&container.name, index), &tmpfs.container_path),
                );
            }
            if linux.shared_memory_size.is_some_and(|s| s > 0) {
                mounts.push(
                    self.generated_mount(&shared_memory_key(&container.name), SHARED_MEMORY_PATH),
                );
            }
        }
        let mut visited = BTreeSet::from([container.name.as_str()]);
        mounts.extend(self.inherited_mounts(spec, container, &mut visited)?);
        let mut paths = BTreeSet::new();
        mounts.retain(|m| paths.insert(m.mount_path.clone()));
        Ok(mounts)
    }

    fn mount_points(
        &self,
        container: &ContainerDefinition,
    ) -> Result<Vec<VolumeMount>, RenderError> {
        container
            .mount_points
            .iter()
            .flatten()
            .map(|point| {
                let volume = point.source_volume.clone().unwrap_or_default();
                let name = self
                    .names
                    .get(&volume)
                    .ok_or_else(|| RenderError::UnknownVolume {
                        field: container_field(&container.name, "mountPoints"),
                        volume: volume.clone(),
                    })?;
                Ok(VolumeMount {
                    name: name.clone(),
                    mount_path: point.container_path.clone(),
                    read_only: point.read_only.filter(|r| *r),
                    ..Default::default()
                })
            })
            .collect()
    }

    /// Mounts `volumesFrom` copies, transitively as Docker does. `readOnly: true` forces every
    /// copied mount read-only, `false` makes them writable, and unset keeps the source's mode.
    fn inherited_mounts<'a>(
        &self,
        spec: &'a TaskDefinitionSpec,
        container: &ContainerDefinition,
        visited: &mut BTreeSet<&'a str>,
    ) -> Result<Vec<VolumeMount>, RenderError> {
        let mut mounts = Vec::new();
        for from in container.volumes_from.iter().flatten() {
            let source_name = from.source_container.as_deref().unwrap_or_default();
            let source = spec
                .container_definitions
                .iter()
                .find(|c| c.name == source_name)
                .ok_or_else(|| RenderError::UnknownContainer {
                    field: container_field(&container.name, "volumesFrom"),
                    target: source_name.to_owned(),
                })?;
            if !visited.insert(source.name.as_str()) {
                continue;
            }
            let mut copied = self.mount_points(source)?;
            copied.extend(self.inherited_mounts(spec, source, visited)?);
            for mount in &mut copied {
                match from.read_only {
                    Some(true) => mount.read_only = Some(true),
                    Some(false) => mount.read_only = None,
                    None => {}
                }
            }
            mounts.extend(copied);
        }
        Ok(mounts)
    }

    fn generated_mount(&self, key: &str, path: &str) -> VolumeMount {
        VolumeMount {
            name: self.names[key].clone(),
            mount_path: path.to_owned(),
            ..Default::default()
        }
    }
}

fn empty_dir(medium: Option<&str>, size_mib: Option<i32>) -> Volume {
    Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.map(str::to_owned),
            size_limit: size_mib
                .filter(|s| *s > 0)
                .map(|s| Quantity(format!("{s}Mi"))),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TaskDefinitionSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn mounts_of(spec: &TaskDefinitionSpec, container: usize) -> Vec<(String, String, bool)> {
        let volumes = TaskVolumes::new(spec);
        let mounts = volumes
            .mounts(spec, &spec.container_definitions[container])
            .unwrap();
        mounts
            .into_iter()
            .map(|m| (m.name, m.mount_path, m.read_only.unwrap_or(false)))
            .collect()
    }

    const SHARED: &str = r#"
containerDefinitions:
  - name: writer
    image: busybox
    mountPoints:
      - {sourceVolume: Data_Dir, containerPath: /data}
      - {sourceVolume: cache, containerPath: /cache, readOnly: true}
  - name: reader
    image: busybox
    volumesFrom: [{sourceContainer: writer, readOnly: true}]
  - name: heir
    image: busybox
    volumesFrom: [{sourceContainer: reader}]
    mountPoints: [{sourceVolume: logs, containerPath: /data}]
volumes:
  - name: Data_Dir
    host: {sourcePath: /srv/data}
  - name: cache
    host: {}
  - name: logs
"#;

    #[test]
    fn volume_sources() {
        let volumes = TaskVolumes::new(&spec(SHARED)).into_volumes();
        let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["data-dir", "cache", "logs"]);
        assert_eq!(volumes[0].host_path.as_ref().unwrap().path, "/srv/data");
        assert!(volumes[1].empty_dir.is_some() && volumes[2].empty_dir.is_some());
    }

    #[test]
    fn mount_points_become_volume_mounts() {
        let spec = spec(SHARED);
        assert_eq!(
            mounts_of(&spec, 0),
            [
                ("data-dir".into(), "/data".into(), false),
                ("cache".into(), "/cache".into(), true)
            ]
        );
    }

    #[test]
    fn volumes_from_copies_mounts_with_the_read_only_override() {
        let spec = spec(SHARED);
        assert_eq!(
            mounts_of(&spec, 1),
            [
                ("data-dir".into(), "/data".into(), true),
                ("cache".into(), "/cache".into(), true)
            ]
        );
    }

    #[test]
    fn volumes_from_is_transitive_and_own_mounts_win() {
        let spec = spec(SHARED);
        assert_eq!(
            mounts_of(&spec, 2),
            [
                ("logs".into(), "/data".into(), false),
                ("cache".into(), "/cache".into(), true)
            ]
        );
    }

    #[test]
    fn shared_memory_and_tmpfs_are_memory_backed() {
        let spec = spec(
            r#"
containerDefinitions:
  - name: Chrome
    image: chrome
    linuxParameters:
      sharedMemorySize: 256
      tmpfs: [{containerPath: /tmp, size: 64}]
"#,
        );
        let volumes = TaskVolumes::new(&spec).into_volumes();
        let dirs: Vec<(&str, String, String)> = volumes
            .iter()
            .map(|v| {
                let dir = v.empty_dir.as_ref().unwrap();
                (
                    v.name.as_str(),
                    dir.medium.clone().unwrap(),
                    dir.size_limit.clone().unwrap().0,
                )
            })
            .collect();
        assert_eq!(
            dirs,
            [
                ("shm-chrome", "Memory".into(), "256Mi".into()),
                ("tmpfs-chrome-0", "Memory".into(), "64Mi".into())
            ]
        );
        assert_eq!(
            mounts_of(&spec, 0),
            [
                ("tmpfs-chrome-0".into(), "/tmp".into(), false),
                ("shm-chrome".into(), "/dev/shm".into(), false)
            ]
        );
    }

    #[test]
    fn generated_names_never_clash_with_task_volumes() {
        let spec = spec(
            r#"
containerDefinitions:
  - {name: web, image: x, linuxParameters: {sharedMemorySize: 64}, mountPoints: [{sourceVolume: shm-web, containerPath: /x}]}
volumes: [{name: shm-web}]
"#,
        );
        let volumes = TaskVolumes::new(&spec).into_volumes();
        assert_eq!(volumes[0].name, "shm-web");
        assert!(volumes[1].name.starts_with("shm-web-"));
    }

    #[test]
    fn unknown_volumes_and_sources_are_errors() {
        let spec = spec(
            r#"
containerDefinitions:
  - {name: a, image: x, mountPoints: [{sourceVolume: nope, containerPath: /x}]}
  - {name: b, image: x, volumesFrom: [{sourceContainer: ghost}]}
"#,
        );
        let volumes = TaskVolumes::new(&spec);
        assert!(matches!(
            volumes.mounts(&spec, &spec.container_definitions[0]),
            Err(RenderError::UnknownVolume { .. })
        ));
        assert!(matches!(
            volumes.mounts(&spec, &spec.container_definitions[1]),
            Err(RenderError::UnknownContainer { .. })
        ));
    }
}
