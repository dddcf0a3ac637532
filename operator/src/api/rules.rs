//! CEL rules and patterns used by more than one field or kind, so each is written once.

use kube::core::Rule;

/// ECS names (family, container, volume): 1-255 letters, digits, `_` and `-`.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,255}$";
/// An environment variable name (and so a secret's, or a property's): what a pod's `env`
/// accepts, printable ASCII except `=`. Anything else passed the CRD but was refused at
/// pod creation, so the task could never start (found by fuzzing the renderer).
pub const ENV_NAME_PATTERN: &str = "^[ -<>-~]+$";

/// Launch type and capacity provider strategy (Service, TaskRun, a TaskSchedule's ECS target).
pub fn launch_type_or_strategy() -> Rule {
    Rule::new("!has(self.launchType) || self.launchType == '' || !has(self.capacityProviderStrategy)")
        .message("launchType and capacityProviderStrategy are mutually exclusive: set at most one")
}

/// `capacityProviderStrategy`: only one entry may carry a base.
pub fn single_base() -> Rule {
    Rule::new("self.filter(i, has(i.base) && i.base > 0).size() <= 1")
        .message("capacityProviderStrategy: at most one entry may have a base greater than 0")
}

/// `capacityProviderStrategy`: an all-zero strategy places nothing.
pub fn some_weight() -> Rule {
    Rule::new("size(self) == 0 || self.exists(i, has(i.weight) && i.weight > 0)")
        .message("capacityProviderStrategy: at least one entry needs a weight greater than 0 (weights are 0-1000)")
}

/// CEL expression for a task-level `cpu` string in CPU units: `"1024"` or `"1 vCPU"` / `".25 vcpu"`.
fn cpu_units(cpu: &str) -> String {
    format!(
        "({cpu}.matches('^[0-9]+$') ? int({cpu}) : int(double({cpu}.lowerAscii().replace('vcpu', '').trim()) * 1024.0))"
    )
}

/// CEL expression for a task-level `memory` string in MiB: `"2048"` or `"2GB"` / `"0.5 gb"`.
fn memory_mib(memory: &str) -> String {
    format!(
        "({memory}.matches('^[0-9]+$') ? int({memory}) : int(double({memory}.lowerAscii().replace('gb', '').trim()) * 1024.0))"
    )
}

/// Fargate task sizes above 256 CPU units (ecs-semantics §1.3): CPU units, then the memory
/// range and step in MiB. 256 units take 512, 1024 or 2048 MiB, which is no step range.
const FARGATE_SIZES: [(i64, i64, i64, i64); 6] = [
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

/// Is `cpu` units with `memory` MiB a Fargate task size (the table above, in Rust)?
pub fn is_fargate_task_size(cpu: i64, memory: i64) -> bool {
    (cpu == 256 && [512, 1024, 2048].contains(&memory))
        || FARGATE_SIZES.iter().any(|&(units, min, max, step)| {
            cpu == units && (min..=max).contains(&memory) && memory % step == 0
        })
}

/// Task `cpu`/`memory` must be a Fargate size when `requiresCompatibilities` contains FARGATE.
pub fn fargate_task_size() -> Rule {
    let (cpu, memory) = (cpu_units("self.cpu"), memory_mib("self.memory"));
    let smallest = format!("({cpu} == 256 && {memory} in [512, 1024, 2048])");
    let sizes = FARGATE_SIZES
        .iter()
        .map(|(units, min, max, step)| {
            format!("({cpu} == {units} && {memory} >= {min} && {memory} <= {max} && {memory} % {step} == 0)")
        })
        .fold(smallest, |all, size| format!("{all} || {size}"));
    Rule::new(format!(
        "!has(self.requiresCompatibilities) || !('FARGATE' in self.requiresCompatibilities) || (has(self.cpu) && has(self.memory) && ({sizes}))"
    ))
    .message(
        "cpu/memory: with requiresCompatibilities FARGATE both are required and must be a Fargate size: \
         256 with 512/1024/2048; 512 with 1024-4096 (step 1024); 1024 with 2048-8192 (step 1024); \
         2048 with 4096-16384 (step 1024); 4096 with 8192-30720 (step 1024); \
         8192 with 16384-61440 (step 4096); 16384 with 32768-122880 (step 8192)",
    )
}

/// A task definition reference: `family`, `family:revision` or a task-definition ARN
/// (`arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`).
pub const TASK_DEFINITION_REF_PATTERN: &str = "^([A-Za-z0-9_-]{1,255}(:[1-9][0-9]{0,6})?|arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}:[1-9][0-9]{0,6})$";

/// A schedule expression's shape (EventBridge Scheduler, schedule-types.html and
/// eb-cron-expressions.html): `at(yyyy-mm-ddThh:mm:ss)`; `rate(value unit)` with a singular unit
/// for 1 and a plural one above; `cron(...)` with six fields of the allowed values and
/// wildcards, `?` in exactly one of day-of-month and day-of-week. What a pattern cannot say
/// (`#` alone in its field, a zero increment) the operator reports. Character classes stand
/// for `(`, `)`, `*` and `?`, so the CEL string needs no escapes.
pub fn schedule_expression_pattern() -> String {
    let item = |value: &str| format!("(?:[*]|{value}(?:-{value})?)(?:/[0-9]+)?");
    let list = |value: &str, extra: &str| {
        let one = if extra.is_empty() { item(value) } else { format!("(?:{}|{extra})", item(value)) };
        format!("{one}(?:,{one})*")
    };
    let minute = "[0-5]?[0-9]";
    let hour = "(?:[01]?[0-9]|2[0-3])";
    let day = "(?:0?[1-9]|[12][0-9]|3[01])";
    let month = "(?:0?[1-9]|1[0-2]|(?i:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))";
    let weekday = "(?:[1-7]|(?i:SUN|MON|TUE|WED|THU|FRI|SAT))";
    let year = "(?:19[7-9][0-9]|20[0-9][0-9]|21[0-9][0-9])";
    let days_of_month = list(day, &format!("L|LW|{day}W"));
    let days_of_week = list(weekday, &format!("L|{weekday}L|{weekday}#[1-5]"));
    let (months, sp) = (list(month, ""), " +");
    let cron = format!(
        "cron[(]{minutes}{sp}{hours}{sp}(?:{days_of_month}{sp}{months}{sp}[?]|[?]{sp}{months}{sp}{days_of_week}){sp}{years}[)]",
        minutes = list(minute, ""), hours = list(hour, ""), years = list(year, ""),
    );
    let rate = "rate[(](?:1 (?:minute|hour|day)|(?:[2-9]|[1-9][0-9]+) (?:minutes|hours|days))[)]";
    let at = "at[(][0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9][)]";
    format!("^(?:{cron}|{rate}|{at})$")
}

/// `scheduleExpression` is refused at apply time unless it has the shape of one.
pub fn schedule_expression() -> Rule {
    Rule::new(format!("self.matches('{}')", schedule_expression_pattern())).message(
        "scheduleExpression: must be at(yyyy-mm-ddThh:mm:ss), rate(value unit) with the unit minute, hour or day \
         (plural for values above 1), or cron(minutes hours day-of-month month day-of-week year) with values \
         in range and ? in exactly one of day-of-month and day-of-week",
    )
}
