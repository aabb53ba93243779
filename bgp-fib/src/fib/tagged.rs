//! DOC: tagged mode inside the `Fib` (see [`crate::tags`] for the contract with the driver).
//! A tag names an interned intent and a metric; the tag holds the intent's one reference (its
//! routes hold none), so its object retires when the driver forgets the tag. A route gets an
//! entry in `desired` only while it is queued, in flight or failed, and loses it when the
//! kernel acknowledges it; a withdrawn one that goes with its object has no entry at all, only
//! its key in the object's doomed list (a key re-announced meanwhile is kept in `revived`, so
//! its route is not deleted one by one). Routes without an entry are found through the
//! driver's [`DesiredTags`] (scans, repairs) or handed over again ([`FibEvent::Resync`]).

use super::*;
use crate::intent::RouteIntent;
use crate::tags::DesiredTags;

/// What a tag stands for in the `Fib`.
#[derive(Clone, Copy, Debug)]
pub(super) struct TagDef {
    /// The interned intent (holding one reference for the tag).
    pub intent: u32,
    pub metric: u32,
}

#[derive(Default)]
pub(super) struct Tags {
    /// On once the driver defined a tag: entries are then dropped once installed.
    pub on: bool,
    /// By tag; `None`: not defined, or its intent installs nothing.
    pub defs: Vec<Option<TagDef>>,
    /// Prefixes with a defined tag: the desired routes.
    pub routes: usize,
    /// Tagged changes applied (what the driver's answers are checked against).
    pub applied: u64,
    /// Keys re-announced while withdrawn routes wait in doomed lists.
    pub revived: KeyMap<()>,
    /// The driver's answers.
    pub desired: Option<Box<dyn DesiredTags>>,
    /// Shutting down with `flush_on_shutdown`: the route dump deletes every route of ours.
    pub purge: bool,
}

impl Fib {
    /// Sets where the FIB looks up a prefix's tag in tagged mode (scans, repairs). Without it,
    /// a scan in tagged mode leaves routes it has no entry for alone.
    pub fn set_desired_tags(&mut self, desired: Box<dyn DesiredTags>) {
        self.tags.desired = Some(desired);
    }

    /// Tags defined (tagged mode).
    pub fn tag_count(&self) -> usize {
        self.tags.defs.iter().flatten().count()
    }

    pub(super) fn tag_def(&self, tag: u32) -> Option<TagDef> {
        self.tags.defs.get(tag as usize).copied().flatten()
    }

    pub(super) fn define_tag(&mut self, tag: u32, ri: RouteIntent) {
        self.tags.on = true;
        self.forget_tag(tag); // defined twice: the driver's mistake, not a leak
        let metric = ri.metric.unwrap_or(self.cfg.routes.metric);
        let def = match self.stored_intent(&ri) {
            Some(intent) => {
                let id = self.acquire_intent(intent);
                if id > MAX_INTENT {
                    self.release_intent(id);
                    tracing::warn!(tag, "too many distinct routes: tag not installed");
                    None
                } else {
                    Some(TagDef { intent: id, metric })
                }
            }
            None => None,
        };
        let i = tag as usize;
        if self.tags.defs.len() <= i {
            self.tags.defs.resize(i + 1, None);
        }
        if let Some(slot) = self.tags.defs.get_mut(i) {
            *slot = def;
        }
    }

    pub(super) fn forget_tag(&mut self, tag: u32) {
        if let Some(def) = self.tags.defs.get_mut(tag as usize).and_then(Option::take) {
            tracing::debug!(tag, doomed = self.nh.doomed_total, "tag forgotten");
            self.release_intent(def.intent); // its object may retire now
        }
    }

    /// [`FibChange::Tagged`].
    pub(super) fn tagged(&mut self, prefix: IpNet, old: u32, new: u32) {
        self.tags.on = true;
        self.tags.applied += 1;
        if self
            .dump
            .as_ref()
            .is_some_and(|d| d.kind == DumpKind::Routes)
        {
            self.scan.unsure = true;
        }
        let (od, nd) = (self.tag_def(old), self.tag_def(new));
        if od.is_some() {
            self.tags.routes = self.tags.routes.saturating_sub(1);
        }
        if nd.is_some() {
            self.tags.routes += 1;
        }
        let table = self.cfg.routes.table;
        match (od, nd) {
            (Some(o), Some(n)) if o.metric == n.metric => {
                self.tagged_set(RouteKey::new(table, prefix, n.metric), n.intent, true);
            }
            _ => {
                if let Some(o) = od {
                    self.tagged_remove(RouteKey::new(table, prefix, o.metric), o.intent);
                }
                if let Some(n) = nd {
                    self.tagged_set(RouteKey::new(table, prefix, n.metric), n.intent, false);
                }
            }
        }
    }

