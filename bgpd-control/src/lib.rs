//! DOC: bgpd's control-socket language, without the server: what calico-node, `birdcl` and
//! operators' scripts send and read.
//!
//! * [`status`]: the daemon's state as the control socket, the CLI's `--json` output and the
//!   metrics see it (plain snapshot values) and the `Control` trait the daemon implements;
//! * [`wire`]: request lines and BIRD's numbered reply lines;
//! * [`command`]: the command language (`show protocols all`, `show route for ...`);
//! * [`bird`]: BIRD 1.6's reply formats, byte for byte;
//! * [`bfd`]: `show bfd sessions`;
//! * [`protocols`], [`routes`], [`fib`]: the daemon's state as these values: peers and local
//!   protocols (`show protocols`), the RIB walked into route entries with next hops resolved
//!   against bgp-fib's kernel view (`show route`), the kernel's routes and refusals (`show fib`);
//! * [`counts`]: the table's counters as probes read them (never waiting behind a RIB batch);
//! * [`json`]: bgpd's JSON envelope.
//!
//! No IO and no runtime: the daemon's server (`bgpd::control`) reads requests, asks its
//! `Control` and writes what this crate formats; tests and clients use the same values.

pub mod bfd;
pub mod bird;
pub mod command;
pub mod counts;
pub mod fib;
pub mod json;
pub mod protocols;
pub mod routes;
pub mod status;
pub mod wire;

/// Locks, ignoring poisoning: a panicked task must not take the control plane down, and what
/// it left is the state as it last wrote it (the daemon's shared state, these values).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The daemon's version (the workspace's), shown by `show status` and BIRD's banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
