//! One delivery target's bounded queue and the thread that empties it:
//! tries with backoff, counters, the one report of the target's first
//! problem, the ttl/4 re-sends of firing alerts (Alertmanager), and the
//! deadline that bounds the flush at the end. The pipeline only ever
//! `try_send`s into the queue, so a slow or dead target costs it nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::firing::FiringSet;
use super::http::{Client, PostOutcome};
use super::payload::{AmAlert, AmShape};
use super::target::{TargetKind, TargetUrl};
use super::Timing;
use crate::alert::Transition;

/// Events waiting per target; beyond this they are dropped and counted, so a
/// target that cannot keep up never holds the pipeline back.
pub const QUEUE: usize = 1024;
/// Alertmanager alerts sent in one request at most.
const BATCH: usize = 64;
/// Tries per request (the first one and two retries).
pub const TRIES: u32 = 3;

/// What waits in a target's queue.
pub enum Item {
    /// a webhook body: one JSON event
    Webhook(Vec<u8>),
    /// an Alertmanager alert (its body is made when it is sent: `endsAt`)
    Alert(AmAlert),
}

/// A target's counters, shared by the pipeline (drops) and its thread.
#[derive(Debug, Default)]
pub struct TargetCounters {
    pub queued: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    /// firing alerts re-sent (ttl/4 and on resume), not events
    pub resent: AtomicU64,
    /// the target's first problem has been reported
    reported: AtomicBool,
}

/// Set once by `finish`: queued deliveries are given up after it.
pub type Deadline = Arc<OnceLock<Instant>>;

/// The pipeline's handle on one target.
pub struct TargetWorker {
    pub kind: TargetKind,
    pub url: TargetUrl,
    tx: Option<Sender<Item>>,
    pub counters: Arc<TargetCounters>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// What the thread of one target works with.
struct Context {
    kind: TargetKind,
    /// where requests go (Alertmanager: with `/api/v2/alerts`)
    url: TargetUrl,
    shape: Arc<AmShape>,
    firing: Arc<Mutex<FiringSet>>,
    timing: Timing,
    deadline: Deadline,
    counters: Arc<TargetCounters>,
}

impl TargetCounters {
    /// Prints the target's first problem; later ones are only counted.
    pub fn report_once(&self, kind: TargetKind, url: &TargetUrl, problem: &str) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "vigil: --{} {url}: {problem}; further problems with this target are counted (notify_failed=, notify_dropped=), not shown",
                kind.flag()
            );
        }
    }
}

impl TargetWorker {
    pub fn start(
        kind: TargetKind,
        url: TargetUrl,
        shape: Arc<AmShape>,
        firing: Arc<Mutex<FiringSet>>,
        timing: Timing,
        deadline: Deadline,
    ) -> TargetWorker {
        let (tx, rx) = crossbeam_channel::bounded::<Item>(QUEUE);
        let counters = Arc::new(TargetCounters::default());
        let ctx = Context {
            kind,
            url: match kind {
                TargetKind::Webhook => url.clone(),
                TargetKind::Alertmanager => url.join("/api/v2/alerts"),
            },
            shape,
            firing,
            timing,
            deadline,
            counters: counters.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("deliver-{}", kind.flag()))
            .spawn(move || ctx.run(rx))
            .expect("spawn a delivery thread");
        TargetWorker {
            kind,
            url,
            tx: Some(tx),
            counters,
            handle: Some(handle),
        }
    }

    /// Queues `item`; never blocks. A full queue drops it (counted).
    pub fn push(&self, item: Item) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(item) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.counters.report_once(
                    self.kind,
                    &self.url,
                    &format!("cannot keep up: events beyond {QUEUE} waiting are dropped"),
                );
            }
        }
    }

    /// No more events: the thread sends what is queued and ends.
    pub fn close(&mut self) -> Option<std::thread::JoinHandle<()>> {
        self.tx.take();
        self.handle.take()
    }
}

impl Context {
    fn past_deadline(&self, after: Duration) -> bool {
        self.deadline
            .get()
            .is_some_and(|d| Instant::now() + after >= *d)
    }

