//! The lab proved against real peers only (BIRD 1.6, BIRD 2, FRR, GoBGP): these tests exercise
//! every node kind, the kernel assertions, the capture and the failure path of the harness.
//! Run as root: `cargo test -p bgpd-lab -- --test-threads=1` (labs also serialise themselves).

mod harness;
mod mesh;
mod rr;
mod scale;
mod sessions;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgpd_lab::bird16::{calico_passive, mesh_name};
use bgpd_lab::kernel::RouteMonitor;
use bgpd_lab::kernel::{self, render};
use bgpd_lab::{
    cmd, wait_exactly, wait_learns, wait_observing, wait_sessions, wait_until, Bird, Bird2Config,
    Bird2Peer, CalicoBird16Config, Family, FrrConfig, FrrNeighbor, GobgpConfig, GobgpNeighbor,
    KernelExport, Lab, Observed, TunnelSupport,
};

use bgpd_lab::scenario::{
    bird2_cluster_client, calico_bird2, check_frr_md5, mesh_nodes, report, wait_bird_from_both,
    wait_converged, AddPathRr, MeshNodes, AS, CONVERGE, POLL,
};
