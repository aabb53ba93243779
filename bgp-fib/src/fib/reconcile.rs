//! DOC: reconcile after a dump: each of our kernel routes compared with the desired state
//! (kept, replaced or deleted; strays of our protocol removed), the dump's end and the next
//! scan's delay (a scan of a large table pushes the next one out).

use super::nhobj::route_matches;
use super::*;

impl Fib {
    pub(super) fn dumped_route(&mut self, r: &KernelRoute) {
        if r.table == wire::RT_TABLE_LOCAL || !self.cfg.families.contains(&r.prefix) {
            return;
        }
        if r.protocol != self.cfg.protocol {
            if self.learnable(r) {
                self.learn(r);
            }
            return;
        }
        if !self.tables.contains(&r.table) {
            return;
        }
        let key = RouteKey::new(r.table, r.prefix, r.metric);
        let pk = self.tm.find(&key);
        match pk.and_then(|k| self.desired.get_mut(k).map(|e| (k, e))) {
            Some((_, e)) if e.doomed() => {} // goes with its object (or is deleted alone)
            Some((_, e)) if e.seen() => {}   // a duplicate under our key: leave it
            Some((pk, e)) => {
                e.set_seen(true);
                e.set_installed(true);
                if route_matches(&self.nh, &self.resolved, &self.name_ifindex, e.target(), r) {
                    // Already right in the kernel (adopted at start-up): nothing to send.
                    e.set_queued(false);
                } else {
                    self.scan.replaced += 1;
                    if !e.queued() {
                        e.set_queued(true);
                        self.queue.push_back(pk);
                    }
                }
            }
            None => {
                if pk.is_some_and(|k| self.pending_deletes.contains(k)) {
                    return; // a delete is already queued
                }
                if self.tags.on && self.dumped_tagged(&key, r) {
                    return;
                }
                let Some(pk) = self.tm.pack(&key) else {
                    return;
                };
                if self.adopting {
                    self.adopted.insert(pk, ());
                } else {
                    self.pending_deletes
                        .insert(pk, super::flush::INSTALLED_ROUTE);
                    self.queue.push_back(pk);
                    self.scan.deleted += 1;
                }
            }
        }
    }

    /// A route of our protocol added, changed or deleted by someone else (the monitor saw
    /// it): repaired now instead of at the next scan. A deleted route is added again (an
    /// exclusive add, as after a scan: a foreign route that took its place is not
    /// overwritten; a multipath route replaces, since only one of its next hops may have
    /// gone), a changed one replaced, one we do not want removed (unless adopting).
    pub(super) fn changed_behind_our_back(&mut self, now: Instant, present: bool, r: &KernelRoute) {
        if r.table == wire::RT_TABLE_LOCAL
            || !self.cfg.families.contains(&r.prefix)
            || !self.tables.contains(&r.table)
            || !self.synced
            || self.shutting_down
        {
            return;
        }
        self.stats.third_party_route_changes += 1;
        let key = RouteKey::new(r.table, r.prefix, r.metric);
        let Some(pk) = self.tm.pack(&key) else {
            return;
        };
        let mut entry = self.desired.get(pk).copied();
        if entry.is_none()
            && self.tags.on
            && !self.pending_deletes.contains(pk)
            && self.repair_tagged(pk, r, now)
        {
            entry = self.desired.get(pk).copied();
            if entry.is_none() {
                return; // to be judged by a scan
            }
        }
        if entry.is_some_and(|e| e.doomed()) {
            // Withdrawn: its delete (alone or with its object) is on the way.
        } else if let Some(id) = self.desired.get(pk).map(|e| e.target()) {
            let matches = present && self.route_matches(id, r);
            let many = matches!(self.resolved.get(id as usize), Some(Target::Many(_)))
                && !self.uses_object(matches!(r.prefix, IpNet::V4(_)), id);
            let Some(e) = self.desired.get_mut(pk) else {
                return;
            };
            if present {
                e.set_installed(true);
                if matches {
                    self.evict_installed(pk); // (tagged mode: given an entry to compare)
                    return;
                }
            } else if !many {
                e.set_installed(false);
            }
            if !e.queued() {
                e.set_queued(true);
                self.queue.push_back(pk);
            }
        } else if present && self.adopting {
            self.adopted.insert(pk, ());
        } else if present && !self.pending_deletes.contains(pk) {
            self.pending_deletes
                .insert(pk, super::flush::INSTALLED_ROUTE);
            self.queue.push_back(pk);
        }
    }

    pub(super) fn finish_dump(&mut self, now: Instant) {
        let Some(d) = self.dump.take() else { return };
        let gen = self.epoch;
        match d.kind {
            DumpKind::Links => {
                let gone: Vec<u32> = self
                    .links
                    .iter()
                    .filter(|(_, l)| l.gen != gen)
                    .map(|(i, _)| *i)
                    .collect();
                for i in gone {
                    self.forget_link(i);
                }
            }
            DumpKind::Addresses => {
                let mut gone = Vec::new();
                for (i, v) in self.addrs.iter_mut() {
                    v.retain(|e| {
                        if e.2 != gen {
                            gone.push((*i, e.0, e.1));
                        }
                        e.2 == gen
                    });
                }
                self.addrs.retain(|_, v| !v.is_empty());
                for k in gone {
                    self.address_event(false, k);
                }
            }
            DumpKind::Nexthops => self.finish_nexthop_dump(),
            DumpKind::Routes => {
                self.stats.scans += 1;
                self.scan_requested = false;
                self.scan_due_since = None;
                if d.interrupted {
                    // The table changed during the dump: what we saw is inconsistent.
                    self.scan = ScanCounts::default();
                    self.request_scan(now);
                    return;
                }
                let mut missing = Vec::new();
                for (k, e) in self.desired.iter_mut() {
                    if !e.seen() && !e.doomed() {
                        e.set_installed(false);
                        self.scan.added += 1;
                        if !e.queued() {
                            e.set_queued(true);
                            missing.push(k);
                        }
                    }
                }
                self.queue.extend(missing);
                self.finish_tagged_dump();
                let gone: Vec<RouteKey> = self
                    .learned
                    .iter()
                    .filter(|(_, (_, g))| *g != gen)
                    .map(|(k, _)| *k)
                    .collect();
                for k in gone {
                    self.learned.remove(&k);
                    self.events.push_back(FibEvent::LearnedRemove(k));
                }
                let s = std::mem::take(&mut self.scan);
                if s.added + s.replaced + s.deleted > 0 {
                    tracing::info!(s.added, s.replaced, s.deleted, "kernel FIB reconciled");
                }
                // Reported after the start-up reconcile and whenever a scan had to act.
                if !self.synced || s.added + s.replaced + s.deleted > 0 {
                    self.events.push_back(FibEvent::Reconciled {
                        added: s.added,
                        replaced: s.replaced,
                        deleted: s.deleted,
                    });
                }
                self.synced = true;
                let took = now.saturating_duration_since(d.first_reply.unwrap_or(now));
                self.next_scan = Some(now + next_scan_delay(self.cfg.scan_interval, took));
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Outputs
}
