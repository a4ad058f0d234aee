//! End-to-end tests: the real `herald` binary against real servers on 127.0.0.1 — a feed
//! server, a Telegram Bot API emulator and a Synapse homeserver.

mod support;

mod admin;
mod backup;
mod check_online;
mod core;
mod crash;
mod delivery;
mod edits;
mod faults;
mod feeds;
mod hostile;
mod languages;
mod matrix;
mod matrix_limits;
mod monitoring;
mod operator_logs;
mod scale;
mod status;
mod status_page;
mod telegram;
