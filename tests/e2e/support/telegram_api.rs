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
#![allow(dead_code)]

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
    /// 403 `Forbidden: bot is not a member of the {group|supergroup|channel} chat`.
    NotMember,
    /// 400 `Bad Request: group chat was upgraded to a supergroup chat` with
    /// `parameters.migrate_to_chat_id`. From then on every send to the old id fails
    /// the same way, and the new id is a known supergroup.
    Migrated(i64),
    /// 500 `Internal Server Error`. (teloxide sleeps 10 s on any 5xx before returning.)
    ServerError,
    /// The request is held and never answered (until the emulator is dropped, when
    /// the connection is cut).
    Hang,
    /// 400 `Bad Request: chat not found`.
    ChatNotFound,
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
            open_callbacks: HashSet::new(),
            method_faults: HashMap::new(),
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

    /// The bot's user id.
    pub fn bot_id(&self) -> i64 {
        self.state().bot_id
    }

    /// The bot's `User` object.
    pub fn bot_user(&self) -> Value {
        self.state().bot.clone()
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

    /// Sets who administers `chat_id`, for `getChatAdministrators` and `getChatMember`.
    /// Until this is called, a channel's only administrator is the bot (bots can be in
    /// channels only as administrators) and other chats have none.
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
            state.open_callbacks.insert(query_id.clone());
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

    /// With `true` (the default) a `&` in HTML that does not start one of the entities
    /// the Bot API decodes (`&lt; &gt; &amp; &quot; &#N; &#xH;`) is rejected as
    /// `can't parse entities`. The real API keeps such an `&` literally, and would
    /// decode `&lt` without `;` inside e.g. `?a=1&lt=2`; `false` behaves like it.
    pub fn set_strict_html(&self, strict: bool) {
        self.state().strict_html = strict;
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

    /// Ids of messages deleted with `deleteMessage` in `chat_id`, in order.
    pub fn deleted(&self, chat_id: i64) -> Vec<i64> {
        self.state()
            .deleted
            .get(&chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The current `Message` object (after edits) of a message, if it exists.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.state()
            .messages
            .get(&(chat_id, message_id))
            .map(|m| m.json.clone())
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

    /// Updates queued and not yet confirmed by a `getUpdates` offset.
    pub fn pending_updates(&self) -> usize {
        self.state().updates.len()
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

// ---------------------------------------------------------------------------------
// Emulated state
// ---------------------------------------------------------------------------------

struct Shared {
    state: Mutex<EmuState>,
    /// Woken by every new update and every new `getUpdates` call.
    updates_changed: Notify,
    /// Woken after every handled call.
    activity: Notify,
    shutdown: watch::Receiver<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, EmuState> {
        self.state.lock().expect("Bot API emulator state poisoned")
    }
}

struct EmuState {
    token: String,
    bot_id: i64,
    bot: Value,
    me: Value,
    strict_html: bool,
    chats: HashMap<i64, Value>,
    /// Every user seen in an update.
    users: HashMap<i64, Value>,
    /// Users seen writing in each chat.
    members: HashMap<i64, HashSet<i64>>,
    admins: HashMap<i64, Vec<i64>>,
    messages: HashMap<(i64, i64), StoredMessage>,
    next_message_ids: HashMap<i64, i64>,
    /// Updates not yet confirmed, in `update_id` order.
    updates: VecDeque<Value>,
    next_update_id: i64,
    /// Empty: the default set.
    allowed_updates: Vec<String>,
    /// Bumped by each `getUpdates`; an older call still waiting gets a 409.
    poll_generation: u64,
    open_callbacks: HashSet<String>,
    method_faults: HashMap<String, VecDeque<Fault>>,
    next_faults: HashMap<i64, VecDeque<Fault>>,
    permanent_faults: HashMap<i64, Fault>,
    /// Old group id → supergroup id.
    migrated: HashMap<i64, i64>,
    sent: HashMap<i64, Vec<SentMessage>>,
    edits: HashMap<i64, Vec<SentMessage>>,
    deleted: HashMap<i64, Vec<i64>>,
    calls: Vec<CallRecord>,
    send_times: HashMap<i64, Vec<Instant>>,
    /// (scope key, language code) → `BotCommand` objects.
    commands: HashMap<(String, String), Vec<Value>>,
}

struct StoredMessage {
    json: Value,
    by_bot: bool,
}

struct CallRecord {
    method: String,
    params: Value,
    /// The error description, once the call failed.
    error: Option<String>,
}

type Params = Map<String, Value>;
type Outcome = Result<Value, Failure>;

enum Failure {
    Api {
        code: u16,
        description: String,
        parameters: Option<Value>,
    },
    Hang,
}

impl Failure {
    fn api(code: u16, description: impl Into<String>) -> Failure {
        Failure::Api {
            code,
            description: description.into(),
            parameters: None,
        }
    }

    fn bad_request(detail: impl AsRef<str>) -> Failure {
        Failure::api(400, format!("Bad Request: {}", detail.as_ref()))
    }

    fn chat_not_found() -> Failure {
        Failure::bad_request("chat not found")
    }

    fn migrated(to: i64) -> Failure {
        Failure::Api {
            code: 400,
            description: "Bad Request: group chat was upgraded to a supergroup chat".into(),
            parameters: Some(json!({ "migrate_to_chat_id": to })),
        }
    }
}

/// The parsed `text` of a send or edit.
struct Content {
    html: String,
    text: String,
    entities: Vec<Value>,
    parse_mode: Option<String>,
}

impl EmuState {
    fn dispatch(&mut self, method: &str, params: &Params) -> Outcome {
        match method {
            "getMe" => Ok(self.me.clone()),
            "getWebhookInfo" => Ok(json!({
                "url": "",
                "has_custom_certificate": false,
                "pending_update_count": self.updates.len(),
            })),
            "deleteWebhook" => {
                if param_bool(params, "drop_pending_updates") {
                    self.updates.clear();
                }
                Ok(json!(true))
            }
            "sendMessage" => self.send_message(params),
            "editMessageText" => self.edit_message_text(params),
            "editMessageReplyMarkup" => self.edit_message_reply_markup(params),
            "deleteMessage" => self.delete_message(params),
            "sendChatAction" => {
                let chat_id = self.chat_param(params)?;
                self.writable_chat(chat_id)?;
                Ok(json!(true))
            }
            "setMyCommands" => self.set_my_commands(params),
            "getMyCommands" => {
                let key = self.commands_key_param(params)?;
                Ok(Value::Array(
                    self.commands.get(&key).cloned().unwrap_or_default(),
                ))
            }
            "deleteMyCommands" => {
                let key = self.commands_key_param(params)?;
                self.commands.remove(&key);
                Ok(json!(true))
            }
            "getChat" => {
                let chat_id = self.chat_param(params)?;
                let chat = self
                    .chats
                    .get(&chat_id)
                    .ok_or_else(Failure::chat_not_found)?;
                Ok(full_chat_info(chat))
            }
            "getChatAdministrators" => self.get_chat_administrators(params),
            "getChatMember" => self.get_chat_member(params),
            "answerCallbackQuery" => {
                let id = param_str(params, "callback_query_id").unwrap_or_default();
                if self.open_callbacks.remove(&id) {
                    Ok(json!(true))
                } else {
                    Err(Failure::bad_request(
                        "query is too old and response timeout expired or query id is invalid",
                    ))
                }
            }
            _ => Err(Failure::api(404, "Not Found")),
        }
    }

    fn send_message(&mut self, params: &Params) -> Outcome {
        let chat_id = self.chat_param(params)?;
        self.send_times
            .entry(chat_id)
            .or_default()
            .push(Instant::now());
        self.check_faults(chat_id)?;
        let chat = self.writable_chat(chat_id)?;
        let content = self.content(params, false)?;
        let reply_to = self.reply_target(chat_id, params)?;
        let markup = inline_markup(params)?;

        let message_id = self.next_message_id(chat_id);
        let mut message = self.bot_message(&chat, message_id);
        message["text"] = json!(content.text);
        if !content.entities.is_empty() {
            message["entities"] = json!(content.entities);
        }
        if let Some(options) = params.get("link_preview_options").filter(|v| !v.is_null()) {
            message["link_preview_options"] = options.clone();
        }
        if let Some(markup) = markup {
            message["reply_markup"] = markup;
        }
        if let Some(reply_to) = &reply_to {
            message["reply_to_message"] = reply_to.clone();
        }
        if let Some(thread) = param_i64(params, "message_thread_id") {
            message["message_thread_id"] = json!(thread);
        }
        self.messages.insert(
            (chat_id, message_id),
            StoredMessage {
                json: message.clone(),
                by_bot: true,
            },
        );
        let record = sent_record(chat_id, message_id, content, params, reply_to.is_some());
        self.sent.entry(chat_id).or_default().push(record);
        Ok(message)
    }

    fn edit_message_text(&mut self, params: &Params) -> Outcome {
        let (chat_id, message_id) = self.editable_target(params)?;
        let content = self.content(params, true)?;
        let markup = inline_markup(params)?;
        let stored = self.editable_message(chat_id, message_id)?;
        let old = &stored.json;
        let old_entities = old.get("entities").cloned().unwrap_or_else(|| json!([]));
        if old["text"] == content.text
            && old_entities == json!(content.entities)
            && old.get("reply_markup") == markup.as_ref()
        {
            return Err(Failure::bad_request(NOT_MODIFIED));
        }
        let message = &mut stored.json;
        message["text"] = json!(content.text);
        set_or_remove(
            message,
            "entities",
            Some(json!(content.entities)).filter(|_| !content.entities.is_empty()),
        );
        set_or_remove(message, "reply_markup", markup);
        set_or_remove(
            message,
            "link_preview_options",
            params
                .get("link_preview_options")
                .filter(|v| !v.is_null())
                .cloned(),
        );
        message["edit_date"] = json!(unix_now());
        let message = message.clone();
        let record = sent_record(chat_id, message_id, content, params, false);
        self.edits.entry(chat_id).or_default().push(record);
        Ok(message)
    }

    fn edit_message_reply_markup(&mut self, params: &Params) -> Outcome {
        let (chat_id, message_id) = self.editable_target(params)?;
        let markup = inline_markup(params)?;
        let stored = self.editable_message(chat_id, message_id)?;
        if stored.json.get("reply_markup") == markup.as_ref() {
            return Err(Failure::bad_request(NOT_MODIFIED));
        }
        set_or_remove(&mut stored.json, "reply_markup", markup);
        stored.json["edit_date"] = json!(unix_now());
        Ok(stored.json.clone())
    }

    /// The chat and message an edit names, after faults and chat checks.
    fn editable_target(&mut self, params: &Params) -> Result<(i64, i64), Failure> {
        if params.contains_key("inline_message_id") {
            return Err(Failure::bad_request("MESSAGE_ID_INVALID"));
        }
        let chat_id = self.chat_param(params)?;
        self.check_faults(chat_id)?;
        self.writable_chat(chat_id)?;
        let message_id = param_i64(params, "message_id")
            .ok_or_else(|| Failure::bad_request("message identifier is not specified"))?;
        Ok((chat_id, message_id))
    }

    fn editable_message(
        &mut self,
        chat_id: i64,
        message_id: i64,
    ) -> Result<&mut StoredMessage, Failure> {
        let stored = self
            .messages
            .get_mut(&(chat_id, message_id))
            .ok_or_else(|| Failure::bad_request("message to edit not found"))?;
        if stored.by_bot {
            Ok(stored)
        } else {
            Err(Failure::bad_request("message can't be edited"))
        }
    }

    fn delete_message(&mut self, params: &Params) -> Outcome {
        let chat_id = self.chat_param(params)?;
        self.writable_chat(chat_id)?;
        let message_id = param_i64(params, "message_id")
            .ok_or_else(|| Failure::bad_request("message identifier is not specified"))?;
        if self.messages.remove(&(chat_id, message_id)).is_none() {
            return Err(Failure::bad_request("message to delete not found"));
        }
        self.deleted.entry(chat_id).or_default().push(message_id);
        Ok(json!(true))
    }

    fn set_my_commands(&mut self, params: &Params) -> Outcome {
        let commands = match params.get("commands") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(commands)) => commands.clone(),
            Some(_) => return Err(Failure::bad_request("can't parse commands JSON object")),
        };
        if commands.len() > 100 {
            return Err(Failure::bad_request("BOT_COMMANDS_TOO_MUCH"));
        }
        for command in &commands {
            let Some(name) = command.get("command").and_then(Value::as_str) else {
                return Err(Failure::bad_request(
                    "can't parse BotCommand: Can't find field \"command\"",
                ));
            };
            let Some(description) = command.get("description").and_then(Value::as_str) else {
                return Err(Failure::bad_request(
                    "can't parse BotCommand: Can't find field \"description\"",
                ));
            };
            let valid_name = (1..=32).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name {
                return Err(Failure::bad_request("BOT_COMMAND_INVALID"));
            }
            if description.trim().is_empty() {
                return Err(Failure::bad_request(
                    "command description must be non-empty",
                ));
            }
            if description.chars().count() > 256 {
                return Err(Failure::bad_request("BOT_COMMAND_DESCRIPTION_INVALID"));
            }
        }
        let key = self.commands_key_param(params)?;
        if commands.is_empty() {
            self.commands.remove(&key);
        } else {
            self.commands.insert(key, commands);
        }
        Ok(json!(true))
    }

    fn commands_key_param(&self, params: &Params) -> Result<(String, String), Failure> {
        let scope = params.get("scope").filter(|v| !v.is_null());
        let language = param_str(params, "language_code").unwrap_or_default();
        self.commands_key(scope, &language)
    }

    /// A canonical key for a `BotCommandScope` (chat ids resolved) and a language.
    fn commands_key(
        &self,
        scope: Option<&Value>,
        language: &str,
    ) -> Result<(String, String), Failure> {
        let scope_key = match scope {
            None => "default".to_owned(),
            Some(scope) => {
                let kind = scope["type"].as_str().unwrap_or("default");
                match kind {
                    "chat" | "chat_administrators" => {
                        format!("{kind}:{}", self.resolve_chat(&scope["chat_id"])?)
                    }
                    "chat_member" => format!(
                        "{kind}:{}:{}",
                        self.resolve_chat(&scope["chat_id"])?,
                        scope["user_id"].as_i64().unwrap_or_default()
                    ),
                    other => other.to_owned(),
                }
            }
        };
        Ok((scope_key, language.to_owned()))
    }

    fn get_chat_administrators(&self, params: &Params) -> Outcome {
        let chat_id = self.chat_param(params)?;
        let chat = self
            .chats
            .get(&chat_id)
            .ok_or_else(Failure::chat_not_found)?;
        let kind = chat["type"].as_str().unwrap_or_default();
        if kind == "private" {
            return Err(Failure::bad_request(
                "there are no administrators in the private chat",
            ));
        }
        let admins = self.admins_of(chat_id, kind);
        Ok(admins
            .iter()
            .map(|&id| administrator(self.user_json(id), kind))
            .collect())
    }

    fn get_chat_member(&self, params: &Params) -> Outcome {
        let chat_id = self.chat_param(params)?;
        let chat = self
            .chats
            .get(&chat_id)
            .ok_or_else(Failure::chat_not_found)?;
        let kind = chat["type"].as_str().unwrap_or_default();
        let user_id = param_i64(params, "user_id")
            .ok_or_else(|| Failure::bad_request("invalid user_id specified"))?;
        let user = self.user_json(user_id);
        if self.admins_of(chat_id, kind).contains(&user_id) {
            return Ok(administrator(user, kind));
        }
        let is_member = if kind == "private" {
            user_id == chat_id || user_id == self.bot_id
        } else {
            self.members
                .get(&chat_id)
                .is_some_and(|m| m.contains(&user_id))
                || (user_id == self.bot_id && kind != "channel")
        };
        Ok(json!({ "user": user, "status": if is_member { "member" } else { "left" } }))
    }

    fn admins_of(&self, chat_id: i64, kind: &str) -> Vec<i64> {
        match self.admins.get(&chat_id) {
            Some(admins) => admins.clone(),
            None if kind == "channel" => vec![self.bot_id],
            None => Vec::new(),
        }
    }

    /// Parses and checks the `text` of a send or edit.
    fn content(&self, params: &Params, for_edit: bool) -> Result<Content, Failure> {
        let html = param_str(params, "text").unwrap_or_default();
        let parse_mode = param_str(params, "parse_mode").filter(|mode| !mode.is_empty());
        let (text, entities) = match parse_mode.as_deref() {
            None => {
                let entities = params
                    .get("entities")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                (html.clone(), entities)
            }
            Some(mode) if mode.eq_ignore_ascii_case("html") => {
                let cant_parse = |detail: String| {
                    Failure::bad_request(format!("can't parse entities: {detail}"))
                };
                if self.strict_html
                    && let Some(offset) = bare_ampersand(&html)
                {
                    return Err(cant_parse(format!(
                        "Unescaped \"&\" at byte offset {offset} (strict check of the test emulator: write \"&amp;\")"
                    )));
                }
                let parsed = parse_html(&html).map_err(cant_parse)?;
                let entities = parsed
                    .entities
                    .into_iter()
                    .map(|e| self.with_known_user(e))
                    .collect();
                (parsed.text, entities)
            }
            Some(_) => {
                return Err(Failure::bad_request(
                    "unsupported parse_mode (the test emulator implements only HTML)",
                ));
            }
        };
        let (text, entities) = trim_text(&text, entities);
        if text.is_empty() {
            return Err(Failure::bad_request("message text is empty"));
        }
        if utf16_len(&text) > MAX_TEXT_UTF16 {
            return Err(Failure::bad_request(if for_edit {
                "MESSAGE_TOO_LONG"
            } else {
                "message is too long"
            }));
        }
        Ok(Content {
            html,
            text,
            entities,
            parse_mode,
        })
    }

    /// A `text_mention` names the user as the emulator knows them.
    fn with_known_user(&self, mut entity: Value) -> Value {
        if entity["type"] == "text_mention"
            && let Some(known) = entity["user"]["id"]
                .as_i64()
                .and_then(|id| self.users.get(&id))
        {
            entity["user"] = known.clone();
        }
        entity
    }

    fn reply_target(&self, chat_id: i64, params: &Params) -> Result<Option<Value>, Failure> {
        let reply = params.get("reply_parameters").filter(|v| v.is_object());
        let message_id = reply
            .and_then(|r| r.get("message_id"))
            .and_then(Value::as_i64)
            .or_else(|| param_i64(params, "reply_to_message_id"));
        let Some(message_id) = message_id else {
            return Ok(None);
        };
        let allow_missing = reply
            .and_then(|r| r.get("allow_sending_without_reply"))
            .and_then(Value::as_bool)
            .unwrap_or_else(|| param_bool(params, "allow_sending_without_reply"));
        match self.messages.get(&(chat_id, message_id)) {
            Some(stored) => Ok(Some(stored.json.clone())),
            None if allow_missing => Ok(None),
            None => Err(Failure::bad_request("message to be replied not found")),
        }
    }

    /// The chat a call's `chat_id` names (an integer, or `@username` of a known chat).
    fn chat_param(&self, params: &Params) -> Result<i64, Failure> {
        match params.get("chat_id") {
            None | Some(Value::Null) => Err(Failure::bad_request("chat_id is empty")),
            Some(value) => self.resolve_chat(value),
        }
    }

    fn resolve_chat(&self, value: &Value) -> Result<i64, Failure> {
        match value {
            Value::Number(number) => number.as_i64().ok_or_else(Failure::chat_not_found),
            Value::String(text) => match text.strip_prefix('@') {
                Some(username) => self
                    .chats
                    .iter()
                    .find(|(_, chat)| {
                        chat["username"]
                            .as_str()
                            .is_some_and(|u| u.eq_ignore_ascii_case(username))
                    })
                    .map(|(&id, _)| id)
                    .ok_or_else(Failure::chat_not_found),
                None => text.trim().parse().map_err(|_| Failure::chat_not_found()),
            },
            _ => Err(Failure::chat_not_found()),
        }
    }

    /// The chat, if the bot can write there at all.
    fn writable_chat(&self, chat_id: i64) -> Result<Value, Failure> {
        if let Some(chat) = self.chats.get(&chat_id) {
            return Ok(chat.clone());
        }
        if self.users.contains_key(&chat_id) {
            // Seen in a group, but never started a private chat with the bot.
            return Err(Failure::api(
                403,
                "Forbidden: bot can't initiate conversation with a user",
            ));
        }
        Err(Failure::chat_not_found())
    }

    fn check_faults(&mut self, chat_id: i64) -> Result<(), Failure> {
        if let Some(&to) = self.migrated.get(&chat_id) {
            return Err(Failure::migrated(to));
        }
        let fault = self
            .next_faults
            .get_mut(&chat_id)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.permanent_faults.get(&chat_id).cloned());
        match fault {
            Some(fault) => Err(self.apply_fault(fault, Some(chat_id))),
            None => Ok(()),
        }
    }

    fn apply_fault(&mut self, fault: Fault, chat_id: Option<i64>) -> Failure {
        let chat_kind = match chat_id
            .and_then(|id| self.chats.get(&id))
            .and_then(|c| c["type"].as_str())
        {
            Some(kind @ ("supergroup" | "channel")) => kind.to_owned(),
            _ => "group".to_owned(),
        };
        match fault {
            Fault::RetryAfter(seconds) => Failure::Api {
                code: 429,
                description: format!("Too Many Requests: retry after {seconds}"),
                parameters: Some(json!({ "retry_after": seconds })),
            },
            Fault::Blocked => Failure::api(403, "Forbidden: bot was blocked by the user"),
            Fault::Kicked => Failure::api(
                403,
                format!("Forbidden: bot was kicked from the {chat_kind} chat"),
            ),
            Fault::NotMember => Failure::api(
                403,
                format!("Forbidden: bot is not a member of the {chat_kind} chat"),
            ),
            Fault::NotAdminInChannel => {
                Failure::bad_request("need administrator rights in the channel chat")
            }
            Fault::Migrated(to) => {
                if let Some(from) = chat_id {
                    self.migrate(from, to);
                }
                Failure::migrated(to)
            }
            Fault::ServerError => Failure::api(500, "Internal Server Error"),
            Fault::Hang => Failure::Hang,
            Fault::ChatNotFound => Failure::chat_not_found(),
            Fault::Api { code, description } => Failure::api(code, description),
        }
    }

    /// Turns group `from` into supergroup `to`, as Telegram does on upgrade.
    fn migrate(&mut self, from: i64, to: i64) {
        self.migrated.insert(from, to);
        if !self.chats.contains_key(&to) {
            let mut chat = self
                .chats
                .get(&from)
                .cloned()
                .unwrap_or_else(|| json!({ "title": "" }));
            chat["id"] = json!(to);
            chat["type"] = json!("supergroup");
            self.chats.insert(to, chat);
        }
        if let Some(admins) = self.admins.get(&from).cloned() {
            self.admins.entry(to).or_insert(admins);
        }
        if let Some(members) = self.members.get(&from).cloned() {
            self.members.entry(to).or_default().extend(members);
        }
    }

    fn bot_message(&self, chat: &Value, message_id: i64) -> Value {
        let mut message = json!({ "message_id": message_id, "date": unix_now(), "chat": chat });
        if chat["type"] == "channel" {
            message["sender_chat"] = chat.clone();
        } else {
            message["from"] = self.bot.clone();
        }
        message
    }

    fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let next = self.next_message_ids.entry(chat_id).or_insert(0);
        *next += 1;
        *next
    }

    fn push_update(&mut self, kind: &str, payload: Value) -> i64 {
        let update_id = self.next_update_id;
        self.next_update_id += 1;
        let mut update = Map::new();
        update.insert("update_id".into(), json!(update_id));
        update.insert(kind.into(), payload);
        self.updates.push_back(Value::Object(update));
        update_id
    }

    /// Forgets updates confirmed by `offset` (or all but the last `-offset`).
    fn confirm_updates(&mut self, offset: Option<i64>) {
        match offset {
            Some(offset) if offset > 0 => self
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset),
            Some(offset) if offset < 0 => {
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                while self.updates.len() > keep {
                    self.updates.pop_front();
                }
            }
            _ => {}
        }
    }

    /// Drops queued updates of types not allowed, then returns up to `limit`.
    fn deliverable_updates(&mut self, limit: usize) -> Vec<Value> {
        let allowed = &self.allowed_updates;
        self.updates.retain(|update| {
            let kind = update
                .as_object()
                .and_then(|u| u.keys().find(|k| *k != "update_id"));
            match kind {
                Some(kind) if allowed.is_empty() => !NOT_DEFAULT_UPDATES.contains(&kind.as_str()),
                Some(kind) => allowed.contains(kind),
                None => false,
            }
        });
        self.updates.iter().take(limit).cloned().collect()
    }

    fn note_user(&mut self, from: &Value, context: &str) -> i64 {
        let id = from["id"].as_i64().unwrap_or_else(|| {
            panic!("{context}: `from` must be a User object with a numeric id, got {from}")
        });
        self.users.insert(id, from.clone());
        id
    }

    fn user_json(&self, user_id: i64) -> Value {
        if user_id == self.bot_id {
            return self.bot.clone();
        }
        self.users
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| user(user_id, &format!("User {user_id}")))
    }

    fn record_call(&mut self, method: &str, params: &Params) -> usize {
        self.calls.push(CallRecord {
            method: method.to_owned(),
            params: Value::Object(params.clone()),
            error: None,
        });
        self.calls.len() - 1
    }

    /// What `wait_sent` reports when it gives up.
    fn describe_chat(&self, chat_id: i64, n: usize, timeout: Duration) -> String {
        let sent = self
            .sent
            .get(&chat_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut report = format!(
            "wait_sent: timed out after {timeout:?} waiting for {n} message(s) in chat {chat_id}; {} sent",
            sent.len()
        );
        for message in sent {
            report.push_str(&format!("\n  #{}: {:?}", message.message_id, message.text));
        }
        let failed: Vec<_> = self
            .calls
            .iter()
            .filter(|call| {
                call.method == "sendMessage"
                    && call.error.is_some()
                    && self.resolve_chat(&call.params["chat_id"]).ok() == Some(chat_id)
            })
            .collect();
        if !failed.is_empty() {
            report.push_str(&format!(
                "\nfailed sendMessage calls to this chat: {}",
                failed.len()
            ));
            for call in failed {
                let error = call.error.as_deref().unwrap_or_default();
                report.push_str(&format!("\n  {error} ← text {:?}", call.params["text"]));
            }
        }
        let mut others: Vec<_> = self
            .sent
            .iter()
            .filter(|(id, m)| **id != chat_id && !m.is_empty())
            .collect();
        others.sort_by_key(|(id, _)| **id);
        for (id, messages) in others {
            report.push_str(&format!(
                "\n(chat {id} has {} sent message(s))",
                messages.len()
            ));
        }
        report
    }
}

