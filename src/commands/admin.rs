//! The operators' commands that steer the running bot: `channels`, `addchannel`,
//! `removechannel`, `pause`, `resume` and `poll`. Only for operators (`[bot] admins`), in a
//! private chat with the bot or, on Matrix, any room they write in — as `status`. Everyone
//! else gets one neutral sentence.
//!
//! Channels added here and pauses are kept in the store, so they survive restarts. The
//! configuration file's channels are always there: they are listed, paused and resumed
//! like the others, but changed only in the file.

use std::sync::Arc;

use super::{ChatKind, Context, Reply, Request, Span, say};
use crate::article::{Lang, LangSet, Platform, Target};
use crate::channels::{self, Channel};
use crate::i18n::{self, Msg};
use crate::ops::status::ChannelState;
use crate::sink::{BoxFuture, Sink};
use crate::store::{AddedChannel, Pause, StoreError};

/// One feed's result of `/poll`.
#[derive(Clone, Debug)]
pub struct FeedPolled {
    /// The feed's name (or its URL when it has none).
    pub name: String,
    /// New articles and posts queued, or why the feed could not be read.
    pub result: Result<(usize, usize), String>,
}

/// What the commands that act on the running bot reach; the wiring sets it once the
/// platforms run. Before that (and in `herald poll --once`) they answer that the bot is
/// still starting.
pub struct Control {
    /// Reads every feed now (retrying feeds that back off), stores and queues what is new
    /// and wakes the delivery.
    pub poll: Box<dyn Fn() -> BoxFuture<'static, Vec<FeedPolled>> + Send + Sync>,
    /// The running platforms, to check a chat before it becomes a channel.
    pub sinks: Vec<Arc<dyn Sink>>,
}

/// The reply for whoever may not use an operators' command here, if anyone.
pub(super) fn refusal(req: &Request, lang: &Lang) -> Option<Reply> {
    if !req.operator {
        return Some(Reply::text(i18n::text(lang, Msg::OperatorsOnly)));
    }
    // A Telegram group would show the answer to every member.
    if req.kind != ChatKind::Private && req.chat.platform != Platform::Matrix {
        return Some(Reply::text(i18n::text(lang, Msg::OperatorsPrivateChat)));
    }
    None
}

fn lang_of(ctx: &Context<'_>, req: &Request) -> Result<Lang, StoreError> {
    Ok(ctx.reply_lang(req, &ctx.settings(&req.chat)?))
}

/// `channels`: every channel with its languages, feeds, state and queue.
pub fn list(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let lang = lang_of(ctx, req)?;
    if let Some(refused) = refusal(req, &lang) {
        return Ok(refused);
    }
    let all = channels::all(ctx.config, ctx.store)?;
    if all.is_empty() {
        return Ok(Reply::text(&say(&lang, Msg::ChannelsNone, req, &[])));
    }
    let t = |msg: Msg| i18n::text(&lang, msg);
    let mut lines = vec![vec![Span::Bold(t(Msg::PageChannels).into())]];
    for channel in &all {
        // In the words of the status page and `/status`.
        let state = if ctx.store.paused(&channel.target)?.is_some() {
            ChannelState::Paused
        } else {
            match ctx.store.send_failure(&channel.target)? {
                Some(failure) => ChannelState::Failing(failure.reason),
                None => ChannelState::Fine,
            }
        }
        .text(&lang);
        let langs = ctx
            .store
            .chat(&channel.target)?
            .map_or_else(|| channel.langs.clone(), |s| s.langs);
        let origin = match channel.origin {
            channels::Origin::Config => t(Msg::ChannelFromConfig),
            channels::Origin::Chat { .. } => t(Msg::PageAdded),
        };
        let facts = [
            ctx.langs_text(&langs, &lang),
            feeds_text(ctx, channel.feeds.as_deref(), &lang),
            state,
            format!(
                "{}: {}",
                t(Msg::PageQueued),
                ctx.store.queued_for(&channel.target)
            ),
            origin.to_string(),
        ];
        lines.push(vec![
            Span::Text("• ".into()),
            Span::Bold(channel.named.to_string()),
            Span::Text(format!(" — {}", facts.join(" · "))),
        ]);
    }
    Ok(Reply::from_lines(lines))
}

