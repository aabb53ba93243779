//! DOC: what is sent: sequence numbers, coalesced changes taken from the queue (in scattered
//! order once many wait: the kernel's trie deletes faster that way) and packed into batched
//! netlink requests, and the events delivered to the driver.

use super::*;

impl Fib {
    pub(super) fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Fills `buf` (cleared first) with the next thing to send on the request socket: a
    /// dump request, or a batch of route messages (up to `max_batch_bytes`, the last one
    /// asking for an ACK). Returns false when there is nothing to send now.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        if self.dump.is_some() {
            return false;
        }
        if let Some(kind) = self.dump_queue.front().copied() {
            if !self.in_flight.is_empty() {
                return false; // dump once our writes are acknowledged
            }
            // Sending the route dump waits until queued route changes and doomed routes are
            // flushed (a scan in the middle of a withdrawal would read the whole table before
            // its object goes), except at start-up (nothing may be sent before the first
            // reconcile).
            let flushed = self.queue.is_empty() && !self.nh.doomed_waiting();
            if kind != DumpKind::Routes || !self.synced || flushed {
                self.dump_queue.pop_front();
                let seq = self.next_seq();
                if kind == DumpKind::Routes {
                    self.scan = ScanCounts::default();
                    // What this dump shows is marked afresh (an earlier dump may have ended
                    // early, leaving marks).
                    for (_, e) in self.desired.iter_mut() {
                        e.set_seen(false);
                    }
                }
                self.epoch = (self.epoch.wrapping_add(1) & EPOCH_MASK).max(1);
                wire::encode_dump(buf, seq, kind);
                self.dump = Some(Dump {
                    kind,
                    seq,
                    interrupted: false,
                    first_reply: None,
                });
                return true;
            }
        }
        if !self.synced || self.in_flight.len() >= self.cfg.max_batches_in_flight.max(1) {
            return false;
        }
        let max = self.cfg.max_batch_bytes.max(1024);
        let mut ops = Vec::new();
        let first_seq = self.seq;
        let mut last_at = 0usize;
        let mut nhbuf: Vec<WireNextHop> = Vec::new();
        self.transmit_objects(false, max, buf, &mut ops, &mut last_at);
        while buf.len() + 512 <= max {
            let Some(pk) = self.queue.pop() else {
                break;
            };
            let key = self.tm.unpack(pk);
            let protocol = self.cfg.protocol;
            // One look-up per route taken (the entry's bucket is a cache miss in a queue of
            // scattered keys).
            let entry = match self.desired.get_mut(pk) {
                Some(e) if !e.queued() => continue,
                Some(e) if e.doomed() => {
                    // Withdrawn route by route: its delete now.
                    self.desired.remove(pk);
                    self.doomed_entries = self.doomed_entries.saturating_sub(1);
                    self.encode_delete(key, buf, &mut ops, &mut last_at);
                    continue;
                }
                Some(e) => {
                    e.set_queued(false);
                    Some((e.target(), e.installed()))
                }
                None => None,
            };
            if let Some((target_id, replace)) = entry {
                let op = if replace {
                    RouteOp::Replace
                } else {
                    RouteOp::Add
                };
                let object = if self.uses_object(matches!(pk, Packed::V4(_)), target_id) {
                    match self.send_object(target_id, false, buf, &mut ops, &mut last_at) {
                        Ok(id) => Some(id),
                        Err(errno) => {
                            self.report_failure(key, op, errno);
                            continue;
                        }
                    }
                } else {
                    None
                };
                nhbuf.clear();
                let mut unresolved = false;
                let mut nh = |n: &Nh| WireNextHop {
                    gateway: n.gateway,
                    ifindex: match resolve(&self.name_ifindex, n.dev) {
                        Some(i) => i,
                        None => {
                            unresolved = true;
                            0
                        }
                    },
                    onlink: n.onlink,
                    weight: n.weight,
                };
                let target = match (object, self.resolved.get(target_id as usize)) {
                    (Some(id), _) => WireTarget::Object(id),
                    (None, Some(Target::Blackhole)) => WireTarget::Blackhole,
                    (None, None | Some(Target::Unreachable)) => WireTarget::Unreachable,
                    (None, Some(Target::Prohibit)) => WireTarget::Prohibit,
                    (None, Some(Target::One(n))) => {
                        nhbuf.push(nh(n));
                        WireTarget::Unicast(&nhbuf)
                    }
                    (None, Some(Target::Many(nhs))) => {
                        nhbuf.extend(nhs.iter().map(&mut nh));
                        WireTarget::Unicast(&nhbuf)
                    }
                };
                if unresolved {
                    self.report_failure(key, op, libc::ENODEV);
                    continue;
                }
                let seq = self.next_seq();
                last_at = buf.len();
                wire::encode_newroute(
                    buf,
                    seq,
                    false,
                    replace,
                    protocol,
                    key.table,
                    &key.prefix,
                    key.metric,
                    target,
                );
                ops.push((Sent::Route(key, op), 0));
            } else if self.pending_deletes.remove(pk).is_some() {
                self.encode_delete(key, buf, &mut ops, &mut last_at);
            }
        }
        if self.queue.is_empty() {
            // Nothing else waits: doomed routes go now (one by one, or with their object).
            self.transmit_doomed(max, buf, &mut ops, &mut last_at);
            // Every route that may have used a retired object has been sent.
            self.transmit_objects(true, max, buf, &mut ops, &mut last_at);
        }
        self.queue.release_if_empty(); // a full load's queue is not kept around
        if ops.is_empty() {
            buf.clear();
            return false;
        }
        // Ask for an ACK on the last message: the kernel handles a batch in order, so its
        // ACK means every earlier message without an error report succeeded.
        if let Some(f) = buf.get_mut(last_at + 6..last_at + 8) {
            if let Ok(b) = <[u8; 2]>::try_from(&*f) {
                let flags = u16::from_ne_bytes(b) | wire::NLM_F_ACK;
                f.copy_from_slice(&flags.to_ne_bytes());
            }
        }
        let ack_seq = first_seq.wrapping_add(ops.len() as u32 - 1);
        self.stats.messages_sent += ops.len() as u64;
        self.stats.batches_sent += 1;
        self.in_flight.push_back(Batch {
            first_seq,
            ack_seq,
            ops,
        });
        self.stats.most_in_flight = self.stats.most_in_flight.max(self.in_flight.len() as u64);
        true
    }

    /// Appends the delete of our route under `key`.
    pub(super) fn encode_delete(
        &mut self,
        key: RouteKey,
        buf: &mut Vec<u8>,
        ops: &mut Vec<(Sent, i32)>,
        last_at: &mut usize,
    ) {
        let seq = self.next_seq();
        *last_at = buf.len();
        wire::encode_delroute(
            buf,
            seq,
            false,
            self.cfg.protocol,
            key.table,
            &key.prefix,
            key.metric,
            wire::RTN_UNSPEC,
        );
        ops.push((Sent::Route(key, RouteOp::Delete), 0));
    }

    /// The next event for the daemon.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FibEvent> {
        self.events.pop_front()
    }
}
