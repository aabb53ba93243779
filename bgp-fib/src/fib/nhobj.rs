//! DOC: kernel nexthop objects (`RTA_NH_ID`). Each interned intent whose target is a unicast
//! next hop (or ECMP set) on a known device owns one object (a group and one object per
//! member for ECMP), shared by every route of that intent: the table is per distinct next
//! hop, nothing per route. Objects carry our protocol and ids from our own range; they are
//! created (`NLM_F_CREATE|NLM_F_REPLACE`, in the same batch, just before the first route
//! that uses them), replaced in place when the intent resolves differently with the same
//! shape (a tunnel/direct flip: one message, the routes follow), and deleted once no queued
//! route can refer to them any more (the kernel deletes the routes of a deleted object).
//! Support is detected by the start-up nexthop dump (an error there: plain routes). Objects
//! of ours found at start-up that we did not create are kept while stale routes are
//! adopted, then deleted; the nexthop dump of every scan and the monitor repair objects
//! deleted or changed by someone else.

use super::*;
use crate::types::NexthopObjects;
use crate::wire::{KernelNexthop, WireNexthop};

/// bgpd's object ids: `[NHID_BASE, NHID_BASE + NHID_SPAN)`, in four parts of
/// [`NHID_PART`] ids by the address families the FIB manages (both; IPv4 only; IPv6 only), so
/// two daemons with one protocol number, one per family (BIRD 1.6's `bird` and `bird6`), never
/// take or delete each other's objects.
pub const NHID_BASE: u32 = 0x6200_0000;
pub const NHID_SPAN: u32 = 1 << 24;
pub const NHID_PART: u32 = NHID_SPAN / 4;

