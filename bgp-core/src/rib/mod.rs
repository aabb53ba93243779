//! DOC: the RIB (RFC 4271 §3.2, §9): Adj-RIBs-In, Loc-RIB and decision process, Adj-RIBs-Out
//! with full-mesh and route-reflection export rules (RFC 4456), graceful-restart stale handling,
//! local routes, policy, and the two change outputs the daemon drains.
//!
//! Pure code, no IO, BIRD 2 style: the table knows nothing of protocols. Everything that puts
//! routes in is a *source* ([`SourceId`]): BGP peers ([`Rib::add_peer`]) and three local sources
//! (static, kernel, direct; [`Rib::add_local`]). All of them follow the same rules.
//!
//! # Data flow
//! ```text
//!  Update ──apply_update──▶ loop checks, import filter ──▶ table (per family: prefix → paths)
//!  local routes ─add_local─┘                                   │ decision process per prefix
//!                                     ┌────────────────────────┴────────────────────┐
//!                                     ▼                                             ▼
//!                       FIB queue (prefix, once)                 per-peer dirty set (prefix, once)
//!                       poll_fib_change() → FibChange            poll_update(peer, buf) → UPDATE
//! ```
//! * `table`: the per-family tables, memory layout and change detection;
//! * [`decision`]: the decision process;
//! * [`policy`]: the filter language;
//! * [`attrs`]: attribute sets and their interner;
//! * `export`: export rules and UPDATE packing;
//! * [`prefix`]: compact keys and the hasher.
//!
//! # The daemon's loop
//! One mutation (`apply_update`, `peer_up`, `peer_down`, `add_local`, `set_next_hop_state`, ...),
//! then drain [`Rib::poll_fib_change`] until `None`, and call [`Rib::poll_update`] for a peer
//! whenever its socket is writable and [`Rib::has_pending`] says so. Nothing is queued per peer
//! but a coalesced set of prefixes: a prefix changing five times before the peer drains is sent
//! once, with its latest state.

pub mod attrs;
pub mod decision;
mod export;
pub mod prefix;
mod table;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

pub use crate::filter::{Filter, PrefixRange, Verdict};
pub use attrs::{AttrId, KernelTunnel, NhState, RouteAttrs, RouteMeta, RouteType, SourceKind};
pub use decision::DecisionOptions;

use crate::filter::{Outcome, RouteCtx};
use crate::wire::{Family, Negotiated, NextHop, NextHopRef, Nlri, Origin, PathAttributes, Update};
use attrs::Interner;
use prefix::{FastMap, Key, V4Key, V6Key};
use table::{cf, Ctx, Path, Table, STALE};

/// Filters by name, shared by the peers that use them.
pub type PolicySet = std::collections::HashMap<String, Arc<Filter>>;

/// A route source: a BGP peer or one of the local sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u16);

impl SourceId {
    /// Static routes (including blackhole blocks).
    pub const STATIC: SourceId = SourceId(0);
    /// Routes learned from the kernel.
    pub const KERNEL: SourceId = SourceId(1);
    /// Directly connected subnets.
    pub const DIRECT: SourceId = SourceId(2);

    /// The local source of `kind` (`None` for BGP).
    pub fn local(kind: SourceKind) -> Option<SourceId> {
        match kind {
            SourceKind::Static => Some(SourceId::STATIC),
            SourceKind::Kernel => Some(SourceId::KERNEL),
            SourceKind::Direct => Some(SourceId::DIRECT),
            SourceKind::Bgp => None,
        }
    }
}

/// What changed for a prefix, accumulated until the consumer looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeFlags(u8);

impl ChangeFlags {
    /// A different path is best (or the prefix appeared).
    pub const BEST: ChangeFlags = ChangeFlags(cf::BEST);
    /// The best path's attributes changed.
    pub const ATTRS: ChangeFlags = ChangeFlags(cf::ATTRS);
    /// The multipath set changed beyond its best.
    pub const MULTIPATH: ChangeFlags = ChangeFlags(cf::MULTIPATH);
    /// No usable path is left.
    pub const WITHDRAWN: ChangeFlags = ChangeFlags(cf::WITHDRAWN);
    /// Some path of the prefix changed (interesting to ADD-PATH peers only).
    pub const PATHS: ChangeFlags = ChangeFlags(cf::PATHS);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: ChangeFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for ChangeFlags {
    type Output = ChangeFlags;
    fn bitor(self, o: ChangeFlags) -> ChangeFlags {
        ChangeFlags(self.0 | o.0)
    }
}

/// Per-peer next-hop handling on export (BIRD's `next hop self` / `next hop keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum NextHopMode {
    /// RFC 4271 defaults: self towards eBGP and for local routes, unchanged towards iBGP.
    #[default]
    Default,
    /// Always our own address.
    SelfAlways,
    /// Never changed (when the route has one).
    Keep,
}

/// A peer's configuration: what the RIB needs to know about it beyond the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Name, for display (`Mesh_10_0_0_1`).
    pub name: String,
    /// The peer's address (the last tie-break, RFC 4271 §9.1.2.2 g).
    pub address: IpAddr,
    /// The peer is a route-reflector client of ours (`rr client`).
    pub rr_client: bool,
    /// Next-hop handling on export.
    pub next_hop: NextHopMode,
    /// Accept routes whose AS_PATH holds our AS up to this many times (`allow local as N`).
    pub allow_local_as: u8,
    /// Named import filter; `None` accepts everything.
    pub import: Option<String>,
    /// Named export filter; `None` accepts everything the export rules allow.
    pub export: Option<String>,
    /// Keep the pre-policy routes so [`Rib::reimport`] can rerun the import filter.
    pub soft_reconfig_inbound: bool,
    /// Our IPv4 address on this session, the next hop when it is "self" (defaults to the router
    /// ID, which Calico sets to the node address).
    pub local_v4: Option<Ipv4Addr>,
    /// Our IPv6 address on this session; IPv6 routes needing next-hop-self are not sent
    /// without one.
    pub local_v6: Option<Ipv6Addr>,
    /// With ADD-PATH send, how many paths per prefix to advertise.
    pub add_path_tx_max: usize,
    /// Route preference of this peer's routes (BIRD's protocol preference, default 100).
    pub preference: u16,
}

impl PeerConfig {
    /// A peer with default settings.
    pub fn new(name: impl Into<String>, address: IpAddr) -> Self {
        PeerConfig {
            name: name.into(),
            address,
            rr_client: false,
            next_hop: NextHopMode::Default,
            allow_local_as: 0,
            import: None,
            export: None,
            soft_reconfig_inbound: false,
            local_v4: None,
            local_v6: None,
            add_path_tx_max: 8,
            preference: SourceKind::Bgp.default_preference(),
        }
    }
}

