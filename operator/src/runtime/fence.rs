//! Fencing the controllers' writes by the leader Lease.
//!
//! A leader that was paused (SIGSTOP, a VM freeze, a long GC-like stall)
//! wakes with caches as they were before it slept, while a standby may have
//! taken over and changed the world meanwhile. Its renewer notices the lost
//! Lease only once it gets to run, and by then the controllers may have acted
//! on the stale caches. So every write the controllers send passes a
//! [`Fence`] first: the write goes out only while the Lease is known held,
//! that is before the renew deadline counted, on the monotonic clock, from
//! when the last successful renewal was *sent*. A standby takes over no
//! sooner than LEASE_DURATION after it saw that renewal arrive, later still,
//! so a write the fence lets through cannot overlap another leader's (short
//! of the gap between the check and the request reaching the wire, which is
//! microseconds, against the LEASE_DURATION - RENEW_DEADLINE margin).
//!
//! The monotonic clock keeps running while a process is stopped, so a process
//! resumed after the deadline finds its fence closed before it can send
//! anything, whatever order its tasks wake in.
//!
//! Each write held back is logged (`write held back by the fence`, with its
//! method and path) and counted in `berth_fenced_writes_total`.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// Until when writes may go out; shared by the elector, which moves it on
/// each renewal, and the client layer, which checks it.
#[derive(Clone, Debug)]
pub struct Fence {
    open_until: Arc<Mutex<Option<Instant>>>,
    validity: Duration,
}

impl Fence {
    /// A closed fence: nothing passes until the first [`Fence::held_from`].
    /// A renewal sent at `t` keeps it open until `t + validity`.
    pub fn new(validity: Duration) -> Fence {
        Fence { open_until: Arc::new(Mutex::new(None)), validity }
    }

    /// The Lease was written (acquired or renewed) by a request sent at `sent`.
    pub fn held_from(&self, sent: Instant) {
        let mut open_until = self.open_until.lock().expect("fence");
        let until = sent + self.validity;
        // A slow answer to an older renewal never shortens a newer one.
        *open_until = Some(open_until.map_or(until, |current| current.max(until)));
    }

    /// Leadership ended: close at once.
    pub fn close(&self) {
        *self.open_until.lock().expect("fence") = None;
    }

    /// Whether a write may go out at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until.lock().expect("fence").is_some_and(|until| now < until)
    }
}

/// Writes held back by any fence of this process, for `berth_fenced_writes_total`.
pub static FENCED_WRITES: std::sync::LazyLock<prometheus_client::metrics::counter::Counter> =
    std::sync::LazyLock::new(Default::default);

/// The error of a write the fence held back.
#[derive(Debug, thiserror::Error)]
#[error("not sent: this replica cannot be sure it still holds the leader Lease")]
pub struct WriteFenced;

/// Whether a request changes anything on the API server: reads and watches pass
/// the fence whatever its state (a former leader may still read while it stops).
pub fn is_write<B>(request: &http::Request<B>) -> bool {
    !matches!(*request.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

/// A tower layer holding back each write while the fence is closed. It checks
/// when the request is about to be sent (its future first polled, after any
/// rate-limit wait), not when the request was made.
#[derive(Clone, Debug)]
pub struct FenceLayer(pub Fence);

impl<S> Layer<S> for FenceLayer {
    type Service = Fenced<S>;

    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced { inner, fence: self.0.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct Fenced<S> {
    inner: S,
    fence: Fence,
}

use super::client::BoxError;

impl<S, B> Service<http::Request<B>> for Fenced<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let write = is_write(&request).then(|| (request.method().clone(), request.uri().path().to_owned()));
        // The inner future is lazy: nothing is sent before it is polled.
        let response = self.inner.call(request);
        let fence = self.fence.clone();
        Box::pin(async move {
            if let Some((method, path)) = write.filter(|_| !fence.is_open(Instant::now())) {
                FENCED_WRITES.inc();
                tracing::warn!(%method, %path, "write held back by the fence: the leader Lease is not known held");
                return Err(Box::new(WriteFenced) as BoxError);
            }
            response.await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALIDITY: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn the_fence_is_open_only_within_the_validity_of_the_last_renewal_sent() {
        let fence = Fence::new(VALIDITY);
        let t0 = Instant::now();
        assert!(!fence.is_open(t0), "open before the Lease was ever held");
        fence.held_from(t0);
        assert!(fence.is_open(t0 + Duration::from_secs(9)));
        assert!(!fence.is_open(t0 + VALIDITY));
        fence.held_from(t0 + Duration::from_secs(8));
        assert!(fence.is_open(t0 + Duration::from_secs(17)));
        // An older renewal answered late does not pull the deadline back.
        fence.held_from(t0 + Duration::from_secs(2));
        assert!(fence.is_open(t0 + Duration::from_secs(17)));
        fence.close();
        assert!(!fence.is_open(t0 + Duration::from_secs(9)));
    }

    /// A service that counts the requests that reached it.
    #[derive(Clone, Default)]
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);
    impl Service<http::Request<()>> for Counting {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<(), Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        /// Lazy, as hyper's is: the request reaches the server when first polled.
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let reached = self.0.clone();
            Box::pin(async move {
                reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
        }
    }

    fn request(method: http::Method) -> http::Request<()> {
        http::Request::builder().method(method).uri("/api/v1/namespaces/a/pods").body(()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_leader_resumed_past_its_deadline_sends_no_write_but_still_reads() {
        let fence = Fence::new(VALIDITY);
        let reached = Counting::default();
        let mut client = FenceLayer(fence.clone()).layer(reached.clone());
        fence.held_from(Instant::now());
        client.call(request(http::Method::POST)).await.unwrap();
        // Stopped past the deadline: no renewal ran meanwhile.
        tokio::time::advance(VALIDITY + Duration::from_secs(1)).await;
        for method in [http::Method::POST, http::Method::PUT, http::Method::PATCH, http::Method::DELETE] {
            let error = client.call(request(method.clone())).await.unwrap_err();
            assert!(error.is::<WriteFenced>(), "{method}: {error}");
        }
        client.call(request(http::Method::GET)).await.unwrap();
        assert_eq!(reached.0.load(std::sync::atomic::Ordering::SeqCst), 2, "only the first write and the read reached the server");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_made_while_open_but_sent_after_the_deadline_is_held_back() {
        let fence = Fence::new(VALIDITY);
        let reached = Counting::default();
        let mut client = FenceLayer(fence.clone()).layer(reached.clone());
        fence.held_from(Instant::now());
        // Made now, but queued (a rate limit) past the deadline before it is sent.
        let queued = client.call(request(http::Method::POST));
        tokio::time::advance(VALIDITY).await;
        assert!(queued.await.unwrap_err().is::<WriteFenced>());
        assert_eq!(reached.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
