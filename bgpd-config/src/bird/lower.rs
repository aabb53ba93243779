//! DOC: from the parse tree to the model: templates and `from` inheritance resolved (the
//! template's options first, the protocol's own after them, the last setting of an option
//! winning), unnamed protocols named as BIRD names them (`kernel1`, `device1`, `direct1`,
//! `static1`, ...), each protocol's options mapped onto [`ConfigFile`] with BIRD 1.6's
//! defaults (kernel metric 0, `persist`/`learn` off, `scan time` 60, `export none`; BGP `import
//! all`/`export none`, `multihop` = 64), and the filters every `import`/`export` refers to
//! collected by name (inline ones under stable synthetic names, see [`inline_name`]).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_spanned::Spanned;

use super::ast::*;
use super::{BirdError, Pos};
use crate::schema::*;

/// A protocol as the daemon shows it (`show protocols`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoInfo {
    /// Its name (given, or BIRD's automatic `kernel1`...).
    pub name: String,
    /// Its kind (`kernel`, `device`, `direct`, `static`, `bgp`, `bfd`).
    pub kind: &'static str,
    /// `bfd on` (BGP).
    pub bfd: bool,
    /// `description`.
    pub description: Option<String>,
}

/// What a filter name stands for, before compilation to the filter engine.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterSrc {
    /// `all`.
    All,
    /// `none`.
    None,
    /// A `filter NAME` definition or an inline `filter { ... }`.
    Body(FilterBody),
    /// `where EXPR`.
    Where(Expr),
}

/// The synthetic filter name of `all` / `none`.
pub const ALL: &str = "@all";
pub const NONE: &str = "@none";

/// The name of a protocol's inline `import`/`export` filter: `@NAME.import`. `@` never appears
/// in a BIRD symbol, and the protocol name is stable across reloads.
pub fn inline_name(proto: &str, dir: &str) -> String {
    format!("@{proto}.{dir}")
}

/// The result of lowering.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The model.
    pub file: ConfigFile,
    /// Every protocol, in order.
    pub protocols: Vec<ProtoInfo>,
    /// The filters referred to by `file` (peers' import/export, the kernel export), by name.
    pub filters: BTreeMap<String, FilterSrc>,
    /// Functions and constants, in definition order (the filters' environment).
    pub functions: Vec<FunctionDef>,
    pub defines: Vec<(At<String>, Expr)>,
    /// `protocol bfd` options as written.
    pub bfd: Vec<At<Opt>>,
    /// The filters of `filters`, compiled.
    pub compiled: BTreeMap<String, std::sync::Arc<bgp_core::filter::Filter>>,
    /// No `router id` statement: `file.router_id` is 0.0.0.0 until chosen from the host's
    /// interfaces as BIRD 1.6 does ([`super::router_id_from`]).
    pub router_id_auto: bool,
}

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T, BirdError> {
    Err(BirdError::new(pos, msg))
}

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

pub(super) fn same_family(a: IpAddr, f: FamilyName) -> bool {
    matches!(
        (a, f),
        (IpAddr::V4(_), FamilyName::Ipv4) | (IpAddr::V6(_), FamilyName::Ipv6)
    )
}

pub(super) fn family_word(f: FamilyName) -> &'static str {
    match f {
        FamilyName::Ipv4 => "IPv4 (bird)",
        FamilyName::Ipv6 => "IPv6 (bird6)",
    }
}

pub(super) struct Lower<'a> {
    pub(super) family: FamilyName,
    templates: HashMap<&'a str, &'a ProtoDef>,
    counters: HashMap<Kind, u32>,
    filters: BTreeMap<String, FilterSrc>,
    named: HashMap<&'a str, &'a FilterBody>,
}

