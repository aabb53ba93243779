//! DOC: the UPDATEs a driver decoded since its last hand-off to the RIB, bounded by UPDATEs
//! and by routes.
//!
//! A decoded route costs ~28 octets (`Nlri`) against the 4 it took on the wire, and the RIB
//! task is slower than the decoder: during a full-table load the messages waiting in the RIB
//! channel are all full. Counted in UPDATEs only (64 per message, 64 messages), the channel
//! held up to 4,096 UPDATEs, a whole 1M-route table in 4 KB UPDATEs: 20 MB of decoded routes
//! at once (heaptrack, 1×1M), freed into the allocator's heap after the load and kept there.
//! Counted in routes too, what waits for the RIB is at most
//! `channel depth × (BATCH_ROUTES + one UPDATE)` routes plus one batch per peer
//! ([`waiting_bound`]).

use crate::wire::Update;

/// UPDATEs per hand-off at most (many small ones: one message for many).
pub const BATCH_UPDATES: usize = 64;
/// Routes (announced and withdrawn prefixes) per hand-off: the batch goes once it holds this
/// many. Two full 4 KB UPDATEs of /24s; ~4 ms of the RIB task's work at 1M.
pub const BATCH_ROUTES: usize = 2048;

/// The depth a driver's channel to the RIB task should have, in hand-offs (a full channel
/// stops the senders reading their sockets). With hand-offs bounded in routes, at most ~50k
/// decoded routes (~1.5 MB) wait there per peer ([`waiting_bound`]): enough to keep the RIB
/// task busy for tens of milliseconds, and no longer a whole table (64 messages of 64
/// UPDATEs held 1M routes, 20 MB).
pub const RIB_CHANNEL_DEPTH: usize = 16;

/// UPDATEs waiting to go to the RIB task.
#[derive(Debug, Default)]
pub struct Batch {
    updates: Vec<Update>,
    routes: usize,
}

impl Batch {
    /// Adds `u`; true when the batch should go now.
    pub fn push(&mut self, u: Update) -> bool {
        self.routes += routes(&u);
        self.updates.push(u);
        self.updates.len() >= BATCH_UPDATES || self.routes >= BATCH_ROUTES
    }

    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// The UPDATEs, leaving the batch empty.
    pub fn take(&mut self) -> Vec<Update> {
        self.routes = 0;
        std::mem::take(&mut self.updates)
    }
}

/// The most routes waiting for the RIB from one peer whose hand-offs queue in a channel
/// `depth` deep (the channel full of batches, plus the one blocked on it), with UPDATEs of
/// at most `per_update` prefixes.
pub fn waiting_bound(depth: usize, per_update: usize) -> usize {
    (depth + 1) * (BATCH_ROUTES + per_update)
}

/// The prefixes an UPDATE carries (announced and withdrawn, every family).
fn routes(u: &Update) -> usize {
    u.nlri.len()
        + u.withdrawn.len()
        + u.mp_reach.as_ref().map_or(0, |m| m.nlri.len())
        + u.mp_unreach.as_ref().map_or(0, |m| m.withdrawn.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Nlri;

    fn update(prefixes: usize) -> Update {
        let nlri = (0..prefixes)
            .map(|i| {
                let [_, _, b, c] = (i as u32).to_be_bytes();
                let net: ipnet::IpNet = format!("10.{b}.{c}.0/24").parse().unwrap();
                Nlri::new(net)
            })
            .collect();
        Update {
            nlri,
            ..Update::default()
        }
    }

    /// Full UPDATEs: the batch goes by routes, long before 64 UPDATEs (a 1M-route table no
    /// longer fits in the RIB channel).
    #[test]
    fn full_updates_go_by_routes() {
        let mut b = Batch::default();
        // A 4 KB UPDATE of /24s carries ~1,000 routes.
        assert!(!b.push(update(1000)));
        assert!(b.push(update(1000)) || b.push(update(1000)));
        assert!(b.take().len() <= 3);
        assert!(b.is_empty());
    }

    /// Small UPDATEs: the batch goes at 64 of them.
    #[test]
    fn small_updates_go_by_count() {
        let mut b = Batch::default();
        for _ in 0..BATCH_UPDATES - 1 {
            assert!(!b.push(update(1)));
        }
        assert!(b.push(update(1)));
        assert_eq!(b.take().len(), BATCH_UPDATES);
        // The route count starts again.
        assert!(!b.push(update(BATCH_ROUTES - 1)));
        assert!(b.push(update(1)));
    }

    /// What waits for the RIB task from one peer stays a small part of a full table: ~2.8 MB
    /// of decoded routes at most with 4 KB UPDATEs (was the whole table).
    #[test]
    fn decoded_routes_waiting_are_bounded() {
        let per_update = 1024; // a 4 KB UPDATE of /24s, rounded up
        let waiting = waiting_bound(RIB_CHANNEL_DEPTH, per_update);
        let size = std::mem::size_of::<Nlri>();
        assert!(waiting * size <= 4 << 20, "{waiting} routes");
        assert!(waiting < 1_000_000 / 8);
    }

    /// Withdrawals count as routes too.
    #[test]
    fn withdrawals_count() {
        let mut b = Batch::default();
        let u = Update {
            withdrawn: update(BATCH_ROUTES).nlri,
            ..Update::default()
        };
        assert!(b.push(u));
    }

    #[test]
    fn the_waiting_bound_counts_the_blocked_batch() {
        assert_eq!(waiting_bound(0, 0), BATCH_ROUTES);
        assert_eq!(waiting_bound(15, 1024), 16 * (BATCH_ROUTES + 1024));
    }
}