/// Global RIB settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Our cluster ID when reflecting (RFC 4456 §7: defaults to the router ID).
    pub cluster_id: Option<Ipv4Addr>,
    /// Decision-process options (MED handling, multipath width).
    pub decision: DecisionOptions,
    /// LOCAL_PREF assumed when a route has none (RFC 4271 §9.1.1 leaves it to policy; 100).
    pub default_local_pref: u32,
    /// Next-hop state assumed until the daemon says otherwise.
    pub default_next_hop: NhState,
}

impl RibConfig {
    /// Defaults for `local_as` and `router_id`.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            decision: DecisionOptions::default(),
            default_local_pref: 100,
            default_next_hop: NhState::default(),
        }
    }
}

/// A local route (static, blackhole block, learned kernel route, direct subnet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalRoute {
    /// Gateway, if any.
    pub next_hop: Option<IpAddr>,
    /// Forwarding type.
    pub route_type: RouteType,
    /// Interface.
    pub ifname: Option<Arc<str>>,
    /// Kernel metric (learned kernel routes).
    pub krt_metric: Option<u32>,
}

/// A source's counters ([`Rib::source_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Its paths in the table.
    pub routes: u64,
    /// Prefixes whose best path is its.
    pub best: u64,
    /// What a BGP peer's Adj-RIB-Out holds (prefix, path) pairs.
    pub exported: u64,
}

/// What an UPDATE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateStats {
    /// Prefixes accepted into the Adj-RIB-In.
    pub accepted: usize,
    /// Prefixes withdrawn.
    pub withdrawn: usize,
    /// Prefixes rejected by the import filter.
    pub filtered: usize,
    /// Prefixes dropped by loop detection (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST).
    pub looped: usize,
    /// The End-of-RIB family, when the UPDATE was that marker.
    pub end_of_rib: Option<Family>,
}

/// One path as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Where it came from.
    pub source: SourceId,
    /// What kind of source that is.
    pub source_kind: SourceKind,
    /// Its ADD-PATH identifier (0 without ADD-PATH).
    pub path_id: u32,
    /// Its (post-policy) attributes.
    pub attrs: Arc<RouteAttrs>,
    /// Best or multipath partner.
    pub selected: bool,
    /// Kept across a graceful restart, not yet refreshed.
    pub stale: bool,
}

/// One next hop of a FIB route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibNextHop {
    /// The gateway (`None`: on-link / no gateway).
    pub addr: Option<IpAddr>,
    /// The kernel tunnel decision for this path (Calico's `krt_tunnel`), if policy made one.
    pub tunnel: Option<KernelTunnel>,
    /// Which source the path came from.
    pub source: SourceId,
}

/// What the FIB should hold for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibRoute {
    /// Source of the best path: kernel-learned routes are already in the kernel, and the daemon
    /// decides whether static/direct ones are installed.
    pub source: SourceKind,
    /// Forwarding type.
    pub route_type: RouteType,
    /// The next hops: the best path's first, then its equal-cost partners ("merge paths").
    pub next_hops: Vec<FibNextHop>,
    /// Interface of the best path (local routes).
    pub ifname: Option<Arc<str>>,
    /// Kernel metric set by policy or learned.
    pub krt_metric: Option<u32>,
    /// The best path's LOCAL_PREF (Calico derives `krt_metric` from it).
    pub local_pref: u32,
}

/// One Loc-RIB change for the FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibChange {
    /// The prefix.
    pub prefix: IpNet,
    /// What changed since the FIB last saw this prefix.
    pub changed: ChangeFlags,
    /// The new route, or `None` to remove it.
    pub route: Option<FibRoute>,
}

/// The next-hop resolver hook: reachability and IGP cost of a BGP next hop.
pub trait NextHopResolver {
    /// The state of `addr`.
    fn resolve(&mut self, addr: IpAddr) -> NhState;
}

/// Outbound work staged for one peer: prefixes sharing outgoing attributes, encoded one UPDATE
/// at a time. Holds a reference on its outgoing attribute set.
struct Staged {
    family: Family,
    out: Option<AttrId>,
    nlri: Vec<Nlri>,
    pos: usize,
}

/// One source.
pub(crate) struct Source {
    pub kind: SourceKind,
    pub preference: u16,
    pub ibgp: bool,
    pub router_id: Ipv4Addr,
    pub addr: Option<IpAddr>,
    pub rr_client: bool,
    pub peer: Option<PeerConfig>,
    pub session: Option<Negotiated>,
    staged: VecDeque<Staged>,
}

/// Everything but the tables.
pub(crate) struct Shared {
    pub cfg: RibConfig,
    pub interner: Interner,
    pub out_interner: Interner,
    pub sources: Vec<Source>,
    pub policies: PolicySet,
    pub kernel_policy: Option<String>,
    /// The import filter of routes learned from the kernel (BIRD's kernel `import`).
    pub kernel_import: Option<String>,
    /// Filter runs that ended in a run-time error (the route was rejected).
    pub filter_errors: std::cell::Cell<u64>,
    /// The last such error: the filter's name and the message.
    pub last_filter_error: std::cell::RefCell<Option<(String, crate::filter::RuntimeError)>>,
    pub nh_states: FastMap<IpAddr, NhState>,
    pub released: Vec<AttrId>,
}

macro_rules! ctx {
    ($sh:expr) => {
        Ctx {
            interner: &$sh.interner,
            sources: &$sh.sources,
            opts: &$sh.cfg.decision,
            local_as: $sh.cfg.local_as,
            default_local_pref: $sh.cfg.default_local_pref,
        }
    };
}
pub(crate) use ctx;

impl Shared {
    fn release(&mut self) {
        for id in self.released.drain(..) {
            self.interner.decref(id);
        }
    }

    fn nh_state(&self, a: &RouteAttrs) -> NhState {
        a.next_hop_addr()
            .and_then(|nh| self.nh_states.get(&nh).copied())
            .unwrap_or(self.cfg.default_next_hop)
    }

    pub fn cluster_id(&self) -> Ipv4Addr {
        self.cfg.cluster_id.unwrap_or(self.cfg.router_id)
    }

    /// The filter called `name`; a name that is not defined rejects everything (fail closed).
    /// The change flags that concern source `i`'s Adj-RIB-Out: none when its export filter
    /// rejects everything (no per-route export work at all for such a peer).
    fn out_mask(&self, i: usize, add_path: bool) -> u8 {
        let exports_nothing = self
            .sources
            .get(i)
            .and_then(|s| s.peer.as_ref())
            .and_then(|c| self.policy(c.export.as_ref()))
            .is_some_and(|p| p.analysis.rejects_all);
        if exports_nothing {
            0
        } else if add_path {
            cf::BEST | cf::ATTRS | cf::WITHDRAWN | cf::PATHS | cf::MULTIPATH
        } else {
            cf::BEST | cf::ATTRS | cf::WITHDRAWN
        }
    }

