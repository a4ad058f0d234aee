//! Herald's throughput and memory, printed as figures: parsing feeds, rendering posts,
//! committing a poll that fans out to many chats, and draining the outbox (each send
//! recorded and flushed). `cargo bench` runs the full sizes; under `cargo test` (no
//! `--bench` flag) it runs tiny sizes once, as a smoke test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use herald::article::{Article, Lang, Platform, Target};
use herald::config::Config;
use herald::delivery::Delivery;
use herald::feed::parse::{FeedInfo, parse};
use herald::sink::{BoxFuture, Post, SendError, Sink};
use herald::store::{FeedState, Store};
use tokio_util::sync::CancellationToken;

/// A platform that accepts every post at once: what is measured is Herald's own work.
struct NullSink;

impl Sink for NullSink {
    fn platform(&self) -> Platform {
        Platform::Console
    }
    fn chat_interval(&self, _: &str) -> Duration {
        Duration::ZERO
    }
    fn global_rate(&self) -> u32 {
        u32::MAX
    }
    fn send<'a>(
        &'a self,
        _: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move { Ok(post.txn_id.clone()) })
    }
}

fn report(name: &str, count: usize, unit: &str, elapsed: Duration) {
    let per = elapsed / count.max(1) as u32;
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<34} {count:>7} {unit:<10} {elapsed:>10.2?}  {per:>10.2?}/{unit}  {rate:>12.0} {unit}/s"
    );
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, articles, chats) = if full { (200, 100, 20) } else { (2, 40, 20) };
    let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wp-de.xml"))
        .expect("fixture");
    let de = Lang::parse("de").expect("valid");
    let detector = herald::lang::Detector::for_ui_languages();
    let info = FeedInfo {
        key: "wp-de.xml",
        lang: &de,
        detector: Some(&detector),
        base: None,
        known: None,
    };

    println!(
        "{:<34} {:>7} {:<10} {:>10}  {:>14}  {:>15}",
        "benchmark", "count", "unit", "total", "each", "rate"
    );
    let start = Instant::now();
    let mut parsed = Vec::new();
    for _ in 0..rounds {
        parsed = parse(&fixture, &info, Utc::now()).expect("parses");
    }
    report(
        "parse WordPress feed (10 items)",
        rounds,
        "feed",
        start.elapsed(),
    );

    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        for article in &parsed {
            bytes += herald::render::telegram_post(article, None).len();
        }
    }
    report(
        "render Telegram post",
        rounds * parsed.len(),
        "post",
        start.elapsed(),
    );
    assert!(bytes > 0);

    let dir = tempfile::tempdir().expect("temp dir");
    let config =
        Config::parse("", &dir.path().join("herald.toml"), |_| None).expect("empty config");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let now = Utc::now();
    let batch: Vec<Article> = (0..articles)
        .map(|n| {
            let post = format!("https://bench.example.org/?p={n}");
            Article {
                id: Article::make_id(&de, &post),
                post,
                lang: de.clone(),
                title: format!("Artikel {n}"),
                link: Some(format!("https://bench.example.org/{n}")),
                excerpt: parsed[n % parsed.len()].excerpt.clone(),
                published: Some(now - chrono::Duration::seconds(n as i64)),
                updated: None,
                authors: vec![],
                categories: vec![],
                image: None,
                feed: "bench".into(),
                seen: now,
            }
        })
        .collect();
    let targets: Vec<Target> = (0..chats)
        .map(|c| Target::new(Platform::Console, format!("chat{c}")))
        .collect();
    let deliveries: Vec<(Target, String)> = batch
        .iter()
        .flat_map(|a| targets.iter().map(|t| (t.clone(), a.id.clone())))
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let start = Instant::now();
    runtime
        .block_on(store.commit_poll("bench", &FeedState::default(), &batch, &deliveries, None))
        .expect("commit");
    report(
        "commit poll (articles x chats)",
        deliveries.len(),
        "delivery",
        start.elapsed(),
    );

    let delivery = Delivery::new(
        Arc::new(config),
        store.clone(),
        Arc::default(),
        vec![Arc::new(NullSink)],
    );
    let start = Instant::now();
    let (sent, empty) =
        runtime.block_on(delivery.drain_patiently(Duration::ZERO, &CancellationToken::new()));
    report(
        "deliver (send, record, flush)",
        sent,
        "post",
        start.elapsed(),
    );
    assert!(
        empty && sent == deliveries.len(),
        "every delivery made: {sent} of {}",
        deliveries.len()
    );

    if let Some(kib) = peak_rss_kib() {
        println!("peak memory (VmHWM)                {:>7} KiB", kib);
    }
}
