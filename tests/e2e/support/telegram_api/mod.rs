//! A Telegram Bot API emulator for the end-to-end tests.
//!
//! It owns the Telegram side of a test: the bot's identity, the chats and users it
//! knows, the messages in each chat, the queue of updates served by `getUpdates`
//! long polling, the command lists set per scope and language, and the faults a test
//! injects (flood control, blocked or kicked bot, group migration, server errors,
//! requests that never get an answer). It speaks the documented JSON shapes of
//! <https://core.telegram.org/bots/api> over plain HTTP, at `POST /bot<TOKEN>/<method>`
//! with JSON, form or multipart (text fields) parameters, and answers errors with the
//! real API's descriptions, which client libraries such as teloxide match textually.
//! `parse_mode=HTML` is checked the way the Bot API server (tdlib) parses it, with the
//! same error details; see [`parse_html`].
//!
//! Tests read back what the bot did with [`BotApi::sent`], [`BotApi::calls`],
//! [`BotApi::call_times`] and wait for it with [`BotApi::wait_sent`].

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
mod html;
mod http;
mod state;

pub use html::utf16_len;
use html::*;
use http::*;
use state::*;

use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};

/// A failure the emulator produces instead of handling a call normally.
///
/// Chat-bound faults (see [`BotApi::fail_next`], [`BotApi::fail_always`]) apply to
/// `sendMessage`, `editMessageText` and `editMessageReplyMarkup` for that chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    RetryAfter(u32),
    /// 403 `Forbidden: bot was blocked by the user`.
    Blocked,
    /// 403 `Forbidden: bot was kicked from the {group|supergroup|channel} chat`, after
    /// the chat's type (`group` for private or unknown chats).
    Kicked,
    /// 400 `Bad Request: need administrator rights in the channel chat`: the bot is in
    /// the channel but may not post.
    NotAdminInChannel,
    /// 400 `Bad Request: group chat was upgraded to a supergroup chat` with
    /// `parameters.migrate_to_chat_id`. From then on every send to the old id fails
    /// the same way, and the new id is a known supergroup.
    Migrated(i64),
    /// 500 `Internal Server Error`. (teloxide sleeps 10 s on any 5xx before returning.)
    ServerError,
    /// The request is held and never answered (until the emulator is dropped, when
    /// the connection is cut).
    Hang,
    /// 502 Bad Gateway with an HTML page, as Telegram's front servers answer while the
    /// Bot API behind them is down (not JSON: clients must not choke on it).
    BadGateway,
    /// Any other error, e.g. `Api { code: 403, description: "Forbidden: user is deactivated".into() }`.
    Api { code: u16, description: String },
}

/// One successful `sendMessage` (or edit) as the emulator understood it.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// The `text` parameter exactly as sent (HTML source when `parse_mode` is HTML).
    pub html: String,
    /// The text as users see it: tags removed, entities decoded, whitespace trimmed.
    pub text: String,
    /// The message's `entities`, as the Bot API returns them.
    pub entities: Vec<Value>,
    pub parse_mode: Option<String>,
    /// The `reply_markup` parameter as sent (any keyboard kind).
    pub reply_markup: Option<Value>,
    pub link_preview_options: Option<Value>,
    pub disable_notification: bool,
    pub protect_content: bool,
    pub message_thread_id: Option<i64>,
    /// From `reply_parameters.message_id` (or the legacy `reply_to_message_id`).
    pub reply_to_message_id: Option<i64>,
    /// All parameters of the call.
    pub params: Value,
}

/// The running emulator; it stops when dropped.
pub struct BotApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Dropping it tells hanging requests to give up their connection.
    _shutdown: watch::Sender<()>,
}

/// A `User` object for a person, to pass as `from`.
pub fn user(id: i64, first_name: &str) -> Value {
    json!({ "id": id, "is_bot": false, "first_name": first_name })
}