    pub fn policy(&self, name: Option<&String>) -> Option<Arc<Filter>> {
        let name = name?;
        Some(
            self.policies
                .get(name)
                .cloned()
                .unwrap_or_else(|| Arc::new(Filter::reject_all())),
        )
    }

    /// Runs `f` on a route of source `s`, counting a run-time error (which rejects).
    pub fn run_filter(
        &self,
        f: &Filter,
        s: &Source,
        prefix: &IpNet,
        attrs: &RouteAttrs,
    ) -> Outcome {
        self.run_filter_as(f, s, prefix, attrs, false)
    }

    /// [`Shared::run_filter`] for a BGP export filter: `attrs` are what the neighbor would
    /// receive (see [`RouteCtx::bgp_export`]).
    pub fn run_export_filter(
        &self,
        f: &Filter,
        s: &Source,
        prefix: &IpNet,
        attrs: &RouteAttrs,
    ) -> Outcome {
        self.run_filter_as(f, s, prefix, attrs, true)
    }

    fn run_filter_as(
        &self,
        f: &Filter,
        s: &Source,
        prefix: &IpNet,
        attrs: &RouteAttrs,
        bgp_export: bool,
    ) -> Outcome {
        let proto = match (&s.peer, s.kind) {
            (Some(p), _) => p.name.as_str(),
            (None, SourceKind::Static) => "static",
            (None, SourceKind::Kernel) => "kernel",
            (None, SourceKind::Direct) => "direct",
            (None, SourceKind::Bgp) => "bgp",
        };
        let ctx = RouteCtx {
            prefix,
            source: s.kind,
            from: s.addr,
            proto,
            bgp_export,
        };
        let o = f.run(&ctx, attrs);
        if let Some(e) = o.error {
            self.filter_errors.set(self.filter_errors.get() + 1);
            *self.last_filter_error.borrow_mut() = Some((f.name.clone(), e));
        }
        o
    }
}

/// The RIB. See the module documentation.
pub struct Rib {
    sh: Shared,
    v4: Table<V4Key>,
    v6: Table<V6Key>,
}

/// Runs `$body` with `$t` bound to the table of `$fam` (skipping other families).
macro_rules! with_table {
    ($self:ident, $fam:expr, |$t:ident, $sh:ident| $body:expr) => {
        if $fam == Family::IPV4_UNICAST {
            let $t = &mut $self.v4;
            let $sh = &mut $self.sh;
            Some($body)
        } else if $fam == Family::IPV6_UNICAST {
            let $t = &mut $self.v6;
            let $sh = &mut $self.sh;
            Some($body)
        } else {
            None
        }
    };
}

/// Imports `nlri` from `src` with `base` attributes (already loop-checked): import filter,
/// soft-reconfiguration copy, table insert.
fn announce_in<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    src: u16,
    base: &RouteAttrs,
    nlri: &[Nlri],
    stats: &mut UpdateStats,
) {
    let Some(source) = sh.sources.get(usize::from(src)) else {
        return;
    };
    let import = match source.kind {
        SourceKind::Kernel => sh.kernel_import.as_ref(),
        _ => source.peer.as_ref().and_then(|p| p.import.as_ref()),
    };
    let policy = sh.policy(import);
    let nh = sh.nh_state(base);
    let base_id = sh.interner.intern(base, nh);
    // Interned results of the filter, each holding one reference: a filter that never reads
    // `net` gives one outcome for the whole UPDATE (`fixed`); otherwise the modified attribute
    // sets seen so far are reused rather than re-interned (`cache`).
    let mut cache: Vec<(RouteAttrs, AttrId)> = Vec::new();
    let per_prefix = policy.as_ref().is_some_and(|p| p.analysis.reads_prefix);
    let mut fixed: Option<Option<AttrId>> = None;
    let keep_pre = t.src.get(usize::from(src)).is_some_and(|s| s.pre.is_some());
    for n in nlri {
        let Some(key) = K::from_net(&n.prefix) else {
            continue;
        };
        let pid = n.path_id.unwrap_or(0);
        if keep_pre {
            sh.interner.incref(base_id);
            let old = t
                .src
                .get_mut(usize::from(src))
                .and_then(|s| s.pre.as_mut())
                .and_then(|m| m.insert((key, pid), base_id));
            if let Some(old) = old {
                sh.interner.decref(old);
            }
        }
        let id = match (&policy, fixed) {
            (None, _) => Some(base_id),
            (Some(_), Some(f)) => f,
            (Some(p), None) => {
                let Some(source) = sh.sources.get(usize::from(src)) else {
                    return;
                };
                let o = sh.run_filter(p, source, &key.to_net(), base);
                let id = match (o.verdict, o.modified) {
                    (Verdict::Reject, _) => None,
                    (Verdict::Accept, None) => Some(base_id),
                    (Verdict::Accept, Some(m)) => Some(
                        match cache.iter().find(|(a, _)| *a == m).map(|(_, id)| *id) {
                            Some(id) => id,
                            None => {
                                // The cache keeps the reference intern() gives.
                                let id = sh.interner.intern(&m, sh.nh_state(&m));
                                cache.push((m, id));
                                id
                            }
                        },
                    ),
                };
                if !per_prefix {
                    fixed = Some(id);
                }
                id
            }
        };
        match id {
            Some(id) => {
                sh.interner.incref(id);
                insert_path(t, sh, src, key, pid, id);
                stats.accepted += 1;
            }
            None => {
                let _ = remove_path(t, sh, src, key, pid);
                stats.filtered += 1;
            }
        }
    }
    for (_, id) in cache {
        sh.interner.decref(id);
    }
    sh.interner.decref(base_id);
}

/// Puts path (`src`, `pid`) with attribute set `id` (whose reference it takes) at `key`.
fn insert_path<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, key: K, pid: u32, id: AttrId) {
    let mut new_for_src = false;
    let ctx = ctx!(sh);
    t.modify(
        key,
        &ctx,
        &mut sh.released,
        Some((src, pid)),
        |paths, rel| {
            let had_src = paths.iter().any(|p| p.src == src);
            match paths.iter_mut().find(|p| p.src == src && p.pid == pid) {
                Some(p) => {
                    if p.attr == id && p.flags & STALE == 0 {
                        rel.push(id);
                        return false;
                    }
                    rel.push(p.attr);
                    p.attr = id;
                    p.flags &= !STALE;
                }
                None => {
                    paths.push(Path {
                        attr: id,
                        pid,
                        src,
                        flags: 0,
                    });
                    new_for_src = !had_src;
                }
            }
            true
        },
    );
    if new_for_src {
        t.log_add(usize::from(src), key);
    }
    sh.release();
}