    /// Queues the route of `key` to `intent`; `ours`: our route may be in the kernel under
    /// this key (replace it rather than add exclusively).
    fn tagged_set(&mut self, key: RouteKey, intent: u32, ours: bool) {
        if !self.tables.contains(&key.table) {
            self.tables.insert(key.table);
        }
        let Some(pk) = self.tm.pack(&key) else {
            self.report_failure(key, RouteOp::Add, libc::ENOSPC);
            return;
        };
        let was_deleting = !self.pending_deletes.is_empty()
            && self
                .pending_deletes
                .remove(pk)
                .is_some_and(|v| v != flush::NOT_INSTALLED);
        let was_adopted = !self.adopted.is_empty() && self.adopted.remove(pk).is_some();
        // A withdrawn route waiting in a doomed list may still be in the kernel under this
        // key (no entry says so): replace, unless the key is another protocol's route.
        let dooming = self.nh.doomed_total > 0;
        if dooming {
            self.tags.revived.insert(pk, ());
        }
        let replace =
            ours || was_deleting || was_adopted || (dooming && !self.learned.contains_key(&key));
        match self.desired.get_mut(pk) {
            Some(e) if e.doomed() => {
                // Its delete not sent yet: replaced instead.
                let queued = e.queued();
                *e = Entry::new(intent, true, true);
                self.undoomed(pk, queued);
            }
            Some(e) => {
                e.set_target(intent);
                if replace {
                    e.set_installed(true);
                }
                if !e.queued() {
                    e.set_queued(true);
                    self.queue.push_back(pk);
                }
            }
            None => {
                self.desired.insert(pk, Entry::new(intent, replace, true));
                self.queue.push_back(pk);
            }
        }
    }

    /// Takes the route of `key` (last handed over as `intent`) out of the kernel.
    fn tagged_remove(&mut self, key: RouteKey, intent: u32) {
        let refused = self.failed.remove(&key).is_some();
        let Some(pk) = self.tm.pack(&key) else {
            return;
        };
        if !self.tags.revived.is_empty() {
            self.tags.revived.remove(pk);
        }
        // Without an entry, the kernel has acknowledged the route.
        let e = match self.desired.get(pk).copied() {
            Some(e) if e.doomed() => return, // its delete is queued already
            Some(e) => e,
            None => Entry::new(intent, true, false),
        };
        if !refused && self.doom_tagged(pk, &e) {
            self.desired.remove(pk);
            return;
        }
        if e.installed() && !refused {
            // Its delete goes through the queue (an entry while it waits there).
            self.desired.insert(pk, Entry::deleting());
            self.doomed_entries += 1;
            if !e.queued() {
                self.queue.push_back(pk);
            }
            return;
        }
        self.desired.remove(pk);
        // Queued and never sent, or refused: not in the kernel. Sent and not acknowledged
        // yet: its delete follows it.
        if !(e.queued() || refused)
            && self
                .pending_deletes
                .insert(pk, flush::NOT_INSTALLED)
                .is_none()
        {
            self.queue.push_back(pk);
        }
    }

    /// Like `doom`, without an entry: the key joins its object's doomed list.
    fn doom_tagged(&mut self, pk: Packed, e: &Entry) -> bool {
        let Some(top) = self.dooming_object(pk, e) else {
            return false;
        };
        self.add_doomed(top, pk);
        true
    }

    /// Whether a key from a doomed list is still withdrawn (tagged mode: not announced again
    /// since).
    pub(super) fn tagged_still_doomed(&self, pk: Packed) -> bool {
        !self.tags.revived.contains(pk) && !self.desired.contains(pk)
    }

    /// The driver's tag for `prefix`; `None` when it cannot be trusted now (no driver
    /// answers, or the driver is ahead of what we applied).
    fn lookup_tag(&self, prefix: &IpNet) -> Option<u32> {
        self.tags
            .desired
            .as_ref()
            .and_then(|d| d.tag(prefix, self.tags.applied))
    }

