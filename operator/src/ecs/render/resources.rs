//! CPU, memory and GPU sizes (ecs-semantics §4.3).
//!
//! Container `cpu` is a relative weight in ECS, so it becomes a request only, never a limit.
//! Container `memory` is a hard limit; `memoryReservation` is the soft amount placement
//! counts. Task `cpu`/`memory` are hard caps on the whole task and become pod-level
//! resources (PodLevelResources, beta and on by default since Kubernetes 1.34).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::{ContainerDefinition, ContainerOverride, ResourceRequirement, ResourceType};

use super::RenderError;

/// Extended resource a GPU `resourceRequirements` entry requests.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// ECS CPU units per vCPU.
const UNITS_PER_VCPU: f64 = 1024.0;
/// MiB per GB in ECS task memory strings (ECS reads `1GB` as 1024 MiB).
const MIB_PER_GB: f64 = 1024.0;
/// Largest task size accepted when parsing, far above any ECS limit; keeps arithmetic in range.
const MAX_TASK_SIZE: f64 = 1_048_576.0;

/// Kubernetes millicores for ECS CPU units: `round(units × 1000 / 1024)`, which Kubernetes
/// converts back to the same number of cgroup shares. `None` for 0 (no request; both sides
/// then give the container the minimum share).
pub(super) fn cpu_millicores(units: u32) -> Option<u64> {
    (units > 0).then(|| (u64::from(units) * 1000 + 512) / 1024)
}

/// A container's CPU and memory after RunTask overrides, in ECS units (CPU units and MiB).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct ContainerSize {
    pub cpu: u32,
    pub memory: Option<u32>,
    pub memory_reservation: Option<u32>,
}

impl ContainerSize {
    pub(super) fn of(
        container: &ContainerDefinition,
        overrides: Option<&ContainerOverride>,
    ) -> Self {
        let pick = |over: Option<i32>, base: Option<i32>| {
            over.or(base)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
        };
        ContainerSize {
            cpu: pick(overrides.and_then(|o| o.cpu), container.cpu).unwrap_or(0),
            memory: pick(overrides.and_then(|o| o.memory), container.memory),
            memory_reservation: pick(
                overrides.and_then(|o| o.memory_reservation),
                container.memory_reservation,
            ),
        }
    }

    /// The memory the scheduler reserves: the reservation, else the hard limit.
    fn memory_request(&self) -> Option<u32> {
        self.memory_reservation.or(self.memory)
    }
}

/// GPUs requested by `resourceRequirements`; entries that are not a whole number (`ALL`)
/// cannot be requested and are reported by [`super::unsupported_fields`].
pub(super) fn gpu_count(requirements: &[ResourceRequirement]) -> Option<u32> {
    let total: u32 = requirements
        .iter()
        .filter(|r| r.type_ == ResourceType::Gpu)
        .filter_map(|r| r.value.trim().parse::<u32>().ok())
        .fold(0, u32::saturating_add);
    (total > 0).then_some(total)
}

/// Container requests and limits: CPU request only; memory limit from `memory` and request
/// from `memoryReservation` (else `memory`); GPUs as a limit (Kubernetes copies extended
/// resource limits to requests).
pub(super) fn container_resources(
    size: &ContainerSize,
    gpus: Option<u32>,
) -> Option<ResourceRequirements> {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(millis) = cpu_millicores(size.cpu) {
        requests.insert("cpu".to_owned(), millicores(millis));
    }
    if let Some(request) = size.memory_request() {
        requests.insert("memory".to_owned(), mebibytes(request));
    }
    if let Some(limit) = size.memory {
        limits.insert("memory".to_owned(), mebibytes(limit));
    }
    if let Some(gpus) = gpus {
        limits.insert(GPU_RESOURCE.to_owned(), Quantity(gpus.to_string()));
    }
    requirements(requests, limits)
}