/// Removes path (`src`, `pid`) at `key`; whether there was one.
fn remove_path<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, key: K, pid: u32) -> bool {
    let mut gone_for_src = false;
    let ctx = ctx!(sh);
    let flags = t.modify(
        key,
        &ctx,
        &mut sh.released,
        Some((src, pid)),
        |paths, rel| {
            let Some(i) = paths.iter().position(|p| p.src == src && p.pid == pid) else {
                return false;
            };
            let p = paths.remove(i);
            rel.push(p.attr);
            gone_for_src = !paths.iter().any(|p| p.src == src);
            true
        },
    );
    if gone_for_src {
        t.log_remove(usize::from(src));
    }
    t.maybe_shrink();
    sh.release();
    flags != 0
}

/// Removes the pre-policy copy of (`key`, `pid`) from `src`.
fn remove_pre<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, key: K, pid: u32) {
    let old = t
        .src
        .get_mut(usize::from(src))
        .and_then(|s| s.pre.as_mut())
        .and_then(|m| m.remove(&(key, pid)));
    if let Some(old) = old {
        sh.interner.decref(old);
    }
}

/// Removes `src`'s paths (only the stale ones if `only_stale`) from every prefix in its log.
fn sweep_source<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, only_stale: bool) {
    let Some(st) = t.src.get_mut(usize::from(src)) else {
        return;
    };
    let mut log = std::mem::take(&mut st.log);
    if !only_stale {
        if let Some(pre) = st.pre.as_mut() {
            for (_, id) in pre.drain() {
                sh.interner.decref(id);
            }
        }
    }
    log.sort_unstable();
    log.dedup();
    for &key in &log {
        let ctx = ctx!(sh);
        t.modify(key, &ctx, &mut sh.released, None, |paths, rel| {
            let before = paths.len();
            paths.retain(|p| {
                let drop = p.src == src && (!only_stale || p.flags & STALE != 0);
                if drop {
                    rel.push(p.attr);
                }
                !drop
            });
            paths.len() != before
        });
        sh.release();
    }
    if only_stale {
        log.retain(|k| t.with_paths(k, |ps| ps.iter().any(|p| p.src == src)));
    } else {
        log.clear();
        log.shrink_to_fit();
    }
    if let Some(st) = t.src.get_mut(usize::from(src)) {
        st.live = log.len();
        st.log = log;
    }
    t.maybe_shrink();
}

/// Resets peer `i`'s outbound state in `t`, releasing its Adj-RIB-Out.
fn release_adj_out<K: Key>(t: &mut Table<K>, sh: &mut Shared, i: usize) {
    if let Some(o) = t.out.get_mut(i) {
        let old = std::mem::take(o);
        for id in old.adj_out.into_ids() {
            sh.out_interner.decref(id);
        }
    }
}

/// Marks every path of `src` stale (graceful restart: keep using them, sweep later).
fn mark_stale<K: Key>(t: &mut Table<K>, src: u16) {
    let log = t
        .src
        .get_mut(usize::from(src))
        .map(|s| std::mem::take(&mut s.log))
        .unwrap_or_default();
    for key in &log {
        t.set_path_flag(key, src, STALE, true);
    }
    if let Some(s) = t.src.get_mut(usize::from(src)) {
        s.log = log;
    }
}

/// Reruns the decision process at every prefix using one of `ids`.
fn recompute<K: Key>(t: &mut Table<K>, sh: &mut Shared, ids: &[AttrId]) {
    let keys: Vec<K> = t
        .map
        .keys()
        .copied()
        .filter(|k| {
            t.with_paths(k, |ps| {
                ps.iter().any(|p| ids.binary_search(&p.attr).is_ok())
            })
        })
        .collect();
    for key in keys {
        let ctx = ctx!(sh);
        t.modify(key, &ctx, &mut sh.released, None, |_, _| true);
    }
}

fn route_info<K: Key>(t: &Table<K>, sh: &Shared, key: &K) -> Vec<RouteInfo> {
    t.with_paths(key, |ps| {
        ps.iter()
            .filter_map(|p| {
                let s = sh.sources.get(usize::from(p.src))?;
                Some(RouteInfo {
                    source: SourceId(p.src),
                    source_kind: s.kind,
                    path_id: p.pid,
                    attrs: sh.interner.get_arc(p.attr)?,
                    selected: p.selected(),
                    stale: p.flags & STALE != 0,
                })
            })
            .collect()
    })
}

fn fib_change<K: Key>(t: &mut Table<K>, sh: &Shared) -> Option<FibChange> {
    let kpol = sh.policy(sh.kernel_policy.as_ref());
    t.pop_fib(|key, flags, ps| {
        let prefix = key.to_net();
        FibChange {
            prefix,
            changed: ChangeFlags(flags),
            route: fib_route_of(sh, &prefix, kpol.as_deref(), ps),
        }
    })
}

/// The FIB form of a prefix's paths: its selected ones (best first), the kernel filter applied
/// per path (rejected paths left out); `None` when nothing is left.
fn fib_route_of(
    sh: &Shared,
    prefix: &IpNet,
    kpol: Option<&Filter>,
    ps: &[Path],
) -> Option<FibRoute> {
    let mut route: Option<FibRoute> = None;
    for p in ps.iter().take_while(|p| p.selected()) {
        let Some(s) = sh.sources.get(usize::from(p.src)) else {
            continue;
        };
        let base = sh.interner.get(p.attr);
        let owned;
        let a = match kpol {
            None => base,
            Some(pol) => {
                let o = sh.run_filter(pol, s, prefix, base);
                if o.verdict == Verdict::Reject {
                    continue;
                }
                match o.modified {
                    Some(m) => {
                        owned = m;
                        &owned
                    }
                    None => base,
                }
            }
        };
        let hop = FibNextHop {
            addr: a.next_hop_addr(),
            tunnel: a.meta.tunnel.clone(),
            source: SourceId(p.src),
        };
        match &mut route {
            Some(r) => r.next_hops.push(hop),
            None => {
                route = Some(FibRoute {
                    source: s.kind,
                    route_type: a.meta.route_type,
                    next_hops: vec![hop],
                    ifname: a.meta.ifname.clone(),
                    krt_metric: a.meta.krt_metric,
                    local_pref: a.attrs.local_pref.unwrap_or(sh.cfg.default_local_pref),
                })
            }
        }
    }
    route
}

