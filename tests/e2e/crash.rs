//! Crash safety under load: Herald is killed with SIGKILL at random moments while it sends
//! one article to many Telegram private subscribers (through the Bot API emulator, with
//! Telegram's flood limits) and Matrix rooms (on Synapse), and restarted each time. Then
//! it runs to the end, and what the chats received is counted:
//!
//! - lost (a chat that never got the article): must be 0;
//! - Matrix duplicates: 0 (a resend carries the same transaction id on the same device,
//!   and the homeserver drops it);
//! - Telegram duplicates: at most one per kill (Telegram has no idempotency key: only a
//!   send the killed process made but had not recorded yet is repeated).
//!
//! The short version runs in the normal suite. `scripts/crash-test` runs the full one
//! (20 kills, 1,000 subscribers, 20 rooms); the sizes can be set with
//! `HERALD_CRASH_KILLS`, `HERALD_CRASH_SUBSCRIBERS`, `HERALD_CRASH_ROOMS` and the random
//! moments repeated with `HERALD_CRASH_SEED`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use herald::article::{LangSet, Target};
use herald::store::{ChatSettings, Store};

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Running, Setup};
use crate::support::matrix_client::TestUser;
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, chat};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:CRASH-TEST-TOKEN";
const RSS: &str = "application/rss+xml; charset=UTF-8";
/// Private subscribers' chat ids start here.
const FIRST_CHAT: i64 = 500_000;

#[derive(Debug, Clone, Copy)]
struct Sizes {
    kills: usize,
    subscribers: usize,
    rooms: usize,
    seed: u64,
}

impl Sizes {
    /// `default`, with what the environment sets instead.
    fn from_env(default: Sizes) -> Sizes {
        let var = |name: &str, default: u64| -> u64 {
            std::env::var(name)
                .ok()
                .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: a number")))
                .unwrap_or(default)
        };
        Sizes {
            kills: var("HERALD_CRASH_KILLS", default.kills as u64) as usize,
            subscribers: var("HERALD_CRASH_SUBSCRIBERS", default.subscribers as u64) as usize,
            rooms: var("HERALD_CRASH_ROOMS", default.rooms as u64) as usize,
            seed: var("HERALD_CRASH_SEED", default.seed),
        }
    }
}

/// What the chats received.
#[derive(Debug)]
struct Report {
    sizes: Sizes,
    expected: usize,
    delivered: usize,
    lost: usize,
    telegram_duplicates: usize,
    matrix_duplicates: usize,
    /// 429 answers from the Bot API emulator.
    rate_limited: usize,
    kills: usize,
    /// Kills that came while posts were going out (the others came during a start).
    kills_while_sending: usize,
    took: Duration,
}

/// A small deterministic random source (xorshift), so a run can be repeated by its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Runs the crash test at `sizes` and counts what arrived.
async fn crash_run(sizes: Sizes) -> Report {
    let started = Instant::now();
    let mut random = Random(sizes.seed | 1);
    let hs = Synapse::shared().await;
    let reader = TestUser::login(hs, "crashreader").await;
    let (bot_user, password) = hs.new_user("herald").await;
    let mut rooms = Vec::new();
    for _ in 0..sizes.rooms {
        rooms.push(reader.create_room(false, &[&bot_user]).await);
    }

    let api = BotApi::start(TOKEN, "CrashBot").await;
    let chats: Vec<i64> = (0..sizes.subscribers as i64)
        .map(|n| FIRST_CHAT + n)
        .collect();
    for id in &chats {
        api.add_chat(chat(*id, "private", "Reader"));
    }

    // One new article: the feed's newest item, posted on its first poll (backfill 1).
    let feeds = FeedServer::start().await;
    feeds.set(
        "news.xml",
        rss("en", &[Item::new(9001, "Crash-proof news", 1)]),
        RSS,
    );
    let ops = Ops::on_free_port();
    let mut config = Config::new()
        .bot("backfill", 1)
        .fetch("timeout", "2s")
        .telegram("api_url", api.api_url())
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot_user.clone())
        .ops(&ops)
        .feed(&feeds.url("news.xml"), "en");
    for room in &rooms {
        config = config.channel(&format!("matrix:{room}"), &["*"]);
    }
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    subscribe(&setup, &chats).await;

    // Each life is killed once a random number of further posts went out (at most a
    // fair share of what is left), a random few milliseconds later: in the middle of a
    // send, of its record, of a poll, or of the start.
    // Once the Telegram posts are all out, a life is killed after a random moment instead.
    let total = chats.len() + rooms.len();
    let delivered_now = |api: &BotApi| -> usize { chats.iter().map(|c| api.sent(*c).len()).sum() };
    let mut kills_while_sending = 0;
    let mut last_log = String::new();
    for kill in 0..sizes.kills {
        let before = delivered_now(&api);
        let left = chats.len().saturating_sub(before);
        let bot = setup.start();
        if left == 0 {
            tokio::time::sleep(Duration::from_millis(random.below(3000))).await;
        } else {
            let share = (left / (sizes.kills - kill + 1)).max(1) as u64;
            let posts = 1 + random.below(share) as usize;
            let deadline = Instant::now() + Duration::from_secs(60);
            while delivered_now(&api) < before + posts && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(random.below(40))).await;
        if delivered_now(&api) > before {
            kills_while_sending += 1;
        }
        let out = bot.kill().await;
        last_log = out.stderr;
        assert!(
            !last_log.contains("panicked"),
            "herald panicked:\n{last_log}"
        );
    }

    // The last life runs until every chat has the article and the outbox is empty.
    let bot = setup.start();
    wait_for_all(&api, &chats, &bot, &last_log).await;
    for room in &rooms {
        reader
            .messages_from(room, &bot_user, 1, Duration::from_secs(120))
            .await;
    }
    ops.wait_outbox_empty(Duration::from_secs(120)).await;
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let mut delivered = 0;
    let mut telegram_duplicates = 0;
    for id in &chats {
        let n = api
            .sent(*id)
            .iter()
            .filter(|m| m.text.contains("Crash-proof news"))
            .count();
        delivered += usize::from(n > 0);
        telegram_duplicates += n.saturating_sub(1);
    }
    let mut matrix_duplicates = 0;
    for room in &rooms {
        let n = reader
            .messages_from(room, &bot_user, 1, Duration::from_secs(30))
            .await
            .iter()
            .filter(|m| m.body.contains("Crash-proof news"))
            .count();
        delivered += usize::from(n > 0);
        matrix_duplicates += n.saturating_sub(1);
    }
    let rate_limited = api
        .errors("sendMessage")
        .iter()
        .filter(|e| e.contains("Too Many Requests"))
        .count();
    Report {
        sizes,
        expected: total,
        delivered,
        lost: total - delivered,
        telegram_duplicates,
        matrix_duplicates,
        rate_limited,
        kills: sizes.kills,
        kills_while_sending,
        took: started.elapsed(),
    }
}

