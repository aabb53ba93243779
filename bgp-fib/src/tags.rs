//! DOC: tagged mode, the FIB without a copy of the table. The driver's RIB already holds every
//! prefix; it also keeps, per prefix, a *tag*: the small number naming the kernel intent it
//! last handed over for that prefix (0: none). Prefixes that want the same thing (the same next
//! hops, reached the same way, at the same metric: in a Calico cluster, one per node) share a
//! tag. The driver names tags with a [`TagTable`] on its side and hands over
//! [`FibChange::Define`], [`FibChange::Tagged`] (a prefix's old and new tag) and
//! [`FibChange::Forget`]; the `Fib` keeps an entry for a route only while it is queued, in
//! flight, failed or being withdrawn, and once the kernel has acknowledged it, forgets it.
//! Whatever needs a route's state later (a reconcile scan comparing a route dump, the monitor
//! seeing our route changed by someone else) asks the driver through [`DesiredTags`]. What a
//! `Fib` cannot find out that way (routes missing from the kernel, routes whose on-link
//! resolution changed while nexthop objects are off) it asks the driver to hand over again:
//! [`crate::FibEvent::Resync`].
//!
//! The object of a tag's intent lives as long as the tag: the driver forgets a tag right after
//! its last prefix left it, and the object retires then (with the routes still using it, in
//! one kernel walk, when they are many: see the `flush` module).

use std::collections::HashMap;

use ipnet::IpNet;

use crate::intent::{IntentKind, Pool, PoolMode, RouteIntent, RoutePolicy};
use crate::types::FibChange;

/// What the driver answers about a prefix's tag.
pub trait DesiredTags: Send {
    /// The tag stored for `prefix` (0: none), provided every tagged change the driver has made
    /// is among the `applied` ones the FIB has taken; `None` when the driver is ahead (its
    /// answer could name a state the FIB has not seen yet).
    fn tag(&self, prefix: &IpNet, applied: u64) -> Option<u32>;
}

/// The part of an intent that does not depend on its prefix: prefixes of one class share a
/// tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Class {
    kind: IntentKind,
    metric: Option<u32>,
    mode: Option<PoolMode>,
    v6: bool,
}

/// The driver's side of tagged mode: tags by intent class, reference-counted by the prefixes
/// holding them.
pub struct TagTable {
    policy: RoutePolicy,
    max: u32,
    ids: HashMap<Class, u32>,
    /// By `tag - 1`: the class and how many prefixes hold the tag.
    slots: Vec<Option<(Class, u32)>>,
    free: Vec<u32>,
}

