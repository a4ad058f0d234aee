//! Measurements at scale for `docs/performance.md`, against the same real servers as the
//! other tests (Synapse, the Bot API emulator with Telegram's flood limits, a feed server).
//! They print figures and check only what must hold whatever the machine's speed (every
//! target got the post once, no failed send); they are ignored in the normal suite:
//!
//!   cargo test --test e2e scale::matrix_fan_out -- --ignored --nocapture
//!   cargo test --test e2e scale::latency -- --ignored --nocapture
//!   cargo test --test e2e scale::idle_footprint -- --ignored --nocapture
//!
//! Sizes: `HERALD_SCALE_ROOMS` (200), `HERALD_SCALE_TARGETS` (100),
//! `HERALD_SCALE_IDLE_SECS` (600).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herald::article::{LangSet, Target};
use herald::store::{ChatSettings, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Setup};
use crate::support::matrix_client::TestUser;
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, chat};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:SCALE-TOKEN";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const WAIT: Duration = Duration::from_secs(120);

fn size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Posts counted in `/metrics` for `platform`: (sent, any other outcome).
async fn posts(ops: &Ops, platform: &str) -> (u64, u64) {
    let Some((_, body)) = ops.get("/metrics").await else {
        return (0, 0);
    };
    let (mut sent, mut failed) = (0, 0);
    for line in body
        .lines()
        .filter(|l| l.starts_with("herald_posts_total{"))
    {
        if !line.contains(&format!("platform=\"{platform}\"")) {
            continue;
        }
        let n: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_default() as u64;
        if line.contains("outcome=\"sent\"") {
            sent += n;
        } else {
            failed += n;
        }
    }
    (sent, failed)
}

