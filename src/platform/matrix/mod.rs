//! Matrix, on matrix-sdk: starting the bot's account (`session`), posting articles to rooms
//! (the `Sink` here), and answering commands and invites (`listen`). The only files that
//! name matrix-sdk.
//!
//! Posts carry a plain `body` and an HTML `formatted_body`, an empty `m.mentions` (so an
//! `@room` in a title pings nobody) and the delivery's transaction id, so the homeserver
//! drops a resend after a crash. Encrypted rooms are handled by the SDK's crypto store.
//! Room and user ids are private (the readers may be at risk): they are logged at debug
//! level only.

mod check;
mod listen;
mod rooms;
mod session;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::state::get_state_event_for_key;
use matrix_sdk::ruma::api::error::{ErrorKind, FromHttpResponseError, RetryAfter};
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::StateEventType;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{ReplacementMetadata, RoomMessageEventContent};
use matrix_sdk::ruma::{
    OwnedEventId, OwnedRoomId, OwnedServerName, RoomAliasId, RoomId, ServerName,
};
use matrix_sdk::{Client, HttpError, Room, RoomState};
use tokio_util::sync::CancellationToken;

use super::{BoxFuture, ChatWaiting, Post, SendError, Sink, Started, VerifyError};
use crate::article::{Platform, Target};
use crate::config::{MatrixConfig, MsgType};
use crate::render;
use crate::service::CommandService;
pub use check::check_online;
use rooms::Rooms;

/// Log directives for matrix-sdk in the default filter. The SDK speaks up at `warn` and
/// above only, except for messages a healthy bot always causes (explained once at start-up
/// instead): `matrix_sdk::http_client` logs every failed request as an ERROR, including the
/// 404 a new account gets for secret storage it does not use and the rate limits Herald
/// waits out and reports itself; `matrix_sdk_crypto::backups` warns after every sync that
/// there is no key backup, which the bot does not keep. `matrix_sdk::sync` is off: its only
/// warnings and errors ("Can't call event handler, room not found" after an invite is
/// declined) name private room ids.
pub(crate) const LOG_DIRECTIVES: &str = "matrix_sdk::sync=off,matrix_sdk=warn,\
    matrix_sdk::http_client=off,matrix_sdk_base=warn,matrix_sdk_crypto=warn,\
    matrix_sdk_crypto::backups=error,matrix_sdk_sqlite=warn,matrix_sdk_common=warn,\
    matrix_sdk_store_encryption=warn";

/// Posts per second across all rooms.
const GLOBAL_RATE: u32 = 10;
/// How long the first sync at start-up may wait for news.
const FIRST_SYNC_TIMEOUT: Duration = Duration::ZERO;
/// How long a post waits for its room's join before the delivery loop retries it later.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);
/// When a rate limit does not say how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Starts Matrix when `[matrix]` is configured: logs in (or restores the session), syncs
/// once, sets up cross-signing, starts joining the configured rooms in the background
/// and, with `listen`, answers invites and commands until `shutdown`.
pub async fn start(
    service: &Arc<CommandService>,
    listen: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Started>> {
    let Some(cfg) = service.config().matrix.as_ref() else {
        return Ok(None);
    };
    let paths = session::Paths::new(&service.config().bot.data_dir);
    let client = session::connect(cfg, &paths).await?;
    let rooms = Rooms::new(client.clone(), GLOBAL_RATE, shutdown.clone());

    // The first sync uploads the new device's keys before anything asks for them
    // (cross-signing below looks the device up on the homeserver).
    let synced = match client
        .sync_once(SyncSettings::default().timeout(FIRST_SYNC_TIMEOUT))
        .await
    {
        Ok(_) => {
            rooms.set_synced();
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "the first Matrix sync failed; using the stored room state");
            false
        }
    };
    session::cross_sign(&client, cfg).await;
    session::explain_quiet_messages();
    tracing::info!(
        "connected to Matrix as {} on {}",
        cfg.user.get_ref(),
        cfg.homeserver
    );
    join_channels(service, &client, &rooms).await;

    let sink = Arc::new(Matrix::new(
        client.clone(),
        cfg,
        service.clone(),
        rooms.clone(),
    ));
    let task = listen.then(|| {
        tokio::spawn(listen::run(
            client,
            service.clone(),
            rooms,
            synced,
            shutdown.clone(),
        ))
    });
    Ok(Some(Started { sink, task }))
}