/// A `Chat` object; `kind` is `private`, `group`, `supergroup` or `channel`. For a
/// private chat `title` becomes the `first_name`. Add a `username` with
/// `chat["username"] = json!("name")` to make `@name` resolvable.
pub fn chat(id: i64, kind: &str, title: &str) -> Value {
    if kind == "private" {
        json!({ "id": id, "type": kind, "first_name": title })
    } else {
        json!({ "id": id, "type": kind, "title": title })
    }
}

const DEFAULT_BOT_ID: i64 = 1_000_000_001;
const FIRST_UPDATE_ID: i64 = 100_001;
const MAX_TEXT_UTF16: usize = 4096;
const MAX_CALLBACK_DATA_BYTES: usize = 64;
/// How long a callback query can be answered after the button was pressed.
const CALLBACK_ANSWER_TIME: Duration = Duration::from_secs(15);
/// Flood control: messages a second in all; messages a minute per group.
const MAX_PER_SECOND: usize = 30;
const MAX_PER_GROUP_MINUTE: usize = 20;
const GROUP_WINDOW: Duration = Duration::from_secs(60);
const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly \
                            the same as a current content and reply markup of the message";
const CONFLICT: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
/// Update types `getUpdates` leaves out when `allowed_updates` is empty or was never set.
const NOT_DEFAULT_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "getWebhookInfo",
    "deleteWebhook",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "sendChatAction",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getChat",
    "getChatAdministrators",
    "getChatMember",
    "answerCallbackQuery",
];

impl BotApi {
    /// Starts the emulator on `127.0.0.1` with a port chosen by the system. The bot's
    /// user id is the number before `:` in `token` (as with real tokens), or
    /// 1000000001 when there is none.
    pub async fn start(token: &str, bot_username: &str) -> BotApi {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(DEFAULT_BOT_ID);
        let bot = json!({
            "id": bot_id,
            "is_bot": true,
            "first_name": bot_username,
            "username": bot_username,
        });
        let mut me = bot.clone();
        for (flag, value) in [
            ("can_join_groups", true),
            ("can_read_all_group_messages", false),
            ("supports_inline_queries", false),
            ("can_connect_to_business", false),
            ("has_main_web_app", false),
        ] {
            me[flag] = json!(value);
        }
        let state = EmuState {
            token: token.to_owned(),
            bot_id,
            bot,
            me,
            strict_html: true,
            chats: HashMap::new(),
            users: HashMap::new(),
            members: HashMap::new(),
            admins: HashMap::new(),
            messages: HashMap::new(),
            next_message_ids: HashMap::new(),
            updates: VecDeque::new(),
            next_update_id: FIRST_UPDATE_ID,
            allowed_updates: Vec::new(),
            poll_generation: 0,
            open_callbacks: HashMap::new(),
            flood_control: true,
            accepted_sends: VecDeque::new(),
            method_faults: HashMap::new(),
            bot_left: HashSet::new(),
            delays: HashMap::new(),
            next_faults: HashMap::new(),
            permanent_faults: HashMap::new(),
            migrated: HashMap::new(),
            sent: HashMap::new(),
            edits: HashMap::new(),
            deleted: HashMap::new(),
            calls: Vec::new(),
            send_times: HashMap::new(),
            commands: HashMap::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("Bot API emulator: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("Bot API emulator: local address");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            updates_changed: Notify::new(),
            activity: Notify::new(),
            shutdown: shutdown_rx,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("Bot API emulator: serve");
        });
        BotApi {
            shared,
            addr,
            task,
            _shutdown: shutdown_tx,
        }
    }

    /// `http://127.0.0.1:PORT`, for teloxide's `Bot::set_api_url` (which appends
    /// `/bot<TOKEN>/<method>`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes a chat known (a `Chat` object with at least `id` and `type`; see [`chat`]).
    pub fn add_chat(&self, chat: Value) {
        let id = chat["id"]
            .as_i64()
            .expect("add_chat: the Chat object needs a numeric `id`");
        assert!(
            matches!(
                chat["type"].as_str(),
                Some("private" | "group" | "supergroup" | "channel")
            ),
            "add_chat: `type` must be private, group, supergroup or channel in {chat}"
        );
        self.state().chats.insert(id, chat);
    }