    /// The tag definition of a route of ours the FIB holds no entry for, when the driver
    /// wants it under exactly this key; `Err(())` when the driver's answer cannot be trusted.
    fn wanted_def(&self, r: &KernelRoute) -> Result<Option<TagDef>, ()> {
        if r.table != self.cfg.routes.table {
            return Ok(None);
        }
        let tag = self.lookup_tag(&r.prefix).ok_or(())?;
        Ok(self.tag_def(tag).filter(|d| d.metric == r.metric))
    }

    /// A dumped route of ours without an entry, in tagged mode: true when it is handled
    /// (right, queued for a replace, or not to be judged now); false: it is not wanted.
    pub(super) fn dumped_tagged(&mut self, key: &RouteKey, r: &KernelRoute) -> bool {
        if self.tags.purge {
            return false;
        }
        match self.wanted_def(r) {
            Err(()) => {
                self.scan.unsure = true;
                true
            }
            Ok(None) => false,
            Ok(Some(d)) => {
                if route_matches_intent(self, d.intent, r) {
                    self.scan.tagged_seen += 1;
                } else if let Some(pk) = self.tm.pack(key) {
                    let mut e = Entry::new(d.intent, true, true);
                    e.set_seen(true);
                    self.desired.insert(pk, e);
                    self.queue.push_back(pk);
                    self.scan.replaced += 1;
                }
                true
            }
        }
    }

    /// A route of ours changed by someone else, without an entry, in tagged mode: gives it an
    /// entry when the driver wants it (the caller repairs it from there) and returns true;
    /// false when it is not wanted. Asks for a scan when the driver cannot answer now.
    pub(super) fn repair_tagged(&mut self, pk: Packed, r: &KernelRoute, now: Instant) -> bool {
        match self.wanted_def(r) {
            Err(()) => {
                self.request_scan(now);
                true
            }
            Ok(None) => false,
            Ok(Some(d)) => {
                self.desired.insert(pk, Entry::new(d.intent, true, false));
                true
            }
        }
    }

    /// After a route dump in tagged mode: the routes without an entry the dump should have
    /// shown (all of them: nothing is queued or in flight while a route dump runs) against
    /// those it showed right; missing ones are asked for again.
    pub(super) fn finish_tagged_dump(&mut self) {
        if !self.tags.on || self.tags.purge {
            return;
        }
        let with_entry = self.desired.len().saturating_sub(self.doomed_entries);
        let without = self.tags.routes.saturating_sub(with_entry);
        if !self.scan.unsure && self.scan.tagged_seen < without {
            self.scan.added += without - self.scan.tagged_seen;
            self.resync();
        }
    }

    /// `shutdown` with `flush_on_shutdown` in tagged mode: every tag lets go of its object
    /// (the kernel removes the routes using it) and a route dump finds the rest.
    pub(super) fn shutdown_tagged(&mut self) {
        let defs = std::mem::take(&mut self.tags.defs);
        for d in defs.into_iter().flatten() {
            self.release_intent(d.intent);
        }
        self.tags.routes = 0;
        self.tags.purge = true;
        self.dump_queue.push_back(DumpKind::Routes);
    }

    /// Asks the driver to hand every prefix over again.
    pub(super) fn resync(&mut self) {
        self.stats.resyncs += 1;
        self.events.push_back(FibEvent::Resync);
    }

    /// Tagged mode: drops the entry of a route the kernel now has as we want it.
    /// The kernel acknowledged the route of `pk` (not a delete): its entry says so, and goes
    /// in tagged mode when nothing else waits for it (one look-up for both).
    pub(super) fn installed(&mut self, pk: Packed) {
        let Some(e) = self.desired.get_mut(pk) else {
            return;
        };
        e.set_installed(true); // (a doomed entry is installed already)
        if self.tags.on && !e.queued() && !e.doomed() {
            self.desired.remove(pk);
        }
    }

    pub(super) fn evict_installed(&mut self, pk: Packed) {
        if self.tags.on
            && self
                .desired
                .get(pk)
                .is_some_and(|e| e.installed() && !e.queued() && !e.doomed())
        {
            self.desired.remove(pk);
        }
    }
}

fn route_matches_intent(fib: &Fib, intent: u32, r: &KernelRoute) -> bool {
    super::nhobj::route_matches(&fib.nh, &fib.resolved, &fib.name_ifindex, intent, r)
}