/// Lowers `tree` for a daemon of `family`.
pub fn lower(tree: &Tree, family: FamilyName) -> Result<Lowered, BirdError> {
    let mut l = Lower {
        family,
        templates: HashMap::new(),
        counters: HashMap::new(),
        filters: BTreeMap::new(),
        named: HashMap::new(),
    };
    let mut router_id = None;
    let mut listen: Option<(Pos, Option<IpAddr>, Option<u16>)> = None;
    let mut out = Lowered {
        file: empty_file(family),
        protocols: Vec::new(),
        filters: BTreeMap::new(),
        functions: Vec::new(),
        defines: Vec::new(),
        bfd: Vec::new(),
        compiled: BTreeMap::new(),
        router_id_auto: false,
    };
    let mut kernel_seen: Option<Pos> = None;
    let mut direct_seen: Option<Pos> = None;
    let mut locals: Vec<u32> = Vec::new();
    let mut template_asn: Option<u32> = None;
    let mut cluster: Option<(Pos, Ipv4Addr)> = None;
    for it in &tree.items {
        match it {
            Item::RouterId(a) => {
                if a.v.is_unspecified() {
                    return err(a.pos, "router id must not be 0.0.0.0");
                }
                router_id = Some(a.v);
            }
            Item::Listen { pos, address, port } => {
                if let Some(a) = address {
                    if !same_family(*a, family) {
                        return err(
                            *pos,
                            format!(
                                "listen address {a} is not of this daemon's family, {}",
                                family_word(family)
                            ),
                        );
                    }
                }
                listen = Some((*pos, *address, *port));
            }
            Item::Log(_) | Item::Debug(_) | Item::TimeFormat(_) => {}
            Item::Define(n, e) => out.defines.push((n.clone(), e.clone())),
            Item::Filter(f) => {
                l.named.insert(&f.name.v, &f.body);
            }
            Item::Function(f) => out.functions.push(f.clone()),
            Item::Proto(p) if p.template => {
                if let Some(n) = &p.name {
                    l.templates.insert(&n.v, p);
                    if p.kind == Kind::Bgp && template_asn.is_none() {
                        template_asn = l.resolve(p)?.iter().rev().find_map(|o| match o.v {
                            Opt::LocalAs { asn: Some(a), .. } => Some(a as u32),
                            _ => None,
                        });
                    }
                }
            }
            Item::Proto(p) => {
                let opts = l.resolve(p)?;
                let name = l.name(p);
                let mut info = ProtoInfo {
                    name: name.clone(),
                    kind: p.kind.word(),
                    bfd: false,
                    description: None,
                };
                for o in &opts {
                    if let Opt::Description(d) = &o.v {
                        info.description = Some(d.clone());
                    }
                }
                match p.kind {
                    Kind::Kernel => {
                        if let Some(prev) = kernel_seen {
                            return err(
                                p.pos,
                                format!(
                                    "a second kernel protocol (the first is at line {}): bgpd programs one kernel table",
                                    prev.line
                                ),
                            );
                        }
                        kernel_seen = Some(p.pos);
                        l.kernel(&name, &opts, &mut out.file.kernel)?;
                    }
                    Kind::Device => l.device(&opts)?,
                    Kind::Direct => {
                        if let Some(prev) = direct_seen {
                            return err(
                                p.pos,
                                format!(
                                    "a second direct protocol (the first is at line {})",
                                    prev.line
                                ),
                            );
                        }
                        direct_seen = Some(p.pos);
                        out.file.direct = Some(l.direct(&opts)?);
                    }
                    Kind::Static => l.statics(&opts, &mut out.file.statics)?,
                    Kind::Bgp => {
                        let (peer, local, rr_cluster) = l.bgp(p, &name, &opts)?;
                        info.bfd = opts.iter().any(|o| matches!(o.v, Opt::Bfd(true)));
                        let Some(local) = local else {
                            return err(p.pos, format!("BGP protocol `{name}` has no `local as`"));
                        };
                        locals.push(local);
                        if let Some((cpos, id)) = rr_cluster {
                            match cluster {
                                Some((_, c)) if c != id => {
                                    return err(
                                        cpos,
                                        format!("`rr cluster id {id}` differs from {c} given before: one cluster id per daemon is supported"),
                                    )
                                }
                                _ => cluster = Some((cpos, id)),
                            }
                        }
                        out.file.peers.push(peer);
                    }
                    Kind::Bfd => {
                        bfd_defaults(&opts, &mut out.file.bfd)?;
                        out.bfd.extend(opts.iter().cloned());
                    }
                }
                out.protocols.push(info);
            }
        }
    }
    out.router_id_auto = router_id.is_none();
    out.file.router_id = sp(router_id.unwrap_or(Ipv4Addr::UNSPECIFIED));
    // Our AS: the BGP template's `local as` (confd's `bgp_template`), else the first
    // protocol's; protocols with another `local as` keep theirs per peer.
    let asn = template_asn.or(locals.first().copied()).unwrap_or(65535);
    out.file.asn = sp(asn);
    for (peer, local) in out.file.peers.iter_mut().zip(&locals) {
        if *local != asn {
            peer.local_asn = Some(*local);
        }
    }
    if out.file.peers.iter().any(|p| p.rr_client) || cluster.is_some() {
        out.file.route_reflector = Some(RouteReflector {
            cluster_id: cluster.map(|c| c.1),
            clients: Vec::new(),
        });
    }
    if let Some((_, a, p)) = listen {
        if let Some(a) = a {
            out.file.listen.addresses = vec![a];
        }
        if let Some(p) = p {
            out.file.listen.port = p;
        }
    }
    if kernel_seen.is_none() {
        // No kernel protocol: BIRD programs nothing.
        out.file.kernel.enabled = false;
    }
    out.filters = l.filters;
    // The defaults (`export none` of BGP and kernel protocols without an `export`) refer to
    // `@none` without a clause having registered it.
    let uses_none = out
        .file
        .kernel
        .export
        .as_ref()
        .is_some_and(|e| e.get_ref() == NONE)
        || out
            .file
            .peers
            .iter()
            .any(|p| p.export.as_ref().is_some_and(|e| e.get_ref() == NONE));
    if uses_none {
        out.filters.insert(NONE.to_string(), FilterSrc::None);
    }
    Ok(out)
}

