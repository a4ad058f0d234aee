//! What monitoring sees, through the running binary: `/healthz` turning 503 for a feed that
//! fails for longer than `[ops] stall_after` and back to 200 when it recovers, 503 naming
//! Telegram while every send to it fails, and `/metrics` counting a poll's new articles and
//! a 429's retry, read by parsing the exposition.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::support::config::Config;
use crate::support::feed_server::{Behavior, FeedServer};
use crate::support::herald::{Ops, Setup};
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, Fault, chat};
use crate::support::wp::{Item, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";
const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const CHANNEL: i64 = -1001000000001;
const WAIT: Duration = Duration::from_secs(60);

/// `GET /healthz` until `done` holds for its status and body; returns them.
async fn wait_health(ops: &Ops, what: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    wait_health_within(ops, WAIT, what, done).await
}

async fn wait_health_within(
    ops: &Ops,
    timeout: Duration,
    what: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some((status, body)) = ops.get("/healthz").await {
            if done(status, &body) {
                return (status, body);
            }
            last = Some((status, body));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never showed {what}; last: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn items(n: u32) -> Vec<Item> {
    (1..=n)
        .map(|i| {
            Item::new(
                7000 + i,
                &format!("Report number {i} from the assembly"),
                i64::from(i),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_a_feed_failing_longer_than_stall_after_and_recovers() {
    let server = FeedServer::start().await;
    server.set("de.xml", rss("de", &items(2)), RSS);
    let ops = Ops::on_free_port();
    let config = Config::new()
        .feed_with(&server.url("de.xml"), "de", &[("name", "wp-de".into())])
        .channel("console", &["*"])
        .ops(&ops)
        .set("ops", "stall_after", "3s")
        // A failing feed is retried at every poll (1 s), not after minutes of backoff.
        .fetch("max_backoff", "1s");
    let setup = Setup::with_config(&config);
    let bot = setup.start();
    bot.wait_log("first poll of this feed", WAIT).await;
    let (_, body) = wait_health(&ops, "ok", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");

    server.behave("de.xml", Behavior::Status(500));
    // Failing, but for less than the threshold, it is still healthy: every answer whose
    // JSON says the feed has failed for under 3 s must be a 200.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = ops.get("/healthz?format=json").await.expect("answers");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        let failing = &json["failing_feeds"][server.url("de.xml")];
        if let Some(seconds) = failing["failing_for_seconds"].as_u64() {
            assert!(failing["error"].as_str().unwrap().contains("500"), "{body}");
            if seconds < 2 {
                assert_eq!(status, 200, "failing for under the threshold: {body}");
            }
        }
        if status == 503 {
            assert_eq!(json["stalled"].as_array().unwrap().len(), 1, "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never 503: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = ops.get("/healthz").await.expect("answers");
    assert_eq!(status, 503, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert!(
        lines[0].starts_with("feed wp-de: failing for ") && lines[0].contains("HTTP 500"),
        "{body}"
    );
    // The status page shows it first, too.
    let (status, page) = ops.get("/").await.expect("answers");
    assert_eq!(status, 200);
    assert!(
        page.contains(
            "<h2>Needs attention</h2>\n<ul id=\"stalled\">\n<li>feed wp-de: failing for "
        ),
        "{page}"
    );

    server.behave("de.xml", Behavior::Serve);
    let (_, body) = wait_health(&ops, "ok again", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");
    let (_, page) = ops.get("/").await.expect("answers");
    assert!(!page.contains("id=\"stalled\""), "nothing stalled: {page}");
    bot.stop().await;
}

/// A bot posting the feed's newest `backfill` items to a Telegram channel of the emulator.
async fn telegram_bot(api: &BotApi, feeds: &FeedServer, ops: &Ops, more: Config) -> Setup {
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    api.allow_flooding();
    let config = more
        .telegram("api_url", api.api_url())
        .telegram("chat_interval", "100ms")
        .telegram("group_interval", "100ms")
        .feed(&feeds.url("en.xml"), "en")
        .channel(&format!("telegram:{CHANNEL}"), &["en"])
        .ops(ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_telegram_while_every_send_fails() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    api.fail_always(CHANNEL, Some(Fault::ServerError));
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items(1)), RSS);
    let ops = Ops::on_free_port();
    let more = Config::new()
        .bot("backfill", 1)
        .set("ops", "delivery_stall_after", "2s");
    let setup = telegram_bot(&api, &feeds, &ops, more).await;
    let bot = setup.start();
    bot.wait_log("send failed; will retry", WAIT).await;
    let (_, body) = wait_health(&ops, "telegram down", |status, body| {
        status == 503 && body.lines().any(|l| l.starts_with("telegram: down for "))
    })
    .await;
    // Named with Telegram's answer; nothing about the feed, which is fine.
    let line = body
        .lines()
        .find(|l| l.starts_with("telegram: down for "))
        .unwrap();
    assert!(line.contains("Internal Server Error"), "{body}");
    assert!(!body.contains("feed "), "{body}");
    assert!(!body.contains(TOKEN), "{body}");

    // Telegram is back: the post goes out at its next retry, and the bot is healthy.
    api.fail_always(CHANNEL, None);
    api.wait_sent(CHANNEL, 1, WAIT).await;
    let (_, body) = wait_health(&ops, "ok", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_says_the_delivery_is_stuck_while_a_send_hangs() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    // The first send is never answered: the bot's HTTP client gives up on it after 25 s.
    api.fail_next(CHANNEL, Fault::Hang);
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items(1)), RSS);
    let ops = Ops::on_free_port();
    let more = Config::new()
        .bot("backfill", 1)
        .set("ops", "delivery_stall_after", "2s");
    let setup = telegram_bot(&api, &feeds, &ops, more).await;
    let bot = setup.start();
    let (_, body) = wait_health(&ops, "delivery stuck", |status, _| status == 503).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert!(
        lines[0].starts_with("delivery: stuck for ")
            && lines[0].ends_with(" (no progress with 1 post queued)"),
        "{body}"
    );
    assert!(api.sent(CHANNEL).is_empty());
    // Given up, retried, delivered: healthy again.
    api.wait_sent(CHANNEL, 1, WAIT).await;
    let (_, body) = wait_health(&ops, "ok", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_telegram_while_its_listener_cannot_connect() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    // Another instance polls with the same token: getUpdates is refused, for a while.
    for _ in 0..6 {
        api.fail_next_call(
            "getUpdates",
            Fault::Api {
                code: 409,
                description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running".into(),
            },
        );
    }
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items(1)), RSS);
    let ops = Ops::on_free_port();
    let more = Config::new().set("ops", "delivery_stall_after", "2s");
    let setup = telegram_bot(&api, &feeds, &ops, more).await;
    let bot = setup.start();
    let (_, body) = wait_health(&ops, "telegram down", |status, _| status == 503).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert!(
        lines[0].starts_with("telegram: down for ")
            && lines[0].contains("cannot connect: getUpdates failed: ")
            && lines[0].contains("only one bot instance"),
        "{body}"
    );
    assert!(!body.contains(TOKEN), "{body}");
    // The other instance is gone: the next getUpdates works, and so does the bot.
    let (_, body) = wait_health(&ops, "ok", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_matrix_while_its_homeserver_is_down_and_recovers() {
    let hs = Synapse::start_private().await;
    let (user, password) = hs.new_user("herald").await;
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items(1)), RSS);
    let ops = Ops::on_free_port();
    let config = Config::new()
        .matrix("homeserver", hs.url.clone())
        .matrix("user", user)
        .feed(&feeds.url("en.xml"), "en")
        .channel("console", &["*"])
        .ops(&ops)
        .set("ops", "delivery_stall_after", "2s");
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let bot = setup.start();
    bot.wait_log("listening for Matrix invites and commands", WAIT)
        .await;
    let (_, body) = wait_health(&ops, "ok", |status, _| status == 200).await;
    assert_eq!(body, "ok\n");

    hs.stop().await;
    let (_, body) = wait_health(&ops, "matrix down", |status, _| status == 503).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert!(
        lines[0].starts_with("matrix: down for ")
            && lines[0].contains("cannot connect: sync failed"),
        "{body}"
    );
    assert!(!body.contains(&password), "{body}");

    hs.start().await;
    // The sync is retried with a backoff of up to a minute while the homeserver was away.
    let (_, body) = wait_health_within(&ops, Duration::from_secs(180), "ok again", |status, _| {
        status == 200
    })
    .await;
    assert_eq!(body, "ok\n");
    bot.stop().await;
}

/// One sample of the exposition: its name, its labels and its value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the OpenMetrics text: every line that is not a comment is
/// `name{label="value",…} number`, label values escaped with `\`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, mut rest) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let mut labels = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("label=\"…\"");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect("a closing quote") {
                    (_, '\\') => match chars.next().expect("an escaped character").1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.to_owned(), value);
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

/// The value of the sample `name` with exactly these labels.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == labels)
        .map(|(_, _, v)| *v)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_a_polls_new_articles_and_a_retry_after_a_429() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    // The first post is refused once with 429, then taken.
    api.fail_next(CHANNEL, Fault::RetryAfter(1));
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items(3)), RSS);
    let ops = Ops::on_free_port();
    let setup = telegram_bot(&api, &feeds, &ops, Config::new().bot("backfill", 3)).await;
    let bot = setup.start();
    api.wait_sent(CHANNEL, 3, WAIT).await;
    ops.wait_outbox_empty(WAIT).await;

    let (status, text) = ops.get("/metrics").await.expect("answers");
    assert_eq!(status, 200);
    assert!(text.ends_with("# EOF\n"), "{text}");
    let samples = parse_exposition(&text);
    let feed = feeds.url("en.xml");
    let get = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"))
    };
    assert_eq!(get("herald_articles_new_total", &[("feed", &feed)]), 3.0);
    assert_eq!(
        get("herald_posts_retried_total", &[("platform", "telegram")]),
        1.0
    );
    let posts = |outcome| {
        get(
            "herald_posts_total",
            &[("platform", "telegram"), ("outcome", outcome)],
        )
    };
    assert_eq!(posts("sent"), 3.0);
    assert_eq!(posts("rate_limited"), 1.0);
    // Every attempt's latency, the refused one too.
    assert_eq!(
        get("herald_send_seconds_count", &[("platform", "telegram")]),
        4.0
    );
    assert!(
        get(
            "herald_feed_polls_total",
            &[("feed", &feed), ("result", "updated")]
        ) >= 1.0
    );
    assert_eq!(
        value(
            &samples,
            "herald_feed_polls_total",
            &[("feed", &feed), ("result", "error")]
        ),
        None
    );
    assert!(get("herald_poll_seconds_count", &[("feed", &feed)]) >= 1.0);
    assert_eq!(get("herald_queued_posts", &[]), 0.0);
    assert_eq!(get("herald_articles", &[]), 3.0);
    assert_eq!(get("herald_failing_feeds", &[]), 0.0);
    assert_eq!(
        get(
            "herald_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    bot.stop().await;
}
