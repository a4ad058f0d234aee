//! Chats: their settings, the chats that subscribed, a chat forgotten (everything about
//! it erased) and a chat that moved to a new id (everything carried over).

use super::keys::{chat_key, chat_prefix, read_chat};
use super::records::{from_json, get_json, to_json};
use super::{ChatSettings, Counts, Result, Store};
use crate::article::Target;

impl Store {
    pub fn chat(&self, target: &Target) -> Result<Option<ChatSettings>> {
        let t = self.t()?;
        get_json(&t.chats, &chat_key(target))
    }

    /// Saves a chat's settings; durable once the caller's next `flush` returns.
    pub fn put_chat(&self, target: &Target, settings: &ChatSettings) -> Result<()> {
        self.writable_at("put_chat")?;
        let written = (|| {
            let t = self.t()?;
            t.chats.insert(chat_key(target), to_json(settings)?)?;
            Ok(())
        })();
        self.wrote(written)
    }

    /// Every chat that subscribed, with its settings.
    pub fn subscribers(&self) -> Result<Vec<(Target, ChatSettings)>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for entry in t.chats.iter() {
            let (key, value) = entry?;
            let settings: ChatSettings = from_json(&value)?;
            if settings.subscribed
                && let Some(target) = read_chat(&key)
            {
                out.push((target, settings));
            }
        }
        Ok(out)
    }

    /// Erases everything stored about a chat: settings, queued deliveries, sent records,
    /// deliveries set aside. Durable once the caller's next `flush` returns.
    pub fn forget_chat(&self, target: &Target) -> Result<()> {
        self.writable_at("forget_chat")?;
        let written = (|| {
            let t = self.t()?;
            t.chats.remove(chat_key(target))?;
            t.last_sent.remove(chat_key(target))?;
            t.send_failures.remove(chat_key(target))?;
            for (tree, counter) in [
                (&t.outbox, Some(&self.counts.outbox)),
                (&t.sent, None),
                (&t.set_aside, Some(&self.counts.set_aside)),
            ] {
                for key in tree.scan_prefix(chat_prefix(target)).keys() {
                    if tree.remove(key?)?.is_some()
                        && let Some(counter) = counter
                    {
                        Counts::add(counter, -1);
                    }
                }
            }
            Ok(())
        })();
        self.wrote(written)
    }

    /// A chat changed its id (a Telegram group became a supergroup, a Matrix room was
    /// upgraded): remember the move and carry over its settings, pause, queue and sent
    /// records, and a channel added from chat under the old id (a channel added by its
    /// `@name` or `#alias` stays known by that name, which now leads to the new id).
    pub async fn move_chat(&self, from: &Target, to: &Target) -> Result<()> {
        self.writable_at("move_chat")?;
        let written = async {
            let t = self.t()?;
            let _commit = self.commits.read().await;
            t.moved.insert(chat_key(from), chat_key(to))?;
            if let Some(settings) = t.chats.remove(chat_key(from))? {
                t.chats.insert(chat_key(to), settings)?;
            }
            // Written at the new id first, then removed at the old: a move cut short is
            // repeated, and the new id's own record (if any) wins.
            let mut carried = vec![&t.paused];
            if !is_name(from) {
                carried.push(&t.added_channels);
            }
            for tree in carried {
                if let Some(value) = tree.get(chat_key(from))? {
                    let _ = tree.compare_and_swap(chat_key(to), None::<&[u8]>, Some(value))?;
                    tree.remove(chat_key(from))?;
                }
            }
            let old_prefix = chat_prefix(from);
            let new_prefix = chat_prefix(to);
            for (tree, counter) in [(&t.outbox, Some(&self.counts.outbox)), (&t.sent, None)] {
                for entry in tree.scan_prefix(&old_prefix) {
                    let (key, value) = entry?;
                    let mut new_key = new_prefix.clone();
                    new_key.extend_from_slice(&key[old_prefix.len()..]);
                    let added = tree.insert(new_key, value)?.is_none();
                    let removed = tree.remove(key)?.is_some();
                    if let Some(counter) = counter {
                        Counts::add(counter, i64::from(added) - i64::from(removed));
                    }
                }
            }
            self.flush().await
        }
        .await;
        self.wrote(written)
    }

    /// Where a chat lives now, following recorded moves.
    pub fn resolve(&self, target: &Target) -> Result<Target> {
        let t = self.t()?;
        let mut current = target.clone();
        for _ in 0..8 {
            match t.moved.get(chat_key(&current))? {
                Some(next) => match read_chat(&next) {
                    Some(next) => current = next,
                    None => break,
                },
                None => break,
            }
        }
        Ok(current)
    }
}

/// A chat named by a public `@name` (Telegram) or an `#alias` (Matrix), not by its id.
fn is_name(target: &Target) -> bool {
    target.chat.starts_with(['@', '#'])
}
