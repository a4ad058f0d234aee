//! A platform's pace: the slots every send on the platform takes first, so that Herald
//! never sends more than the platform's limit within one of its seconds.
//!
//! A platform's `global_rate` is the limit it enforces over a sliding second.
//! Herald spaces its sends evenly at one a second fewer (29 of Telegram's 30), and before
//! each send counts every send that could still be in the server's last second: those
//! under way and those that may have arrived less than a second ago. The server counts a
//! send when it receives it: after Herald started it, and before its answer came back.
//! Each send is counted as if it arrived as late as that: when its answer came, less the
//! fastest round trip seen (the travel every send takes; taken off only after 100 answers,
//! so a distant server is paced as fast as a near one). However late tasks wake, answers
//! come or requests lag on the way, the server sees no more than its limit in a second.
//! A process starts slow: if an earlier process ever sent on the platform (it may have
//! been killed with sends on the way that it never recorded), nothing is sent there
//! before a full window has passed since the start and since the last send on record.
//! A rate limit (429) pauses the whole platform briefly. Shutdown ends the wait for a slot
//! at once.
//!
//! A `Pace` needs only the platform's rate and the shutdown token: whatever sends on the
//! platform can take a slot of it, not only the outbox's drain.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest a 429 pauses a whole platform (the chat itself waits the full time).
const MAX_PLATFORM_PAUSE: Duration = Duration::from_secs(5);
/// The window the platforms count their rates over.
pub(super) const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Rates above this are only spaced, not counted send by send (the console, test sinks).
const MAX_COUNTED_RATE: u32 = 1000;
/// Answers seen before the fastest round trip is taken for the travel every send takes
/// (before, a send counts until its answer came).
const TRAVEL_SAMPLES: usize = 100;

/// The sends per second Herald allows itself on a platform that enforces `rate`: one
/// fewer, so that jitter between Herald and the server never makes one too many.
pub fn paced_rate(rate: u32) -> u32 {
    rate.saturating_sub(1).max(1)
}

/// The monotonic instant at which `wall + wait` falls, if it is still ahead.
pub(super) fn after_stored(wall: DateTime<Utc>, wait: Duration) -> Option<Instant> {
    let ahead = (wall + chrono::Duration::from_std(wait).ok()?) - Utc::now();
    let ahead = ahead.to_std().ok().filter(|d| !d.is_zero())?;
    Some(Instant::now() + ahead)
}

/// A platform's pace: evenly spaced slots, `1/paced_rate(rate)` apart, and a count of the
/// sends the server may still see in its last second.
pub struct Pace {
    state: Mutex<PaceState>,
}

struct PaceState {
    /// The next free slot, `1/rate` after the previous one.
    next_slot: Instant,
    /// When the sends of the last second arrived at the server at the latest, in order.
    ended: VecDeque<Instant>,
    /// Sends under way: started, no answer yet.
    in_flight: usize,
    /// The fastest round trip seen: the travel there and back that every send takes.
    fastest: Option<Duration>,
    /// Answers seen (up to `TRAVEL_SAMPLES`).
    answers: usize,
}

impl PaceState {
    /// Sends that may still be within the server's last second at `now`.
    fn in_window(&mut self, now: Instant) -> usize {
        while self.ended.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
            self.ended.pop_front();
        }
        self.ended.len() + self.in_flight
    }
}

impl Pace {
    /// A pace whose first slot is `next_slot`.
    fn new(next_slot: Instant) -> Pace {
        Pace {
            state: Mutex::new(PaceState {
                next_slot,
                ended: VecDeque::new(),
                in_flight: 0,
                fastest: None,
                answers: 0,
            }),
        }
    }

    /// The pace of a platform as a process starts. A process started after another one
    /// stopped (perhaps killed with sends on the way it never recorded), which last sent on
    /// the platform at `last_sent`, waits out a full window first.
    pub fn starting(last_sent: Option<DateTime<Utc>>) -> Pace {
        match last_sent {
            Some(last) => Pace::new(
                after_stored(last, RATE_WINDOW)
                    .unwrap_or_else(Instant::now)
                    .max(Instant::now() + RATE_WINDOW),
            ),
            None => Pace::new(Instant::now()),
        }
    }

