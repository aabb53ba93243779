//! bgpd: the tokio daemon around `bgp-core` and `bgp-fib`.
//!
//! TODO(daemon): ownership and data-flow overview.

pub mod config;
pub mod daemon;
pub mod status;

pub use daemon::{Daemon, Handle, StartError, StartOptions};

/// The daemon's version, as printed by `bgpd --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
