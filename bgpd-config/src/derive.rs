//! DOC: values derived from the file: the effective peer list (configured peers plus the mesh
//! expanded, with Calico's passive rule), each peer's bgp-core `SessionConfig` and RIB
//! `PeerConfig`, and the filters the RIB runs (TOML policies compiled, BIRD filters, export
//! wrappers with the non-exported pools folded in).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_core::filter::{Filter, PrefixRange, Stmt};
use bgp_core::rib::{NextHopMode, PeerConfig, Rib, RibConfig};
use bgp_core::session::{GracefulRestartConfig, MaxPrefix, SessionConfig, TtlPolicy};
use bgp_core::wire::{AddPathMode, Community, Family, LargeCommunity};

use super::schema::*;
use super::Config;

/// Where a peer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerOrigin {
    /// `[[peers]]`.
    Configured,
    /// `[mesh]`.
    Mesh,
    /// A `[[peer_ranges]]` match (dynamic neighbour).
    Dynamic,
}

/// The settings shared by peers, mesh and ranges, without spans.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerCommon {
    pub port: u16,
    pub passive: bool,
    pub password: Option<String>,
    pub multihop: Option<u8>,
    pub ttl_security: bool,
    pub source_address: Option<IpAddr>,
    pub hold_time: Option<u16>,
    pub keepalive_time: Option<u16>,
    pub next_hop: NextHopSetting,
    pub rr_client: bool,
    pub add_path: AddPathSetting,
    pub graceful_restart_time: Option<u32>,
    pub graceful_restart: Option<PeerGracefulRestart>,
    pub gateway: GatewayMode,
    pub import: Option<String>,
    pub export: Option<String>,
    pub max_prefixes: MaxPrefixes,
    pub families: Vec<FamilyName>,
    pub description: Option<String>,
    pub disabled: bool,
    pub next_hop_v6: Option<std::net::Ipv6Addr>,
    pub bfd: Option<super::bfd::BfdSetting>,
    pub local_asn: Option<u32>,
    pub allow_local_as: u8,
    pub preference: Option<u16>,
    pub connect_delay_time: Option<u16>,
    pub connect_retry_time: Option<u16>,
    pub error_wait_time: Option<[u16; 2]>,
}

macro_rules! impl_common {
    ($($t:ty),*) => {$(
        impl $t {
            /// The shared settings.
            pub fn common(&self) -> PeerCommon {
                PeerCommon {
                    port: self.port,
                    passive: self.passive,
                    password: self.password.clone(),
                    multihop: self.multihop.as_ref().map(|m| *m.get_ref()),
                    ttl_security: self.ttl_security,
                    source_address: self.source_address,
                    hold_time: self.hold_time.as_ref().map(|h| *h.get_ref()),
                    keepalive_time: self.keepalive_time,
                    next_hop: self.next_hop,
                    rr_client: self.rr_client,
                    add_path: self.add_path,
                    graceful_restart_time: self.graceful_restart_time.as_ref().map(|g| *g.get_ref()),
                    graceful_restart: self.graceful_restart,
                    gateway: self.gateway,
                    import: self.import.as_ref().map(|s| s.get_ref().clone()),
                    export: self.export.as_ref().map(|s| s.get_ref().clone()),
                    max_prefixes: self.max_prefixes,
                    families: self.families.get_ref().clone(),
                    description: self.description.clone(),
                    disabled: self.disabled,
                    next_hop_v6: self.next_hop_v6,
                    bfd: self.bfd.clone(),
                    local_asn: self.local_asn,
                    allow_local_as: self.allow_local_as,
                    preference: self.preference,
                    connect_delay_time: self.connect_delay_time,
                    connect_retry_time: self.connect_retry_time,
                    error_wait_time: self.error_wait_time,
                }
            }
        }
    )*};
}
impl_common!(Peer, Mesh, PeerRange);

/// One neighbour as the daemon runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSpec {
    /// Protocol name.
    pub name: String,
    /// Address.
    pub address: IpAddr,
    /// AS.
    pub asn: u32,
    /// Origin.
    pub origin: PeerOrigin,
    /// Settings, shared by the peers that have equal ones (all the dynamic neighbours of a
    /// range, usually the peers of a mesh): one copy instead of ~0.3 KB each (issue 19).
    pub common: Arc<PeerCommon>,
}

