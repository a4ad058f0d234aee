//! French texts.

use super::Msg;

pub fn text(msg: Msg) -> &'static str {
    match msg {
        Msg::ReadMore => "Lire la suite",
        Msg::Start => {
            "Bonjour ! J’apporte les nouveaux articles dans ce chat dès leur publication.\n\nEnvoyez {p}subscribe pour les recevoir ici, {p}lang pour choisir les langues, {p}latest pour voir les plus récents."
        }
        Msg::Help => {
            "Commandes :\n{p}latest [n] — les articles les plus récents (5, au plus 10)\n{p}lang — voir ou choisir les langues : {p}lang de en, {p}lang all\n{p}subscribe — recevoir les nouveaux articles dans ce chat\n{p}unsubscribe — arrêter, et effacer ce que j’ai gardé sur ce chat\n{p}about — ce qu’est ce bot\n{p}help — cette liste"
        }
        Msg::About => {
            "Herald {version} : un bot qui apporte les nouveaux articles de {feeds} dans les chats, sur Telegram et Matrix."
        }
        Msg::LatestHeader => "Articles les plus récents ({langs}) :",
        Msg::LatestEmpty => "Pas encore d’articles ({langs}).",
        Msg::LangCurrent => {
            "Ce chat reçoit les articles en : {langs}.\nChoisissez avec {p}lang suivi des codes, ou {p}lang all :"
        }
        Msg::LangSet => "C’est fait : ce chat reçoit désormais les articles en {langs}.",
        Msg::LangUnknown => "Il n’y a pas d’articles en « {code} ». Disponibles : {available}.",
        Msg::AllLanguages => "toutes les langues",
        Msg::Subscribed => "Abonné : les nouveaux articles ({langs}) arriveront dans ce chat.",
        Msg::AlreadySubscribed => "Ce chat est déjà abonné ({langs}).",
        Msg::Unsubscribed => "Désabonné. Tout ce que j’avais gardé sur ce chat a été effacé.",
        Msg::NotSubscribed => "Ce chat n’était pas abonné. Rien n’est gardé à son sujet.",
        Msg::ConfiguredByOperators => {
            "Ce chat reçoit les articles parce que les opérateurs du bot l’ont configuré ainsi. Se désabonner ici ne change rien ; adressez-vous à eux."
        }
        Msg::NotAllowed => {
            "Désolé, seuls les administrateurs de ce chat peuvent modifier ses réglages."
        }
        Msg::UnknownCommand => "Je ne connais pas la commande {cmd}.",
        Msg::InternalError => {
            "Désolé, quelque chose s’est mal passé de mon côté. Réessayez plus tard."
        }
    }
}