    /// Turns Telegram's flood control off: the emulator then accepts messages as fast as
    /// they come. It is on by default, as in Telegram: at most 30 messages a second in
    /// all, one a second per chat (a sliding window) and 20 a minute per group; beyond,
    /// 429 `Too Many Requests: retry after N`. Only tests that deliberately pace faster
    /// than that, to run quickly, turn it off.
    pub fn allow_flooding(&self) {
        self.state().flood_control = false;
    }

    /// The bot leaves `chat_id` (or is removed): a group's sends then fail with
    /// `Forbidden: bot is not a member of the … chat`, as they do in Telegram.
    pub fn remove_bot(&self, chat_id: i64) {
        let mut state = self.state();
        let bot_id = state.bot_id;
        state.bot_left.insert(chat_id);
        if let Some(admins) = state.admins.get_mut(&chat_id) {
            admins.retain(|&id| id != bot_id);
        }
    }

    /// Sets who administers `chat_id`, for `getChatAdministrators` and `getChatMember`.
    /// Until this is called, a channel's only administrator is the bot (bots can be in
    /// channels only as administrators) and other chats have none. A channel whose
    /// administrators do not include the bot refuses its posts with `need administrator
    /// rights in the channel chat`.
    pub fn set_admins(&self, chat_id: i64, user_ids: &[i64]) {
        self.state().admins.insert(chat_id, user_ids.to_vec());
    }

    /// Queues a `message` update (a `channel_post` in a channel, where `from` is not
    /// shown) with `date` = now. A text starting with `/` gets a `bot_command` entity
    /// over its first word. The chat must be known, unless it is the private chat of
    /// `from` (`chat_id == from.id`), which is created. Returns the `update_id`.
    pub fn push_message(&self, chat_id: i64, from: Value, text: &str) -> i64 {
        self.push_message_at(chat_id, from, text, unix_now())
    }

    /// [`push_message`](Self::push_message) with a chosen `date` (Unix seconds).
    pub fn push_message_at(&self, chat_id: i64, from: Value, text: &str, date_unix: i64) -> i64 {
        self.push_message_full(chat_id, from, text, date_unix, false)
    }

    /// A message from an anonymous group administrator, as Telegram delivers it: `from` is
    /// @GroupAnonymousBot and `sender_chat` is the group itself.
    pub fn push_anonymous_admin_message(&self, chat_id: i64, text: &str) -> i64 {
        let mut anonymous = user(1087968824, "Group");
        anonymous["is_bot"] = json!(true);
        anonymous["username"] = json!("GroupAnonymousBot");
        self.push_message_full(chat_id, anonymous, text, unix_now(), true)
    }

    fn push_message_full(
        &self,
        chat_id: i64,
        from: Value,
        text: &str,
        date_unix: i64,
        as_chat: bool,
    ) -> i64 {
        let update_id = {
            let mut state = self.state();
            let user_id = state.note_user(&from, "push_message");
            state.chats.entry(chat_id).or_insert_with(|| {
                assert_eq!(
                    chat_id, user_id,
                    "push_message: chat {chat_id} is unknown; call add_chat first (only the private chat \
                     of `from`, chat_id == from.id, is created on the fly)"
                );
                private_chat_of(&from)
            });
            state.members.entry(chat_id).or_default().insert(user_id);
            let chat = state.chats[&chat_id].clone();
            let is_channel = chat["type"] == "channel";
            let message_id = state.next_message_id(chat_id);
            let mut message = json!({
                "message_id": message_id,
                "date": date_unix,
                "chat": chat,
                "text": text,
            });
            if is_channel {
                message["sender_chat"] = chat;
            } else {
                if as_chat {
                    message["sender_chat"] = chat;
                }
                message["from"] = from;
            }
            if text.starts_with('/') {
                let command = text.split_whitespace().next().unwrap_or_default();
                message["entities"] =
                    json!([{ "type": "bot_command", "offset": 0, "length": utf16_len(command) }]);
            }
            state.messages.insert(
                (chat_id, message_id),
                StoredMessage {
                    json: message.clone(),
                    by_bot: false,
                },
            );
            state.push_update(
                if is_channel {
                    "channel_post"
                } else {
                    "message"
                },
                message,
            )
        };
        self.shared.updates_changed.notify_waiters();
        update_id
    }

