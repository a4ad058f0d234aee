//! The drain over a store that stops taking writes (a full disk, a read-only remount), made
//! to fail through the store's fault hook.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Delivery;
use crate::article::{Article, Platform, Target};
use crate::config::Config;
use crate::ops::health::Health;
use crate::ops::liveness::Liveness;
use crate::sink::testing::{Answers, FakeSink};
use crate::sink::{BoxFuture, SendError, Sink};
use crate::store::{Fault, FeedState, Store};

/// A platform that takes every send and notes its chat; the first send fills the disk
/// while it is under way, so the platform has the post but the store cannot record it.
struct FillsTheDisk {
    store: Store,
    sends: Mutex<Vec<String>>,
}

impl Answers for FillsTheDisk {
    fn answer<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let n = {
                let mut sends = self.sends.lock().unwrap();
                sends.push(chat.to_string());
                sends.len()
            };
            if n == 1 {
                self.store.faults().break_folder(Fault::DiskFull);
            }
            Ok(n.to_string())
        })
    }
}

impl FillsTheDisk {
    fn sends_to(&self, chat: &str) -> usize {
        self.sends
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == chat)
            .count()
    }
}

fn article(n: u32) -> Article {
    Article {
        published: Some(chrono::Utc::now() - chrono::Duration::hours(i64::from(100 - n))),
        ..Article::sample(n, "en")
    }
}

#[tokio::test]
async fn a_full_disk_stops_the_sends_repeats_none_and_loses_none_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(Config::parse("", &dir.path().join("herald.toml"), |_| None).unwrap());
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    let chats = [
        Target::new(Platform::Telegram, "1"),
        Target::new(Platform::Telegram, "2"),
    ];
    for n in 1..=3 {
        let a = article(n);
        let deliveries: Vec<(Target, String)> =
            chats.iter().map(|c| (c.clone(), a.id.clone())).collect();
        store
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
    let sink = Arc::new(FakeSink {
        chat_interval: Duration::ZERO,
        ..FakeSink::telegram(FillsTheDisk {
            store: store.clone(),
            sends: Mutex::default(),
        })
    });
    let delivery = Delivery::new(
        config.clone(),
        store.clone(),
        Arc::default(),
        vec![sink.clone() as Arc<dyn Sink>],
    );
    let shutdown = CancellationToken::new();

    // The first send fills the disk: what was under way then went out, and nothing more.
    delivery.clone().drain(&shutdown).await;
    let sent_before = sink.sends.lock().unwrap().len();
    assert!(
        (1..=2).contains(&sent_before),
        "only the sends under way when the disk filled went out: {sent_before}"
    );
    for _ in 0..5 {
        let report = delivery.clone().drain(&shutdown).await;
        assert!(
            report.next_due.is_some(),
            "the drain comes back to the store"
        );
    }
    assert_eq!(
        sink.sends.lock().unwrap().len(),
        sent_before,
        "nothing is sent, and nothing sent again, while the store cannot be written"
    );
    assert!(
        delivery.unrecorded() >= 1,
        "the send made is kept in memory"
    );
    let problem = store
        .unwritable()
        .expect("the store says it cannot be written");
    assert!(
        problem.error.contains("No space left on device"),
        "{}",
        problem.error
    );

    // /healthz names the store, the data folder and the OS error.
    let health = Health::judge(&config, &store, &Liveness::default(), &[]);
    assert!(!health.is_ok());
    let line = &health.stalled[0];
    assert!(
        line.starts_with("store: cannot write to the data folder"),
        "{line}"
    );
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(line.contains("No space left on device"), "{line}");
    assert_eq!(health.json["store"]["writable"], false);
    // Reads go on working meanwhile.
    assert_eq!(store.outbox_len(), 6);

    // Space is freed: the store is reopened by the drain, and every post arrives once.
    store.faults().mend();
    for _ in 0..20 {
        delivery.clone().drain(&shutdown).await;
        if store.outbox_len() == 0 {
            break;
        }
    }
    assert!(store.unwritable().is_none(), "the store takes writes again");
    assert_eq!(store.outbox_len(), 0, "every queued post went out");
    for chat in &chats {
        assert_eq!(
            sink.sends_to(&chat.chat),
            3,
            "each of 3 posts once to {chat}"
        );
        for n in 1..=3 {
            assert!(store.was_sent(chat, &article(n).id).unwrap().is_some());
        }
    }
    assert_eq!(delivery.unrecorded(), 0);
    let health = Health::judge(&config, &store, &Liveness::default(), &[]);
    assert!(health.is_ok(), "{:?}", health.stalled);
}
