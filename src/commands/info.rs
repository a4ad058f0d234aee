//! `start`, `help`, `about` and the answer to unknown commands.

use super::{Button, Context, Reply, Request, say};
use crate::i18n::{self, Msg};
use crate::store::StoreError;

/// The welcome; in a chat that is not subscribed yet, with a button to subscribe.
pub fn start(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    let mut reply = Reply::text(&say(&lang, Msg::Start, req, &[]));
    if !settings.subscribed && req.may_configure {
        let command = format!("{}subscribe", req.prefix);
        reply.buttons.push(Button {
            label: command.clone(),
            command,
        });
    }
    Ok(reply)
}

pub fn help(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let lang = ctx.reply_lang(req, &ctx.settings(&req.chat)?);
    let mut text = say(&lang, Msg::Help, req, &[]);
    // Operators also see their own commands (they are not in the platforms' menus).
    if req.operator {
        text.push_str("\n\n");
        text.push_str(&say(&lang, Msg::HelpOperators, req, &[]));
    }
    Ok(Reply::text(&text))
}

pub fn about(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let lang = ctx.reply_lang(req, &ctx.settings(&req.chat)?);
    let feeds: Vec<String> = ctx
        .config
        .feeds
        .iter()
        .map(|f| f.name.clone().unwrap_or_else(|| host_of(f.key())))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let text = i18n::format(
        &lang,
        Msg::About,
        &[
            ("version", env!("CARGO_PKG_VERSION").into()),
            ("feeds", (&feeds.join(", ")).into()),
            ("count", feeds.len().into()),
        ],
    );
    Ok(Reply::text(&text))
}

pub fn unknown(ctx: &Context<'_>, req: &Request, name: &str) -> Result<Reply, StoreError> {
    let lang = ctx.reply_lang(req, &ctx.settings(&req.chat)?);
    let text = format!(
        "{}\n\n{}",
        say(&lang, Msg::UnknownCommand, req, &[("cmd", name)]),
        say(&lang, Msg::Help, req, &[])
    );
    Ok(Reply::text(&text))
}

/// A feed's host ("postsovietleft.org"), or the key itself for files.
fn host_of(key: &str) -> String {
    url::Url::parse(key)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| key.to_string())
}