/// Resolves the configured channels' aliases (recording `#alias` → `!room` as a move, so
/// the channel's settings and queue follow the room) and starts joining the rooms not yet
/// joined, in the background. An alias that cannot be resolved now is left to delivery.
async fn join_channels(service: &CommandService, client: &Client, rooms: &Arc<Rooms>) {
    for (index, channel) in service.config().channels.iter().enumerate() {
        let configured = channel.target();
        if configured.platform != Platform::Matrix {
            continue;
        }
        // Room ids and aliases are private: operators recognize the channel by its place.
        let name = format!("Matrix channel no. {} of the config", index + 1);
        let target = match service.store().resolve(configured) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the store");
                continue;
            }
        };
        let result = async {
            // An alias is looked up again on every start (it may name another room now).
            let chat = if configured.chat.starts_with('#') {
                &configured.chat
            } else {
                &target.chat
            };
            let (room_id, via) = resolve(client, chat).await?;
            let room_target = Target::new(Platform::Matrix, room_id.as_str());
            if configured.chat.starts_with('#') && target != room_target {
                service
                    .store()
                    .move_chat(configured, &room_target)
                    .await
                    .map_err(|e| SendError::Temporary(e.to_string()))?;
            }
            Ok::<_, SendError>((room_id, via))
        }
        .await;
        match result {
            Ok((room_id, via)) => {
                if is_joined(client, &room_id) {
                    tracing::info!("{name}: the bot is in the room and can post there");
                } else {
                    tracing::info!("{name}: joining the room; its posts wait until then");
                    rooms.join(&room_id, via, true);
                }
            }
            Err(e) => {
                tracing::warn!(channel = %configured, error = %e, "cannot look up a configured channel's room yet; delivery will try again")
            }
        }
    }
}

fn is_joined(client: &Client, room_id: &RoomId) -> bool {
    client
        .get_room(room_id)
        .is_some_and(|r| r.state() == RoomState::Joined)
}

/// A room id (or alias, resolved) and the servers to join it through.
async fn resolve(
    client: &Client,
    chat: &str,
) -> Result<(OwnedRoomId, Vec<OwnedServerName>), SendError> {
    if chat.starts_with('#') {
        let alias = RoomAliasId::parse(chat)
            .map_err(|e| SendError::Rejected(format!("not a room alias: {e}")))?;
        let found = client
            .resolve_room_alias(&alias)
            .await
            .map_err(|e| classify_http(&e))?;
        let mut via = found.servers;
        via.push(alias.server_name().to_owned());
        return Ok((found.room_id, via));
    }
    let room_id =
        RoomId::parse(chat).map_err(|e| SendError::Rejected(format!("not a room id: {e}")))?;
    let via = via_servers(client, &room_id);
    Ok((room_id, via))
}

/// Servers to join a room through: the room id's own (before room version 12) and the bot's.
fn via_servers(client: &Client, room_id: &RoomId) -> Vec<OwnedServerName> {
    let mut via: Vec<OwnedServerName> = room_id
        .server_name()
        .map(ServerName::to_owned)
        .into_iter()
        .collect();
    if let Some(me) = client.user_id()
        && !via.iter().any(|s| s == me.server_name())
    {
        via.push(me.server_name().to_owned());
    }
    via
}

/// How long adding a channel from chat waits for the bot to join its room.
const VERIFY_JOIN_PATIENCE: Duration = Duration::from_secs(20);