/// `c` shared with every live peer spec that has equal settings. Settings no spec holds any
/// more leave the cache when the next new ones come.
fn shared_common(c: PeerCommon) -> Arc<PeerCommon> {
    static CACHE: Mutex<Vec<Arc<PeerCommon>>> = Mutex::new(Vec::new());
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(s) = cache.iter().find(|s| ***s == c) {
        return Arc::clone(s);
    }
    cache.retain(|s| Arc::strong_count(s) > 1);
    let s = Arc::new(c);
    cache.push(Arc::clone(&s));
    s
}

/// `Mesh_10_0_0_2`, `Node_fd00__1`: Calico's protocol names (`.`/`:` become `_`).
pub fn peer_name(prefix: &str, addr: IpAddr) -> String {
    format!("{prefix}_{}", addr.to_string().replace(['.', ':'], "_"))
}

impl Config {
    /// Our AS.
    pub fn asn(&self) -> u32 {
        *self.file.asn.get_ref()
    }

    /// Our router ID.
    pub fn router_id(&self) -> Ipv4Addr {
        *self.file.router_id.get_ref()
    }

    /// Our cluster id as a route reflector (`[route_reflector] cluster_id`, else the router
    /// id), or `None` when we are none.
    pub fn cluster_id(&self) -> Option<Ipv4Addr> {
        let rr = self.file.route_reflector.as_ref()?;
        Some(rr.cluster_id.unwrap_or(self.router_id()))
    }

    /// The RIB this configuration starts with: our identity and cluster id, the ECMP width
    /// (`[kernel] ecmp_max`), every filter, the kernel's export and import filters.
    pub fn new_rib(&self) -> Rib {
        let mut rc = RibConfig::new(self.asn(), self.router_id());
        rc.cluster_id = self.cluster_id();
        rc.decision.max_paths = (*self.file.kernel.ecmp_max.get_ref()).max(1) as usize;
        let mut rib = Rib::new(rc);
        for (name, p) in self.policies() {
            rib.set_policy(name, p);
        }
        let k = &self.file.kernel;
        rib.set_kernel_policy(k.export.as_ref().map(|e| e.get_ref().clone()));
        rib.set_kernel_import(k.import.as_ref().map(|e| e.get_ref().clone()));
        rib
    }

    /// The addresses the BGP listener binds (`[listen]`).
    pub fn listen_addrs(&self) -> Vec<std::net::SocketAddr> {
        let l = &self.file.listen;
        l.addresses
            .iter()
            .map(|a| std::net::SocketAddr::new(*a, l.port))
            .collect()
    }

    /// Whether `name` is listed as a client in `[route_reflector]`.
    fn listed_client(&self, name: &str) -> bool {
        self.file
            .route_reflector
            .as_ref()
            .is_some_and(|rr| rr.clients.iter().any(|c| c.get_ref() == name))
    }

    /// Every configured neighbour: `[[peers]]` in order, then the mesh.
    pub fn peers(&self) -> Vec<PeerSpec> {
        let mut out = Vec::new();
        for p in &self.file.peers {
            let mut common = p.common();
            common.rr_client |= self.listed_client(p.name.get_ref());
            out.push(PeerSpec {
                name: p.name.get_ref().clone(),
                address: *p.address.get_ref(),
                asn: *p.asn.get_ref(),
                origin: PeerOrigin::Configured,
                common: shared_common(common),
            });
        }
        if let Some(m) = &self.file.mesh {
            let me = m.local_address.unwrap_or(IpAddr::V4(self.router_id()));
            for a in &m.peers {
                let addr = *a.get_ref();
                if addr == me || out.iter().any(|p| p.address == addr) {
                    continue;
                }
                let mut common = m.common();
                // Calico (confd): `passive on` when peerIP > currentNodeIP, there as a string
                // comparison; here numeric (same family), so 10.0.0.10 > 10.0.0.9.
                if m.calico_passive_rule && ip_greater(addr, me) {
                    common.passive = true;
                }
                let name = peer_name("Mesh", addr);
                common.rr_client |= self.listed_client(&name);
                out.push(PeerSpec {
                    name,
                    address: addr,
                    asn: m.asn.unwrap_or(self.asn()),
                    origin: PeerOrigin::Mesh,
                    common: shared_common(common),
                });
            }
        }
        out
    }

