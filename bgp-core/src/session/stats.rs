//! DOC: a session's message counters by type, like quinn's `ConnectionStats`: counted where
//! messages are framed (received) and where they are written (sent), so a driver keeps no
//! framing of its own to count them.

use crate::wire::header::MessageType;

/// Messages of one direction, by type (RFC 4271 §4.1, RFC 2918).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MessageCounts {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl MessageCounts {
    /// (name, count) of each message type, as metric labels name them.
    pub fn by_type(&self) -> [(&'static str, u64); 5] {
        [
            ("open", self.open),
            ("update", self.update),
            ("notification", self.notification),
            ("keepalive", self.keepalive),
            ("route_refresh", self.route_refresh),
        ]
    }

    /// Counts one message of type code `ty`. A type we do not know is not counted (received,
    /// it is a message header error, RFC 4271 §6.1, and ends the session).
    pub(crate) fn count(&mut self, ty: u8) {
        let c = match MessageType::from_code(ty) {
            Some(MessageType::Open) => &mut self.open,
            Some(MessageType::Update) => &mut self.update,
            Some(MessageType::Notification) => &mut self.notification,
            Some(MessageType::Keepalive) => &mut self.keepalive,
            Some(MessageType::RouteRefresh) => &mut self.route_refresh,
            None => return,
        };
        *c = c.saturating_add(1);
    }

    /// Counts every message in `buf`, a run of whole framed messages.
    pub(crate) fn count_framed(&mut self, buf: &[u8]) {
        let mut rest = buf;
        while let (Some(&[h, l]), Some(&ty)) = (rest.get(16..18), rest.get(18)) {
            self.count(ty);
            let len = usize::from(u16::from_be_bytes([h, l])).max(19);
            rest = rest.get(len..).unwrap_or_default();
        }
    }

    fn add(&mut self, o: &MessageCounts) {
        self.open = self.open.saturating_add(o.open);
        self.update = self.update.saturating_add(o.update);
        self.notification = self.notification.saturating_add(o.notification);
        self.keepalive = self.keepalive.saturating_add(o.keepalive);
        self.route_refresh = self.route_refresh.saturating_add(o.route_refresh);
    }
}

/// What a session (or a peer, over all its connections) received and sent, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages framed from the peer's bytes (a header that fails framing is not counted).
    pub received: MessageCounts,
    /// Messages handed to the driver to write.
    pub sent: MessageCounts,
}

impl Stats {
    /// Adds another session's counts (a peer folds in the connections it closed).
    pub fn add(&mut self, o: &Stats) {
        self.received.add(&o.received);
        self.sent.add(&o.sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u8, len: u16) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend(len.to_be_bytes());
        m.push(ty);
        m.resize(usize::from(len), 0);
        m
    }

    #[test]
    fn counts_each_framed_message_by_type() {
        let mut c = MessageCounts::default();
        let buf = [msg(4, 19), msg(2, 40), msg(2, 23), msg(5, 23), msg(9, 19)].concat();
        c.count_framed(&buf);
        let want = MessageCounts {
            keepalive: 1,
            update: 2,
            route_refresh: 1,
            ..MessageCounts::default()
        };
        assert_eq!(c, want);
        // A truncated tail or a length below the header never loops or panics.
        c.count_framed(&[0xff; 17]);
        let mut zero = vec![0xff; 16];
        zero.extend([0, 0, 4]);
        c.count_framed(&zero);
        assert_eq!(c.keepalive, 2);
    }

    #[test]
    fn stats_add_up() {
        let mut a = Stats::default();
        a.sent.count(1);
        let mut b = Stats::default();
        b.received.count(3);
        b.sent.count(1);
        a.add(&b);
        assert_eq!((a.sent.open, a.received.notification), (2, 1));
    }
}