/// Posting to rooms.
pub struct Matrix {
    client: Client,
    service: Arc<CommandService>,
    rooms: Arc<Rooms>,
    msgtype: MsgType,
    room_interval: Duration,
}

impl Matrix {
    fn new(
        client: Client,
        cfg: &MatrixConfig,
        service: Arc<CommandService>,
        rooms: Arc<Rooms>,
    ) -> Matrix {
        Matrix {
            client,
            service,
            rooms,
            msgtype: cfg.msgtype,
            room_interval: cfg.room_interval,
        }
    }

    /// Posts `post` in `chat`, or with `replaces` (an event id), edits that message to show
    /// it (an `m.replace` event, encrypted like any other in an encrypted room).
    async fn post(
        &self,
        chat: &str,
        post: &Post<'_>,
        replaces: Option<&str>,
    ) -> Result<String, SendError> {
        let replaces = replaces
            .map(|id| {
                OwnedEventId::try_from(id)
                    .map_err(|e| SendError::NotEditable(format!("not an event id: {e}")))
            })
            .transpose()?;
        if chat.starts_with('#') {
            // An alias not resolved at start-up: the queue follows the room it names.
            let (room_id, via) = resolve(&self.client, chat).await?;
            if !is_joined(&self.client, &room_id) {
                self.rooms
                    .join_and_wait(&room_id, via, true, JOIN_PATIENCE)
                    .await?;
            }
            return Err(SendError::Moved(room_id.to_string()));
        }
        let room_id =
            RoomId::parse(chat).map_err(|e| SendError::Rejected(format!("not a room id: {e}")))?;
        if let Some(room) = self.client.get_room(&room_id)
            && let Some(next) = room.successor_room()
        {
            return Err(self.follow(&room, next.room_id).await);
        }
        let room = self.joined_room(&room_id).await?;

        let (body, html) = render::matrix_post(post.article, post.chat_lang);
        let mut content = match self.msgtype {
            MsgType::Text => RoomMessageEventContent::text_html(body, html),
            MsgType::Notice => RoomMessageEventContent::notice_html(body, html),
        };
        content.mentions = Some(Mentions::new());
        if let Some(original) = replaces {
            content =
                content.make_replacement(ReplacementMetadata::new(original, Some(Mentions::new())));
        }
        if !self.rooms.throttle.slot(&self.rooms.shutdown).await {
            return Err(SendError::Temporary("shutting down".into()));
        }
        let sent = room
            .send(content)
            .with_transaction_id(post.txn_id.as_str().into())
            .await;
        match sent {
            Ok(result) => {
                self.rooms.throttle.succeeded();
                Ok(result.response.event_id.to_string())
            }
            Err(e) => {
                let error = classify(&e);
                if let SendError::RetryAfter(wait) = error {
                    self.rooms.throttle.limited(wait);
                }
                if matches!(error, SendError::Gone(_))
                    && let Some(next) = self.fetch_successor(&room_id).await
                {
                    return Err(self.follow(&room, next).await);
                }
                // Refused while the bot is in the room (it would be `WrongRoomState`
                // otherwise): a power level raised or the room's rules changed, which an
                // admin may undo. The room and its posts are kept and retried.
                let error = match error {
                    SendError::Gone(reason) if forbidden(&e) => SendError::NoRights(reason),
                    other => other,
                };
                if let SendError::Gone(reason) = &error
                    && !self.rooms.synced()
                {
                    return Err(SendError::Temporary(format!(
                        "{reason} (not taken as final before a sync with the homeserver succeeded)"
                    )));
                }
                Err(error)
            }
        }
    }

