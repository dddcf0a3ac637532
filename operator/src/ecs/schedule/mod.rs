//! Scheduled tasks (EventBridge Scheduler with an ECS RunTask target): when a schedule
//! expression fires, and one pass of a TaskSchedule decided purely.
pub mod cron;
pub mod expression;
pub mod plan;
pub mod target;
