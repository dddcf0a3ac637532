//! Leader election on a `coordination.k8s.io` Lease, as client-go does it:
//! of several operator replicas only the holder reconciles; the others watch
//! the Lease and take it over once it has gone unrenewed for its duration.
//!
//! Expiry is judged by each candidate's own clock, from when it last saw the
//! Lease record change, never by comparing the leader's `renewTime` with the
//! local clock, so clock skew between nodes cannot cause two leaders. Writes
//! carry the resourceVersion they were based on, so of two candidates racing
//! for an expired Lease exactly one wins.
//!
//! While leading, the elector keeps a [`Fence`] open until the renew deadline
//! of the last renewal it sent; the controllers' client sends no write past
//! it (see [`crate::runtime::fence`]).
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::Client;

use crate::runtime::fence::Fence;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a Lease stays valid without renewal: a dead leader's Lease is
/// taken over this long after its last renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// The leader gives up leading if it could not renew for this long, safely
/// before anyone else may take over.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the leader renews.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(2);

/// The parts of a Lease that change on every renewal or takeover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub holder: Option<String>,
    pub renewed: Option<MicroTime>,
    pub transitions: i32,
    pub duration: Duration,
}

impl Record {
    fn of(lease: &Lease) -> Record {
        let spec = lease.spec.clone().unwrap_or_default();
        Record {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renewed: spec.renew_time,
            transitions: spec.lease_transitions.unwrap_or(0),
            duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64),
        }
    }
}

/// A record as this candidate saw it, and since when (by its own clock).
#[derive(Clone, Debug)]
pub struct Seen {
    pub record: Record,
    pub since: Instant,
}

impl Seen {
    /// Keeps `since` while the record is unchanged: only a change proves the
    /// holder is alive.
    fn update(previous: Option<Seen>, record: Record, now: Instant) -> Seen {
        match previous {
            Some(seen) if seen.record == record => seen,
            _ => Seen { record, since: now },
        }
    }
}

/// What a candidate should do about the Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// No Lease exists yet: create it, holding it.
    Create,
    /// The Lease is free (released or expired): take it over.
    Take,
    /// Someone else holds it: look again at this instant unless it changes first.
    WaitUntil(Instant),
}

/// The election rule; `seen` is None when the Lease does not exist.
pub fn next(seen: Option<&Seen>, me: &str, now: Instant) -> Next {
    let Some(seen) = seen else { return Next::Create };
    let expires = seen.since + seen.record.duration;
    match &seen.record.holder {
        Some(holder) if holder != me && now < expires => Next::WaitUntil(expires),
        _ => Next::Take,
    }
}

/// `lease` as `me` writes it to take it over (or create or renew it).
fn taken(mut lease: Lease, me: &str) -> Lease {
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let record = Record::of(&lease);
    let changes_hands = record.holder.as_deref() != Some(me);
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(me.to_string());
    spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
    spec.renew_time = Some(now.clone());
    if changes_hands {
        spec.acquire_time = Some(now);
        spec.lease_transitions = Some(record.transitions + if record.holder.is_some() { 1 } else { 0 });
    }
    lease
}

/// One candidate for one Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    fence: Fence,
}

/// Held while leading: `lost` resolves if leadership ends, `release` hands
/// the Lease over at once on a graceful shutdown.
pub struct Leadership {
    lost: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
    elector: std::sync::Arc<Elector>,
}

impl Elector {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Elector {
        Elector { api: Api::namespaced(client, namespace), name: name.into(), identity: identity.into(), fence: Fence::new(RENEW_DEADLINE) }
    }

    /// The fence this elector keeps open while it holds the Lease, for the
    /// controllers' client ([`crate::runtime::fence::FenceLayer`]).
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Waits, watching the Lease, until this candidate holds it.
    pub async fn acquire(self) -> Leadership {
        let by_name = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let mut changes = watcher(self.api.clone(), by_name).default_backoff().boxed();
        let mut current: Option<Lease> = None;
        let mut seen: Option<Seen> = None;
        let mut listed = false;
        loop {
            if listed {
                let sent = Instant::now();
                let outcome = match next(seen.as_ref(), &self.identity, sent) {
                    Next::Create => Some(self.write(None).await),
                    Next::Take => Some(self.write(current.clone()).await),
                    Next::WaitUntil(at) => tokio::select! {
                        _ = tokio::time::sleep_until(at) => None,
                        event = changes.next() => { self.observe(event, &mut current, &mut seen, &mut listed); None }
                    },
                };
                match outcome {
                    Some(Ok(lease)) => return self.lead(lease, sent),
                    // Lost a race (conflict) or the API failed: the watch
                    // brings the Lease as it now is.
                    Some(Err(e)) => {
                        tracing::debug!("taking the Lease: {e}");
                        let event = changes.next().await;
                        self.observe(event, &mut current, &mut seen, &mut listed);
                    }
                    None => {}
                }
            } else {
                let event = changes.next().await;
                self.observe(event, &mut current, &mut seen, &mut listed);
            }
        }
    }

