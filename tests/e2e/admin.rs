//! The operators' commands that steer a running bot — `/channels`, `/addchannel`,
//! `/removechannel`, `/pause`, `/resume`, `/poll` — on Telegram (the Bot API emulator) and
//! Matrix (a real Synapse): what the operator reads, what the channels receive, what
//! survives a restart, and one neutral sentence for everyone else.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::config::{Config, list};
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Setup};
use crate::support::matrix_client::TestUser;
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, SentMessage, chat, user};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const BOT: &str = "HeraldTestBot";
const RSS: &str = "application/rss+xml; charset=UTF-8";
/// The channel of the configuration file.
const CHANNEL: i64 = -1001000000001;
/// A group the operator adds from chat, by its public @name.
const GROUP: i64 = -1001000000050;
/// A channel where the bot is not an administrator.
const FOREIGN: i64 = -1001000000060;
const OPERATOR: i64 = 9000;
const READER: i64 = 7001;
const WAIT: Duration = Duration::from_secs(30);

fn person(id: i64, lang: &str) -> Value {
    let mut u = user(id, "Olena");
    u["language_code"] = json!(lang);
    u
}

/// Sends `text` to the bot in `chat_id` and waits for the answer there.
async fn ask(api: &BotApi, chat_id: i64, from: Value, text: &str) -> SentMessage {
    let before = api.sent(chat_id).len();
    api.push_message(chat_id, from, text);
    api.wait_sent(chat_id, before + 1, WAIT)
        .await
        .pop()
        .expect("an answer")
}

