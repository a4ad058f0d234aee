//! Fan-out at Telegram's limits: one article to many private subscribers, through a small
//! Bot API emulator (below) that enforces what Telegram enforces — 30 messages a second
//! overall and one a second per chat, each over a sliding second, answering 429 with
//! `retry_after` beyond. The real `herald` binary runs (`poll --once`), so the figures are
//! Herald's own process: sustained messages a second, 429s received, peak resident memory.
//!
//! Then a restart: the same burst to a fresh set of subscribers is killed with SIGKILL
//! mid-way and a new process started at once; it must not burst into the second the killed
//! one filled (429s after the restart), deliver every post, and repeat at most the posts in
//! flight at the kill.
//!
//!   cargo bench --bench fanout                         # 10,000 subscribers, ~8 minutes
//!   cargo test --bench fanout -- --chats 10000         # the same, without a release build
//!
//! Without `--chats` under `cargo test` it runs 60 chats once, as a smoke test (in
//! `scripts/test`). Any 429 fails it, as does a post lost across the restart.
//! `--no-restart` skips the restart; `HERALD_BENCH_WRAPPER=heaptrack` profiles Herald.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use herald::article::{LangSet, Target};
use herald::store::{ChatSettings, Store};
use serde_json::{Value, json};

const TOKEN: &str = "123456:BENCH-TOKEN";
/// Telegram's limits: messages within any one second, overall and per private chat.
const GLOBAL_LIMIT: usize = 30;
const WINDOW: Duration = Duration::from_secs(1);

/// The Bot API emulator's record.
#[derive(Default)]
struct Record {
    /// Accepted sends within the last second.
    window: VecDeque<Instant>,
    /// Each chat's last accepted send.
    last: HashMap<i64, Instant>,
    /// Every accepted send: when, to which chat.
    accepted: Vec<(Instant, i64)>,
    /// Every 429 answered: when.
    refused: Vec<Instant>,
}

type Emulator = Arc<Mutex<Record>>;

async fn start_emulator() -> (Emulator, String) {
    let record: Emulator = Arc::default();
    let app = Router::new().fallback(handle).with_state(record.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (record, url)
}

async fn handle(State(record): State<Emulator>, uri: Uri, body: Bytes) -> Response {
    let method = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let ok = |result: Value| Json(json!({ "ok": true, "result": result }));
    match method.as_str() {
        "getme" => ok(json!({ "id": 123456, "is_bot": true, "first_name": "Bench", "username": "BenchBot",
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false }))
        .into_response(),
        "sendmessage" => {
            let params: Value = serde_json::from_slice(&body).unwrap_or_default();
            let chat = params["chat_id"].as_i64().unwrap_or_default();
            let mut r = record.lock().expect("record");
            let now = Instant::now();
            while r.window.front().is_some_and(|t| *t + WINDOW <= now) {
                r.window.pop_front();
            }
            let chat_free = r.last.get(&chat).is_none_or(|t| *t + WINDOW <= now);
            if r.window.len() >= GLOBAL_LIMIT || !chat_free {
                r.refused.push(now);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "ok": false, "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": { "retry_after": 1 } })),
                )
                    .into_response();
            }
            r.window.push_back(now);
            r.last.insert(chat, now);
            r.accepted.push((now, chat));
            let id = r.accepted.len();
            ok(json!({ "message_id": id, "date": chrono::Utc::now().timestamp(),
                "chat": { "id": chat, "type": "private", "first_name": "Reader" },
                "from": { "id": 123456, "is_bot": true, "first_name": "Bench" },
                "text": params["text"] }))
            .into_response()
        }
        _ => ok(json!(true)).into_response(),
    }
}

use axum::Json;

/// A Herald setup: config, and `chats` private subscribers in its store.
fn setup(dir: &Path, api: &str, chats: i64, runtime: &tokio::runtime::Runtime) {
    let feed = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wp-en.xml");
    let config = format!(
        "[bot]\ndata_dir = \"data\"\nbackfill = 1\n\n[telegram]\napi_url = \"{api}\"\n\n\
         [[feeds]]\nurl = \"{feed}\"\nlang = \"en\"\n"
    );
    std::fs::write(dir.join("herald.toml"), config).expect("config");
    let store = Store::open(&dir.join("data")).expect("store");
    for id in 1..=chats {
        let settings = ChatSettings {
            langs: LangSet::All,
            subscribed: true,
            ui_lang: None,
            since: chrono::Utc::now(),
        };
        store
            .put_chat(
                &format!("telegram:{id}").parse::<Target>().unwrap(),
                &settings,
            )
            .expect("subscriber");
    }
    runtime.block_on(store.flush()).expect("flush");
}

