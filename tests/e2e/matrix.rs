//! Matrix end to end, against a real Synapse: the real binary posts new articles to plain
//! and encrypted rooms exactly once, answers `!latest`, `!lang` and `!subscribe` (refusing
//! those who may not configure a room), keeps its device across restarts, and loses and
//! repeats nothing when the homeserver restarts in the middle of a broadcast. What the bot
//! posted is read back by a second Matrix user, decrypting where the room is encrypted.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::config::{Config, list};
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Running, Setup, wait_until};
use crate::support::matrix_client::{Msg, TestUser};
use crate::support::proxy::HoldingProxy;
use crate::support::synapse::Synapse;
use crate::support::wp::{Item, rss};
use matrix_sdk::ruma::events::room::member::MembershipState;

const RSS: &str = "application/rss+xml; charset=UTF-8";
const WAIT: Duration = Duration::from_secs(30);

/// One Matrix end-to-end setting: a feed server with the editions a test publishes, a
/// reader who makes rooms and reads back what the bot posted, and the bot's account with
/// its config (built, never edited as text) and its `/metrics`.
struct MatrixWorld {
    feeds: FeedServer,
    reader: TestUser,
    /// The bot's user id.
    user: String,
    setup: Setup,
    config: Config,
    ops: Ops,
}

impl MatrixWorld {
    /// Publishes `editions` (path, language, items), logs in a reader named `reader` and
    /// makes the bot's account. The feeds are read without language detection.
    async fn new(hs: &Synapse, editions: &[(&str, &str, &[Item])], reader: &str) -> MatrixWorld {
        let feeds = FeedServer::start().await;
        let reader = TestUser::login(hs, reader).await;
        let (user, password) = hs.new_user("herald").await;
        let ops = Ops::on_free_port();
        let mut config = Config::new()
            .fetch("timeout", "2s")
            .matrix("homeserver", hs.url.clone())
            .matrix("user", user.clone())
            .ops(&ops);
        for (path, lang, items) in editions {
            feeds.set(path, rss(lang, items), RSS);
            config = config.feed_with(&feeds.url(path), lang, &[("detect_lang", false.into())]);
        }
        let mut setup = Setup::with_config(&config);
        setup.env("HERALD_MATRIX_PASSWORD", &password);
        MatrixWorld {
            feeds,
            reader,
            user,
            setup,
            config,
            ops,
        }
    }

    /// Changes the config.
    fn configure(&mut self, change: impl FnOnce(Config) -> Config) {
        self.config = change(self.config.clone());
        self.setup.write(&self.config);
    }

    /// Adds rooms (made after the bot's account) as channels for every language.
    fn channels(&mut self, rooms: &[&str]) {
        self.configure(|config| {
            rooms.iter().fold(config, |config, room| {
                config.channel(&format!("matrix:{room}"), &["*"])
            })
        });
    }

    /// A room the reader makes, with the bot invited.
    async fn room(&self, encrypted: bool) -> String {
        self.reader.create_room(encrypted, &[&self.user]).await
    }

    /// Publishes the items of the edition at `path`.
    fn publish(&self, path: &str, lang: &str, items: &[Item]) {
        self.feeds.set(path, rss(lang, items), RSS);
    }

    /// Starts the bot and waits until it joined `rooms` and polled `feed` twice (the
    /// first poll only stores what the feed already had).
    async fn start(&self, rooms: &[&str], feed: &str) -> Running {
        let running = self.setup.start();
        for room in rooms {
            self.reader.wait_for_member(room, &self.user, WAIT).await;
        }
        self.wait_polls(feed, 2, &running).await;
        running
    }

    /// Waits until the feed at `path` was requested `n` times in all.
    async fn wait_polls(&self, path: &str, n: usize, bot: &Running) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.feeds.requests(path) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not poll {path} {n} times; log:\n{}",
                bot.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bot's messages in a room once `n` arrived and the bot's outbox is empty, so a
    /// duplicate would show (undecryptable events count too: `messages_from` waits until
    /// every event from the bot decrypts).
    async fn settled(&self, reader: &TestUser, room: &str, n: usize) -> Vec<Msg> {
        reader.messages_from(room, &self.user, n, WAIT).await;
        self.ops.wait_outbox_empty(WAIT).await;
        reader.messages_from(room, &self.user, n, WAIT).await
    }

