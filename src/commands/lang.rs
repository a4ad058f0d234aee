//! `lang`: without arguments, shows the chat's languages and offers the available ones as
//! buttons; with codes (or `all`), sets them — for those allowed to configure the chat.

use super::{Button, Context, Reply, Request, say};
use crate::article::{Lang, LangSet};
use crate::i18n::{self, Msg};
use crate::store::StoreError;

/// The languages articles exist in: the feeds' own, plus any found in recent articles.
pub fn available(ctx: &Context<'_>) -> Result<Vec<Lang>, StoreError> {
    let mut langs = ctx.config.feed_langs();
    for article in ctx.store.latest(&LangSet::All, 200)? {
        if !langs.contains(&article.lang) {
            langs.push(article.lang);
        }
    }
    Ok(langs)
}

pub fn run(ctx: &Context<'_>, req: &Request, args: &[String]) -> Result<Reply, StoreError> {
    let mut settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    let available = available(ctx)?;
    if args.is_empty() {
        let text = say(
            &lang,
            Msg::LangCurrent,
            req,
            &[("langs", &ctx.langs_text(&settings.langs, &lang))],
        );
        let mut reply = Reply::text(&text);
        reply.buttons = available
            .iter()
            .map(|l| Button {
                label: format!("{} ({l})", i18n::language_name(l)),
                command: format!("{}lang {l}", req.prefix),
            })
            .collect();
        reply.buttons.push(Button {
            label: i18n::text(&lang, Msg::AllLanguages).to_string(),
            command: format!("{}lang all", req.prefix),
        });
        return Ok(reply);
    }
    if !req.may_configure {
        return Ok(Reply::text(&say(&lang, Msg::NotAllowed, req, &[])));
    }
    // Codes may be written "de en" or "de,en".
    let codes: Vec<&str> = args
        .iter()
        .flat_map(|a| a.split(','))
        .filter(|c| !c.is_empty())
        .collect();
    let wanted = match LangSet::parse(&codes) {
        Ok(set) => set,
        Err(_) => {
            return Ok(unknown(
                ctx,
                req,
                &lang,
                codes.first().copied().unwrap_or(""),
                &available,
            ));
        }
    };
    if let LangSet::Only(list) = &wanted
        && let Some(missing) = list.iter().find(|l| !available.contains(l))
    {
        return Ok(unknown(ctx, req, &lang, missing.as_str(), &available));
    }
    settings.langs = wanted;
    ctx.store.put_chat(&req.chat, &settings)?;
    let reply_lang = ctx.reply_lang(req, &settings);
    Ok(Reply::text(&say(
        &reply_lang,
        Msg::LangSet,
        req,
        &[("langs", &ctx.langs_text(&settings.langs, &reply_lang))],
    )))
}

fn unknown(
    _ctx: &Context<'_>,
    req: &Request,
    lang: &Lang,
    code: &str,
    available: &[Lang],
) -> Reply {
    let list: Vec<&str> = available.iter().map(Lang::as_str).collect();
    Reply::text(&say(
        lang,
        Msg::LangUnknown,
        req,
        &[("code", code), ("available", &list.join(", "))],
    ))
}
