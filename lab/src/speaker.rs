//! DOC: what every BGP node kind can answer, so scenarios can treat BIRD, FRR, GoBGP and bgpd
//! alike: which sessions are Established and which prefixes the node has (best routes), plus
//! the convergence waits built on them.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::error::Result;
use crate::kernel::Family;
use crate::wait::{wait_observing, Observed};

/// Poll interval of the convergence waits.
pub const POLL: Duration = Duration::from_millis(250);

/// A BGP speaker of the lab.
pub trait Speaker {
    /// `KIND@node`, for messages.
    fn label(&self) -> String;
    /// Established sessions (protocol names or neighbour addresses, per daemon).
    fn established_sessions(&self) -> Result<Vec<String>>;
    /// Prefixes with a usable (best/valid) route in the daemon's RIB.
    fn learned(&self, family: Family) -> Result<Vec<String>>;
}

impl Speaker for crate::bird::Bird {
    fn label(&self) -> String {
        let v = match self.version {
            crate::bird::BirdVersion::V2 => "BIRD 2",
            crate::bird::BirdVersion::V16 => "BIRD 1.6",
            crate::bird::BirdVersion::V16Ip6 => "BIRD 1.6 (bird6)",
        };
        format!("{v}@{}", self.node.name)
    }
    fn established_sessions(&self) -> Result<Vec<String>> {
        self.established()
    }
    fn learned(&self, family: Family) -> Result<Vec<String>> {
        self.prefixes(family)
    }
}

impl Speaker for crate::frr::Frr {
    fn label(&self) -> String {
        format!("FRR@{}", self.node.name)
    }
    fn established_sessions(&self) -> Result<Vec<String>> {
        self.established()
    }
    fn learned(&self, family: Family) -> Result<Vec<String>> {
        self.prefixes(family)
    }
}

impl Speaker for crate::gobgp::Gobgp {
    fn label(&self) -> String {
        format!("GoBGP@{}", self.node.name)
    }
    fn established_sessions(&self) -> Result<Vec<String>> {
        self.established()
    }
    fn learned(&self, family: Family) -> Result<Vec<String>> {
        self.prefixes(family)
    }
}

impl Speaker for crate::bgpd::Bgpd {
    fn label(&self) -> String {
        format!("bgpd@{}", self.node.name)
    }
    fn established_sessions(&self) -> Result<Vec<String>> {
        self.established()
    }
    fn learned(&self, family: Family) -> Result<Vec<String>> {
        self.prefixes(family)
    }
}

/// Waits until `s` has at least `n` Established sessions.
pub fn wait_sessions(s: &dyn Speaker, n: usize, deadline: Duration) -> Result<()> {
    let desc = format!("{} has {n} Established sessions", s.label());
    wait_observing(deadline, POLL, &desc, || {
        let e = s.established_sessions()?;
        Ok(Observed::when(e.len() >= n, format!("established: {e:?}")))
    })
    .map(|_| ())
}

/// Waits until `s` has a route for every prefix of `want` (in `family`).
pub fn wait_learns(
    s: &dyn Speaker,
    family: Family,
    want: &[String],
    deadline: Duration,
) -> Result<()> {
    let desc = format!("{} has routes for {want:?}", s.label());
    wait_observing(deadline, POLL, &desc, || {
        let have: BTreeSet<String> = s.learned(family)?.into_iter().collect();
        let missing: Vec<&String> = want.iter().filter(|w| !have.contains(*w)).collect();
        Ok(Observed::when(
            missing.is_empty(),
            format!("missing {missing:?}; has {have:?}"),
        ))
    })
    .map(|_| ())
}

/// Waits until `s` has routes for exactly the prefixes of `want` (in `family`): nothing
/// missing, nothing extra (churn scenarios: the RIB must match the peer's table).
pub fn wait_exactly(
    s: &dyn Speaker,
    family: Family,
    want: &[String],
    deadline: Duration,
) -> Result<()> {
    let want: BTreeSet<&String> = want.iter().collect();
    let desc = format!("{} has exactly {} expected prefixes", s.label(), want.len());
    wait_observing(deadline, POLL, &desc, || {
        let have: BTreeSet<String> = s.learned(family)?.into_iter().collect();
        let missing: Vec<&&String> = want
            .iter()
            .filter(|w| !have.contains(**w))
            .take(10)
            .collect();
        let extra: Vec<&String> = have.iter().filter(|h| !want.contains(h)).take(10).collect();
        Ok(Observed::when(
            missing.is_empty() && extra.is_empty(),
            format!(
                "{} routes; missing (first 10) {missing:?}; extra (first 10) {extra:?}",
                have.len()
            ),
        ))
    })
    .map(|_| ())
}