    /// The range a dynamic neighbour at `addr` belongs to, as a peer spec.
    pub fn dynamic_peer(&self, addr: IpAddr) -> Option<PeerSpec> {
        let r = self.range_of(addr)?;
        let mut common = r.common();
        common.passive = true;
        common.rr_client |= self.listed_client(r.name.get_ref());
        Some(PeerSpec {
            name: peer_name(r.name.get_ref(), addr),
            address: addr,
            asn: *r.asn.get_ref(),
            origin: PeerOrigin::Dynamic,
            common: shared_common(common),
        })
    }

    /// How long a dynamic neighbour at `addr` lingers once it owes nothing (`forget_after` of
    /// its range; zero when no range holds it any more).
    pub fn forget_after(&self, addr: IpAddr) -> Duration {
        self.range_of(addr).map_or(Duration::ZERO, |r| {
            Duration::from_secs(u64::from(r.forget_after))
        })
    }

    /// The most specific `[[peer_ranges]]` entry holding `addr`.
    fn range_of(&self, addr: IpAddr) -> Option<&PeerRange> {
        self.file
            .peer_ranges
            .iter()
            .filter(|r| r.prefix.get_ref().contains(&addr))
            .max_by_key(|r| r.prefix.get_ref().prefix_len())
    }

    /// The TTL a peer's connections send with and the GTSM minimum (eBGP: another AS than
    /// ours, one hop unless `multihop`; `ttl_security`: RFC 5082).
    fn ttl_policy(&self, p: &PeerSpec) -> TtlPolicy {
        let c = &p.common;
        TtlPolicy::for_peer(p.asn != self.asn(), c.multihop, c.ttl_security)
    }

    /// The bgp-core session configuration of a peer. `restarting`: the R bit (our recovery).
    pub fn session_config(&self, p: &PeerSpec, restarting: bool) -> SessionConfig {
        let c = &p.common;
        let mut s = SessionConfig::new(
            c.local_asn.unwrap_or(self.asn()),
            self.router_id(),
            Some(p.asn),
        );
        s.passive = c.passive;
        s.ttl = self.ttl_policy(p);
        if let Some(t) = c.connect_delay_time {
            s.connect_delay = Duration::from_secs(u64::from(t));
        }
        if let Some(t) = c.connect_retry_time {
            s.connect_retry = Duration::from_secs(u64::from(t));
        }
        if let Some([a, b]) = c.error_wait_time {
            s.error_wait = (
                Duration::from_secs(u64::from(a)),
                Duration::from_secs(u64::from(b)),
            );
        }
        s.jitter = true;
        if let Some(h) = c.hold_time {
            s.hold_time = h;
        }
        s.keepalive_time = c.keepalive_time;
        s.families = c.families.iter().map(|f| family(*f)).collect();
        s.add_path = match c.add_path {
            AddPathSetting::Off => Vec::new(),
            m => s
                .families
                .iter()
                .map(|f| {
                    (
                        *f,
                        match m {
                            AddPathSetting::Receive => AddPathMode::Receive,
                            AddPathSetting::Send => AddPathMode::Send,
                            _ => AddPathMode::Both,
                        },
                    )
                })
                .collect(),
        };
        let gr = &self.file.graceful_restart;
        let mode = c.graceful_restart.unwrap_or(if gr.enabled {
            PeerGracefulRestart::On
        } else {
            PeerGracefulRestart::Off
        });
        s.graceful_restart = (mode != PeerGracefulRestart::Off).then(|| GracefulRestartConfig {
            restart_time: c
                .graceful_restart_time
                .unwrap_or(*gr.restart_time.get_ref())
                .min(4095) as u16,
            restarting,
            forwarding_preserved: true,
            notification: gr.notification,
            stale_time: Duration::from_secs(u64::from(gr.stale_time)),
            aware_only: mode == PeerGracefulRestart::Aware,
        });
        for (f, lim) in [
            (Family::IPV4_UNICAST, c.max_prefixes.ipv4),
            (Family::IPV6_UNICAST, c.max_prefixes.ipv6),
        ] {
            if let Some(limit) = lim {
                s.max_prefixes.push(MaxPrefix {
                    family: f,
                    limit,
                    restart_after: Some(Duration::from_secs(60)),
                });
            }
        }
        s
    }