impl Rib {
    /// An empty RIB with the three local sources.
    pub fn new(cfg: RibConfig) -> Rib {
        let local = |kind: SourceKind, router_id| Source {
            kind,
            preference: kind.default_preference(),
            ibgp: false,
            router_id,
            addr: None,
            rr_client: false,
            peer: None,
            session: None,
            staged: VecDeque::new(),
        };
        let rid = cfg.router_id;
        let mut rib = Rib {
            sh: Shared {
                cfg,
                interner: Interner::default(),
                out_interner: Interner::default(),
                sources: vec![
                    local(SourceKind::Static, rid),
                    local(SourceKind::Kernel, rid),
                    local(SourceKind::Direct, rid),
                ],
                policies: PolicySet::new(),
                kernel_policy: None,
                kernel_import: None,
                filter_errors: Default::default(),
                last_filter_error: Default::default(),
                nh_states: FastMap::default(),
                released: Vec::new(),
            },
            v4: Table::default(),
            v6: Table::default(),
        };
        rib.v4.ensure_source(2);
        rib.v6.ensure_source(2);
        rib
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.sh.cfg
    }

    /// Changes our identity (a reload with a new `asn`, `router_id` or cluster ID): used from
    /// now on for loop detection (ORIGINATOR_ID, CLUSTER_LIST, AS_PATH), the local routes'
    /// tie-breaking, the default IPv4 next hop and the reflected attributes. The caller resets
    /// the BGP sessions, whose OPENs carried the old identity.
    pub fn set_identity(
        &mut self,
        local_as: u32,
        router_id: Ipv4Addr,
        cluster_id: Option<Ipv4Addr>,
    ) {
        self.sh.cfg.local_as = local_as;
        self.sh.cfg.router_id = router_id;
        self.sh.cfg.cluster_id = cluster_id;
        for s in self.sh.sources.iter_mut() {
            if s.kind != SourceKind::Bgp {
                s.router_id = router_id;
            }
        }
    }

    /// Defines or replaces the filter `name`. Routes already in the RIB are not re-filtered:
    /// call [`Rib::reimport`] / [`Rib::refresh_export`] for the peers that use it.
    pub fn set_policy(&mut self, name: impl Into<String>, policy: impl Into<Arc<Filter>>) {
        self.sh.policies.insert(name.into(), policy.into());
    }

    /// How many filter runs ended in a run-time error (each rejected its route), and the last
    /// such error with its filter's name.
    pub fn filter_errors(&self) -> (u64, Option<(String, crate::filter::RuntimeError)>) {
        (
            self.sh.filter_errors.get(),
            self.sh.last_filter_error.borrow().clone(),
        )
    }

    /// Names the filter applied to each selected path before it reaches the FIB (Calico's
    /// `calico_kernel_programming`); `None` passes everything.
    pub fn set_kernel_policy(&mut self, name: Option<String>) {
        self.sh.kernel_policy = name;
    }

    /// Names the import filter of kernel-learned routes (BIRD's kernel `import`); `None`
    /// accepts all. Learned routes are kept before the filter from the first call on, so a
    /// later call (or [`Rib::reimport`] of [`SourceId::KERNEL`] after the filter's text
    /// changed) re-filters them.
    pub fn set_kernel_import(&mut self, name: Option<String>) {
        let i = usize::from(SourceId::KERNEL.0);
        self.v4.ensure_source(i);
        self.v6.ensure_source(i);
        if let Some(t) = self.v4.src.get_mut(i) {
            t.pre.get_or_insert_with(FastMap::default);
        }
        if let Some(t) = self.v6.src.get_mut(i) {
            t.pre.get_or_insert_with(FastMap::default);
        }
        if self.sh.kernel_import != name {
            self.sh.kernel_import = name;
            self.reimport(SourceId::KERNEL);
        }
    }

    /// Adds a BGP peer (not yet established), reusing the slot of a removed one. `None` when
    /// out of source slots.
    pub fn add_peer(&mut self, cfg: PeerConfig) -> Option<SourceId> {
        let free = self
            .sh
            .sources
            .iter()
            .position(|s| s.kind == SourceKind::Bgp && s.peer.is_none());
        let i = free.unwrap_or(self.sh.sources.len());
        if i >= table::MAX_SOURCES {
            return None;
        }
        let src = Source {
            kind: SourceKind::Bgp,
            preference: cfg.preference,
            ibgp: false,
            router_id: Ipv4Addr::UNSPECIFIED,
            addr: Some(cfg.address),
            rr_client: cfg.rr_client,
            peer: None,
            session: None,
            staged: VecDeque::new(),
        };
        match self.sh.sources.get_mut(i) {
            Some(slot) => *slot = src,
            None => self.sh.sources.push(src),
        }
        let soft = cfg.soft_reconfig_inbound;
        if let Some(s) = self.sh.sources.get_mut(i) {
            s.peer = Some(cfg);
        }
        self.v4.ensure_source(i);
        self.v6.ensure_source(i);
        // A reused slot starts clean: nothing of its previous owner's export state (queues,
        // feed position, Adj-RIB-Out, pending End-of-RIB) or intake log may leak into the new
        // peer's (a forgotten dynamic neighbour's slot is reused by the next one).
        self.v4.reset_source(i);
        self.v6.reset_source(i);
        if soft {
            if let Some(s) = self.v4.src.get_mut(i) {
                s.pre = Some(FastMap::default());
            }
            if let Some(s) = self.v6.src.get_mut(i) {
                s.pre = Some(FastMap::default());
            }
        }
        Some(SourceId(i as u16))
    }

    /// Removes a peer: its routes go as with a hard [`Rib::peer_down`], and its slot may be
    /// reused by a later [`Rib::add_peer`].
    pub fn remove_peer(&mut self, peer: SourceId) {
        self.peer_down(peer, false);
        if let Some(s) = self.sh.sources.get_mut(usize::from(peer.0)) {
            if s.kind == SourceKind::Bgp {
                s.peer = None;
                s.addr = None;
            }
        }
        if let Some(st) = self.v4.src.get_mut(usize::from(peer.0)) {
            st.pre = None;
        }
        if let Some(st) = self.v6.src.get_mut(usize::from(peer.0)) {
            st.pre = None;
        }
    }

    /// The paths `peer` (or a local source) has in its Adj-RIB-In (post-policy) for `family`,
    /// by prefix, found through its log rather than a table scan.
    pub fn source_routes(&self, peer: SourceId, family: Family) -> Vec<(IpNet, RouteInfo)> {
        fn get<K: Key>(t: &Table<K>, sh: &Shared, src: u16) -> Vec<(IpNet, RouteInfo)> {
            let Some(st) = t.src.get(usize::from(src)) else {
                return Vec::new();
            };
            let mut keys = st.log.clone();
            keys.sort_unstable();
            keys.dedup();
            keys.iter()
                .flat_map(|k| {
                    route_info(t, sh, k)
                        .into_iter()
                        .filter(|r| r.source.0 == src)
                        .map(move |r| (k.to_net(), r))
                })
                .collect()
        }
        if family == Family::IPV4_UNICAST {
            get(&self.v4, &self.sh, peer.0)
        } else if family == Family::IPV6_UNICAST {
            get(&self.v6, &self.sh, peer.0)
        } else {
            Vec::new()
        }
    }

