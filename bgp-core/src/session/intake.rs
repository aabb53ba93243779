//! DOC: what a [`Session`] does with received bytes: framing, protocol and FSM errors
//! (NOTIFICATIONs), the OPEN exchange and capability negotiation, and, once Established,
//! UPDATE intake (RFC 7606 outcomes, max-prefix, End-of-RIB) and route refresh.

use super::*;

impl Session {
    pub(super) fn max_len(&self) -> usize {
        match &self.state {
            State::Established(e) => e.negotiated.max_message_len(),
            _ => MAX_MESSAGE_LEN,
        }
    }

    /// Handles every complete message at the start of `buf`; returns the octets consumed.
    ///
    /// Messages are copied out of `buf` in chunks of up to [`COPY_CHUNK`] octets (one copy and
    /// one allocation for many small messages) and decoded from slices of the chunk, so what a
    /// decoded value keeps alive is at most one chunk, never the caller's read buffer.
    pub(super) fn process(&mut self, now: Instant, buf: &[u8]) -> usize {
        let mut pos = 0;
        let mut chunk = Bytes::new();
        let mut chunk_start = 0;
        while self.is_connected() {
            let rest = buf.get(pos..).unwrap_or_default();
            match frame(rest, self.max_len()) {
                Ok(Some(len)) => {
                    let mut off = pos - chunk_start;
                    if off + len > chunk.len() {
                        let take = rest.len().min(len.max(COPY_CHUNK));
                        chunk = Bytes::copy_from_slice(rest.get(..take).unwrap_or_default());
                        chunk_start = pos;
                        off = 0;
                    }
                    let msg = chunk.slice(off..off + len);
                    pos += len;
                    if let Some(&ty) = msg.get(18) {
                        self.stats.received.count(ty);
                    }
                    self.on_frame(now, msg);
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(now, &e);
                    break;
                }
            }
        }
        pos
    }

    pub(super) fn protocol_error(&mut self, now: Instant, e: &DecodeError) {
        // RFC 4271 §6: "When any of the conditions described here are detected, a NOTIFICATION
        // message, with the indicated Error Code, Error Subcode, and Data fields, is sent, and
        // the BGP connection is closed".
        self.close(
            now,
            DownReason::NotificationSent(e.to_notification()),
            Restart::Backoff,
            true,
        );
    }

    pub(super) fn fsm_error(&mut self, now: Instant) {
        // RFC 6608 §4: subcodes 1, 2 and 3 name the state the unexpected message arrived in.
        let sub = match self.state() {
            StateKind::OpenSent => 1,
            StateKind::OpenConfirm => 2,
            StateKind::Established => 3,
            _ => 0,
        };
        self.close(
            now,
            DownReason::NotificationSent(Notification::fsm_error(sub)),
            Restart::Backoff,
            true,
        );
    }

    pub(super) fn on_frame(&mut self, now: Instant, msg: Bytes) {
        if let State::Established(e) = &self.state {
            match Message::decode(msg, &e.negotiated) {
                Ok(m) => self.established_message(now, m),
                Err(e) => self.protocol_error(now, &e),
            }
            return;
        }
        // Before Established there is no context to decode UPDATE or ROUTE-REFRESH with, and
        // both are unexpected anyway (RFC 6608).
        let ty = msg.get(18).copied();
        if ty == Some(MessageType::Update.code()) || ty == Some(MessageType::RouteRefresh.code()) {
            self.fsm_error(now);
            return;
        }
        match Message::decode(msg, &Negotiated::pre_open()) {
            Ok(m) => self.opening_message(now, m),
            Err(e) => self.protocol_error(now, &e),
        }
    }

    pub(super) fn opening_message(&mut self, now: Instant, m: Message) {
        match (&self.state, m) {
            (_, Message::Notification(n)) => {
                self.close(
                    now,
                    DownReason::NotificationReceived(n),
                    Restart::Backoff,
                    true,
                );
            }
            (
                State::OpenSent
                | State::Connect { connected: true }
                | State::Active { connected: true },
                Message::Open(open),
            ) => self.on_open(now, &open),
            (State::OpenConfirm(_), Message::Keepalive) => self.on_keepalive_confirm(now),
            _ => self.fsm_error(now),
        }
    }

