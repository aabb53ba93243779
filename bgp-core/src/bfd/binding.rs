//! DOC: a BGP session bound to a BFD session (RFC 5882), sans-IO: what the BGP side sees of
//! the BFD session ([`Link`], updated from each [`Transition`]) and what each change means
//! for BGP ([`Binding::verdict`]). A Down from Up is a failure unless the peer said AdminDown
//! (RFC 5882 §3.2); a failure closes the BGP session and, with `wait_for_up` (BIRD's
//! behaviour), holds it down until BFD is Up again.

use std::time::Instant;

use super::{Key, State, Transition};
use crate::peer::Peer;
use crate::session::Command;
use crate::wire::notification::cease;

/// What a BGP session sees of its BFD session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The BFD session's state.
    pub state: State,
    /// Changes seen so far (so two quick flips are not lost, and a link older than one taken
    /// is known); it never goes back for a session's key ([`super::Clients`]).
    pub seq: u64,
    /// The last change was a Down from Up caused by a failure (not by the peer's AdminDown).
    pub failed: bool,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            state: State::Down,
            seq: 0,
            failed: false,
        }
    }
}

impl Link {
    /// Takes a transition of the BFD session.
    pub fn follow(&mut self, t: &Transition) {
        self.state = t.to;
        self.seq += 1;
        self.failed = t.from == State::Up && t.to != State::Up && !t.remote_admin_down;
    }
}

/// What the BGP side must do after a BFD change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Close the BGP session now (Cease 10 "BFD Down", RFC 9384), and keep it down while
    /// held.
    Close,
    /// BFD is Up again: start the BGP session that was held down.
    Release,
    /// Nothing.
    Nothing,
}

impl Verdict {
    /// The commands that carry the verdict out on the BGP session: [`Verdict::Close`] stops
    /// it (Cease 10 "BFD Down", RFC 9384; the routes go as for any closed session) and starts
    /// it again unless `held`; [`Verdict::Release`] starts it. An administratively disabled
    /// peer (`enabled` false) is never started.
    pub fn commands(self, held: bool, enabled: bool) -> impl Iterator<Item = Command> {
        let (stop, start) = match self {
            Verdict::Close => (true, !held && enabled),
            Verdict::Release => (false, enabled),
            Verdict::Nothing => (false, false),
        };
        let stop = stop.then(|| Command::Stop {
            subcode: cease::BFD_DOWN,
            message: "BFD down".into(),
        });
        [stop, start.then_some(Command::Start)]
            .into_iter()
            .flatten()
    }

    /// Carries the verdict out on `peer` ([`Verdict::commands`]).
    pub fn apply(self, peer: &mut Peer, now: Instant, held: bool, enabled: bool) {
        for c in self.commands(held, enabled) {
            peer.handle_command(now, c);
        }
    }
}

/// One BGP session's binding to its BFD session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The BFD session's key: a change of another session is not this binding's.
    key: Key,
    /// The last change taken.
    seen: u64,
    /// BGP stays down after a failure until BFD is Up.
    wait_for_up: bool,
    /// BGP is held down until BFD is Up.
    pub held: bool,
}

impl Binding {
    /// A binding to the BFD session of `key`, whose link is `link` now.
    pub fn new(key: Key, link: &Link, wait_for_up: bool) -> Self {
        Binding {
            key,
            seen: link.seq,
            wait_for_up,
            held: false,
        }
    }

    /// What the link's latest state means for BGP. A link not newer than the last one taken
    /// (queued before this binding was made, or told twice) means nothing. A failure missed
    /// between two looks (more than one change, and not Up now) counts as one.
    pub fn verdict(&mut self, l: &Link) -> Verdict {
        if l.seq <= self.seen {
            return Verdict::Nothing;
        }
        let missed_failure = l.seq > self.seen + 1;
        self.seen = l.seq;
        if l.failed || (missed_failure && l.state != State::Up) {
            self.held = self.wait_for_up;
            return Verdict::Close;
        }
        if l.state == State::Up && self.held {
            self.held = false;
            return Verdict::Release;
        }
        Verdict::Nothing
    }

