//! The emulated Telegram side: chats, users, messages, updates, faults, and the Bot API
//! methods that read and change them.

use super::*;

pub(super) struct Shared {
    pub(super) state: Mutex<EmuState>,
    /// Woken by every new update and every new `getUpdates` call.
    pub(super) updates_changed: Notify,
    /// Woken after every handled call.
    pub(super) activity: Notify,
    pub(super) shutdown: watch::Receiver<()>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, EmuState> {
        self.state.lock().expect("Bot API emulator state poisoned")
    }
}

pub(super) struct EmuState {
    pub(super) token: String,
    pub(super) bot_id: i64,
    pub(super) bot: Value,
    pub(super) me: Value,
    pub(super) strict_html: bool,
    pub(super) chats: HashMap<i64, Value>,
    /// Every user seen in an update.
    pub(super) users: HashMap<i64, Value>,
    /// Users seen writing in each chat.
    pub(super) members: HashMap<i64, HashSet<i64>>,
    pub(super) admins: HashMap<i64, Vec<i64>>,
    pub(super) messages: HashMap<(i64, i64), StoredMessage>,
    pub(super) next_message_ids: HashMap<i64, i64>,
    /// Updates not yet confirmed, in `update_id` order.
    pub(super) updates: VecDeque<Value>,
    pub(super) next_update_id: i64,
    /// Empty: the default set.
    pub(super) allowed_updates: Vec<String>,
    /// Bumped by each `getUpdates`; an older call still waiting gets a 409.
    pub(super) poll_generation: u64,
    /// Callback queries not answered yet, with the time they were pressed.
    pub(super) open_callbacks: HashMap<String, Instant>,
    /// Telegram's flood limits are enforced (see `BotApi::allow_flooding`).
    pub(super) flood_control: bool,
    /// When each accepted `sendMessage` was, and to which chat (for flood control).
    pub(super) accepted_sends: VecDeque<(Instant, i64)>,
    /// (method, chat id) → how long the next such call waits before it is handled.
    pub(super) delays: HashMap<(String, i64), Duration>,
    /// Chats the bot has left or was removed from.
    pub(super) bot_left: HashSet<i64>,
    pub(super) method_faults: HashMap<String, VecDeque<Fault>>,
    pub(super) next_faults: HashMap<i64, VecDeque<Fault>>,
    pub(super) permanent_faults: HashMap<i64, Fault>,
    /// Old group id → supergroup id.
    pub(super) migrated: HashMap<i64, i64>,
    pub(super) sent: HashMap<i64, Vec<SentMessage>>,
    pub(super) edits: HashMap<i64, Vec<SentMessage>>,
    pub(super) deleted: HashMap<i64, Vec<i64>>,
    pub(super) calls: Vec<CallRecord>,
    pub(super) send_times: HashMap<i64, Vec<Instant>>,
    /// (scope key, language code) → `BotCommand` objects.
    pub(super) commands: HashMap<(String, String), Vec<Value>>,
}

pub(super) struct StoredMessage {
    pub(super) json: Value,
    pub(super) by_bot: bool,
}

pub(super) struct CallRecord {
    pub(super) method: String,
    pub(super) params: Value,
    /// The error description, once the call failed.
    pub(super) error: Option<String>,
}

pub(super) type Params = Map<String, Value>;
pub(super) type Outcome = Result<Value, Failure>;

pub(super) enum Failure {
    Api {
        code: u16,
        description: String,
        parameters: Option<Value>,
    },
    Hang,
    /// 502 with an HTML page.
    BadGateway,
}

impl Failure {
    pub(super) fn api(code: u16, description: impl Into<String>) -> Failure {
        Failure::Api {
            code,
            description: description.into(),
            parameters: None,
        }
    }

    pub(super) fn bad_request(detail: impl AsRef<str>) -> Failure {
        Failure::api(400, format!("Bad Request: {}", detail.as_ref()))
    }

    pub(super) fn chat_not_found() -> Failure {
        Failure::bad_request("chat not found")
    }

    pub(super) fn migrated(to: i64) -> Failure {
        Failure::Api {
            code: 400,
            description: "Bad Request: group chat was upgraded to a supergroup chat".into(),
            parameters: Some(json!({ "migrate_to_chat_id": to })),
        }
    }
}

/// The parsed `text` of a send or edit.
pub(super) struct Content {
    pub(super) html: String,
    pub(super) text: String,
    pub(super) entities: Vec<Value>,
    pub(super) parse_mode: Option<String>,
}

