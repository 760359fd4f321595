//! Alert delivery to HTTP targets (SPEC section 11): `--webhook URL` gets
//! each event as one JSON object, `--alertmanager URL` gets Prometheus
//! Alertmanager's API v2 alerts, with firing alerts re-sent every ttl/4 and
//! a resumed run's still-firing alerts re-sent at its start.
//!
//! Owns the targets ([`target`]), the request bodies ([`payload`]), the HTTP
//! client ([`http`]), one bounded queue and thread per target ([`worker`])
//! and the set of firing alerts ([`firing`], checkpointed). It is handed
//! events in emit order and must not touch outputs or pipeline state: a
//! slow, failing or unreachable target changes neither the report nor the
//! pace of the pipeline, only the counters and one report on stderr.

pub mod firing;
pub mod http;
pub mod payload;
pub mod target;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::agg::{write_value, AggValue};
use crate::alert::Transition;
use firing::FiringSet;
use payload::{AmAlert, AmShape, RuleText};
use target::{TargetKind, TargetUrl};
use worker::{Item, TargetWorker};

/// `--alert-ttl` default: how long Alertmanager keeps a firing alert that is
/// not re-sent (it is re-sent every ttl/4 while the run lives).
pub const DEFAULT_ALERT_TTL_MS: i64 = 5 * 60_000;
/// Shorter lifetimes would re-send more often than a few times a second.
pub const MIN_ALERT_TTL_MS: i64 = 1000;
/// Time limit of one request (SPEC: 10 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At end of input, how long queued deliveries may still take (SPEC: 10 s).
pub const FLUSH_LIMIT: Duration = Duration::from_secs(10);
/// Wait before the second try; doubled before the third.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Test-only knobs that shorten the two limits above (milliseconds), so the
/// tests of a silent target stay quick; unset, the SPEC's values hold.
pub const TIMEOUT_KNOB: &str = "VIGIL_TEST_DELIVERY_TIMEOUT_MS";
pub const FLUSH_KNOB: &str = "VIGIL_TEST_DELIVERY_FLUSH_MS";

/// The time limits of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub request_timeout: Duration,
    pub flush: Duration,
    pub backoff: Duration,
}

impl Timing {
    /// The SPEC's limits, unless a test knob is set (looked up by `var`).
    pub fn from_knobs(var: impl Fn(&str) -> Option<String>) -> Timing {
        let ms = |name: &str| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        Timing {
            request_timeout: ms(TIMEOUT_KNOB).unwrap_or(REQUEST_TIMEOUT),
            flush: ms(FLUSH_KNOB).unwrap_or(FLUSH_LIMIT),
            backoff: RETRY_BACKOFF,
        }
    }

    pub fn from_env() -> Timing {
        Timing::from_knobs(|name| std::env::var(name).ok())
    }
}

/// The delivery part of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    pub webhooks: Vec<TargetUrl>,
    pub alertmanagers: Vec<TargetUrl>,
    /// `--alert-ttl`, milliseconds
    pub alert_ttl_ms: i64,
}

impl Default for DeliveryJob {
    fn default() -> DeliveryJob {
        DeliveryJob {
            webhooks: Vec::new(),
            alertmanagers: Vec::new(),
            alert_ttl_ms: DEFAULT_ALERT_TTL_MS,
        }
    }
}

impl DeliveryJob {
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty() && self.alertmanagers.is_empty()
    }

    /// Every target, webhooks first, in the order given.
    pub fn targets(&self) -> impl Iterator<Item = (TargetKind, &TargetUrl)> {
        self.webhooks
            .iter()
            .map(|u| (TargetKind::Webhook, u))
            .chain(
                self.alertmanagers
                    .iter()
                    .map(|u| (TargetKind::Alertmanager, u)),
            )
    }
}

/// One alert event, as the pipeline emits it.
pub struct DeliveryEvent<'a> {
    pub rule: usize,
    /// packed key (see `plan::key_fields`)
    pub key: &'a [u8],
    pub state: Transition,
    pub time: i64,
    pub value: AggValue,
}

