//! The operator's runtime: the rate-limited client, leader election, and the
//! HTTP endpoints with their metrics.
pub mod client;
pub mod http;
pub mod leader;
pub mod metrics;