    /// The bot's device, from its saved session.
    fn device(&self) -> String {
        let path = self.setup.path().join("data/matrix/session.json");
        let text = std::fs::read_to_string(&path).expect("the session is saved");
        let session: Value = serde_json::from_str(&text).expect("session json");
        session["device_id"].as_str().expect("device_id").to_owned()
    }
}

fn localpart(user: &str) -> &str {
    user.trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or_default()
}

fn titles(messages: &[Msg]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.body.lines().next().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts a command answer: an `m.notice` replying to `command`, mentioning nobody.
fn assert_reply_to(reply: &Msg, command: &str) {
    assert_eq!(reply.msgtype, "m.notice", "{:#}", reply.event);
    assert_eq!(
        reply.event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], command,
        "a reply to the command: {:#}",
        reply.event
    );
    assert_eq!(
        reply.event["content"]["m.mentions"],
        json!({}),
        "{:#}",
        reply.event
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_article_reaches_a_plain_and_an_encrypted_room_once() {
    let hs = Synapse::shared().await;
    let old = vec![Item::new(10, "An older article", 60 * 24)];
    // The account first, then the rooms (the bot is invited), then the config naming them.
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &old)], "reader").await;
    let reader = &bot.reader;
    // Logs as operators get them: the production filter, every line checked below.
    bot.setup.production_logging();
    // The plain room is of version 12 (an id without server part) and configured by alias.
    let plain = reader
        .create_room_with_version(false, &[&bot.user], Some("12"))
        .await;
    assert!(!plain.contains(':'), "a room version 12 id: {plain}");
    let alias = reader
        .add_alias(&plain, &format!("news-{}", localpart(&bot.user)))
        .await;
    let encrypted = bot.room(true).await;
    bot.channels(&[&alias, &encrypted]);
    let reader = &bot.reader;
    // Said before the bot joined: not for it (it would show as a second message below).
    reader.send_text(&plain, "!help").await;

    let running = bot.start(&[&plain, &encrypted], "en.xml").await;

    // Only operators may add the bot to rooms (`accept_invites = "admins"`, the default).
    let uninvited = reader.create_room(false, &[&bot.user]).await;
    reader
        .wait_for_membership(&uninvited, &bot.user, MembershipState::Leave, WAIT)
        .await;

    let title = "<b>Strike</b> at the port & @room, join us";
    // Escaped markup in an RSS title is read as HTML, as feed readers do.
    let shown = "Strike at the port & @room, join us";
    let mut items = old.clone();
    items.insert(0, Item::new(11, title, 1));
    bot.publish("en.xml", "en", &items);

    for room in [&plain, &encrypted] {
        let got = bot.settled(reader, room, 1).await;
        assert_eq!(titles(&got), vec![shown], "exactly once in {room}");
        let msg = &got[0];
        assert_eq!(msg.encrypted, room == &encrypted);
        assert_eq!(msg.msgtype, "m.text");
        assert!(
            msg.body
                .contains("The members of the organization gathered")
                && msg.body.contains("https://news.example.org/en/"),
            "{}",
            msg.body
        );
        let html = msg.formatted_body.as_deref().expect("formatted_body");
        assert_eq!(msg.event["content"]["format"], "org.matrix.custom.html");
        assert!(
            html.starts_with("<strong>Strike at the port &amp; @room, join us</strong>"),
            "feed markup stays text: {html}"
        );
        assert!(
            html.contains("<a href=\"https://news.example.org/en/"),
            "{html}"
        );
        assert_eq!(
            msg.event["content"]["m.mentions"],
            json!({}),
            "@room pings nobody: {:#}",
            msg.event
        );
    }

    // The reader sees the bot's device as cross-signed by the bot.
    let bot_id = matrix_sdk::ruma::UserId::parse(bot.user.as_str()).unwrap();
    let device_id: matrix_sdk::ruma::OwnedDeviceId = bot.device().as_str().into();
    let encryption = reader.client.encryption();
    encryption.request_user_identity(&bot_id).await.unwrap();
    let device = encryption
        .get_device(&bot_id, &device_id)
        .await
        .unwrap()
        .expect("the reader knows the bot's device");
    assert!(
        device.is_cross_signed_by_owner(),
        "the bot cross-signed its device"
    );

    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_no_private_ids(
        &out.stderr,
        &[&plain, &encrypted, &uninvited, &reader.user_id, &alias],
    );
}

