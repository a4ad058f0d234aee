//! The signs of life `/healthz` judges by, noted where they happen: since when each feed
//! has failed without a success, the delivery loop's heartbeat, and since when each
//! platform has failed every send. Written by polling (through `Metrics::count_poll`) and
//! by delivery for every platform's answer; read, never judged, here: the thresholds and
//! the verdict are `health`'s. On tokio's clock, so tests can pause it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::time::Instant;

/// The signs of life of the feeds, the delivery loop and the platforms, kept while the
/// bot runs.
pub struct Liveness(Mutex<Signs>);

struct Signs {
    feeds: BTreeMap<String, Failing>,
    delivery: Heartbeat,
    /// Per platform: the temporary failures of every send since the last answer that was
    /// not one (a success, a rate limit, a chat's own refusal).
    sends: BTreeMap<&'static str, Failing>,
}

/// Something failing without a break: since when, and its latest error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    pub since: Instant,
    pub error: String,
}

/// The delivery loop's heartbeat.
struct Heartbeat {
    /// The last sign of progress: a delivery step done (a post sent, edited, set aside or
    /// put back after the platform's answer), or a pass that left nothing due.
    active: Instant,
    /// A pass ended with nothing due before this (rate limits, backoff): the loop sleeps
    /// until then, and that is no stall.
    idle_until: Option<Instant>,
    /// The pass under way hit an error of its own (the store): its end is no progress.
    troubled: bool,
    /// The previous pass ended in trouble, so the next one's start is no progress either.
    last_troubled: bool,
}

/// The signs of life at one moment, as `health` judges them.
pub struct Reading {
    /// The feeds whose last poll failed: since when, and the latest error.
    pub feeds: BTreeMap<String, Failing>,
    /// Since when the delivery loop has neither made progress nor had a reason to wait:
    /// its last sign of progress, or the end of the wait its last pass ended with (a rate
    /// limit, a backoff) if that is later.
    pub delivery_quiet_since: Instant,
    /// The platforms whose every send failed since, with the latest error.
    pub sends: BTreeMap<&'static str, Failing>,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness(Mutex::new(Signs {
            feeds: BTreeMap::new(),
            delivery: Heartbeat {
                active: Instant::now(),
                idle_until: None,
                troubled: false,
                last_troubled: false,
            },
            sends: BTreeMap::new(),
        }))
    }
}

/// Notes a failure of `key` (`Some(error)`: kept since its first time, with the latest
/// error) or its end (`None`).
fn note<K: Ord>(map: &mut BTreeMap<K, Failing>, key: K, error: Option<&str>) {
    match error {
        Some(error) => {
            let now = Instant::now();
            map.entry(key)
                .and_modify(|f| error.clone_into(&mut f.error))
                .or_insert_with(|| Failing {
                    since: now,
                    error: error.to_owned(),
                });
        }
        None => {
            map.remove(&key);
        }
    }
}

impl Liveness {
    fn state(&self) -> std::sync::MutexGuard<'_, Signs> {
        self.0.lock().expect("health")
    }

    /// A poll of `feed` failed with `error`, or worked (`None`). Returns how many feeds fail.
    pub fn feed_polled(&self, feed: &str, error: Option<String>) -> usize {
        let mut state = self.state();
        note(&mut state.feeds, feed.to_owned(), error.as_deref());
        state.feeds.len()
    }

    /// The delivery loop starts a pass over the outbox.
    pub fn delivery_pass_started(&self) {
        let mut state = self.state();
        let now = Instant::now();
        let beat = &mut state.delivery;
        if !beat.last_troubled {
            beat.active = now;
        }
        beat.idle_until = None;
        beat.troubled = false;
    }

    /// The delivery loop did a step: a post sent, edited, set aside or put back after the
    /// platform's answer.
    pub fn delivery_step(&self) {
        self.state().delivery.active = Instant::now();
    }

    /// The delivery loop hit an error of its own (the store could not be read or written).
    pub fn delivery_trouble(&self) {
        self.state().delivery.troubled = true;
    }

    /// The delivery loop ended a pass; what still waits is due at `next_due`.
    pub fn delivery_pass_ended(&self, next_due: Option<Instant>) {
        let mut state = self.state();
        let now = Instant::now();
        let beat = &mut state.delivery;
        beat.last_troubled = beat.troubled;
        if !beat.troubled {
            beat.active = now;
            beat.idle_until = next_due;
        }
    }

    /// A send to `platform` was answered: with a temporary failure (`Some(reason)`: an
    /// outage, a timeout, a 5xx), or otherwise (`None`: the platform is up).
    pub fn platform_answered(&self, platform: &'static str, temporary: Option<&str>) {
        note(&mut self.state().sends, platform, temporary);
    }

    /// The signs of life now, read at once.
    pub fn read(&self) -> Reading {
        let state = self.state();
        let beat = &state.delivery;
        Reading {
            feeds: state.feeds.clone(),
            delivery_quiet_since: beat
                .idle_until
                .map_or(beat.active, |idle| idle.max(beat.active)),
            sends: state.sends.clone(),
        }
    }
}
