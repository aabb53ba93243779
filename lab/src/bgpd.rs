//! DOC: the node kind for our own daemon: start `bgpd -c FILE -s SOCKET` in the node's
//! namespace, query `bgpd -s SOCKET show protocols|route|status --json` (`docs/cli.md`), stop
//! with SIGTERM/SIGKILL, start again. [`BgpdConfig::render`] writes the TOML schema of
//! `docs/config.md` (or pass exact TOML with [`BgpdConfig::raw`]); the JSON mirrors follow
//! `bgpd/src/status.rs` (`ProtocolStatus`, `RouteEntry`) loosely: unknown fields are ignored
//! and missing ones default, so small schema changes do not break the lab.
//!
//! The binary is the one the caller names ([`Bgpd::start_with`], [`BgpdConfig::binary`]:
//! bgpd's tests pass `CARGO_BIN_EXE_bgpd`, the binary cargo built for that run), else
//! `$BGPD_BIN`; never a guess from `target/`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::cmd;
use crate::error::{Context, Error, Result};
use crate::lab::NodeNet;
use crate::process::Process;
use crate::wait::wait_until;

/// One configured neighbour (`[[peers]]` of `docs/config.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpdPeer {
    /// Protocol name (`Mesh_172_31_0_12`, `frr`, ...).
    pub name: String,
    /// Address.
    pub addr: IpAddr,
    /// Peer AS.
    pub asn: u32,
    /// Passive (never connects).
    pub passive: bool,
    /// Route-reflector client.
    pub rr_client: bool,
    /// TCP-MD5 password.
    pub password: Option<String>,
    /// ADD-PATH: `"receive"`, `"send"`, `"both"` (also accepted: `"rx"`, `"tx"`).
    pub add_paths: Option<String>,
    /// IPv6 unicast over this session (families `["ipv4", "ipv6"]`, else `["ipv4"]`).
    pub ipv6: bool,
    /// `next_hop`: `"self"`, `"keep"`.
    pub next_hop: Option<String>,
    /// Our IPv6 next hop for IPv6 routes over an IPv4 session.
    pub next_hop_v6: Option<String>,
    /// Import policy name.
    pub import: Option<String>,
    /// Export policy name (default of the generator: `lab_export`, static + BGP routes only).
    pub export: Option<String>,
    /// Hold time (default: [`BgpdConfig::hold_time`]).
    pub hold_time: Option<u16>,
    /// Multihop TTL.
    pub multihop: Option<u8>,
    /// Graceful-restart time for this peer.
    pub graceful_restart_time: Option<u16>,
    /// `bfd = <this TOML value>` (`true`, `{ min_rx = "100ms", ... }`).
    pub bfd: Option<String>,
}

impl BgpdPeer {
    /// An IPv4 peer.
    pub fn new(name: &str, addr: impl Into<IpAddr>, asn: u32) -> Self {
        BgpdPeer {
            name: name.into(),
            addr: addr.into(),
            asn,
            passive: false,
            rr_client: false,
            password: None,
            add_paths: None,
            ipv6: false,
            next_hop: None,
            next_hop_v6: None,
            import: None,
            export: None,
            hold_time: None,
            multihop: None,
            graceful_restart_time: None,
            bfd: None,
        }
    }
}

/// One Calico IP pool (`[[pools]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpdPool {
    /// The pool's CIDR.
    pub cidr: String,
    /// `"always"`, `"cross-subnet"`, `"never"`.
    pub ipip: String,
}

/// bgpd's configuration: renders the TOML schema of `docs/config.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpdConfig {
    /// Router ID.
    pub router_id: Ipv4Addr,
    /// Local AS.
    pub asn: u32,
    /// Source address (informational; `source_address` also forces next-hop self in bgpd, so
    /// it is only written for peers through [`BgpdConfig::source_address`]).
    pub local: IpAddr,
    /// Write `source_address = local` for every peer.
    pub source_address: bool,
    /// Neighbours.
    pub peers: Vec<BgpdPeer>,
    /// Blocks announced as static blackhole routes (Calico IPAM blocks).
    pub blackhole_blocks: Vec<String>,
    /// Further static routes: (prefix, gateway).
    pub static_via: Vec<(String, String)>,
    /// Route-reflector cluster ID (writes `[route_reflector]`).
    pub rr_cluster_id: Option<Ipv4Addr>,
    /// Program the kernel at all (`[kernel] enabled`).
    pub kernel_enabled: bool,
    /// Kernel route protocol (Calico: 12 = `bird`).
    pub kernel_protocol: u8,
    /// `[kernel] tunnel_device` (`tunl0`); pools with IP-in-IP go through it.
    pub tunnel: Option<String>,
    /// Calico IP pools.
    pub pools: Vec<BgpdPool>,
    /// `[kernel] ecmp_max`.
    pub ecmp_max: Option<u16>,
    /// Hold time (per peer unless the peer sets one).
    pub hold_time: u16,
    /// Graceful restart: `Some(restart time)`, `None` disables the capability.
    pub graceful_restart: Option<u16>,
    /// `[graceful_restart] wait_time` (after our own restart).
    pub graceful_restart_wait: Option<u16>,
    /// `shutdown = "graceful" | "notify"`.
    pub shutdown: Option<String>,
    /// Extra TOML appended verbatim (`[[policies]]`, ...).
    pub extra: String,
    /// Exact TOML to use instead of the generated text.
    pub raw: Option<String>,
    /// The bgpd binary to start (`None`: `$BGPD_BIN`).
    pub binary: Option<PathBuf>,
}