    pub(super) fn on_open(&mut self, now: Instant, open: &Open) {
        let check = OpenCheck {
            peer_as: self.config.peer_as,
            local_as: self.config.local_as,
            local_id: self.config.local_id,
            min_hold_time: self.config.min_hold_time,
            required_capabilities: self.config.required_capabilities.clone(),
        };
        // RFC 4271 §6.2: version, peer AS, BGP identifier, hold time, capabilities, each with
        // its own subcode (2/1, 2/2, 2/3, 2/6, 2/7), checked by the codec.
        if let Err(e) = open.check(&check) {
            self.protocol_error(now, &e);
            return;
        }
        let delayed = !matches!(self.state, State::OpenSent);
        self.timers.stop(Timer::DelayOpen);
        let mut negotiated = Negotiated::new(&self.local_open, open);
        negotiated.enforce_first_as = self.config.enforce_first_as;
        if delayed {
            // RFC 4271 §8.2.2 (Connect, DelayOpen running, OPEN received): "sends an OPEN
            // message, sends a KEEPALIVE message, ... changes its state to OpenConfirm."
            self.tx.open = true;
        }
        // RFC 4271 §8.2.2 (OpenSent): "If there are no errors in the OPEN message, the local
        // system: ... sends a KEEPALIVE message, ... sets the HoldTimer according to the
        // negotiated value, and changes its state to OpenConfirm."
        self.tx.keepalive = true;
        let keepalive = self.keepalive_for(negotiated.hold_time);
        match Self::hold_for(negotiated.hold_time) {
            Some(h) => self.timers.set(Timer::Hold, now + h),
            None => self.timers.stop(Timer::Hold),
        }
        match keepalive {
            Some(k) => self.timers.set(Timer::Keepalive, now + k),
            None => self.timers.stop(Timer::Keepalive),
        }
        self.set_state(State::OpenConfirm(Box::new(OpenConfirm {
            negotiated,
            keepalive,
        })));
    }

    pub(super) fn on_keepalive_confirm(&mut self, now: Instant) {
        let State::OpenConfirm(oc) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let OpenConfirm {
            negotiated,
            keepalive,
        } = *oc;
        if let Some(h) = Self::hold_for(negotiated.hold_time) {
            self.timers.set(Timer::Hold, now + h);
        }
        let limits = self
            .config
            .max_prefixes
            .iter()
            .filter(|m| negotiated.has_family(m.family))
            .map(|m| PrefixLimit {
                limit: *m,
                seen: HashSet::new(),
            })
            .collect();
        let eor_to_send =
            if negotiated.peer_graceful_restart.is_some() || self.config.always_send_end_of_rib {
                negotiated.families.clone()
            } else {
                Vec::new()
            };
        if !self.life.stale.is_empty() {
            // RFC 4724 §4.2: "If the Forwarding State bit for a specific address family is not
            // set in the newly received Graceful Restart Capability, or if a specific address
            // family is not included in the newly received Graceful Restart Capability, or if
            // the Graceful Restart Capability is not received in the re-established session at
            // all, then the Receiving Speaker MUST immediately remove all the stale routes from
            // the peer that it is retaining for that address family."
            self.timers.stop(Timer::GracefulRestart);
            let preserved: Vec<Family> = negotiated
                .peer_graceful_restart
                .as_ref()
                .map(|g| {
                    g.families
                        .iter()
                        .filter(|(_, fwd)| *fwd)
                        .map(|(f, _)| *f)
                        .collect()
                })
                .unwrap_or_default();
            let (keep, drop): (Vec<Family>, Vec<Family>) = std::mem::take(&mut self.life.stale)
                .into_iter()
                .partition(|f| preserved.contains(f) && negotiated.has_family(*f));
            for f in drop {
                self.events.push_back(Event::StaleRoutesExpired(f));
            }
            if !keep.is_empty() {
                let bound = self
                    .config
                    .graceful_restart
                    .as_ref()
                    .map_or(Duration::from_secs(360), |g| g.stale_time);
                self.timers.set(Timer::StaleRoutes, now + bound);
            }
            self.life.stale = keep;
        }
        let negotiated = Arc::new(negotiated);
        let est = Established {
            negotiated: Arc::clone(&negotiated),
            keepalive,
            limits,
            eor_to_send,
            refresh_requests: Vec::new(),
            refresh_answers: Vec::new(),
            eorr_to_send: Vec::new(),
        };
        self.state = State::Established(Box::new(est));
        self.events.push_back(Event::StateChanged {
            from: StateKind::OpenConfirm,
            to: StateKind::Established,
        });
        self.events.push_back(Event::Established(negotiated));
    }