/// Pod-level resources from the task `cpu`/`memory` strings (`"1024"`, `"1 vCPU"`;
/// `"2048"`, `"2GB"`), with requests equal to limits. Containers may not together ask for
/// more than the task, as ECS also rejects; rounding CPU per container can add a millicore
/// or two, which the pod-level value absorbs.
pub(super) fn pod_resources(
    task_cpu: Option<&str>,
    task_memory: Option<&str>,
    containers: &[ContainerSize],
) -> Result<Option<ResourceRequirements>, RenderError> {
    let mut amounts = BTreeMap::new();
    if let Some(cpu) = task_cpu {
        let units = task_cpu_units(cpu).ok_or_else(|| invalid("cpu", cpu))?;
        let wanted: u64 = containers.iter().map(|c| u64::from(c.cpu)).sum();
        check_fits("container cpu units total", wanted, units)?;
        let container_millis: u64 = containers
            .iter()
            .filter_map(|c| cpu_millicores(c.cpu))
            .sum();
        let millis = cpu_millicores(units).unwrap_or(0).max(container_millis);
        if millis > 0 {
            amounts.insert("cpu".to_owned(), millicores(millis));
        }
    }
    if let Some(memory) = task_memory {
        let mib = task_memory_mib(memory).ok_or_else(|| invalid("memory", memory))?;
        let reserved: u64 = containers
            .iter()
            .filter_map(ContainerSize::memory_request)
            .map(u64::from)
            .sum();
        check_fits("container memory reservations (MiB) total", reserved, mib)?;
        let largest_limit = containers
            .iter()
            .filter_map(|c| c.memory)
            .max()
            .unwrap_or(0);
        check_fits(
            "the largest container memory (MiB)",
            u64::from(largest_limit),
            mib,
        )?;
        if mib > 0 {
            amounts.insert("memory".to_owned(), mebibytes(mib));
        }
    }
    Ok(requirements(amounts.clone(), amounts))
}

/// Task-level `cpu` in CPU units (`"1024"`, `"1 vCPU"`).
pub fn task_cpu_units(cpu: &str) -> Option<u32> {
    parse_size(cpu, "vcpu", UNITS_PER_VCPU)
}

/// Task-level `memory` in MiB (`"2048"`, `"2GB"`).
pub fn task_memory_mib(memory: &str) -> Option<u32> {
    parse_size(memory, "gb", MIB_PER_GB)
}

/// Parses an integer, or a decimal followed by `unit` (case and a space ignored) and scaled.
fn parse_size(value: &str, unit: &str, per_unit: f64) -> Option<u32> {
    let lowered = value.trim().to_ascii_lowercase();
    let (number, scale) = match lowered.strip_suffix(unit) {
        Some(number) => (number.trim_end(), per_unit),
        None => (lowered.as_str(), 1.0),
    };
    let amount = number.parse::<f64>().ok()? * scale;
    (amount.is_finite() && (0.0..=MAX_TASK_SIZE).contains(&amount)).then(|| amount.round() as u32)
}

fn check_fits(what: &str, wanted: u64, task: u32) -> Result<(), RenderError> {
    if wanted > u64::from(task) {
        return Err(RenderError::TaskSizeExceeded(format!(
            "{what} {wanted} exceeds the task's {task}"
        )));
    }
    Ok(())
}

fn invalid(field: &'static str, value: &str) -> RenderError {
    RenderError::InvalidTaskSize {
        field,
        value: value.to_owned(),
    }
}

fn millicores(millis: u64) -> Quantity {
    Quantity(format!("{millis}m"))
}

fn mebibytes<N: std::fmt::Display>(mib: N) -> Quantity {
    Quantity(format!("{mib}Mi"))
}