/// The generator's default export policy: static and BGP routes (never the direct subnets).
pub const LAB_EXPORT: &str = "lab_export";

impl BgpdConfig {
    /// Lab defaults: hold 9 s, kernel protocol 12 (`bird`), graceful restart 120 s, listening
    /// on 0.0.0.0 and ::, export `lab_export` (static + BGP).
    pub fn new(node: &NodeNet, asn: u32) -> Self {
        BgpdConfig {
            router_id: node.ip4(),
            asn,
            local: node.ip4().into(),
            source_address: false,
            peers: Vec::new(),
            blackhole_blocks: Vec::new(),
            static_via: Vec::new(),
            rr_cluster_id: None,
            kernel_enabled: true,
            kernel_protocol: 12,
            tunnel: None,
            pools: Vec::new(),
            ecmp_max: None,
            hold_time: 9,
            graceful_restart: Some(120),
            graceful_restart_wait: None,
            shutdown: None,
            extra: String::new(),
            raw: None,
            binary: None,
        }
    }

    /// The TOML text (schema of `docs/config.md`).
    pub fn render(&self) -> String {
        if let Some(r) = &self.raw {
            return r.clone();
        }
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut c = String::new();
        let _ = writeln!(c, "# generated by bgpd-lab (docs/config.md)");
        let _ = writeln!(c, "router_id = \"{}\"\nasn = {}", self.router_id, self.asn);
        if let Some(s) = &self.shutdown {
            let _ = writeln!(c, "shutdown = {}", q(s));
        }
        let _ = writeln!(c, "\n[listen]\naddresses = [\"0.0.0.0\", \"::\"]");
        let _ = writeln!(
            c,
            "\n[kernel]\nenabled = {}\nprotocol = {}",
            self.kernel_enabled, self.kernel_protocol
        );
        if let Some(t) = &self.tunnel {
            let _ = writeln!(c, "tunnel_device = {}", q(t));
        }
        if let Some(e) = self.ecmp_max {
            let _ = writeln!(c, "ecmp_max = {e}");
        }
        match self.graceful_restart {
            Some(t) => {
                let _ = writeln!(
                    c,
                    "\n[graceful_restart]\nenabled = true\nrestart_time = {t}"
                );
                if let Some(w) = self.graceful_restart_wait {
                    let _ = writeln!(c, "wait_time = {w}");
                }
            }
            None => {
                let _ = writeln!(c, "\n[graceful_restart]\nenabled = false");
            }
        }
        if let Some(id) = self.rr_cluster_id {
            let _ = writeln!(c, "\n[route_reflector]\ncluster_id = \"{id}\"");
        }
        for p in &self.pools {
            let _ = writeln!(
                c,
                "\n[[pools]]\ncidr = {}\nipip = {}",
                q(&p.cidr),
                q(&p.ipip)
            );
        }
        for b in &self.blackhole_blocks {
            let _ = writeln!(c, "\n[[static]]\nprefix = {}\nblackhole = true", q(b));
        }
        for (prefix, via) in &self.static_via {
            let _ = writeln!(c, "\n[[static]]\nprefix = {}\nvia = {}", q(prefix), q(via));
        }
        for p in &self.peers {
            let _ = writeln!(
                c,
                "\n[[peers]]\nname = {}\naddress = \"{}\"\nasn = {}\nhold_time = {}",
                q(&p.name),
                p.addr,
                p.asn,
                p.hold_time.unwrap_or(self.hold_time)
            );
            if self.source_address {
                let _ = writeln!(c, "source_address = \"{}\"", self.local);
            }
            if p.passive {
                let _ = writeln!(c, "passive = true");
            }
            if p.rr_client {
                let _ = writeln!(c, "rr_client = true");
            }
            if let Some(pw) = &p.password {
                let _ = writeln!(c, "password = {}", q(pw));
            }
            if let Some(a) = &p.add_paths {
                let a = match a.as_str() {
                    "rx" => "receive",
                    "tx" => "send",
                    other => other,
                };
                let _ = writeln!(c, "add_path = {}", q(a));
            }
            if let Some(n) = &p.next_hop {
                let _ = writeln!(c, "next_hop = {}", q(n));
            }
            if let Some(n) = &p.next_hop_v6 {
                let _ = writeln!(c, "next_hop_v6 = {}", q(n));
            }
            if let Some(m) = p.multihop {
                let _ = writeln!(c, "multihop = {m}");
            }
            if let Some(g) = p.graceful_restart_time {
                let _ = writeln!(c, "graceful_restart_time = {g}");
            }
            if let Some(b) = &p.bfd {
                let _ = writeln!(c, "bfd = {b}");
            }
            if let Some(i) = &p.import {
                let _ = writeln!(c, "import = {}", q(i));
            }
            let _ = writeln!(
                c,
                "export = {}",
                q(p.export.as_deref().unwrap_or(LAB_EXPORT))
            );
            let fams = if p.ipv6 {
                "[\"ipv4\", \"ipv6\"]"
            } else {
                "[\"ipv4\"]"
            };
            let _ = writeln!(c, "families = {fams}");
        }
        let _ = writeln!(
            c,
            "\n[[policies]]\nname = \"{LAB_EXPORT}\"\ndefault = \"reject\"\n  [[policies.terms]]\n  match = {{ source = [\"static\", \"bgp\"] }}\n  verdict = \"accept\""
        );
        if !self.extra.is_empty() {
            let _ = writeln!(c, "\n{}", self.extra);
        }
        c
    }