fn sent_record(
    chat_id: i64,
    message_id: i64,
    content: Content,
    params: &Params,
    replied: bool,
) -> SentMessage {
    let reply_to_message_id = params
        .get("reply_parameters")
        .and_then(|r| r.get("message_id"))
        .and_then(Value::as_i64)
        .or_else(|| param_i64(params, "reply_to_message_id"))
        .filter(|_| replied);
    SentMessage {
        chat_id,
        message_id,
        html: content.html,
        text: content.text,
        entities: content.entities,
        parse_mode: content.parse_mode,
        reply_markup: params.get("reply_markup").filter(|v| !v.is_null()).cloned(),
        link_preview_options: params
            .get("link_preview_options")
            .filter(|v| !v.is_null())
            .cloned(),
        disable_notification: param_bool(params, "disable_notification"),
        protect_content: param_bool(params, "protect_content"),
        message_thread_id: param_i64(params, "message_thread_id"),
        reply_to_message_id,
        params: Value::Object(params.clone()),
    }
}

/// The inline keyboard to show on the message (other keyboards are not part of a
/// `Message`); checks `callback_data` sizes as Telegram does.
fn inline_markup(params: &Params) -> Result<Option<Value>, Failure> {
    let Some(markup) = params.get("reply_markup").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        return Ok(None);
    };
    let buttons = rows.iter().filter_map(Value::as_array).flatten();
    for button in buttons {
        if let Some(data) = button.get("callback_data").and_then(Value::as_str)
            && (data.is_empty() || data.len() > MAX_CALLBACK_DATA_BYTES)
        {
            return Err(Failure::bad_request("BUTTON_DATA_INVALID"));
        }
    }
    Ok(Some(markup.clone()))
}

