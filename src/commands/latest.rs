//! `latest [n]`: one reply listing the newest n articles (default 5, at most 10) in the
//! chat's languages, each with its title, date and link.

use super::{Context, Reply, Request, Span, say};
use crate::i18n::Msg;
use crate::store::StoreError;

pub const DEFAULT: usize = 5;
pub const MAX: usize = 10;

pub fn run(ctx: &Context<'_>, req: &Request, arg: Option<&str>) -> Result<Reply, StoreError> {
    let settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    let n = arg
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(DEFAULT)
        .clamp(1, MAX);
    let articles = ctx.store.latest(&settings.langs, n)?;
    let langs = ctx.langs_text(&settings.langs, &lang);
    if articles.is_empty() {
        return Ok(Reply::text(&say(
            &lang,
            Msg::LatestEmpty,
            req,
            &[("langs", &langs)],
        )));
    }
    let mut lines = vec![vec![Span::Bold(say(
        &lang,
        Msg::LatestHeader,
        req,
        &[("langs", &langs)],
    ))]];
    for article in articles {
        let mut line = vec![Span::Text("• ".into())];
        line.push(match &article.link {
            Some(url) => Span::Link {
                text: article.title.clone(),
                url: url.clone(),
            },
            None => Span::Text(article.title.clone()),
        });
        if let Some(date) = article.published.or(article.updated) {
            line.push(Span::Text(format!(" — {}", date.format("%Y-%m-%d"))));
        }
        lines.push(line);
    }
    Ok(Reply::from_lines(lines))
}
