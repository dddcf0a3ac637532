//! Events go out from a task of their own, in the order they were published,
//! as client-go's event broadcaster sends them: a pass hands its events over
//! and goes on. A pass that waited for each event's round trip held back the
//! next pass of its object, and with it the replacement of the next failed task.
//! Events are best effort in Kubernetes; one that cannot be sent is logged
//! (at debug level when its namespace is being deleted, as client-go drops it).
use std::future::Future;

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, Recorder};

#[derive(Clone, Debug)]
pub struct Events(mpsc::UnboundedSender<(Event, ObjectReference)>);

impl Events {
    /// The queue, and the future that publishes what it receives, in order,
    /// until every clone of the queue is dropped.
    pub fn new(recorder: Recorder) -> (Events, impl Future<Output = ()> + Send) {
        let (queue, mut received) = mpsc::unbounded::<(Event, ObjectReference)>();
        let sending = async move {
            while let Some((event, reference)) = received.next().await {
                match recorder.publish(&event, &reference).await {
                    // Its object goes with the namespace: no one is left to read it.
                    Err(e) if super::error::namespace_going_away(&e) => tracing::debug!("event {} not published: {e}", event.reason),
                    Err(e) => tracing::warn!("publishing event {}: {e}", event.reason),
                    Ok(()) => {}
                }
            }
        };
        (Events(queue), sending)
    }

    pub fn publish(&self, event: Event, on: ObjectReference) {
        // The queue closes only when the sender stops, with the operator.
        let _ = self.0.unbounded_send((event, on));
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::events::{EventType, Reporter};
    use serde_json::json;

    use super::*;
    use crate::controller::testing::recording;

    #[tokio::test]
    async fn events_go_out_in_order_after_the_publisher_moved_on() {
        let (client, requests) = recording(json!({}));
        let (events, sending) = Events::new(Recorder::new(client, Reporter { controller: "test".into(), instance: None }));
        let on = ObjectReference { kind: Some("Service".into()), name: Some("web".into()), namespace: Some("ns".into()), ..Default::default() };
        for reason in ["First", "Second", "Third"] {
            events.publish(Event { type_: EventType::Normal, reason: reason.into(), note: None, action: reason.into(), secondary: None }, on.clone());
        }
        assert!(requests.lock().unwrap().is_empty(), "publishing sends nothing by itself");
        drop(events);
        sending.await;
        let reasons: Vec<String> = requests.lock().unwrap().iter().map(|r| r.rsplit(' ').next().unwrap_or_default().to_string()).collect();
        assert_eq!(reasons, ["First", "Second", "Third"]);
    }
}