fn set_or_remove(object: &mut Value, key: &str, value: Option<Value>) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    match value {
        Some(value) => object.insert(key.to_owned(), value),
        None => object.remove(key),
    };
}

fn private_chat_of(user: &Value) -> Value {
    let mut chat = json!({ "id": user["id"], "type": "private" });
    for field in ["first_name", "last_name", "username"] {
        if let Some(value) = user.get(field) {
            chat[field] = value.clone();
        }
    }
    chat
}

/// A `ChatFullInfo` for `getChat`: the chat plus the fields that are always present.
fn full_chat_info(chat: &Value) -> Value {
    let mut info = chat.clone();
    info["accent_color_id"] = json!(0);
    info["max_reaction_count"] = json!(11);
    info["accepted_gift_types"] = json!({
        "unlimited_gifts": false,
        "limited_gifts": false,
        "unique_gifts": false,
        "premium_subscription": false,
    });
    info
}

/// A `ChatMemberAdministrator` with every right.
fn administrator(user: Value, chat_kind: &str) -> Value {
    let mut member = json!({
        "user": user,
        "status": "administrator",
        "can_be_edited": false,
        "is_anonymous": false,
        "can_manage_chat": true,
        "can_delete_messages": true,
        "can_manage_video_chats": true,
        "can_restrict_members": true,
        "can_promote_members": false,
        "can_change_info": true,
        "can_invite_users": true,
        "can_post_stories": true,
        "can_edit_stories": true,
        "can_delete_stories": true,
    });
    if chat_kind == "channel" {
        member["can_post_messages"] = json!(true);
        member["can_edit_messages"] = json!(true);
    } else {
        member["can_pin_messages"] = json!(true);
        if chat_kind == "supergroup" {
            member["can_manage_topics"] = json!(false);
        }
    }
    member
}