    /// Replaces a peer's configuration (a daemon reload). Changed import or export filter
    /// names take effect through [`Rib::reimport`] / [`Rib::refresh_export`], which the caller
    /// runs; `soft_reconfig_inbound` keeps its value from [`Rib::add_peer`]. Returns `false`
    /// for an unknown or non-BGP source.
    pub fn set_peer_config(&mut self, peer: SourceId, cfg: PeerConfig) -> bool {
        let Some(s) = self.sh.sources.get_mut(usize::from(peer.0)) else {
            return false;
        };
        if s.kind != SourceKind::Bgp {
            return false;
        }
        s.preference = cfg.preference;
        s.rr_client = cfg.rr_client;
        s.addr = Some(cfg.address);
        s.peer = Some(cfg);
        true
    }

    /// The peer's configuration.
    pub fn peer_config(&self, peer: SourceId) -> Option<&PeerConfig> {
        self.sh.sources.get(usize::from(peer.0))?.peer.as_ref()
    }

    /// The session with `peer` is established: remember what was negotiated and start the
    /// initial feed of every negotiated family (ended by End-of-RIB, RFC 4724 §2).
    pub fn peer_up(&mut self, peer: SourceId, neg: Negotiated) {
        let i = usize::from(peer.0);
        let Some(s) = self.sh.sources.get_mut(i) else {
            return;
        };
        if s.kind != SourceKind::Bgp {
            return;
        }
        s.ibgp = !neg.is_ebgp();
        s.router_id = neg.peer_id;
        s.staged.clear();
        let fams = neg.families.clone();
        let ap: Vec<Family> = neg.add_path_tx.clone();
        s.session = Some(neg);
        fn start<K: Key>(t: &mut Table<K>, i: usize, on: bool, mask: u8) {
            // A peer that exports nothing gets End-of-RIB at once and no feed.
            let feed = (on && mask != 0).then(|| (t.shared_keys(), 0));
            if let Some(o) = t.out.get_mut(i) {
                *o = table::OutState::default();
                o.active = on;
                o.eor_pending = on;
                o.mask = mask;
                o.feed = feed;
            }
        }
        release_adj_out(&mut self.v4, &mut self.sh, i);
        release_adj_out(&mut self.v6, &mut self.sh, i);
        let m4 = self.sh.out_mask(i, ap.contains(&Family::IPV4_UNICAST));
        let m6 = self.sh.out_mask(i, ap.contains(&Family::IPV6_UNICAST));
        start(&mut self.v4, i, fams.contains(&Family::IPV4_UNICAST), m4);
        start(&mut self.v6, i, fams.contains(&Family::IPV6_UNICAST), m6);
    }

    /// The session with `peer` went down. With `graceful` (the peer negotiated graceful restart
    /// and the session did not end with a NOTIFICATION, RFC 4724 §4.2) its routes are kept but
    /// marked stale until End-of-RIB or [`Rib::stale_timer_expired`]; otherwise they are removed,
    /// visiting only the prefixes the peer had.
    pub fn peer_down(&mut self, peer: SourceId, graceful: bool) {
        let i = usize::from(peer.0);
        let Some(s) = self.sh.sources.get_mut(i) else {
            return;
        };
        if s.kind != SourceKind::Bgp {
            return;
        }
        s.session = None;
        let staged = std::mem::take(&mut s.staged);
        for st in staged {
            if let Some(id) = st.out {
                self.sh.out_interner.decref(id);
            }
        }
        release_adj_out(&mut self.v4, &mut self.sh, i);
        release_adj_out(&mut self.v6, &mut self.sh, i);
        if graceful {
            mark_stale(&mut self.v4, peer.0);
            mark_stale(&mut self.v6, peer.0);
        } else {
            sweep_source(&mut self.v4, &mut self.sh, peer.0, false);
            sweep_source(&mut self.v6, &mut self.sh, peer.0, false);
        }
    }

    /// End-of-RIB from `peer` for `family`: its paths still stale there are removed (RFC 4724
    /// §4.2: "the Receiving Speaker MUST immediately remove all the stale routes from the peer
    /// that it is restarting with" for that family).
    pub fn end_of_rib(&mut self, peer: SourceId, family: Family) {
        with_table!(self, family, |t, sh| sweep_source(t, sh, peer.0, true));
    }

    /// The restart or stale timer for `peer` fired: remove all its stale paths.
    pub fn stale_timer_expired(&mut self, peer: SourceId) {
        sweep_source(&mut self.v4, &mut self.sh, peer.0, true);
        sweep_source(&mut self.v6, &mut self.sh, peer.0, true);
    }

    /// Applies a decoded UPDATE from `peer`: withdrawals (including RFC 7606 treat-as-withdraw),
    /// announcements of every family, End-of-RIB.
    pub fn apply_update(&mut self, peer: SourceId, update: &Update) -> UpdateStats {
        let mut stats = UpdateStats::default();
        if let Some(f) = update.end_of_rib_family() {
            self.end_of_rib(peer, f);
            stats.end_of_rib = Some(f);
            return stats;
        }
        for (family, n) in update.withdrawn_routes() {
            if self.withdraw(peer, family, n) {
                stats.withdrawn += 1;
            }
        }
        for a in update.announced() {
            let nh = match a.next_hop {
                Some(NextHopRef::V4(v4)) => Some(NextHop::V4(v4)),
                Some(NextHopRef::Mp(nh)) => Some(nh.clone()),
                None => None,
            };
            let s = self.announce(peer, a.family, &update.attrs, nh, a.nlri);
            stats.accepted += s.accepted;
            stats.filtered += s.filtered;
            stats.looped += s.looped;
        }
        stats
    }

