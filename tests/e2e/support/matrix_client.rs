//! A test-side Matrix user built on matrix-sdk, acting opposite the bot.
//!
//! This module owns [`TestUser`]: a freshly registered user on the test
//! homeserver with its own device and `SQLite` store (in a temp dir), a
//! background sync loop (so room state and Megolm room keys keep arriving),
//! and helpers to create rooms, invite and join, send commands and read back
//! what another user (the bot) posted, decrypting in encrypted rooms. Reading
//! goes through `/messages` back-pagination and retries until enough events
//! decrypt, which is reliable regardless of when room keys arrive.

use std::time::{Duration, Instant};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::client::room::{create_room, upgrade_room};
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{
    Int, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, RoomVersionId, UserId, uint,
};
use matrix_sdk::{Client, Room, RoomState};
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::synapse::Synapse;

/// How long helpers wait for the sync loop to catch up with the server.
const SYNC_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

/// One `m.room.message` event as read back from a room (decrypted if it was encrypted).
#[derive(Clone, Debug)]
pub struct Msg {
    /// `content.body` (empty for a redacted message).
    pub body: String,
    /// `content.formatted_body` (the HTML), if any.
    pub formatted_body: Option<String>,
    /// `content.msgtype`, e.g. `m.text` or `m.notice` (empty for a redacted message).
    pub msgtype: String,
    /// Whether the event was sent encrypted (`m.room.encrypted` on the wire).
    pub encrypted: bool,
    /// The full (decrypted) event JSON: `type`, `content`, `sender`, `event_id`,
    /// `origin_server_ts`, ... Edits (`m.relates_to.rel_type == "m.replace"`) are
    /// messages too and show up here.
    pub event: Value,
}

/// A logged-in test user with a running sync loop (stopped on Drop).
pub struct TestUser {
    pub client: Client,
    /// Full user id, e.g. `@alice_1f2e_0:localhost`.
    pub user_id: String,
    sync_task: JoinHandle<()>,
    /// The `SQLite` state/crypto store; deleted after the client is gone.
    _store: TempDir,
}

impl Drop for TestUser {
    fn drop(&mut self) {
        self.sync_task.abort();
    }
}

