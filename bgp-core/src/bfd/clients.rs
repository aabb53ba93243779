//! DOC: which BGP peers are bound to which BFD session, for a driver that tells each peer of
//! its session's changes through a notifier of its own (`T`: a channel sender in the daemon).
//! Peers to one [`Key`] (address, source address, hop mode) share one session and one
//! notifier, kept while at least one peer is attached, and one [`Link`] (what the peers see of
//! the session, following its transitions); when each session last changed state (wall clock,
//! given by the driver) is kept for `show bfd sessions`.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{Key, Link, Transition};

/// The peers of one session and their notifier.
#[derive(Debug)]
pub struct Client<T> {
    /// Tells the peers of a change.
    pub notify: T,
    /// The attached peers' names, in attachment order (a name twice if attached twice).
    pub peers: Vec<String>,
    /// What the peers see of the session (from `Link::default()` when the first attached).
    pub link: Link,
}

/// The peers bound to each BFD session.
#[derive(Debug)]
pub struct Clients<T> {
    by_key: HashMap<Key, Client<T>>,
    since: HashMap<Key, SystemTime>,
}

impl<T> Default for Clients<T> {
    fn default() -> Self {
        Clients {
            by_key: HashMap::new(),
            since: HashMap::new(),
        }
    }
}

impl<T> Clients<T> {
    /// Attaches `peer` to the session of `key`; the notifier is made (by `make`) for the
    /// session's first peer.
    pub fn attach(&mut self, key: Key, peer: &str, make: impl FnOnce() -> T) -> &T {
        let c = self.by_key.entry(key).or_insert_with(|| Client {
            notify: make(),
            peers: Vec::new(),
            link: Link::default(),
        });
        c.peers.push(peer.to_string());
        &c.notify
    }

    /// Detaches one attachment of `peer` from the session of `key`; the session's last peer
    /// takes its notifier with it.
    pub fn detach(&mut self, key: &Key, peer: &str) {
        let Some(c) = self.by_key.get_mut(key) else {
            return;
        };
        if let Some(i) = c.peers.iter().position(|p| p == peer) {
            c.peers.remove(i);
        }
        if c.peers.is_empty() {
            self.by_key.remove(key);
        }
    }

    /// The session of `key` changed state (`t`) at `at`: its notifier and the link its peers
    /// must now see, if a peer is attached.
    pub fn changed(&mut self, key: Key, at: SystemTime, t: &Transition) -> Option<(&T, Link)> {
        self.since.insert(key, at);
        let c = self.by_key.get_mut(&key)?;
        c.link.follow(t);
        Some((&c.notify, c.link))
    }

    /// The peers attached to the session of `key`.
    pub fn peers(&self, key: &Key) -> &[String] {
        self.by_key.get(key).map_or(&[], |c| &c.peers)
    }

    /// When the session of `key` last changed state, if it did since it was seen first.
    pub fn since(&self, key: &Key) -> Option<SystemTime> {
        self.since.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::{Diag, State};
    use std::net::IpAddr;

    fn up() -> Transition {
        Transition {
            from: State::Init,
            to: State::Up,
            diag: Diag::NONE,
            remote_admin_down: false,
        }
    }

    fn key(last: u8) -> Key {
        Key {
            remote: IpAddr::from([192, 0, 2, last]),
            local: None,
            multihop: false,
        }
    }

    #[test]
    fn peers_of_one_key_share_its_notifier_until_the_last_goes() {
        let mut c = Clients::default();
        let mut made = 0;
        for p in ["a", "b"] {
            c.attach(key(1), p, || {
                made += 1;
                made
            });
        }
        assert_eq!(made, 1, "one notifier per session");
        assert_eq!(c.peers(&key(1)), ["a", "b"]);
        c.detach(&key(1), "a");
        assert_eq!(c.peers(&key(1)), ["b"]);
        let (n, l) = c.changed(key(1), SystemTime::UNIX_EPOCH, &up()).unwrap();
        assert_eq!((*n, l.state, l.seq), (1, State::Up, 1));
        c.detach(&key(1), "b");
        assert!(c.peers(&key(1)).is_empty());
        assert_eq!(c.changed(key(1), SystemTime::UNIX_EPOCH, &up()), None);
        // The next peer gets a new notifier, and a new link.
        assert_eq!(*c.attach(key(1), "c", || 7), 7);
        let (_, l) = c.changed(key(1), SystemTime::UNIX_EPOCH, &up()).unwrap();
        assert_eq!(l.seq, 1);
    }

    #[test]
    fn a_peer_attached_twice_counts_twice_and_unknown_detaches_are_ignored() {
        let mut c = Clients::default();
        c.attach(key(1), "a", || ());
        c.attach(key(1), "a", || ());
        c.detach(&key(2), "a");
        c.detach(&key(1), "a");
        assert_eq!(c.peers(&key(1)), ["a"]);
        c.detach(&key(1), "a");
        assert!(c.peers(&key(1)).is_empty());
    }

    #[test]
    fn the_state_change_time_is_kept_per_key() {
        let mut c: Clients<()> = Clients::default();
        assert_eq!(c.since(&key(1)), None);
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        c.changed(key(1), t, &up());
        assert_eq!(c.since(&key(1)), Some(t));
        assert_eq!(c.since(&key(2)), None);
    }
}