// ---------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some((token, method_name)) = parts
        .uri
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return failure_response(Failure::api(404, "Not Found"));
    };
    if token != shared.lock().token {
        return failure_response(Failure::api(401, "Unauthorized"));
    }
    let Some(method) = canonical_method(method_name) else {
        return failure_response(Failure::api(404, "Not Found"));
    };
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(_) => return failure_response(Failure::bad_request("can't read the request body")),
    };
    let params = match parse_params(&parts.headers, parts.uri.query(), &body) {
        Ok(params) => params,
        Err(failure) => return failure_response(failure),
    };

    let (index, method_fault) = {
        let mut state = shared.lock();
        let index = state.record_call(method, &params);
        let fault = state
            .method_faults
            .get_mut(method)
            .and_then(VecDeque::pop_front);
        (index, fault.map(|fault| state.apply_fault(fault, None)))
    };
    let outcome = match method_fault {
        Some(failure) => Err(failure),
        None if method == "getUpdates" => get_updates(&shared, &params).await,
        None => shared.lock().dispatch(method, &params),
    };
    if let Err(Failure::Api { description, .. }) = &outcome {
        shared.lock().calls[index].error = Some(description.clone());
    }
    shared.activity.notify_waiters();

    match outcome {
        Ok(result) => Json(json!({ "ok": true, "result": result })).into_response(),
        Err(Failure::Hang) => hang_until_shutdown(shared.shutdown.clone()).await,
        Err(failure) => failure_response(failure),
    }
}

