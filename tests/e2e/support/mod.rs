//! Test support: real servers on 127.0.0.1 and a runner for the real binary.

pub mod config;
pub mod feed_server;
pub mod herald;
pub mod matrix_client;
pub mod proxy;
pub mod synapse;
pub mod telegram_api;
pub mod wp;