    /// The platform answered a send with a rate limit of `wait`: no slot begins before
    /// `wait` (at most `MAX_PLATFORM_PAUSE`) has passed. Slots handed out already stay.
    pub fn rate_limited(&self, wait: Duration) {
        let pause = wait.min(MAX_PLATFORM_PAUSE);
        let mut pace = self.state.lock().expect("pace");
        let now = Instant::now();
        pace.next_slot = pace.next_slot.max(now + pause);
    }

    /// Waits for the platform's next free slot: `paced_rate(rate)` sends a second, evenly
    /// spaced, and never more than `rate` sends within the server's view of any one second,
    /// even when tasks wake late or answers are slow. The send is under way until the
    /// returned `Slot` is dropped. Returns `None`, having sent nothing, when shutdown comes
    /// first.
    pub async fn slot(&self, rate: u32, shutdown: &CancellationToken) -> Option<Slot<'_>> {
        let counted = rate <= MAX_COUNTED_RATE;
        let interval = RATE_WINDOW / paced_rate(rate);
        let mut wait_until = {
            let mut pace = self.state.lock().expect("pace");
            let now = Instant::now();
            let slot = pace.next_slot.max(now);
            pace.next_slot = slot + interval;
            slot
        };
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(wait_until) => {}
            }
            if !counted {
                return Some(Slot {
                    pace: None,
                    started: Instant::now(),
                });
            }
            // Count what the server may still count: a task that woke late must not join
            // others into one too many. It waits for room, keeping its place: the slots
            // reserved by others do not move.
            let mut pace = self.state.lock().expect("pace");
            let now = Instant::now();
            if pace.in_window(now) < rate as usize {
                pace.in_flight += 1;
                return Some(Slot {
                    pace: Some(self),
                    started: now,
                });
            }
            // Room comes a second after the oldest answer; with every send still under way,
            // look again a slot later.
            wait_until = match pace.ended.front() {
                Some(oldest) => *oldest + RATE_WINDOW,
                None => now + interval,
            };
        }
    }
}