fn requirements(
    requests: BTreeMap<String, Quantity>,
    limits: BTreeMap<String, Quantity>,
) -> Option<ResourceRequirements> {
    (!requests.is_empty() || !limits.is_empty()).then(|| ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantities(map: &Option<BTreeMap<String, Quantity>>) -> Vec<(String, String)> {
        map.iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cpu_units_round_to_millicores() {
        assert_eq!(cpu_millicores(256), Some(250));
        assert_eq!(cpu_millicores(512), Some(500));
        assert_eq!(cpu_millicores(1024), Some(1000));
        assert_eq!(cpu_millicores(10), Some(10));
        assert_eq!(cpu_millicores(1), Some(1));
        assert_eq!(cpu_millicores(0), None);
    }

    #[test]
    fn memory_alone_is_limit_and_request_and_cpu_is_request_only() {
        let size = ContainerSize {
            cpu: 256,
            memory: Some(512),
            memory_reservation: None,
        };
        let resources = container_resources(&size, None).unwrap();
        assert_eq!(
            quantities(&resources.requests),
            pairs(&[("cpu", "250m"), ("memory", "512Mi")])
        );
        assert_eq!(quantities(&resources.limits), pairs(&[("memory", "512Mi")]));
    }

    #[test]
    fn reservation_is_the_request_and_memory_the_limit() {
        let size = ContainerSize {
            cpu: 0,
            memory: Some(1024),
            memory_reservation: Some(256),
        };
        let resources = container_resources(&size, None).unwrap();
        assert_eq!(
            quantities(&resources.requests),
            pairs(&[("memory", "256Mi")])
        );
        assert_eq!(
            quantities(&resources.limits),
            pairs(&[("memory", "1024Mi")])
        );
    }

    #[test]
    fn reservation_alone_sets_no_limit() {
        let size = ContainerSize {
            cpu: 0,
            memory: None,
            memory_reservation: Some(128),
        };
        let resources = container_resources(&size, None).unwrap();
        assert_eq!(
            quantities(&resources.requests),
            pairs(&[("memory", "128Mi")])
        );
        assert_eq!(resources.limits, None);
        assert_eq!(container_resources(&ContainerSize::default(), None), None);
    }

    #[test]
    fn gpus_are_limits() {
        let gpu = |value: &str| ResourceRequirement {
            value: value.into(),
            type_: ResourceType::Gpu,
        };
        assert_eq!(gpu_count(&[gpu("2"), gpu("ALL")]), Some(2));
        let resources = container_resources(&ContainerSize::default(), Some(2)).unwrap();
        assert_eq!(quantities(&resources.limits), pairs(&[(GPU_RESOURCE, "2")]));
    }

    #[test]
    fn task_sizes_in_every_ecs_form() {
        for (cpu, memory, millis, mib) in [
            ("1024", "2048", "1000m", "2048Mi"),
            ("1 vCPU", "2GB", "1000m", "2048Mi"),
            (".25 vcpu", "0.5 GB", "250m", "512Mi"),
            ("256", "512", "250m", "512Mi"),
        ] {
            let resources = pod_resources(Some(cpu), Some(memory), &[])
                .unwrap()
                .unwrap();
            let expected = pairs(&[("cpu", millis), ("memory", mib)]);
            assert_eq!(quantities(&resources.requests), expected);
            assert_eq!(quantities(&resources.limits), expected);
        }
    }

    #[test]
    fn task_memory_only() {
        let resources = pod_resources(None, Some("1024"), &[]).unwrap().unwrap();
        assert_eq!(
            quantities(&resources.limits),
            pairs(&[("memory", "1024Mi")])
        );
        assert_eq!(pod_resources(None, None, &[]).unwrap(), None);
    }

    #[test]
    fn bad_task_sizes_are_errors() {
        assert!(matches!(
            pod_resources(Some("lots"), None, &[]),
            Err(RenderError::InvalidTaskSize { field: "cpu", .. })
        ));
        assert!(matches!(
            pod_resources(None, Some("inf"), &[]),
            Err(RenderError::InvalidTaskSize {
                field: "memory",
                ..
            })
        ));
    }

    #[test]
    fn containers_may_not_exceed_the_task() {
        let big = ContainerSize {
            cpu: 512,
            memory: Some(4096),
            memory_reservation: Some(256),
        };
        assert!(matches!(
            pod_resources(Some("256"), None, &[big]),
            Err(RenderError::TaskSizeExceeded(_))
        ));
        assert!(matches!(
            pod_resources(None, Some("2048"), &[big]),
            Err(RenderError::TaskSizeExceeded(_))
        ));
    }

    #[test]
    fn per_container_rounding_is_absorbed_by_the_pod() {
        let one_unit = ContainerSize {
            cpu: 1,
            ..Default::default()
        };
        // 128 containers of 1 unit round to 1m each (128m) while 128 units round to 125m.
        let resources = pod_resources(Some("128"), None, &[one_unit; 128])
            .unwrap()
            .unwrap();
        assert_eq!(quantities(&resources.limits), pairs(&[("cpu", "128m")]));
    }
}
