//! Wakes for a task's progress (`ecs::task::wake::Wake::Soon`): held for a moment and sent
//! once per owner, however many of its tasks moved meanwhile.
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;

pub struct ProgressWakes<T> {
    /// Owners with a wake held.
    held: Arc<Mutex<HashSet<T>>>,
    wakes: UnboundedSender<T>,
    wait: Duration,
}

impl<T: Clone + Eq + Hash + Send + 'static> ProgressWakes<T> {
    pub fn new(wakes: UnboundedSender<T>, wait: Duration) -> ProgressWakes<T> {
        ProgressWakes { held: Default::default(), wakes, wait }
    }

    /// Wakes `owner` once `wait` has passed, unless a wake is already held for it.
    pub fn wake(&self, owner: T) {
        if !self.held.lock().unwrap().insert(owner.clone()) {
            return;
        }
        let (held, wakes, wait) = (self.held.clone(), self.wakes.clone(), self.wait);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            // Released before it is sent: progress seen from now on waits for a pass after this one.
            held.lock().unwrap().remove(&owner);
            let _ = wakes.unbounded_send(owner);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn progress_is_sent_once_per_owner_after_the_wait() {
        let (sender, mut woken) = futures::channel::mpsc::unbounded();
        let wakes = ProgressWakes::new(sender, Duration::from_millis(250));
        for _ in 0..100 {
            wakes.wake("web");
        }
        wakes.wake("api");
        tokio::time::sleep(Duration::from_millis(249)).await;
        assert!(woken.try_recv().is_err(), "nothing before the wait");
        tokio::time::sleep(Duration::from_millis(2)).await;
        let mut sent = vec![woken.next().await.unwrap(), woken.next().await.unwrap()];
        sent.sort();
        assert_eq!(sent, ["api", "web"]);
        assert!(woken.try_recv().is_err(), "one wake for a hundred changes");
        wakes.wake("web");
        tokio::time::sleep(Duration::from_millis(251)).await;
        assert_eq!(woken.next().await, Some("web"), "progress after the wake is held again");
    }
}
