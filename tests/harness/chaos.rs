//! What the fault tests share: their scale knobs (environment variables, so
//! the suite runs a short version and one documented command the long one),
//! a seeded source of random moments and choices, and the faults themselves.
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};

/// A number from the environment variable `name`, else `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small seeded generator (xorshift64*): a failing run prints its seed, and
/// `BERTH_CHAOS_SEED` replays the same choices.
pub struct Dice {
    state: u64,
    pub seed: u64,
}

impl Dice {
    /// Seeded from `BERTH_CHAOS_SEED`, else from the clock.
    pub fn from_env() -> Dice {
        let seed = std::env::var("BERTH_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        Dice { state: seed.max(1), seed }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    /// A duration in `low..=high`, to the millisecond.
    pub fn moment(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_millis(self.between(low.as_millis() as usize, high.as_millis() as usize) as u64)
    }
}

/// Kills a task as a crash would: its pod deleted at once, no grace period.
/// Whether it was still there to kill.
pub async fn kill_task(pods: &Api<Pod>, name: &str) -> bool {
    pods.delete(name, &DeleteParams::default().grace_period(0)).await.is_ok()
}
