//! The one list of the store's sled trees: each field's name in code, its name on disk
//! and what it maps (the module doc of `store` has the same as one table). The list makes
//! the [`Trees`] struct, the opening of every tree and [`NAMES`], so a tree is added in one
//! place. The names on disk never change: a store written by an older Herald opens as is.

macro_rules! trees {
    ($( $(#[$doc:meta])* $field:ident = $name:literal, )*) => {
        /// Every tree of the database, opened once; [`Store`](super::Store) derefs to it, so
        /// each use case names a tree as `self.outbox`.
        #[derive(Clone)]
        pub struct Trees {
            $( $(#[$doc])* pub(super) $field: sled::Tree, )*
        }

        impl Trees {
            /// Opens (creating) every tree of the list.
            pub(super) fn open(db: &sled::Db) -> sled::Result<Trees> {
                Ok(Trees {
                    $( $field: db.open_tree($name)?, )*
                })
            }
        }

        /// The name on disk of every tree of the list, in its order.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(super) const NAMES: &[&str] = &[ $( $name, )* ];
    };
}

trees! {
    /// article id → `Article`.
    articles = "articles",
    /// time article id → (): the articles in time order, for `/latest` and forgetting.
    by_time = "by_time",
    /// feed → `FeedState`; its presence means "polled successfully before".
    feeds = "feeds",
    /// chat → `ChatSettings`.
    chats = "chats",
    /// chat NUL time article id → `QueuedPost`: each chat's queue, in article time order.
    outbox = "outbox",
    /// chat NUL article id → `SentRecord`.
    sent = "sent",
    /// old chat → new chat: chats that changed their id.
    moved = "moved",
    /// chat NUL time article id → `SetAsideRecord`: posts set aside, never to be sent.
    set_aside = "dead",
    /// feed NUL article id → when the feed last listed it (milliseconds since the epoch,
    /// big-endian; empty in stores from before the stamps): the articles each feed has
    /// listed. `feed NUL` alone marks a feed whose items are recorded (see the module doc on
    /// upgrades), stamped with the feed's last poll that brought a body.
    feed_items = "feed_items",
    /// chat (or platform name) → when Herald last posted there, in milliseconds since the
    /// epoch: a restarted process paces from the killed one's last sends.
    last_sent = "last_sent",
    /// article id NUL chat → (): the chats each article was posted to, so a changed
    /// article's messages can be found and edited.
    posted = "posted",
    /// feed → `PollRecord`.
    feed_polls = "feed_polls",
    /// chat → its last failed send (`Failure`), removed by a send that works.
    send_failures = "send_failures",
    /// chat → `AddedChannel`: channels operators added from chat (`/addchannel`).
    added_channels = "added_channels",
    /// chat, or `*` for every chat → `Pause`: posting stopped by an operator (`/pause`).
    paused = "paused",
}
