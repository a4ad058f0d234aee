//! Listening on Matrix: the sync loop, invites (joined when the room is a configured channel
//! or `[matrix] accept_invites` allows the inviter, also those that arrived while the bot
//! was down) and commands (`!latest`, `/lang de`…, answered with an `m.notice` that replies
//! to the command, in its thread if it was in one).
//!
//! The first sync happens before any handler is registered, so messages sent while the bot
//! was down are not answered; commands older than `max_command_age`, or sent before the bot
//! joined the room (a join shows recent history), are ignored too.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ForwardThread, MessageType, OriginalSyncRoomMessageEvent, Relation,
    ReplyWithinThread, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{Int, OwnedUserId};
use matrix_sdk::{Client, Room, RoomMemberships, RoomState};
use tokio_util::sync::CancellationToken;

use super::rooms::Rooms;
use crate::article::{Platform, Target};
use crate::commands::{self, ChatKind, Reply, Request, Span};
use crate::config::{AcceptInvites, Operator};
use crate::platform::BoxFuture;
use crate::platform::SendError;
use crate::platform::dispatch::Dispatcher;
use crate::render;
use crate::service::CommandService;

/// How long one sync waits for news (long polling).
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between failed syncs.
const MAX_SYNC_BACKOFF: Duration = Duration::from_secs(60);
/// The power level of a room moderator.
const MODERATOR: i32 = 50;
/// Commands answered at once across all rooms.
const MAX_CONCURRENT_COMMANDS: usize = 16;
/// How long a stopping listener waits for the commands it is still answering.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Syncs until `shutdown`: first once without handlers (unless start-up already did),
/// then handles waiting invites, registers the handlers and keeps syncing.
pub(super) async fn run(
    client: Client,
    service: Arc<CommandService>,
    rooms: Arc<Rooms>,
    synced: bool,
    shutdown: CancellationToken,
) {
    if !synced && !sync_until_ok(&client, &rooms, &shutdown, Duration::ZERO).await {
        return;
    }
    for room in client.invited_rooms() {
        match room.invite_details().await {
            Ok(invite) => {
                tokio::spawn(on_invite(
                    service.clone(),
                    rooms.clone(),
                    room,
                    invite.inviter_id,
                ));
            }
            // Joined meanwhile (a configured channel's room is joined at start).
            Err(_) if room.state() != RoomState::Invited => {
                tracing::debug!("an invite was accepted while the bot started");
            }
            Err(e) => tracing::warn!(error = %e, "cannot read a waiting invite"),
        }
    }

    let (invite_service, invite_rooms) = (service.clone(), rooms.clone());
    client.add_event_handler(
        move |event: StrippedRoomMemberEvent, room: Room, client: Client| {
            let (service, rooms) = (invite_service.clone(), invite_rooms.clone());
            async move {
                if event.content.membership == MembershipState::Invite
                    && client.user_id() == Some(&*event.state_key)
                {
                    tokio::spawn(on_invite(service, rooms, room, event.sender));
                }
            }
        },
    );
    // Off the sync loop (answering may take a while: encryption, rate limits), each room's
    // commands in order, a bounded number at once.
    let message_rooms = rooms.clone();
    let dispatcher = Arc::new(Dispatcher::new(
        MAX_CONCURRENT_COMMANDS,
        move |(room, event): (Room, OriginalSyncRoomMessageEvent)| -> BoxFuture<'static, ()> {
            Box::pin(on_message(
                service.clone(),
                message_rooms.clone(),
                room,
                event,
            ))
        },
    ));
    let commands = dispatcher.clone();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, room: Room| {
        let commands = commands.clone();
        async move {
            commands.dispatch(room.room_id().to_owned(), (room, event));
        }
    });
    tracing::info!("listening for Matrix invites and commands");

    while sync_until_ok(&client, &rooms, &shutdown, SYNC_TIMEOUT).await {}
    dispatcher.finish(SHUTDOWN_GRACE).await;
    tracing::debug!("Matrix sync stopped");
}