    /// The room, joined. A configured channel's room, or one whose invitation is being
    /// accepted, is joined first (or its join under way awaited). Otherwise a room the bot
    /// is not in is gone only when the homeserver says so after a successful sync: the
    /// local room list may be empty (a reset store) or stale until then.
    async fn joined_room(&self, room_id: &RoomId) -> Result<Room, SendError> {
        if let Some(room) = self.client.get_room(room_id)
            && room.state() == RoomState::Joined
        {
            return Ok(room);
        }
        let configured = self.is_channel(room_id);
        if configured || self.rooms.joining(room_id) {
            let via = via_servers(&self.client, room_id);
            self.rooms
                .join_and_wait(room_id, via, configured, JOIN_PATIENCE)
                .await?;
            return self.local_joined(room_id);
        }
        if !self.rooms.synced() {
            return Err(SendError::Temporary(
                "the bot's rooms are not known yet (no sync with the homeserver has succeeded)"
                    .into(),
            ));
        }
        match self.membership(room_id).await? {
            MembershipState::Join => Err(SendError::Temporary(
                "the homeserver says the bot is in the room; waiting for the next sync".into(),
            )),
            MembershipState::Invite => {
                let via = via_servers(&self.client, room_id);
                self.rooms
                    .join_and_wait(room_id, via, false, JOIN_PATIENCE)
                    .await?;
                self.local_joined(room_id)
            }
            other => Err(SendError::Gone(format!(
                "the bot is not in this room (membership: {other})"
            ))),
        }
    }

    fn local_joined(&self, room_id: &RoomId) -> Result<Room, SendError> {
        self.client
            .get_room(room_id)
            .filter(|r| r.state() == RoomState::Joined)
            .ok_or_else(|| SendError::Temporary("joined; waiting for the room's state".into()))
    }

    /// The bot's membership in the room, as the homeserver has it. A homeserver that does
    /// not let the bot see the room (403, 404) means it is not in it.
    async fn membership(&self, room_id: &RoomId) -> Result<MembershipState, SendError> {
        let me = self
            .client
            .user_id()
            .ok_or_else(|| SendError::Temporary("not logged in".into()))?;
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            StateEventType::RoomMember,
            me.to_string(),
        );
        match self.client.send(request).await {
            Ok(response) => {
                #[derive(serde::Deserialize)]
                struct Member {
                    membership: MembershipState,
                }
                serde_json::from_str::<Member>(response.event_or_content.get())
                    .map(|m| m.membership)
                    .map_err(|e| SendError::Temporary(format!("an unreadable membership: {e}")))
            }
            Err(e) => match classify_http(&e) {
                SendError::Rejected(reason) | SendError::Gone(reason) => Err(SendError::Gone(
                    format!("the bot is not in this room: {reason}"),
                )),
                other => Err(other),
            },
        }
    }

    /// Whether the room is one of the configured channels.
    fn is_channel(&self, room_id: &RoomId) -> bool {
        let here = Target::new(Platform::Matrix, room_id.as_str());
        self.service.channel_at(&here).is_ok_and(|c| c.is_some())
    }

    /// A tombstoned room: joins its replacement and reports the move.
    async fn follow(&self, old: &Room, next: OwnedRoomId) -> SendError {
        let mut via = via_servers(&self.client, &next);
        for server in via_servers(&self.client, old.room_id()) {
            if !via.contains(&server) {
                via.push(server);
            }
        }
        let joined = if is_joined(&self.client, &next) {
            Ok(())
        } else {
            let configured = self.is_channel(old.room_id());
            self.rooms
                .join_and_wait(&next, via, configured, JOIN_PATIENCE)
                .await
        };
        match joined {
            Ok(()) => {
                tracing::info!("a room was upgraded; following it to its replacement");
                tracing::debug!(from = %old.room_id(), to = %next, "room upgraded");
                SendError::Moved(next.to_string())
            }
            Err(SendError::Gone(reason)) => SendError::Gone(format!(
                "the room was upgraded and the bot cannot join the new one: {reason}"
            )),
            Err(other) => other,
        }
    }

    /// The replacement room named by the room's tombstone on the homeserver, if any (the
    /// local state may not have it yet when not syncing).
    async fn fetch_successor(&self, room_id: &RoomId) -> Option<OwnedRoomId> {
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            StateEventType::RoomTombstone,
            String::new(),
        );
        let response = self.client.send(request).await.ok()?;
        #[derive(serde::Deserialize)]
        struct Tombstone {
            replacement_room: Option<OwnedRoomId>,
        }
        serde_json::from_str::<Tombstone>(response.event_or_content.get())
            .ok()?
            .replacement_room
    }
}