    fn observe(&self, event: Option<Result<watcher::Event<Lease>, watcher::Error>>, current: &mut Option<Lease>, seen: &mut Option<Seen>, listed: &mut bool) {
        let now = Instant::now();
        match event {
            Some(Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease))) => {
                *seen = Some(Seen::update(seen.take(), Record::of(&lease), now));
                *current = Some(lease);
            }
            Some(Ok(watcher::Event::Delete(_))) => (*current, *seen) = (None, None),
            Some(Ok(watcher::Event::Init)) => (*current, *seen, *listed) = (None, None, false),
            Some(Ok(watcher::Event::InitDone)) => *listed = true,
            Some(Err(e)) => tracing::warn!("watching the leader Lease: {e}"),
            None => {}
        }
    }

    /// Creates the Lease (`from` None) or takes it over, conditional on the
    /// resourceVersion it was seen at.
    async fn write(&self, from: Option<Lease>) -> kube::Result<Lease> {
        match from {
            None => {
                let fresh = Lease { metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() }, spec: None };
                self.api.create(&PostParams::default(), &taken(fresh, &self.identity)).await
            }
            Some(lease) => self.api.replace(&self.name, &PostParams::default(), &taken(lease, &self.identity)).await,
        }
    }

    fn lead(self, lease: Lease, sent: Instant) -> Leadership {
        tracing::info!(lease = %self.name, identity = %self.identity, "acquired the leader Lease");
        self.fence.held_from(sent);
        let (lost_tx, lost) = watch::channel(false);
        let elector = std::sync::Arc::new(self);
        let renewing = elector.clone();
        let renewer = tokio::spawn(async move {
            renewing.renew(lease, sent).await;
            if let Some(lag) = renewer_lag() {
                tracing::warn!("test hook BERTH_TEST_RENEWER_LAG_SECONDS: the renewer found the Lease lost and waits {lag:?} before saying so");
                tokio::time::sleep(lag).await;
            }
            renewing.fence.close();
            let _ = lost_tx.send(true);
        });
        Leadership { lost, renewer, elector }
    }

    /// Renews every RENEW_INTERVAL; returns once leadership is lost: someone
    /// else holds the Lease, or no renewal succeeded for RENEW_DEADLINE. Each
    /// attempt gets only what is left of that deadline (client-go bounds each
    /// renew by RenewDeadline the same way), so a request the API server never
    /// answers cannot keep this replica leading past it, while a standby
    /// takes over once LEASE_DURATION has passed. A renewal counts from when
    /// it was sent, not answered: the standby's clock starts no earlier.
    async fn renew(&self, mut lease: Lease, acquired: Instant) {
        let mut last_renewal = acquired;
        loop {
            tokio::time::sleep(RENEW_INTERVAL).await;
            let sent = Instant::now();
            let left = RENEW_DEADLINE.saturating_sub(last_renewal.elapsed());
            match tokio::time::timeout(left, self.try_renew(&lease)).await {
                Ok(Renewal::Renewed(renewed)) => {
                    (lease, last_renewal) = (renewed, sent);
                    self.fence.held_from(sent);
                }
                Ok(Renewal::Retry(fresh)) => lease = fresh.unwrap_or(lease),
                Ok(Renewal::Lost) => {
                    tracing::error!("the leader Lease is held by someone else now");
                    return;
                }
                Err(_) => tracing::warn!("renewing the leader Lease: no answer within the renew deadline"),
            }
            if last_renewal.elapsed() >= RENEW_DEADLINE {
                tracing::error!("could not renew the leader Lease for {RENEW_DEADLINE:?}");
                return;
            }
        }
    }

    /// One renewal; on failure, the Lease as it now is (if still ours) to retry from.
    async fn try_renew(&self, lease: &Lease) -> Renewal {
        let error = match self.api.replace(&self.name, &PostParams::default(), &taken(lease.clone(), &self.identity)).await {
            Ok(renewed) => return Renewal::Renewed(renewed),
            Err(e) => e,
        };
        tracing::warn!("renewing the leader Lease: {error}");
        match self.api.get_opt(&self.name).await {
            Ok(Some(fresh)) if Record::of(&fresh).holder.as_deref() == Some(self.identity.as_str()) => Renewal::Retry(Some(fresh)),
            Ok(_) => Renewal::Lost,
            Err(e) => {
                tracing::warn!("reading the leader Lease: {e}");
                Renewal::Retry(None)
            }
        }
    }
}