    /// Writes the config and starts bgpd ([`BgpdConfig::binary`], else `$BGPD_BIN`) on
    /// `node`.
    pub fn start(&self, node: &NodeNet) -> Result<Bgpd> {
        match &self.binary {
            Some(b) => Bgpd::start_with(node, &self.render(), b.clone()),
            None => Bgpd::start(node, &self.render()),
        }
    }
}

/// `bgp` part of a protocol (mirror of `status::BgpStatus`, loosely).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BgpdSession {
    /// Session state (`Established`, ...).
    pub state: String,
    /// Neighbour address.
    pub neighbor_address: Option<String>,
    /// Neighbour AS.
    pub neighbor_as: u32,
    /// Route-reflector client.
    pub rr_client: bool,
    /// Peer's routes kept stale (graceful restart).
    pub graceful_restart_stale: bool,
    /// Last error.
    pub last_error: Option<String>,
    /// Messages received since the daemon started (every session of the peer).
    pub messages_in: BgpdMessageCounts,
    /// Messages sent since the daemon started.
    pub messages_out: BgpdMessageCounts,
}

/// Message counters by type (mirror of `status::MessageCounts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BgpdMessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE.
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH.
    #[serde(default)]
    pub route_refresh: u64,
}

/// Route counters (mirror of `status::RouteCounts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BgpdRouteCounts {
    /// Imported.
    pub imported: u64,
    /// Exported.
    pub exported: u64,
    /// Preferred.
    pub preferred: u64,
}

/// One protocol (mirror of `status::ProtocolStatus`, loosely).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BgpdProtocol {
    /// Name.
    pub name: String,
    /// `bgp`, `kernel`, `device`, `direct`, `static`.
    pub kind: String,
    /// `down`, `start`, `up`, `stop`.
    pub state: String,
    /// Info column.
    pub info: String,
    /// Counters.
    pub routes: BgpdRouteCounts,
    /// BGP details.
    pub bgp: Option<BgpdSession>,
}

/// BGP attributes of a route (mirror of `status::BgpRouteAttrs`, loosely).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BgpdRouteAttrs {
    /// Origin.
    pub origin: String,
    /// AS path as text.
    pub as_path: String,
    /// Next hop.
    pub next_hop: Option<String>,
    /// MED.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities.
    pub communities: Vec<(u16, u16)>,
    /// Large communities.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<String>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<String>,
}

/// One route (mirror of `status::RouteEntry`, loosely); `dest` kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BgpdRoute {
    /// Prefix.
    pub prefix: String,
    /// Forwarding (`{"type":"via","nexthops":[[gw, iface]]}`, `{"type":"blackhole"}`, ...).
    pub dest: Value,
    /// Protocol.
    pub protocol: String,
    /// Best path.
    pub primary: bool,
    /// BGP attributes.
    pub bgp: Option<BgpdRouteAttrs>,
    /// Stale (peer in graceful restart).
    pub stale: bool,
}