impl Sink for Matrix {
    fn platform(&self) -> Platform {
        Platform::Matrix
    }

    fn chat_interval(&self, _chat: &str) -> Duration {
        self.room_interval
    }

    fn global_rate(&self) -> u32 {
        GLOBAL_RATE
    }

    /// A room being joined (a configured channel's, or one whose invitation is accepted) is
    /// waited for here, outside the platform's pace.
    fn prepare<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let Ok(room_id) = RoomId::parse(chat) else {
                return Ok(());
            };
            if is_joined(&self.client, &room_id) {
                return Ok(());
            }
            let configured = self.is_channel(&room_id);
            if configured || self.rooms.joining(&room_id) {
                let via = via_servers(&self.client, &room_id);
                self.rooms
                    .join_and_wait(&room_id, via, configured, JOIN_PATIENCE)
                    .await?;
            }
            Ok(())
        })
    }

    fn waiting_chats(&self) -> Vec<ChatWaiting> {
        self.rooms.waiting_chats()
    }

    fn disconnected(&self) -> Option<crate::platform::Disconnected> {
        self.rooms.connection.disconnected()
    }

    fn verify_channel<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, VerifyError>> {
        Box::pin(async move {
            let (room_id, via) = resolve(&self.client, chat)
                .await
                .map_err(|e| VerifyError::Platform(e.to_string()))?;
            if !is_joined(&self.client, &room_id) {
                let room: &matrix_sdk::ruma::RoomOrAliasId = (&*room_id).into();
                match tokio::time::timeout(
                    VERIFY_JOIN_PATIENCE,
                    self.client.join_room_by_id_or_alias(room, &via),
                )
                .await
                {
                    Err(_) => return Err(VerifyError::JoinTimedOut),
                    Ok(Err(e)) => return Err(VerifyError::JoinRefused(e.to_string())),
                    Ok(Ok(_)) => {}
                }
            }
            let room = self
                .client
                .get_room(&room_id)
                .ok_or(VerifyError::NotInRoom)?;
            let me = self.client.user_id().ok_or(VerifyError::NotLoggedIn)?;
            match room.power_levels().await {
                Ok(levels)
                    if !levels.user_can_send_message(
                        me,
                        matrix_sdk::ruma::events::MessageLikeEventType::RoomMessage,
                    ) =>
                {
                    Err(VerifyError::PowerTooLow)
                }
                _ => Ok(room_id.to_string()),
            }
        })
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let result = self.post(chat, post, None).await;
            if let Err(e) = &result {
                tracing::debug!(room = chat, error = %e, "Matrix send failed");
            }
            result
        })
    }

    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let result = self.post(chat, post, Some(message)).await;
            if let Err(e) = &result {
                tracing::debug!(room = chat, error = %e, "Matrix edit failed");
            }
            result.map(|_| ())
        })
    }
}

/// What a failed request means for delivery.
fn classify(e: &matrix_sdk::Error) -> SendError {
    match e {
        matrix_sdk::Error::Http(http) => classify_http(http),
        matrix_sdk::Error::WrongRoomState(_) => {
            SendError::Gone("the bot is not in this room".into())
        }
        other => SendError::Temporary(other.to_string()),
    }
}