/// What became of the deliveries of a run, summed over the targets (one
/// event sent to two targets is two deliveries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub targets: usize,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub resent: u64,
}

/// The running delivery: the firing set and one worker per target.
pub struct Delivery {
    workers: Vec<TargetWorker>,
    firing: Arc<Mutex<FiringSet>>,
    deadline: worker::Deadline,
    timing: Timing,
    has_webhooks: bool,
}

impl Delivery {
    /// Starts a thread per target. `resumed` is the checkpoint's firing set
    /// (empty on a fresh start): Alertmanager targets re-send it at once.
    pub fn start(
        job: &DeliveryJob,
        key_names: &[String],
        rules: Vec<RuleText>,
        resumed: FiringSet,
        timing: Timing,
    ) -> Delivery {
        let shape = Arc::new(AmShape {
            key_labels: payload::key_labels(key_names),
            rules,
            ttl_ms: job.alert_ttl_ms,
        });
        let firing = Arc::new(Mutex::new(resumed));
        let deadline: worker::Deadline = Arc::new(OnceLock::new());
        let workers = job
            .targets()
            .map(|(kind, url)| {
                TargetWorker::start(
                    kind,
                    url.clone(),
                    shape.clone(),
                    firing.clone(),
                    timing,
                    deadline.clone(),
                )
            })
            .collect();
        Delivery {
            workers,
            firing,
            deadline,
            timing,
            has_webhooks: !job.webhooks.is_empty(),
        }
    }

    /// True when webhook targets want the event's JSON.
    pub fn has_webhooks(&self) -> bool {
        self.has_webhooks
    }

    /// Hands one event to every target; never blocks. `json` is the event as
    /// a JSONL alert line without its newline (used only by webhooks).
    pub fn on_event(&self, e: &DeliveryEvent<'_>, json: &[u8]) {
        let mut value = Vec::new();
        write_value(e.value, &mut value);
        let value = String::from_utf8(value).unwrap_or_default();
        let since = self
            .firing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(e.rule, e.key, e.state, e.time, &value);
        for w in &self.workers {
            let item = match w.kind {
                TargetKind::Webhook => Item::Webhook(json.to_vec()),
                TargetKind::Alertmanager => Item::Alert(AmAlert {
                    rule: e.rule,
                    key: e.key.into(),
                    state: e.state,
                    time: e.time,
                    since,
                    value: value.clone(),
                }),
            };
            w.push(item);
        }
    }

