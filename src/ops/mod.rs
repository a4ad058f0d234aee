//! What operators watch, served on `[ops] listen` with axum: `/` (the status page, for a
//! browser), `/healthz` (200 while polling and delivery are alive, 503 naming what is
//! stalled, one a line or as JSON) and `/metrics` (Prometheus' text format). With
//! `[ops] token`, every request must carry it. The endpoint only reads: it is handed the
//! store, the metrics and the config, nothing that steers.
//!
//! - `router`: the routes and their limits (the token, the bound on requests at once and
//!   on their time) and the handlers.
//! - `health`: the one health verdict — the stall rules, and the answer as text and JSON.
//! - `liveness`: the signs of life it judges by (feeds failing since, the delivery loop's
//!   heartbeat, platforms failing since), noted by polling and delivery.
//! - `metrics`: the Prometheus registry every layer counts in; it carries the liveness.
//! - `status`: what a snapshot is read from (`Watch`) and the `Snapshot` `/status` and the
//!   page show.
//! - `page`: that snapshot as the HTML page of `/`.
//!
//! Polling, delivery, the commands and the platforms write metrics and read the status
//! through this module's types; it imports none of them.

pub mod health;
pub mod liveness;
pub mod metrics;
mod page;
mod router;
pub mod status;

pub use router::serve;
