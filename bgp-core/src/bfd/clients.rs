//! DOC: which BGP peers are bound to which BFD session, for a driver that tells each peer of
//! its session's changes through a notifier of its own (`T`: the peer's command queue in the
//! daemon). Peers to one [`Key`] (address, source address, hop mode) share one session and one
//! [`Link`] (what the peers see of the session, following its transitions), kept while at
//! least one peer is attached; each attachment keeps its peer's notifier, and a change is
//! handed out with every one of them ([`Clients::changed`]). When each session last changed
//! state (wall clock, given by the driver) is kept for `show bfd sessions`.
//!
//! A link's `seq` never goes back for a key, not even when its last peer detached and a new
//! one attaches: a change queued for a peer before it was bound anew is then older than the
//! link it was bound with, and [`super::Binding::verdict`] ignores it.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{Key, Link, Transition};

/// One peer's attachment to a session.
#[derive(Debug)]
pub struct Attachment<T> {
    /// Names the attachment for [`Clients::detach`] (a peer attached twice, as while its BFD
    /// settings are replaced, has two).
    pub id: u64,
    /// The peer's name.
    pub peer: String,
    /// Tells the peer of a change.
    pub notify: T,
}

/// The peers of one session.
#[derive(Debug)]
pub struct Client<T> {
    /// The attachments, in attachment order.
    pub attached: Vec<Attachment<T>>,
    /// What the peers see of the session.
    pub link: Link,
}

/// The peers bound to each BFD session.
#[derive(Debug)]
pub struct Clients<T> {
    by_key: HashMap<Key, Client<T>>,
    since: HashMap<Key, SystemTime>,
    /// The highest `seq` handed out: a session's new link starts from it.
    seq: u64,
    /// The next attachment's id.
    next_id: u64,
}

impl<T> Default for Clients<T> {
    fn default() -> Self {
        Clients {
            by_key: HashMap::new(),
            since: HashMap::new(),
            seq: 0,
            next_id: 0,
        }
    }
}

impl<T> Clients<T> {
    /// Attaches `peer`, told of changes by `notify`, to the session of `key`: the attachment's
    /// id and the link the peer sees now (Down for the session's first peer; the session's
    /// state otherwise, Up at once if it is).
    pub fn attach(&mut self, key: Key, peer: &str, notify: T) -> (u64, Link) {
        let seq = self.seq;
        let c = self.by_key.entry(key).or_insert_with(|| Client {
            attached: Vec::new(),
            link: Link {
                seq,
                ..Link::default()
            },
        });
        let id = self.next_id;
        self.next_id += 1;
        c.attached.push(Attachment {
            id,
            peer: peer.to_string(),
            notify,
        });
        (id, c.link)
    }

    /// Detaches the attachment `id` from the session of `key` (its notifier goes with it); the
    /// session's last peer takes its link with it. `false` if there was no such attachment.
    pub fn detach(&mut self, key: &Key, id: u64) -> bool {
        let Some(c) = self.by_key.get_mut(key) else {
            return false;
        };
        let Some(i) = c.attached.iter().position(|a| a.id == id) else {
            return false;
        };
        c.attached.remove(i);
        if c.attached.is_empty() {
            self.by_key.remove(key);
        }
        true
    }

    /// The session of `key` changed state (`t`) at `at`: the link its peers must now see and
    /// their attachments (with the notifier of each), if a peer is attached.
    pub fn changed(
        &mut self,
        key: Key,
        at: SystemTime,
        t: &Transition,
    ) -> Option<(Link, &[Attachment<T>])> {
        self.since.insert(key, at);
        let c = self.by_key.get_mut(&key)?;
        c.link.follow(t);
        self.seq = self.seq.max(c.link.seq);
        Some((c.link, &c.attached))
    }

