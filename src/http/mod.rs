//! The local HTTP endpoint: /health and /metrics for probes and scrapers.

pub mod health;
pub mod panel;
pub mod server;

pub use health::{Health, Source};
