//! Telegram, on teloxide.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Started;
use crate::app::Core;

pub async fn start(
    core: &Arc<Core>,
    _listen: bool,
    _shutdown: &CancellationToken,
) -> anyhow::Result<Option<Started>> {
    if core.config.telegram_token().is_none() {
        return Ok(None);
    }
    anyhow::bail!("Telegram is not implemented yet")
}
