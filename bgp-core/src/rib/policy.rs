//! DOC: the policy language: named filters of ordered terms, their matches and actions, and
//! their evaluation on one route.
//!
//! The data model is plain enums and structs meant to map 1:1 onto the daemon's TOML:
//!
//! ```toml
//! [filters.calico_export]
//! default = "reject"
//! [[filters.calico_export.terms]]          # reject_local_routes()
//! match = [{ interface = ["bpf*.cali", "*.cali", "*.calico", "tunl0"] }]
//! verdict = "reject"
//! [[filters.calico_export.terms]]          # calico_aggr(): net = B accept, net ~ B reject
//! match = [{ prefix = ["10.244.1.0/26"] }]
//! verdict = "accept"
//! [[filters.calico_export.terms]]
//! match = [{ prefix = ["10.244.1.0/26{26,32}"] }]
//! verdict = "reject"
//! [[filters.calico_export.terms]]          # enabled pools
//! match = [{ prefix = ["10.244.0.0/16{16,32}"] }]
//! actions = [{ add_community = "65000:100" }]
//! verdict = "accept"
//! ```
//!
//! Semantics (BIRD's): terms are tried in order; a term whose matches all hold applies its
//! actions, then stops evaluation with its verdict if it has one, or falls through to the next
//! term if not. Later terms see earlier terms' modifications. When no verdict was reached, the
//! filter's `default` applies. Actions never depend on the prefix, so the RIB caches the result
//! of a given set of applied terms per attribute set.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::{KernelTunnel, RouteAttrs, SourceKind};
pub use crate::filter::{glob_match, PrefixRange, PrefixRangeError};
use crate::wire::{AsPath, Community, LargeCommunity, NextHop};

pub use crate::filter::Verdict;

/// A named filter: ordered terms and a default verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Policy {
    /// Terms, tried in order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub terms: Vec<Term>,
    /// Verdict when no term gave one.
    pub default: Verdict,
}

impl Policy {
    /// A filter that accepts everything unchanged (BIRD's `all`).
    pub fn accept_all() -> Policy {
        Policy {
            terms: Vec::new(),
            default: Verdict::Accept,
        }
    }
    /// A filter that rejects everything (BIRD's `none`).
    pub fn reject_all() -> Policy {
        Policy {
            terms: Vec::new(),
            default: Verdict::Reject,
        }
    }

    /// Whether no route can pass: no term accepts and the default rejects. The RIB does no
    /// export work at all for a peer whose export filter is such.
    pub fn rejects_all(&self) -> bool {
        self.default == Verdict::Reject
            && self
                .terms
                .iter()
                .all(|t| t.verdict != Some(Verdict::Accept))
    }
}

/// One `if <all matches> then { <actions>; [accept|reject]; }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Term {
    /// All must hold (an empty list always holds). `match` in TOML.
    #[cfg_attr(feature = "serde", serde(rename = "match", default))]
    pub matches: Vec<Match>,
    /// Applied in order when the matches hold.
    #[cfg_attr(feature = "serde", serde(default))]
    pub actions: Vec<Action>,
    /// Stop with this verdict when the matches hold; `None` falls through.
    #[cfg_attr(feature = "serde", serde(default))]
    pub verdict: Option<Verdict>,
}

/// A condition on a route. In TOML, one-key tables: `{ prefix = ["10.0.0.0/8+"] }`,
/// `{ community = "65000:100" }`, `{ as_path_len = { min = 1, max = 3 } }`, `{ not = {...} }`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Match {
    /// The prefix is in one of the ranges (BIRD `net ~ [ a/b{m,n}, ... ]`).
    Prefix(Vec<PrefixRange>),
    /// The next hop lies in one of the subnets (`bgp_next_hop ~ 10.192.0.0/16`); false when the
    /// route has no next hop.
    NextHopIn(Vec<IpNet>),
    /// The route carries the community (`(a,b) ~ bgp_community`); `"a:b"` in TOML.
    Community(#[cfg_attr(feature = "serde", serde(with = "text::community"))] Community),
    /// The route carries the large community; `"a:b:c"` in TOML.
    LargeCommunity(
        #[cfg_attr(feature = "serde", serde(with = "text::large_community"))] LargeCommunity,
    ),
    /// The first AS of the path (the neighbouring AS) is this one.
    AsPathFirst(u32),
    /// The AS appears anywhere in the path (`bgp_path ~ [= * N * =]`).
    AsPathContains(u32),
    /// The path's decision length is within `min..=max`.
    AsPathLen {
        /// Shortest accepted.
        min: u32,
        /// Longest accepted.
        max: u32,
    },
    /// The route's source is one of these (`source ~ [ RTS_BGP, RTS_STATIC ]`).
    Source(Vec<SourceKind>),
    /// The route's interface matches one of the shell-style patterns (`ifname ~ "*.cali"`,
    /// `*` any run, `?` one character); false when the route has no interface.
    Interface(Vec<String>),
    /// LOCAL_PREF (100 when absent) is within `min..=max`.
    LocalPref {
        /// Lowest accepted.
        min: u32,
        /// Highest accepted.
        max: u32,
    },
    /// The kernel metric is below this value (`krt_metric < 1024`); false when unset.
    KernelMetricBelow(u32),
    /// Negation (`!~`, `!=`).
    Not(Box<Match>),
    /// Any of these holds (`a || b`).
    Any(Vec<Match>),
}