/// Stores the private subscribers before the first start, as `/start` would have.
async fn subscribe(setup: &Setup, chats: &[i64]) {
    let store = Store::open(&setup.path().join("data")).expect("store");
    for id in chats {
        let settings = ChatSettings {
            langs: LangSet::All,
            subscribed: true,
            ui_lang: None,
            since: chrono::Utc::now(),
        };
        let target: Target = format!("telegram:{id}").parse().expect("target");
        store.put_chat(&target, &settings).expect("subscriber");
    }
    store.flush().await.expect("flush");
}

/// Waits until every Telegram chat got a message.
async fn wait_for_all(api: &BotApi, chats: &[i64], bot: &Running, earlier: &str) {
    let deadline = Instant::now() + Duration::from_secs(60 + chats.len() as u64 / 10);
    loop {
        let missing: HashSet<i64> = chats
            .iter()
            .copied()
            .filter(|c| api.sent(*c).is_empty())
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} chats never got the post (e.g. {:?}); log:\n{}\nthe last killed one's log:\n{earlier}",
            missing.len(),
            missing.iter().next(),
            bot.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Report {
    fn summary(&self) -> String {
        let s = &self.sizes;
        format!(
            "crash test: {} kills ({} while posts went out), {} Telegram subscribers, {} Matrix \
             rooms, seed {}\n  expected {}  delivered {}  lost {}  Matrix duplicates {}  \
             Telegram duplicates {}  429s {}  ({:.0} s)",
            self.kills,
            self.kills_while_sending,
            s.subscribers,
            s.rooms,
            s.seed,
            self.expected,
            self.delivered,
            self.lost,
            self.matrix_duplicates,
            self.telegram_duplicates,
            self.rate_limited,
            self.took.as_secs_f64()
        )
    }
}

fn check(report: &Report) {
    println!("{}", report.summary());
    assert_eq!(report.lost, 0, "nothing lost: {report:?}");
    assert_eq!(report.matrix_duplicates, 0, "{report:?}");
    assert!(
        report.telegram_duplicates <= report.kills,
        "at most one Telegram duplicate per kill: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_again_and_again_mid_broadcast_it_loses_nothing_and_repeats_at_most_one_post_a_kill()
{
    let report = crash_run(Sizes::from_env(Sizes {
        kills: 3,
        subscribers: 50,
        rooms: 3,
        seed: seed(),
    }))
    .await;
    check(&report);
}

/// The full crash test (`scripts/crash-test`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long: run by scripts/crash-test"]
async fn crash_test_full() {
    let sizes = Sizes::from_env(Sizes {
        kills: 20,
        subscribers: 1000,
        rooms: 20,
        seed: seed(),
    });
    let report = crash_run(sizes).await;
    check(&report);
}

/// A seed from the clock (printed in the report's sizes; set `HERALD_CRASH_SEED` to repeat).
fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
