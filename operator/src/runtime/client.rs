//! The operator's Kubernetes client, with a client-side rate limit like
//! client-go's (`--kube-api-qps`, `--kube-api-burst`): kube-rs has none, and
//! without one a large Service would send the API server every request at once.
//!
//! Each request takes one token when it is sent; a long-lived watch takes one
//! when it starts, as in client-go. Tokens refill at `qps` per second up to
//! `burst`.
//!
//! Every request is also bounded in time ([`TimeoutLayer`]): an API server
//! that accepts a connection and never answers must not hold a reconcile (or
//! a Lease renewal) forever.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::runtime::fence::{Fence, FenceLayer};

/// kube-controller-manager's 20/30 apply to each of its controllers' own
/// client (the Deployment and the ReplicaSet controllers each have a bucket);
/// Berth's two buckets ([`Clients`]) serve what those do together. At 20/30,
/// the e2e suite's parallel tests saw status writes lag behind the pod changes
/// they follow, by enough to fail tests that read status once.
pub const DEFAULT_QPS: f64 = 50.0;
pub const DEFAULT_BURST: u32 = 100;
/// How long a request may wait for its response to start (client-go's
/// default is none; kubectl's --request-timeout is often set to 30 s). The
/// bound covers the time to the response headers, not the body, so watches,
/// whose headers come at once and whose body streams for minutes, are not cut.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for the current kubeconfig (or in-cluster config) whose requests
/// are limited to `qps` per second with bursts of `burst`; with a `fence`, its
/// writes go out only while the fence is open (a leader's Lease is held).
pub async fn rate_limited(qps: f64, burst: u32, fence: Option<Fence>) -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer().await?;
    let limit = RateLimitLayer::new(qps, burst)?;
    // The timeout sits inside the rate limit: time spent queued for a token is
    // the client's own choice, not the server failing to answer. The fence sits
    // between them, so it is checked after the queueing, just before sending.
    let builder = kube::client::ClientBuilder::try_from(config)?.with_layer(&TimeoutLayer(REQUEST_TIMEOUT)).with_layer(&CountLayer);
    Ok(match fence {
        Some(fence) => builder.with_layer(&FenceLayer(fence)).with_layer(&limit).build(),
        None => builder.with_layer(&limit).build(),
    })
}

/// The controllers' clients, each with a rate limit bucket of its own, as
/// kube-controller-manager gives the ReplicaSet and the Deployment controllers
/// a client each: a burst of task creates must not hold back the status writes
/// and events that report them, nor the other way round.
#[derive(Clone)]
pub struct Clients {
    /// Watches, status writes, events and every object but tasks.
    pub control: kube::Client,
    /// Creating, recording and deleting tasks (pods).
    pub tasks: kube::Client,
}

impl Clients {
    /// Two clients, each limited to `qps` and `burst`, behind the same `fence`.
    pub async fn rate_limited(qps: f64, burst: u32, fence: Option<Fence>) -> anyhow::Result<Clients> {
        Ok(Clients { control: rate_limited(qps, burst, fence.clone()).await?, tasks: rate_limited(qps, burst, fence).await? })
    }
}

/// The error of a request that got no response within its bound.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {0:?}")]
pub struct TimedOut(pub Duration);

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower layer failing each request whose response has not started within
/// the given time.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer(pub Duration);

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout { inner, limit: self.0 }
    }
}

#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (response, limit) = (self.inner.call(request), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, response).await {
                Ok(answered) => answered.map_err(Into::into),
                Err(_) => Err(TimedOut(limit).into()),
            }
        })
    }
}

/// A token bucket holding up to `burst` tokens, refilled at `rate` per second.
/// Callers reserve a token and wait the time `reserve` returns, so that
/// concurrent callers queue in order without holding a lock while they wait.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Tokens at `updated`; negative when reservations are queued.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket { rate, burst: f64::from(burst), tokens: f64::from(burst), updated: now }
    }

    /// Takes one token at `now` and returns how long to wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        self.updated = self.updated.max(now);
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) }
    }
}

