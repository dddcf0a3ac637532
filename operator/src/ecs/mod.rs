//! The ECS core: every decision Berth takes the way ECS takes it, as pure
//! functions of plain inputs and one `now`. Nothing here holds a client or
//! reads the clock; the controllers observe, call these, and act.
pub mod arn;
pub mod capacity;
pub mod placement;
pub mod plan;
pub mod render;
pub mod rollout;
pub mod schedule;
pub mod scheduler;
pub mod task;
pub mod traffic;
pub mod unsupported;
