//! The operator's runtime: the rate-limited client, leader election and the
//! fence it puts on the client's writes, and the
//! HTTP endpoints with their metrics.
pub mod client;
pub mod fence;
pub mod http;
pub mod leader;
pub mod memory;
pub mod metrics;