/// A tower layer that delays each request until the shared bucket has a token.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl RateLimitLayer {
    pub fn new(qps: f64, burst: u32) -> anyhow::Result<RateLimitLayer> {
        anyhow::ensure!(qps.is_finite() && qps > 0.0, "the client QPS must be a positive number, not {qps}");
        anyhow::ensure!(burst >= 1, "the client burst must be at least 1");
        Ok(RateLimitLayer { bucket: Arc::new(Mutex::new(TokenBucket::new(qps, burst, Instant::now()))) })
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited { inner, bucket: self.bucket.clone() }
    }
}

/// How long each request waited for a token, for
/// `berth_client_rate_limiter_wait_seconds` (client-go's
/// `rest_client_rate_limiter_duration_seconds`): the first sign that the
/// client's QPS, not the API server, is what holds Berth back.
pub static RATE_LIMITER_WAIT: std::sync::LazyLock<prometheus_client::metrics::histogram::Histogram> =
    std::sync::LazyLock::new(|| prometheus_client::metrics::histogram::Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15)));

#[derive(Clone, Debug)]
pub struct RateLimited<S> {
    inner: S,
    bucket: Arc<Mutex<TokenBucket>>,
}

impl<S, Req> Service<Req> for RateLimited<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    /// The inner future is lazy (hyper sends the request when it is first
    /// polled), so waiting before polling it delays the request itself.
    fn call(&mut self, request: Req) -> Self::Future {
        let wait = self.bucket.lock().expect("rate limit bucket").reserve(Instant::now());
        RATE_LIMITER_WAIT.observe(wait.as_secs_f64());
        let response = self.inner.call(request);
        Box::pin(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            response.await
        })
    }
}

/// The requests sent, by the API server's verb and resource (`pods`, `services/status`,
/// `events`...), for `berth_client_requests_total`, as client-go's
/// `rest_client_requests_total`: a benchmark's request count, broken down.
pub static REQUESTS: std::sync::LazyLock<prometheus_client::metrics::family::Family<RequestLabels, prometheus_client::metrics::counter::Counter>> =
    std::sync::LazyLock::new(Default::default);

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: &'static str,
    pub resource: String,
}

/// The verb and resource of a request to the API server, as its audit log names them.
pub fn request_labels<B>(request: &http::Request<B>) -> RequestLabels {
    let path: Vec<&str> = request.uri().path().split('/').filter(|s| !s.is_empty()).collect();
    // After /api/v1 or /apis/<group>/<version>, and a namespace's /namespaces/<name>.
    let mut rest = match path.first() {
        Some(&"api") => path.get(2..).unwrap_or_default(),
        Some(&"apis") => path.get(3..).unwrap_or_default(),
        _ => &[],
    };
    if rest.len() > 2 && rest[0] == "namespaces" {
        rest = &rest[2..];
    }
    let resource = match rest {
        [] => "other".to_string(),
        [resource] | [resource, _] => resource.to_string(),
        [resource, _, sub, ..] => format!("{resource}/{sub}"),
    };
    let named = rest.len() >= 2;
    let watch = request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match *request.method() {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if named => "delete",
        http::Method::DELETE => "deletecollection",
        _ => "other",
    };
    RequestLabels { verb, resource }
}

/// A tower layer counting each request in [`REQUESTS`].
pub struct CountLayer;

impl<S> Layer<S> for CountLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted(inner)
    }
}

pub struct Counted<S>(S);