/// One successful sync, retrying failures with backoff. False when `shutdown` came first.
async fn sync_until_ok(
    client: &Client,
    rooms: &Rooms,
    shutdown: &CancellationToken,
    timeout: Duration,
) -> bool {
    let settings = SyncSettings::default().timeout(timeout);
    let mut failures: u32 = 0;
    loop {
        let result = tokio::select! {
            _ = shutdown.cancelled() => return false,
            r = client.sync_once(settings.clone()) => r,
        };
        match result {
            Ok(_) => {
                rooms.set_synced();
                rooms.connection.connected();
                if failures > 0 {
                    tracing::info!("Matrix sync recovered");
                }
                return true;
            }
            Err(e) => {
                failures += 1;
                rooms.connection.failed(format!("sync failed: {e}"));
                let wait = Duration::from_secs(1 << failures.min(6)).min(MAX_SYNC_BACKOFF);
                tracing::warn!(error = %e, retry_in = ?wait, "Matrix sync failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Joins the room when it is a configured channel or the inviter may invite the bot;
/// declines the invite otherwise. The join is retried (in the homeserver's pace) until it
/// succeeds or the homeserver refuses for good.
async fn on_invite(
    service: Arc<CommandService>,
    rooms: Arc<Rooms>,
    room: Room,
    inviter: OwnedUserId,
) {
    let Some(cfg) = service.config().matrix.as_ref() else {
        return;
    };
    let channel = is_channel(&service, &room);
    let allowed = channel
        || match cfg.accept_invites {
            AcceptInvites::Anyone => true,
            AcceptInvites::Admins => service.is_operator(&Operator::Matrix(inviter.to_string())),
            AcceptInvites::None => false,
        };
    tracing::debug!(room = %room.room_id(), %inviter, allowed, "invited");
    if !allowed {
        if !rooms.throttle.slot(&rooms.shutdown).await {
            return;
        }
        match room.leave().await {
            Ok(()) => {
                tracing::info!("declined an invite (the inviter is not allowed to add the bot)")
            }
            Err(e) => tracing::warn!(error = %e, "cannot decline an invite"),
        }
        return;
    }
    let mut via = Vec::new();
    if let Some(server) = room.room_id().server_name() {
        via.push(server.to_owned());
    }
    if !via.iter().any(|s| s == inviter.server_name()) {
        via.push(inviter.server_name().to_owned());
    }
    let mut done = rooms.join(room.room_id(), via, channel);
    let result = loop {
        if let Some(result) = done.borrow_and_update().clone() {
            break result;
        }
        if done.changed().await.is_err() {
            return;
        }
    };
    match result {
        Ok(()) => tracing::info!("joined a room on invitation"),
        Err(SendError::Gone(reason)) => {
            tracing::warn!(%reason, "the homeserver refused to let the bot join a room it was invited to")
        }
        Err(_) => {} // shutting down
    }
}

/// Whether the room is one of the configured channels (the bot goes where the operator
/// sends it, whoever invites it there).
fn is_channel(service: &CommandService, room: &Room) -> bool {
    let here = Target::new(Platform::Matrix, room.room_id().as_str());
    service.channel_at(&here).is_ok_and(|c| c.is_some())
}

/// Answers a command.
async fn on_message(
    service: Arc<CommandService>,
    rooms: Arc<Rooms>,
    room: Room,
    event: OriginalSyncRoomMessageEvent,
) {
    if room.state() != RoomState::Joined || event.sender == room.own_user_id() {
        return;
    }
    // Notices are bots talking; only plain text can be a command.
    let MessageType::Text(text) = &event.content.msgtype else {
        return;
    };
    let Some(command) = commands::parse(&text.body, None) else {
        return;
    };
    let Some(cfg) = service.config().matrix.as_ref() else {
        return;
    };
    let sent = event
        .origin_server_ts
        .to_system_time()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let age = SystemTime::now()
        .duration_since(sent)
        .unwrap_or(Duration::ZERO);
    if age > cfg.max_command_age {
        tracing::debug!(?age, "ignored an old command");
        return;
    }
    // Joining a room shows its recent history: what was said before is not for the bot.
    if let Ok(Some(me)) = room.get_member_no_sync(room.own_user_id()).await
        && me
            .event()
            .timestamp()
            .is_some_and(|joined| event.origin_server_ts.0 < joined)
    {
        tracing::debug!("ignored a command sent before the bot joined");
        return;
    }
    tracing::debug!(room = %room.room_id(), sender = %event.sender, ?command, "command");

    let private = is_private(&room).await;
    let operator = service.is_operator(&Operator::Matrix(event.sender.to_string()));
    let may_configure = private
        || operator
        || match room.get_user_power_level(&event.sender).await {
            Ok(level) => level >= UserPowerLevel::Int(Int::from(MODERATOR)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a room's power levels");
                false
            }
        };
    let request = Request {
        chat: Target::new(Platform::Matrix, room.room_id().as_str()),
        kind: if private {
            ChatKind::Private
        } else {
            ChatKind::Group
        },
        may_configure,
        operator,
        user_lang: None,
        prefix: '!',
    };
    let Some(reply) = service.answer(&request, &command).await else {
        return;
    };
    let reply = with_button_line(reply);
    let (body, html) = render::reply_matrix(&reply);
    let content = RoomMessageEventContent::notice_html(body, html);
    let mut content = if matches!(event.content.relates_to, Some(Relation::Thread(_))) {
        content.make_for_thread(&event, ReplyWithinThread::Yes, AddMentions::No)
    } else {
        content.make_reply_to(&event, ForwardThread::No, AddMentions::No)
    };
    content.mentions = Some(Mentions::new());
    if !rooms.throttle.slot(&rooms.shutdown).await {
        return;
    }
    match room.send(content).await {
        Ok(_) => {
            rooms.throttle.succeeded();
            tracing::debug!("answered a command");
        }
        Err(e) => {
            if let SendError::RetryAfter(wait) = super::classify(&e) {
                rooms.throttle.limited(wait);
            }
            tracing::warn!(error = %e, "cannot answer a command");
        }
    }
}

/// A room of the bot and one person (joined or invited), like a Telegram private chat.
/// Counted from the member list: the sync's room summary only comes with lazy loading.
async fn is_private(room: &Room) -> bool {
    match room.members(RoomMemberships::ACTIVE).await {
        Ok(members) => members.len() <= 2,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a room's members; treating it as a group");
            false
        }
    }
}

/// Matrix has no buttons: the commands they stand for are listed on a last line instead.
fn with_button_line(mut reply: Reply) -> Reply {
    if reply.buttons.is_empty() {
        return reply;
    }
    let commands: Vec<String> = reply.buttons.iter().map(|b| b.command.clone()).collect();
    reply.lines.push(vec![Span::Text(commands.join(" · "))]);
    reply.buttons.clear();
    reply
}
