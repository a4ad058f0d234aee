//! What operators see of a running bot, gathered in one `Snapshot` for `/status` in chat and
//! the status page (`GET /`, see `page`): each feed (last success, last error with
//! its cause, next poll, articles), each configured channel (fine, failing and why, waiting
//! to be joined; posts queued), the private subscribers as counts only, the outbox, version
//! and uptime, the latest articles with where each went, and what the health verdict calls
//! stalled (see `health`). Everything is read from the store (which polling and delivery
//! keep up to date), the metrics' liveness, the configuration and the platforms' own report
//! of the chats they cannot post to yet: nothing here writes.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::article::{Lang, LangSet, Platform, Target};
use crate::config::Config;
use crate::i18n::{self, Arg, Msg};
use crate::ops::health::Health;
use crate::ops::metrics::Metrics;
use crate::sink::{ChatWaiting, Sink, WaitState};
use crate::store::{Failure, Standing, Store, StoreError};
use crate::text::truncate_words;

/// How many of the newest articles a snapshot lists.
pub const LATEST: usize = 20;

/// The longest reason (an error's words) shown, in UTF-16 units.
pub const REASON_MAX: usize = 300;

/// The platforms, once started (set by the wiring; empty until then).
pub type Platforms = Arc<OnceLock<Vec<Arc<dyn Sink>>>>;

/// What a snapshot is read from.
#[derive(Clone)]
pub struct Watch {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub platforms: Platforms,
    /// When this process started.
    pub started: SystemTime,
}

/// The bot at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub version: &'static str,
    /// How long the bot has been running, in whole seconds.
    pub uptime: Duration,
    pub feeds: Vec<FeedStatus>,
    pub channels: Vec<ChannelStatus>,
    pub subscribers: Subscribers,
    /// Posts waiting in the outbox, for every chat.
    pub queued: usize,
    /// Posts set aside after a permanent rejection.
    pub set_aside: usize,
    /// The newest articles, newest first.
    pub latest: Vec<ArticleStatus>,
    /// What `/healthz` calls stalled, one line each.
    pub stalled: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct FeedStatus {
    /// The feed's `name`, else its URL.
    pub name: String,
    pub last_success: Option<DateTime<Utc>>,
    /// The last failed poll, even if a later one worked.
    pub last_error: Option<Failure>,
    /// The last poll failed.
    pub failing: bool,
    pub next_poll: Option<DateTime<Utc>>,
    /// Articles the feed has listed since Herald first read it.
    pub articles: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChannelState {
    Fine,
    /// The last send failed (no send worked since), with the platform's reason.
    Failing(String),
    /// Not joined yet (or refused), with the homeserver's reason if there is one.
    Waiting(WaitState, Option<String>),
    /// An operator stopped posting to it (`/pause`); its posts wait in the outbox.
    Paused,
}

#[derive(Clone, Debug)]
pub struct ChannelStatus {
    /// The channel's target as the operator configured it.
    pub target: Target,
    pub state: ChannelState,
    pub queued: usize,
    /// Added from chat (`/addchannel`), not in the configuration file.
    pub added: bool,
}

/// Private subscribers per platform: counts, never ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscribers {
    pub telegram: usize,
    pub matrix: usize,
}

#[derive(Clone, Debug)]
pub struct ArticleStatus {
    pub title: String,
    pub link: Option<String>,
    pub lang: Lang,
    pub published: Option<DateTime<Utc>>,
    /// Per configured channel, in the order of `Snapshot::channels`.
    pub channels: Vec<Option<Standing>>,
    /// How many private chats it was posted to.
    pub private: usize,
}

impl Watch {
    /// Reads the bot's status now.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let (config, store) = (&*self.config, &self.store);
        let mut feeds = Vec::new();
        for feed in &config.feeds {
            let record = store.poll_record(feed.key())?;
            let state = store.feed_state(feed.key())?;
            let last_success = record.last_success.max(state.and_then(|s| s.last_body));
            let failing = record
                .last_error
                .as_ref()
                .is_some_and(|e| last_success.is_none_or(|ok| e.at >= ok));
            let interval = chrono::Duration::from_std(config.bot.poll_interval).ok();
            feeds.push(FeedStatus {
                name: feed.label().to_string(),
                next_poll: record.next_poll.or_else(|| Some(last_success? + interval?)),
                last_success,
                last_error: record.last_error,
                failing,
                articles: store.feed_article_count(feed.key()),
            });
        }