    /// A peer's BFD session as the engine takes it (key, parameters, `wait_for_up`), or
    /// `None` without BFD.
    pub fn bfd_session(&self, p: &PeerSpec) -> Option<super::bfd::BfdSession> {
        let b = self.bfd_peer(p)?;
        Some(super::bfd::BfdSession {
            key: bgp_core::bfd::Key {
                remote: p.address,
                local: p.common.source_address,
                multihop: b.multihop,
            },
            params: bgp_core::bfd::SessionParams {
                min_tx: b.min_tx,
                min_rx: b.min_rx,
                idle_tx: b.idle_tx,
                detect_mult: b.multiplier,
            },
            wait_for_up: self.file.bfd.wait_for_up,
        })
    }

    /// The BFD session parameters of a peer, or `None` without BFD.
    pub fn bfd_peer(&self, p: &PeerSpec) -> Option<super::bfd::BfdPeer> {
        let c = &p.common;
        c.bfd.as_ref()?.resolve(&self.file.bfd, c.multihop)
    }

    /// The RIB's view of a peer whose session runs from our address `local` (the connection's):
    /// without a configured `source_address`, that address is our next hop for "self", as in
    /// BIRD, rather than the router ID (which need not be an address of this host).
    pub fn rib_peer_config_on(&self, p: &PeerSpec, local: Option<IpAddr>) -> PeerConfig {
        let mut pc = self.rib_peer_config(p);
        if p.common.source_address.is_none() {
            match local {
                Some(IpAddr::V4(a)) => pc.local_v4 = Some(a),
                Some(IpAddr::V6(a)) if p.common.next_hop_v6.is_none() => pc.local_v6 = Some(a),
                _ => {}
            }
        }
        pc
    }

    /// The RIB's view of a peer.
    pub fn rib_peer_config(&self, p: &PeerSpec) -> PeerConfig {
        let c = &p.common;
        let mut pc = PeerConfig::new(p.name.clone(), p.address);
        pc.rr_client = c.rr_client;
        pc.allow_local_as = c.allow_local_as;
        if let Some(p) = c.preference {
            pc.preference = p;
        }
        pc.gateway_direct = c.gateway == GatewayMode::Direct;
        pc.next_hop = match c.next_hop {
            NextHopSetting::Default => NextHopMode::Default,
            NextHopSetting::SelfAlways => NextHopMode::SelfAlways,
            NextHopSetting::Keep => NextHopMode::Keep,
        };
        pc.import = c.import.clone();
        pc.export = Some(export_policy_name(c.export.as_deref()));
        // Pre-policy copies only where an import filter can change its mind (memory).
        pc.soft_reconfig_inbound = c.import.is_some();
        match c.source_address {
            Some(IpAddr::V4(a)) => pc.local_v4 = Some(a),
            Some(IpAddr::V6(a)) => pc.local_v6 = Some(a),
            None => {}
        }
        if pc.local_v4.is_none() {
            pc.local_v4 = Some(self.router_id());
        }
        if let Some(v6) = c.next_hop_v6 {
            pc.local_v6 = Some(v6);
        }
        pc
    }

    /// Every filter the RIB runs, by name: the TOML policies compiled into the filter IR,
    /// the front-end's compiled filters ([`Config::filters`]), and one export wrapper per
    /// export name in use (`export:<name>`, or `export:` for none) that rejects routes inside
    /// non-exported pools first. A policy that does not compile (validation reports it) is
    /// left out, so references to it fail closed.
    pub fn policies(&self) -> Vec<(String, Filter)> {
        let mut out: Vec<(String, Filter)> = self
            .file
            .policies
            .iter()
            .filter_map(|p| {
                let f = super::policy::compile(p, self.asn()).ok()?;
                Some((p.name.get_ref().clone(), f))
            })
            .collect();
        out.extend(self.filters.iter().map(|(n, f)| (n.clone(), (**f).clone())));
        let hidden: Vec<PrefixRange> = self
            .file
            .pools
            .iter()
            .filter(|p| !p.export)
            .map(|p| PrefixRange::orlonger(*p.cidr.get_ref()))
            .collect();
        let prelude = if hidden.is_empty() {
            Vec::new()
        } else {
            vec![Stmt::if_then(
                super::policy::prefix_in(hidden),
                vec![Stmt::Reject],
            )]
        };
        let mut names: Vec<Option<String>> = vec![None];
        names.extend(out.iter().map(|(n, _)| Some(n.clone())));
        for n in names {
            let wrapper = export_policy_name(n.as_deref());
            let base = n
                .as_ref()
                .and_then(|n| out.iter().find(|(k, _)| k == n).map(|(_, f)| f.clone()))
                .unwrap_or_else(Filter::accept_all);
            if let Ok(f) = base.with_prelude(&wrapper, prelude.clone()) {
                out.push((wrapper, f));
            }
        }
        out
    }
}