/// A test hook, `BERTH_TEST_RENEWER_LAG_SECONDS`: a renewer that finds the
/// Lease lost (the process was paused past its renew deadline, in its sleep or
/// in a request) waits this long before it closes the fence and says so, so
/// the controllers' tasks, woken by the same resume, run first.
/// That is the worst order the runtime may pick, and the one the fence exists
/// for; without the hook the renewer usually wins the race and the process
/// exits before its controllers try anything, so an end-to-end test could not
/// tell a fenced leader from an unfenced one. Never set outside the tests.
fn renewer_lag() -> Option<Duration> {
    let seconds: u64 = std::env::var("BERTH_TEST_RENEWER_LAG_SECONDS").ok()?.parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The outcome of one renewal attempt.
enum Renewal {
    Renewed(Lease),
    /// Not renewed, but still ours: retry (from the fresh Lease when read).
    Retry(Option<Lease>),
    Lost,
}

impl Leadership {
    /// Resolves when leadership is lost.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Clears the holder so a standby takes over at once instead of waiting
    /// for the Lease to expire.
    pub async fn release(self) {
        self.renewer.abort();
        let elector = &self.elector;
        elector.fence.close();
        let released = async {
            let mut lease = elector.api.get(&elector.name).await?;
            if Record::of(&lease).holder.as_deref() != Some(elector.identity.as_str()) {
                return Ok(());
            }
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
            }
            elector.api.replace(&elector.name, &PostParams::default(), &lease).await.map(|_| ())
        };
        match tokio::time::timeout(Duration::from_secs(5), released).await {
            Ok(Ok(())) => tracing::info!(lease = %elector.name, "released the leader Lease"),
            Ok(Err(e)) => tracing::warn!("releasing the leader Lease: {e}"),
            Err(_) => tracing::warn!("releasing the leader Lease timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: Option<&str>, renewed_secs: i64) -> Record {
        Record {
            holder: holder.map(String::from),
            renewed: Some(MicroTime(k8s_openapi::jiff::Timestamp::from_second(renewed_secs).unwrap())),
            transitions: 3,
            duration: Duration::from_secs(15),
        }
    }

    /// A client whose API server accepts every request and never answers.
    fn unanswering_client() -> Client {
        struct Stalled;
        impl tower_service::Service<http::Request<kube::client::Body>> for Stalled {
            type Response = http::Response<kube::client::Body>;
            type Error = std::convert::Infallible;
            type Future = futures::future::Pending<Result<Self::Response, Self::Error>>;
            fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: http::Request<kube::client::Body>) -> Self::Future {
                futures::future::pending()
            }
        }
        // The operator's own request bound (30 s) is longer than the renew
        // deadline, so on its own it would not stop a hung renewal in time.
        let bounded = tower_layer::Layer::layer(&crate::runtime::client::TimeoutLayer(crate::runtime::client::REQUEST_TIMEOUT), Stalled);
        Client::new(bounded, "default")
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_the_api_server_never_answers_ends_leadership_by_the_renew_deadline() {
        let elector = Elector::new(unanswering_client(), "default", "berth", "a");
        let t0 = Instant::now();
        elector.renew(taken(Lease::default(), "a"), t0).await;
        let led = Instant::now() - t0;
        assert!(led <= RENEW_DEADLINE, "led for {led:?} without renewing");
        assert!(led < LEASE_DURATION);
    }

    #[test]
    fn a_missing_lease_is_created() {
        assert_eq!(next(None, "a", Instant::now()), Next::Create);
    }

    #[test]
    fn a_released_lease_is_taken() {
        let seen = Seen { record: record(None, 100), since: Instant::now() };
        assert_eq!(next(Some(&seen), "a", Instant::now()), Next::Take);
    }

    #[test]
    fn another_holder_is_waited_for_a_full_duration_from_the_last_change_seen() {
        let t0 = Instant::now();
        let seen = Seen::update(None, record(Some("b"), 100), t0);
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(next(Some(&seen), "a", t0), Next::WaitUntil(at(15)));
        // The same record seen again later proves nothing: the deadline stays.
        let again = Seen::update(Some(seen), record(Some("b"), 100), at(10));
        assert_eq!(next(Some(&again), "a", at(10)), Next::WaitUntil(at(15)));
        // A renewal moves it.
        let renewed = Seen::update(Some(again.clone()), record(Some("b"), 112), at(12));
        assert_eq!(next(Some(&renewed), "a", at(12)), Next::WaitUntil(at(27)));
        // Unrenewed for the whole duration: expired, so taken.
        assert_eq!(next(Some(&again), "a", at(15)), Next::Take);
    }

    #[test]
    fn a_lease_held_by_me_is_taken_back_at_once() {
        let seen = Seen { record: record(Some("a"), 100), since: Instant::now() };
        assert_eq!(next(Some(&seen), "a", Instant::now()), Next::Take);
    }

    #[test]
    fn taking_over_counts_a_transition_but_renewing_does_not() {
        let held_by = |holder: &str| Lease {
            spec: Some(LeaseSpec { holder_identity: Some(holder.into()), lease_transitions: Some(3), ..LeaseSpec::default() }),
            ..Lease::default()
        };
        let from_b = taken(held_by("b"), "a").spec.unwrap();
        assert_eq!((from_b.holder_identity.as_deref(), from_b.lease_transitions), (Some("a"), Some(4)));
        assert!(from_b.acquire_time.is_some());
        let renewed = taken(held_by("a"), "a").spec.unwrap();
        assert_eq!((renewed.lease_transitions, renewed.acquire_time), (Some(3), None));
        let created = taken(Lease::default(), "a").spec.unwrap();
        assert_eq!((created.lease_transitions, created.lease_duration_seconds), (Some(0), Some(15)));
    }
}
