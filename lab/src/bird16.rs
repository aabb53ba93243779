//! DOC: the Calico-style BIRD 1.6 config generator, modelled on calico-node's confd templates
//! (`bird.cfg.template`, `bird_aggr.cfg.template`, `bird_ipam.cfg.template`, v3.30–v3.32 shape;
//! see `/work/shared/CALICO.md`): kernel protocol with learn/persist/scan time 2 and the
//! `calico_kernel_programming` export filter, device, direct without `cali*`, a static
//! blackhole route per IPAM block, `calico_export_to_bgp_peers`, and mesh peers `Mesh_<ip>`
//! (`passive on` towards higher IPs, by string comparison as Calico does).
//!
//! `krt_tunnel` exists only in Calico's fork (projectcalico/bird). Debian's BIRD 1.6.8 is
//! upstream and rejects it, and upstream 1.6 cannot set `onlink` on kernel routes at all, so
//! with [`TunnelSupport::Upstream`] the generator leaves `krt_tunnel` out (a comment marks the
//! spot) and BIRD 1.6 installs the others' blocks `via NODE dev eth0 proto bird` (what the fork
//! installs in cross-subnet mode for same-subnet next hops). [`TunnelSupport::detect`] tells
//! which binary is at hand, so a fork build at `BGPLAB_BIRD16_ROOT` gets the real statement.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::bird::{Bird, BirdVersion};
use crate::cmd;
use crate::error::Result;
use crate::lab::NodeNet;

/// Calico IP-in-IP mode of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpipMode {
    /// `ipipMode: Always`.
    Always,
    /// `ipipMode: CrossSubnet` (tunnel only to next hops outside the node's subnet).
    CrossSubnet,
    /// `ipipMode: Never`.
    Never,
}

/// An IP pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// CIDR (`10.244.0.0/16`).
    pub cidr: String,
    /// IP-in-IP mode.
    pub ipip: IpipMode,
}

/// Whether the BIRD 1.6 binary knows Calico's `krt_tunnel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelSupport {
    /// projectcalico/bird: `krt_tunnel = "tunl0"` makes `via X dev tunl0 onlink` routes.
    CalicoFork,
    /// Upstream BIRD 1.6 (Debian): no `krt_tunnel`; the generator omits it.
    Upstream,
}

impl TunnelSupport {
    /// Asks the BIRD 1.6 binary (`bird -p`) whether it accepts `krt_tunnel`.
    pub fn detect(scratch_dir: &Path) -> TunnelSupport {
        let (daemon, _) = BirdVersion::V16.binaries();
        let conf = scratch_dir.join("krt_tunnel-probe.conf");
        let text = "router id 1.1.1.1;\nfilter f { krt_tunnel = \"tunl0\"; accept; }\nprotocol kernel { export filter f; }\n";
        if std::fs::write(&conf, text).is_err() {
            return TunnelSupport::Upstream;
        }
        let argv = [
            daemon.to_string_lossy().into_owned(),
            "-p".into(),
            "-c".into(),
            conf.to_string_lossy().into_owned(),
        ];
        let ok = cmd::run_raw(&argv, cmd::COMMAND_TIMEOUT).is_ok_and(|o| o.code == Some(0));
        let _ = std::fs::remove_file(&conf);
        if ok {
            TunnelSupport::CalicoFork
        } else {
            TunnelSupport::Upstream
        }
    }
}

/// Calico's mesh rule: a node is `passive on` towards peers whose IP is greater, compared as
/// strings (so `172.31.0.9` > `172.31.0.10`).
pub fn calico_passive(local: &str, peer: &str) -> bool {
    peer > local
}

/// Calico's protocol name for a mesh peer (`Mesh_172_31_0_12`).
pub fn mesh_name(peer: &str) -> String {
    format!("Mesh_{}", peer.replace(['.', ':'], "_"))
}

/// A Calico node's BIRD 1.6 configuration: `bird.cfg` (IPv4, [`CalicoBird16Config::new`]) or
/// `bird6.cfg` (IPv6, [`CalicoBird16Config::new_v6`]: run by `bird6`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalicoBird16Config {
    /// Node IPv4 address (router ID; source address of an IPv4 mesh).
    pub node_ip: Ipv4Addr,
    /// The mesh's source address: `node_ip`, or the node's IPv6 address in `bird6.cfg`.
    pub source: IpAddr,
    /// The node's subnet (`/bgp/v1/host/<n>/network_v4`), for cross-subnet.
    pub node_subnet: String,
    /// AS number.
    pub asn: u32,
    /// IPAM blocks affine to this node (static blackhole, announced).
    pub blocks: Vec<String>,
    /// IP pools.
    pub pools: Vec<Pool>,
    /// Mesh peers (other nodes' IPs, of `source`'s family).
    pub mesh_peers: Vec<IpAddr>,
    /// `nodeMeshPassword`.
    pub password: Option<String>,
    /// `keepalive time` per peer (Calico: `keepaliveTime`); hold time is 3×.
    pub keepalive: Option<u16>,
    /// Whether `krt_tunnel` can be used.
    pub tunnel: TunnelSupport,
}