impl<S, B> Service<http::Request<B>> for Counted<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        REQUESTS.get_or_create(&request_labels(&request)).inc();
        self.0.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future;

    fn waits(bucket: &mut TokenBucket, at: Instant, n: usize) -> Vec<Duration> {
        (0..n).map(|_| bucket.reserve(at)).collect()
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_at_once() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20.0, 30, t0);
        assert!(waits(&mut bucket, t0, 30).iter().all(|w| w.is_zero()));
    }

    #[test]
    fn beyond_the_burst_requests_queue_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20.0, 30, t0);
        waits(&mut bucket, t0, 30);
        let queued = waits(&mut bucket, t0, 3);
        let millis: Vec<u128> = queued.iter().map(|w| w.as_millis()).collect();
        assert_eq!(millis, vec![50, 100, 150]);
    }

    #[test]
    fn tokens_refill_over_time_up_to_the_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5, t0);
        waits(&mut bucket, t0, 5);
        // Half a second refills 5 tokens; an hour refills no more than the burst.
        assert!(waits(&mut bucket, t0 + Duration::from_millis(500), 5).iter().all(|w| w.is_zero()));
        let later = t0 + Duration::from_secs(3600);
        assert!(waits(&mut bucket, later, 5).iter().all(|w| w.is_zero()));
        assert_eq!(bucket.reserve(later), Duration::from_millis(100));
    }

    #[test]
    fn a_sustained_load_is_held_to_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 200, t0);
        // 1,200 requests at once: 200 go now, the last one waits 10 s.
        let last = *waits(&mut bucket, t0, 1200).last().unwrap();
        assert_eq!(last, Duration::from_secs(10));
    }

    #[test]
    fn nonsense_limits_are_refused() {
        assert!(RateLimitLayer::new(0.0, 10).is_err());
        assert!(RateLimitLayer::new(f64::NAN, 10).is_err());
        assert!(RateLimitLayer::new(5.0, 0).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_burst_are_delayed_by_the_layer() {
        let service = tower_service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
        let mut limited = RateLimitLayer::new(10.0, 2).unwrap().layer(service);
        let t0 = Instant::now();
        for n in 0..3 {
            limited.call(n).await.unwrap();
        }
        assert_eq!(Instant::now() - t0, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_never_answered_fails_after_the_timeout() {
        let stalled = tower_service_fn(|_| future::pending());
        let mut bounded = TimeoutLayer(Duration::from_secs(30)).layer(stalled);
        let t0 = Instant::now();
        let error = bounded.call(1).await.unwrap_err();
        assert_eq!(Instant::now() - t0, Duration::from_secs(30));
        assert!(error.is::<TimedOut>(), "{error}");
        // An answer in time passes through.
        let mut prompt = TimeoutLayer(Duration::from_secs(30)).layer(tower_service_fn(|n| async move { Ok(n) }));
        assert_eq!(prompt.call(7).await.unwrap(), 7);
    }

    /// A tower service from a closure (tower's `service_fn` without the dependency).
    #[test]
    fn requests_are_named_by_verb_and_resource() {
        let labels = |method: &str, uri: &str| {
            let l = request_labels(&http::Request::builder().method(method).uri(uri).body(()).unwrap());
            format!("{} {}", l.verb, l.resource)
        };
        assert_eq!(labels("POST", "/api/v1/namespaces/team/pods?fieldManager=berth"), "create pods");
        assert_eq!(labels("DELETE", "/api/v1/namespaces/team/pods/web-1"), "delete pods");
        assert_eq!(labels("PATCH", "/apis/berth.dev/v1alpha1/namespaces/team/services/web/status?force=true"), "patch services/status");
        assert_eq!(labels("GET", "/api/v1/pods?labelSelector=x&watch=true&resourceVersion=5"), "watch pods");
        assert_eq!(labels("GET", "/api/v1/nodes"), "list nodes");
        assert_eq!(labels("GET", "/api/v1/namespaces/team"), "get namespaces");
        assert_eq!(labels("POST", "/apis/events.k8s.io/v1/namespaces/team/events"), "create events");
        assert_eq!(labels("PUT", "/apis/coordination.k8s.io/v1/namespaces/berth/leases/berth-operator"), "update leases");
        assert_eq!(labels("GET", "/version"), "list other");
    }

    fn tower_service_fn<F, Fut>(f: F) -> impl Service<u32, Response = u32, Error = std::convert::Infallible, Future = Fut>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<u32, std::convert::Infallible>> + Send + 'static,
    {
        struct Fn<F>(F);
        impl<F, Fut> Service<u32> for Fn<F>
        where
            F: FnMut(u32) -> Fut,
            Fut: Future<Output = Result<u32, std::convert::Infallible>>,
        {
            type Response = u32;
            type Error = std::convert::Infallible;
            type Future = Fut;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, n: u32) -> Fut {
                (self.0)(n)
            }
        }
        Fn(f)
    }
}