/// Whether the homeserver answered `M_FORBIDDEN`.
fn forbidden(e: &matrix_sdk::Error) -> bool {
    let matrix_sdk::Error::Http(http) = e else {
        return false;
    };
    let http = match &**http {
        HttpError::Cached(inner) => inner,
        other => other,
    };
    http.as_client_api_error()
        .is_some_and(|api| matches!(api.error_kind(), Some(ErrorKind::Forbidden)))
}

fn classify_http(e: &HttpError) -> SendError {
    if let HttpError::Cached(inner) = e {
        return classify_http(inner);
    }
    let Some(api) = e.as_client_api_error() else {
        return match e {
            // The request was sent but the answer was unreadable: it may have arrived; a
            // resend with the same transaction id is harmless.
            HttpError::Api(inner)
                if matches!(**inner, FromHttpResponseError::Deserialization(_)) =>
            {
                SendError::Temporary(e.to_string())
            }
            HttpError::IntoHttp(_) => SendError::Rejected(e.to_string()),
            _ => SendError::Temporary(e.to_string()),
        };
    };
    let status = api.status_code;
    match api.error_kind() {
        Some(ErrorKind::LimitExceeded(data)) => {
            return SendError::RetryAfter(retry_after(data.retry_after.as_ref()));
        }
        Some(ErrorKind::Forbidden) => return SendError::Gone(e.to_string()),
        Some(ErrorKind::UnknownToken(_)) | Some(ErrorKind::MissingToken) => {
            tracing::error!(
                "the homeserver no longer accepts the bot's access token; log in again"
            );
            return SendError::Temporary(e.to_string());
        }
        _ => {}
    }
    if status.as_u16() == 429 {
        SendError::RetryAfter(DEFAULT_RETRY_AFTER)
    } else if status.is_server_error() || status.as_u16() == 408 {
        SendError::Temporary(e.to_string())
    } else if status.is_client_error() {
        SendError::Rejected(e.to_string())
    } else {
        SendError::Temporary(e.to_string())
    }
}

fn retry_after(after: Option<&RetryAfter>) -> Duration {
    match after {
        Some(RetryAfter::Delay(d)) => *d,
        Some(RetryAfter::DateTime(t)) => t
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
        None => DEFAULT_RETRY_AFTER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::RumaApiError;
    use matrix_sdk::ruma::api::error::{ErrorBody, StandardErrorBody};

    fn api_error(status: u16, body: serde_json::Value) -> HttpError {
        let body: StandardErrorBody = serde_json::from_value(body).expect("an error body");
        let error = ErrorBody::Standard(body).into_error(status.try_into().expect("a status"));
        HttpError::Api(Box::new(FromHttpResponseError::Server(
            RumaApiError::MatrixError(error),
        )))
    }

    #[test]
    fn rate_limits_wait_as_told() {
        let e = api_error(
            429,
            serde_json::json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}),
        );
        assert_eq!(
            classify_http(&e),
            SendError::RetryAfter(Duration::from_millis(1500))
        );
        let e = api_error(
            429,
            serde_json::json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down"}),
        );
        assert_eq!(
            classify_http(&e),
            SendError::RetryAfter(DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn forbidden_is_gone_server_errors_are_temporary_other_client_errors_rejected() {
        let e = api_error(
            403,
            serde_json::json!({"errcode": "M_FORBIDDEN", "error": "User not in room"}),
        );
        assert!(matches!(classify_http(&e), SendError::Gone(_)));
        let e = api_error(
            502,
            serde_json::json!({"errcode": "M_UNKNOWN", "error": "bad gateway"}),
        );
        assert!(matches!(classify_http(&e), SendError::Temporary(_)));
        let e = api_error(
            413,
            serde_json::json!({"errcode": "M_TOO_LARGE", "error": "too big"}),
        );
        assert!(matches!(classify_http(&e), SendError::Rejected(_)));
        let e = api_error(
            401,
            serde_json::json!({"errcode": "M_UNKNOWN_TOKEN", "error": "who?"}),
        );
        assert!(matches!(classify_http(&e), SendError::Temporary(_)));
    }
}