impl CalicoBird16Config {
    /// A node with one block in pool `pool` (IP-in-IP Always), meshed with `peers`.
    pub fn new(
        node: &NodeNet,
        asn: u32,
        block: &str,
        pool: &str,
        peers: &[Ipv4Addr],
        tunnel: TunnelSupport,
    ) -> Self {
        CalicoBird16Config {
            node_ip: node.ip4(),
            source: node.ip4().into(),
            node_subnet: format!("{}/24", {
                let o = node.ip4().octets();
                Ipv4Addr::new(o[0], o[1], o[2], 0)
            }),
            asn,
            blocks: vec![block.to_string()],
            pools: vec![Pool {
                cidr: pool.to_string(),
                ipip: IpipMode::Always,
            }],
            mesh_peers: peers
                .iter()
                .filter(|p| **p != node.ip4())
                .map(|p| (*p).into())
                .collect(),
            password: None,
            keepalive: Some(3),
            tunnel,
        }
    }

    /// The same node's `bird6.cfg`: an IPv6 block in an IPv6 pool (no encapsulation, as
    /// Calico's IPv6 pools), meshed over the node's IPv6 address with `peers`; router ID the
    /// node's IPv4 address, as confd renders it.
    pub fn new_v6(node: &NodeNet, asn: u32, block: &str, pool: &str, peers: &[Ipv6Addr]) -> Self {
        let mut c = Self::new(node, asn, block, pool, &[], TunnelSupport::Upstream);
        c.source = node.ip6().into();
        c.node_subnet = format!("{}/64", {
            let s = node.ip6().segments();
            Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)
        });
        c.pools = vec![Pool {
            cidr: pool.to_string(),
            ipip: IpipMode::Never,
        }];
        c.mesh_peers = peers
            .iter()
            .filter(|p| **p != node.ip6())
            .map(|p| (*p).into())
            .collect();
        c
    }

    /// The config text (`log` is the log file path).
    pub fn render(&self, log: &Path) -> String {
        let mut c = String::new();
        let fork = self.tunnel == TunnelSupport::CalicoFork;
        let _ = writeln!(c, "# Generated by bgpd-lab: Calico-style (confd bird.cfg/bird_aggr.cfg/bird_ipam.cfg, v3.30-v3.32 shape)");
        let _ = writeln!(c, "log \"{}\" all;", log.display());
        let _ = writeln!(c, "router id {};\n", self.node_ip);
        // bird_aggr.cfg
        let _ = writeln!(
            c,
            "# ------------- Static black hole addresses -------------"
        );
        let _ = writeln!(c, "protocol static {{");
        for b in &self.blocks {
            let _ = writeln!(c, "  # IP blocks for this host.\n  route {b} blackhole;");
        }
        let _ = writeln!(c, "}}\n");
        let _ = writeln!(
            c,
            "# Aggregation of routes on this host; export the block, nothing beneath."
        );
        let _ = writeln!(c, "function calico_aggr ()\n{{");
        for b in &self.blocks {
            let _ = writeln!(c, "  # Block {b} is confirmed\n  if ( net = {b} ) then {{ accept; }}\n  if ( net ~ {b} ) then {{ reject; }}");
        }
        let _ = writeln!(c, "}}\n");
        // bird_ipam.cfg
        let _ = writeln!(c, "# Generated by confd\nfunction reject_local_routes ()\n{{\n  if (ifname ~ \"bpf*.cali\") then reject;\n}}\n");
        let _ = writeln!(c, "function apply_communities ()\n{{\n}}\n");
        let _ = writeln!(
            c,
            "function calico_export_to_bgp_peers (bool internal_peer)\n{{"
        );
        let _ = writeln!(c, "  if (internal_peer) then {{\n    if ((ifname ~ \"*.cali\") || (ifname ~ \"*.calico\")) then reject;\n  }}");
        let _ = writeln!(
            c,
            "  reject_local_routes();\n  apply_communities();\n  calico_aggr();"
        );
        for p in &self.pools {
            let _ = writeln!(c, "  if ( net ~ {} ) then {{\n    accept;\n  }}", p.cidr);
        }
        let _ = writeln!(c, "}}\n");
        let _ = writeln!(c, "filter calico_kernel_programming {{");
        for p in &self.pools {
            let stmt = match (p.ipip, fork) {
                (IpipMode::Never, _) => "accept;".to_string(),
                (IpipMode::Always, true) => "krt_tunnel = \"tunl0\";\n    accept;".to_string(),
                (IpipMode::CrossSubnet, true) => format!(
                    "if (defined(bgp_next_hop)&&(bgp_next_hop ~ {})) then\n      krt_tunnel = \"\";\n    else\n      krt_tunnel = \"tunl0\";\n    accept;",
                    self.node_subnet
                ),
                (_, false) => {
                    "# krt_tunnel = \"tunl0\"; -- Calico fork only: upstream BIRD 1.6 has no krt_tunnel\n    accept;".to_string()
                }
            };
            let _ = writeln!(c, "  if ( net ~ {} ) then {{\n    {stmt}\n  }}", p.cidr);
        }
        let _ = writeln!(c, "  accept;\n}}\n");
        // bird.cfg
        let _ = writeln!(
            c,
            "# Configure synchronization between routing tables and kernel."
        );
        let _ = writeln!(c, "protocol kernel {{\n  learn;             # Learn all alien routes from the kernel\n  persist;           # Don't remove routes on bird shutdown\n  scan time 2;       # Scan kernel routing table every 2 seconds\n  import all;\n  export filter calico_kernel_programming; # Default is export none\n  graceful restart;  # Turn on graceful restart to reduce potential flaps in\n                     # routes when reloading BIRD configuration.\n  merge paths on;    # Allow export multipath routes (ECMP)\n}}\n");
        let _ = writeln!(c, "# Watch interface up/down events.\nprotocol device {{\n  debug {{ states }};\n  scan time 2;    # Scan interfaces every 2 seconds\n}}\n");
        let _ = writeln!(c, "protocol direct {{\n  debug {{ states }};\n  interface -\"cali*\", -\"kube-ipvs*\", \"*\"; # Exclude cali* and kube-ipvs* but\n                                           # include everything else.\n}}\n");
        let _ = writeln!(c, "# Template for all BGP clients\ntemplate bgp bgp_template {{\n  debug {{ states }};\n  description \"Connection to BGP peer\";\n  local as {};\n  gateway recursive; # This should be the default, but just in case.\n  add paths on;\n  graceful restart;  # See comment in kernel section about graceful restart.\n  connect delay time 2;\n  connect retry time 5;\n  error wait time 5,30;\n}}\n", self.asn);
        let _ = writeln!(c, "# ------------- Node-to-node mesh -------------");
        let me = self.source.to_string();
        let v = if self.source.is_ipv4() { 4 } else { 6 };
        for p in &self.mesh_peers {
            let ps = p.to_string();
            let _ = writeln!(
                c,
                "# For peer /host/{ps}/ip_addr_v{v}\nprotocol bgp {} from bgp_template {{",
                mesh_name(&ps)
            );
            let _ = writeln!(c, "  neighbor {ps} as {};", self.asn);
            let _ = writeln!(c, "  ttl security off;\n  multihop;");
            let _ = writeln!(
                c,
                "  source address {me};  # The local address we use for the TCP connection"
            );
            if let Some(pw) = &self.password {
                let _ = writeln!(c, "  password \"{pw}\";");
            }
            if let Some(k) = self.keepalive {
                let _ = writeln!(c, "  keepalive time {k};\n  hold time {};", k * 3);
            }
            let _ = writeln!(c, "  import all;\n  export filter {{\n    calico_export_to_bgp_peers(true);\n    reject;\n  }};");
            if calico_passive(&me, &ps) {
                let _ = writeln!(
                    c,
                    "  passive on; # Mesh is unidirectional, peer will connect to us."
                );
            }
            let _ = writeln!(c, "}}\n");
        }
        c
    }

    /// Renders into the node's directory and starts BIRD 1.6 (`bird6` for a `bird6.cfg`).
    pub fn start(&self, node: &NodeNet) -> Result<Bird> {
        let v = if self.source.is_ipv4() {
            BirdVersion::V16
        } else {
            BirdVersion::V16Ip6
        };
        Bird::start(v, node, &self.render(&node.path("bird.log")))
    }
}
