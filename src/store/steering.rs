//! What operators steer from chat at run time: channels added beside the configured ones
//! (`/addchannel`, `/removechannel`) and pauses of one chat or all (`/pause`, `/resume`).

use super::keys::{PAUSE_ALL, chat_key, pause_key, read_chat};
use super::records::{from_json, get_json, to_json};
use super::{AddedChannel, Pause, Result, Store};
use crate::article::Target;

impl Store {
    /// Adds (or replaces) a channel added from chat; durable once the caller's next
    /// `flush` returns.
    pub fn add_channel(&self, target: &Target, channel: &AddedChannel) -> Result<()> {
        self.writable_at("add_channel")?;
        let written = (|| {
            let t = self.t()?;
            t.added_channels
                .insert(chat_key(target), to_json(channel)?)?;
            Ok(())
        })();
        self.wrote(written)
    }

    /// Removes a channel added from chat, with its queued posts, settings and pause.
    /// Returns whether there was one. Durable once the caller's next `flush` returns.
    pub fn remove_channel(&self, target: &Target) -> Result<bool> {
        self.writable_at("remove_channel")?;
        let written = (|| {
            let t = self.t()?;
            let removed = t.added_channels.remove(chat_key(target))?.is_some();
            if removed {
                t.paused.remove(chat_key(target))?;
                self.forget_chat(target)?;
            }
            Ok(removed)
        })();
        self.wrote(written)
    }

    pub fn added_channel(&self, target: &Target) -> Result<Option<AddedChannel>> {
        let t = self.t()?;
        get_json(&t.added_channels, &chat_key(target))
    }

    /// Every channel added from chat, in the order of their targets.
    pub fn added_channels(&self) -> Result<Vec<(Target, AddedChannel)>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for entry in t.added_channels.iter() {
            let (key, value) = entry?;
            if let Some(target) = read_chat(&key) {
                out.push((target, from_json(&value)?));
            }
        }
        Ok(out)
    }

    /// Stops posting to `target`, or to every chat when `None`. Durable once the caller's
    /// next `flush` returns.
    pub fn pause(&self, target: Option<&Target>, pause: &Pause) -> Result<()> {
        self.writable_at("pause")?;
        let written = (|| {
            let t = self.t()?;
            t.paused.insert(pause_key(target), to_json(pause)?)?;
            Ok(())
        })();
        self.wrote(written)
    }

    /// Ends the pause of `target` (or the pause of every chat, when `None`; pauses of
    /// single chats stay). Returns whether there was one.
    pub fn resume(&self, target: Option<&Target>) -> Result<bool> {
        self.writable_at("resume")?;
        let written = (|| {
            let t = self.t()?;
            let ended = t.paused.remove(pause_key(target))?.is_some();
            if ended {
                self.resumed.notify_one();
            }
            Ok(ended)
        })();
        self.wrote(written)
    }

    /// Returns when a pause has ended (at once if one ended since the last call).
    pub async fn pause_ended(&self) {
        self.resumed.notified().await;
    }

    /// The pause that holds `target` now: its own, else the pause of every chat.
    pub fn paused(&self, target: &Target) -> Result<Option<Pause>> {
        let t = self.t()?;
        match get_json(&t.paused, &pause_key(Some(target)))? {
            Some(pause) => Ok(Some(pause)),
            None => get_json(&t.paused, PAUSE_ALL),
        }
    }

    /// The pause of every chat, if there is one.
    #[cfg(test)]
    pub fn paused_all(&self) -> Result<Option<Pause>> {
        let t = self.t()?;
        get_json(&t.paused, PAUSE_ALL)
    }

    /// Every chat paused on its own.
    pub fn paused_chats(&self) -> Result<Vec<(Target, Pause)>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for entry in t.paused.iter() {
            let (key, value) = entry?;
            if let Some(target) = read_chat(&key) {
                out.push((target, from_json(&value)?));
            }
        }
        Ok(out)
    }
}
