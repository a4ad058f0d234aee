//! Ukrainian texts.

use super::Msg;

pub fn text(msg: Msg) -> &'static str {
    match msg {
        Msg::ReadMore => "Читати далі",
        Msg::Start => {
            "Вітаю! Я приношу в цей чат нові статті, щойно вони виходять.\n\nНадішліть {p}subscribe, щоб отримувати їх тут, {p}lang, щоб вибрати мови, {p}latest, щоб побачити найновіші."
        }
        Msg::Help => {
            "Команди:\n{p}latest [n] — найновіші статті (5, не більше 10)\n{p}lang — показати або вибрати мови: {p}lang de en, {p}lang all\n{p}subscribe — отримувати нові статті в цьому чаті\n{p}unsubscribe — відписатися й стерти все, що я зберігаю про цей чат\n{p}about — що це за бот\n{p}help — цей список"
        }
        Msg::About => {
            "Herald {version}: бот, який приносить нові статті з {feeds} у чати Telegram і Matrix."
        }
        Msg::LatestHeader => "Найновіші статті ({langs}):",
        Msg::LatestEmpty => "Статей поки немає ({langs}).",
        Msg::LangCurrent => {
            "Цей чат отримує статті мовами: {langs}.\nОберіть за допомогою {p}lang і кодів мов або {p}lang all:"
        }
        Msg::LangSet => "Готово: тепер цей чат отримує статті мовами: {langs}.",
        Msg::LangUnknown => "Статей мовою «{code}» немає. Доступні: {available}.",
        Msg::AllLanguages => "усі мови",
        Msg::Subscribed => "Підписку оформлено: нові статті ({langs}) надходитимуть у цей чат.",
        Msg::AlreadySubscribed => "Цей чат уже підписано ({langs}).",
        Msg::Unsubscribed => "Підписку скасовано. Усе, що я зберігав про цей чат, стерто.",
        Msg::NotSubscribed => "Цей чат не був підписаний. Нічого про нього не зберігається.",
        Msg::ConfiguredByOperators => {
            "Цей чат отримує статті, бо так його налаштували оператори бота. Відписка тут нічого не змінює; будь ласка, зверніться до них."
        }
        Msg::NotAllowed => {
            "Вибачте, змінювати налаштування цього чату можуть лише його адміністратори."
        }
        Msg::UnknownCommand => "Я не знаю команди {cmd}.",
        Msg::InternalError => "Вибачте, у мене щось пішло не так. Спробуйте пізніше.",
    }
}