/// Starts `herald poll --once` in `dir`; `HERALD_BENCH_WRAPPER` (say `heaptrack`) runs it
/// under a profiler.
fn herald(dir: &Path) -> Child {
    let wrapper = std::env::var("HERALD_BENCH_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_herald"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_herald")),
    };
    command
        .args(["--config", "herald.toml", "poll", "--once"])
        .current_dir(dir)
        .env("HERALD_TELEGRAM_TOKEN", TOKEN)
        .env("HERALD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("herald.log")).expect("log file"))
        .spawn()
        .expect("start herald")
}

/// The process's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` to end, noting its peak memory on the way.
fn wait_watching(mut child: Child) -> (std::process::ExitStatus, u64) {
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The most accepted sends within any one second.
fn busiest_second(times: &[Instant]) -> usize {
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[start] + WINDOW <= times[end] {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let chats: i64 = args
        .iter()
        .position(|a| a == "--chats")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--chats N"))
        .unwrap_or(if full { 10_000 } else { 60 });
    let restart_chats = (chats * 3 / 10).max(90);
    let kill_after = (restart_chats / 3) as usize;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // 1. The fan-out.
    let (record, api) = runtime.block_on(start_emulator());
    let dir = tempfile::tempdir().expect("temp dir");
    setup(dir.path(), &api, chats, &runtime);
    let started = Instant::now();
    let (status, peak) = wait_watching(herald(dir.path()));
    let took = started.elapsed();
    assert!(status.success(), "herald failed: {}", log(dir.path()));
    let r = record.lock().expect("record");
    let times: Vec<Instant> = r.accepted.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times.len() as i64,
        chats,
        "every subscriber got the post: {}",
        log(dir.path())
    );
    let span = (*times.last().unwrap() - times[0]).as_secs_f64();
    println!("fan-out: one article to {chats} Telegram private subscribers");
    println!(
        "  sent {}  in {span:.1} s  sustained {:.2} msg/s  busiest second {}  429s {}  \
         peak memory {} KiB  (process {:.1} s)",
        times.len(),
        (times.len() - 1) as f64 / span,
        busiest_second(&times),
        r.refused.len(),
        peak,
        took.as_secs_f64()
    );
    let refused = r.refused.len();
    drop(r);
    assert_eq!(refused, 0, "no 429 from the Bot API");
    if args.iter().any(|a| a == "--no-restart") {
        return;
    }

    // 2. Killed mid-burst, restarted at once.
    let (record, api) = runtime.block_on(start_emulator());
    let dir = tempfile::tempdir().expect("temp dir");
    setup(dir.path(), &api, restart_chats, &runtime);
    let mut first = herald(dir.path());
    while record.lock().expect("record").accepted.len() < kill_after {
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let killed = Instant::now();
    let (status, _) = wait_watching(herald(dir.path()));
    assert!(status.success(), "herald failed: {}", log(dir.path()));
    let r = record.lock().expect("record");
    let times: Vec<Instant> = r.accepted.iter().map(|(t, _)| *t).collect();
    let mut per_chat: HashMap<i64, usize> = HashMap::new();
    for (_, chat) in &r.accepted {
        *per_chat.entry(*chat).or_default() += 1;
    }
    let delivered = per_chat.len() as i64;
    let repeated: usize = per_chat.values().map(|n| n - 1).sum();
    let early = r
        .refused
        .iter()
        .filter(|t| **t >= killed && **t < killed + Duration::from_secs(5))
        .count();
    println!(
        "restart: {restart_chats} subscribers, SIGKILL after {kill_after} sends, restarted at once"
    );
    println!(
        "  delivered {delivered} of {restart_chats}  repeated {repeated}  busiest second {}  \
         429s {} (in the first 5 s after the restart: {early})",
        busiest_second(&times),
        r.refused.len()
    );
    assert_eq!(delivered, restart_chats, "nothing lost");
    assert_eq!(
        r.refused.len(),
        0,
        "no 429 from the Bot API, also after the restart"
    );
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("herald.log")).unwrap_or_default()
}