impl TagTable {
    /// Tags run from 1 to `max` (what the driver can store per prefix).
    pub fn new(policy: RoutePolicy, max: u32) -> Self {
        TagTable {
            policy,
            max,
            ids: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// New IP pools (a reload): intents are classed with them from now on (hand every prefix
    /// over again: those whose class changed get another tag).
    pub fn set_pools(&mut self, pools: Vec<Pool>) {
        self.policy.pools = pools;
    }

    /// Tags in use.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The class of an intent, or `None` when it installs nothing (a VXLAN pool's route, a
    /// host-length blackhole that is skipped, no next hop): the same rules as the `Fib`'s.
    fn class(&self, ri: &RouteIntent) -> Option<Class> {
        let host = ri.prefix.prefix_len() == ri.prefix.max_prefix_len();
        let mode = match &ri.kind {
            IntentKind::Blackhole if self.policy.skip_host_blackholes && host => return None,
            IntentKind::Unicast(hops) => {
                let mode = self
                    .policy
                    .pool_mode(&ri.prefix)
                    .unwrap_or(PoolMode::Direct);
                if mode == PoolMode::Vxlan || hops.is_empty() {
                    return None;
                }
                Some(mode)
            }
            _ => None,
        };
        Some(Class {
            kind: ri.kind.clone(),
            metric: ri.metric,
            mode,
            v6: matches!(ri.prefix, IpNet::V6(_)),
        })
    }

    /// The tag of `intent` with one more reference (0: nothing to install, or no tag left),
    /// its [`FibChange::Define`] pushed to `out` when it is new.
    pub fn acquire(&mut self, intent: RouteIntent, out: &mut Vec<FibChange>) -> u32 {
        let Some(class) = self.class(&intent) else {
            return 0;
        };
        if let Some(&tag) = self.ids.get(&class) {
            if let Some(Some((_, refs))) = self.slots.get_mut(tag as usize - 1) {
                *refs += 1;
            }
            return tag;
        }
        let tag = match self.free.pop() {
            Some(t) => t,
            None if (self.slots.len() as u64) < u64::from(self.max) => {
                self.slots.push(None);
                self.slots.len() as u32
            }
            None => {
                tracing::warn!(max = self.max, "no FIB tag left: route not installed");
                return 0;
            }
        };
        if let Some(s) = self.slots.get_mut(tag as usize - 1) {
            *s = Some((class.clone(), 1));
        }
        self.ids.insert(class, tag);
        out.push(FibChange::Define { tag, intent });
        tag
    }

    /// Drops one reference to `tag` (0: none); its [`FibChange::Forget`] is pushed to `out`
    /// when that was the last.
    pub fn release(&mut self, tag: u32, out: &mut Vec<FibChange>) {
        let Some(slot) = tag
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return;
        };
        let last = match slot {
            Some((_, refs)) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if last {
            if let Some((class, _)) = slot.take() {
                self.ids.remove(&class);
                self.free.push(tag);
                out.push(FibChange::Forget(tag));
            }
        }
    }

    /// One prefix's change: `intent` (or nothing) replaces what tag `old` said. Pushes what to
    /// hand over to `out` (a definition, the change, a tag forgotten, in that order) and
    /// returns the prefix's new tag. An unchanged tag hands nothing over unless `force`.
    pub fn change(
        &mut self,
        prefix: IpNet,
        old: u32,
        intent: Option<RouteIntent>,
        force: bool,
        out: &mut Vec<FibChange>,
    ) -> u32 {
        let new = intent.map_or(0, |i| self.acquire(i, out));
        if new != old || (force && new != 0) {
            out.push(FibChange::Tagged { prefix, old, new });
        }
        self.release(old, out);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::IntentHop;
    use std::net::IpAddr;

    fn ri(prefix: &str, gw: &str) -> RouteIntent {
        RouteIntent {
            prefix: prefix.parse().unwrap(),
            kind: IntentKind::Unicast(IntentHop::pool(gw.parse::<IpAddr>().unwrap()).into()),
            metric: None,
        }
    }

    fn pools() -> RoutePolicy {
        RoutePolicy {
            pools: vec![
                Pool {
                    cidr: "10.0.0.0/16".parse().unwrap(),
                    mode: PoolMode::IpipAlways,
                },
                Pool {
                    cidr: "10.1.0.0/16".parse().unwrap(),
                    mode: PoolMode::Vxlan,
                },
            ],
            skip_host_blackholes: true,
            ..RoutePolicy::default()
        }
    }

    #[test]
    fn prefixes_of_one_class_share_a_tag_defined_once_and_forgotten_after_the_last() {
        let mut t = TagTable::new(pools(), 100);
        let mut out = Vec::new();
        let a = t.change(
            "10.0.1.0/26".parse().unwrap(),
            0,
            Some(ri("10.0.1.0/26", "192.0.2.1")),
            false,
            &mut out,
        );
        let b = t.change(
            "10.0.2.0/26".parse().unwrap(),
            0,
            Some(ri("10.0.2.0/26", "192.0.2.1")),
            false,
            &mut out,
        );
        assert_eq!((a, b), (1, 1));
        assert!(matches!(
            out.as_slice(),
            [
                FibChange::Define { tag: 1, .. },
                FibChange::Tagged { old: 0, new: 1, .. },
                FibChange::Tagged { old: 0, new: 1, .. }
            ]
        ));
        out.clear();
        // Outside the pool: another class (reached directly), another tag.
        let c = t.change(
            "172.16.0.0/24".parse().unwrap(),
            0,
            Some(ri("172.16.0.0/24", "192.0.2.1")),
            false,
            &mut out,
        );
        assert_eq!(c, 2);
        out.clear();
        // Unchanged: nothing handed over, unless forced.
        assert_eq!(
            t.change(
                "10.0.1.0/26".parse().unwrap(),
                1,
                Some(ri("10.0.1.0/26", "192.0.2.1")),
                false,
                &mut out
            ),
            1
        );
        assert!(out.is_empty());
        assert_eq!(
            t.change(
                "10.0.1.0/26".parse().unwrap(),
                1,
                Some(ri("10.0.1.0/26", "192.0.2.1")),
                true,
                &mut out
            ),
            1
        );
        assert!(matches!(
            out.as_slice(),
            [FibChange::Tagged { old: 1, new: 1, .. }]
        ));
        out.clear();
        t.change("10.0.1.0/26".parse().unwrap(), 1, None, false, &mut out);
        assert!(matches!(
            out.as_slice(),
            [FibChange::Tagged { old: 1, new: 0, .. }]
        ));
        out.clear();
        t.change("10.0.2.0/26".parse().unwrap(), 1, None, false, &mut out);
        assert!(matches!(
            out.as_slice(),
            [
                FibChange::Tagged { old: 1, new: 0, .. },
                FibChange::Forget(1)
            ]
        ));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn what_installs_nothing_gets_no_tag_and_tags_run_out_safely() {
        let mut t = TagTable::new(pools(), 1);
        let mut out = Vec::new();
        assert_eq!(
            t.acquire(ri("10.1.0.0/26", "192.0.2.1"), &mut out),
            0,
            "a VXLAN pool"
        );
        let bh = RouteIntent {
            prefix: "10.0.0.1/32".parse().unwrap(),
            kind: IntentKind::Blackhole,
            metric: None,
        };
        assert_eq!(t.acquire(bh, &mut out), 0, "a skipped host blackhole");
        assert!(out.is_empty());
        assert_eq!(t.acquire(ri("10.0.1.0/26", "192.0.2.1"), &mut out), 1);
        assert_eq!(
            t.acquire(ri("10.0.1.0/26", "192.0.2.2"), &mut out),
            0,
            "out of tags"
        );
        t.release(1, &mut out);
        t.release(1, &mut out); // released twice: ignored
        t.release(0, &mut out);
        t.release(7, &mut out);
        assert_eq!(
            out.iter()
                .filter(|c| matches!(c, FibChange::Forget(1)))
                .count(),
            1
        );
        assert_eq!(
            t.acquire(ri("10.0.1.0/26", "192.0.2.2"), &mut out),
            1,
            "reused"
        );
    }
}