    /// Queues a `callback_query` update for a button on message `message_id` of
    /// `chat_id` (the stored message when it exists, otherwise an inaccessible one).
    /// The callback query id is the decimal `update_id`, which is returned.
    pub fn push_callback(&self, chat_id: i64, from: Value, message_id: i64, data: &str) -> i64 {
        self.push_callback_pressed(chat_id, from, message_id, data, Instant::now())
    }

    /// Like `push_callback`, for a button pressed long enough ago that Telegram no longer
    /// takes an answer to the query (as when the update waited while the bot was down).
    pub fn push_late_callback(
        &self,
        chat_id: i64,
        from: Value,
        message_id: i64,
        data: &str,
    ) -> i64 {
        let pressed = Instant::now()
            .checked_sub(CALLBACK_ANSWER_TIME + Duration::from_secs(1))
            .expect("the clock runs long enough");
        self.push_callback_pressed(chat_id, from, message_id, data, pressed)
    }

    fn push_callback_pressed(
        &self,
        chat_id: i64,
        from: Value,
        message_id: i64,
        data: &str,
        pressed: Instant,
    ) -> i64 {
        let update_id = {
            let mut state = self.state();
            state.note_user(&from, "push_callback");
            let chat = state.chats.get(&chat_id).cloned().unwrap_or_else(|| {
                panic!("push_callback: chat {chat_id} is unknown; call add_chat first")
            });
            let message = match state.messages.get(&(chat_id, message_id)) {
                Some(stored) => stored.json.clone(),
                None => json!({ "message_id": message_id, "date": 0, "chat": chat }),
            };
            let query_id = state.next_update_id.to_string();
            state.open_callbacks.insert(query_id.clone(), pressed);
            let query = json!({
                "id": query_id,
                "from": from,
                "message": message,
                "chat_instance": chat_id.to_string(),
                "data": data,
            });
            state.push_update("callback_query", query)
        };
        self.shared.updates_changed.notify_waiters();
        update_id
    }

    /// The next `sendMessage` to `chat_id` is handled only after `by`, like a slow
    /// network: the bot has sent it and waits for the answer meanwhile.
    pub fn delay_next(&self, chat_id: i64, by: Duration) {
        self.delay_next_call("sendMessage", chat_id, by);
    }

    /// The next call of `method` about `chat_id` (`getChatMember`, `getChat`…) is handled
    /// only after `by`.
    pub fn delay_next_call(&self, method: &str, chat_id: i64, by: Duration) {
        self.state().delays.insert((method.to_owned(), chat_id), by);
    }

    /// The next send or edit to `chat_id` fails with `fault`; calls queue up.
    pub fn fail_next(&self, chat_id: i64, fault: Fault) {
        self.state()
            .next_faults
            .entry(chat_id)
            .or_default()
            .push_back(fault);
    }

    /// Every send or edit to `chat_id` fails with `fault` (after queued
    /// [`fail_next`](Self::fail_next) faults); `None` ends it.
    pub fn fail_always(&self, chat_id: i64, fault: Option<Fault>) {
        let mut state = self.state();
        match fault {
            Some(fault) => state.permanent_faults.insert(chat_id, fault),
            None => state.permanent_faults.remove(&chat_id),
        };
    }

