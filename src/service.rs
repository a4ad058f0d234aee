//! The one way the platform adapters answer chat commands: a `CommandService` holds what a
//! command runs against (the configuration, the store, the metrics, what `/status` reads) and `answer` builds the
//! context, executes the command and counts it. Adapters also read the configuration and
//! the store through it (operators, configured channels, recorded moves), so they never
//! need the wiring in `app`.

use std::sync::Arc;

use crate::article::Target;
use crate::commands::{self, Command, Context, Reply, Request};
use crate::config::{ChannelConfig, Config, Operator};
use crate::metrics::Metrics;
use crate::status::Watch;
use crate::store::{Store, StoreError};

pub struct CommandService {
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    /// What `/status` reads.
    watch: Watch,
}

impl CommandService {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Arc<Metrics>,
        watch: Watch,
    ) -> CommandService {
        CommandService {
            config,
            store,
            metrics,
            watch,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `command` for `request` and returns the reply to send.
    pub async fn answer(&self, request: &Request, command: &Command) -> Reply {
        let ctx = Context {
            config: &self.config,
            store: &self.store,
            watch: Some(&self.watch),
        };
        let reply = commands::execute(&ctx, request, command).await;
        self.metrics.count_command();
        reply
    }

    /// Whether `who` is one of `[bot] admins`.
    pub fn is_operator(&self, who: &Operator) -> bool {
        self.config.is_operator(who)
    }

    /// The configured channel that lives at `chat` now (following recorded moves).
    pub fn channel_at(&self, chat: &Target) -> Result<Option<&ChannelConfig>, StoreError> {
        self.config.channel_at(chat, |t| self.store.resolve(t))
    }
}
