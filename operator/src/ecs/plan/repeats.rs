//! Service event messages that repeat. ECS omits a duplicate message "until either the cause
//! is resolved or six hours passes. If the cause is not resolved within six hours, you will
//! receive another service event message for that cause."
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html>)
//!
//! A cause is what a message says without its changing detail (for a task that cannot be
//! placed, kube-scheduler's count of nodes): a cause standing over many passes is said once.
use std::collections::BTreeMap;

/// How long a standing cause stays unsaid after it was said.
pub const REPEAT_AFTER_SECONDS: i64 = 6 * 60 * 60;

/// One owner's causes said and standing since, with when each was last said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repeats(BTreeMap<String, i64>);

impl Repeats {
    /// The messages to publish at `now` of the causes standing (cause → its message): each
    /// not said since it began to stand, or said [`REPEAT_AFTER_SECONDS`] ago. A cause that no
    /// longer stands is resolved and forgotten, so it is said again if it comes back.
    pub fn due(&mut self, standing: BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.0.retain(|cause, _| standing.contains_key(cause));
        standing.into_iter().filter_map(|(cause, message)| {
            if self.0.get(&cause).is_some_and(|said| now < said + REPEAT_AFTER_SECONDS) {
                return None;
            }
            self.0.insert(cause, now);
            Some(message)
        }).collect()
    }

    /// No cause stands.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(causes: &[(&str, &str)]) -> BTreeMap<String, String> {
        causes.iter().map(|(c, m)| (c.to_string(), m.to_string())).collect()
    }

    #[test]
    fn a_standing_cause_is_said_once_then_again_after_six_hours() {
        let mut repeats = Repeats::default();
        let memory = standing(&[("no memory", "no memory (0/3 nodes)")]);
        assert_eq!(repeats.due(memory.clone(), 0), ["no memory (0/3 nodes)"]);
        // Pass after pass, more tasks find no room for the same cause: nothing more is said,
        // though kube-scheduler's detail changed.
        for now in [1, 60, 3600, REPEAT_AFTER_SECONDS - 1] {
            assert!(repeats.due(standing(&[("no memory", "no memory (1/3 nodes)")]), now).is_empty(), "at {now}");
        }
        assert_eq!(repeats.due(memory, REPEAT_AFTER_SECONDS), ["no memory (0/3 nodes)"]);
    }

    #[test]
    fn a_resolved_cause_is_said_again_when_it_comes_back() {
        let mut repeats = Repeats::default();
        let ports = standing(&[("ports", "ports taken")]);
        assert_eq!(repeats.due(ports.clone(), 0).len(), 1);
        assert!(repeats.due(BTreeMap::new(), 10).is_empty());
        assert!(repeats.is_empty(), "resolved causes are forgotten");
        assert_eq!(repeats.due(ports, 20), ["ports taken"]);
    }

    #[test]
    fn each_cause_is_said_on_its_own() {
        let mut repeats = Repeats::default();
        assert_eq!(repeats.due(standing(&[("cpu", "no cpu")]), 0), ["no cpu"]);
        assert_eq!(repeats.due(standing(&[("cpu", "no cpu"), ("ports", "ports taken")]), 5), ["ports taken"]);
    }
}
