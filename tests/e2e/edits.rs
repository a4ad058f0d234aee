//! Changed articles are edited in place: when a feed fixes an article Herald already posted
//! (same id, a new title or excerpt), the message that carried it is edited on Telegram
//! (`editMessageText`, checked through the Bot API emulator) — once, not as a new post —
//! while a change no reader would see makes no edit, a deleted message is left alone, and
//! `[bot] edits = false` or an `edit_window` that has passed keeps the messages as they were.
//! (The Matrix edit, an `m.replace` read back by a second user, is in `matrix.rs`.)

use std::time::Duration;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Running, Setup, wait_until};
use crate::support::telegram_api::{BotApi, chat};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:TEST-TOKEN-edits";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const CHANNEL: i64 = -1001000000077;
const WAIT: Duration = Duration::from_secs(20);

struct Edits {
    api: BotApi,
    feeds: FeedServer,
    ops: Ops,
    setup: Setup,
    config: Config,
    items: Vec<Item>,
}

impl Edits {
    async fn new(change: impl FnOnce(Config) -> Config) -> Edits {
        let api = BotApi::start(TOKEN, "HeraldTestBot").await;
        api.add_chat(chat(CHANNEL, "channel", "News"));
        api.allow_flooding();
        let feeds = FeedServer::start().await;
        let items = vec![Item::new(700, "Already there", 60)];
        feeds.set("en.xml", rss("en", &items), RSS);
        let ops = Ops::on_free_port();
        let config = change(
            Config::new()
                .telegram("api_url", api.api_url())
                .telegram("chat_interval", "100ms")
                .feed_with(&feeds.url("en.xml"), "en", &[("detect_lang", false.into())])
                .channel(&format!("telegram:{CHANNEL}"), &["*"])
                .ops(&ops),
        );
        let mut setup = Setup::with_config(&config);
        setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
        Edits {
            api,
            feeds,
            ops,
            setup,
            config,
            items,
        }
    }

    /// Starts the bot and waits until its first poll stored what the feed carries.
    async fn start(&self) -> Running {
        let polls = self.feeds.requests("en.xml");
        let bot = self.setup.start();
        self.settle(polls + 2).await;
        bot
    }

    /// Puts `item` on top of the feed, or in place of the item with its post id.
    fn publish(&mut self, item: Item) {
        self.items.retain(|i| i.post != item.post);
        self.items.insert(0, item);
        self.feeds.set("en.xml", rss("en", &self.items), RSS);
    }

    /// Waits until the feed was read `polls` times in all and nothing is left to send: what
    /// the last change caused has happened.
    async fn settle(&self, polls: usize) {
        wait_until("the bot polled the feed again", WAIT, || {
            self.feeds.requests("en.xml") >= polls
        })
        .await;
        self.ops.wait_outbox_empty(WAIT).await;
    }

    /// After the feed changed: two more polls (the first may have started before the
    /// change) and an empty outbox.
    async fn settle_after_change(&self) {
        self.settle(self.feeds.requests("en.xml") + 2).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_headline_edits_the_post_once_and_cosmetic_changes_edit_nothing() {
    let mut world = Edits::new(|c| c).await;
    let bot = world.start().await;
    let item = Item::new(701, "Strike in the harbour of Hamburgg", 1);
    world.publish(item.clone());
    let post = world.api.wait_sent(CHANNEL, 1, WAIT).await.remove(0);
    assert!(post.text.starts_with("Strike in the harbour of Hamburgg"));

    // Spacing in the excerpt is no change a reader would see.
    let excerpt = format!("  {}  ", item.excerpt.replace(' ', "  "));
    world.publish(item.clone().excerpt(&excerpt));
    world.settle_after_change().await;
    assert!(world.api.edits(CHANNEL).is_empty(), "no edit for spacing");

    // The fixed headline replaces the text of the same message.
    let fixed = Item::new(701, "Strike in the harbour of Hamburg", 1);
    world.publish(Item {
        date: item.date,
        ..fixed
    });
    wait_until("the post is edited", WAIT, || {
        !world.api.edits(CHANNEL).is_empty()
    })
    .await;
    world.settle_after_change().await;
    let shown = world
        .api
        .message_text(CHANNEL, post.message_id)
        .expect("the message is there");
    assert!(
        shown.starts_with("Strike in the harbour of Hamburg\n"),
        "{shown}"
    );
    assert_eq!(world.api.sent(CHANNEL).len(), 1, "edited, not posted again");
    assert_eq!(world.api.edits(CHANNEL).len(), 1, "edited once");
    assert_eq!(
        world.api.edits(CHANNEL)[0].message_id,
        post.message_id,
        "the message that carried the article"
    );

    // A message an admin deleted cannot be edited: the bot takes no for an answer.
    world.api.delete_by_user(CHANNEL, post.message_id);
    world.publish(Item {
        date: item.date,
        ..Item::new(701, "Strike in the harbour of Hamburg ends", 1)
    });
    wait_until("the bot tries the edit", WAIT, || {
        !world.api.errors("editMessageText").is_empty()
    })
    .await;
    world.settle_after_change().await;
    world.settle_after_change().await;
    assert_eq!(
        world.api.errors("editMessageText"),
        vec!["Bad Request: message to edit not found".to_string()],
        "tried once, not retried"
    );
    assert_eq!(world.api.sent(CHANNEL).len(), 1, "and not posted again");
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the text of 1 known article changed in the feed; 1 edit queued"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_edits_past_the_edit_window_or_when_turned_off() {
    let mut world = Edits::new(|c| c.bot("edit_window", "1s")).await;
    let bot = world.start().await;
    let item = Item::new(711, "Old news", 1);
    world.publish(item.clone());
    world.api.wait_sent(CHANNEL, 1, WAIT).await;
    // Let the post grow older than the window.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.publish(Item {
        date: item.date,
        ..Item::new(711, "Old news, corrected", 1)
    });
    world.settle_after_change().await;
    assert!(world.api.edits(CHANNEL).is_empty(), "past the window");
    bot.stop().await;

    world.config = world
        .config
        .clone()
        .bot("edits", false)
        .bot("edit_window", "7d");
    world.setup.write(&world.config);
    let bot = world.start().await;
    let item = Item::new(712, "Fresh news", 1);
    world.publish(item.clone());
    world.api.wait_sent(CHANNEL, 2, WAIT).await;
    world.publish(Item {
        date: item.date,
        ..Item::new(712, "Fresh news, corrected", 1)
    });
    world.settle_after_change().await;
    assert!(world.api.edits(CHANNEL).is_empty(), "edits are off");
    assert_eq!(world.api.sent(CHANNEL).len(), 2, "and nothing reposted");
    bot.stop().await;
}
