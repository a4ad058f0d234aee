//! `subscribe` and `unsubscribe`. Unsubscribing erases everything stored about the chat:
//! the people using this bot may be at risk, so nothing is kept that need not be.

use super::{Context, Reply, Request, say};
use crate::i18n::Msg;
use crate::store::StoreError;

pub fn subscribe(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let mut settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    if !req.may_configure {
        return Ok(Reply::text(&say(&lang, Msg::NotAllowed, req, &[])));
    }
    let langs = ctx.langs_text(&settings.langs, &lang);
    if settings.subscribed {
        return Ok(Reply::text(&say(
            &lang,
            Msg::AlreadySubscribed,
            req,
            &[("langs", &langs)],
        )));
    }
    settings.subscribed = true;
    settings.since = chrono::Utc::now();
    ctx.store.put_chat(&req.chat, &settings)?;
    tracing::info!(platform = %req.chat.platform, "a chat subscribed");
    Ok(Reply::text(&say(
        &lang,
        Msg::Subscribed,
        req,
        &[("langs", &langs)],
    )))
}

pub fn unsubscribe(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    if !req.may_configure {
        return Ok(Reply::text(&say(&lang, Msg::NotAllowed, req, &[])));
    }
    let was = ctx.store.chat(&req.chat)?.is_some_and(|s| s.subscribed);
    ctx.store.forget_chat(&req.chat)?;
    tracing::info!(platform = %req.chat.platform, "a chat unsubscribed; its data was erased");
    Ok(Reply::text(&say(
        &lang,
        if was {
            Msg::Unsubscribed
        } else {
            Msg::NotSubscribed
        },
        req,
        &[],
    )))
}