        let waiting: Vec<ChatWaiting> = self
            .platforms
            .get()
            .into_iter()
            .flatten()
            .flat_map(|sink| sink.waiting_chats())
            .collect();
        // Each configured channel where it lives now (it may have moved).
        let mut here: Vec<Target> = Vec::new();
        let mut channels = Vec::new();
        for channel in crate::channels::all(config, store)? {
            let (configured, at) = (&channel.named, channel.target.clone());
            let wait = waiting
                .iter()
                .find(|w| w.configured && (&w.target == configured || w.target == at));
            let state = match wait {
                // An operator's pause is what matters most while it lasts.
                _ if store.paused(&at)?.is_some() => ChannelState::Paused,
                Some(w) => ChannelState::Waiting(w.state, w.reason.clone()),
                None => match store.send_failure(&at)? {
                    Some(failure) => ChannelState::Failing(failure.reason),
                    None => ChannelState::Fine,
                },
            };
            channels.push(ChannelStatus {
                target: configured.clone(),
                state,
                queued: store.queued_for(&at),
                added: !channel.is_configured(),
            });
            here.push(at);
        }

        let mut subscribers = Subscribers::default();
        for (target, _) in store.subscribers()? {
            match target.platform {
                _ if here.contains(&target) => {}
                Platform::Telegram => subscribers.telegram += 1,
                Platform::Matrix => subscribers.matrix += 1,
                Platform::Console => {}
            }
        }

        let mut latest = Vec::new();
        for article in store.latest(&LangSet::All, LATEST)? {
            let channels = here
                .iter()
                .map(|t| store.delivery_state(t, &article))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let private = store
                .posted_to(&article.id)?
                .iter()
                .filter(|t| !here.contains(t))
                .count();
            latest.push(ArticleStatus {
                published: article.published.or(article.updated),
                title: article.title,
                link: article.link,
                lang: article.lang,
                channels,
                private,
            });
        }

        let uptime = self.started.elapsed().unwrap_or_default();
        Ok(Snapshot {
            version: env!("CARGO_PKG_VERSION"),
            uptime: Duration::from_secs(uptime.as_secs()),
            feeds,
            channels,
            subscribers,
            queued: store.outbox_len(),
            set_aside: store.set_aside_count(),
            latest,
            stalled: self.health().stalled,
        })
    }

    /// The health verdict now (see `Health::judge`), as `/healthz` answers it.
    pub fn health(&self) -> Health {
        let sinks = self.platforms.get().map(Vec::as_slice).unwrap_or_default();
        Health::judge(&self.config, &self.store, self.metrics.liveness(), sinks)
    }
}

impl Snapshot {
    /// The version, uptime and outbox in one sentence ("Version 1.0, running for 2h 5m. …").
    pub fn summary(&self, lang: &Lang) -> String {
        let uptime = humantime::format_duration(self.uptime).to_string();
        i18n::format(
            lang,
            Msg::PageSummary,
            &[
                ("version", Arg::Text(self.version)),
                ("uptime", Arg::Text(&uptime)),
                ("queued", self.queued.into()),
                ("aside", self.set_aside.into()),
            ],
        )
    }

    /// "Private subscribers: 3 on Telegram, 1 on Matrix."
    pub fn subscribers_text(&self, lang: &Lang) -> String {
        i18n::format(
            lang,
            Msg::PageSubscribers,
            &[
                ("telegram", self.subscribers.telegram.into()),
                ("matrix", self.subscribers.matrix.into()),
            ],
        )
    }
}

impl FeedStatus {
    /// "fine" or "failing".
    pub fn state_text(&self, lang: &Lang) -> &'static str {
        i18n::text(
            lang,
            if self.failing {
                Msg::PageFailing
            } else {
                Msg::PageFine
            },
        )
    }
}

