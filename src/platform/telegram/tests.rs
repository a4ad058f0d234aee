//! Unit tests of the Telegram adapter's pure parts: the command menu, recipients and
//! whether a command names this bot.

use teloxide::types::{ChatId, Recipient};

use super::listen::{addressed, menu};
use super::send::recipient;
use crate::article::Lang;
use crate::i18n;

#[test]
fn the_menu_lists_every_command_in_every_language() {
    for code in i18n::UI_LANGS {
        let lang = Lang::parse(code).unwrap();
        let names: Vec<String> = menu(&lang).into_iter().map(|c| c.command).collect();
        assert_eq!(
            names,
            [
                "latest",
                "lang",
                "subscribe",
                "unsubscribe",
                "about",
                "help"
            ],
            "{code}"
        );
        assert!(
            menu(&lang)
                .iter()
                .all(|c| (3..=256).contains(&c.description.chars().count()))
        );
    }
}

#[test]
fn recipients_and_addressing() {
    assert_eq!(recipient("-1001"), Recipient::Id(ChatId(-1001)));
    assert_eq!(
        recipient("@news"),
        Recipient::ChannelUsername("@news".into())
    );
    assert!(addressed("/foo@HeraldBot x", "heraldbot"));
    assert!(!addressed("/foo x", "heraldbot"));
}
