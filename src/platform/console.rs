//! The console: posts printed to standard output as readable blocks (logs go to stderr).
//! The output of a bot with no platform configured, of the demo, and of the tests.

use std::io::Write;
use std::time::Duration;

use super::{BoxFuture, Post, SendError, Sink};
use crate::article::Platform;
use crate::render;

pub struct Console;

impl Sink for Console {
    fn platform(&self) -> Platform {
        Platform::Console
    }

    fn chat_interval(&self, _chat: &str) -> Duration {
        Duration::ZERO
    }

    fn global_rate(&self) -> u32 {
        10_000
    }

    fn send<'a>(
        &'a self,
        _chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let block = render::console_post(post.article);
            let mut out = std::io::stdout().lock();
            writeln!(out, "{block}")
                .and_then(|_| out.flush())
                .map_err(|e| SendError::Temporary(e.to_string()))?;
            Ok(post.txn_id.clone())
        })
    }

    fn edit<'a>(
        &'a self,
        _chat: &'a str,
        _message: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let block = render::console_update(post.article);
            let mut out = std::io::stdout().lock();
            writeln!(out, "{block}")
                .and_then(|_| out.flush())
                .map_err(|e| SendError::Temporary(e.to_string()))
        })
    }
}