/// Parses `show protocols --json`: an array, or an object with a `protocols` array.
pub fn parse_protocols(json: &str) -> Result<Vec<BgpdProtocol>> {
    let v: Value = serde_json::from_str(json)?;
    let arr = if v.is_array() {
        v
    } else {
        v["protocols"].clone()
    };
    Ok(serde_json::from_value(arr)?)
}

/// Parses `show route --json`: an array, or an object with a `routes` array.
pub fn parse_routes(json: &str) -> Result<Vec<BgpdRoute>> {
    let v: Value = serde_json::from_str(json)?;
    let arr = if v.is_array() { v } else { v["routes"].clone() };
    Ok(serde_json::from_value(arr)?)
}

/// A running bgpd.
#[derive(Debug)]
pub struct Bgpd {
    /// The node.
    pub node: NodeNet,
    /// The binary.
    pub binary: PathBuf,
    /// Config file.
    pub config: PathBuf,
    /// Control socket.
    pub socket: PathBuf,
    process: Option<Process>,
    starts: u32,
}

impl Bgpd {
    /// The bgpd binary: `$BGPD_BIN` (the lab does not guess one from `target/`: a stale
    /// build there would be tested instead of this run's).
    pub fn binary() -> Result<PathBuf> {
        std::env::var_os("BGPD_BIN")
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error(
                "no bgpd binary: set BGPD_BIN, or start it with Bgpd::start_with (bgpd's tests \
                 pass env!(\"CARGO_BIN_EXE_bgpd\"))"
                    .into(),
            )
            })
    }

    /// Writes `config` and starts `bgpd -c FILE -s SOCKET`; returns once `show protocols`
    /// answers.
    pub fn start(node: &NodeNet, config: &str) -> Result<Bgpd> {
        Self::start_with(node, config, Self::binary()?)
    }

    /// [`Bgpd::start`] with an explicit binary.
    pub fn start_with(node: &NodeNet, config: &str, binary: PathBuf) -> Result<Bgpd> {
        let conf = node.path("bgpd.toml");
        std::fs::write(&conf, config)?;
        let socket = node.path("bgpd.ctl");
        crate::bird::check_socket_path(&socket)?;
        let mut b = Bgpd {
            node: node.clone(),
            binary,
            config: conf,
            socket,
            process: None,
            starts: 0,
        };
        b.start_process()?;
        Ok(b)
    }

    fn start_process(&mut self) -> Result<()> {
        self.starts += 1;
        let argv = cmd::in_netns(
            Some(&self.node.ns),
            &self.binary.to_string_lossy(),
            &[
                "-c",
                &self.config.to_string_lossy(),
                "-s",
                &self.socket.to_string_lossy(),
            ],
        );
        let log = self.node.path(&format!("bgpd.{}.log", self.starts));
        let mut p = Process::spawn(&format!("bgpd@{}", self.node.name), &argv, &log)?;
        let me = &*self;
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(50),
            "bgpd control socket answers",
            || {
                p.ensure_running()?;
                Ok(me.cli(&["show", "protocols", "--json"]).is_ok())
            },
        )
        .context(format!("starting bgpd on {}", self.node.name))?;
        self.process = Some(p);
        Ok(())
    }

    /// `bgpd -s SOCKET ARGS` (the CLI talks to the daemon over its socket).
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut argv = vec![
            self.binary.to_string_lossy().into_owned(),
            "-s".into(),
            self.socket.to_string_lossy().into_owned(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        cmd::run_argv(&argv, cmd::COMMAND_TIMEOUT)
    }

    /// `show protocols --json`.
    pub fn protocols(&self) -> Result<Vec<BgpdProtocol>> {
        parse_protocols(&self.cli(&["show", "protocols", "--json"])?)
    }

    /// `show route --json` (every path).
    pub fn routes(&self) -> Result<Vec<BgpdRoute>> {
        parse_routes(&self.cli(&["show", "route", "--json"])?)
    }

    /// `show route PREFIX --json`: every path of one prefix (empty when not in the table).
    pub fn route(&self, prefix: &str) -> Result<Vec<BgpdRoute>> {
        match self.cli(&["show", "route", prefix, "--json"]) {
            Ok(out) => parse_routes(&out),
            Err(e) if e.to_string().contains("8001") => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `show route count --json`: (routes, networks).
    pub fn route_count(&self) -> Result<(u64, u64)> {
        let v: Value = serde_json::from_str(&self.cli(&["show", "route", "count", "--json"])?)?;
        let c = &v["count"];
        match (c["routes"].as_u64(), c["networks"].as_u64()) {
            (Some(r), Some(n)) => Ok((r, n)),
            _ => Err(Error(format!("unexpected count document: {v}"))),
        }
    }

    /// `show status --json` (the `status` object).
    pub fn status(&self) -> Result<Value> {
        let v: Value = serde_json::from_str(&self.cli(&["show", "status", "--json"])?)?;
        Ok(v["status"].clone())
    }

    /// Prefixes of the best routes in `family`.
    pub fn prefixes(&self, family: crate::kernel::Family) -> Result<Vec<String>> {
        let v6 = family == crate::kernel::Family::V6;
        let mut v: Vec<String> = self
            .routes()?
            .into_iter()
            .filter(|r| r.primary && r.prefix.contains(':') == v6)
            .map(|r| r.prefix)
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Established BGP protocols' names.
    pub fn established(&self) -> Result<Vec<String>> {
        Ok(self
            .protocols()?
            .into_iter()
            .filter(|p| p.bgp.as_ref().is_some_and(|b| b.state == "Established"))
            .map(|p| p.name)
            .collect())
    }

    /// Stops bgpd with `signal` (SIGTERM: graceful; SIGKILL: crash).
    pub fn stop(&mut self, signal: i32) -> Result<()> {
        if let Some(p) = self.process.as_mut() {
            p.signal(signal)?;
            if p.wait_exit(Duration::from_secs(10)).is_none() {
                p.kill();
            }
        }
        self.process = None;
        Ok(())
    }

    /// Starts it again (after [`Bgpd::stop`]).
    pub fn start_again(&mut self) -> Result<()> {
        self.stop(libc::SIGTERM)?;
        self.start_process()
    }

    /// Writes `show protocols` / `show route` (text and JSON) into the node's directory.
    pub fn dump_state(&self) {
        let mut text = String::new();
        for args in [
            &["show", "protocols", "all"][..],
            &["show", "route", "all"],
            &["show", "protocols", "--json"],
        ] {
            text.push_str(&format!("## bgpd {}\n", args.join(" ")));
            text.push_str(
                &self
                    .cli(args)
                    .unwrap_or_else(|e| format!("(failed: {e})\n")),
            );
        }
        let _ = std::fs::write(self.node.path("bgpd-state.txt"), text);
        crate::lab::dump_netns(&self.node.ns, &self.node.path("kernel.txt"));
    }
}

impl Drop for Bgpd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_state();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_json_shapes() {
        // Shapes as bgpd/src/status.rs serialises them (SystemTime as serde does).
        let p = r#"[{"name":"Mesh_172_31_0_12","kind":"bgp","state":"up","since":{"secs_since_epoch":1,"nanos_since_epoch":0},
            "info":"Established","description":null,"import_policy":"ACCEPT","export_policy":"calico",
            "routes":{"imported":3,"exported":1,"preferred":3,"received":3,"rejected":0},
            "bgp":{"state":"Established","neighbor_address":"172.31.0.12","neighbor_port":179,"neighbor_as":64512,
            "local_as":64512,"neighbor_id":"172.31.0.12","neighbor_caps":[],"session_flags":[],"source_address":null,
            "hold_timer":[7,9],"keepalive_timer":null,"last_error":null,"established_since":null,"rr_client":false,
            "graceful_restart_stale":false,"messages_in":{},"messages_out":{}}}]"#;
        let ps = parse_protocols(p).unwrap();
        assert_eq!(ps[0].bgp.as_ref().unwrap().state, "Established");
        assert_eq!(ps[0].routes.imported, 3);
        let r = r#"{"routes":[{"prefix":"10.0.1.0/26","dest":{"type":"via","nexthops":[["172.31.0.12","tunl0"]]},
            "protocol":"Mesh_172_31_0_12","since":{"secs_since_epoch":1,"nanos_since_epoch":0},"from":null,"primary":true,
            "preference":100,"igp_metric":0,"bgp":{"origin":"IGP","as_path":"","next_hop":"172.31.0.12","med":null,
            "local_pref":100,"communities":[[64512,100]],"large_communities":[],"originator_id":"172.31.0.13",
            "cluster_list":["1.1.1.1"]},"stale":false}]}"#;
        let rs = parse_routes(r).unwrap();
        assert_eq!(
            rs[0].bgp.as_ref().unwrap().cluster_list,
            vec!["1.1.1.1".to_string()]
        );
        assert_eq!(rs[0].dest["type"], "via");
    }
}
