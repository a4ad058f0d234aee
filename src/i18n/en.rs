//! English texts.

use super::Msg;

pub fn text(msg: Msg) -> &'static str {
    match msg {
        Msg::ReadMore => "Read more",
        Msg::Start => {
            "Hello! I bring new articles into this chat as soon as they are published.\n\nSend {p}subscribe to receive them here, {p}lang to choose languages, {p}latest to see the newest ones."
        }
        Msg::Help => {
            "Commands:\n{p}latest [n] — the newest articles (5, at most 10)\n{p}lang — show or choose languages: {p}lang de en, {p}lang all\n{p}subscribe — receive new articles in this chat\n{p}unsubscribe — stop, and erase what I stored about this chat\n{p}about — what this bot is\n{p}help — this list"
        }
        Msg::About => {
            "Herald {version}: a bot that carries new articles from {feeds} into chats, on Telegram and Matrix."
        }
        Msg::LatestHeader => "Latest articles ({langs}):",
        Msg::LatestEmpty => "No articles yet ({langs}).",
        Msg::LangCurrent => {
            "This chat receives articles in: {langs}.\nChoose with {p}lang followed by codes, or {p}lang all:"
        }
        Msg::LangSet => "Done: this chat now receives articles in {langs}.",
        Msg::LangUnknown => "There are no articles in “{code}”. Available: {available}.",
        Msg::AllLanguages => "all languages",
        Msg::Subscribed => "Subscribed: new articles ({langs}) will arrive in this chat.",
        Msg::AlreadySubscribed => "This chat is already subscribed ({langs}).",
        Msg::Unsubscribed => "Unsubscribed. Everything I stored about this chat has been erased.",
        Msg::NotSubscribed => "This chat was not subscribed. Nothing about it is stored.",
        Msg::ConfiguredByOperators => {
            "This chat receives articles because the bot's operators set it up to. Unsubscribing here changes nothing; please ask them."
        }
        Msg::NotAllowed => "Sorry, only the administrators of this chat can change its settings.",
        Msg::UnknownCommand => "I don't know the command {cmd}.",
        Msg::InternalError => "Sorry, something went wrong on my side. Please try again later.",
    }
}
