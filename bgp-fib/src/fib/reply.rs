//! DOC: what the kernel answers: replies to our requests matched to their batch by sequence
//! number (ACKs, errors, ENOBUFS and overruns that force a resync), dump and monitor objects
//! dispatched to the kernel view and the reconcile.

use super::*;

impl Fib {
    /// The request socket reported `ENOBUFS` (or the driver lost replies): everything in
    /// flight is uncertain. A full resync (route dump) follows.
    pub fn handle_reply_overrun(&mut self, now: Instant) {
        self.stats.overruns += 1;
        self.events.push_back(FibEvent::Overrun);
        self.in_flight.clear();
        if let Some(d) = self.dump.take() {
            self.dump_queue.push_front(d.kind);
        }
        self.request_scan(now);
        self.handle_timeout(now);
    }

    /// The monitor socket reported `ENOBUFS`: notifications were lost; re-dump interfaces,
    /// addresses and routes.
    pub fn handle_monitor_overrun(&mut self, now: Instant) {
        self.stats.overruns += 1;
        self.events.push_back(FibEvent::Overrun);
        for k in [DumpKind::Links, DumpKind::Addresses] {
            if !self.dump_queue.contains(&k) && self.dump.as_ref().map(|d| d.kind) != Some(k) {
                self.dump_queue.push_back(k);
            }
        }
        self.request_scan(now);
        self.handle_timeout(now);
    }

    /// Bytes received on the request socket: ACKs, errors and dump parts.
    pub fn handle_reply(&mut self, now: Instant, datagram: &[u8]) -> Result<(), wire::WireError> {
        for m in wire::Messages::new(datagram) {
            let (hdr, payload) = m?;
            if let Some(d) = &mut self.dump {
                if hdr.seq == d.seq {
                    d.first_reply.get_or_insert(now);
                    if hdr.flags & wire::NLM_F_DUMP_INTR != 0 {
                        d.interrupted = true;
                    }
                    match hdr.kind {
                        wire::NLMSG_DONE => self.finish_dump(now),
                        wire::NLMSG_ERROR => {
                            // A dump refused (EBUSY...): retry at the next scan.
                            let e = wire::parse_error(payload)?;
                            if d.kind == DumpKind::Nexthops {
                                // No nexthop objects in this kernel: plain routes.
                                self.dump = None;
                                self.nexthop_dump_failed(e);
                                continue;
                            }
                            tracing::warn!(errno = e, "netlink dump failed");
                            self.dump = None;
                            self.request_scan(now);
                        }
                        _ => self.handle_object(now, hdr.kind, payload, Origin::Dump),
                    }
                    continue;
                }
            }
            match hdr.kind {
                wire::NLMSG_ERROR => {
                    let e = wire::parse_error(payload)?;
                    self.handle_ack(now, hdr.seq, e);
                }
                wire::NLMSG_NOOP | wire::NLMSG_DONE | wire::NLMSG_OVERRUN => {}
                k => self.handle_object(now, k, payload, Origin::Own),
            }
        }
        Ok(())
    }

    /// Bytes received on the monitor socket: link, address and route notifications.
    pub fn handle_notification(
        &mut self,
        now: Instant,
        datagram: &[u8],
    ) -> Result<(), wire::WireError> {
        for m in wire::Messages::new(datagram) {
            let (hdr, payload) = m?;
            let origin = if self.own_portid != 0 && hdr.pid == self.own_portid {
                Origin::Own
            } else {
                Origin::Other
            };
            self.handle_object(now, hdr.kind, payload, origin);
        }
        Ok(())
    }

