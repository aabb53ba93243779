//! bgpd: the tokio daemon around `bgp-core` and `bgp-fib`, usable as a library
//! ([`Daemon::start`] → [`Handle`]); the binary is a thin `main` over [`daemon::run`].
//!
//! # Modules
//! * [`config`]: the TOML configuration (schema, `--check` validation with
//!   `FILE:LINE:COL: KEY: message` reports, mesh/ranges expansion, policies); `docs/config.md`.
//! * [`daemon`]: start-up, the embedding [`Handle`], and one file per task or concern
//!   (`listener`, `peer`, `rib`, `fib`, `bfd`, `control`, `reload`): the driver; the
//!   decisions it applies are the core crates' (`bgp_core::driver`, `bgp_core::bfd`,
//!   `bgp_core::restart`, `bgpd_control`).
//! * [`net`]: the OS socket layer (TCP-MD5, TTL/GTSM, listen and connect, BFD's UDP sockets).
//! * [`metrics`]: the Prometheus endpoint and [`metrics::Stats`], the counters the tasks update.
//! * `systemd`: readiness, reload/stop notifications and the watchdog; [`logging`]: the log
//!   output's set-up.
//! * `inbox`: the peer tasks' command queue and wake-up flag (sync primitives, no logic);
//!   `trim`: the task giving freed memory back to the kernel when `bgp_core::driver::trim` says.
//! * [`status`]: snapshot types and the [`status::Control`] trait the control socket, the CLI's
//!   JSON and the metrics read through.
//!
//! # Who owns what, and how data flows
//! ```text
//!  sockets ─read when readable─▶ peer task (bgp_core::peer::Peer, 1 per neighbour)
//!                                             │ decoded UPDATEs, batched ≤64 / ≤2,048 routes
//!                                             ▼ bounded(16): a full channel stops the peer
//!                                       RIB task ── owns the batch loop ──▶ FIB thread (bgp-fib)
//!                                  (≤64 msgs or 5 ms    coalesced FibChange   netlink batches,
//!                                   per lock of the       batches              reconcile, monitor
//!                                   shared Mutex<Rib>)  ◀──── FibEvent (links, addresses, learned)
//!                                             │ notify(peer) when rib.has_pending(peer)
//!  sockets ◀─try_write─ 64 KiB tx buffer ◀── peer task pulls UpdateSource::next_update
//!                                            = rib.poll_update under a short lock per UPDATE
//! ```
//! * The `Rib` lives in one `Mutex` in `Shared`. The RIB task is its one writer: UPDATEs,
//!   session transitions (`RibMsg::Peer`: `ForRib::Up` / `Down`, in order with the UPDATEs on the same
//!   channel), peers added and removed, local routes, kernel events and reloads. Peer tasks
//!   lock it only to pull one encoded UPDATE at a time when their socket can take more, and
//!   only once the RIB task applied their session's `PeerUp` (so a session's End-of-RIB is
//!   never sent before its feed was queued). Chosen over "the RIB task encodes into per-peer buffers" because the pull
//!   keeps the Adj-RIB-Out coalesced in the RIB (a prefix changing five times is sent once)
//!   and needs no per-peer queue at all; the critical sections are one UPDATE long. Stale
//!   messages of an earlier session are dropped by a per-peer epoch.
//! * Backpressure: the peer task reads its sockets itself, one read at a time, and waits for
//!   room in the bounded RIB channel before it reads again; so a flood stops at the TCP window.
//!   Outbound, UPDATEs are pulled only while the 64 KiB write buffer has room.
//! * The FIB thread (`daemon/fib.rs`) is our small loop around bgp-fib's sans-IO `Fib` and
//!   its `FibSocket`, in bgp-fib's tagged mode: the RIB keeps each prefix's FIB tag (the
//!   kernel intent last handed over), so the FIB thread holds no copy of the table, only the
//!   routes queued, in flight, failed or being deleted; it batches netlink and reconciles,
//!   asking the RIB (under its lock) about routes it holds nothing for. It takes changes from the RIB task over a bounded channel (4 × 16k
//!   changes, `try_send`): while the kernel is behind, the RIB task stops draining the RIB's
//!   own FIB queue, where changes stay coalesced per prefix, so memory does not grow with a
//!   flood. The RIB task turns Loc-RIB changes into kernel routes (Calico pool forms) and keeps
//!   the kernel view (links, on-link subnets) used for cross-subnet decisions and direct routes.
//! * The control plane ([`status::Control`], implemented in `daemon/control.rs`) reads
//!   snapshots under short locks and sends commands to the peer tasks; it never waits for
//!   the RIB task. Metrics: `metrics/stats.rs` is the one place counters are updated.
// As in the core crates: no panicking shortcuts outside tests (integration tests allow them).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod api;
pub mod cli;
/// The configuration model and its two front-ends (the `bgpd-config` crate).
pub use bgpd_config as config;
pub mod control;
pub mod daemon;
mod inbox;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod personality;
mod process;
pub mod residency;
mod systemd;
mod trim;
/// The status values and the `Control` trait (the `bgpd-control` crate).
pub use bgpd_control::status;

pub use daemon::{Daemon, Handle, StartError, StartOptions};

/// The daemon's version, as printed by `bgpd --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
