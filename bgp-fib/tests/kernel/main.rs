//! Kernel tests: every test builds its own network namespace (`bgpfib-<pid>-<n>`), opens
//! its netlink sockets inside it (setns on a helper thread, never `ip netns exec`), and
//! reads every result back from the kernel with a route dump. The `ip` command only plays
//! third parties (creating veths, adding foreign routes, deleting ours behind our back).
//! Root is required; CI runs as root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod events;
mod harness;
mod nhobj;
mod reconcile;
mod routes;
mod scale;
mod tagged;
mod thread;