/// Long polling: answers as soon as updates are deliverable or `timeout` passes; a
/// newer `getUpdates` call ends an older waiting one with 409 Conflict.
async fn get_updates(shared: &Shared, params: &Params) -> Outcome {
    let limit = param_i64(params, "limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(param_i64(params, "timeout").unwrap_or(0).max(0) as u64);
    let allowed = params
        .get("allowed_updates")
        .and_then(Value::as_array)
        .map(|kinds| {
            kinds
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
    let generation = {
        let mut state = shared.lock();
        state.poll_generation += 1;
        if let Some(allowed) = allowed {
            state.allowed_updates = allowed;
        }
        state.confirm_updates(param_i64(params, "offset"));
        state.poll_generation
    };
    shared.updates_changed.notify_waiters();

    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = shared.updates_changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.poll_generation != generation {
                return Err(Failure::api(409, CONFLICT));
            }
            let updates = state.deliverable_updates(limit);
            if !updates.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Value::Array(updates));
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// Holds the request until the emulator is dropped, then cuts the connection without
/// answering: unwinding out of the connection task (with `resume_unwind`, which runs
/// no panic hook and so prints nothing) makes the server close the socket.
async fn hang_until_shutdown(mut shutdown: watch::Receiver<()>) -> Response {
    while shutdown.changed().await.is_ok() {}
    std::panic::resume_unwind(Box::new(
        "Bot API emulator dropped while a request was hanging",
    ))
}

fn failure_response(failure: Failure) -> Response {
    let Failure::Api {
        code,
        description,
        parameters,
    } = failure
    else {
        unreachable!("a hanging request gets no response");
    };
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

/// Method names are case-insensitive, as in the real API.
fn canonical_method(name: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|method| method.eq_ignore_ascii_case(name))
}

/// Query string plus a JSON, form-urlencoded or multipart body. Form and multipart
/// values holding JSON objects, arrays or booleans are decoded.
fn parse_params(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Params, Failure> {
    let mut params = Params::new();
    if let Some(query) = query {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            params.insert(name.into_owned(), loose_value(&value));
        }
    }
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => params.extend(object),
            _ => return Err(Failure::bad_request("can't parse JSON object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (name, value) in url::form_urlencoded::parse(body) {
            params.insert(name.into_owned(), loose_value(&value));
        }
    } else if content_type.starts_with("multipart/form-data") {
        // The boundary is case-sensitive: take it from the header as sent.
        let sent_type = headers[header::CONTENT_TYPE].to_str().unwrap_or_default();
        let boundary = sent_type
            .split(';')
            .map(str::trim)
            .find(|part| {
                part.get(..9)
                    .is_some_and(|name| name.eq_ignore_ascii_case("boundary="))
            })
            .map(|part| part[9..].trim_matches('"'))
            .ok_or_else(|| Failure::bad_request("multipart boundary is missing"))?;
        for (name, value) in multipart_fields(body, boundary) {
            params.insert(name, loose_value(&value));
        }
    } else {
        return Err(Failure::bad_request(format!(
            "unsupported Content-Type {content_type:?}"
        )));
    }
    Ok(params)
}

fn loose_value(text: &str) -> Value {
    let trimmed = text.trim_start();
    let looks_like_json =
        trimmed.starts_with('{') || trimmed.starts_with('[') || text == "true" || text == "false";
    if looks_like_json && let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    Value::String(text.to_owned())
}

/// The named parts of a multipart body, as (lossy) text.
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, value) = part.split_once("\r\n\r\n")?;
            let disposition = head
                .lines()
                .find(|line| line.to_ascii_lowercase().starts_with("content-disposition"))?;
            let name = disposition
                .split(';')
                .find_map(|p| p.trim().strip_prefix("name="))?;
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            Some((name.trim_matches('"').to_owned(), value.to_owned()))
        })
        .collect()
}

