//! German texts.

use super::Msg;

pub fn text(msg: Msg) -> &'static str {
    match msg {
        Msg::ReadMore => "Weiterlesen",
        Msg::Start => {
            "Hallo! Ich bringe neue Artikel in diesen Chat, sobald sie erscheinen.\n\nSende {p}subscribe, um sie hier zu erhalten, {p}lang, um Sprachen zu wählen, {p}latest für die neuesten."
        }
        Msg::Help => {
            "Befehle:\n{p}latest [n] — die neuesten Artikel (5, höchstens 10)\n{p}lang — Sprachen zeigen oder wählen: {p}lang de en, {p}lang all\n{p}subscribe — neue Artikel in diesem Chat erhalten\n{p}unsubscribe — abbestellen und alles löschen, was ich über diesen Chat gespeichert habe\n{p}about — was dieser Bot ist\n{p}help — diese Liste"
        }
        Msg::About => {
            "Herald {version}: ein Bot, der neue Artikel von {feeds} in Chats bringt, auf Telegram und Matrix."
        }
        Msg::LatestHeader => "Neueste Artikel ({langs}):",
        Msg::LatestEmpty => "Noch keine Artikel ({langs}).",
        Msg::LangCurrent => {
            "Dieser Chat erhält Artikel auf: {langs}.\nWähle mit {p}lang und Sprachcodes, oder {p}lang all:"
        }
        Msg::LangSet => "Erledigt: Dieser Chat erhält jetzt Artikel auf {langs}.",
        Msg::LangUnknown => "Es gibt keine Artikel auf „{code}“. Verfügbar: {available}.",
        Msg::AllLanguages => "allen Sprachen",
        Msg::Subscribed => "Abonniert: Neue Artikel ({langs}) kommen in diesen Chat.",
        Msg::AlreadySubscribed => "Dieser Chat ist bereits abonniert ({langs}).",
        Msg::Unsubscribed => {
            "Abbestellt. Alles, was ich über diesen Chat gespeichert hatte, ist gelöscht."
        }
        Msg::NotSubscribed => "Dieser Chat war nicht abonniert. Über ihn ist nichts gespeichert.",
        Msg::ConfiguredByOperators => {
            "Dieser Chat erhält Artikel, weil die Betreiber des Bots ihn so eingerichtet haben. Abbestellen ändert hier nichts; bitte wende dich an sie."
        }
        Msg::NotAllowed => {
            "Entschuldigung, nur die Administratoren dieses Chats können seine Einstellungen ändern."
        }
        Msg::UnknownCommand => "Den Befehl {cmd} kenne ich nicht.",
        Msg::InternalError => {
            "Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuche es später noch einmal."
        }
    }
}
