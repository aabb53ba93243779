//! DOC: export rules: which paths go to which peer with which attributes (RFC 4271 §9.2,
//! RFC 4456 §6–8, RFC 1997), and what an update group should advertise for one prefix. The
//! groups, their streams and the pull method are in `group` and `stream`.

use ipnet::IpNet;

use super::attrs::{AttrId, RouteAttrs};
use super::prefix::{FastMap, Key};
use super::table::{Ctx, Path, Table};
use super::{ctx, NextHopMode, Shared, SourceKind, Verdict};
use crate::wire::{AsPath, Community, Family, NextHop, Origin};

/// Prefixes examined per refill of a peer's staged work.
pub(crate) const BATCH: usize = 1024;

/// The outgoing path identifier for a path with ADD-PATH send, and its Adj-RIB-Out tag in every
/// case: the source in the high half, the received identifier's low half below (two paths of
/// one peer whose identifiers agree in their low 16 bits would collide; the later one is then
/// not advertised).
pub(crate) fn out_path_id(p: &Path) -> u32 {
    (u32::from(p.src) << 16) | (p.pid & 0xffff)
}

/// Our own address towards the peer for `family`.
fn self_next_hop(sh: &Shared, peer: usize, family: Family) -> Option<NextHop> {
    let cfg = sh.sources.get(peer)?.peer.as_ref()?;
    if family == Family::IPV6_UNICAST {
        cfg.local_v6.map(|g| NextHop::V6 {
            global: g,
            link_local: None,
        })
    } else {
        Some(NextHop::V4(cfg.local_v4.unwrap_or(sh.cfg.router_id)))
    }
}

/// The attributes `peer` should receive for path `p` of `prefix`, or `None` if the export rules
/// or the export filter keep it from the peer.
/// `split_horizon`: refuse the peer's own paths (update groups refuse them per member
/// instead, see `group`).
pub(crate) fn export_path(
    sh: &Shared,
    peer: usize,
    p: &Path,
    prefix: &IpNet,
    family: Family,
    split_horizon: bool,
) -> Option<RouteAttrs> {
    let target = sh.sources.get(peer)?;
    let tcfg = target.peer.as_ref()?;
    let neg = target.session.as_deref()?;
    if split_horizon && usize::from(p.src) == peer {
        return None;
    }
    let s = sh.sources.get(usize::from(p.src))?;
    let ra = sh.interner.get(p.attr);
    let to_ibgp = target.ibgp;
    // RFC 1997: NO_ADVERTISE "MUST NOT be advertised to any BGP peer"; NO_EXPORT "MUST NOT be
    // advertised outside a BGP confederation boundary".
    let c = &ra.attrs.communities;
    if c.contains(&Community::NO_ADVERTISE)
        || (!to_ibgp
            && (c.contains(&Community::NO_EXPORT) || c.contains(&Community::NO_EXPORT_SUBCONFED)))
    {
        return None;
    }
    let from_bgp = s.kind == SourceKind::Bgp;
    let mut out = ra.clone();
    if from_bgp && s.ibgp && to_ibgp {
        // RFC 4271 §9.2: "the receiving BGP speaker SHALL NOT re-distribute the routing
        // information contained in that UPDATE message to other internal peers (unless the
        // speaker acts as a BGP Route Reflector [RFC2796])."
        // RFC 4456 §6: "A route from a Non-Client IBGP peer: Reflect to all the Clients. ...
        // A route from a Client peer: Reflect to all the Non-Client peers and also to the
        // Client peers."
        if !(s.rr_client || tcfg.rr_client) {
            return None;
        }
        // RFC 4456 §8: "This attribute will be created by an RR in reflecting a route. This
        // attribute will carry the BGP Identifier of the originator of the route in the local
        // AS. A BGP speaker SHOULD NOT create an ORIGINATOR_ID attribute if one already
        // exists."
        out.attrs.originator_id.get_or_insert(s.router_id);
        // "When an RR reflects a route, it MUST prepend the local CLUSTER_ID to the
        // CLUSTER_LIST. If the CLUSTER_LIST is empty, it MUST create a new one."
        out.attrs.cluster_list.insert(0, sh.cluster_id());
    }
    let own = || self_next_hop(sh, peer, family);
    if to_ibgp {
        // RFC 4271 §5.1.5: LOCAL_PREF "SHALL be included in all UPDATE messages that a given
        // BGP speaker sends to other internal peers".
        out.attrs.local_pref = Some(out.attrs.local_pref.unwrap_or(sh.cfg.default_local_pref));
        out.next_hop = match tcfg.next_hop {
            NextHopMode::SelfAlways => own(),
            NextHopMode::Keep => out.next_hop.or_else(own),
            NextHopMode::Default if from_bgp => out.next_hop.or_else(own),
            NextHopMode::Default => own(),
        };
    } else {
        // RFC 4271 §5.1.2: "When a given BGP speaker advertises the route to an external peer,
        // the advertising speaker updates the AS_PATH attribute ... prepends its own AS number
        // as the last element of the sequence".
        let path = out.attrs.as_path.take().unwrap_or_default();
        out.attrs.as_path = Some(path.without_confed().prepend(neg.local_as, 1));
        // RFC 4271 §5.1.5: "A BGP speaker MUST NOT include this attribute in UPDATE messages it
        // sends to external peers".
        out.attrs.local_pref = None;
        // RFC 4456: ORIGINATOR_ID and CLUSTER_LIST are optional non-transitive, internal to
        // the AS.
        out.attrs.originator_id = None;
        out.attrs.cluster_list.clear();
        // RFC 4271 §5.1.4: a MED "received from a neighboring AS MUST NOT be propagated to
        // other neighboring ASes" (the export filter may set a new one).
        if from_bgp {
            out.attrs.med = None;
        }
        out.next_hop = match tcfg.next_hop {
            NextHopMode::Keep => out.next_hop.or_else(own),
            _ => own(),
        };
    }
    out.next_hop.as_ref()?;
    out.attrs.origin.get_or_insert(Origin::Igp);
    out.attrs.as_path.get_or_insert_with(AsPath::new);
    if let Some(pol) = sh.policy(tcfg.export.as_ref()) {
        let o = sh.run_export_filter(&pol, s, prefix, &out);
        if o.verdict == Verdict::Reject {
            return None;
        }
        if let Some(c) = o.changes {
            c.apply(&mut out);
        }
    }
    out.next_hop.as_ref()?;
    out.meta = Default::default();
    out.attrs.next_hop = None;
    Some(out)
}

