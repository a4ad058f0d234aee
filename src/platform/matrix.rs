//! Matrix, on matrix-sdk.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Started;
use crate::app::Core;

pub async fn start(
    core: &Arc<Core>,
    _listen: bool,
    _shutdown: &CancellationToken,
) -> anyhow::Result<Option<Started>> {
    if core.config.matrix.is_none() {
        return Ok(None);
    }
    anyhow::bail!("Matrix is not implemented yet")
}