/// The line of a `/channels` answer about `target`.
fn line_of<'a>(text: &'a str, target: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("• {target} — ")))
        .unwrap_or_else(|| panic!("{target} is listed: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_operators_add_pause_resume_and_remove_channels_and_poll_from_chat() {
    let api = BotApi::start(TOKEN, BOT).await;
    api.allow_flooding();
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    let mut group = chat(GROUP, "supergroup", "Readers' group");
    group["username"] = json!("psl_readers");
    api.add_chat(group);
    api.add_chat(chat(FOREIGN, "channel", "Someone else's channel"));
    api.set_admins(FOREIGN, &[4242]);
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(1, "Known before the start", 60)];
    feeds.set("en.xml", rss("en", &items), RSS);
    let ops = Ops::on_free_port();
    let config = Config::new()
        // Only the start and `/poll` read the feed.
        .bot("poll_interval", "1h")
        .bot("admins", list(&[&format!("telegram:{OPERATOR}")]))
        .telegram("api_url", api.api_url())
        .telegram("chat_interval", "100ms")
        .telegram("group_interval", "100ms")
        .feed_with(
            &feeds.url("en.xml"),
            "en",
            &[
                ("name", "Morning edition".into()),
                ("detect_lang", false.into()),
            ],
        )
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    api.wait_calls("getUpdates", 1, WAIT).await;
    bot.wait_log("new articles", WAIT).await;

    // Everyone but an operator: one neutral sentence, and nothing changes.
    for command in [
        "/channels",
        "/addchannel telegram:@psl_readers",
        "/removechannel telegram:@psl_readers",
        "/pause",
        "/resume",
        "/poll",
    ] {
        let refused = ask(&api, READER, person(READER, "de"), command).await;
        assert_eq!(
            refused.text, "Entschuldigung, dieser Befehl ist nur für die Betreiber des Bots.",
            "{command}"
        );
    }

    // The operator sees their commands in /help.
    let help = ask(&api, OPERATOR, person(OPERATOR, "en"), "/help").await;
    assert!(
        help.text
            .contains("For operators:\n/status — the bot's state\n/channels — "),
        "{}",
        help.text
    );

    // A channel where the bot may not post is refused, with the reason.
    let refused = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        &format!("/addchannel telegram:{FOREIGN}"),
    )
    .await;
    assert!(
        refused.text.starts_with(&format!(
            "I cannot post in telegram:{FOREIGN}: the bot is not an administrator allowed to post"
        )),
        "{}",
        refused.text
    );
    let added = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        "/addchannel @psl_readers en",
    )
    .await;
    assert_eq!(
        added.text,
        "Added telegram:@psl_readers: it receives new articles in en from all feeds."
    );
    let in_config = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        &format!("/addchannel telegram:{CHANNEL} de"),
    )
    .await;
    assert_eq!(
        in_config.text,
        format!("telegram:{CHANNEL} is a channel of the configuration file; change it there.")
    );

    // `/poll` finds the new article; both channels receive it.
    items.insert(0, Item::new(2, "Fresh from the press", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    let polled = ask(&api, OPERATOR, person(OPERATOR, "en"), "/poll").await;
    assert_eq!(
        polled.text,
        "Every feed read now:\n• Morning edition — one new article, 2 posts queued"
    );
    let posted = api.wait_sent(GROUP, 1, WAIT).await;
    assert!(
        posted[0].text.contains("Fresh from the press"),
        "{}",
        posted[0].text
    );
    api.wait_sent(CHANNEL, 1, WAIT).await;
    // The emulator has the message before the bot has Telegram's answer and records it
    // as delivered: until then the post still counts as waiting.
    ops.wait_outbox_empty(WAIT).await;

    // Paused everywhere: the next article waits, also across a restart.
    let paused = ask(&api, OPERATOR, person(OPERATOR, "en"), "/pause").await;
    assert_eq!(
        paused.text,
        "Posting is paused everywhere. Feeds are still read; 0 posts wait. /resume posts again."
    );
    items.insert(0, Item::new(3, "Held back for a while", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    let polled = ask(&api, OPERATOR, person(OPERATOR, "en"), "/poll").await;
    assert_eq!(
        polled.text,
        "Every feed read now:\n• Morning edition — one new article, 2 posts queued"
    );
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let bot = setup.start();
    api.wait_calls("getUpdates", 2, WAIT).await;
    let listed = ask(&api, OPERATOR, person(OPERATOR, "en"), "/channels").await;
    let text = &listed.text;
    assert_eq!(text.lines().next(), Some("Channels"), "{text}");
    assert_eq!(
        line_of(text, &format!("telegram:{CHANNEL}")),
        format!(
            "• telegram:{CHANNEL} — all languages · all feeds · paused · Queued: 1 · configuration file"
        )
    );
    assert_eq!(
        line_of(text, "telegram:@psl_readers"),
        "• telegram:@psl_readers — en · all feeds · paused · Queued: 1 · added from chat"
    );
    assert_eq!(api.sent(GROUP).len(), 1, "nothing posted while paused");
    assert_eq!(api.sent(CHANNEL).len(), 1, "nothing posted while paused");

    // One channel resumed alone gets its post; the other waits until everything resumes.
    let resumed = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        &format!("/pause telegram:{CHANNEL}"),
    )
    .await;
    assert!(
        resumed
            .text
            .starts_with(&format!("Posting in telegram:{CHANNEL} is paused.")),
        "{}",
        resumed.text
    );
    let resumed = ask(&api, OPERATOR, person(OPERATOR, "en"), "/resume").await;
    assert_eq!(
        resumed.text,
        format!("Posting resumed.\nStill paused on their own: telegram:{CHANNEL}.")
    );
    let posted = api.wait_sent(GROUP, 2, WAIT).await;
    assert!(
        posted[1].text.contains("Held back for a while"),
        "{}",
        posted[1].text
    );
    assert_eq!(api.sent(CHANNEL).len(), 1, "still paused on its own");
    let resumed = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        &format!("/resume telegram:{CHANNEL}"),
    )
    .await;
    assert_eq!(
        resumed.text,
        format!("Posting in telegram:{CHANNEL} resumed.")
    );
    let posted = api.wait_sent(CHANNEL, 2, WAIT).await;
    assert!(
        posted[1].text.contains("Held back for a while"),
        "{}",
        posted[2].text
    );

    // The configuration's channel stays; the added one goes, and gets nothing more.
    let kept = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        &format!("/removechannel telegram:{CHANNEL}"),
    )
    .await;
    assert_eq!(
        kept.text,
        format!(
            "telegram:{CHANNEL} is a channel of the configuration file and cannot be removed from chat. Remove it there and restart the bot."
        )
    );
    let removed = ask(
        &api,
        OPERATOR,
        person(OPERATOR, "en"),
        "/removechannel telegram:@psl_readers",
    )
    .await;
    assert_eq!(
        removed.text,
        "Removed telegram:@psl_readers. The posts that waited for it were dropped."
    );
    items.insert(0, Item::new(4, "Only for the configured channel", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    let polled = ask(&api, OPERATOR, person(OPERATOR, "en"), "/poll").await;
    assert_eq!(
        polled.text,
        "Every feed read now:\n• Morning edition — one new article, one post queued"
    );
    api.wait_sent(CHANNEL, 3, WAIT).await;
    ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        api.sent(GROUP).len(),
        2,
        "a removed channel receives nothing"
    );

    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_operators_add_a_room_as_a_channel_and_others_are_refused() {
    let hs = Synapse::shared().await;
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(1, "Known before the start", 60)];
    feeds.set("en.xml", rss("en", &items), RSS);
    let operator = TestUser::login(hs, "operator").await;
    let member = TestUser::login(hs, "member").await;
    let (bot_user, password) = hs.new_user("herald").await;
    // The operators' room (a configured channel), and a room the operator adds from chat.
    let ops_room = operator
        .create_room(false, &[&bot_user, &member.user_id])
        .await;
    member.join(&ops_room).await;
    let news_room = operator.create_room(true, &[&bot_user]).await;
    // A room the bot was never invited to: it cannot join.
    let closed_room = member.create_room(false, &[]).await;
    let ops = Ops::on_free_port();
    let config = Config::new()
        .bot("poll_interval", "1h")
        .bot("admins", list(&[&format!("matrix:{}", operator.user_id)]))
        .fetch("timeout", "2s")
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot_user.clone())
        .feed_with(
            &feeds.url("en.xml"),
            "en",
            &[
                ("name", "Morning edition".into()),
                ("detect_lang", false.into()),
            ],
        )
        .channel(&format!("matrix:{ops_room}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let bot = setup.start();
    operator.wait_for_member(&ops_room, &bot_user, WAIT).await;
    bot.wait_log("new articles", WAIT).await;

    member
        .send_text(&ops_room, &format!("!addchannel matrix:{closed_room}"))
        .await;
    let replies = operator.messages_from(&ops_room, &bot_user, 1, WAIT).await;
    assert_eq!(
        replies[0].body,
        "Sorry, this command is only for the bot's operators."
    );

    operator
        .send_text(&ops_room, &format!("!addchannel {closed_room}"))
        .await;
    let replies = operator.messages_from(&ops_room, &bot_user, 2, WAIT).await;
    assert!(
        replies[1]
            .body
            .starts_with(&format!("I cannot post in matrix:{closed_room}: ")),
        "{}",
        replies[1].body
    );

    operator
        .send_text(&ops_room, &format!("!addchannel matrix:{news_room} en"))
        .await;
    let replies = operator.messages_from(&ops_room, &bot_user, 3, WAIT).await;
    assert_eq!(
        replies[2].body,
        format!("Added matrix:{news_room}: it receives new articles in en from all feeds.")
    );

    items.insert(0, Item::new(2, "Fresh from the press", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    operator.send_text(&ops_room, "!poll").await;
    let replies = operator.messages_from(&ops_room, &bot_user, 5, WAIT).await;
    let answer = replies
        .iter()
        .find(|r| r.body.starts_with("Every feed read now:"))
        .expect("the answer to !poll");
    assert_eq!(
        answer.body,
        "Every feed read now:\n• Morning edition — one new article, 2 posts queued"
    );
    // The added room receives the article, encrypted like every post there.
    let posted = operator.messages_from(&news_room, &bot_user, 1, WAIT).await;
    assert!(
        posted[0].body.contains("Fresh from the press"),
        "{}",
        posted[0].body
    );
    // Synapse shows the post before the bot has its answer and records it as delivered.
    ops.wait_outbox_empty(WAIT).await;

    operator.send_text(&ops_room, "!channels").await;
    let replies = operator.messages_from(&ops_room, &bot_user, 6, WAIT).await;
    let listed = &replies[5].body;
    assert!(
        listed.contains(&format!(
            "• matrix:{news_room} — en · all feeds · fine · Queued: 0 · added from chat"
        )),
        "{listed}"
    );

    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_longer_than_one_telegram_message_arrives_whole_in_several() {
    let api = BotApi::start(TOKEN, BOT).await;
    api.allow_flooding();
    let feeds = FeedServer::start().await;
    let mut config = Config::new()
        .bot("poll_interval", "1h")
        .bot("admins", list(&[&format!("telegram:{OPERATOR}")]))
        .telegram("api_url", api.api_url());
    // Sixty feeds with long names, none of them there: each is listed with its error.
    for n in 0..60 {
        config = config.feed_with(
            &feeds.url(&format!("missing-{n}.xml")),
            "en",
            &[(
                "name",
                format!("The {n}th regional edition of the organization's newsletter").into(),
            )],
        );
    }
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    api.wait_calls("getUpdates", 1, WAIT).await;
    bot.wait_log("feed failed", WAIT).await;

    api.push_message(OPERATOR, person(OPERATOR, "en"), "/status");
    // The answer's last line closes the last message.
    let mut parts = Vec::new();
    for n in 1.. {
        parts = api.wait_sent(OPERATOR, n, WAIT).await;
        if parts[n - 1]
            .text
            .ends_with("Private subscribers: 0 on Telegram, 0 on Matrix.")
        {
            break;
        }
    }
    assert!(parts.len() >= 2, "{} message(s)", parts.len());
    let text: String = parts
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.starts_with("Herald status\n"), "{text}");
    for n in 0..60 {
        assert!(
            text.contains(&format!(
                "• The {n}th regional edition of the organization's newsletter — failing"
            )),
            "feed {n} is listed: {text}"
        );
    }
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