/// The feeds a channel takes, by name: "all feeds" or "Morning edition, wp-de.xml".
fn feeds_text(ctx: &Context<'_>, feeds: Option<&[String]>, lang: &Lang) -> String {
    match feeds {
        None => i18n::text(lang, Msg::ChannelFeedsAll).to_string(),
        Some(keys) => keys
            .iter()
            .map(|key| {
                ctx.config
                    .feeds
                    .iter()
                    .find(|f| f.key() == key)
                    .and_then(|f| f.name.clone())
                    .unwrap_or_else(|| key.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A chat as an operator writes it: `telegram:@name`, `matrix:!room:server`, or without
/// the platform (`@name`, `-100…`, `!room:server`, `#alias:server`) on the platform the
/// command came from.
fn parse_target(req: &Request, arg: &str) -> Option<Target> {
    let bare =
        arg.starts_with(['@', '-', '!', '#']) || arg.starts_with(|c: char| c.is_ascii_digit());
    let written = if bare {
        format!("{}:{arg}", req.chat.platform)
    } else {
        arg.to_string()
    };
    written.parse().ok()
}

/// The reply naming a chat address that is not one.
fn bad_target(req: &Request, lang: &Lang, arg: &str) -> Reply {
    Reply::text(&say(lang, Msg::BadTarget, req, &[("target", arg)]))
}

/// `addchannel <chat> [langs…] [feeds…]`: checks that the bot can post there, then keeps
/// the chat as a channel. Without a chat, in a Matrix room: this room.
pub async fn add(ctx: &Context<'_>, req: &Request, args: &[String]) -> Result<Reply, StoreError> {
    let lang = lang_of(ctx, req)?;
    if let Some(refused) = refusal(req, &lang) {
        return Ok(refused);
    }
    let (target, rest) = match args.split_first() {
        Some((first, rest)) => match parse_target(req, first) {
            Some(target) => (target, rest),
            None => return Ok(bad_target(req, &lang, first)),
        },
        None if req.kind != ChatKind::Private => (req.chat.clone(), &[][..]),
        None => return Ok(Reply::text(&say(&lang, Msg::AddChannelUsage, req, &[]))),
    };
    if let Some(reply) = in_config(ctx, req, &lang, &target)? {
        return Ok(reply);
    }
    // The rest: languages (or `all`) and feeds, by their URL or name.
    let mut codes: Vec<String> = Vec::new();
    let mut feeds: Vec<String> = Vec::new();
    for arg in rest
        .iter()
        .flat_map(|a| a.split(','))
        .filter(|a| !a.is_empty())
    {
        if let Some(feed) = ctx.config.feeds.iter().find(|f| {
            f.key() == arg
                || f.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(arg))
        }) {
            if !feeds.iter().any(|k| k == feed.key()) {
                feeds.push(feed.key().to_string());
            }
        } else if LangSet::parse(&[arg]).is_ok() {
            codes.push(arg.to_string());
        } else {
            let names = feeds_text(
                ctx,
                Some(
                    &ctx.config
                        .feeds
                        .iter()
                        .map(|f| f.key().to_string())
                        .collect::<Vec<_>>(),
                ),
                &lang,
            );
            return Ok(Reply::text(&say(
                &lang,
                Msg::UnknownArgument,
                req,
                &[("arg", arg), ("feeds", &names)],
            )));
        }
    }
    let langs = if codes.is_empty() {
        ctx.config.bot.default_langs.clone()
    } else {
        LangSet::parse(&codes).unwrap_or_default()
    };
    let Some(control) = ctx.control else {
        return Ok(Reply::text(i18n::text(&lang, Msg::NotRunning)));
    };
    let Some(sink) = control
        .sinks
        .iter()
        .find(|s| s.platform() == target.platform)
    else {
        return Ok(Reply::text(&say(
            &lang,
            Msg::NoPlatform,
            req,
            &[("platform", target.platform.name())],
        )));
    };
    let named = target.to_string();
    let chat = match sink.verify_channel(&target.chat).await {
        Ok(chat) => Target::new(target.platform, chat),
        Err(reason) => {
            tracing::info!(channel = %target, %reason, "an operator's new channel was refused");
            return Ok(Reply::text(&say(
                &lang,
                Msg::CannotPost,
                req,
                &[("target", &named), ("reason", &reason.to_string())],
            )));
        }
    };
    // `@name` or `#alias` resolved to the chat's id: the channel is known by the name it was
    // given, and lives at the id (as a configured channel's alias does).
    if chat != target {
        if let Some(reply) = in_config(ctx, req, &lang, &chat)? {
            return Ok(reply);
        }
        if ctx.store.resolve(&target)? != chat {
            ctx.store.move_chat(&target, &chat).await?;
        }
    }
    let existed = ctx.store.added_channel(&target)?.is_some();
    ctx.store.add_channel(
        &target,
        &AddedChannel {
            langs: langs.clone(),
            feeds: (!feeds.is_empty()).then_some(feeds.clone()),
            at: chrono::Utc::now(),
        },
    )?;
    tracing::info!(channel = %target, %langs, "an operator added a channel");
    let feeds_named = feeds_text(ctx, (!feeds.is_empty()).then_some(&feeds[..]), &lang);
    Ok(Reply::text(&say(
        &lang,
        if existed {
            Msg::ChannelUpdated
        } else {
            Msg::ChannelAdded
        },
        req,
        &[
            ("target", &named),
            ("langs", &ctx.langs_text(&langs, &lang)),
            ("feeds", &feeds_named),
        ],
    )))
}

/// The reply for a chat that is a channel of the configuration file, if it is one.
fn in_config(
    ctx: &Context<'_>,
    req: &Request,
    lang: &Lang,
    target: &Target,
) -> Result<Option<Reply>, StoreError> {
    Ok(channels::at(ctx.config, ctx.store, target)?
        .filter(Channel::is_configured)
        .map(|_| {
            let named = target.to_string();
            Reply::text(&say(lang, Msg::ChannelInConfig, req, &[("target", &named)]))
        }))
}

/// `removechannel <chat>`: forgets a channel added from chat, with its waiting posts.
pub fn remove(ctx: &Context<'_>, req: &Request, arg: Option<&str>) -> Result<Reply, StoreError> {
    let lang = lang_of(ctx, req)?;
    if let Some(refused) = refusal(req, &lang) {
        return Ok(refused);
    }
    let Some(arg) = arg else {
        return Ok(Reply::text(&say(&lang, Msg::RemoveChannelUsage, req, &[])));
    };
    let Some(target) = parse_target(req, arg) else {
        return Ok(bad_target(req, &lang, arg));
    };
    let named = target.to_string();
    match channels::at(ctx.config, ctx.store, &target)? {
        None => Ok(Reply::text(&say(
            &lang,
            Msg::NotAChannel,
            req,
            &[("target", &named)],
        ))),
        Some(channel) if channel.is_configured() => Ok(Reply::text(&say(
            &lang,
            Msg::ChannelRemoveConfig,
            req,
            &[("target", &named)],
        ))),
        Some(channel) => {
            ctx.store.remove_channel(&channel.named)?;
            if channel.target != channel.named {
                ctx.store.forget_chat(&channel.target)?;
                ctx.store.resume(Some(&channel.target))?;
            }
            tracing::info!(channel = %channel.named, "an operator removed a channel");
            Ok(Reply::text(&say(
                &lang,
                Msg::ChannelRemoved,
                req,
                &[("target", &named)],
            )))
        }
    }
}

/// `pause [chat]` and `resume [chat]`: stop or restart posting, everywhere or in one
/// channel. Polling goes on; posts wait in the outbox.
pub fn pause(
    ctx: &Context<'_>,
    req: &Request,
    arg: Option<&str>,
    on: bool,
) -> Result<Reply, StoreError> {
    let lang = lang_of(ctx, req)?;
    if let Some(refused) = refusal(req, &lang) {
        return Ok(refused);
    }
    let channel = match arg {
        None => None,
        Some(arg) => {
            let Some(target) = parse_target(req, arg) else {
                return Ok(bad_target(req, &lang, arg));
            };
            match channels::at(ctx.config, ctx.store, &target)? {
                Some(channel) => Some((channel, target.to_string())),
                None => {
                    let named = target.to_string();
                    return Ok(Reply::text(&say(
                        &lang,
                        Msg::NotAChannel,
                        req,
                        &[("target", &named)],
                    )));
                }
            }
        }
    };
    let at = chrono::Utc::now();
    let reply = match (&channel, on) {
        (Some((channel, named)), true) => {
            ctx.store.pause(Some(&channel.target), &Pause { at })?;
            tracing::info!(channel = %channel.named, "an operator paused posting to a channel");
            let queued = ctx.store.queued_for(&channel.target);
            i18n::format(
                &lang,
                Msg::PausedOne,
                &[
                    ("target", named.into()),
                    ("queued", queued.into()),
                    ("p", req.prefix.to_string().as_str().into()),
                ],
            )
        }
        (None, true) => {
            ctx.store.pause(None, &Pause { at })?;
            tracing::info!("an operator paused posting everywhere");
            i18n::format(
                &lang,
                Msg::PausedAll,
                &[
                    ("queued", ctx.store.outbox_len().into()),
                    ("p", req.prefix.to_string().as_str().into()),
                ],
            )
        }
        (Some((channel, named)), false) => {
            if ctx.store.resume(Some(&channel.target))? {
                tracing::info!(channel = %channel.named, "an operator resumed posting to a channel");
                say(&lang, Msg::ResumedOne, req, &[("target", named)])
            } else {
                say(&lang, Msg::NotPausedOne, req, &[("target", named)])
            }
        }
        (None, false) => {
            let mut text = if ctx.store.resume(None)? {
                tracing::info!("an operator resumed posting everywhere");
                i18n::text(&lang, Msg::ResumedAll).to_string()
            } else {
                i18n::text(&lang, Msg::NotPausedAll).to_string()
            };
            let still: Vec<String> = ctx
                .store
                .paused_chats()?
                .into_iter()
                .map(|(target, _)| {
                    channels::at(ctx.config, ctx.store, &target)
                        .ok()
                        .flatten()
                        .map_or_else(|| target.to_string(), |c| c.named.to_string())
                })
                .collect();
            if !still.is_empty() {
                text.push('\n');
                text.push_str(&say(
                    &lang,
                    Msg::StillPaused,
                    req,
                    &[("targets", &still.join(", "))],
                ));
            }
            text
        }
    };
    Ok(Reply::text(&reply))
}

/// `poll`: reads every feed now and says what each brought.
pub async fn poll(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let lang = lang_of(ctx, req)?;
    if let Some(refused) = refusal(req, &lang) {
        return Ok(refused);
    }
    let Some(control) = ctx.control else {
        return Ok(Reply::text(i18n::text(&lang, Msg::NotRunning)));
    };
    let results = (control.poll)().await;
    let mut lines = vec![vec![Span::Text(
        i18n::text(&lang, Msg::PollHeader).to_string(),
    )]];
    for feed in results {
        let outcome = match feed.result {
            Ok((0, _)) => i18n::text(&lang, Msg::PollUnchanged).to_string(),
            Ok((new, queued)) => i18n::format(
                &lang,
                Msg::PollNew,
                &[("new", new.into()), ("queued", queued.into())],
            ),
            Err(reason) => i18n::format(
                &lang,
                Msg::PollFailed,
                &[(
                    "reason",
                    crate::text::truncate_words(&reason, crate::ops::status::REASON_MAX)
                        .as_str()
                        .into(),
                )],
            ),
        };
        lines.push(vec![
            Span::Text("• ".into()),
            Span::Bold(feed.name),
            Span::Text(format!(" — {outcome}")),
        ]);
    }
    Ok(Reply::from_lines(lines))
}