    /// Announces `nlri` of `family` from `peer` with `attrs` and `next_hop`. No allocation per
    /// prefix: the attribute set is checked and interned once for the batch.
    pub fn announce(
        &mut self,
        peer: SourceId,
        family: Family,
        attrs: &PathAttributes,
        next_hop: Option<NextHop>,
        nlri: &[Nlri],
    ) -> UpdateStats {
        let mut stats = UpdateStats::default();
        let Some(s) = self.sh.sources.get(usize::from(peer.0)) else {
            return stats;
        };
        let mut base = RouteAttrs {
            attrs: attrs.clone(),
            next_hop,
            meta: RouteMeta::default(),
        };
        base.attrs.next_hop = None;
        if s.kind == SourceKind::Bgp {
            let local_as = s
                .session
                .as_ref()
                .map_or(self.sh.cfg.local_as, |n| n.local_as);
            let allow = s.peer.as_ref().map_or(0, |p| usize::from(p.allow_local_as));
            let a = &base.attrs;
            // RFC 4271 §9.1.2: "If the AS_PATH attribute of a BGP route contains an AS loop,
            // the BGP route should be excluded from the Phase 2 decision function." An AS loop
            // is our own AS in the path (more often than `allow local as` permits).
            let as_loop = a
                .as_path
                .as_ref()
                .is_some_and(|p| p.count(local_as) > allow);
            // RFC 4456 §8: "A router that recognizes the ORIGINATOR_ID attribute SHOULD ignore
            // a route received with its BGP Identifier as the ORIGINATOR_ID." and "If the local
            // CLUSTER_ID is found in the CLUSTER_LIST, the advertisement received SHOULD be
            // ignored."
            let rr_loop = s.ibgp
                && (a.originator_id == Some(self.sh.cfg.router_id)
                    || a.cluster_list.contains(&self.sh.cluster_id()));
            if as_loop || rr_loop {
                for n in nlri {
                    if self.withdraw(peer, family, n) {
                        stats.withdrawn += 1;
                    }
                }
                stats.looped += nlri.len();
                return stats;
            }
            if !s.ibgp {
                // RFC 4271 §5.1.5: LOCAL_PREF "received from an external peer ... MUST be
                // ignored by the receiving speaker, except in the case of BGP Confederations".
                base.attrs.local_pref = None;
            }
        }
        with_table!(self, family, |t, sh| announce_in(
            t, sh, peer.0, &base, nlri, &mut stats
        ));
        stats
    }

    /// Withdraws one prefix (with its path id) of `family` from `peer`; whether a path went.
    pub fn withdraw(&mut self, peer: SourceId, family: Family, n: &Nlri) -> bool {
        with_table!(self, family, |t, sh| {
            let Some(key) = K_from(t, &n.prefix) else {
                return false;
            };
            let pid = n.path_id.unwrap_or(0);
            remove_pre(t, sh, peer.0, key, pid);
            remove_path(t, sh, peer.0, key, pid)
        })
        .unwrap_or(false)
    }