/// The model of a configuration with no protocols, BIRD 1.6's defaults where they differ.
fn empty_file(family: FamilyName) -> ConfigFile {
    let mut kernel = Kernel {
        metric: 0,
        persist: false,
        scan_interval: sp(60),
        ecmp_max: sp(1),
        export: Some(sp(NONE.to_string())),
        // BIRD installs plain routes: a drop-in keeps the kernel's table byte for byte as
        // BIRD leaves it (`ip route` without `nhid`, and iproute2 6.1's `ip route flush proto
        // bird` fails on routes that carry one).
        nexthop_objects: NexthopObjectsMode::Off,
        ..Kernel::default()
    };
    kernel.learn = false;
    ConfigFile {
        router_id: sp(Ipv4Addr::UNSPECIFIED),
        asn: sp(0),
        listen: Listen {
            addresses: vec![match family {
                FamilyName::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                FamilyName::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }],
            port: 179,
        },
        control_socket: std::path::PathBuf::from("/run/bgpd/bgpd.ctl"),
        control_socket_v6: None,
        shutdown: ShutdownMode::default(),
        kernel,
        graceful_restart: GracefulRestart::default(),
        pools: Vec::new(),
        statics: Vec::new(),
        direct: None,
        mesh: None,
        route_reflector: None,
        peers: Vec::new(),
        peer_ranges: Vec::new(),
        policies: Vec::new(),
        metrics: None,
        log: Log::default(),
        bfd: crate::bfd::BfdDefaults::default(),
    }
}

impl<'a> Lower<'a> {
    /// A protocol's options with its templates' before them.
    fn resolve(&self, p: &'a ProtoDef) -> Result<Vec<At<Opt>>, BirdError> {
        let mut chain = vec![p];
        let mut cur = p;
        while let Some(f) = &cur.from {
            let Some(t) = self.templates.get(f.v.as_str()) else {
                return err(f.pos, format!("template `{}` is not defined", f.v));
            };
            if chain.len() > 16 {
                return err(f.pos, "template chain longer than 16");
            }
            chain.push(t);
            cur = t;
        }
        Ok(chain
            .iter()
            .rev()
            .flat_map(|d| d.opts.iter().cloned())
            .collect())
    }

