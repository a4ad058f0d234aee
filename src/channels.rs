//! The channels Herald posts to, as one list: those of the configuration file (always
//! present, changed only by editing the file) and those operators added from chat with
//! `/addchannel` (kept in the store, removable with `/removechannel`). Everything that asks
//! "which channels take this feed" or "is this chat a channel" asks here, so a channel
//! added from chat is served exactly like one from the file.

use chrono::{DateTime, Utc};

use crate::article::{LangSet, Target};
use crate::config::{ChannelConfig, Config};
use crate::store::{Store, StoreError};

/// Where a channel comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file: the target as written there.
    Config,
    /// Added from chat by an operator, at this time.
    Chat { at: DateTime<Utc> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Channel {
    /// Where the channel lives now (after any recorded move).
    pub target: Target,
    /// The target as it was configured or added (`telegram:@name`, `matrix:#alias:server`).
    pub named: Target,
    /// The channel's languages as configured (a chat's own `/lang` setting wins).
    pub langs: LangSet,
    /// Only these feeds (their keys); all when absent.
    pub feeds: Option<Vec<String>>,
    pub origin: Origin,
}

impl Channel {
    pub fn takes_feed(&self, feed_key: &str) -> bool {
        self.feeds
            .as_ref()
            .is_none_or(|list| list.iter().any(|f| f == feed_key))
    }

    pub fn is_configured(&self) -> bool {
        self.origin == Origin::Config
    }
}

/// A channel of the configuration file, living at `target`.
fn configured(channel: &ChannelConfig, target: Target) -> Channel {
    Channel {
        target,
        named: channel.target().clone(),
        langs: channel.langs.clone(),
        feeds: channel
            .feeds
            .as_ref()
            .map(|list| list.iter().map(|f| f.get_ref().clone()).collect()),
        origin: Origin::Config,
    }
}

/// Every channel: the configuration's first, in its order, then those added from chat.
/// A chat appears once (the file's entry wins).
pub fn all(config: &Config, store: &Store) -> Result<Vec<Channel>, StoreError> {
    let mut out: Vec<Channel> = Vec::new();
    for channel in &config.channels {
        let target = store.resolve(channel.target())?;
        if out.iter().any(|c| c.target == target) {
            continue;
        }
        out.push(configured(channel, target));
    }
    for (named, added) in store.added_channels()? {
        let target = store.resolve(&named)?;
        if out.iter().any(|c| c.target == target) {
            continue;
        }
        out.push(Channel {
            target,
            named,
            langs: added.langs,
            feeds: added.feeds,
            origin: Origin::Chat { at: added.at },
        });
    }
    Ok(out)
}

/// The channel that lives at `chat` now, whether it was named by its old or its new id.
pub fn at(config: &Config, store: &Store, chat: &Target) -> Result<Option<Channel>, StoreError> {
    if let Some(channel) = config.channel_at(chat, |t| store.resolve(t))? {
        return Ok(Some(configured(channel, store.resolve(channel.target())?)));
    }
    // Channels added from chat are few; a chat that moved is found under its old name or id.
    let now = store.resolve(chat)?;
    Ok(all(config, store)?
        .into_iter()
        .find(|c| !c.is_configured() && (&c.target == chat || c.target == now || &c.named == chat)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AddedChannel;

    #[tokio::test]
    async fn channels_added_from_chat_join_the_configured_ones_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let text = "[[feeds]]\nurl = \"a.xml\"\nlang = \"en\"\n[[feeds]]\nurl = \"b.xml\"\nlang = \"de\"\n[[channels]]\ntarget = \"console\"\nfeeds = [\"a.xml\"]\n";
        let config: Config =
            Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
        let added = |feeds: Option<Vec<String>>| AddedChannel {
            langs: LangSet::parse(&["de".to_string()]).unwrap(),
            feeds,
            at: Utc::now(),
        };
        let group: Target = "telegram:-1001".parse().unwrap();
        store
            .add_channel(&group, &added(Some(vec!["b.xml".into()])))
            .unwrap();
        // The console is configured: an entry added for it does not make a second channel.
        store.add_channel(&Target::console(), &added(None)).unwrap();

        let list = all(&config, &store).unwrap();
        assert_eq!(list.len(), 2);
        assert!(
            list[0].is_configured() && list[0].takes_feed("a.xml") && !list[0].takes_feed("b.xml")
        );
        assert_eq!(list[1].target, group);
        assert!(list[1].takes_feed("b.xml") && !list[1].takes_feed("a.xml"));
        assert!(
            at(&config, &store, &Target::console())
                .unwrap()
                .unwrap()
                .is_configured()
        );
        assert!(
            !at(&config, &store, &group)
                .unwrap()
                .unwrap()
                .is_configured()
        );

        // A group that became a supergroup is still the channel, under its new id, also
        // when asked for by its old one.
        let moved: Target = "telegram:-1002".parse().unwrap();
        store.move_chat(&group, &moved).await.unwrap();
        assert_eq!(at(&config, &store, &moved).unwrap().unwrap().named, moved);
        assert_eq!(at(&config, &store, &group).unwrap().unwrap().named, moved);

        assert!(store.remove_channel(&moved).unwrap());
        assert!(at(&config, &store, &moved).unwrap().is_none());
        assert!(!store.remove_channel(&moved).unwrap(), "removed once");
    }
}
