//! Issue 6 with bgpd in the lab: each test is one scenario of the issue with bgpd as one (or
//! more) of the nodes (the `bgpd` binary cargo built for this run, `CARGO_BIN_EXE_bgpd`),
//! asserted through every daemon's own interface, bgpd's `--json` CLI and the kernel tables.
//! One module per concern: Calico meshes, route reflection (and ADD-PATH), eBGP with policies
//! and TCP-MD5, churn and scale, graceful restart. Run as root: `cargo test -p bgpd --test
//! interop` (labs serialise themselves within a process).

mod addpath_send;
mod as2;
mod ebgp;
mod gr;
mod mesh;
mod rr;
mod scale;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgpd_lab::bgpd::BgpdPool;
use bgpd_lab::bird16::{calico_passive, mesh_name};
use bgpd_lab::kernel::{self, render, RouteMonitor};
use bgpd_lab::scenario::{
    bird2_cluster_client, block, calico_bird2, check_frr_md5, mesh_nodes, report,
    wait_bird_from_both, wait_converged, AddPathRr, MeshNodes, AS, CONVERGE, POLL,
};
use bgpd_lab::{
    cmd, wait_exactly, wait_learns, wait_observing, wait_sessions, wait_until, Bgpd, BgpdConfig,
    BgpdPeer, Bird2Config, Bird2Peer, CalicoBird16Config, Family, FrrConfig, FrrNeighbor,
    GobgpConfig, GobgpNeighbor, KernelExport, Lab, Observed, Process, TunnelSupport,
};

/// The best route of `prefix` in bgpd's RIB (`show route PREFIX --json`).
fn best(bgpd: &Bgpd, prefix: &str) -> bgpd_lab::bgpd::BgpdRoute {
    let rs = bgpd.route(prefix).unwrap();
    rs.iter()
        .find(|r| r.primary)
        .cloned()
        .unwrap_or_else(|| panic!("bgpd has no best route for {prefix}: {rs:?}"))
}

/// A bgpd configuration with the lab defaults, started from this run's `bgpd` binary.
fn bgpd_config(node: &bgpd_lab::NodeNet, asn: u32) -> BgpdConfig {
    let mut c = BgpdConfig::new(node, asn);
    c.binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_bgpd")));
    c
}