impl ChannelState {
    /// In words: "fine", "failing: REASON", "retrying: M_LIMIT_EXCEEDED".
    pub fn text(&self, lang: &Lang) -> String {
        let t = |msg: Msg| i18n::text(lang, msg);
        let (word, reason) = match self {
            ChannelState::Fine => (t(Msg::PageFine), None),
            ChannelState::Paused => (t(Msg::PagePaused), None),
            ChannelState::Failing(reason) => (t(Msg::PageFailing), Some(reason.as_str())),
            ChannelState::Waiting(wait, reason) => (
                t(match wait {
                    WaitState::Joining => Msg::PageJoining,
                    WaitState::Retrying => Msg::PageRetrying,
                    WaitState::Refused => Msg::PageRefused,
                }),
                reason.as_deref(),
            ),
        };
        match reason {
            Some(reason) => format!("{word}: {}", truncate_words(reason, REASON_MAX)),
            None => word.to_owned(),
        }
    }
}

/// A moment as operators read it everywhere: `2026-01-31 14:05:09 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::article::Article;
    use crate::sink::testing::{FailingSends, FakeSink};
    use chrono::TimeZone;

    fn article(n: u32) -> Article {
        Article {
            published: Some(Utc.with_ymd_and_hms(2025, 1, n, 12, 0, 0).unwrap()),
            feed: "en.xml".into(),
            ..Article::sample(n, "en")
        }
    }

    #[tokio::test]
    async fn a_snapshot_shows_feeds_channels_and_where_each_article_went_without_private_ids() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\nname = \"News\"\n[[feeds]]\nurl = \"broken.xml\"\nlang = \"en\"\n[[channels]]\ntarget = \"console\"\n[[channels]]\ntarget = \"matrix:!room:example.org\"\n[matrix]\nhomeserver = \"https://example.org\"\nuser = \"@herald:example.org\"\npassword = \"x\"\n";
        let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let console = Target::console();
        let room: Target = "matrix:!room:example.org".parse().unwrap();
        let reader: Target = "telegram:4242".parse().unwrap();
        store
            .put_chat(
                &reader,
                &crate::store::ChatSettings {
                    langs: LangSet::All,
                    subscribed: true,
                    ui_lang: None,
                    since: Utc::now(),
                },
            )
            .unwrap();
        let (a, b, c) = (article(1), article(2), article(3));
        let everyone = [&console, &room, &reader];
        let deliveries: Vec<(Target, String)> = [&a, &b, &c]
            .iter()
            .flat_map(|a| everyone.iter().map(|t| ((*t).clone(), a.id.clone())))
            .collect();
        let polled = Utc.with_ymd_and_hms(2025, 2, 1, 10, 0, 0).unwrap();
        store
            .commit_poll(
                "en.xml",
                &Default::default(),
                &[a.clone(), b.clone(), c.clone()],
                &deliveries,
                None,
            )
            .await
            .unwrap();
        store.note_poll("en.xml", polled, None, None).unwrap();
        store
            .note_poll(
                "broken.xml",
                polled,
                Some("the server answered HTTP 503"),
                Some(polled + chrono::Duration::minutes(5)),
            )
            .unwrap();
        // The console got the oldest article, then failed; the reader got it too, and the
        // next one was set aside.
        let first = store.next_for(&console).unwrap().unwrap();
        assert_eq!(first.delivery.article, a.id);
        store.mark_sent(&first, "1", None).await.unwrap();
        store.note_send_failure(&console, "disk full").unwrap();
        let first = store.next_for(&reader).unwrap().unwrap();
        store.mark_sent(&first, "2", None).await.unwrap();
        let second = store.next_for(&reader).unwrap().unwrap();
        store.set_aside(&second, "too long").await.unwrap();

        let platforms: Platforms = Arc::new(OnceLock::new());
        // A platform that reports one configured room as still being joined.
        let joining = ChatWaiting {
            target: Target::new(Platform::Matrix, "!room:example.org"),
            configured: true,
            state: WaitState::Retrying,
            reason: Some("M_LIMIT_EXCEEDED".into()),
            retry_at: None,
        };
        let sink: Arc<dyn Sink> = Arc::new(FakeSink::matrix(
            FailingSends,
            vec![joining],
            Duration::ZERO,
        ));
        let _ = platforms.set(vec![sink]);
        let watch = Watch {
            config: Arc::new(config),
            store,
            metrics: Arc::default(),
            platforms,
            started: SystemTime::now() - Duration::from_secs(3661),
        };
        let s = watch.snapshot().unwrap();

        assert_eq!(s.feeds[0].name, "News");
        assert_eq!(s.feeds[0].articles, 3);
        assert_eq!(s.feeds[0].last_success, Some(polled));
        assert!(!s.feeds[0].failing);
        assert_eq!(
            s.feeds[0].next_poll,
            Some(polled + chrono::Duration::minutes(5)),
            "a poll interval after the last success when none was noted"
        );
        assert_eq!(s.feeds[1].name, "broken.xml");
        assert!(s.feeds[1].failing);
        assert_eq!(
            s.feeds[1].last_error.as_ref().unwrap().reason,
            "the server answered HTTP 503"
        );
        assert_eq!(
            s.feeds[1].next_poll,
            Some(polled + chrono::Duration::minutes(5))
        );

        assert_eq!(s.channels[0].target, console);
        assert_eq!(
            s.channels[0].state,
            ChannelState::Failing("disk full".into())
        );
        assert_eq!(s.channels[0].queued, 2);
        assert_eq!(
            s.channels[1].state,
            ChannelState::Waiting(WaitState::Retrying, Some("M_LIMIT_EXCEEDED".into()))
        );
        assert_eq!(s.channels[1].queued, 3);
        assert_eq!(
            s.subscribers,
            Subscribers {
                telegram: 1,
                matrix: 0
            }
        );
        assert_eq!((s.queued, s.set_aside), (6, 1));
        assert!(s.uptime >= Duration::from_secs(3661));

        let titles: Vec<&str> = s.latest.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(titles, ["Article 3", "Article 2", "Article 1"]);
        let oldest = &s.latest[2];
        assert_eq!(
            oldest.channels,
            [Some(Standing::Sent), Some(Standing::Queued)]
        );
        assert_eq!(oldest.private, 1);
        assert_eq!(s.latest[1].private, 0, "set aside, not posted");
        assert!(!format!("{s:?}").contains("4242"), "no private chat ids");

        // A send that works after the failure: the channel is fine again.
        let next = watch.store.next_for(&console).unwrap().unwrap();
        watch.store.mark_sent(&next, "3", None).await.unwrap();
        let s = watch.snapshot().unwrap();
        assert_eq!(s.channels[0].state, ChannelState::Fine);
    }

    #[tokio::test]
    async fn a_snapshot_and_the_health_verdict_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "[[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\n[[channels]]\ntarget = \"console\"\n";
        let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let console = Target::console();
        let (a, b) = (article(1), article(2));
        let deliveries = vec![
            (console.clone(), a.id.clone()),
            (console.clone(), b.id.clone()),
        ];
        store
            .commit_poll("en.xml", &Default::default(), &[a, b], &deliveries, None)
            .await
            .unwrap();
        store
            .note_poll("en.xml", Utc::now(), Some("HTTP 503"), None)
            .unwrap();
        store.note_send_failure(&console, "disk full").unwrap();
        store.flush().await.unwrap();
        let entries = |store: &Store| {
            let mut all = Vec::new();
            store
                .for_each_entry(|tree, key, value| -> Result<(), StoreError> {
                    all.push((tree.to_string(), key.to_vec(), value.to_vec()));
                    Ok(())
                })
                .unwrap();
            all
        };
        let before = entries(&store);
        assert!(before.len() > 5, "the store holds what the views read");
        let watch = Watch {
            config: Arc::new(config),
            store,
            metrics: Arc::default(),
            platforms: Arc::new(OnceLock::new()),
            started: SystemTime::now(),
        };
        for _ in 0..2 {
            let snapshot = watch.snapshot().unwrap();
            assert_eq!(snapshot.queued, 2);
            let _ = crate::ops::page::render(&snapshot, &Lang::parse("en").unwrap());
            let _ = watch.health();
        }
        assert_eq!(entries(&watch.store), before);
    }
}
