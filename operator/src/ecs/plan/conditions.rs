//! Standard conditions, computed purely: `lastTransitionTime` changes only
//! when a condition's status flips, so an unchanged status compares equal and
//! is not written again.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// What a controller wants a condition to say.
pub struct Want<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// The new condition list: `wanted` merged over `old`, keeping transition times.
pub fn merge(old: &[Condition], wanted: Vec<Want>, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|w| {
            let status = if w.status { "True" } else { "False" }.to_string();
            let previous = old.iter().find(|c| c.type_ == w.type_);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: w.type_.to_string(),
                status,
                reason: w.reason.to_string(),
                message: w.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// `now` (seconds) as a status timestamp.
pub fn time(now: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(status: bool, message: &str) -> Vec<Want<'static>> {
        vec![Want { type_: "Ready", status, reason: "R", message: message.into() }]
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2000).unwrap());
        let first = merge(&[], want(true, "a"), Some(1), &t0);
        let same = merge(&first, want(true, "b"), Some(2), &t1);
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].message, "b");
        let flipped = merge(&same, want(false, "c"), Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