    fn name(&mut self, p: &ProtoDef) -> String {
        match &p.name {
            Some(n) => n.v.clone(),
            None => {
                let c = self.counters.entry(p.kind).or_insert(0);
                *c += 1;
                format!("{}{}", p.kind.word(), c)
            }
        }
    }

    /// Registers the filter of an `import`/`export` clause; its name.
    pub(super) fn filter(
        &mut self,
        proto: &str,
        dir: &str,
        r: &FilterRef,
    ) -> Result<String, BirdError> {
        let (name, src) = match r {
            FilterRef::All => (ALL.to_string(), FilterSrc::All),
            FilterRef::None => (NONE.to_string(), FilterSrc::None),
            FilterRef::Named(n) => {
                let Some(b) = self.named.get(n.v.as_str()) else {
                    return err(n.pos, format!("no filter named `{}`", n.v));
                };
                (n.v.clone(), FilterSrc::Body((*b).clone()))
            }
            FilterRef::Inline(b) => (inline_name(proto, dir), FilterSrc::Body(b.clone())),
            FilterRef::Where(e) => (inline_name(proto, dir), FilterSrc::Where(e.clone())),
        };
        self.filters.insert(name.clone(), src);
        Ok(name)
    }

    fn no_filter_clauses(&self, opts: &[At<Opt>], kind: Kind) -> Result<(), BirdError> {
        for o in opts {
            match &o.v {
                Opt::Import(FilterRef::All) | Opt::Export(_) => {}
                Opt::Import(_) if kind == Kind::Kernel => {}
                Opt::Import(_) => {
                    return err(
                        o.pos,
                        format!(
                            "import filters on a {} protocol are not supported",
                            kind.word()
                        ),
                    )
                }
                Opt::Preference(n) if *n != u64::from(default_pref(kind)) => {
                    return err(
                        o.pos,
                        format!(
                        "`preference` of a {} protocol other than its default {} is not supported",
                        kind.word(),
                        default_pref(kind)
                    ),
                    )
                }
                Opt::Disabled(true) => {
                    return err(
                        o.pos,
                        format!("a disabled {} protocol is not supported", kind.word()),
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn kernel(&mut self, name: &str, opts: &[At<Opt>], k: &mut Kernel) -> Result<(), BirdError> {
        self.no_filter_clauses(opts, Kind::Kernel)?;
        for o in opts {
            match &o.v {
                Opt::Learn(b) => k.learn = *b,
                Opt::Persist(b) => k.persist = *b,
                Opt::ScanTime(t) => k.scan_interval = sp(*t),
                Opt::KernelTable(t) => k.table = *t as u32,
                Opt::Metric(m) => k.metric = *m as u32,
                Opt::MergePaths { on, limit } => {
                    k.ecmp_max = sp(if *on { limit.unwrap_or(16) as u32 } else { 1 });
                }
                Opt::DeviceRoutes(true) => return err(o.pos, "`device routes` is not supported"),
                Opt::Export(r) => {
                    k.export = Some(sp(self.filter(name, "export", r)?));
                }
                Opt::Import(FilterRef::All) => k.import = None,
                Opt::Import(r) => {
                    k.import = Some(sp(self.filter(name, "import", r)?));
                }
                Opt::DeviceRoutes(false)
                | Opt::GracefulRestart(_)
                | Opt::Description(_)
                | Opt::Debug
                | Opt::Preference(_)
                | Opt::Disabled(_) => {}
                other => {
                    return err(
                        o.pos,
                        format!(
                            "option {} is not valid in a kernel protocol",
                            opt_word(other)
                        ),
                    )
                }
            }
        }
        Ok(())
    }

    fn device(&mut self, opts: &[At<Opt>]) -> Result<(), BirdError> {
        self.no_filter_clauses(opts, Kind::Device)?;
        for o in opts {
            match &o.v {
                // bgpd follows links through netlink events: no scan needed.
                Opt::ScanTime(_)
                | Opt::Description(_)
                | Opt::Debug
                | Opt::Preference(_)
                | Opt::Disabled(_)
                | Opt::Import(_)
                | Opt::Export(_) => {}
                other => {
                    return err(
                        o.pos,
                        format!(
                            "option {} is not valid in a device protocol",
                            opt_word(other)
                        ),
                    )
                }
            }
        }
        Ok(())
    }

    fn direct(&mut self, opts: &[At<Opt>]) -> Result<Direct, BirdError> {
        self.no_filter_clauses(opts, Kind::Direct)?;
        let mut interfaces = Vec::new();
        for o in opts {
            match &o.v {
                Opt::Interface(l) => interfaces.extend(l.iter().map(|p| {
                    if p.exclude {
                        format!("-{}", p.pattern)
                    } else {
                        p.pattern.clone()
                    }
                })),
                Opt::Description(_)
                | Opt::Debug
                | Opt::Preference(_)
                | Opt::Disabled(_)
                | Opt::Import(_)
                | Opt::Export(_) => {}
                other => {
                    return err(
                        o.pos,
                        format!(
                            "option {} is not valid in a direct protocol",
                            opt_word(other)
                        ),
                    )
                }
            }
        }
        if interfaces.is_empty() {
            interfaces.push("*".into());
        }
        Ok(Direct { interfaces })
    }

    fn statics(&mut self, opts: &[At<Opt>], out: &mut Vec<StaticRoute>) -> Result<(), BirdError> {
        self.no_filter_clauses(opts, Kind::Static)?;
        for o in opts {
            match &o.v {
                Opt::Route(net, t) => {
                    if !same_family(net.v.addr(), self.family) {
                        return err(
                            net.pos,
                            format!(
                                "route {} is not of this daemon's family, {}",
                                net.v,
                                family_word(self.family)
                            ),
                        );
                    }
                    if out.iter().any(|s| *s.prefix.get_ref() == net.v) {
                        return err(net.pos, format!("duplicate static route {}", net.v));
                    }
                    let mut route = StaticRoute {
                        prefix: sp(net.v),
                        blackhole: false,
                        unreachable: false,
                        prohibit: false,
                        via: None,
                        communities: Vec::new(),
                    };
                    match t {
                        RouteTarget::Blackhole => route.blackhole = true,
                        RouteTarget::Unreachable => route.unreachable = true,
                        RouteTarget::Prohibit => route.prohibit = true,
                        RouteTarget::Via(a) => {
                            if !same_family(*a, self.family) {
                                return err(
                                    net.pos,
                                    format!("gateway {a} is not of the route's family"),
                                );
                            }
                            route.via = Some(*a);
                        }
                        RouteTarget::ViaIface(_) => {
                            return err(
                                net.pos,
                                "static routes `via \"interface\"` are not supported",
                            )
                        }
                    }
                    out.push(route);
                }
                Opt::Description(_)
                | Opt::Debug
                | Opt::Preference(_)
                | Opt::Disabled(_)
                | Opt::Import(_)
                | Opt::Export(_) => {}
                other => {
                    return err(
                        o.pos,
                        format!(
                            "option {} is not valid in a static protocol",
                            opt_word(other)
                        ),
                    )
                }
            }
        }
        Ok(())
    }
}

/// `protocol bfd`: the session parameters of its `interface "*"` and `multihop` blocks become
/// bgpd's BFD defaults (bgpd has one set for all sessions; BGP's `bfd on` creates them).
fn bfd_defaults(opts: &[At<Opt>], d: &mut crate::bfd::BfdDefaults) -> Result<(), BirdError> {
    use crate::bfd::{BfdInterval, BfdMultiplier};
    let mut seen: Option<BfdIfaceOpts> = None;
    for o in opts {
        let b = match &o.v {
            Opt::BfdInterface(pats, b) => {
                if !pats.iter().all(|p| !p.exclude && p.pattern == "*") {
                    return err(
                        o.pos,
                        "per-interface BFD settings are not supported (only `interface \"*\"`)",
                    );
                }
                b
            }
            Opt::BfdMultihop(b) => b,
            Opt::BfdNeighbor { .. } => return err(
                o.pos,
                "BFD `neighbor` statements are not supported (BGP's `bfd on` creates the sessions)",
            ),
            Opt::Description(_) | Opt::Debug | Opt::Disabled(false) => continue,
            other => {
                return err(
                    o.pos,
                    format!("option {} is not valid in a bfd protocol", opt_word(other)),
                )
            }
        };
        if let Some(prev) = &seen {
            if prev != b {
                return err(
                    o.pos,
                    "different BFD settings per block are not supported: bgpd has one set",
                );
            }
        }
        seen = Some(b.clone());
        if b.passive == Some(true) {
            return err(o.pos, "passive BFD is not supported");
        }
        if let Some(v) = b.min_rx_ms {
            d.min_rx = BfdInterval::ms(v.clamp(1, 60_000));
        }
        if let Some(v) = b.min_tx_ms {
            d.min_tx = BfdInterval::ms(v.clamp(1, 60_000));
        }
        if let Some(v) = b.idle_tx_ms {
            d.idle_tx = BfdInterval::ms(v.clamp(1, 60_000));
        }
        if let Some(m) = b.multiplier {
            d.multiplier = BfdMultiplier(m.clamp(1, 255) as u8);
        }
    }
    Ok(())
}

fn default_pref(k: Kind) -> u16 {
    match k {
        Kind::Direct | Kind::Device => 240,
        Kind::Static => 200,
        Kind::Bgp => 100,
        Kind::Kernel | Kind::Bfd => 10,
    }
}

/// How an option reads in an error message.
pub fn opt_word(o: &Opt) -> String {
    let w = match o {
        Opt::Description(_) => "description",
        Opt::Debug => "debug",
        Opt::Disabled(_) => "disabled",
        Opt::Preference(_) => "preference",
        Opt::Import(_) => "import",
        Opt::Export(_) => "export",
        Opt::RouterId(_) => "router id",
        Opt::Learn(_) => "learn",
        Opt::Persist(_) => "persist",
        Opt::ScanTime(_) => "scan time",
        Opt::DeviceRoutes(_) => "device routes",
        Opt::KernelTable(_) => "kernel table",
        Opt::Metric(_) => "metric",
        Opt::GracefulRestart(_) => "graceful restart",
        Opt::MergePaths { .. } => "merge paths",
        Opt::Interface(_) | Opt::BfdInterface(..) => "interface",
        Opt::Route(..) => "route",
        Opt::LocalAs { .. } => "local",
        Opt::Neighbor { .. } | Opt::BfdNeighbor { .. } => "neighbor",
        Opt::SourceAddress(_) => "source address",
        Opt::Multihop(_) | Opt::BfdMultihop(_) => "multihop",
        Opt::Direct => "direct",
        Opt::TtlSecurity(_) => "ttl security",
        Opt::Password(_) => "password",
        Opt::Passive(_) => "passive",
        Opt::RrClient(_) => "rr client",
        Opt::RrClusterId(_) => "rr cluster id",
        Opt::NextHopSelf(_) => "next hop self",
        Opt::NextHopKeep(_) => "next hop keep",
        Opt::AllowLocalAs(_) => "allow local as",
        Opt::AddPaths(_) => "add paths",
        Opt::GracefulRestartTime(_) => "graceful restart time",
        Opt::KeepaliveTime(_) => "keepalive time",
        Opt::HoldTime(_) => "hold time",
        Opt::StartupHoldTime(_) => "startup hold time",
        Opt::ConnectDelayTime(_) => "connect delay time",
        Opt::ConnectRetryTime(_) => "connect retry time",
        Opt::ErrorWaitTime(..) => "error wait time",
        Opt::ErrorForgetTime(_) => "error forget time",
        Opt::Gateway { .. } => "gateway",
        Opt::Bfd(_) => "bfd",
        Opt::EnableRouteRefresh(_) => "enable route refresh",
        Opt::EnableAs4(_) => "enable as4",
    };
    format!("`{w}`")
}