/// A modification of a route. In TOML, one-key tables: `{ set_local_pref = 200 }`,
/// `{ add_community = "65000:100" }`, `{ prepend_as = { asn = 65000, times = 2 } }`,
/// `{ set_kernel_tunnel = "tunl0" }` (`""` for direct).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Action {
    /// `bgp_local_pref = N`.
    SetLocalPref(u32),
    /// `bgp_med = N`.
    SetMed(u32),
    /// `bgp_community.add((a,b))`.
    AddCommunity(#[cfg_attr(feature = "serde", serde(with = "text::community"))] Community),
    /// `bgp_community.delete((a,b))`.
    RemoveCommunity(#[cfg_attr(feature = "serde", serde(with = "text::community"))] Community),
    /// `bgp_large_community.add((a,b,c))`.
    AddLargeCommunity(
        #[cfg_attr(feature = "serde", serde(with = "text::large_community"))] LargeCommunity,
    ),
    /// `bgp_large_community.delete((a,b,c))`.
    RemoveLargeCommunity(
        #[cfg_attr(feature = "serde", serde(with = "text::large_community"))] LargeCommunity,
    ),
    /// `bgp_path.prepend(N)` repeated `times`.
    PrependAs {
        /// The AS.
        asn: u32,
        /// How many times.
        times: u8,
    },
    /// Set the next hop (`bgp_next_hop = X`).
    SetNextHop(IpAddr),
    /// Calico's `krt_tunnel = "tunl0"` / `krt_tunnel = ""`: route metadata for the FIB.
    SetKernelTunnel(KernelTunnel),
    /// `krt_metric = N`.
    SetKernelMetric(u32),
    /// `preference = N` (the first decision step).
    SetPreference(u16),
}

/// Text forms of communities: `"a:b"` and `"a:b:c"`.
pub mod text {
    use crate::wire::{Community, LargeCommunity};

    /// Parses `"65000:100"`.
    pub fn parse_community(s: &str) -> Option<Community> {
        let (a, b) = s.trim().split_once(':')?;
        Some(Community::new(a.parse().ok()?, b.parse().ok()?))
    }

    /// Parses `"65000:1:2"`.
    pub fn parse_large_community(s: &str) -> Option<LargeCommunity> {
        let mut it = s.trim().split(':');
        let c = LargeCommunity::new(
            it.next()?.parse().ok()?,
            it.next()?.parse().ok()?,
            it.next()?.parse().ok()?,
        );
        it.next().is_none().then_some(c)
    }

    /// serde adapter for [`Community`] as `"a:b"`.
    #[cfg(feature = "serde")]
    pub mod community {
        use super::*;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes as `"a:b"`.
        pub fn serialize<S: Serializer>(c: &Community, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("{}:{}", c.asn(), c.value()))
        }
        /// Deserializes from `"a:b"`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Community, D::Error> {
            let s = String::deserialize(d)?;
            parse_community(&s).ok_or_else(|| serde::de::Error::custom("expected \"asn:value\""))
        }
    }

    /// serde adapter for [`LargeCommunity`] as `"a:b:c"`.
    #[cfg(feature = "serde")]
    pub mod large_community {
        use super::*;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes as `"a:b:c"`.
        pub fn serialize<S: Serializer>(c: &LargeCommunity, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("{}:{}:{}", c.global, c.local1, c.local2))
        }
        /// Deserializes from `"a:b:c"`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LargeCommunity, D::Error> {
            let s = String::deserialize(d)?;
            parse_large_community(&s)
                .ok_or_else(|| serde::de::Error::custom("expected \"global:local1:local2\""))
        }
    }
}

/// The route a filter is evaluated on.
#[derive(Debug, Clone, Copy)]
pub struct RouteView<'a> {
    /// The prefix.
    pub prefix: &'a IpNet,
    /// Its attributes (as modified by earlier terms).
    pub attrs: &'a RouteAttrs,
    /// Its source.
    pub source: SourceKind,
}