    fn run(self, rx: Receiver<Item>) {
        let client = Client::new(self.timing.request_timeout);
        // Alertmanager: re-send the firing alerts at once (a resumed run's
        // come from the checkpoint; a fresh run has none), then every ttl/4.
        let every = Duration::from_millis((self.shape.ttl_ms / 4).max(1) as u64);
        let mut body = Vec::new();
        let mut next_resend = match self.kind {
            TargetKind::Alertmanager => {
                // before any event, even when the run ends at once
                self.resend(&client, &mut body);
                Some(Instant::now() + every)
            }
            TargetKind::Webhook => None,
        };
        loop {
            let item = match next_resend {
                Some(at) => match rx.recv_deadline(at) {
                    Ok(item) => Some(item),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(item) => Some(item),
                    Err(_) => break,
                },
            };
            body.clear();
            match item {
                None => {
                    next_resend = Some(Instant::now() + every);
                    self.resend(&client, &mut body);
                }
                Some(Item::Webhook(json)) => self.send(&client, &json, 1),
                Some(Item::Alert(first)) => {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(Item::Alert(a)) => batch.push(a),
                            Ok(Item::Webhook(_)) => unreachable!("an Alertmanager queue"),
                            Err(_) => break,
                        }
                    }
                    self.shape
                        .write_array(&batch, crate::source::now_ms(), &mut body);
                    self.send(&client, &body, batch.len() as u64);
                }
            }
        }
    }

    /// The firing alerts, with `endsAt` pushed to now + ttl.
    fn resend(&self, client: &Client, body: &mut Vec<u8>) {
        let alerts: Vec<AmAlert> = {
            let firing = self.firing.lock().unwrap_or_else(|e| e.into_inner());
            firing
                .iter()
                .map(|(rule, key, f)| AmAlert {
                    rule,
                    key: key.into(),
                    state: Transition::Firing,
                    time: f.since,
                    since: f.since,
                    value: f.value.clone(),
                })
                .collect()
        };
        for chunk in alerts.chunks(BATCH) {
            if self.past_deadline(Duration::ZERO) {
                return;
            }
            body.clear();
            self.shape.write_array(chunk, crate::source::now_ms(), body);
            match self.try_post(client, body) {
                Ok(()) => {
                    self.counters
                        .resent
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                Err((reason, _)) => {
                    self.counters.report_once(
                        self.kind,
                        &self.url,
                        &format!("re-sending the firing alerts failed: {reason}"),
                    );
                }
            }
        }
    }

    /// Sends one body standing for `events` events and counts the outcome.
    fn send(&self, client: &Client, body: &[u8], events: u64) {
        match self.try_post(client, body) {
            Ok(()) => {
                self.counters.delivered.fetch_add(events, Ordering::Relaxed);
            }
            Err((reason, gave_up)) => {
                let counter = if gave_up {
                    &self.counters.dropped
                } else {
                    &self.counters.failed
                };
                counter.fetch_add(events, Ordering::Relaxed);
                self.counters.report_once(
                    self.kind,
                    &self.url,
                    &format!(
                        "{} not delivered: {reason}",
                        if events == 1 {
                            "an event was"
                        } else {
                            "events were"
                        }
                    ),
                );
            }
        }
    }

    /// Up to [`TRIES`] tries with doubling backoff. Err: the reason, and
    /// whether it was the end-of-run deadline that stopped the tries.
    fn try_post(&self, client: &Client, body: &[u8]) -> Result<(), (String, bool)> {
        let mut backoff = self.timing.backoff;
        let mut reason = String::new();
        for attempt in 1..=TRIES {
            if attempt > 1 {
                if self.past_deadline(backoff) {
                    return Err((format!("{reason}; the end-of-run wait ran out"), true));
                }
                std::thread::sleep(backoff);
                backoff *= 2;
            } else if self.past_deadline(Duration::ZERO) {
                return Err(("the end-of-run wait ran out".into(), true));
            }
            match client.post_json(&self.url, body) {
                PostOutcome::Delivered => return Ok(()),
                PostOutcome::Retry(r) => reason = format!("{r} (try {attempt} of {TRIES})"),
                PostOutcome::Fail(r) => return Err((r, false)),
            }
        }
        Err((reason, false))
    }
}
