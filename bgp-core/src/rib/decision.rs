//! DOC: the decision process (RFC 4271 §9.1 with RFC 4456 §9): which of a prefix's paths is
//! best and which are equal-cost multipath partners.
//!
//! Every path is first reduced to a [`Cand`]: the values each step compares. Selection is then a
//! pure function of the *set* of candidates, never of their arrival order:
//!
//! * with `deterministic_med` (the default) it is the RFC 4271 §9.1.2.2 elimination procedure
//!   ("remove from consideration"), MED compared among routes from the same neighbouring AS;
//! * without it, the classic pairwise comparison (MED compared only when two routes share the
//!   neighbouring AS), folded over the candidates in a fixed order (source, path id), so the
//!   result is still independent of arrival order.
//!
//! Order of the steps, all "remove from consideration unless best":
//! 0. next hop resolvable (§9.1.2), then route preference (BIRD's protocol preference: direct
//!    240, static 200, BGP 100, kernel 10; policy may override);
//! 1. highest LOCAL_PREF (§9.1.1, default 100);
//! 2. shortest AS_PATH (§9.1.2.2 a; AS_SET counts 1, confederation segments 0);
//! 3. lowest ORIGIN (b);
//! 4. lowest MED (c), per neighbouring AS unless `always_compare_med`; missing MED is 0;
//! 5. eBGP over iBGP (d);
//! 6. lowest IGP cost to the next hop (e) — the multipath set is what survives this step;
//! 7. shortest CLUSTER_LIST (RFC 4456 §9 b; BIRD's place for it, before the identifier);
//! 8. lowest BGP identifier, the ORIGINATOR_ID standing in for it (f, RFC 4456 §9 a);
//! 9. lowest peer address (g); then source and path id as the final, total tie-break.

use std::cmp::{Ordering, Reverse};
use std::net::IpAddr;

/// The values one path is compared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cand {
    /// Index of the path in the prefix's list.
    pub idx: u32,
    /// Next hop resolvable.
    pub reachable: bool,
    /// Route preference (higher wins).
    pub preference: u16,
    /// LOCAL_PREF or the default.
    pub local_pref: u32,
    /// AS_PATH length for the decision.
    pub as_len: u32,
    /// ORIGIN code (IGP 0 < EGP 1 < INCOMPLETE 2).
    pub origin: u8,
    /// MED, 0 when absent.
    pub med: u32,
    /// The neighbouring AS (first AS of the path, or the local AS when empty).
    pub neighbor_as: u32,
    /// Learned over iBGP.
    pub ibgp: bool,
    /// IGP cost to the next hop.
    pub igp_cost: u32,
    /// CLUSTER_LIST length.
    pub cluster_len: u32,
    /// ORIGINATOR_ID or the peer's BGP identifier.
    pub router_id: u32,
    /// The peer address (`None` for local routes, which sort first).
    pub peer_addr: Option<IpAddr>,
    /// Source index.
    pub src: u16,
    /// Path identifier.
    pub pid: u32,
}

/// Options of the decision process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionOptions {
    /// Compare MED between routes from different neighbouring ASes too.
    pub always_compare_med: bool,
    /// Use the order-independent elimination procedure for MED (see the module docs).
    pub deterministic_med: bool,
    /// Largest multipath set (1 disables ECMP).
    pub max_paths: usize,
}

impl Default for DecisionOptions {
    fn default() -> Self {
        DecisionOptions {
            always_compare_med: false,
            deterministic_med: true,
            max_paths: 1,
        }
    }
}

/// Steps 0–3 as one "greater is better" key.
pub(crate) fn head_key(c: &Cand) -> (u16, u32, Reverse<u32>, Reverse<u8>) {
    (
        c.preference,
        c.local_pref,
        Reverse(c.as_len),
        Reverse(c.origin),
    )
}

/// Steps 5–6 as one "greater is better" key.
fn mid_key(c: &Cand) -> (bool, Reverse<u32>) {
    (!c.ibgp, Reverse(c.igp_cost))
}

/// Steps 7–9 and the final tie-break: "smaller is better", total.
fn tail_key(c: &Cand) -> (u32, u32, Option<IpAddr>, u16, u32) {
    (c.cluster_len, c.router_id, c.peer_addr, c.src, c.pid)
}

fn keep_max<K: Ord>(cands: &mut Vec<Cand>, key: impl Fn(&Cand) -> K) {
    if let Some(best) = cands.iter().map(&key).max() {
        cands.retain(|c| key(c) == best);
    }
}

/// Pairwise comparison through step 6 (`Greater` = `a` better), MED only where comparable.
fn cmp_upto_igp(a: &Cand, b: &Cand, o: &DecisionOptions) -> Ordering {
    head_key(a)
        .cmp(&head_key(b))
        .then_with(|| {
            if o.always_compare_med || a.neighbor_as == b.neighbor_as {
                b.med.cmp(&a.med)
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| mid_key(a).cmp(&mid_key(b)))
}

/// Selects among `cands` (consumed as scratch). Returns the selected candidates' indices, best
/// first then its multipath partners, at most `o.max_paths`; empty if no candidate is usable.
pub fn select(cands: &mut Vec<Cand>, o: &DecisionOptions) -> Vec<u32> {
    let mut out = Vec::new();
    select_into(cands, o, &mut out);
    out
}

/// [`select`] writing into `out` (cleared first), without allocating.
pub fn select_into(cands: &mut Vec<Cand>, o: &DecisionOptions, out: &mut Vec<u32>) {
    out.clear();
    // RFC 4271 §9.1.2: "If the NEXT_HOP attribute of a BGP route depicts an address that is not
    // resolvable ... the BGP route MUST be excluded from the Phase 2 decision function."
    cands.retain(|c| c.reachable);
    if cands.is_empty() {
        return;
    }
    if o.deterministic_med {
        keep_max(cands, head_key);
        // RFC 4271 §9.1.2.2 c: "Remove from consideration routes with less-preferred
        // MULTI_EXIT_DISC attributes. MULTI_EXIT_DISC is only comparable between routes learned
        // from the same neighboring AS".
        if o.always_compare_med {
            keep_max(cands, |c| Reverse(c.med));
        } else {
            // Mark first (`reachable` doubles as "still in"), then drop, so removals do not
            // change what later routes are compared with.
            for i in 0..cands.len() {
                let Some(&c) = cands.get(i) else { break };
                let beaten = cands
                    .iter()
                    .any(|d| d.neighbor_as == c.neighbor_as && d.med < c.med);
                if let Some(c) = cands.get_mut(i) {
                    c.reachable = !beaten;
                }
            }
            cands.retain(|c| c.reachable);
        }
        keep_max(cands, mid_key);
    } else {
        cands.sort_by_key(|c| (c.src, c.pid));
        let mut best: Option<Cand> = None;
        for c in cands.iter() {
            best = match best {
                Some(b)
                    if cmp_upto_igp(c, &b, o).then_with(|| tail_key(&b).cmp(&tail_key(c)))
                        != Ordering::Greater =>
                {
                    Some(b)
                }
                _ => Some(*c),
            };
        }
        if let Some(b) = best {
            cands.retain(|c| cmp_upto_igp(c, &b, o) == Ordering::Equal);
        }
    }
    cands.sort_by_key(tail_key);
    out.extend(cands.iter().take(o.max_paths.max(1)).map(|c| c.idx));
}