/// A send under way on a counted platform: when dropped (the answer came, or the send was
/// abandoned), its end is noted for the platform's count.
pub struct Slot<'a> {
    /// The pace the send counts against; none on a platform only spaced, not counted.
    pace: Option<&'a Pace>,
    started: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(pace) = self.pace else {
            return;
        };
        let mut pace = pace.state.lock().expect("pace");
        pace.in_flight = pace.in_flight.saturating_sub(1);
        // The send reached the server before its answer came back, and at least the
        // fastest round trip's travel before that.
        let now = Instant::now();
        let round_trip = now - self.started;
        let fastest = pace.fastest.map_or(round_trip, |f| f.min(round_trip));
        pace.fastest = Some(fastest);
        pace.answers = (pace.answers + 1).min(TRAVEL_SAMPLES);
        let travel = if pace.answers < TRAVEL_SAMPLES {
            Duration::ZERO
        } else {
            fastest
        };
        let arrived = now - travel;
        // Kept in order (a bound later than the true one only counts more).
        let arrived = pace.ended.back().map_or(arrived, |last| arrived.max(*last));
        pace.ended.push_back(arrived);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::article::Article;
    use crate::article::{Platform, Target};
    use crate::config::Config;
    use crate::delivery::{CONCURRENT_CHATS, Delivery};
    use crate::platform::BoxFuture;
    use crate::sink::testing::{Answers, FakeSink};
    use crate::sink::{SendError, Sink};
    use crate::store::FeedState;
    use crate::store::Store;

    /// What a Telegram-like platform (30 a second, one a second per private chat) answers,
    /// noting when each post arrives.
    #[derive(Default)]
    struct Recorder {
        sends: Mutex<Vec<(String, Instant)>>,
    }

    impl Recorder {
        fn times(&self) -> Vec<Instant> {
            self.sends.lock().unwrap().iter().map(|(_, t)| *t).collect()
        }
        fn count(&self) -> usize {
            self.sends.lock().unwrap().len()
        }
    }

    impl Answers for Recorder {
        fn answer<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                let mut sends = self.sends.lock().unwrap();
                sends.push((chat.to_string(), Instant::now()));
                Ok(sends.len().to_string())
            })
        }
    }

    fn article(n: u32) -> Article {
        Article {
            published: Some(chrono::Utc::now() - chrono::Duration::hours(i64::from(100 - n))),
            ..Article::sample(n, "en")
        }
    }

    /// A configuration and a store in a temporary folder, to drain through test sinks.
    struct Bench {
        _dir: tempfile::TempDir,
        config: Arc<Config>,
        store: Store,
    }

    fn bench() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse("", &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        Bench {
            _dir: dir,
            config: Arc::new(config),
            store,
        }
    }

    impl Bench {
        /// Queues article `n` for private chats 1..=chats.
        async fn queue(&self, n: u32, chats: u32) {
            let a = article(n);
            let deliveries: Vec<(Target, String)> = (1..=chats)
                .map(|c| (Target::new(Platform::Telegram, c.to_string()), a.id.clone()))
                .collect();
            self.store
                .commit_poll(
                    &format!("feed{n}"),
                    &FeedState::default(),
                    &[a],
                    &deliveries,
                    None,
                )
                .await
                .unwrap();
        }

        fn delivery(&self, sink: &Arc<FakeSink<Recorder>>) -> Arc<Delivery> {
            Delivery::new(
                self.config.clone(),
                self.store.clone(),
                Arc::default(),
                vec![sink.clone() as Arc<dyn Sink>],
            )
        }
    }

    /// A Telegram-like server behind a network of uneven delays: a request takes `base`
    /// plus 0 to 30 ms to arrive (plus 120 ms for four in a row every 60) and its answer
    /// `base` plus 0 to 30 ms to come back, in a fixed pseudo-random pattern. The server counts each send when it arrives, over a sliding
    /// second, and refuses (429) a 31st, like the Bot API.
    #[derive(Default)]
    struct JitteryServer {
        base: Duration,
        calls: std::sync::atomic::AtomicU64,
        accepted: Mutex<VecDeque<Instant>>,
        all: Mutex<Vec<Instant>>,
        refused: std::sync::atomic::AtomicUsize,
    }

    impl JitteryServer {
        /// The way there of the `n`th send (and, with `n` of no send, a way back).
        fn delay(&self, n: u64, there: bool) -> Duration {
            // A xorshift of the number: an uneven 0 to 30 ms.
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            x ^= x >> 29;
            let jitter = Duration::from_millis(x % 31);
            // Now and then a hiccup holds up four requests in a row, which then arrive
            // together.
            let hiccup = if there && (n / 4).is_multiple_of(15) {
                Duration::from_millis(120)
            } else {
                Duration::ZERO
            };
            self.base + jitter + hiccup
        }
    }

    impl Answers for JitteryServer {
        fn answer<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                let n = self
                    .calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(self.delay(n, true)).await;
                let accepted = {
                    let mut window = self.accepted.lock().unwrap();
                    let now = Instant::now();
                    while window.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
                        window.pop_front();
                    }
                    let accepted = window.len() < 30;
                    if accepted {
                        window.push_back(now);
                        self.all.lock().unwrap().push(now);
                    }
                    accepted
                };
                tokio::time::sleep(self.delay(n + 7, false)).await;
                if accepted {
                    Ok("1".into())
                } else {
                    self.refused
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Err(SendError::RetryAfter(Duration::from_secs(1)))
                }
            })
        }
    }

    /// Sends 600 posts through `server`; returns when the server took each.
    async fn fan_out_through(server: Arc<FakeSink<JitteryServer>>) -> Vec<Instant> {
        let f = bench();
        f.queue(1, 600).await;
        let delivery = Delivery::new(
            f.config.clone(),
            f.store.clone(),
            Arc::default(),
            vec![server.clone() as Arc<dyn Sink>],
        );
        let (sent, empty) = delivery
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!((sent, empty), (600, true));
        let refused = server.refused.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(refused, 0, "429s from the server");
        let times = server.all.lock().unwrap().clone();
        assert!(busiest_second(&times) <= 30);
        times
    }

    /// Posts a second from the `from`th post taken to the last.
    fn rate_from(times: &[Instant], from: usize) -> f64 {
        let span = *times.last().unwrap() - times[from];
        (times.len() - 1 - from) as f64 / span.as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn uneven_network_delays_never_put_one_too_many_into_the_servers_second() {
        let times = fan_out_through(Arc::new(FakeSink::telegram(JitteryServer::default()))).await;
        let rate = rate_from(&times, 0);
        assert!(rate >= 28.5, "{rate:.2} posts a second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_distant_server_is_paced_as_fast_as_a_near_one() {
        let server = JitteryServer {
            base: Duration::from_millis(150),
            ..Default::default()
        };
        // Until it has seen enough answers to know the travel, it counts whole round trips.
        let times = fan_out_through(Arc::new(FakeSink::telegram(server))).await;
        let rate = rate_from(&times, 150);
        assert!(rate >= 28.5, "{rate:.2} posts a second");
    }

    /// The most sends within any one second (a window open at its start, closed at its end).
    fn busiest_second(times: &[Instant]) -> usize {
        let mut times = times.to_vec();
        times.sort();
        let mut most = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[start] + RATE_WINDOW <= times[end] {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_wait_for_a_slot_and_nothing_starts_after_it() {
        let f = bench();
        f.queue(1, 1000).await;
        let sink = Arc::new(FakeSink::telegram(Recorder::default()));
        let delivery = f.delivery(&sink);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(delivery.run(shutdown.clone()));
        tokio::time::sleep(Duration::from_secs(3)).await;
        shutdown.cancel();
        let at_shutdown = sink.count();
        assert!((58..=90).contains(&at_shutdown), "{at_shutdown} in 3 s");
        tokio::time::timeout(Duration::from_millis(10), running)
            .await
            .expect("the loop ends at once")
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(sink.count(), at_shutdown, "nothing sent after shutdown");
        assert_eq!(
            f.store.outbox_len(),
            1000 - at_shutdown,
            "the rest stays queued"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_stays_below_the_limit_in_every_second_even_across_a_restart() {
        let f = bench();
        f.queue(1, 300).await;
        let sink = Arc::new(FakeSink::telegram(Recorder::default()));
        let delivery = f.delivery(&sink);
        let started = Instant::now();
        let (sent, empty) = delivery
            .clone()
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!((sent, empty), (300, true));
        let times = sink.times();
        assert_eq!(busiest_second(&times), 29, "one below Telegram's 30");
        let took = (*times.last().unwrap() - started).as_secs_f64();
        let rate = 299.0 / took;
        assert!(rate >= 28.5, "{rate:.2} posts a second");
        assert!(
            delivery.state.lock().unwrap().chats.len() <= CONCURRENT_CHATS,
            "the state does not keep every chat served"
        );

        // A new process (a new Delivery on the same store) with a second article for the
        // same chats: it waits out the window the first one filled, and each chat's second.
        f.queue(2, 300).await;
        let sink2 = Arc::new(FakeSink::telegram(Recorder::default()));
        let (sent, _) = f
            .delivery(&sink2)
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!(sent, 300);
        let mut both = times.clone();
        both.extend(sink2.times());
        assert_eq!(busiest_second(&both), 29, "no burst after the restart");
        let first: HashMap<String, Instant> = sink.sends.lock().unwrap().iter().cloned().collect();
        for (chat, at) in sink2.sends.lock().unwrap().iter() {
            assert!(
                *at >= first[chat] + Duration::from_millis(900),
                "chat {chat}"
            );
        }
    }
}
