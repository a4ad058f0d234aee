//! `subscribe` and `unsubscribe`. Unsubscribing erases everything stored about the chat:
//! the people using this bot may be at risk, so nothing is kept that need not be. A chat
//! the operators configured (a channel or group in the config file) is theirs to change:
//! there `subscribe` and `unsubscribe` only say so and change nothing, its feeds, queue and
//! history included.

use super::{Context, Reply, Request, say};
use crate::i18n::Msg;
use crate::store::StoreError;

pub fn subscribe(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let mut settings = ctx.settings(&req.chat)?;
    let lang = ctx.reply_lang(req, &settings);
    // A configured chat takes the feeds the operators chose: subscribing would widen them.
    if crate::channels::at(ctx.config, ctx.store, &req.chat)?.is_some() {
        return Ok(Reply::text(&say(
            &lang,
            Msg::SubscribeConfiguredByOperators,
            req,
            &[],
        )));
    }
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
    if crate::channels::at(ctx.config, ctx.store, &req.chat)?.is_some() {
        return Ok(Reply::text(&say(
            &lang,
            Msg::ConfiguredByOperators,
            req,
            &[],
        )));
    }
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

#[cfg(test)]
mod tests {
    use super::super::{ChatKind, Context, Request, execute, parse};
    use crate::article::{Article, Target};
    use crate::config::Config;
    use crate::store::{FeedState, Store};

    fn article(n: u32) -> Article {
        Article::sample(n, "en")
    }

    #[tokio::test]
    async fn unsubscribe_in_an_operators_channel_only_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[telegram]\ntoken = \"1:x\"\n\
            [matrix]\nhomeserver = \"http://localhost\"\nuser = \"@h:localhost\"\naccess_token = \"t\"\n\
            [[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\n\
            [[channels]]\ntarget = \"telegram:-100500\"\n\
            [[channels]]\ntarget = \"matrix:!ops:localhost\"\n";
        let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let channel: Target = "telegram:-100500".parse().unwrap();
        let group: Target = "matrix:!ops:localhost".parse().unwrap();
        let (a, b) = (article(1), article(2));
        let deliveries: Vec<(Target, String)> = [&channel, &group]
            .into_iter()
            .flat_map(|t| [(t.clone(), a.id.clone()), (t.clone(), b.id.clone())])
            .collect();
        store
            .commit_poll(
                "en.xml",
                &FeedState::default(),
                &[a.clone(), b],
                &deliveries,
                None,
            )
            .await
            .unwrap();
        let sent = store.next_for(&channel).unwrap().unwrap();
        store.mark_sent(&sent, "41", None).await.unwrap();
        let ctx = Context {
            config: &config,
            store: &store,
            watch: None,
            control: None,
        };
        for (chat, kind, lang, expected) in [
            (
                &channel,
                ChatKind::Channel,
                "en",
                "This chat receives articles because the bot's operators set it up to.",
            ),
            (
                &group,
                ChatKind::Group,
                "de",
                "Dieser Chat erhält Artikel, weil die Betreiber des Bots ihn so eingerichtet haben.",
            ),
        ] {
            let req = Request {
                chat: chat.clone(),
                kind,
                may_configure: true,
                operator: false,
                user_lang: Some(lang.into()),
                prefix: '/',
            };
            let reply = execute(&ctx, &req, &parse("/unsubscribe", None).unwrap()).await;
            let reply = crate::render::reply_plain(&reply);
            assert!(reply.starts_with(expected), "{reply}");
        }
        assert_eq!(store.outbox_len(), 3, "the queues are kept");
        assert!(
            store.was_sent(&channel, &a.id).unwrap().is_some(),
            "and the history"
        );
        assert!(store.next_for(&group).unwrap().is_some());
    }

    #[tokio::test]
    async fn subscribe_in_an_operators_channel_only_says_so_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[telegram]\ntoken = \"1:x\"\n\
            [[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\n\
            [[feeds]]\nurl = \"de.xml\"\nlang = \"de\"\n\
            [[channels]]\ntarget = \"telegram:-100500\"\nfeeds = [\"en.xml\"]\n";
        let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let group: Target = "telegram:-100500".parse().unwrap();
        let ctx = Context {
            config: &config,
            store: &store,
            watch: None,
            control: None,
        };
        for (lang, expected) in [
            (
                "en",
                "This chat receives articles because the bot's operators set it up to. Subscribing here changes nothing",
            ),
            (
                "de",
                "Dieser Chat erhält Artikel, weil die Betreiber des Bots ihn so eingerichtet haben. Abonnieren ändert hier nichts",
            ),
        ] {
            let req = Request {
                chat: group.clone(),
                kind: ChatKind::Group,
                may_configure: true,
                operator: false,
                user_lang: Some(lang.into()),
                prefix: '/',
            };
            let reply = execute(&ctx, &req, &parse("/subscribe", None).unwrap()).await;
            let reply = crate::render::reply_plain(&reply);
            assert!(reply.starts_with(expected), "{reply}");
        }
        assert!(
            store.chat(&group).unwrap().is_none_or(|s| !s.subscribed),
            "the chat is no subscriber: it takes the feeds the operators chose"
        );
        assert!(store.subscribers().unwrap().is_empty());
    }
}