/// The name of the generated export wrapper for an export policy name.
pub fn export_policy_name(n: Option<&str>) -> String {
    format!("export:{}", n.unwrap_or(""))
}

fn ip_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a > b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a > b,
        // Different families never meet in one session; keep both sides active.
        _ => false,
    }
}

/// bgp-core family of a family name.
pub fn family(f: FamilyName) -> Family {
    match f {
        FamilyName::Ipv4 => Family::IPV4_UNICAST,
        FamilyName::Ipv6 => Family::IPV6_UNICAST,
    }
}

/// `a:b` → community.
pub fn parse_community(s: &str) -> Option<Community> {
    let (a, b) = s.trim().split_once(':')?;
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().ok()?;
    Some(Community((u32::from(a) << 16) | u32::from(b)))
}

/// `a:b:c` → large community.
pub fn parse_large_community(s: &str) -> Option<LargeCommunity> {
    let mut it = s.trim().split(':');
    let a = it.next()?.trim().parse().ok()?;
    let b = it.next()?.trim().parse().ok()?;
    let c = it.next()?.trim().parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(LargeCommunity::new(a, b, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_config as cfg;

    #[test]
    fn a_peers_ttl_follows_its_as_multihop_and_gtsm() {
        let c = cfg(concat!(
            "[[peers]]\nname = \"e\"\naddress = \"10.0.0.2\"\nasn = 65001\n",
            "[[peers]]\nname = \"i\"\naddress = \"10.0.0.3\"\nasn = 64512\n",
            "[[peers]]\nname = \"g\"\naddress = \"10.0.0.4\"\nasn = 65001\nmultihop = 2\n",
            "ttl_security = true\n",
        ));
        let ttl: Vec<_> = c
            .peers()
            .iter()
            .map(|p| c.session_config(p, false).ttl)
            .collect();
        let t = |send, min_receive| TtlPolicy { send, min_receive };
        assert_eq!(ttl, [t(1, None), t(64, None), t(255, Some(254))]);
    }

    #[test]
    fn cluster_id_is_the_router_id_unless_set() {
        assert_eq!(cfg("").cluster_id(), None);
        let rr = cfg("[route_reflector]\n");
        assert_eq!(rr.cluster_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let rr = cfg("[route_reflector]\ncluster_id = \"1.2.3.4\"\n");
        assert_eq!(rr.cluster_id(), Some(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn the_first_rib_has_every_filter_and_the_listen_addresses_their_port() {
        let c = cfg(concat!(
            "[listen]\naddresses = [\"127.0.0.1\", \"::1\"]\nport = 1179\n",
            "[[policies]]\nname = \"p\"\ndefault = \"reject\"\n"
        ));
        let mut rib = c.new_rib();
        assert_eq!(
            (rib.config().local_as, rib.config().router_id),
            (64512, c.router_id())
        );
        // The filters are in: a peer importing through "p" has its routes rejected.
        let mut pc = PeerConfig::new("a", "10.0.0.2".parse().unwrap());
        pc.import = Some("p".into());
        let a = rib.add_peer(pc).unwrap();
        rib.peer_up(
            a,
            bgp_core::wire::Negotiated {
                local_as: 64512,
                peer_as: 65001,
                ..Default::default()
            },
        );
        let attrs = bgp_core::wire::PathAttributes {
            as_path: Some(bgp_core::wire::AsPath::from_sequence(&[65001])),
            ..Default::default()
        };
        let nlri = [bgp_core::wire::Nlri::new("10.9.0.0/16".parse().unwrap())];
        let hop = Some(bgp_core::wire::NextHop::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let s = rib.announce(a, Family::IPV4_UNICAST, &attrs, hop, &nlri);
        assert_eq!((s.accepted, s.filtered), (0, 1));
        let addrs: Vec<String> = c.listen_addrs().iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:1179", "[::1]:1179"]);
    }
}
