//! Task volumes (ecs-semantics §1.4).

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::EnabledState;
use super::rules::NAME_PATTERN;

/// A volume containers of the task can mount (ECS Volume). Carries at most one source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("[has(self.host), has(self.dockerVolumeConfiguration), has(self.efsVolumeConfiguration), has(self.s3filesVolumeConfiguration), has(self.fsxWindowsFileServerVolumeConfiguration), has(self.configuredAtLaunch) && self.configuredAtLaunch].filter(x, x).size() <= 1")
    .message("volumes[]: set at most one of host, dockerVolumeConfiguration, efsVolumeConfiguration, s3filesVolumeConfiguration, fsxWindowsFileServerVolumeConfiguration or configuredAtLaunch"))]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Volume name referenced by `mountPoints[].sourceVolume`: 1-255 letters, digits, `_` and `-`.
    #[schemars(length(min = 1, max = 255), pattern(NAME_PATTERN))]
    pub name: String,
    /// A host path (`sourcePath`) or, when empty, a scratch directory deleted with the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    /// A Docker volume; EC2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    /// An Amazon EFS file system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    /// An Amazon S3 Files file system.
    #[serde(
        rename = "s3filesVolumeConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3files_volume_configuration: Option<S3FilesVolumeConfiguration>,
    /// An Amazon FSx for Windows File Server file system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FsxWindowsFileServerVolumeConfiguration>,
    /// The volume is supplied when the task is launched (Service/TaskRun `volumeConfigurations`);
    /// at most one per task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at_launch: Option<bool>,
}

/// A bind mount source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostVolumeProperties {
    /// Host path to mount; not on Fargate. Omit for a task-scoped scratch directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

/// Lifetime of a Docker volume.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DockerVolumeScope {
    Task,
    Shared,
}

/// A Docker-managed volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    /// `task` (removed with the task) or `shared` (persists).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub scope: Option<DockerVolumeScope>,
    /// Creates a `shared` volume when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    /// Docker volume driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options, string to string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Docker volume labels, string to string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// An EFS volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.authorizationConfig) || !has(self.authorizationConfig.iam) || self.authorizationConfig.iam != 'ENABLED' || (has(self.transitEncryption) && self.transitEncryption == 'ENABLED')")
    .message("efsVolumeConfiguration: authorizationConfig.iam ENABLED requires transitEncryption ENABLED"))]
#[serde(rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    /// EFS file system ID.
    pub file_system_id: String,
    /// Directory of the file system to mount (default `/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// `ENABLED` or `DISABLED` (ECS default DISABLED).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<EnabledState>,
    /// Port for encrypted traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub transit_encryption_port: Option<i32>,
    /// Access point and IAM authorisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

/// EFS access point and IAM settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EfsAuthorizationConfig {
    /// EFS access point ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// `ENABLED` uses the task role for EFS IAM authorisation; needs transit encryption.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub iam: Option<EnabledState>,
}

/// An S3 Files volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3FilesVolumeConfiguration {
    /// S3 Files file system ARN.
    pub file_system_arn: String,
    /// Directory of the file system to mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// Port for encrypted traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub transit_encryption_port: Option<i32>,
    /// Access point ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_arn: Option<String>,
}

/// An FSx for Windows File Server volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerVolumeConfiguration {
    /// FSx file system ID.
    pub file_system_id: String,
    /// Directory of the file system to mount.
    pub root_directory: String,
    /// Credentials used to mount the share.
    pub authorization_config: FsxWindowsFileServerAuthorizationConfig,
}

/// FSx for Windows credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerAuthorizationConfig {
    /// Secrets Manager or SSM reference holding the credentials.
    pub credentials_parameter: String,
    /// Active Directory domain.
    pub domain: String,
}