/// The resident memory of a process, in KiB: (now, peak).
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Stores `chats` as private subscribers, as `/start` would have.
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

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: see docs/performance.md"]
async fn matrix_fan_out() {
    let rooms_wanted = size("HERALD_SCALE_ROOMS", 200) as usize;
    let hs = Synapse::shared().await;
    let reader = TestUser::login(hs, "scalereader").await;
    let (bot_user, password) = hs.new_user("herald").await;
    let mut rooms = Vec::new();
    for _ in 0..rooms_wanted {
        rooms.push(reader.create_room(false, &[&bot_user]).await);
    }
    let feeds = FeedServer::start().await;
    let old = Item::new(1, "Already there", 60);
    feeds.set("news.xml", rss("en", std::slice::from_ref(&old)), RSS);
    let ops = Ops::on_free_port();
    let mut config = Config::new()
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot_user.clone())
        .ops(&ops)
        .feed(&feeds.url("news.xml"), "en");
    for room in &rooms {
        config = config.channel(&format!("matrix:{room}"), &["*"]);
    }
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    setup.production_logging();
    let started = Instant::now();
    let bot = setup.start();
    for room in &rooms {
        reader.wait_for_member(room, &bot_user, WAIT).await;
    }
    let joined = started.elapsed();
    while feeds.requests("news.xml") < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    feeds.set(
        "news.xml",
        rss("en", &[Item::new(2, "To two hundred rooms", 0), old]),
        RSS,
    );
    let published = Instant::now();
    let deadline = published + Duration::from_secs(600);
    let (sent, failed) = loop {
        let (sent, failed) = posts(&ops, "matrix").await;
        if sent >= rooms.len() as u64 || Instant::now() > deadline {
            break (sent, failed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = published.elapsed();
    let mut once = 0;
    for room in &rooms {
        let messages = reader.messages_from(room, &bot_user, 1, WAIT).await;
        once += usize::from(messages.len() == 1);
    }
    let (_, peak) = rss_kib(bot.pid());
    let out = bot.stop().await;
    let problems: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let logged_problems = problems.len();
    for line in &problems {
        println!("  logged: {line}");
    }
    println!(
        "matrix fan-out: one article to {} rooms on Synapse\n  joined all in {:.1} s; \
         posted to all {:.1} s after the feed changed ({:.1} rooms/s); sent {sent}, failed \
         sends {failed}, warnings and errors logged {logged_problems}; rooms with exactly \
         one post {once}; peak memory {peak} KiB",
        rooms.len(),
        joined.as_secs_f64(),
        took.as_secs_f64(),
        rooms.len() as f64 / took.as_secs_f64(),
    );
    assert_eq!(once, rooms.len(), "{}", out.stderr);
    assert_eq!(failed, 0, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: see docs/performance.md"]
async fn latency() {
    let targets = size("HERALD_SCALE_TARGETS", 100) as i64;
    let api = BotApi::start(TOKEN, "ScaleBot").await;
    let chats: Vec<i64> = (0..targets).map(|n| 700_000 + n).collect();
    for id in &chats {
        api.add_chat(chat(*id, "private", "Reader"));
    }
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(1, "Already there", 60)];
    feeds.set("news.xml", rss("en", &items), RSS);
    let config = Config::new()
        .telegram("api_url", api.api_url())
        .feed(&feeds.url("news.xml"), "en");
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.production_logging();
    subscribe(&setup, &chats).await;
    let bot = setup.start();
    while feeds.requests("news.xml") < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "latency: a new item in the feed (polled every second) to {targets} Telegram subscribers"
    );
    for round in 1..=3u32 {
        // Published at a random moment of the poll interval.
        tokio::time::sleep(Duration::from_millis(1000 + u64::from(round) * 317)).await;
        items.insert(0, Item::new(100 + round, &format!("Round {round}"), 0));
        feeds.set("news.xml", rss("en", &items), RSS);
        let published = Instant::now();
        let deadline = published + WAIT;
        let n = round as usize;
        while chats.iter().any(|c| api.sent(*c).len() < n) {
            assert!(Instant::now() < deadline, "{}", bot.stderr());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // When each chat's post arrived: the emulator notes every call's time.
        let arrivals: Vec<Instant> = chats
            .iter()
            .filter_map(|c| api.call_times(*c).last().copied())
            .collect();
        let first = arrivals.iter().min().expect("arrivals");
        let last = arrivals.iter().max().expect("arrivals");
        println!(
            "  round {round}: first target after {:.2} s, last of {targets} after {:.2} s",
            first.saturating_duration_since(published).as_secs_f64(),
            last.saturating_duration_since(published).as_secs_f64()
        );
    }
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for c in &chats {
        assert_eq!(api.sent(*c).len(), 3, "each post once");
    }
}

/// A TCP relay that counts the bytes both ways.
struct CountingProxy {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl CountingProxy {
    async fn start(upstream: std::net::SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (up, down) = (Arc::<AtomicU64>::default(), Arc::<AtomicU64>::default());
        let (u, d) = (up.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(relay(cr, sw, u.clone()));
                tokio::spawn(relay(sr, cw, d.clone()));
            }
        });
        CountingProxy { url, up, down }
    }

    fn bytes(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buf = vec![0; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: see docs/performance.md"]
async fn idle_footprint() {
    let idle = Duration::from_secs(size("HERALD_SCALE_IDLE_SECS", 600));
    let hs = Synapse::shared().await;
    let reader = TestUser::login(hs, "idlereader").await;
    let (bot_user, password) = hs.new_user("herald").await;
    let room = reader.create_room(true, &[&bot_user]).await;
    let api = BotApi::start(TOKEN, "IdleBot").await;
    let feeds = FeedServer::start().await;
    let addr: std::net::SocketAddr = feeds
        .url("")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .parse()
        .expect("address");
    let proxy = CountingProxy::start(addr).await;
    let names = ["a.xml", "b.xml", "c.xml", "d.xml", "e.xml"];
    let fixture = |n: usize| {
        let items: Vec<Item> = (0..20)
            .map(|i| {
                Item::new(
                    1000 * n as u32 + i,
                    &format!("Feed {n} item {i}"),
                    60 + i64::from(i),
                )
            })
            .collect();
        rss("en", &items)
    };
    for (n, name) in names.iter().enumerate() {
        feeds.set(name, fixture(n), RSS);
    }
    let ops = Ops::on_free_port();
    let mut config = Config::new()
        .bot("poll_interval", "5s")
        .telegram("api_url", api.api_url())
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot_user.clone())
        .ops(&ops)
        .channel(&format!("matrix:{room}"), &["*"]);
    // HERALD_SCALE_NO_DETECT=1: language detection off (what the detector's models cost).
    let detect = std::env::var_os("HERALD_SCALE_NO_DETECT").is_none();
    for name in names {
        config = config.feed_with(
            &format!("{}/{name}", proxy.url),
            "en",
            &[("detect_lang", detect.into())],
        );
    }
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    setup.production_logging();
    let bot = setup.start();
    reader.wait_for_member(&room, &bot_user, WAIT).await;
    // Settled: every feed fetched once in full and once answered 304.
    let deadline = Instant::now() + WAIT;
    while names.iter().any(|n| feeds.not_modified(n) < 1) {
        assert!(Instant::now() < deadline, "{}", bot.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (up0, down0) = proxy.bytes();
    let polls0: usize = names.iter().map(|n| feeds.requests(n)).sum();
    let not_modified0: usize = names.iter().map(|n| feeds.not_modified(n)).sum();
    let pid = bot.pid();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < idle {
        tokio::time::sleep(Duration::from_secs(10)).await;
        samples.push(rss_kib(pid).0);
    }
    let (up, down) = proxy.bytes();
    let polls = names.iter().map(|n| feeds.requests(n)).sum::<usize>() - polls0;
    let not_modified = names.iter().map(|n| feeds.not_modified(n)).sum::<usize>() - not_modified0;
    let (now, peak) = rss_kib(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    // Resident memory split: the heap and other anonymous pages, and the pages of the
    // binary and libraries read from disk.
    let parts: Vec<String> = status
        .lines()
        .filter(|l| l.starts_with("RssAnon:") || l.starts_with("RssFile:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let out = bot.stop().await;
    let min = samples.iter().min().copied().unwrap_or_default();
    let max = samples.iter().max().copied().unwrap_or_default();
    println!(
        "idle footprint: `herald run` with 5 feeds (polled every 5 s), Telegram and Matrix \
         connected, idle {:.0} s\n  resident memory {min}–{max} KiB while idle, {now} KiB at \
         the end, peak since start {peak} KiB\n  {polls} polls, {not_modified} answered 304: \
         {:.0} bytes sent and {:.0} received per unchanged-feed poll (the full feed is {} bytes)\n  \
         at the end: {} (language detection {})",
        idle.as_secs_f64(),
        (up - up0) as f64 / polls.max(1) as f64,
        (down - down0) as f64 / polls.max(1) as f64,
        fixture(0).len(),
        parts.join(", "),
        if detect { "on" } else { "off" },
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(polls, not_modified, "every idle poll answered 304");
}