    pub(super) fn handle_ack(&mut self, now: Instant, seq: u32, errno: i32) {
        // Find the batch; batches are acknowledged in order on one socket, so anything
        // for a later batch while an earlier one is open means a lost message.
        let Some(front) = self.in_flight.front_mut() else {
            return; // stale reply from before an overrun
        };
        // Sequence numbers wrap: compare as distances from the batch's first message.
        let d = seq.wrapping_sub(front.first_seq) as i32;
        let span = front.ack_seq.wrapping_sub(front.first_seq) as i32;
        if d < 0 {
            return; // older than anything open: a reply from before an overrun
        }
        if d > span {
            tracing::warn!(seq, "netlink ACK lost: resync");
            self.handle_reply_overrun(now);
            return;
        }
        let idx = d as usize;
        if errno != 0 {
            if let Some(op) = front.ops.get_mut(idx) {
                op.1 = errno;
            }
        }
        if seq == front.ack_seq {
            self.last_write = Some(now);
            if let Some(b) = self.in_flight.pop_front() {
                self.complete(b);
            }
        }
    }

    pub(super) fn complete(&mut self, batch: Batch) {
        for (sent, errno) in batch.ops {
            let Sent::Route(key, op) = sent else {
                self.object_outcome(sent, errno);
                continue;
            };
            let ok = errno == 0 || (op == RouteOp::Delete && errno_ok_for_delete(errno));
            if ok {
                if op != RouteOp::Delete {
                    if let Some(pk) = self.tm.find(&key) {
                        self.installed(pk);
                    }
                }
                let was_failed = self.failed.remove(&key).is_some();
                if self.cfg.report_success || was_failed {
                    self.events
                        .push_back(FibEvent::Outcome { key, op, errno: 0 });
                }
            } else {
                self.stats.errors += 1;
                self.report_failure(key, op, errno);
            }
        }
    }

    pub(super) fn report_failure(&mut self, key: RouteKey, op: RouteOp, errno: i32) {
        if self.failed.insert(key, errno) != Some(errno) {
            self.events.push_back(FibEvent::Outcome { key, op, errno });
        }
    }

    pub(super) fn handle_object(
        &mut self,
        now: Instant,
        kind: u16,
        payload: &[u8],
        origin: Origin,
    ) {
        match kind {
            wire::RTM_NEWROUTE | wire::RTM_DELROUTE => {
                let mut r = std::mem::take(&mut self.scratch);
                match wire::parse_route_into(payload, &mut r) {
                    Ok(()) => {
                        let present = kind == wire::RTM_NEWROUTE;
                        match origin {
                            Origin::Dump => self.dumped_route(&r),
                            _ if r.protocol != self.cfg.protocol => {
                                self.notified_route(present, &r)
                            }
                            Origin::Own => self.stats.own_route_notifications += 1,
                            Origin::Other => self.changed_behind_our_back(now, present, &r),
                        }
                    }
                    Err(e) => tracing::debug!(%e, "unparsable route message"),
                }
                self.scratch = r;
            }
            wire::RTM_NEWNEXTHOP | wire::RTM_DELNEXTHOP => match wire::parse_nexthop(payload) {
                Ok(n) => match origin {
                    Origin::Dump => self.dumped_nexthop(&n),
                    Origin::Own => {}
                    Origin::Other => {
                        self.object_changed_behind_our_back(kind == wire::RTM_NEWNEXTHOP, &n)
                    }
                },
                Err(e) => tracing::debug!(%e, "unparsable nexthop message"),
            },
            wire::RTM_NEWLINK | wire::RTM_DELLINK => match wire::parse_link(payload) {
                Ok(l) => self.link(now, kind == wire::RTM_NEWLINK, l),
                Err(e) => tracing::debug!(%e, "unparsable link message"),
            },
            wire::RTM_NEWADDR | wire::RTM_DELADDR => match wire::parse_address(payload) {
                Ok(a) => self.address(kind == wire::RTM_NEWADDR, a),
                Err(e) => tracing::debug!(%e, "unparsable address message"),
            },
            _ => {}
        }
    }

    /// Generation of the current (or last) dump: objects seen carry it, and objects with
    /// an older one when a dump completes have left the kernel.
    pub(super) fn dump_gen(&self) -> u32 {
        self.epoch
    }
}

/// Where a route, link or address message came from.
#[derive(Clone, Copy)]
pub(super) enum Origin {
    /// A part of a dump we asked for.
    Dump,
    /// A notification of our own write (or an unsolicited message on the request socket).
    Own,
    /// A notification of someone else's change.
    Other,
}
