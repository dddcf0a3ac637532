//! Label and annotation keys on task pods. Labels hold sanitised values for
//! selectors; annotations keep the original ECS strings.

/// Every object Berth creates carries this, so watches can be narrowed to it.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "berth";

/// Name of the Berth Service that owns the task.
pub const SERVICE: &str = "berth.dev/service";
/// Name of the TaskRun that owns the task.
pub const TASK_RUN: &str = "berth.dev/task-run";
/// The service deployment the task belongs to (label-safe form of `ecs-svc/<id>`).
pub const DEPLOYMENT: &str = "berth.dev/deployment";
/// On a TaskRun: the TaskSchedule that started it (label), and the time it was scheduled
/// for (annotation, RFC 3339, in the schedule's time).
pub const TASK_SCHEDULE: &str = "berth.dev/task-schedule";
pub const SCHEDULED_TIME: &str = "berth.dev/scheduled-time";
/// Task definition family (sanitised) and revision number.
pub const FAMILY: &str = "berth.dev/family";
pub const REVISION: &str = "berth.dev/revision";
/// The task's id (the pod's name suffix), as ECS shows task ids.
pub const TASK_ID: &str = "berth.dev/task-id";

/// ECS task group, e.g. `service:web` or `family:batch` (colons are not label-safe).
pub const GROUP: &str = "berth.dev/group";
/// Comma-separated names of the pod's essential containers; written by the
/// renderer. Absent means every container is essential (the ECS default).
pub const ESSENTIAL_CONTAINERS: &str = "berth.dev/essential-containers";
/// Why Berth stopped the task: ECS stop code and stopped reason, written on the
/// pod before Berth deletes it, so every observer reads the same cause.
pub const STOP_CODE: &str = "berth.dev/stop-code";
pub const STOPPED_REASON: &str = "berth.dev/stopped-reason";
/// The node a daemon task is bound to.
pub const NODE: &str = "berth.dev/node";
/// The service deployment id as ECS spells it, `ecs-svc/<number>`.
pub const DEPLOYMENT_ID: &str = "berth.dev/deployment-id";
/// The resolved task definition, `family:revision`.
pub const TASK_DEFINITION: &str = "berth.dev/task-definition";
/// RunTask `startedBy`.
pub const STARTED_BY: &str = "berth.dev/started-by";
/// The CapacityProvider (object name) the task was placed on.
pub const CAPACITY_PROVIDER: &str = "berth.dev/capacity-provider";
/// The ECS task group (sanitised), so distinctInstance and task:group
/// affinities can select a group's tasks.
pub const TASK_GROUP: &str = "berth.dev/task-group";
/// On a service task that takes traffic: the Kubernetes Services of the service select
/// it. Removed when the task starts draining, which takes it out of their endpoints.
pub const TRAFFIC: &str = "berth.dev/traffic";
pub const TRAFFIC_SERVE: &str = "serve";
/// [`TRAFFIC`] of a task that takes traffic but is kept out of production for now (a
/// BLUE_GREEN, LINEAR or CANARY deployment's): health-checked as a task behind a load balancer.
pub const TRAFFIC_HOLD: &str = "hold";
/// On a service task that takes traffic, while it does not drain: the per-deployment
/// backend Services of the Gateway API HTTPRoutes select it (with its [`DEPLOYMENT`]),
/// whether production holds it or not; removed with [`TRAFFIC`] when it starts draining.
pub const ROUTABLE: &str = "berth.dev/routable";
/// Label of an HTTPRoute's backend Service: the deployment (label value) it selects.
pub const HTTP_ROUTE_BACKEND: &str = "berth.dev/http-route-backend";
/// On a `taskrun:` lifecycle hook's TaskRun: the deployment (label value) that ran it; the
/// TaskRun is deleted once that deployment's lifecycle is over.
pub const HOOK_DEPLOYMENT: &str = "berth.dev/hook-deployment";
/// Label of a test Kubernetes Service (and so of its EndpointSlices), whose endpoints do not
/// hold up a draining task.
pub const TEST_TRAFFIC: &str = "berth.dev/test-traffic";
/// When a task left its Services' endpoints to be stopped (Unix seconds): its pod is
/// deleted once the deregistration delay has passed and no EndpointSlice lists it.
pub const DRAINING_SINCE: &str = "berth.dev/draining-since";
/// Task scale-in protection (ECS UpdateTaskProtection): until this time (RFC 3339),
/// neither scale-in nor a deployment stops the task.
pub const PROTECTION_EXPIRES_AT: &str = "berth.dev/protection-expires-at";