impl Match {
    /// Whether the condition holds for `r`.
    pub fn eval(&self, r: &RouteView<'_>) -> bool {
        let a = &r.attrs.attrs;
        match self {
            Match::Prefix(set) => set.iter().any(|p| p.matches(r.prefix)),
            Match::NextHopIn(nets) => r
                .attrs
                .next_hop_addr()
                .is_some_and(|nh| nets.iter().any(|n| n.contains(&nh))),
            Match::Community(c) => a.communities.contains(c),
            Match::LargeCommunity(c) => a.large_communities.contains(c),
            Match::AsPathFirst(asn) => a.as_path.as_ref().and_then(AsPath::first_as) == Some(*asn),
            Match::AsPathContains(asn) => a.as_path.as_ref().is_some_and(|p| p.contains(*asn)),
            Match::AsPathLen { min, max } => {
                let l = a.as_path.as_ref().map_or(0, |p| p.decision_len()) as u32;
                l >= *min && l <= *max
            }
            Match::Source(kinds) => kinds.contains(&r.source),
            Match::Interface(pats) => r
                .attrs
                .meta
                .ifname
                .as_deref()
                .is_some_and(|i| pats.iter().any(|p| glob_match(p, i))),
            Match::LocalPref { min, max } => {
                let lp = a.local_pref.unwrap_or(100);
                lp >= *min && lp <= *max
            }
            Match::KernelMetricBelow(m) => r.attrs.meta.krt_metric.is_some_and(|k| k < *m),
            Match::Not(m) => !m.eval(r),
            Match::Any(ms) => ms.iter().any(|m| m.eval(r)),
        }
    }
}

impl Action {
    /// Applies the modification.
    pub fn apply(&self, a: &mut RouteAttrs) {
        match self {
            Action::SetLocalPref(v) => a.attrs.local_pref = Some(*v),
            Action::SetMed(v) => a.attrs.med = Some(*v),
            Action::AddCommunity(c) => {
                if !a.attrs.communities.contains(c) {
                    a.attrs.communities.push(*c);
                }
            }
            Action::RemoveCommunity(c) => a.attrs.communities.retain(|x| x != c),
            Action::AddLargeCommunity(c) => {
                if !a.attrs.large_communities.contains(c) {
                    a.attrs.large_communities.push(*c);
                }
            }
            Action::RemoveLargeCommunity(c) => a.attrs.large_communities.retain(|x| x != c),
            Action::PrependAs { asn, times } => {
                let p = a.attrs.as_path.take().unwrap_or_default();
                a.attrs.as_path = Some(p.prepend(*asn, usize::from(*times)));
            }
            Action::SetNextHop(ip) => {
                a.next_hop = Some(match ip {
                    IpAddr::V4(v4) => NextHop::V4(*v4),
                    IpAddr::V6(v6) => NextHop::V6 {
                        global: *v6,
                        link_local: None,
                    },
                })
            }
            Action::SetKernelTunnel(t) => a.meta.tunnel = Some(t.clone()),
            Action::SetKernelMetric(m) => a.meta.krt_metric = Some(*m),
            Action::SetPreference(p) => a.meta.preference = Some(*p),
        }
    }
}

/// The result of running a filter on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Accepted or rejected.
    pub verdict: Verdict,
    /// The modified attributes, when some action applied.
    pub modified: Option<RouteAttrs>,
    /// Bit `i` set when term `i` applied its actions (`None` past 64 terms): with the input
    /// attribute set, this determines `modified`, so callers can cache on it.
    pub applied: Option<u64>,
}

impl Policy {
    /// Runs the filter on a route.
    pub fn evaluate(&self, prefix: &IpNet, attrs: &RouteAttrs, source: SourceKind) -> Outcome {
        let mut modified: Option<RouteAttrs> = None;
        let mut applied: Option<u64> = Some(0);
        for (i, t) in self.terms.iter().enumerate() {
            let view = RouteView {
                prefix,
                attrs: modified.as_ref().unwrap_or(attrs),
                source,
            };
            if !t.matches.iter().all(|m| m.eval(&view)) {
                continue;
            }
            if !t.actions.is_empty() {
                let m = modified.get_or_insert_with(|| attrs.clone());
                for act in &t.actions {
                    act.apply(m);
                }
                applied = applied.and_then(|b| (i < 64).then(|| b | (1u64 << i)));
            }
            if let Some(v) = t.verdict {
                return Outcome {
                    verdict: v,
                    modified,
                    applied,
                };
            }
        }
        Outcome {
            verdict: self.default,
            modified,
            applied,
        }
    }
}

/// Filters by name, shared by the peers that use them.
pub type PolicySet = std::collections::HashMap<String, Arc<Policy>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_text() {
        assert_eq!(
            text::parse_community("65000:100"),
            Some(Community::new(65000, 100))
        );
        assert_eq!(text::parse_community("65536:1"), None);
        assert_eq!(
            text::parse_large_community("4200000000:1:2"),
            Some(LargeCommunity::new(4_200_000_000, 1, 2))
        );
        assert_eq!(text::parse_large_community("1:2"), None);
        assert_eq!(text::parse_large_community("1:2:3:4"), None);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_string_forms() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        use serde::Deserialize;
        let d: StrDeserializer<'_, Error> = "10.244.0.0/16{26,32}".into_deserializer();
        let r = PrefixRange::deserialize(d).unwrap();
        assert_eq!(r, "10.244.0.0/16{26,32}".parse().unwrap());
        let d: StrDeserializer<'_, Error> = "accept".into_deserializer();
        assert_eq!(Verdict::deserialize(d).unwrap(), Verdict::Accept);
        let d: StrDeserializer<'_, Error> = "10.0.0.0/33".into_deserializer();
        assert!(PrefixRange::deserialize(d).is_err());
    }
}
