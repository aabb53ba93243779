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
//!                       FIB queue (prefix, once)               per-group dirty set (prefix, once)
//!                       poll_fib_change() → FibChange          group stream of encoded UPDATEs
//!                                                                 poll_update(peer, buf) → UPDATE
//! ```
//! Files, by concern:
//! * this file: the [`Rib`] value and its global settings (identity, filters by name);
//! * `types`: the public value types ([`SourceId`], [`PeerConfig`], [`FibChange`], ...);
//! * `shared`: what the RIB keeps beside its tables (sources, interners, filters) and the
//!   filter runner;
//! * `intake`: UPDATEs and local routes in: loop checks, import filter, withdrawals, re-import;
//! * `peers`: peers as sources: add/remove, session up/down, graceful-restart stale handling,
//!   export refresh;
//! * `fib`: the FIB output (with the FIB driver's per-prefix tags,
//!   [`Rib::poll_fib_change_tagged`]) and next-hop state changes;
//! * `query`: read-only queries and counters;
//! * `table`: the per-family tables, memory layout and change detection (`out_state`: the
//!   groups' and peers' outbound state in a table; `shards`: the sharded prefix map they are
//!   stored in);
//! * [`decision`]: the decision process;
//! * [`attrs`]: attribute sets and their interner;
//! * `export`: export rules (what a peer gets for a path);
//! * `group`: update groups (peers with identical export output share one Adj-RIB-Out and one
//!   encoding; membership, split horizon, slow members); `stream`: a group's stream of encoded
//!   UPDATEs and the pull method;
//! * [`prefix`]: compact keys and the hasher.
//!
//! The filter language is [`crate::filter`].
//!
//! # The daemon's loop
//! One mutation (`apply_update`, `peer_up`, `peer_down`, `add_local`, `set_next_hop_state`, ...),
//! then drain [`Rib::poll_fib_change`] until `None`, and call [`Rib::poll_update`] for a peer
//! whenever its socket is writable and [`Rib::has_pending`] says so. Nothing is queued per group
//! but a coalesced set of prefixes (a prefix changing five times before the group evaluates it
//! is sent once, with its latest state) and a bounded stream of encoded UPDATEs; per peer, a
//! position in that stream and, only when it lags or catches up, its own set of prefixes.

/// The one way to reach a family's table: runs `$body` with `$t` bound to the table of `$fam`
/// and `$sh` to the shared state, `Some` of its value, or `None` for a family without a table.
/// `with_table!(self, ..)` binds them mutably, `with_table!(ref self, ..)` shared.
macro_rules! with_table {
    ($self:ident, $fam:expr, |$t:ident, $sh:ident| $body:expr) => {
        match $fam {
            f if f == $crate::wire::Family::IPV4_UNICAST => {
                let $t = &mut $self.v4;
                let $sh = &mut $self.sh;
                Some($body)
            }
            f if f == $crate::wire::Family::IPV6_UNICAST => {
                let $t = &mut $self.v6;
                let $sh = &mut $self.sh;
                Some($body)
            }
            _ => None,
        }
    };
    (ref $self:ident, $fam:expr, |$t:ident, $sh:ident| $body:expr) => {
        match $fam {
            f if f == $crate::wire::Family::IPV4_UNICAST => {
                let $t = &$self.v4;
                let $sh = &$self.sh;
                Some($body)
            }
            f if f == $crate::wire::Family::IPV6_UNICAST => {
                let $t = &$self.v6;
                let $sh = &$self.sh;
                Some($body)
            }
            _ => None,
        }
    };
}

pub mod attrs;
pub mod decision;
mod export;
mod fib;
mod group;
mod intake;
mod local;
mod out_state;
mod peers;
pub mod prefix;
mod query;
mod shards;
mod shared;
mod statics;
mod stream;
mod table;
mod types;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::IpNet;

pub use crate::filter::{Filter, PrefixRange, Verdict};
pub use attrs::{AttrId, KernelTunnel, NhState, RouteAttrs, RouteMeta, RouteType, SourceKind};
pub use decision::DecisionOptions;
pub use intake::BatchStats;
pub use types::{
    ChangeFlags, FibChange, FibNextHop, FibRoute, LocalRoute, NextHopMode, NextHopResolver,
    PeerConfig, RibConfig, RouteInfo, SourceCounts, SourceId, TableCounts, UpdateStats,
};

use crate::wire::Family;
use attrs::Interner;
use prefix::{FastMap, Key, V4Key, V6Key};
pub(crate) use shared::{ctx, Shared, Source, Staged};
pub use statics::{StaticRoute, Statics};
use table::Table;

/// The largest FIB tag ([`Rib::poll_fib_change_tagged`]): tags are 24 bits, stored in each
/// prefix's slot.
pub const FIB_TAG_MAX: u32 = (1 << 24) - 1;

/// Filters by name, shared by the peers that use them.
pub type PolicySet = std::collections::HashMap<String, Arc<Filter>>;

/// The RIB. See the module documentation.
pub struct Rib {
    sh: Shared,
    v4: Table<V4Key>,
    v6: Table<V6Key>,
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
    /// call [`Rib::reimport`] / [`Rib::refresh_export`] for the peers that use it. The kernel
    /// filter is the exception: when it is `name` and its text changed, every prefix goes to
    /// the FIB again ([`Rib::refresh_fib`]).
    pub fn set_policy(&mut self, name: impl Into<String>, policy: impl Into<Arc<Filter>>) {
        let (name, policy) = (name.into(), policy.into());
        let kernel = self.sh.kernel_policy.as_deref() == Some(name.as_str())
            && self
                .sh
                .policies
                .get(&name)
                .is_none_or(|old| **old != *policy);
        self.sh.policies.insert(name, policy);
        if kernel {
            self.refresh_fib();
        }
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
    /// A different filter than before sends every prefix to the FIB again.
    pub fn set_kernel_policy(&mut self, name: Option<String>) {
        if self.sh.kernel_policy != name {
            self.sh.kernel_policy = name;
            self.refresh_fib();
        }
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