fn param_str(params: &Params, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn param_i64(params: &Params, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn param_bool(params: &Params, name: &str) -> bool {
    match params.get(name) {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "true" || text == "1",
        Some(Value::Number(number)) => number.as_i64() == Some(1),
        _ => false,
    }
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("Unix time fits in i64")
}

// ---------------------------------------------------------------------------------
// Text: HTML parse mode, trimming, lengths
// ---------------------------------------------------------------------------------

/// Length in UTF-16 code units, the unit of Telegram's offsets and limits.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The text and entities Telegram derives from an HTML-formatted message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedHtml {
    pub text: String,
    /// `MessageEntity` objects, sorted as Telegram sorts them.
    pub entities: Vec<Value>,
}

const SUPPORTED_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// Parses `parse_mode=HTML` text following the Bot API server (tdlib's `parse_html`):
/// the same accepted tags and attributes, entity decoding (`&lt; &gt; &amp; &quot;`,
/// `&#N;`, `&#xH;`; anything else after `&` stays literal), and the same error
/// details, e.g. `Unsupported start tag "script" at byte offset 12` or `Can't find end
/// tag corresponding to start tag "b"` (the API prefixes them with
/// `Bad Request: can't parse entities: `). Not emulated: link normalisation beyond
/// scheme/host/`/`, and entities Telegram detects by itself (URLs, mentions, …).
pub fn parse_html(html: &str) -> Result<ParsedHtml, String> {
    let text = html.as_bytes();
    // Like tdlib's NUL-terminated strings: reading past the end yields 0.
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut utf16 = 0;
    let mut open: Vec<OpenTag> = Vec::new();
    let mut entities: Vec<RawEntity> = Vec::new();

    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'&'
            && let Some((code, next)) = decode_html_entity(text, i)
        {
            let decoded = char::from_u32(code).ok_or_else(|| {
                "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched \
                 surrogate code units"
                    .to_owned()
            })?;
            utf16 += decoded.len_utf16();
            out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
            i = next;
            continue;
        }
        if c != b'<' {
            if c & 0xC0 != 0x80 {
                utf16 += if c >= 0xF0 { 2 } else { 1 };
            }
            out.push(c);
            i += 1;
            continue;
        }

        let begin = i;
        i += 1;
        if at(i) != b'/' {
            // A start tag.
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if at(i) == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let tag = ascii_lower(&text[begin + 1..i]);
            if !SUPPORTED_TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let mut argument = String::new();
            while at(i) != b'>' {
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let name_begin = i;
                while !is_space(at(i)) && !matches!(at(i), b'=' | b'>' | b'/' | b'"' | b'\'') {
                    i += 1;
                }
                let name = &text[name_begin..i];
                if name.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' {
                    if at(i) == 0 {
                        return Err(format!(
                            "Unclosed start tag \"{tag}\" at byte offset {begin}"
                        ));
                    }
                    if tag == "blockquote" && name == b"expandable" {
                        argument = "1".into();
                    }
                    continue;
                }
                i += 1;
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == 0 {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                let value = if at(i) != b'\'' && at(i) != b'"' {
                    // A name token: letters, digits, periods and hyphens; case-insensitive.
                    let token_begin = i;
                    while at(i).is_ascii_alphanumeric() || at(i) == b'.' || at(i) == b'-' {
                        i += 1;
                    }
                    if !is_space(at(i)) && at(i) != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_begin}"
                        ));
                    }
                    ascii_lower(&text[token_begin..i])
                } else {
                    let quote = at(i);
                    i += 1;
                    let mut value = Vec::new();
                    while at(i) != quote && at(i) != 0 {
                        if at(i) == b'&'
                            && let Some((code, next)) = decode_html_entity(text, i)
                        {
                            let decoded =
                                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                            value.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                            i = next;
                            continue;
                        }
                        value.push(at(i));
                        i += 1;
                    }
                    if at(i) == quote {
                        i += 1;
                    }
                    String::from_utf8_lossy(&value).into_owned()
                };
                if at(i) == 0 {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (tag.as_str(), name) {
                    ("a", b"href") | ("tg-emoji", b"emoji-id") => argument = value,
                    ("code", b"class") if value.starts_with("language-") => {
                        argument = value["language-".len()..].to_owned();
                    }
                    ("span", b"class") if value.starts_with("tg-") => {
                        argument = value["tg-".len()..].to_owned()
                    }
                    ("blockquote", b"expandable") => argument = "1".into(),
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            open.push(OpenTag {
                tag,
                argument,
                utf16_offset: utf16,
                byte_offset: out.len(),
            });
        } else {
            // An end tag.
            if open.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_tag = ascii_lower(&text[begin + 2..i]);
            while is_space(at(i)) && at(i) != 0 {
                i += 1;
            }
            if at(i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            let top = open.pop().expect("checked that a tag is open");
            if !end_tag.is_empty() && end_tag != top.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_tag}>\"",
                    top.tag
                ));
            }
            if utf16 > top.utf16_offset {
                close_entity(&mut entities, top, utf16, &out)?;
            }
        }
        i += 1;
    }
    if let Some(top) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            top.tag
        ));
    }

    for entity in &mut entities {
        if entity.kind == EntityKind::Code {
            entity.argument.clear();
        }
    }
    entities.sort_by(|a, b| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(a.kind.priority().cmp(&b.kind.priority()))
    });
    Ok(ParsedHtml {
        text: String::from_utf8(out).expect("parse_html keeps UTF-8 intact"),
        entities: entities.iter().map(RawEntity::to_json).collect(),
    })
}

