//! Task-start throttling (§2.5): after consecutive failed starts the scheduler
//! waits longer and longer before the next launch, up to 27 minutes, and
//! never gives up. A new deployment, or a task reaching RUNNING, resets it.
use std::time::Duration;

/// First delay after a failed start.
pub const BASE: Duration = Duration::from_secs(10);
/// ECS's current cap.
pub const CAP: Duration = Duration::from_secs(27 * 60);

/// How long to wait before launching again after `consecutive_failures`
/// failed starts: none, then 10 s, 20 s, 40 s, ... capped at 27 min.
pub fn start_delay(consecutive_failures: u32) -> Duration {
    match consecutive_failures {
        0 => Duration::ZERO,
        n => BASE.checked_mul(1u32 << (n - 1).min(16)).map_or(CAP, |d| d.min(CAP)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_ten_seconds_to_the_cap() {
        let delays: Vec<u64> = (0..6).map(|n| start_delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160]);
        assert_eq!(start_delay(9), Duration::from_secs(1620));
        assert_eq!(start_delay(10), CAP);
        assert_eq!(start_delay(u32::MAX), CAP);
    }
}
