//! Interoperability lab for bgpd: network-namespace topologies with real BGP daemons.
//!
//! - [`Lab`] (`lab.rs`): one test's topology — a hub namespace with bridges, node namespaces
//!   joined by veth pairs, an emulated `tunl0` per node, a port-179 capture, an artefact
//!   directory kept (and printed) on failure, and a teardown that always runs.
//! - Node kinds, each a config generator plus a driver that starts the daemon in the node's
//!   namespace and queries it through its own interface: [`Bird2Config`] / [`Bird`] (birdc),
//!   [`CalicoBird16Config`] (BIRD 1.6 with a calico-node style config), [`FrrConfig`] /
//!   [`Frr`] (vtysh JSON), [`GobgpConfig`] / [`Gobgp`] (`gobgp -j`), and [`BgpdConfig`] /
//!   [`Bgpd`] (our daemon; placeholder until it runs).
//! - Helpers: [`wait_until`] / [`wait_observing`] (deadlines, never fixed sleeps),
//!   [`kernel::routes`] (a namespace's kernel routes), [`Process`] (daemons as children,
//!   always reaped), [`cmd`] (commands with time limits).
//!
//! Tests must be run as root; see `lab/README.md`.

#![warn(missing_docs)]

pub mod bgpd;
pub mod bird;
pub mod bird16;
pub mod cmd;
mod error;
pub mod frr;
pub mod gobgp;
pub mod kernel;
pub mod lab;
pub mod process;
pub mod speaker;
pub mod wait;

pub use bgpd::{Bgpd, BgpdConfig, BgpdPeer};
pub use bird::{Bird, Bird2Config, Bird2Peer, BirdCtl, BirdVersion, KernelExport};
pub use bird16::{CalicoBird16Config, IpipMode, Pool, TunnelSupport};
pub use error::{Context, Error, Result};
pub use frr::{Frr, FrrConfig, FrrNeighbor};
pub use gobgp::{Gobgp, GobgpConfig, GobgpNeighbor};
pub use kernel::{Family, KernelRoute};
pub use lab::{Bridge, Lab, NodeNet};
pub use process::Process;
pub use speaker::{wait_exactly, wait_learns, wait_sessions, Speaker};
pub use wait::{wait_for, wait_observing, wait_until, Observed};
