//! What the RIB keeps beside its tables: the sources, the attribute interners, the filters and
//! the next-hop states, with the filter runner every path goes through.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::{AttrId, Interner, NhState, RouteAttrs, SourceKind};
use super::prefix::FastMap;
use super::table::cf;
use super::{PeerConfig, PolicySet, RibConfig};
use crate::filter::{Filter, Outcome, RouteCtx};
use crate::wire::{Family, Negotiated, Nlri};

/// Outbound work staged for one peer: prefixes sharing outgoing attributes, encoded one UPDATE
/// at a time. Holds a reference on its outgoing attribute set.
pub(crate) struct Staged {
    pub family: Family,
    pub out: Option<AttrId>,
    pub nlri: Vec<Nlri>,
    pub pos: usize,
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
    pub session: Option<std::sync::Arc<Negotiated>>,
    pub staged: VecDeque<Staged>,
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
        $crate::rib::table::Ctx {
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
    pub(crate) fn release(&mut self) {
        for id in self.released.drain(..) {
            self.interner.decref(id);
        }
    }

    pub(crate) fn nh_state(&self, a: &RouteAttrs) -> NhState {
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
    pub(crate) fn out_mask(&self, i: usize, add_path: bool) -> u8 {
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

    pub(crate) fn run_filter_as(
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