/// The first id of the part a FIB managing `families` uses.
pub fn nhid_part(families: FibFamilies) -> u32 {
    NHID_BASE
        + NHID_PART
            * match (families.ipv4, families.ipv6) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Support {
    #[default]
    Unknown,
    Yes,
    No,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Not in the kernel (or not known to be): sent before the next route using it.
    #[default]
    Absent,
    Sending,
    Installed,
}

/// The object of one intent: its id (0: none yet), the member ids of a group, its state.
#[derive(Clone, Debug, Default)]
pub(super) struct Slot {
    id: u32,
    members: Box<[u32]>,
    state: State,
}

/// What one message of a batch was about.
#[derive(Clone, Copy, Debug)]
pub(super) enum Sent {
    Route(RouteKey, RouteOp),
    NhNew(u32),
    NhDel(u32),
}

#[derive(Default)]
pub(super) struct NhObjs {
    pub(super) support: Support,
    /// By intent id.
    slots: Vec<Slot>,
    /// Object id (group or member) -> intent id.
    owner: FxMap<u32, u32>,
    /// Intents whose objects are sent again in place (their next hops changed).
    queue: Vec<u32>,
    /// Objects to delete once no queued route may still refer to them.
    pub(super) retired: Vec<u32>,
    /// Routes removed while installed through an object, by the object's (top) id: deleted
    /// one by one while nothing else waits, or all at once with their retired object.
    pub(super) doomed: FxMap<u32, super::flush::Doomed>,
    /// Routes in `doomed` lists (duplicates and re-announced ones included).
    pub(super) doomed_total: usize,
    /// Retired objects (top id, members) whose doomed routes are not gone yet.
    pub(super) dooming: Vec<(u32, Box<[u32]>)>,
    /// Ours from a previous run, kept while stale routes are adopted.
    stale: Vec<u32>,
    /// Ids in our range not to take: someone else's, stale ones until deleted.
    reserved: FxSet<u32>,
    /// First id of our part of the range (`nhid_part`).
    base: u32,
    next: u32,
    free: Vec<u32>,
    /// Ids seen by the nexthop dump in progress.
    seen: FxSet<u32>,
    /// Never used: what `slot_mut` would hand out if growing the vector had failed.
    spare: Slot,
}

fn objectable(t: &Target, v4: bool) -> bool {
    let ok = |n: &Nh| n.dev != Dev::Any && n.gateway.is_ipv4() == v4;
    match t {
        Target::One(n) => ok(n),
        Target::Many(v) => !v.is_empty() && v.len() <= 256 && v.iter().all(ok),
        _ => false,
    }
}

fn same_shape(old: &Target, new: &Target) -> bool {
    let ok = |n: &Nh| n.dev != Dev::Any;
    match (old, new) {
        (Target::One(_), Target::One(n)) => ok(n),
        (Target::Many(a), Target::Many(b)) => a.len() == b.len() && b.iter().all(ok),
        _ => false,
    }
}

impl NhObjs {
    /// Objects with ids from `base` on (see [`nhid_part`]).
    pub(super) fn new(base: u32) -> NhObjs {
        NhObjs {
            base,
            ..NhObjs::default()
        }
    }

    fn alloc(&mut self) -> Option<u32> {
        while let Some(id) = self.free.pop() {
            if !self.reserved.contains(&id) && !self.owner.contains_key(&id) {
                return Some(id);
            }
        }
        while self.next < NHID_PART {
            let id = self.base + self.next;
            self.next += 1;
            if !self.reserved.contains(&id) && !self.owner.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    fn slot_mut(&mut self, intent: u32) -> &mut Slot {
        let i = intent as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        match self.slots.get_mut(i) {
            Some(s) => s,
            None => &mut self.spare, // just grown to hold `i`: not reached
        }
    }

    fn slot(&self, intent: u32) -> Option<&Slot> {
        self.slots.get(intent as usize)
    }

    /// Forgets the intent's object; it is deleted from the kernel later.
    pub(super) fn retire(&mut self, intent: u32) {
        let Some(s) = self.slots.get_mut(intent as usize) else {
            return;
        };
        let s = std::mem::take(s);
        if s.id == 0 {
            return;
        }
        for id in std::iter::once(s.id).chain(s.members.iter().copied()) {
            self.owner.remove(&id);
        }
        if self.doomed.contains_key(&s.id) {
            // Deleted with (or after) its doomed routes: see `transmit_doomed`.
            self.dooming.push((s.id, s.members));
        } else {
            self.retired
                .extend(std::iter::once(s.id).chain(s.members.iter().copied()));
        }
    }

    /// Whether `id` is in our part of the range.
    fn ours(&self, id: u32) -> bool {
        id.wrapping_sub(self.base) < NHID_PART
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| s.members.len() * 4)
                .sum::<usize>()
            + self.owner.capacity() * 12
            + self.doomed.values().map(|d| d.heap_bytes()).sum::<usize>()
    }

    pub(super) fn busy(&self) -> bool {
        !self.queue.is_empty() || !self.retired.is_empty() || self.doomed_waiting()
    }

    /// Whether doomed routes (or their retired objects) are still to be deleted.
    pub(super) fn doomed_waiting(&self) -> bool {
        !self.doomed.is_empty() || !self.dooming.is_empty()
    }

    /// The id of the intent's object when the kernel has it (0: none).
    pub(super) fn installed_id(&self, intent: u32) -> u32 {
        self.slot(intent)
            .filter(|s| s.state == State::Installed)
            .map_or(0, |s| s.id)
    }

    /// Whether `id` belongs to a retired object still waiting for its doomed routes.
    fn is_dooming(&self, id: u32) -> bool {
        self.dooming
            .iter()
            .any(|(top, m)| *top == id || m.contains(&id))
    }
}

/// Whether a kernel route of ours is what entry target `intent` wants: the right object, or
/// in plain form the right next hops (and no object). (Takes the parts it reads, so the
/// reconcile can call it while holding a desired entry.)
pub(super) fn route_matches(
    nh: &NhObjs,
    resolved: &[Target],
    name_ifindex: &[u32],
    intent: u32,
    r: &KernelRoute,
) -> bool {
    let Some(t) = resolved.get(intent as usize) else {
        return false;
    };
    if nh.support == Support::Yes && objectable(t, matches!(r.prefix, IpNet::V4(_))) {
        let id = nh.slot(intent).map_or(0, |s| s.id);
        id != 0 && r.nh_id == id
    } else {
        r.nh_id == 0 && target_matches(name_ifindex, t, r)
    }
}

impl Fib {
    /// Whether routes go through nexthop objects (configured, and the kernel has them).
    pub fn uses_nexthop_objects(&self) -> bool {
        self.nh.support == Support::Yes
    }

    /// Nexthop objects of ours in use (groups and their members count one each).
    pub fn nexthop_objects(&self) -> usize {
        self.nh.owner.len()
    }

    /// Whether a route of `intent` (IPv4 prefix or not) goes through an object.
    pub(super) fn uses_object(&self, v4: bool, intent: u32) -> bool {
        self.uses_nexthop_objects()
            && self
                .resolved
                .get(intent as usize)
                .is_some_and(|t| objectable(t, v4))
    }

    /// [`route_matches`] on this FIB.
    pub(super) fn route_matches(&self, intent: u32, r: &KernelRoute) -> bool {
        route_matches(&self.nh, &self.resolved, &self.name_ifindex, intent, r)
    }

    /// Drops a reference to an intent; its object is retired with its last route.
    pub(super) fn release_intent(&mut self, intent: u32) {
        if self.intents.release(intent) {
            self.nh.retire(intent);
        }
    }

    /// Encodes the object of `intent` when it is not in the kernel (or, with `force`, again in
    /// place), returning its id; an errno when it cannot be sent (unknown device: `ENODEV`;
    /// our id range used up: `ENOSPC`).
    pub(super) fn send_object(
        &mut self,
        intent: u32,
        force: bool,
        buf: &mut Vec<u8>,
        ops: &mut Vec<(Sent, i32)>,
        last_at: &mut usize,
    ) -> Result<u32, i32> {
        let (sid, state, mlen) = {
            let s = self.nh.slot_mut(intent);
            (s.id, s.state, s.members.len())
        };
        if state != State::Absent && !force {
            return Ok(sid);
        }
        let (hops, group) = match self.resolved.get(intent as usize) {
            Some(Target::One(n)) => (vec![*n], false),
            Some(Target::Many(v)) => (v.to_vec(), true),
            _ => return Err(libc::EINVAL),
        };
        let mut wire_hops = Vec::with_capacity(hops.len());
        for n in &hops {
            match resolve(&self.name_ifindex, n.dev) {
                Some(i) if i != 0 => wire_hops.push((n.gateway, i, n.onlink, n.weight)),
                _ => return Err(libc::ENODEV),
            }
        }
        let need = if group { wire_hops.len() } else { 0 };
        if sid == 0 || mlen != need {
            self.nh.retire(intent);
            let ids: Option<Vec<u32>> = (0..=need).map(|_| self.nh.alloc()).collect();
            let Some(ids) = ids else {
                return Err(libc::ENOSPC);
            };
            let (top, members) = ids.split_first().map_or((0, &[][..]), |(t, m)| (*t, m));
            for id in &ids {
                self.nh.owner.insert(*id, intent);
            }
            let s = self.nh.slot_mut(intent);
            s.id = top;
            s.members = members.into();
        }
        let protocol = self.cfg.protocol;
        let s = self.nh.slot_mut(intent);
        s.state = State::Sending;
        let (top, members) = (s.id, s.members.clone());
        let mut one = |fib: &mut Fib, id: u32, nh: WireNexthop<'_>| {
            let seq = fib.next_seq();
            *last_at = buf.len();
            wire::encode_newnexthop(buf, seq, false, true, protocol, id, nh);
            ops.push((Sent::NhNew(id), 0));
            fib.stats.nexthop_messages += 1;
        };
        let single = |(gateway, ifindex, onlink, _): (IpAddr, u32, bool, u16)| WireNexthop::One {
            gateway,
            ifindex,
            onlink,
        };
        if group {
            let mut grp = Vec::with_capacity(members.len());
            for (m, h) in members.iter().zip(wire_hops.iter()) {
                one(self, *m, single(*h));
                grp.push((*m, h.3));
            }
            one(self, top, WireNexthop::Group(&grp));
        } else if let Some(h) = wire_hops.first() {
            one(self, top, single(*h));
        }
        Ok(top)
    }

    /// Object replaces queued by flips and repairs; then, once no queued route can refer to
    /// them, the deletion of retired objects. Called by `poll_transmit` around the routes.
    pub(super) fn transmit_objects(
        &mut self,
        deletes: bool,
        max: usize,
        buf: &mut Vec<u8>,
        ops: &mut Vec<(Sent, i32)>,
        last_at: &mut usize,
    ) {
        if !deletes {
            while buf.len() + 512 <= max {
                let Some(intent) = self.nh.queue.pop() else {
                    break;
                };
                if self
                    .nh
                    .slot(intent)
                    .is_some_and(|s| s.state != State::Absent)
                {
                    if let Err(errno) = self.send_object(intent, true, buf, ops, last_at) {
                        tracing::warn!(errno, "nexthop object not replaced");
                    }
                }
            }
            return;
        }
        while buf.len() + 64 <= max {
            let Some(id) = self.nh.retired.pop() else {
                break;
            };
            let seq = self.next_seq();
            *last_at = buf.len();
            wire::encode_delnexthop(buf, seq, false, id);
            ops.push((Sent::NhDel(id), 0));
            self.stats.nexthop_messages += 1;
        }
    }

    /// The kernel's answer to an object message.
    pub(super) fn object_outcome(&mut self, sent: Sent, errno: i32) {
        match sent {
            Sent::NhNew(id) => {
                let Some(intent) = self.nh.owner.get(&id).copied() else {
                    return;
                };
                let s = self.nh.slot_mut(intent);
                if errno != 0 {
                    self.stats.errors += 1;
                    s.state = State::Absent;
                    tracing::warn!(id, errno, "nexthop object refused");
                } else if s.id == id && s.state == State::Sending {
                    s.state = State::Installed;
                }
            }
            Sent::NhDel(id) => {
                if errno == 0 || errno_ok_for_delete(errno) {
                    self.nh.reserved.remove(&id);
                    self.nh.free.push(id);
                } else {
                    tracing::warn!(id, errno, "nexthop object not deleted");
                }
            }
            Sent::Route(..) => {}
        }
    }

    /// Whether the kernel's object `n` (one of ours) is what its intent wants.
    fn object_matches(&self, intent: u32, n: &KernelNexthop) -> bool {
        let Some(s) = self.nh.slot(intent) else {
            return false;
        };
        let single = |h: &Nh| {
            n.group.is_empty()
                && n.gateway == Some(h.gateway)
                && resolve(&self.name_ifindex, h.dev) == Some(n.ifindex)
                && n.onlink == h.onlink
        };
        match self.resolved.get(intent as usize) {
            Some(Target::One(h)) => s.id == n.id && single(h),
            Some(Target::Many(hs)) => {
                if s.id == n.id {
                    n.group.len() == s.members.len()
                        && s.members
                            .iter()
                            .zip(hs.iter())
                            .all(|(m, h)| n.group.iter().any(|(g, w)| g == m && *w == h.weight))
                } else {
                    s.members
                        .iter()
                        .position(|m| *m == n.id)
                        .and_then(|i| hs.get(i))
                        .is_some_and(single)
                }
            }
            _ => false,
        }
    }

    /// An object in a nexthop dump.
    pub(super) fn dumped_nexthop(&mut self, n: &KernelNexthop) {
        if !self.nh.ours(n.id) {
            return;
        }
        if n.protocol != self.cfg.protocol {
            self.nh.reserved.insert(n.id); // someone else's id in our range: never taken
            return;
        }
        self.nh.seen.insert(n.id);
        if let Some(intent) = self.nh.owner.get(&n.id).copied() {
            if !self.object_matches(intent, n) && !self.nh.queue.contains(&intent) {
                self.nh.queue.push(intent);
            }
        } else if !self.nh.retired.contains(&n.id)
            && !self.nh.stale.contains(&n.id)
            && !self.nh.is_dooming(n.id)
        {
            // Ours from a previous run: kept while its routes may be adopted.
            self.nh.reserved.insert(n.id);
            if self.adopting {
                self.nh.stale.push(n.id);
            } else {
                self.nh.retired.push(n.id);
            }
        }
    }

    /// The nexthop dump ended: it worked, so the kernel has objects; ours it did not show
    /// are sent again before their routes (which the kernel removed with them).
    pub(super) fn finish_nexthop_dump(&mut self) {
        if self.nh.support != Support::Yes {
            tracing::info!("kernel nexthop objects in use");
        }
        self.nh.support = Support::Yes;
        let seen = std::mem::take(&mut self.nh.seen);
        for (intent, s) in self.nh.slots.iter_mut().enumerate() {
            if s.id == 0 || s.state == State::Absent {
                continue;
            }
            if !seen.contains(&s.id) {
                s.state = State::Absent;
            } else {
                s.state = State::Installed;
                if s.members.iter().any(|m| !seen.contains(m))
                    && !self.nh.queue.contains(&(intent as u32))
                {
                    self.nh.queue.push(intent as u32);
                }
            }
        }
    }

    /// The nexthop dump failed: no objects (an old kernel), plain routes.
    pub(super) fn nexthop_dump_failed(&mut self, errno: i32) {
        if self.nh.support == Support::Unknown {
            self.nh.support = Support::No;
            if self.cfg.nexthop_objects == NexthopObjects::On {
                tracing::warn!(errno, "kernel has no nexthop objects: plain routes");
            } else {
                tracing::info!(errno, "kernel has no nexthop objects: plain routes");
            }
        }
    }

    /// A nexthop notification from someone else about one of our objects: a deleted object
    /// is sent again (with every route that used it, which the kernel removed), a changed one
    /// replaced.
    pub(super) fn object_changed_behind_our_back(&mut self, present: bool, n: &KernelNexthop) {
        if !self.synced || self.shutting_down {
            return;
        }
        let Some(intent) = self.nh.owner.get(&n.id).copied() else {
            return;
        };
        if present && self.object_matches(intent, n) {
            return;
        }
        self.stats.third_party_route_changes += 1;
        let top = self.nh.slot(intent).is_some_and(|s| s.id == n.id);
        if present || !top {
            // Changed, or a member of a group deleted (the group shrank): put it back.
            if !self.nh.queue.contains(&intent) {
                self.nh.queue.push(intent);
            }
            return;
        }
        self.nh.slot_mut(intent).state = State::Absent;
        let mut count = 0;
        for (pk, e) in self.desired.iter_mut() {
            if e.target() == intent && !e.doomed() {
                count += 1;
                e.set_installed(false);
                if !e.queued() {
                    e.set_queued(true);
                    self.queue.push_back(pk);
                }
            }
        }
        if self.tags.on {
            // Its routes without an entry went with it: handed over again.
            self.resync();
        }
        tracing::info!(
            routes = count,
            "nexthop object deleted by someone else: restored"
        );
    }

    /// An intent's target changed from `old`: when its object can follow in place (same
    /// shape), it is queued for one replace and true is returned (its routes need nothing);
    /// otherwise the object is retired and the routes must be sent again.
    pub(super) fn object_follows(&mut self, intent: u32, old: &Target) -> bool {
        let Some(s) = self.nh.slot(intent) else {
            return false;
        };
        if s.id == 0 {
            return false;
        }
        let follows = s.state != State::Absent
            && self
                .resolved
                .get(intent as usize)
                .is_some_and(|t| same_shape(old, t));
        if follows {
            if !self.nh.queue.contains(&intent) {
                self.nh.queue.push(intent);
            }
        } else {
            self.nh.retire(intent);
        }
        follows
    }

    /// Stale objects are deleted from now on (adoption ended, or shutdown with flush).
    pub(super) fn release_stale_objects(&mut self) {
        let stale = std::mem::take(&mut self.nh.stale);
        self.nh.retired.extend(stale);
    }
}