struct OpenTag {
    tag: String,
    argument: String,
    utf16_offset: usize,
    byte_offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntityKind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    PreCode,
    TextUrl,
    MentionName,
    CustomEmoji,
    BlockQuote,
    ExpandableBlockQuote,
}

impl EntityKind {
    /// tdlib's order for entities with the same offset and length.
    fn priority(self) -> u8 {
        match self {
            EntityKind::BlockQuote | EntityKind::ExpandableBlockQuote => 0,
            EntityKind::PreCode => 10,
            EntityKind::Pre => 11,
            EntityKind::Code => 20,
            EntityKind::TextUrl | EntityKind::MentionName => 49,
            EntityKind::Bold => 90,
            EntityKind::Italic => 91,
            EntityKind::Underline => 92,
            EntityKind::Strikethrough => 93,
            EntityKind::Spoiler => 94,
            EntityKind::CustomEmoji => 99,
        }
    }

    fn api_name(self) -> &'static str {
        match self {
            EntityKind::Bold => "bold",
            EntityKind::Italic => "italic",
            EntityKind::Underline => "underline",
            EntityKind::Strikethrough => "strikethrough",
            EntityKind::Spoiler => "spoiler",
            EntityKind::Code => "code",
            EntityKind::Pre | EntityKind::PreCode => "pre",
            EntityKind::TextUrl => "text_link",
            EntityKind::MentionName => "text_mention",
            EntityKind::CustomEmoji => "custom_emoji",
            EntityKind::BlockQuote => "blockquote",
            EntityKind::ExpandableBlockQuote => "expandable_blockquote",
        }
    }
}

struct RawEntity {
    kind: EntityKind,
    offset: usize,
    length: usize,
    /// URL, language, custom emoji id or user id, after the kind.
    argument: String,
}

impl RawEntity {
    fn to_json(&self) -> Value {
        let mut entity =
            json!({ "type": self.kind.api_name(), "offset": self.offset, "length": self.length });
        match self.kind {
            EntityKind::TextUrl => entity["url"] = json!(self.argument),
            EntityKind::PreCode => entity["language"] = json!(self.argument),
            EntityKind::CustomEmoji => entity["custom_emoji_id"] = json!(self.argument),
            EntityKind::MentionName => {
                let id: i64 = self
                    .argument
                    .parse()
                    .expect("a text_mention holds a numeric user id");
                entity["user"] = user(id, "");
            }
            _ => {}
        }
        entity
    }
}