impl TestUser {
    /// Registers a fresh user named after `prefix`, logs it in with a `SQLite`
    /// store in a temp dir, does an initial sync and starts a background sync
    /// loop that survives homeserver restarts.
    pub async fn login(hs: &Synapse, prefix: &str) -> TestUser {
        let (user_id, password) = hs.new_user(prefix).await;
        let store = tempfile::Builder::new()
            .prefix("herald-e2e-user-")
            .tempdir()
            .expect("creating a temp dir for the test user's store");
        let client = Client::builder()
            .homeserver_url(&hs.url)
            .sqlite_store(store.path(), None)
            .build()
            .await
            .expect("building the test user's matrix client");
        client
            .matrix_auth()
            .login_username(&user_id, &password)
            .initial_device_display_name("herald e2e test user")
            .send()
            .await
            .unwrap_or_else(|err| panic!("logging in {user_id}: {err}"));
        client
            .sync_once(SyncSettings::default())
            .await
            .unwrap_or_else(|err| panic!("initial sync of {user_id}: {err}"));

        let sync_client = client.clone();
        let sync_task = tokio::spawn(async move {
            let settings = SyncSettings::default().timeout(Duration::from_secs(10));
            // Errors (e.g. while the homeserver restarts) must not end the loop.
            loop {
                if let Err(err) = sync_client.sync_once(settings.clone()).await {
                    eprintln!("test user sync error (retrying): {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });

        TestUser {
            client,
            user_id,
            sync_task,
            _store: store,
        }
    }

    /// The room as known to this client; panics if the sync never brought it.
    pub fn room(&self, room_id: &str) -> Room {
        let id = parse_room_id(room_id);
        self.client
            .get_room(&id)
            .unwrap_or_else(|| panic!("{} does not know room {room_id}", self.user_id))
    }

    /// Creates a private room (default room version), optionally encrypted
    /// (`m.megolm.v1.aes-sha2` from the start), inviting `invite`; waits until
    /// its state has synced. Returns the room id.
    pub async fn create_room(&self, encrypted: bool, invite: &[&str]) -> String {
        self.create_room_with_version(encrypted, invite, None).await
    }

    /// Like [`TestUser::create_room`], with a given room version (e.g. `"12"`, whose
    /// room ids have no server part).
    pub async fn create_room_with_version(
        &self,
        encrypted: bool,
        invite: &[&str],
        version: Option<&str>,
    ) -> String {
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.invite = invite.iter().map(|u| parse_user_id(u)).collect();
        request.room_version = version.map(parse_room_version);
        if encrypted {
            request.initial_state = vec![
                InitialStateEvent::with_empty_state_key(
                    RoomEncryptionEventContent::with_recommended_defaults(),
                )
                .to_raw_any(),
            ];
        }
        let room = self
            .client
            .create_room(request)
            .await
            .unwrap_or_else(|err| panic!("{} creating a room: {err}", self.user_id));
        let room_id = room.room_id().to_string();
        self.wait_for_room_state(&room_id, encrypted).await;
        room_id
    }

    /// Publishes the alias `#localpart:server` for the room; returns the alias.
    pub async fn add_alias(&self, room_id: &str, localpart: &str) -> String {
        let server = self
            .client
            .user_id()
            .expect("logged in")
            .server_name()
            .to_owned();
        let alias = format!("#{localpart}:{server}");
        let parsed = RoomAliasId::parse(&alias).unwrap_or_else(|err| panic!("{alias}: {err}"));
        self.client
            .create_room_alias(&parsed, &parse_room_id(room_id))
            .await
            .unwrap_or_else(|err| panic!("{} adding {alias}: {err}", self.user_id));
        alias
    }

    /// Kicks `user` out of the room.
    pub async fn kick(&self, room_id: &str, user: &str) {
        self.room(room_id)
            .kick_user(&parse_user_id(user), None)
            .await
            .unwrap_or_else(|err| panic!("{} kicking {user} from {room_id}: {err}", self.user_id));
    }

    /// Upgrades the room to `version` (the old room gets a tombstone naming the new one);
    /// waits until the new room has synced and returns its id.
    pub async fn upgrade_room(&self, room_id: &str, version: &str) -> String {
        let request =
            upgrade_room::v3::Request::new(parse_room_id(room_id), parse_room_version(version));
        let response = self
            .client
            .send(request)
            .await
            .unwrap_or_else(|err| panic!("{} upgrading {room_id}: {err}", self.user_id));
        let new_id = response.replacement_room.to_string();
        self.wait_for_room_state(&new_id, false).await;
        new_id
    }

    /// Invites `user` into the room.
    pub async fn invite(&self, room_id: &str, user: &str) {
        self.room(room_id)
            .invite_user_by_id(&parse_user_id(user))
            .await
            .unwrap_or_else(|err| panic!("{} inviting {user} to {room_id}: {err}", self.user_id));
    }

    /// Accepts an invite (or joins a room this user may join) and waits until
    /// the room's state has synced.
    pub async fn join(&self, room_id: &str) {
        let id = parse_room_id(room_id);
        self.client
            .join_room_by_id(&id)
            .await
            .unwrap_or_else(|err| panic!("{} joining {room_id}: {err}", self.user_id));
        self.wait_for_room_state(room_id, false).await;
    }

    /// Waits until `user`'s membership in the room is `join` as seen by this
    /// user's sync (e.g. the bot accepted an invite). Panics after `timeout`.
    pub async fn wait_for_member(&self, room_id: &str, user: &str, timeout: Duration) {
        self.wait_for_membership(room_id, user, MembershipState::Join, timeout)
            .await;
    }

    /// Waits until `user`'s membership in the room is `wanted` (e.g. `Leave` after
    /// the bot declined an invite) as seen by this user's sync. Panics after `timeout`.
    pub async fn wait_for_membership(
        &self,
        room_id: &str,
        user: &str,
        wanted: MembershipState,
        timeout: Duration,
    ) {
        let user_id = parse_user_id(user);
        let room = self.wait_for_room(room_id).await;
        let deadline = Instant::now() + timeout;
        loop {
            let membership = match room.get_member_no_sync(&user_id).await {
                Ok(Some(member)) => Some(member.membership().clone()),
                _ => None,
            };
            if membership.as_ref() == Some(&wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} waited {timeout:?} for {user}'s membership in {room_id} to be {wanted} \
                 (membership: {membership:?})",
                self.user_id
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a plain-text `m.text` message (encrypted if the room is); returns its event id.
    pub async fn send_text(&self, room_id: &str, body: &str) -> String {
        self.send(room_id, RoomMessageEventContent::text_plain(body))
            .await
    }

    async fn send(&self, room_id: &str, content: RoomMessageEventContent) -> String {
        let result = self
            .room(room_id)
            .send(content)
            .await
            .unwrap_or_else(|err| panic!("{} sending to {room_id}: {err}", self.user_id));
        result.response.event_id.to_string()
    }

    /// Sets `user`'s power level in the room (this user must be allowed to).
    pub async fn set_power_level(&self, room_id: &str, user: &str, level: i64) {
        let user_id = parse_user_id(user);
        let level = Int::new(level).unwrap_or_else(|| panic!("power level {level} out of range"));
        self.room(room_id)
            .update_power_levels(vec![(&user_id, level)])
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "{} setting power level of {user} in {room_id}: {err}",
                    self.user_id
                )
            });
    }

    /// Waits until at least `n` `m.room.message` events from `sender` are
    /// readable (decrypted where needed) in the room and none of the sender's events
    /// is still undecryptable, then returns all of its messages, oldest first. An
    /// undecryptable event is counted, never skipped: a duplicate the reader cannot
    /// decrypt must not pass for "exactly once". Panics after `timeout`, listing what
    /// it saw.
    pub async fn messages_from(
        &self,
        room_id: &str,
        sender: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Msg> {
        let deadline = Instant::now() + timeout;
        let room = self.wait_for_room(room_id).await;
        loop {
            let (messages, undecrypted) = self.read_messages(&room, sender).await;
            if messages.len() >= n && undecrypted == 0 {
                return messages;
            }
            if Instant::now() >= deadline {
                let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
                panic!(
                    "{} waited {timeout:?} for {n} messages from {sender} in {room_id}; got {} \
                     ({undecrypted} more still undecryptable): {bodies:#?}",
                    self.user_id,
                    messages.len(),
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One full backward pagination of the room: the `m.room.message` events
    /// from `sender` (oldest first) and how many of its events failed to decrypt.
    async fn read_messages(&self, room: &Room, sender: &str) -> (Vec<Msg>, usize) {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut options = MessagesOptions::backward().from(from.as_deref());
            options.limit = uint!(100);
            let page = match room.messages(options).await {
                Ok(page) => page,
                Err(err) => {
                    // Transient (e.g. homeserver restarting): report nothing new this round.
                    eprintln!("{} reading {}: {err}", self.user_id, room.room_id());
                    return (Vec::new(), 0);
                }
            };
            let done = page.chunk.is_empty() || page.end.is_none();
            events.extend(page.chunk);
            if done {
                break;
            }
            from = page.end;
        }
        events.reverse();

        let mut messages = Vec::new();
        let mut undecrypted = 0;
        for event in events {
            if event.kind.sender().is_none_or(|s| s.as_str() != sender) {
                continue;
            }
            let encrypted = match &event.kind {
                TimelineEventKind::UnableToDecrypt { .. } => {
                    undecrypted += 1;
                    continue;
                }
                TimelineEventKind::Decrypted(_) => true,
                TimelineEventKind::PlainText { .. } => false,
            };
            let json: Value = match serde_json::from_str(event.kind.raw().json().get()) {
                Ok(json) => json,
                Err(_) => continue,
            };
            if json["type"] != "m.room.message" {
                continue;
            }
            let content = &json["content"];
            messages.push(Msg {
                body: content["body"].as_str().unwrap_or_default().to_owned(),
                formatted_body: content["formatted_body"].as_str().map(str::to_owned),
                msgtype: content["msgtype"].as_str().unwrap_or_default().to_owned(),
                encrypted,
                event: json,
            });
        }
        (messages, undecrypted)
    }

    /// Waits until the sync loop knows the room at all.
    async fn wait_for_room(&self, room_id: &str) -> Room {
        let id = parse_room_id(room_id);
        let deadline = Instant::now() + SYNC_WAIT;
        loop {
            if let Some(room) = self.client.get_room(&id) {
                return room;
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw room {room_id} in its sync",
                self.user_id
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the room is joined and its power levels (and, if asked,
    /// encryption) arrived through the sync, so later calls see current state.
    async fn wait_for_room_state(&self, room_id: &str, encrypted: bool) {
        let room = self.wait_for_room(room_id).await;
        let deadline = Instant::now() + SYNC_WAIT;
        loop {
            let joined = room.state() == RoomState::Joined;
            let has_power_levels = room.power_levels().await.is_ok();
            let encryption_ok = !encrypted || room.encryption_state().is_encrypted();
            if joined && has_power_levels && encryption_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: state of room {room_id} never synced (joined: {joined}, power levels: \
                 {has_power_levels}, encryption: {encryption_ok})",
                self.user_id
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

fn parse_user_id(user: &str) -> OwnedUserId {
    UserId::parse(user).unwrap_or_else(|err| panic!("bad user id {user:?}: {err}"))
}

fn parse_room_id(room_id: &str) -> OwnedRoomId {
    RoomId::parse(room_id).unwrap_or_else(|err| panic!("bad room id {room_id:?}: {err}"))
}

fn parse_room_version(version: &str) -> RoomVersionId {
    RoomVersionId::try_from(version)
        .unwrap_or_else(|err| panic!("bad room version {version:?}: {err}"))
}
