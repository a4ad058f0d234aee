//! Russian texts.

use super::Msg;

pub fn text(msg: Msg) -> &'static str {
    match msg {
        Msg::ReadMore => "Читать дальше",
        Msg::Start => {
            "Здравствуйте! Я приношу в этот чат новые статьи, как только они выходят.\n\nОтправьте {p}subscribe, чтобы получать их здесь, {p}lang, чтобы выбрать языки, {p}latest, чтобы увидеть самые новые."
        }
        Msg::Help => {
            "Команды:\n{p}latest [n] — новейшие статьи (5, не больше 10)\n{p}lang — показать или выбрать языки: {p}lang de en, {p}lang all\n{p}subscribe — получать новые статьи в этом чате\n{p}unsubscribe — отписаться и стереть всё, что я храню об этом чате\n{p}about — что это за бот\n{p}help — этот список"
        }
        Msg::About => {
            "Herald {version}: бот, который приносит новые статьи из {feeds} в чаты Telegram и Matrix."
        }
        Msg::LatestHeader => "Новейшие статьи ({langs}):",
        Msg::LatestEmpty => "Статей пока нет ({langs}).",
        Msg::LangCurrent => {
            "Этот чат получает статьи на языках: {langs}.\nВыберите с помощью {p}lang и кодов языков или {p}lang all:"
        }
        Msg::LangSet => "Готово: теперь этот чат получает статьи на языках: {langs}.",
        Msg::LangUnknown => "Статей на языке «{code}» нет. Доступны: {available}.",
        Msg::AllLanguages => "все языки",
        Msg::Subscribed => "Подписка оформлена: новые статьи ({langs}) будут приходить в этот чат.",
        Msg::AlreadySubscribed => "Этот чат уже подписан ({langs}).",
        Msg::Unsubscribed => "Подписка отменена. Всё, что я хранил об этом чате, стёрто.",
        Msg::NotSubscribed => "Этот чат не был подписан. Ничего о нём не хранится.",
        Msg::ConfiguredByOperators => {
            "Этот чат получает статьи, потому что так его настроили операторы бота. Отписка здесь ничего не меняет; пожалуйста, обратитесь к ним."
        }
        Msg::NotAllowed => "Извините, менять настройки этого чата могут только его администраторы.",
        Msg::UnknownCommand => "Я не знаю команды {cmd}.",
        Msg::InternalError => "Извините, у меня что-то пошло не так. Попробуйте позже.",
    }
}