impl EmuState {
    pub(super) fn dispatch(&mut self, method: &str, params: &Params) -> Outcome {
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
                let pressed = self.open_callbacks.remove(&id);
                if pressed.is_some_and(|at| at.elapsed() < CALLBACK_ANSWER_TIME) {
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

    pub(super) fn send_message(&mut self, params: &Params) -> Outcome {
        let chat_id = self.chat_param(params)?;
        self.send_times
            .entry(chat_id)
            .or_default()
            .push(Instant::now());
        self.check_faults(chat_id)?;
        let chat = self.writable_chat(chat_id)?;
        self.check_may_post(chat_id, &chat)?;
        self.check_flood(chat_id, &chat)?;
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
        self.accepted_sends.push_back((Instant::now(), chat_id));
        Ok(message)
    }

    pub(super) fn edit_message_text(&mut self, params: &Params) -> Outcome {
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

    pub(super) fn edit_message_reply_markup(&mut self, params: &Params) -> Outcome {
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
    pub(super) fn editable_target(&mut self, params: &Params) -> Result<(i64, i64), Failure> {
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

    pub(super) fn editable_message(
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

    pub(super) fn delete_message(&mut self, params: &Params) -> Outcome {
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

    pub(super) fn set_my_commands(&mut self, params: &Params) -> Outcome {
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

    pub(super) fn commands_key_param(&self, params: &Params) -> Result<(String, String), Failure> {
        let scope = params.get("scope").filter(|v| !v.is_null());
        let language = param_str(params, "language_code").unwrap_or_default();
        self.commands_key(scope, &language)
    }

    /// A canonical key for a `BotCommandScope` (chat ids resolved) and a language.
    pub(super) fn commands_key(
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

    pub(super) fn get_chat_administrators(&self, params: &Params) -> Outcome {
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

    pub(super) fn get_chat_member(&self, params: &Params) -> Outcome {
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
                || (user_id == self.bot_id
                    && kind != "channel"
                    && !self.bot_left.contains(&chat_id))
        };
        Ok(json!({ "user": user, "status": if is_member { "member" } else { "left" } }))
    }

    pub(super) fn admins_of(&self, chat_id: i64, kind: &str) -> Vec<i64> {
        match self.admins.get(&chat_id) {
            Some(admins) => admins.clone(),
            None if kind == "channel" => vec![self.bot_id],
            None => Vec::new(),
        }
    }

    /// Parses and checks the `text` of a send or edit.
    pub(super) fn content(&self, params: &Params, for_edit: bool) -> Result<Content, Failure> {
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
    pub(super) fn with_known_user(&self, mut entity: Value) -> Value {
        if entity["type"] == "text_mention"
            && let Some(known) = entity["user"]["id"]
                .as_i64()
                .and_then(|id| self.users.get(&id))
        {
            entity["user"] = known.clone();
        }
        entity
    }

    pub(super) fn reply_target(
        &self,
        chat_id: i64,
        params: &Params,
    ) -> Result<Option<Value>, Failure> {
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
    pub(super) fn chat_param(&self, params: &Params) -> Result<i64, Failure> {
        match params.get("chat_id") {
            None | Some(Value::Null) => Err(Failure::bad_request("chat_id is empty")),
            Some(value) => self.resolve_chat(value),
        }
    }

    pub(super) fn resolve_chat(&self, value: &Value) -> Result<i64, Failure> {
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

    /// A bot posts in a group only as a member, in a channel only as an administrator.
    fn check_may_post(&self, chat_id: i64, chat: &Value) -> Result<(), Failure> {
        let kind = chat["type"].as_str().unwrap_or_default();
        if kind == "private" {
            return Ok(());
        }
        if self.bot_left.contains(&chat_id) {
            return Err(Failure::api(
                403,
                format!("Forbidden: bot is not a member of the {kind} chat"),
            ));
        }
        if kind == "channel" && !self.admins_of(chat_id, kind).contains(&self.bot_id) {
            return Err(Failure::bad_request(
                "need administrator rights in the channel chat",
            ));
        }
        Ok(())
    }

    /// Telegram's flood control over the messages accepted so far: 30 a second in all,
    /// one a second per chat, 20 a minute per group.
    fn check_flood(&mut self, chat_id: i64, chat: &Value) -> Result<(), Failure> {
        if !self.flood_control {
            return Ok(());
        }
        let now = Instant::now();
        while self
            .accepted_sends
            .front()
            .is_some_and(|(at, _)| now - *at >= GROUP_WINDOW)
        {
            self.accepted_sends.pop_front();
        }
        let within = |window: Duration, chat: Option<i64>| -> Vec<Instant> {
            self.accepted_sends
                .iter()
                .filter(|(at, to)| now - *at < window && chat.is_none_or(|c| c == *to))
                .map(|(at, _)| *at)
                .collect()
        };
        let second = Duration::from_secs(1);
        let wait_for = |oldest: Instant, window: Duration| window.saturating_sub(now - oldest);
        let in_groups = matches!(chat["type"].as_str(), Some("group" | "supergroup"));
        let all = within(second, None);
        let this_chat = within(second, Some(chat_id));
        let this_group = within(GROUP_WINDOW, Some(chat_id));
        let wait = if all.len() >= MAX_PER_SECOND {
            Some(wait_for(all[all.len() - MAX_PER_SECOND], second))
        } else if let Some(&last) = this_chat.first() {
            Some(wait_for(last, second))
        } else if in_groups && this_group.len() >= MAX_PER_GROUP_MINUTE {
            Some(wait_for(
                this_group[this_group.len() - MAX_PER_GROUP_MINUTE],
                GROUP_WINDOW,
            ))
        } else {
            None
        };
        match wait {
            Some(wait) => {
                // Whole seconds, rounded up, as Telegram says them.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(Failure::Api {
                    code: 429,
                    description: format!("Too Many Requests: retry after {seconds}"),
                    parameters: Some(json!({ "retry_after": seconds })),
                })
            }
            None => Ok(()),
        }
    }

    /// The chat, if the bot can write there at all.
    pub(super) fn writable_chat(&self, chat_id: i64) -> Result<Value, Failure> {
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

    pub(super) fn check_faults(&mut self, chat_id: i64) -> Result<(), Failure> {
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

    pub(super) fn apply_fault(&mut self, fault: Fault, chat_id: Option<i64>) -> Failure {
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
            Fault::BadGateway => Failure::BadGateway,
            Fault::Api { code, description } => Failure::api(code, description),
        }
    }

    /// Turns group `from` into supergroup `to`, as Telegram does on upgrade.
    pub(super) fn migrate(&mut self, from: i64, to: i64) {
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

    pub(super) fn bot_message(&self, chat: &Value, message_id: i64) -> Value {
        let mut message = json!({ "message_id": message_id, "date": unix_now(), "chat": chat });
        if chat["type"] == "channel" {
            message["sender_chat"] = chat.clone();
        } else {
            message["from"] = self.bot.clone();
        }
        message
    }

    pub(super) fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let next = self.next_message_ids.entry(chat_id).or_insert(0);
        *next += 1;
        *next
    }

    pub(super) fn push_update(&mut self, kind: &str, payload: Value) -> i64 {
        let update_id = self.next_update_id;
        self.next_update_id += 1;
        let mut update = Map::new();
        update.insert("update_id".into(), json!(update_id));
        update.insert(kind.into(), payload);
        self.updates.push_back(Value::Object(update));
        update_id
    }

    /// Forgets updates confirmed by `offset` (or all but the last `-offset`).
    pub(super) fn confirm_updates(&mut self, offset: Option<i64>) {
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
    pub(super) fn deliverable_updates(&mut self, limit: usize) -> Vec<Value> {
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

    pub(super) fn note_user(&mut self, from: &Value, context: &str) -> i64 {
        let id = from["id"].as_i64().unwrap_or_else(|| {
            panic!("{context}: `from` must be a User object with a numeric id, got {from}")
        });
        self.users.insert(id, from.clone());
        id
    }

    pub(super) fn user_json(&self, user_id: i64) -> Value {
        if user_id == self.bot_id {
            return self.bot.clone();
        }
        self.users
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| user(user_id, &format!("User {user_id}")))
    }

    pub(super) fn record_call(&mut self, method: &str, params: &Params) -> usize {
        self.calls.push(CallRecord {
            method: method.to_owned(),
            params: Value::Object(params.clone()),
            error: None,
        });
        self.calls.len() - 1
    }

    /// What `wait_sent` reports when it gives up.
    pub(super) fn describe_chat(&self, chat_id: i64, n: usize, timeout: Duration) -> String {
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

pub(super) fn sent_record(
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
pub(super) fn inline_markup(params: &Params) -> Result<Option<Value>, Failure> {
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

pub(super) fn set_or_remove(object: &mut Value, key: &str, value: Option<Value>) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    match value {
        Some(value) => object.insert(key.to_owned(), value),
        None => object.remove(key),
    };
}

pub(super) fn private_chat_of(user: &Value) -> Value {
    let mut chat = json!({ "id": user["id"], "type": "private" });
    for field in ["first_name", "last_name", "username"] {
        if let Some(value) = user.get(field) {
            chat[field] = value.clone();
        }
    }
    chat
}

/// A `ChatFullInfo` for `getChat`: the chat plus the fields that are always present.
pub(super) fn full_chat_info(chat: &Value) -> Value {
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
pub(super) fn administrator(user: Value, chat_kind: &str) -> Value {
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
