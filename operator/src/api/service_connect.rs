//! Service Connect configuration (ecs-semantics §2.14); accepted verbatim. Client aliases
//! become Kubernetes Services (`crate::ecs::traffic`); the proxy settings have no equivalent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EnabledState, LogConfiguration};

/// Service Connect: a managed proxy that makes the service reachable by name in a namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectConfiguration {
    /// Turns Service Connect on.
    pub enabled: bool,
    /// Cloud Map namespace name or ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Ports this service publishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceConnectService>>,
    /// Log configuration of the proxy container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Proxy access logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_configuration: Option<ServiceConnectAccessLogConfiguration>,
}

/// One published port of a Service Connect service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectService {
    /// Must equal a `portMappings[].name` of the task definition.
    #[schemars(length(min = 1, max = 64))]
    pub port_name: String,
    /// Name registered in the namespace, at most 64 characters (default: portName).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub discovery_name: Option<String>,
    /// Client-facing name and port, at most 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub client_aliases: Option<Vec<ServiceConnectClientAlias>>,
    /// Port the proxy listens on instead of the container port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub ingress_port_override: Option<i32>,
    /// Proxy timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutConfiguration>,
    /// TLS settings of the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServiceConnectTlsConfiguration>,
}

/// How clients address the service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectClientAlias {
    /// Port clients connect to, 1-65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// DNS name clients use, at most 127 characters (default `discoveryName.namespace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 127))]
    pub dns_name: Option<String>,
    /// Header-based routing of test traffic during blue/green deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_traffic_rules: Option<ServiceConnectTestTrafficRules>,
}

/// Test traffic routing rules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficRules {
    /// Header that marks test traffic.
    pub header: ServiceConnectTestTrafficHeaderRules,
}

/// A header match for test traffic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficHeaderRules {
    /// Header name.
    pub name: String,
    /// Value the header must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ServiceConnectTestTrafficHeaderMatchRules>,
}

/// Exact header value match.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTestTrafficHeaderMatchRules {
    /// The exact header value.
    pub exact: String,
}

/// Proxy timeouts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutConfiguration {
    /// Seconds a connection may stay idle.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub idle_timeout_seconds: Option<i32>,
    /// Seconds a request may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub per_request_timeout_seconds: Option<i32>,
}

/// Proxy TLS settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTlsConfiguration {
    /// Private CA issuing the certificates.
    pub issuer_certificate_authority: ServiceConnectTlsCertificateAuthority,
    /// KMS key for the private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// Role ECS assumes for TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// A private certificate authority.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectTlsCertificateAuthority {
    /// AWS Private CA ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_pca_authority_arn: Option<String>,
}

/// Access log formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessLogFormat {
    Text,
    Json,
}

/// Proxy access log settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnectAccessLogConfiguration {
    /// TEXT or JSON.
    pub format: AccessLogFormat,
    /// ENABLED logs query parameters; DISABLED (default) does not.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub include_query_parameters: Option<EnabledState>,
}