    /// The next call of `method` (any method, e.g. `getUpdates` or `setMyCommands`)
    /// fails with `fault`; calls queue up. Checked before chat-bound faults.
    pub fn fail_next_call(&self, method: &str, fault: Fault) {
        let method = canonical_method(method)
            .unwrap_or_else(|| panic!("fail_next_call: the emulator has no method {method:?}"));
        self.state()
            .method_faults
            .entry(method.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// Successful `sendMessage` calls to `chat_id`, in order.
    pub fn sent(&self, chat_id: i64) -> Vec<SentMessage> {
        self.state().sent.get(&chat_id).cloned().unwrap_or_default()
    }

    /// Successful `editMessageText` calls in `chat_id`, in order.
    pub fn edits(&self, chat_id: i64) -> Vec<SentMessage> {
        self.state()
            .edits
            .get(&chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The text message `message_id` in `chat_id` shows now (after edits), as users see
    /// it; `None` when there is no such message (never sent, or deleted).
    pub fn message_text(&self, chat_id: i64, message_id: i64) -> Option<String> {
        self.state()
            .messages
            .get(&(chat_id, message_id))
            .and_then(|m| m.json["text"].as_str().map(str::to_owned))
    }

    /// A chat admin deletes message `message_id` (edits of it fail from now on).
    pub fn delete_by_user(&self, chat_id: i64, message_id: i64) {
        self.state().messages.remove(&(chat_id, message_id));
    }

    /// The parameters of every call of `method` (name case-insensitive), in order,
    /// including failed ones.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.state()
            .calls
            .iter()
            .filter(|call| call.method.eq_ignore_ascii_case(method))
            .map(|call| call.params.clone())
            .collect()
    }

    /// The error descriptions of the failed calls of `method`, in order.
    pub fn errors(&self, method: &str) -> Vec<String> {
        self.state()
            .calls
            .iter()
            .filter(|call| call.method.eq_ignore_ascii_case(method))
            .filter_map(|call| call.error.clone())
            .collect()
    }

    /// When each `sendMessage` to `chat_id` arrived, including failed ones.
    pub fn call_times(&self, chat_id: i64) -> Vec<Instant> {
        self.state()
            .send_times
            .get(&chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The commands set with `setMyCommands` for exactly this scope (a
    /// `BotCommandScope` object, `Value::Null` for the default) and `language_code`
    /// (`""` for none), as `BotCommand` objects.
    pub fn my_commands(&self, scope: Value, language_code: &str) -> Vec<Value> {
        let state = self.state();
        let scope = Some(&scope).filter(|s| !s.is_null());
        let key = state
            .commands_key(scope, language_code)
            .unwrap_or_else(|_| panic!("my_commands: the scope names an unknown chat: {scope:?}"));
        state.commands.get(&key).cloned().unwrap_or_default()
    }

    /// Waits until at least `n` messages were sent to `chat_id` and returns them all;
    /// panics after `timeout` with what was sent and which sends failed.
    pub async fn wait_sent(&self, chat_id: i64, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.activity.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let sent = self.sent(chat_id);
            if sent.len() >= n {
                return sent;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let sent = self.sent(chat_id);
                if sent.len() >= n {
                    return sent;
                }
                panic!("{}", self.state().describe_chat(chat_id, n, timeout));
            }
        }
    }

    /// Waits until `method` was called at least `n` times and returns the calls'
    /// parameters; panics after `timeout`.
    pub async fn wait_calls(&self, method: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.activity.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let calls = self.calls(method);
            if calls.len() >= n {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let calls = self.calls(method);
                if calls.len() >= n {
                    return calls;
                }
                panic!(
                    "wait_calls: timed out after {timeout:?} waiting for {n} {method} call(s); got {}: {calls:#?}",
                    calls.len()
                );
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, EmuState> {
        self.shared.lock()
    }
}

impl Drop for BotApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}