/// What a group should advertise for one prefix, computed with the configuration and session
/// of its member `rep` (which every member shares).
pub(crate) struct Desire {
    pub rep: usize,
    /// ADD-PATH send: every usable path (up to `max_paths`), tagged by source and path id.
    pub add_path: bool,
    pub max_paths: usize,
    /// A single-member group (ADD-PATH): its own paths are refused here.
    pub split_horizon: bool,
    /// Without an export filter the result depends only on the path's source and attribute
    /// set, not on the prefix: cached for the batch (each cached id holds a reference).
    pub cache: Option<FastMap<(u16, AttrId), Option<AttrId>>>,
    cand: Vec<Path>,
}

impl Desire {
    pub fn new(sh: &Shared, rep: usize, add_path: bool, max_paths: usize, split: bool) -> Self {
        let no_policy = sh
            .sources
            .get(rep)
            .and_then(|s| s.peer.as_ref())
            .is_some_and(|c| c.export.is_none());
        Desire {
            rep,
            add_path,
            max_paths,
            split_horizon: split,
            cache: no_policy.then(FastMap::default),
            cand: Vec::new(),
        }
    }

    /// The (tag, outgoing attribute set) pairs for `key` into `out` (cleared first); each id
    /// holds a reference.
    pub fn compute<K: Key>(
        &mut self,
        t: &Table<K>,
        sh: &mut Shared,
        key: &K,
        out: &mut Vec<(u32, AttrId)>,
    ) {
        let prefix = key.to_net();
        // The candidate paths: the best, or with ADD-PATH every usable path.
        self.cand.clear();
        {
            let ctx: Ctx<'_> = ctx!(sh);
            let (cand, add_path) = (&mut self.cand, self.add_path);
            t.with_paths(key, |ps| {
                for p in ps {
                    if add_path {
                        if p.selected() || ctx_reachable(&ctx, p) {
                            cand.push(*p);
                        }
                    } else {
                        if p.selected() {
                            cand.push(*p);
                        }
                        break;
                    }
                }
            });
        }
        out.clear();
        for p in &self.cand {
            if out.len() >= self.max_paths {
                break;
            }
            let tag = out_path_id(p);
            if out.iter().any(|(q, _)| *q == tag) {
                continue;
            }
            let cached = self
                .cache
                .as_ref()
                .and_then(|c| c.get(&(p.src, p.attr)).copied());
            let id = match cached {
                Some(hit) => {
                    if let Some(id) = hit {
                        sh.out_interner.incref(id);
                    }
                    hit
                }
                None => {
                    let id = export_path(sh, self.rep, p, &prefix, K::FAMILY, self.split_horizon)
                        .map(|a| sh.out_interner.intern(&a, Default::default()));
                    if let Some(c) = self.cache.as_mut() {
                        if let Some(id) = id {
                            sh.out_interner.incref(id);
                        }
                        c.insert((p.src, p.attr), id);
                    }
                    id
                }
            };
            if let Some(id) = id {
                out.push((tag, id));
            }
        }
    }

    /// Gives back the cache's references.
    pub fn release(self, sh: &mut Shared) {
        for id in self
            .cache
            .into_iter()
            .flat_map(|c| c.into_values())
            .flatten()
        {
            sh.out_interner.decref(id);
        }
    }
}

fn ctx_reachable(ctx: &Ctx<'_>, p: &Path) -> bool {
    let nh = ctx.interner.nh(p.attr);
    let a = ctx.interner.get(p.attr);
    a.next_hop.is_none() || nh.reachable
}