    pub(super) fn established_message(&mut self, now: Instant, m: Message) {
        // Any message shows the peer is alive (RFC 4271 names KEEPALIVE and UPDATE; BIRD and
        // FRR count every message).
        if let Some(h) = self.negotiated().and_then(|n| Self::hold_for(n.hold_time)) {
            self.timers.set(Timer::Hold, now + h);
        }
        match m {
            Message::Keepalive => {}
            Message::Update(u) => self.on_update(now, u),
            Message::RouteRefresh(rr) => self.on_route_refresh(rr),
            Message::Notification(n) => {
                self.close(
                    now,
                    DownReason::NotificationReceived(n),
                    Restart::PeerGone,
                    true,
                );
            }
            Message::Open(_) => self.fsm_error(now),
        }
    }

    pub(super) fn on_update(&mut self, now: Instant, mut u: Update) {
        let State::Established(est) = &mut self.state else {
            return;
        };
        if let Some(f) = u.end_of_rib_family() {
            if est.negotiated.has_family(f) {
                self.events.push_back(Event::EndOfRib(f));
                // RFC 4724 §4.2: "Once the End-of-RIB marker for an address family is received
                // from the peer, it MUST immediately remove any routes from the peer that are
                // still marked as stale for that address family."
                self.life.stale.retain(|s| *s != f);
                if self.life.stale.is_empty() {
                    self.timers.stop(Timer::StaleRoutes);
                }
            }
            return;
        }
        // RFC 4760 §6: routes of a family that was not negotiated are ignored.
        let neg = &est.negotiated;
        if !neg.has_family(Family::IPV4_UNICAST) {
            u.nlri.clear();
            u.withdrawn.clear();
        }
        if u.mp_reach
            .as_ref()
            .is_some_and(|m| !neg.has_family(m.family))
        {
            u.mp_reach = None;
        }
        if u.mp_unreach
            .as_ref()
            .is_some_and(|m| !neg.has_family(m.family))
        {
            u.mp_unreach = None;
        }
        if u.nlri.is_empty()
            && u.withdrawn.is_empty()
            && u.mp_reach.is_none()
            && u.mp_unreach.is_none()
        {
            return;
        }
        let mut exceeded = None;
        for lim in &mut est.limits {
            for (f, n) in u.withdrawn_routes() {
                if f == lim.limit.family {
                    lim.seen.remove(n);
                }
            }
            for a in u.announced().filter(|a| a.family == lim.limit.family) {
                lim.seen.extend(a.nlri.iter().copied());
            }
            if lim.seen.len() > usize::try_from(lim.limit.limit).unwrap_or(usize::MAX) {
                exceeded.get_or_insert(lim.limit);
            }
        }
        match exceeded {
            None => self.events.push_back(Event::Update(u)),
            Some(m) => {
                // RFC 4486 §4: "If a BGP speaker decides to terminate its peering because the
                // number of address prefixes received from the peer exceeds a locally configured
                // upper bound, then the speaker MUST send to the neighbor a NOTIFICATION message
                // with the Error Code Cease and the Error Subcode "Maximum Number of Prefixes
                // Reached"."
                self.events.push_back(Event::MaxPrefixExceeded {
                    family: m.family,
                    limit: m.limit,
                });
                let n = self.maybe_hard_reset(Notification::max_prefixes(m.family, m.limit));
                let restart = m.restart_after.map_or(Restart::Never, Restart::After);
                self.close(now, DownReason::NotificationSent(n), restart, true);
            }
        }
    }

    pub(super) fn on_route_refresh(&mut self, rr: RouteRefresh) {
        let State::Established(est) = &mut self.state else {
            return;
        };
        // RFC 2918 §4: "If a BGP speaker receives from its peer a ROUTE-REFRESH message with
        // the <AFI, SAFI> that the speaker didn't advertise to the peer at the session
        // establishment time via capability advertisement, the speaker shall ignore such a
        // message."
        if !est.negotiated.has_family(rr.family) {
            return;
        }
        match rr.subtype {
            RefreshSubtype::Normal => {
                if !est.refresh_answers.contains(&rr.family) {
                    est.refresh_answers.push(rr.family);
                }
                self.events.push_back(Event::RouteRefresh(rr));
            }
            RefreshSubtype::BeginningOfRefresh | RefreshSubtype::EndOfRefresh => {
                if est.negotiated.enhanced_route_refresh {
                    self.events.push_back(Event::RouteRefresh(rr));
                }
            }
            // RFC 7313 §5: "When the BGP speaker receives a ROUTE-REFRESH message with a
            // "Message Subtype" field other than 0, 1, or 2, it MUST ignore the received
            // ROUTE-REFRESH message."
            RefreshSubtype::Other(_) => {}
        }
    }
}