/// Turns a closed, non-empty tag into an entity, as tdlib does.
fn close_entity(
    entities: &mut Vec<RawEntity>,
    tag: OpenTag,
    utf16_end: usize,
    out: &[u8],
) -> Result<(), String> {
    let offset = tag.utf16_offset;
    let length = utf16_end - offset;
    let same_span = |e: &RawEntity| e.offset == offset && e.length == length;
    let (kind, argument) = match tag.tag.as_str() {
        "i" | "em" => (EntityKind::Italic, String::new()),
        "b" | "strong" => (EntityKind::Bold, String::new()),
        "s" | "strike" | "del" => (EntityKind::Strikethrough, String::new()),
        "u" | "ins" => (EntityKind::Underline, String::new()),
        "tg-spoiler" | "span" => (EntityKind::Spoiler, String::new()),
        "tg-emoji" => match tag.argument.parse::<i64>() {
            Ok(id) if id != 0 => (EntityKind::CustomEmoji, id.to_string()),
            _ => return Err("Invalid custom emoji identifier specified".into()),
        },
        "a" => {
            let url = if tag.argument.is_empty() {
                String::from_utf8_lossy(&out[tag.byte_offset..]).into_owned()
            } else {
                tag.argument
            };
            if let Some(user_id) = link_user_id(&url) {
                (EntityKind::MentionName, user_id.to_string())
            } else if let Some(url) = checked_link(&url) {
                (EntityKind::TextUrl, url)
            } else {
                return Ok(());
            }
        }
        "pre" => {
            if let Some(last) = entities.last_mut()
                && last.kind == EntityKind::Code
                && same_span(last)
                && !last.argument.is_empty()
            {
                last.kind = EntityKind::PreCode;
                return Ok(());
            }
            (EntityKind::Pre, String::new())
        }
        "code" => {
            if let Some(last) = entities.last_mut()
                && last.kind == EntityKind::Pre
                && same_span(last)
                && !tag.argument.is_empty()
            {
                last.kind = EntityKind::PreCode;
                last.argument = tag.argument;
                return Ok(());
            }
            (EntityKind::Code, tag.argument)
        }
        "blockquote" if !tag.argument.is_empty() => {
            (EntityKind::ExpandableBlockQuote, String::new())
        }
        "blockquote" => (EntityKind::BlockQuote, String::new()),
        other => unreachable!("unsupported tag {other:?} was rejected when opened"),
    };
    entities.push(RawEntity {
        kind,
        offset,
        length,
        argument,
    });
    Ok(())
}

/// tdlib's `decode_html_entity`: the code point and the index after the entity.
fn decode_html_entity(text: &[u8], pos: usize) -> Option<(u32, usize)> {
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut end = pos + 1;
    let code: u64;
    if at(pos + 1) == b'#' {
        end += 1;
        let mut value: u64 = 0;
        if at(pos + 2) == b'x' {
            end += 1;
            while at(end).is_ascii_hexdigit() {
                let digit = char::from(at(end)).to_digit(16).expect("hex digit");
                value = value.saturating_mul(16).saturating_add(u64::from(digit));
                end += 1;
            }
        } else {
            while at(end).is_ascii_digit() {
                value = value
                    .saturating_mul(10)
                    .saturating_add(u64::from(at(end) - b'0'));
                end += 1;
            }
        }
        if value == 0 || value >= 0x10FFFF || end - pos >= 10 {
            return None;
        }
        code = value;
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match &text[pos + 1..end] {
            b"lt" => u64::from(b'<'),
            b"gt" => u64::from(b'>'),
            b"amp" => u64::from(b'&'),
            b"quot" => u64::from(b'"'),
            _ => return None,
        };
    }
    let next = if at(end) == b';' { end + 1 } else { end };
    Some((u32::try_from(code).expect("checked below 0x10FFFF"), next))
}

/// The byte offset of the first `&` that does not start a decodable entity.
fn bare_ampersand(html: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'&' && decode_html_entity(bytes, i).is_none())
}

/// tdlib's `is_space`, which counts the terminating NUL as space.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0B)
}

fn ascii_lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

/// `tg://user?id=123` (or `tg:user?id=123`) names a user.
fn link_user_id(url: &str) -> Option<i64> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("tg:")?;
    let query = rest.trim_start_matches('/').strip_prefix("user?")?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .and_then(|id| id.parse().ok())
        .filter(|&id: &i64| id > 0)
}

/// Roughly tdlib's link check: `tg:`/`ton:` links as they are; otherwise http(s)
/// with a host, `http://` added when no scheme is given, host lower-cased and an
/// empty path turned into `/`. Anything else makes no entity.
fn checked_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if ["tg:", "ton:", "tonsite:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        return Some(url.to_owned());
    }
    let (scheme, rest) = match lower.find("://") {
        Some(at) => (&lower[..at], &url[at + 3..]),
        None => ("http", url),
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Some(format!(
        "{scheme}://{}{slash}{tail}",
        host.to_ascii_lowercase()
    ))
}

/// Telegram trims leading and trailing whitespace; entities are clipped to match.
fn trim_text(text: &str, entities: Vec<Value>) -> (String, Vec<Value>) {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let trimmed = text.trim_matches(is_ws);
    if trimmed.len() == text.len() {
        return (text.to_owned(), entities);
    }
    let leading = utf16_len(&text[..text.len() - text.trim_start_matches(is_ws).len()]);
    let length = utf16_len(trimmed);
    let entities = entities
        .into_iter()
        .filter_map(|mut entity| {
            let offset = usize::try_from(entity["offset"].as_u64()?).ok()?;
            let end = offset + usize::try_from(entity["length"].as_u64()?).ok()?;
            let start = offset.max(leading) - leading;
            let end = end.min(leading + length).saturating_sub(leading);
            if end <= start {
                return None;
            }
            entity["offset"] = json!(start);
            entity["length"] = json!(end - start);
            Some(entity)
        })
        .collect();
    (trimmed.to_owned(), entities)
}