    /// Adds or replaces a local route of `kind` (BGP is not a local kind).
    pub fn add_local(&mut self, kind: SourceKind, prefix: IpNet, route: LocalRoute) {
        let Some(src) = SourceId::local(kind) else {
            return;
        };
        let base = RouteAttrs {
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                ..PathAttributes::default()
            },
            next_hop: route.next_hop.map(|a| match a {
                IpAddr::V4(v4) => NextHop::V4(v4),
                IpAddr::V6(v6) => NextHop::V6 {
                    global: v6,
                    link_local: None,
                },
            }),
            meta: RouteMeta {
                route_type: route.route_type,
                ifname: route.ifname,
                krt_metric: route.krt_metric,
                tunnel: None,
                preference: None,
            },
        };
        let fam = family_of(&prefix);
        let mut stats = UpdateStats::default();
        let nlri = [Nlri::new(prefix)];
        with_table!(self, fam, |t, sh| announce_in(
            t, sh, src.0, &base, &nlri, &mut stats
        ));
    }

    /// Removes the local route of `kind` for `prefix`.
    pub fn remove_local(&mut self, kind: SourceKind, prefix: IpNet) {
        if let Some(src) = SourceId::local(kind) {
            self.withdraw(src, family_of(&prefix), &Nlri::new(prefix));
        }
    }

    /// Reruns `peer`'s import filter over its pre-policy routes (soft reconfiguration inbound).
    /// Returns `false` when the peer does not keep them (ask it for a ROUTE-REFRESH instead).
    pub fn reimport(&mut self, peer: SourceId) -> bool {
        fn run<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16) -> bool {
            let Some(pre) = t.src.get(usize::from(src)).and_then(|s| s.pre.as_ref()) else {
                return false;
            };
            let mut entries: Vec<(K, u32, AttrId)> =
                pre.iter().map(|(&(k, p), &id)| (k, p, id)).collect();
            entries.sort_unstable();
            let mut stats = UpdateStats::default();
            for (k, pid, id) in entries {
                let base = sh.interner.get(id).clone();
                announce_in(
                    t,
                    sh,
                    src,
                    &base,
                    &[Nlri {
                        prefix: k.to_net(),
                        path_id: Some(pid),
                    }],
                    &mut stats,
                );
            }
            true
        }
        let a = run(&mut self.v4, &mut self.sh, peer.0);
        let b = run(&mut self.v6, &mut self.sh, peer.0);
        a && b
    }

    /// Re-examines every prefix for `peer`'s Adj-RIB-Out: after its export filter changed
    /// (`full = false`: only differences are sent) or when it asked for a ROUTE-REFRESH
    /// (`full = true`: everything is sent again).
    pub fn refresh_export(&mut self, peer: SourceId, full: bool) {
        self.refresh_export_family(peer, Family::IPV4_UNICAST, full);
        self.refresh_export_family(peer, Family::IPV6_UNICAST, full);
    }

    /// [`Rib::refresh_export`] for one family (a ROUTE-REFRESH names one).
    pub fn refresh_export_family(&mut self, peer: SourceId, family: Family, full: bool) {
        fn run<K: Key>(t: &mut Table<K>, sh: &mut Shared, i: usize, full: bool) {
            if !t.out.get(i).is_some_and(|o| o.active) {
                return;
            }
            let add_path = sh
                .sources
                .get(i)
                .and_then(|s| s.session.as_ref())
                .is_some_and(|n| n.add_path_tx.contains(&K::FAMILY));
            let mask = sh.out_mask(i, add_path);
            let keys = t.shared_keys();
            if let Some(o) = t.out.get_mut(i) {
                if full {
                    for id in std::mem::take(&mut o.adj_out).into_ids() {
                        sh.out_interner.decref(id);
                    }
                }
                o.mask = mask;
                // Nothing to withdraw and nothing can pass: no walk over the table.
                o.feed = (mask != 0 || !o.adj_out.is_empty()).then_some((keys, 0));
                o.queue.clear();
                o.dirty.clear();
            }
        }
        let i = usize::from(peer.0);
        with_table!(self, family, |t, sh| run(t, sh, i, full));
    }

    /// The daemon's answer about next hop `addr`; prefixes whose paths use it are re-decided
    /// when it changed (one pass over the table, rare).
    pub fn set_next_hop_state(&mut self, addr: IpAddr, st: NhState) {
        self.sh.nh_states.insert(addr, st);
        let mut ids = self.sh.interner.set_nh(addr, st);
        if ids.is_empty() {
            return;
        }
        ids.sort_unstable();
        recompute(&mut self.v4, &mut self.sh, &ids);
        recompute(&mut self.v6, &mut self.sh, &ids);
    }

    /// Asks `r` about every next hop in use and applies the answers (one pass over the table
    /// for all changed next hops together).
    pub fn resolve_next_hops(&mut self, r: &mut impl NextHopResolver) {
        let mut ids = Vec::new();
        for addr in self.sh.interner.next_hops() {
            let st = r.resolve(addr);
            self.sh.nh_states.insert(addr, st);
            ids.extend(self.sh.interner.set_nh(addr, st));
        }
        if !ids.is_empty() {
            ids.sort_unstable();
            recompute(&mut self.v4, &mut self.sh, &ids);
            recompute(&mut self.v6, &mut self.sh, &ids);
        }
    }

    /// The next Loc-RIB change for the FIB, each changed prefix once with its latest state.
    #[must_use]
    pub fn poll_fib_change(&mut self) -> Option<FibChange> {
        fib_change(&mut self.v4, &self.sh).or_else(|| fib_change(&mut self.v6, &self.sh))
    }

    /// Every path of `prefix`, selected ones first (best first).
    pub fn routes(&self, prefix: &IpNet) -> Vec<RouteInfo> {
        match prefix {
            IpNet::V4(_) => V4Key::from_net(prefix)
                .map(|k| route_info(&self.v4, &self.sh, &k))
                .unwrap_or_default(),
            IpNet::V6(_) => V6Key::from_net(prefix)
                .map(|k| route_info(&self.v6, &self.sh, &k))
                .unwrap_or_default(),
        }
    }

    /// The best path of `prefix`.
    pub fn best(&self, prefix: &IpNet) -> Option<RouteInfo> {
        self.routes(prefix)
            .into_iter()
            .next()
            .filter(|r| r.selected)
    }

    /// The best path and multipath partners of `prefix`.
    pub fn selected(&self, prefix: &IpNet) -> Vec<RouteInfo> {
        self.routes(prefix)
            .into_iter()
            .take_while(|r| r.selected)
            .collect()
    }

    /// Every prefix of `family` with at least one path, sorted.
    pub fn prefixes(&self, family: Family) -> Vec<IpNet> {
        fn keys<K: Key>(t: &Table<K>) -> Vec<IpNet> {
            t.sorted_keys().into_iter().map(Key::to_net).collect()
        }
        if family == Family::IPV4_UNICAST {
            keys(&self.v4)
        } else if family == Family::IPV6_UNICAST {
            keys(&self.v6)
        } else {
            Vec::new()
        }
    }

    /// Number of prefixes of `family` with at least one path.
    pub fn len(&self, family: Family) -> usize {
        if family == Family::IPV4_UNICAST {
            self.v4.len()
        } else if family == Family::IPV6_UNICAST {
            self.v6.len()
        } else {
            0
        }
    }

    /// What the FIB should hold for `prefix` now (as [`Rib::poll_fib_change`] would hand it
    /// over), without touching the FIB queue: for a driver whose own view changed (a local
    /// subnet appeared, so cross-subnet routes take another form).
    pub fn fib_route(&self, prefix: &IpNet) -> Option<FibRoute> {
        let kpol = self.sh.policy(self.sh.kernel_policy.as_ref());
        let kpol = kpol.as_deref();
        match prefix {
            IpNet::V4(_) => V4Key::from_net(prefix).and_then(|k| {
                self.v4
                    .with_paths(&k, |ps| fib_route_of(&self.sh, prefix, kpol, ps))
            }),
            IpNet::V6(_) => V6Key::from_net(prefix).and_then(|k| {
                self.v6
                    .with_paths(&k, |ps| fib_route_of(&self.sh, prefix, kpol, ps))
            }),
        }
    }

    /// Networks (prefixes with at least one path) and routes (paths) over both families:
    /// BIRD's `show route count`. Kept as the tables change: O(1).
    pub fn table_counts(&self) -> (u64, u64) {
        let (a, b) = (&self.v4.counts, &self.v6.counts);
        ((a.networks + b.networks) as u64, (a.paths + b.paths) as u64)
    }

    /// Networks and routes (paths) of one family: `show route count` on a control socket
    /// whose view is that family (BIRD's `bird` / `bird6`). O(1).
    pub fn family_counts(&self, family: Family) -> (u64, u64) {
        let c = if family == Family::IPV4_UNICAST {
            &self.v4.counts
        } else if family == Family::IPV6_UNICAST {
            &self.v6.counts
        } else {
            return (0, 0);
        };
        (c.networks as u64, c.paths as u64)
    }

    /// A source's counters over both families (BIRD's `Routes: N imported, M exported, K
    /// preferred`): its paths in the table, the prefixes whose best path is its, and for a BGP
    /// peer what its Adj-RIB-Out holds. O(1) apart from ADD-PATH overflow entries.
    pub fn source_counts(&self, src: SourceId) -> SourceCounts {
        let i = usize::from(src.0);
        let get = |v: &Vec<usize>| v.get(i).copied().unwrap_or(0) as u64;
        let e4 = self.v4.out.get(i).map_or(0, |o| o.adj_out.len() as u64);
        let e6 = self.v6.out.get(i).map_or(0, |o| o.adj_out.len() as u64);
        SourceCounts {
            routes: get(&self.v4.counts.src_paths) + get(&self.v6.counts.src_paths),
            best: get(&self.v4.counts.src_best) + get(&self.v6.counts.src_best),
            exported: e4 + e6,
        }
    }

    /// Whether the RIB has no path at all.
    pub fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.len() == 0
    }

    /// Number of distinct received attribute sets in use.
    pub fn attr_sets(&self) -> usize {
        self.sh.interner.len()
    }

    /// What `peer` currently has from us for `prefix`: (path id, attributes) pairs.
    pub fn adj_rib_out(&self, peer: SourceId, prefix: &IpNet) -> Vec<(u32, Arc<RouteAttrs>)> {
        fn get<K: Key>(
            t: &Table<K>,
            sh: &Shared,
            i: usize,
            net: &IpNet,
        ) -> Vec<(u32, Arc<RouteAttrs>)> {
            let Some(k) = K::from_net(net) else {
                return Vec::new();
            };
            t.out
                .get(i)
                .map(|o| {
                    o.adj_out
                        .get(&k)
                        .iter()
                        .filter_map(|&(pid, id)| Some((pid, sh.out_interner.get_arc(id)?)))
                        .collect()
                })
                .unwrap_or_default()
        }
        let i = usize::from(peer.0);
        match prefix {
            IpNet::V4(_) => get(&self.v4, &self.sh, i, prefix),
            IpNet::V6(_) => get(&self.v6, &self.sh, i, prefix),
        }
    }
}

/// `K::from_net` with `K` inferred from the table.
#[allow(non_snake_case)]
fn K_from<K: Key>(_t: &Table<K>, net: &IpNet) -> Option<K> {
    K::from_net(net)
}

fn family_of(p: &IpNet) -> Family {
    match p {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}