    /// The firing alerts now (for the checkpoint).
    pub fn firing(&self) -> FiringSet {
        self.firing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// End of the run: waits at most the flush limit for queued deliveries;
    /// what is still queued or under way then is counted as dropped.
    pub fn finish(&mut self) -> DeliveryStats {
        let deadline = Instant::now() + self.timing.flush;
        let _ = self.deadline.set(deadline);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<()>();
        let mut running = 0;
        for w in &mut self.workers {
            if let Some(handle) = w.close() {
                running += 1;
                let done = done_tx.clone();
                // Joined on a helper thread so the wait can give up at the deadline.
                std::thread::spawn(move || {
                    let _ = handle.join();
                    let _ = done.send(());
                });
            }
        }
        for _ in 0..running {
            if done_rx.recv_deadline(deadline).is_err() {
                break;
            }
        }
        let mut stats = DeliveryStats {
            targets: self.workers.len(),
            ..DeliveryStats::default()
        };
        for w in &self.workers {
            let c = &w.counters;
            let queued = c.queued.load(Ordering::Relaxed);
            let delivered = c.delivered.load(Ordering::Relaxed);
            let failed = c.failed.load(Ordering::Relaxed);
            let mut dropped = c.dropped.load(Ordering::Relaxed);
            let unsettled = queued.saturating_sub(delivered + failed + dropped);
            if unsettled > 0 {
                dropped += unsettled;
                c.report_once(
                    w.kind,
                    &w.url,
                    &format!(
                        "{unsettled} events still queued or under way when the end-of-run wait ({}s) ran out were dropped",
                        self.timing.flush.as_secs_f64()
                    ),
                );
            }
            stats.delivered += delivered;
            stats.failed += failed;
            stats.dropped += dropped;
            stats.resent += c.resent.load(Ordering::Relaxed);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_limits_hold_unless_a_test_knob_shortens_them() {
        let t = Timing::from_knobs(|_| None);
        assert_eq!(t.request_timeout, Duration::from_secs(10));
        assert_eq!(t.flush, Duration::from_secs(10));
        assert_eq!(DEFAULT_ALERT_TTL_MS, 300_000);
        assert_eq!(worker::TRIES, 3);
        let t = Timing::from_knobs(|name| match name {
            TIMEOUT_KNOB => Some("150".into()),
            FLUSH_KNOB => Some(" 900 ".into()),
            _ => None,
        });
        assert_eq!(t.request_timeout, Duration::from_millis(150));
        assert_eq!(t.flush, Duration::from_millis(900));
        let junk = Timing::from_knobs(|_| Some("soon".into()));
        assert_eq!(junk.request_timeout, REQUEST_TIMEOUT);
    }

    fn rules() -> Vec<RuleText> {
        vec![RuleText {
            name: "hot".into(),
            severity: "warning".into(),
            text: "hot: avg(v) > 1".into(),
        }]
    }

    #[test]
    fn keeps_the_firing_set_without_targets_and_counts_nothing() {
        let mut d = Delivery::start(
            &DeliveryJob::default(),
            &["host".into()],
            rules(),
            FiringSet::default(),
            Timing::from_knobs(|_| None),
        );
        let key = b"\x01\x00\x00\x00a";
        let fire = DeliveryEvent {
            rule: 0,
            key,
            state: Transition::Firing,
            time: 60_000,
            value: AggValue::Float(2.5),
        };
        d.on_event(&fire, b"{}");
        let f = d.firing();
        let (rule, k, start) = f.iter().next().unwrap();
        assert_eq!(
            (rule, k, start.since, start.value.as_str()),
            (0, &key[..], 60_000, "2.5")
        );
        d.on_event(
            &DeliveryEvent {
                state: Transition::Resolved,
                time: 120_000,
                ..fire
            },
            b"{}",
        );
        assert!(d.firing().is_empty());
        assert_eq!(d.finish(), DeliveryStats::default());
    }

    #[test]
    fn a_dead_target_costs_the_caller_nothing_and_is_counted() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = dead.local_addr().unwrap().port();
        drop(dead);
        let job = DeliveryJob {
            webhooks: vec![TargetUrl::parse(&format!("http://127.0.0.1:{port}/h")).unwrap()],
            ..DeliveryJob::default()
        };
        let timing = Timing {
            request_timeout: Duration::from_millis(500),
            flush: Duration::from_millis(300),
            backoff: Duration::from_millis(10),
        };
        let mut d = Delivery::start(&job, &[], rules(), FiringSet::default(), timing);
        let started = Instant::now();
        for i in 0..2000 {
            d.on_event(
                &DeliveryEvent {
                    rule: 0,
                    key: b"",
                    state: if i % 2 == 0 {
                        Transition::Firing
                    } else {
                        Transition::Resolved
                    },
                    time: i,
                    value: AggValue::Null,
                },
                b"{\"x\":1}",
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "queueing 2000 events took {:?}",
            started.elapsed()
        );
        let s = d.finish();
        assert_eq!(s.delivered, 0);
        assert_eq!(s.failed + s.dropped, 2000, "{s:?}");
        assert!(s.dropped >= 2000 - QUEUE_PLUS_ONE as u64, "{s:?}");
    }

    /// The queue holds QUEUE; one more can be in the worker's hands.
    const QUEUE_PLUS_ONE: usize = worker::QUEUE + 1;
}
