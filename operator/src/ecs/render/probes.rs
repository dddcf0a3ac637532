//! ECS `healthCheck` → probes (ecs-semantics §4.4, §4.5).
//!
//! ECS health is observed, never acted on by the runtime, so a health check becomes a
//! readiness probe and never a liveness probe: Berth itself replaces unhealthy service tasks.
//! `startPeriod` is not an initial delay: a success inside it counts, so the operator applies
//! it when it derives the container's health from readiness.

use k8s_openapi::api::core::v1::{ExecAction, Probe};

use crate::api::HealthCheck;

use super::RenderError;

const DEFAULT_INTERVAL: i32 = 30;
const DEFAULT_TIMEOUT: i32 = 5;
const DEFAULT_RETRIES: i32 = 3;
/// Shortest wait a HEALTHY dependent is given when the target sets no longer `startTimeout`
/// or `startPeriod`.
const MIN_STARTUP_WAIT: i32 = 300;

/// The exec command: `CMD-SHELL` runs its joined arguments under `/bin/sh -c`, `CMD` runs its
/// arguments, and anything else runs the whole array as given.
fn exec_command(container: &str, check: &HealthCheck) -> Result<Vec<String>, RenderError> {
    let command = match check.command.split_first() {
        Some((first, rest)) if first == "CMD-SHELL" => {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")]
        }
        Some((first, rest)) if first == "CMD" => rest.to_vec(),
        _ => check.command.clone(),
    };
    if command.last().is_none_or(|arg| arg.trim().is_empty()) {
        return Err(RenderError::EmptyHealthCheck {
            container: container.to_owned(),
        });
    }
    Ok(command)
}

fn interval(check: &HealthCheck) -> i32 {
    check
        .interval
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_INTERVAL)
}

/// A probe running the health check command with its interval and timeout.
fn exec_probe(
    container: &str,
    check: &HealthCheck,
    failure_threshold: i32,
) -> Result<Probe, RenderError> {
    Ok(Probe {
        exec: Some(ExecAction {
            command: Some(exec_command(container, check)?),
        }),
        period_seconds: Some(interval(check)),
        timeout_seconds: Some(check.timeout.filter(|s| *s > 0).unwrap_or(DEFAULT_TIMEOUT)),
        failure_threshold: Some(failure_threshold),
        success_threshold: Some(1),
        initial_delay_seconds: Some(0),
        ..Default::default()
    })
}

/// The readiness probe that reports the container's ECS health.
pub(super) fn readiness_probe(container: &str, check: &HealthCheck) -> Result<Probe, RenderError> {
    exec_probe(
        container,
        check,
        check.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
    )
}

/// The startup probe of a sidecar that a HEALTHY dependency waits for. The kubelet holds
/// later containers until it passes. A failed startup probe would restart the sidecar,
/// which ECS never does, so its budget is generous — the longest of `startTimeout`,
/// `startPeriod` and five minutes, plus the retries — and the operator enforces the ECS
/// `startTimeout` deadline itself.
pub(super) fn startup_probe(
    container: &str,
    check: &HealthCheck,
    start_timeout: Option<i32>,
) -> Result<Probe, RenderError> {
    let interval = interval(check);
    let wait = start_timeout
        .unwrap_or(0)
        .max(check.start_period.unwrap_or(0))
        .max(MIN_STARTUP_WAIT);
    let retries = check.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES);
    exec_probe(container, check, (wait + interval - 1) / interval + retries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> HealthCheck {
        serde_json::from_str(json).unwrap()
    }

    fn command(probe: &Probe) -> Vec<String> {
        probe.exec.as_ref().unwrap().command.clone().unwrap()
    }

    #[test]
    fn cmd_shell_runs_under_sh() {
        let probe = readiness_probe(
            "web",
            &check(r#"{"command": ["CMD-SHELL", "curl -f http://localhost/", "|| exit 1"]}"#),
        )
        .unwrap();
        assert_eq!(
            command(&probe),
            ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]
        );
    }

    #[test]
    fn cmd_runs_the_rest_and_anything_else_runs_whole() {
        let probe =
            readiness_probe("web", &check(r#"{"command": ["CMD", "pg_isready", "-q"]}"#)).unwrap();
        assert_eq!(command(&probe), ["pg_isready", "-q"]);
        let probe =
            readiness_probe("web", &check(r#"{"command": ["/bin/check", "--fast"]}"#)).unwrap();
        assert_eq!(command(&probe), ["/bin/check", "--fast"]);
    }

    #[test]
    fn defaults_match_ecs() {
        let probe = readiness_probe("web", &check(r#"{"command": ["CMD", "true"]}"#)).unwrap();
        assert_eq!(
            (
                probe.period_seconds,
                probe.timeout_seconds,
                probe.failure_threshold,
                probe.success_threshold,
                probe.initial_delay_seconds
            ),
            (Some(30), Some(5), Some(3), Some(1), Some(0))
        );
    }

    #[test]
    fn timing_comes_from_the_check() {
        let probe = readiness_probe("web", &check(r#"{"command": ["CMD", "true"], "interval": 10, "timeout": 2, "retries": 5, "startPeriod": 60}"#)).unwrap();
        assert_eq!(
            (
                probe.period_seconds,
                probe.timeout_seconds,
                probe.failure_threshold
            ),
            (Some(10), Some(2), Some(5))
        );
    }

    #[test]
    fn empty_commands_are_errors() {
        assert!(matches!(
            readiness_probe("web", &check(r#"{"command": ["CMD"]}"#)),
            Err(RenderError::EmptyHealthCheck { .. })
        ));
        assert!(matches!(
            readiness_probe("web", &check(r#"{"command": ["CMD-SHELL", " "]}"#)),
            Err(RenderError::EmptyHealthCheck { .. })
        ));
    }

    #[test]
    fn startup_budget_covers_start_timeout_and_start_period() {
        let hc = check(
            r#"{"command": ["CMD", "true"], "interval": 10, "retries": 2, "startPeriod": 30}"#,
        );
        assert_eq!(
            startup_probe("db", &hc, None).unwrap().failure_threshold,
            Some(32)
        );
        assert_eq!(
            startup_probe("db", &hc, Some(600))
                .unwrap()
                .failure_threshold,
            Some(62)
        );
    }
}
