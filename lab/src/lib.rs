//! Interoperability lab for bgpd: network-namespace topologies with real BGP daemons.
//!
//! - [`Lab`] (`lab.rs`): one test's topology — a hub namespace with bridges, node namespaces
//!   joined by veth pairs, an emulated `tunl0` per node, a port-179 capture, an artefact
//!   directory kept (and printed) on failure, and a teardown that always runs.
//! - Node kinds, each a config generator plus a driver that starts the daemon in the node's
//!   namespace and queries it through its own interface: [`Bird2Config`] / [`Bird`] (birdc),
//!   [`CalicoBird16Config`] (BIRD 1.6 with a calico-node style config), [`FrrConfig`] /
//!   [`Frr`] (vtysh JSON), [`GobgpConfig`] / [`Gobgp`] (`gobgp -j`), and [`BgpdConfig`] /
//!   [`Bgpd`] (our daemon: `BgpdConfig` renders its TOML, the driver reads its `--json` CLI).
//! - Helpers: [`bfd`] (BFD session states of bgpd, BIRD 2 and FRR), [`wait_until`] / [`wait_observing`] (deadlines, never fixed sleeps),
//!   [`kernel::routes`] (a namespace's kernel routes), [`Process`] (daemons as children,
//!   always reaped), [`cmd`] (commands with time limits).
//! - [`scenario`]: what the interop scenarios with bgpd (`bgpd/tests/interop`) and with real
//!   peers only (`lab/tests/interop`) share: constants, route sets, the churn waves, the
//!   ADD-PATH reflector, waiting for a mesh to converge.
//!
//! Tests must be run as root; see `lab/README.md`. A scenario reads like this (fail by
//! panicking: that is what keeps the artefacts):
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//! use bgpd_lab::speaker::POLL;
//! use bgpd_lab::{kernel, wait_learns, wait_observing, wait_sessions};
//! use bgpd_lab::{Bird2Config, Bird2Peer, Family, KernelExport, Lab, Observed};
//!
//! let deadline = Duration::from_secs(40);
//! let mut lab = Lab::new("my_scenario").unwrap(); // hub namespace + capture
//! let lan = lab.lan().unwrap(); // bridge lan0: 172.31.0.0/24, fd00:31::/64
//! let a = lab.node("bird2", &[(&lan, 12)], Some(Ipv4Addr::new(10, 244, 12, 1))).unwrap();
//! let mut cfg = Bird2Config::new(&a, 64512);
//! cfg.statics.push("10.244.12.0/26 blackhole".into());
//! cfg.peers.push(Bird2Peer::new("Mesh_172_31_0_13", lan.v4(13), 64512));
//! cfg.kernel = KernelExport::Tunnel { dev: "tunl0".into(), direct_subnet: None };
//! let bird = cfg.start(&a).unwrap(); // `bird -p` check, start, control socket answers
//! wait_sessions(&bird, 1, deadline).unwrap();
//! wait_learns(&bird, Family::V4, &["10.244.13.0/26".into()], deadline).unwrap();
//! wait_observing(deadline, POLL, "kernel has the block via tunl0", || {
//!     let k = kernel::routes(&a.ns, Family::V4, "main", Some("bird"))?;
//!     let ok = k.iter().any(|r| r.dst == "10.244.13.0/26" && r.is_via("172.31.0.13", "tunl0", true));
//!     Ok(Observed::when(ok, kernel::render(&k))) // the state shown if it times out
//! })
//! .unwrap();
//! ```

#![warn(missing_docs)]

pub mod bfd;
pub mod bgpd;
pub mod bird;
pub mod bird16;
pub mod cmd;
mod error;
pub mod frr;
pub mod gobgp;
pub mod isolation;
pub mod kernel;
pub mod lab;
pub mod process;
pub mod scenario;
pub mod speaker;
pub mod wait;

pub use bgpd::{Bgpd, BgpdConfig, BgpdPeer};
pub use bird::{Bird, Bird2Config, Bird2Peer, BirdCtl, BirdVersion, KernelExport};
pub use bird16::{CalicoBird16Config, IpipMode, Pool, TunnelSupport};
pub use error::{Context, Error, Result};
pub use frr::{Frr, FrrConfig, FrrNeighbor};
pub use gobgp::{Gobgp, GobgpConfig, GobgpNeighbor};
pub use isolation::KernelLock;
pub use kernel::{Family, KernelRoute};
pub use lab::{Bridge, Lab, NodeNet};
pub use process::Process;
pub use speaker::{wait_exactly, wait_learns, wait_sessions, Speaker};
pub use wait::{wait_for, wait_observing, wait_until, Observed};
