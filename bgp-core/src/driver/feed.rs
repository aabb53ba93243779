//! DOC: what the RIB must learn from a peer's session events, in their order. UPDATEs are
//! batched ([`Batch`]) and handed over when the batch is full; a session coming up, going
//! down or finishing its initial table hands the UPDATEs before it over first, so the RIB sees
//! them on the session they came from. Events that only concern logs and `show protocols`
//! (state changes, ROUTE-REFRESH, max-prefix, encoding errors) give the RIB nothing.

use std::sync::Arc;

use super::Batch;
use crate::session::Event;
use crate::wire::{Family, Negotiated, Update};

/// Something the RIB must learn, other than UPDATEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToRib {
    /// The session is established with these capabilities.
    Up(Arc<Negotiated>),
    /// The established session is gone: its routes go, or (`graceful`) stay stale for the
    /// families graceful restart keeps. Messages of the old session still queued must be
    /// dropped from now on (the driver's session epoch).
    Down {
        /// Routes are kept stale (RFC 4724 §4.2).
        graceful: bool,
    },
    /// The peer finished sending its table of a family (End-of-RIB).
    EndOfRib(Family),
    /// The stale routes kept since the last graceful Down are to go now.
    StaleExpired,
}

/// What one event hands to the RIB: UPDATEs first, then the rest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Handoff {
    /// A batch of UPDATEs to hand over now.
    pub updates: Option<Vec<Update>>,
    /// Then this.
    pub then: Option<ToRib>,
}

/// A peer's session events turned into what the RIB must learn.
#[derive(Debug, Default)]
pub struct Feed {
    batch: Batch,
}

impl Feed {
    /// Takes an event of the peer's session.
    pub fn handle(&mut self, ev: Event) -> Handoff {
        let (flush, then) = match ev {
            Event::Update(u) => {
                let full = self.batch.push(u);
                (full, None)
            }
            Event::Established(neg) => (true, Some(ToRib::Up(neg))),
            Event::Down(d) => {
                let graceful = !d.keep_stale.is_empty();
                (
                    true,
                    d.was_established().then_some(ToRib::Down { graceful }),
                )
            }
            Event::EndOfRib(f) => (true, Some(ToRib::EndOfRib(f))),
            Event::StaleRoutesExpired(_) => (false, Some(ToRib::StaleExpired)),
            Event::StateChanged { .. }
            | Event::RouteRefresh(_)
            | Event::MaxPrefixExceeded { .. }
            | Event::SourceError(_) => (false, None),
        };
        Handoff {
            updates: flush.then(|| self.flush()).flatten(),
            then,
        }
    }

    /// The UPDATEs batched so far, if any (the driver hands them over once it has drained
    /// the session's events).
    pub fn flush(&mut self) -> Option<Vec<Update>> {
        (!self.batch.is_empty()).then(|| self.batch.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Down, DownReason, StateKind};
    use crate::wire::Nlri;

    fn update() -> Event {
        let net: ipnet::IpNet = "10.0.0.0/24".parse().unwrap();
        Event::Update(Update {
            nlri: vec![Nlri::new(net)],
            ..Update::default()
        })
    }

    fn down(from: StateKind, keep_stale: Vec<Family>) -> Event {
        Event::Down(Down {
            reason: DownReason::ConnectionClosed,
            from,
            keep_stale,
        })
    }

    #[test]
    fn updates_wait_in_the_batch_until_the_session_changes() {
        let mut f = Feed::default();
        assert_eq!(f.handle(update()), Handoff::default());
        assert_eq!(f.handle(update()), Handoff::default());
        let h = f.handle(Event::EndOfRib(Family::IPV4_UNICAST));
        assert_eq!(h.updates.map(|u| u.len()), Some(2));
        assert_eq!(h.then, Some(ToRib::EndOfRib(Family::IPV4_UNICAST)));
        assert_eq!(f.flush(), None);
        // Nothing batched: nothing handed over before the event.
        let h = f.handle(Event::Established(Arc::new(Negotiated::default())));
        assert_eq!(h.updates, None);
        assert!(matches!(h.then, Some(ToRib::Up(_))));
    }

    #[test]
    fn a_full_batch_goes_at_once() {
        let mut f = Feed::default();
        let mut handed = 0;
        for _ in 0..super::super::batch::BATCH_UPDATES {
            handed += f.handle(update()).updates.map_or(0, |u| u.len());
        }
        assert_eq!(handed, super::super::batch::BATCH_UPDATES);
        assert_eq!(f.flush(), None);
    }

    #[test]
    fn only_an_established_session_going_down_concerns_the_rib() {
        let mut f = Feed::default();
        f.handle(update());
        let h = f.handle(down(StateKind::OpenSent, Vec::new()));
        assert_eq!((h.updates.map(|u| u.len()), h.then), (Some(1), None));
        let h = f.handle(down(StateKind::Established, vec![Family::IPV4_UNICAST]));
        assert_eq!(h.then, Some(ToRib::Down { graceful: true }));
        let h = f.handle(down(StateKind::Established, Vec::new()));
        assert_eq!(h.then, Some(ToRib::Down { graceful: false }));
    }

    #[test]
    fn stale_expiry_does_not_wait_for_the_batch() {
        let mut f = Feed::default();
        f.handle(update());
        let h = f.handle(Event::StaleRoutesExpired(Family::IPV4_UNICAST));
        assert_eq!((h.updates, h.then), (None, Some(ToRib::StaleExpired)));
        assert_eq!(f.flush().map(|u| u.len()), Some(1));
        let h = f.handle(Event::StateChanged {
            from: StateKind::Idle,
            to: StateKind::Connect,
        });
        assert_eq!(h, Handoff::default());
    }
}