    /// The BFD session's key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// New BFD settings for the same session (its key unchanged): this binding goes on with
    /// `wait_for_up`, and what the link did since it last looked is judged now
    /// ([`Binding::verdict`]): a failure told behind the new settings is not lost.
    pub fn rebind(&mut self, link: &Link, wait_for_up: bool) -> Verdict {
        self.wait_for_up = wait_for_up;
        self.verdict(link)
    }

    /// New BFD settings: this binding replaces one that was `was_held`. The hold carries over
    /// while the new session is not Up; `true` when BGP must be released now.
    pub fn carry_hold(&mut self, was_held: bool, link: &Link) -> bool {
        self.held = was_held && link.state != State::Up;
        was_held && !self.held
    }

    /// New BFD settings: `new` (with its session's link; `None` when BFD is no longer
    /// configured) replaces a binding that was `was_held`; `true` when BGP must be released now
    /// ([`Binding::carry_hold`]; without BFD nothing holds BGP any more).
    pub fn replace(was_held: bool, new: Option<(&mut Binding, &Link)>) -> bool {
        match new {
            Some((b, link)) => b.carry_hold(was_held, link),
            None => was_held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::Diag;

    fn up() -> Link {
        Link {
            state: State::Up,
            ..Link::default()
        }
    }

    fn key() -> Key {
        Key {
            remote: std::net::IpAddr::from([192, 0, 2, 1]),
            local: None,
            multihop: false,
        }
    }

    fn t(from: State, to: State, remote_admin_down: bool) -> Transition {
        Transition {
            from,
            to,
            diag: Diag::NONE,
            remote_admin_down,
        }
    }

    #[test]
    fn verdicts_become_session_commands() {
        let cmds =
            |v: Verdict, held, enabled| -> Vec<Command> { v.commands(held, enabled).collect() };
        let stop = Command::Stop {
            subcode: cease::BFD_DOWN,
            message: "BFD down".into(),
        };
        assert_eq!(
            cmds(Verdict::Close, false, true),
            [stop.clone(), Command::Start]
        );
        assert_eq!(
            cmds(Verdict::Close, true, true),
            std::slice::from_ref(&stop)
        );
        assert_eq!(cmds(Verdict::Close, false, false), [stop]);
        assert_eq!(cmds(Verdict::Release, false, true), [Command::Start]);
        assert!(cmds(Verdict::Release, false, false).is_empty());
        assert!(cmds(Verdict::Nothing, true, true).is_empty());
    }

    #[test]
    fn a_verdict_applied_stops_and_starts_the_peer() {
        use crate::session::{SessionConfig, StateKind};
        use std::net::Ipv4Addr;
        let now = Instant::now();
        let mut p = Peer::new(SessionConfig::new(
            64512,
            Ipv4Addr::new(10, 0, 0, 1),
            Some(64512),
        ))
        .unwrap();
        Verdict::Release.apply(&mut p, now, false, false);
        assert_eq!(p.state(), StateKind::Idle, "a disabled peer is not started");
        Verdict::Release.apply(&mut p, now, false, true);
        assert_ne!(p.state(), StateKind::Idle);
        Verdict::Close.apply(&mut p, now, true, true);
        assert_eq!(p.state(), StateKind::Idle, "held down");
    }

    #[test]
    fn a_failure_closes_bgp_and_holds_it_until_bfd_is_up() {
        let mut l = Link::default();
        let mut b = Binding::new(key(), &l, true);
        l.follow(&t(State::Down, State::Init, false));
        assert_eq!(b.verdict(&l), Verdict::Nothing);
        l.follow(&t(State::Init, State::Up, false));
        assert_eq!(b.verdict(&l), Verdict::Nothing);
        l.follow(&t(State::Up, State::Down, false));
        assert!(l.failed);
        assert_eq!(b.verdict(&l), Verdict::Close);
        assert!(b.held);
        l.follow(&t(State::Down, State::Up, false));
        assert_eq!(b.verdict(&l), Verdict::Release);
        assert!(!b.held);
    }

    #[test]
    fn without_wait_for_up_bgp_is_closed_but_not_held() {
        let mut l = up();
        let mut b = Binding::new(key(), &l, false);
        l.follow(&t(State::Up, State::Down, false));
        assert_eq!(b.verdict(&l), Verdict::Close);
        assert!(!b.held);
    }

    #[test]
    fn the_peers_admin_down_is_no_failure() {
        let mut l = up();
        let mut b = Binding::new(key(), &l, true);
        l.follow(&t(State::Up, State::AdminDown, true));
        assert!(!l.failed);
        assert_eq!(b.verdict(&l), Verdict::Nothing);
    }

    #[test]
    fn a_failure_missed_between_two_looks_still_closes() {
        let mut l = up();
        let mut b = Binding::new(key(), &l, true);
        l.follow(&t(State::Up, State::Down, false));
        l.follow(&t(State::Down, State::Init, false));
        assert!(!l.failed);
        assert_eq!(b.verdict(&l), Verdict::Close);
    }

    #[test]
    fn a_link_not_newer_than_the_last_taken_means_nothing() {
        let mut l = up();
        let mut old = l;
        old.follow(&t(State::Up, State::Down, false));
        assert!(old.failed);
        l.follow(&t(State::Up, State::Down, false));
        l.follow(&t(State::Down, State::Up, false));
        // Bound (again) while the session is Up: a failure told before is stale.
        let mut b = Binding::new(key(), &l, true);
        assert_eq!(b.verdict(&old), Verdict::Nothing);
        assert_eq!(b.verdict(&l), Verdict::Nothing, "the same link twice");
        assert!(!b.held);
        // What follows still counts.
        l.follow(&t(State::Up, State::Down, false));
        assert_eq!(b.verdict(&l), Verdict::Close);
        assert_eq!(b.verdict(&l), Verdict::Nothing, "taken once");
        assert!(b.held);
    }

    #[test]
    fn a_hold_carries_over_new_settings_until_bfd_is_up() {
        let down = Link::default();
        let up = Link {
            state: State::Up,
            ..Link::default()
        };
        let mut b = Binding::new(key(), &down, true);
        assert!(!b.carry_hold(true, &down));
        assert!(b.held);
        let mut b = Binding::new(key(), &up, true);
        assert!(b.carry_hold(true, &up));
        assert!(!b.held);
        assert!(!Binding::new(key(), &up, true).carry_hold(false, &up));
        // Replaced: by a binding (as `carry_hold`), or by none (BFD gone: released if held).
        let mut b = Binding::new(key(), &down, true);
        assert!(!Binding::replace(true, Some((&mut b, &down))));
        assert!(b.held);
        assert!(Binding::replace(
            true,
            Some((&mut Binding::new(key(), &up, true), &up))
        ));
        assert!(Binding::replace(true, None));
        assert!(!Binding::replace(false, None));
    }

    #[test]
    fn new_settings_for_the_same_session_judge_what_it_did_since_the_last_look() {
        let mut l = up();
        let mut b = Binding::new(key(), &l, false);
        // The session failed; the change is told behind the new settings.
        l.follow(&t(State::Up, State::Down, false));
        assert_eq!(b.rebind(&l, true), Verdict::Close);
        assert!(b.held, "the new wait_for_up holds BGP down");
        assert_eq!(b.verdict(&l), Verdict::Nothing, "told again: nothing");
        assert_eq!(b.rebind(&l, true), Verdict::Nothing, "nothing new");
        l.follow(&t(State::Down, State::Up, false));
        assert_eq!(b.rebind(&l, true), Verdict::Release);
    }
}