    /// The names of the peers attached to the session of `key`, in attachment order (a name
    /// twice if attached twice).
    pub fn peers(&self, key: &Key) -> impl Iterator<Item = &str> {
        let attached = self.by_key.get(key).map_or(&[][..], |c| &c.attached);
        attached.iter().map(|a| a.peer.as_str())
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

    fn to(from: State, to: State) -> Transition {
        Transition {
            from,
            to,
            diag: Diag::NONE,
            remote_admin_down: false,
        }
    }

    fn up() -> Transition {
        to(State::Init, State::Up)
    }

    fn key(last: u8) -> Key {
        Key {
            remote: IpAddr::from([192, 0, 2, last]),
            local: None,
            multihop: false,
        }
    }

    /// A change of `key`: the link's (state, seq) and the notifiers told, or `None` unbound.
    fn change(c: &mut Clients<u32>, key: Key, t: &Transition) -> Option<(State, u64, Vec<u32>)> {
        let (l, a) = c.changed(key, SystemTime::UNIX_EPOCH, t)?;
        Some((l.state, l.seq, a.iter().map(|a| a.notify).collect()))
    }

    fn peers<T>(c: &Clients<T>, key: Key) -> Vec<&str> {
        c.peers(&key).collect()
    }

    #[test]
    fn a_change_reaches_the_notifier_of_every_attachment() {
        let mut c = Clients::default();
        let (a, _) = c.attach(key(1), "a", 1);
        c.attach(key(1), "b", 2);
        c.attach(key(2), "c", 3);
        assert_eq!(peers(&c, key(1)), ["a", "b"]);
        assert_eq!(
            change(&mut c, key(1), &up()),
            Some((State::Up, 1, vec![1, 2]))
        );
        c.detach(&key(1), a);
        assert_eq!(peers(&c, key(1)), ["b"]);
        let down = to(State::Up, State::Down);
        assert_eq!(
            change(&mut c, key(1), &down),
            Some((State::Down, 2, vec![2]))
        );
        assert_eq!(change(&mut c, key(3), &up()), None, "no peer attached");
    }

    #[test]
    fn a_peer_attaching_sees_the_sessions_link_at_once() {
        let mut c = Clients::default();
        let (_, l) = c.attach(key(1), "a", 1);
        assert_eq!((l.state, l.seq), (State::Down, 0));
        change(&mut c, key(1), &up());
        let (_, l) = c.attach(key(1), "b", 2);
        assert_eq!((l.state, l.seq, l.failed), (State::Up, 1, false));
    }

    #[test]
    fn one_of_two_attachments_of_a_name_detaches_alone() {
        let mut c = Clients::default();
        let (old, _) = c.attach(key(1), "a", 1);
        let (new, _) = c.attach(key(1), "a", 2);
        assert_ne!(old, new);
        assert!(!c.detach(&key(2), old));
        assert!(c.detach(&key(1), old));
        assert!(!c.detach(&key(1), old), "detached once");
        assert_eq!(peers(&c, key(1)), ["a"]);
        assert_eq!(
            change(&mut c, key(1), &up()),
            Some((State::Up, 1, vec![2])),
            "the new attachment's notifier stays"
        );
        c.detach(&key(1), new);
        assert!(peers(&c, key(1)).is_empty());
        assert_eq!(change(&mut c, key(1), &up()), None);
    }

    #[test]
    fn a_sessions_new_link_does_not_go_back_in_seq() {
        let mut c = Clients::default();
        let (a, _) = c.attach(key(1), "a", 1);
        change(&mut c, key(1), &up());
        change(&mut c, key(1), &to(State::Up, State::Down));
        c.detach(&key(1), a);
        // A new peer of the key gets a new link (Down), later than anything handed out.
        let (_, l) = c.attach(key(1), "b", 2);
        assert_eq!((l.state, l.seq, l.failed), (State::Down, 2, false));
        assert_eq!(change(&mut c, key(1), &up()), Some((State::Up, 3, vec![2])));
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
