//! DOC: the compact desired-state entries: a stored next hop ([`Nh`], its device interned),
//! a kernel target ([`Target`]) and one desired route in 4 octets ([`Entry`]).

use std::net::IpAddr;

use super::NHID_BASE;

/// Device of a stored next hop: interface names are interned (`Name(id)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Dev {
    Any,
    Index(u32),
    Name(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Nh {
    pub(super) gateway: IpAddr,
    pub(super) dev: Dev,
    pub(super) onlink: bool,
    pub(super) weight: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Target {
    Blackhole,
    Unreachable,
    Prohibit,
    One(Nh),
    Many(Box<[Nh]>),
}

/// One desired route in 4 octets: its interned intent (the `target`, resolved through
/// `Fib::resolved`) and flags: whether our route under this key is (believed to be) in the
/// kernel (update with REPLACE), whether the key is in the send queue, and whether the route
/// dump in progress showed it (cleared when a route dump starts). With its packed key an
/// IPv4 route takes 12 octets of bucket (13 with hashbrown's control byte).
///
/// A route withdrawn while installed stays in the table as a *doomed* entry until its route
/// is out of the kernel: through a nexthop object (see `flush`), its target is the id of the
/// object whose deletion (or whose doomed list) takes it out; route by route, it is queued
/// and its delete is sent when the queue gives its key. It is not desired: `Fib::len`,
/// scans and re-resolution skip it, and re-announcing the key turns it back into a desired
/// entry that replaces the route (still in the kernel). So a withdrawn table needs no map of
/// its own (`pending_deletes` holds only keys we never desired: strays, adopted routes).
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry(pub(super) u32);

/// An entry's target: an intent id, or a doomed entry's object id less `NHID_BASE`.
pub(super) const TARGET_MASK: u32 = (1 << 28) - 1;
/// Intent ids an entry can name (beyond: the route fails with `ENOSPC`).
pub(super) const MAX_INTENT: u32 = TARGET_MASK;
pub(super) const INSTALLED: u32 = 1 << 28;
pub(super) const QUEUED: u32 = 1 << 29;
pub(super) const DOOMED: u32 = 1 << 30;
pub(super) const SEEN: u32 = 1 << 31;

impl Entry {
    pub(super) fn new(target: u32, installed: bool, queued: bool) -> Entry {
        let mut e = Entry(target & TARGET_MASK);
        e.set_installed(installed);
        e.set_queued(queued);
        e
    }
    /// The entry of an installed route withdrawn route by route: a doomed entry whose
    /// target is no object, queued (its delete is sent when the queue gives its key).
    pub(super) fn deleting() -> Entry {
        Entry(TARGET_MASK | INSTALLED | DOOMED | QUEUED)
    }
    /// The entry of a route withdrawn while installed through object `top` (object ids
    /// span `NHID_SPAN` = 2^24 from `NHID_BASE`).
    pub(super) fn doomed_by(top: u32) -> Entry {
        Entry((top.wrapping_sub(NHID_BASE) & TARGET_MASK) | INSTALLED | DOOMED)
    }
    /// The intent id, or a doomed entry's object id.
    pub(super) fn target(&self) -> u32 {
        let t = self.0 & TARGET_MASK;
        if self.doomed() {
            t.wrapping_add(NHID_BASE)
        } else {
            t
        }
    }
    pub(super) fn set_target(&mut self, id: u32) {
        self.0 = (self.0 & !TARGET_MASK) | (id & TARGET_MASK);
    }
    pub(super) fn flag(&self, f: u32) -> bool {
        self.0 & f != 0
    }
    pub(super) fn set_flag(&mut self, f: u32, v: bool) {
        self.0 = (self.0 & !f) | if v { f } else { 0 };
    }
    pub(super) fn doomed(&self) -> bool {
        self.flag(DOOMED)
    }
    pub(super) fn installed(&self) -> bool {
        self.flag(INSTALLED)
    }
    pub(super) fn queued(&self) -> bool {
        self.flag(QUEUED)
    }
    pub(super) fn seen(&self) -> bool {
        self.flag(SEEN)
    }
    pub(super) fn set_installed(&mut self, v: bool) {
        self.set_flag(INSTALLED, v);
    }
    pub(super) fn set_queued(&mut self, v: bool) {
        self.set_flag(QUEUED, v);
    }
    pub(super) fn set_seen(&mut self, v: bool) {
        self.set_flag(SEEN, v);
    }
}
