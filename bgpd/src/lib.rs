//! bgpd: the tokio daemon around `bgp-core` and `bgp-fib`.
//!
//! The daemon itself arrives with its own issue; this crate currently carries the version string
//! the binary prints.

pub mod cli;
pub mod control;
pub mod metrics;
pub mod status;

/// The daemon's version, as printed by `bgpd --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