/// Room and user ids are private: Herald never logs them above debug level. (matrix-sdk's
/// own info lines do, which is why production logging keeps `matrix_sdk` at `warn`.) With
/// the tests' verbose filter (`herald=debug`, the SDK at info) the debug and SDK lines are
/// skipped; [`assert_no_private_ids`] checks a production log whole.
fn assert_private_ids_not_logged(log: &str, ids: &[&str]) {
    for line in log.lines().map(strip_ansi) {
        let mut words = line.split_whitespace().skip(1);
        let level = words.next().unwrap_or_default();
        if matches!(level, "DEBUG" | "TRACE") || line.contains(" matrix_sdk") {
            continue;
        }
        for id in ids {
            assert!(!line.contains(id), "{id} logged: {line}");
        }
    }
}

/// Every line of a log written with the production filter is free of the private ids.
fn assert_no_private_ids(log: &str, ids: &[&str]) {
    assert!(
        !log.contains(" DEBUG ") && !log.contains(" TRACE "),
        "the production filter was in effect:\n{log}"
    );
    for line in log.lines() {
        for id in ids {
            assert!(!line.contains(id), "{id} logged: {line}\nwhole log:\n{log}");
        }
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_in_a_direct_chat_set_languages_and_subscribe() {
    let hs = Synapse::shared().await;
    let en_old = vec![Item::new(20, "English report", 60)];
    let de_old = vec![Item::new(21, "Deutscher Bericht", 50)];
    let mut bot = MatrixWorld::new(
        hs,
        &[("en.xml", "en", &en_old), ("de.xml", "de", &de_old)],
        "alice",
    )
    .await;
    bot.configure(|c| c.matrix("accept_invites", "anyone"));
    // An encrypted direct chat, as clients make them. Invited while the bot is down: it
    // joins at start-up, and does not answer what was said before it joined.
    let alice = &bot.reader;
    let dm = bot.room(true).await;
    alice.send_text(&dm, "!help").await;
    let running = bot.start(&[&dm], "de.xml").await;

    let latest = alice.send_text(&dm, "!latest").await;
    let replies = alice.messages_from(&dm, &bot.user, 1, WAIT).await;
    assert_reply_to(&replies[0], &latest);
    assert!(
        replies[0].body.contains("English report") && replies[0].body.contains("Deutscher Bericht"),
        "{}",
        replies[0].body
    );

    let lang = alice.send_text(&dm, "/lang de").await;
    let replies = alice.messages_from(&dm, &bot.user, 2, WAIT).await;
    assert_reply_to(&replies[1], &lang);
    assert_eq!(
        replies[1].body, "Erledigt: Dieser Chat erhält jetzt Artikel auf de.",
        "answered in the chat's new first language"
    );

    let latest = alice.send_text(&dm, "!latest").await;
    let replies = alice.messages_from(&dm, &bot.user, 3, WAIT).await;
    assert_reply_to(&replies[2], &latest);
    assert!(
        replies[2].body.contains("Deutscher Bericht")
            && !replies[2].body.contains("English report"),
        "only German now: {}",
        replies[2].body
    );

    let subscribe = alice.send_text(&dm, "!subscribe").await;
    let replies = alice.messages_from(&dm, &bot.user, 4, WAIT).await;
    assert_reply_to(&replies[3], &subscribe);
    assert_eq!(
        replies[3].body,
        "Abonniert: Neue Artikel (de) kommen in diesen Chat."
    );

    // A reply inside a thread stays in the thread.
    let threaded = {
        use matrix_sdk::ruma::events::room::message::{ReplyWithinThread, RoomMessageEventContent};
        let root = matrix_sdk::ruma::EventId::parse(subscribe.as_str()).unwrap();
        let sender = matrix_sdk::ruma::UserId::parse(alice.user_id.as_str()).unwrap();
        let content = RoomMessageEventContent::text_plain("!help").make_for_thread(
            matrix_sdk::ruma::events::room::message::ReplyMetadata::new(&root, &sender, None),
            ReplyWithinThread::No,
            matrix_sdk::ruma::events::room::message::AddMentions::No,
        );
        let sent = alice.room(&dm).send(content).await.unwrap();
        sent.response.event_id.to_string()
    };
    let replies = alice.messages_from(&dm, &bot.user, 5, WAIT).await;
    let relates = &replies[4].event["content"]["m.relates_to"];
    assert_eq!(relates["rel_type"], "m.thread", "{:#}", replies[4].event);
    assert_eq!(relates["event_id"], subscribe.as_str());
    assert_eq!(relates["m.in_reply_to"]["event_id"], threaded.as_str());

    // Subscribed in German: the German article arrives, the English one does not.
    let mut en = en_old.clone();
    en.insert(0, Item::new(22, "English news after subscribing", 1));
    bot.publish("en.xml", "en", &en);
    let mut de = de_old.clone();
    de.insert(
        0,
        Item::new(23, "Deutsche Nachricht nach dem Abonnieren", 1),
    );
    bot.publish("de.xml", "de", &de);
    let all = bot.settled(alice, &dm, 6).await;
    assert_eq!(all.len(), 6, "{:?}", titles(&all));
    assert_eq!(
        all[5].body.lines().next(),
        Some("Deutsche Nachricht nach dem Abonnieren")
    );
    assert_eq!(all[5].msgtype, "m.text");
    assert!(all.iter().all(|m| m.encrypted));

    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_private_ids_not_logged(&out.stderr, &[&dm, &alice.user_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_group_room_only_moderators_change_settings() {
    let hs = Synapse::shared().await;
    let mut bot = MatrixWorld::new(
        hs,
        &[
            ("en.xml", "en", &[Item::new(30, "Old", 60)]),
            ("de.xml", "de", &[Item::new(31, "Alt", 60)]),
        ],
        "owner",
    )
    .await;
    bot.configure(|c| c.matrix("accept_invites", "anyone"));
    let running = bot.start(&[], "de.xml").await;

    let owner = &bot.reader;
    let member = TestUser::login(hs, "member").await;
    let room = owner
        .create_room(false, &[&bot.user, &member.user_id])
        .await;
    member.join(&room).await;
    owner.wait_for_member(&room, &bot.user, WAIT).await;

    let refused = "Sorry, only the administrators of this chat can change its settings.";
    let lang = member.send_text(&room, "!lang de").await;
    let replies = member.messages_from(&room, &bot.user, 1, WAIT).await;
    assert_reply_to(&replies[0], &lang);
    assert_eq!(replies[0].body, refused);
    let subscribe = member.send_text(&room, "!subscribe").await;
    let replies = member.messages_from(&room, &bot.user, 2, WAIT).await;
    assert_reply_to(&replies[1], &subscribe);
    assert_eq!(replies[1].body, refused);

    // Anyone may read: the language list is shown, with the commands to choose.
    member.send_text(&room, "!lang").await;
    let replies = member.messages_from(&room, &bot.user, 3, WAIT).await;
    assert!(replies[2].body.contains("!lang de"), "{}", replies[2].body);

    owner.set_power_level(&room, &member.user_id, 50).await;
    let lang = member.send_text(&room, "!lang de").await;
    let replies = member.messages_from(&room, &bot.user, 4, WAIT).await;
    assert_reply_to(&replies[3], &lang);
    assert_eq!(
        replies[3].body,
        "Erledigt: Dieser Chat erhält jetzt Artikel auf de."
    );

    let subscribe = owner.send_text(&room, "!subscribe").await;
    let replies = owner.messages_from(&room, &bot.user, 5, WAIT).await;
    assert_reply_to(&replies[4], &subscribe);
    assert_eq!(
        replies[4].body,
        "Abonniert: Neue Artikel (de) kommen in diesen Chat."
    );

    bot.publish(
        "de.xml",
        "de",
        &[
            Item::new(32, "Neu für die Gruppe", 1),
            Item::new(31, "Alt", 60),
        ],
    );
    let all = bot.settled(owner, &room, 6).await;
    assert_eq!(all.len(), 6, "{:?}", titles(&all));
    assert_eq!(all[5].body.lines().next(), Some("Neu für die Gruppe"));

    // Kicked: the room is unsubscribed at the next article.
    owner.kick(&room, &bot.user).await;
    bot.publish(
        "de.xml",
        "de",
        &[
            Item::new(33, "Nach dem Rauswurf", 1),
            Item::new(32, "Neu für die Gruppe", 1),
            Item::new(31, "Alt", 60),
        ],
    );
    running
        .wait_log("chat is gone; unsubscribed it", WAIT)
        .await;

    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_device_and_neither_reposts_nor_loses() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(40, "Before everything", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "reader").await;
    let room = bot.room(true).await;
    bot.channels(&[&room]);
    let reader = &bot.reader;

    let running = bot.start(&[&room], "en.xml").await;
    items.insert(0, Item::new(41, "Before the restart", 1));
    bot.publish("en.xml", "en", &items);
    reader.messages_from(&room, &bot.user, 1, WAIT).await;
    let device = bot.device();
    let out = running.stop().await;
    assert_eq!(
        out.code,
        Some(0),
        "SIGTERM is a clean stop:\n{}",
        out.stderr
    );

    let polls = bot.feeds.requests("en.xml");
    let running = bot.setup.start();
    running.wait_log("Matrix session restored", WAIT).await;
    bot.wait_polls("en.xml", polls + 3, &running).await;
    assert_eq!(bot.device(), device, "the same device after a restart");
    assert!(
        !running.stderr().contains("logged in to Matrix"),
        "no new login: {}",
        running.stderr()
    );

    items.insert(0, Item::new(42, "After the restart", 1));
    bot.publish("en.xml", "en", &items);
    let all = bot.settled(reader, &room, 2).await;
    assert_eq!(
        titles(&all),
        vec!["Before the restart", "After the restart"],
        "nothing reposted, nothing lost"
    );
    assert!(all.iter().all(|m| m.encrypted));
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_homeserver_restart_during_a_broadcast_loses_and_repeats_nothing() {
    let hs = Synapse::start_private().await;
    let mut items = vec![Item::new(50, "Already known", 60)];
    let mut bot = MatrixWorld::new(&hs, &[("en.xml", "en", &items)], "reader").await;
    bot.configure(|c| c.matrix("room_interval", "700ms"));
    let room = bot.room(false).await;
    bot.channels(&[&room]);
    let reader = &bot.reader;

    let running = bot.start(&[&room], "en.xml").await;

    const N: u32 = 10;
    let expected: Vec<String> = (1..=N).map(|i| format!("Broadcast item {i}")).collect();
    for (i, title) in expected.iter().enumerate() {
        items.insert(0, Item::new(51 + i as u32, title, 30 - i as i64));
    }
    bot.publish("en.xml", "en", &items);
    reader.messages_from(&room, &bot.user, 1, WAIT).await;
    hs.restart().await;

    let all = bot.settled(reader, &room, N as usize).await;
    let log = running.stderr();
    assert!(
        log.contains("send failed; will retry"),
        "the restart interrupted the broadcast:\n{log}"
    );
    assert_eq!(titles(&all), expected, "all, in order, once");
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgraded_room_is_followed_to_its_replacement() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(60, "Known", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "moderator").await;
    let moderator = format!("matrix:{}", bot.reader.user_id);
    bot.configure(|c| c.bot("admins", list(&[&moderator])));
    let old = bot.room(false).await;
    bot.channels(&[&old]);
    let reader = &bot.reader;
    let running = bot.start(&[&old], "en.xml").await;
    items.insert(0, Item::new(61, "Before the upgrade", 2));
    bot.publish("en.xml", "en", &items);
    reader.messages_from(&old, &bot.user, 1, WAIT).await;

    // Upgraded by a moderator, who invites the bot into the new room (as Element offers).
    let new = reader.upgrade_room(&old, "12").await;
    reader.invite(&new, &bot.user).await;
    reader.wait_for_member(&new, &bot.user, WAIT).await;
    items.insert(0, Item::new(62, "After the upgrade", 1));
    bot.publish("en.xml", "en", &items);

    let in_new = bot.settled(reader, &new, 1).await;
    assert_eq!(titles(&in_new), vec!["After the upgrade"]);
    let in_old = reader.messages_from(&old, &bot.user, 1, WAIT).await;
    assert_eq!(titles(&in_old), vec!["Before the upgrade"]);
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("following it to its replacement"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_once_posts_with_an_access_token() {
    let hs = Synapse::shared().await;
    let server = FeedServer::start().await;
    let mut items = vec![Item::new(70, "Known", 60)];
    server.set("en.xml", rss("en", &items), RSS);
    let reader = TestUser::login(hs, "reader").await;
    let (user, password) = hs.new_user("herald").await;
    let token = hs.login_token(&user, &password).await;
    let room = reader.create_room(true, &[&user]).await;
    let mut setup = Setup::with_config(
        &Config::new()
            .feed(&server.url("en.xml"), "en")
            .channel(&format!("matrix:{room}"), &["*"])
            .matrix("homeserver", hs.url.clone())
            .matrix("user", user.clone()),
    );
    setup.env("HERALD_MATRIX_ACCESS_TOKEN", &token);

    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(!first.stderr.contains(&token), "the token is never logged");
    reader.wait_for_member(&room, &user, WAIT).await;
    items.insert(0, Item::new(71, "Delivered by a one-shot poll", 1));
    server.set("en.xml", rss("en", &items), RSS);
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    // The one-shot run has exited: whatever it sent is all there is.
    let got = reader.messages_from(&room, &user, 1, WAIT).await;
    assert_eq!(titles(&got), vec!["Delivered by a one-shot poll"]);
    assert!(got[0].encrypted);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_homeserver_down_at_start_holds_up_neither_the_bot_nor_its_matrix_posts() {
    let hs = Synapse::start_private().await;
    let mut items = vec![Item::new(60, "Already known", 60)];
    let mut bot = MatrixWorld::new(&hs, &[("en.xml", "en", &items)], "reader").await;
    let room = bot.room(false).await;
    bot.configure(|c| c.channel("console", &["*"]));
    bot.channels(&[&room]);
    let reader = &bot.reader;

    hs.stop().await;
    let running = bot.setup.start();
    running
        .wait_log("cannot start yet; retrying in the background", WAIT)
        .await;
    bot.wait_polls("en.xml", 2, &running).await;
    items.insert(0, Item::new(61, "While the homeserver is down", 1));
    bot.publish("en.xml", "en", &items);
    assert_eq!(
        running.wait_posts(1, WAIT).await,
        vec!["While the homeserver is down [en]"],
        "the other channels are served meanwhile"
    );

    hs.start().await;
    running
        .wait_log("started after all", Duration::from_secs(90))
        .await;
    let all = bot.settled(reader, &room, 1).await;
    assert_eq!(titles(&all), vec!["While the homeserver is down"]);
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_no_invites_a_private_session_file_and_no_password_in_logs() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(80, "Known", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "operator").await;
    let operator = format!("matrix:{}", bot.reader.user_id);
    // The operator may invite the bot under the default "admins", not under "none".
    bot.configure(|c| {
        c.bot("admins", list(&[&operator]))
            .matrix("accept_invites", "none")
            .matrix("msgtype", "m.notice")
    });
    let room = bot.room(false).await;
    bot.channels(&[&room]);
    let running = bot.start(&[&room], "en.xml").await;
    let reader = &bot.reader;
    let invited = bot.room(false).await;
    reader
        .wait_for_membership(&invited, &bot.user, MembershipState::Leave, WAIT)
        .await;

    items.insert(0, Item::new(81, "A notice", 1));
    bot.publish("en.xml", "en", &items);
    let got = bot.settled(reader, &room, 1).await;
    assert_eq!(titles(&got), vec!["A notice"]);
    assert_eq!(got[0].msgtype, "m.notice", "{:#}", got[0].event);

    use std::os::unix::fs::PermissionsExt;
    let session = bot.setup.path().join("data/matrix/session.json");
    let mode = std::fs::metadata(&session).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the session file is the owner's alone");
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    // A wrong password: the login fails, and the password is not printed.
    let mut setup = Setup::with_config(&bot.config);
    setup.env("HERALD_MATRIX_PASSWORD", "wrong-and-secret-8c1f");
    let failing = setup.start();
    failing
        .wait_log("cannot start yet; retrying in the background", WAIT)
        .await;
    let out = failing.stop().await;
    assert!(
        !out.stderr.contains("wrong-and-secret-8c1f"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("wrong-and-secret-8c1f"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_reaches_the_bot_later_than_max_command_age_is_not_answered() {
    let hs = Synapse::shared().await;
    let mut bot = MatrixWorld::new(
        hs,
        &[("en.xml", "en", &[Item::new(90, "Known", 60)])],
        "asker",
    )
    .await;
    // The bot reaches its homeserver through a relay that can hold back the answers, as a
    // network that delivers a sync late.
    let relay = HoldingProxy::start(&hs.url).await;
    bot.configure(|c| {
        c.matrix("homeserver", relay.url.clone())
            .matrix("max_command_age", "5s")
    });
    let room = bot.room(false).await;
    bot.channels(&[&room]);
    let running = bot.start(&[&room], "en.xml").await;
    let asker = &bot.reader;

    // A command that arrives at once is answered.
    let prompt = asker.send_text(&room, "!help").await;
    let replies = asker.messages_from(&room, &bot.user, 1, WAIT).await;
    assert_reply_to(&replies[0], &prompt);

    // One that reaches the bot six seconds after it was sent is not.
    relay.hold();
    let late = asker.send_text(&room, "!latest").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    relay.release();
    // The next command is answered, and after the late one, since a room's commands are
    // handled in order: had the late one been answered, its reply would be here first.
    let next = asker.send_text(&room, "!about").await;
    let replies = asker.messages_from(&room, &bot.user, 2, WAIT).await;
    assert_reply_to(&replies[1], &next);
    let answered: Vec<&Value> = replies
        .iter()
        .map(|r| &r.event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"])
        .collect();
    assert!(
        !answered.contains(&&Value::String(late.clone())),
        "the late command was answered: {replies:#?}"
    );
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_the_homeserver_took_a_post_repeats_nothing() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(95, "Known", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "reader").await;
    let relay = HoldingProxy::start(&hs.url).await;
    bot.configure(|c| c.matrix("homeserver", relay.url.clone()));
    let room = bot.room(true).await;
    bot.channels(&[&room]);
    let reader = &bot.reader;
    let running = bot.start(&[&room], "en.xml").await;

    // The homeserver takes the post, but its answer never reaches the bot: SIGKILL comes
    // first, so the post is still queued as unsent.
    relay.hold_requests("/send/m.room.");
    items.insert(0, Item::new(96, "Sent as the bot died", 1));
    bot.publish("en.xml", "en", &items);
    reader.messages_from(&room, &bot.user, 1, WAIT).await;
    running.kill().await;
    relay.release();

    // After the restart the post is sent again with the same transaction id, from the same
    // device, and the homeserver recognises the repeat.
    let running = bot.setup.start();
    running.wait_log("Matrix session restored", WAIT).await;
    bot.ops
        .wait_metric(
            "herald_posts_total{platform=\"matrix\",outcome=\"sent\"}",
            1.0,
            WAIT,
        )
        .await;
    let all = bot.settled(reader, &room, 1).await;
    assert_eq!(
        titles(&all),
        vec!["Sent as the bot died"],
        "once, not twice"
    );
    assert!(all[0].encrypted);
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_headline_is_an_edit_that_the_reader_sees_in_an_encrypted_room() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(97, "Known", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "reader").await;
    let room = bot.room(true).await;
    bot.channels(&[&room]);
    let reader = &bot.reader;
    let running = bot.start(&[&room], "en.xml").await;

    let typo = Item::new(98, "Assembly on Sunday in Lepzig", 1);
    items.insert(0, typo.clone());
    bot.publish("en.xml", "en", &items);
    let original = bot.settled(reader, &room, 1).await.remove(0);
    assert!(original.body.starts_with("Assembly on Sunday in Lepzig"));

    items[0] = Item {
        date: typo.date,
        ..Item::new(98, "Assembly on Sunday in Leipzig", 1)
    };
    bot.publish("en.xml", "en", &items);
    let all = bot.settled(reader, &room, 2).await;
    assert_eq!(
        all.len(),
        2,
        "the post and its edit, nothing else: {all:#?}"
    );
    let edit = &all[1];
    assert!(edit.encrypted, "the edit is encrypted like the post");
    let relation = &edit.event["content"]["m.relates_to"];
    assert_eq!(relation["rel_type"], "m.replace", "{:#}", edit.event);
    assert_eq!(relation["event_id"], original.event["event_id"]);
    let new_body = edit.event["content"]["m.new_content"]["body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        new_body.starts_with("Assembly on Sunday in Leipzig"),
        "{:#}",
        edit.event
    );
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_headline_changed_back_and_forth_ends_showing_the_last_text() {
    let hs = Synapse::shared().await;
    let mut items = vec![Item::new(95, "Known", 60)];
    let mut bot = MatrixWorld::new(hs, &[("en.xml", "en", &items)], "reader").await;
    let room = bot.room(false).await;
    bot.channels(&[&room]);
    let reader = &bot.reader;
    let running = bot.start(&[&room], "en.xml").await;

    let a = Item::new(96, "Strike at the port on Monday", 1);
    items.insert(0, a.clone());
    bot.publish("en.xml", "en", &items);
    bot.settled(reader, &room, 1).await;
    // A → B → A → B: each change is an edit of its own, the second B too (its transaction
    // id is not the first B's, which the homeserver would drop as a repeat).
    let b = Item {
        date: a.date,
        ..Item::new(96, "Strike at the port on Tuesday", 1)
    };
    for (n, item) in [&b, &a, &b].into_iter().enumerate() {
        items[0] = item.clone();
        bot.publish("en.xml", "en", &items);
        bot.settled(reader, &room, n + 2).await;
    }
    let all = bot.settled(reader, &room, 4).await;
    assert_eq!(all.len(), 4, "the post and three edits: {all:#?}");
    let last = all[3].event["content"]["m.new_content"]["body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        last.starts_with("Strike at the port on Tuesday"),
        "{:#}",
        all[3].event
    );
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_homeserver_does_not_answer_the_login_stops_at_once() {
    let hs = Synapse::shared().await;
    let mut bot = MatrixWorld::new(
        hs,
        &[("en.xml", "en", &[Item::new(99, "Known", 60)])],
        "reader",
    )
    .await;
    let relay = HoldingProxy::start(&hs.url).await;
    bot.configure(|c| c.matrix("homeserver", relay.url.clone()));
    // The homeserver takes the login but never answers it.
    relay.hold();
    let running = bot.setup.start();
    running.wait_log("serving the status page", WAIT).await;
    wait_until("the bot asks the homeserver", WAIT, || {
        relay.connections() > 0
    })
    .await;
    let out = running.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("cannot start"),
        "the login was abandoned, not waited out: {}",
        out.stderr
    );
}
