//! DOC: what a reload changes, as the configuration model sees it: the `[kernel]` keys a
//! running daemon cannot take (a restart is required), whether the identity changed (every
//! session resets), the filters whose text changed, and for each running peer whether it goes,
//! resets its session, or keeps it with new policy, BFD or enable settings. The daemon applies
//! the answer ([`Config::reload_plan`]); nothing here runs.
//!
//! Peers are matched by name (dynamic neighbours by their range): added peers start, removed
//! ones stop with Cease 6/3, peers whose session settings changed reset with Cease 6/6;
//! policy-only changes go to the RIB (the peer's new settings and filters) and take effect
//! through the stored Adj-RIB-In or a ROUTE-REFRESH. `listen` changes rebind the listeners
//! live (kept addresses keep their socket; a bind error refuses the reload); an `asn` or
//! `router_id` change resets every session with the new identity (as BIRD restarts its
//! protocols). `[kernel]` is read once at start-up (the FIB thread, the filters it names), so
//! a reload that changes it is refused, with an error saying a restart is required, before
//! anything changes; a new text of the kernel filters themselves applies (the RIB hands every
//! route to the FIB again).

use std::borrow::Borrow;

use bgp_core::driver::Admin;
use std::collections::HashMap;

use super::derive::{PeerOrigin, PeerSpec};
use super::schema::Kernel;
use super::Config;

/// What a reload does, as a whole ([`Config::reload_plan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadPlan {
    /// Our AS or router id changed: every session resets with the new identity.
    pub identity: bool,
    /// The kernel import filter's text changed: the learned kernel routes are filtered again.
    pub reimport_kernel: bool,
    /// What happens to each running peer, in the order given.
    pub peers: Vec<PeerChange>,
    /// The configured peers not running: started.
    pub spawn: Vec<PeerSpec>,
}

/// What a reload does to one running peer.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerChange {
    /// Gone from the configuration (a dynamic neighbour: its range is gone): Cease 6/3.
    Remove,
    /// Its session settings (or the daemon's identity) changed: reset with Cease 6/6 and start
    /// again with these.
    Reset(PeerSpec),
    /// It keeps its session.
    Keep(KeptPeer),
}

/// A peer that keeps its session across a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptPeer {
    /// Its new settings (policies, descriptions: what the session itself does not use).
    pub spec: PeerSpec,
    /// Its import filter changed (another name, or the same name with another text): its
    /// routes are filtered again.
    pub import_changed: bool,
    /// Its BFD settings changed: the BFD session follows, BGP untouched.
    pub bfd_changed: bool,
    /// `disabled` changed: `Some(true)` enables it, `Some(false)` disables it.
    pub enable: Option<bool>,
}

impl KeptPeer {
    /// What its session is asked to do: `enable`d or `disable`d when `disabled` changed.
    pub fn admin(&self) -> Option<Admin> {
        self.enable.map(|on| match on {
            true => Admin::Enable,
            false => Admin::Disable("disabled by configuration".into()),
        })
    }
}

impl PeerSpec {
    /// Whether `other` differs from this spec in what the session itself uses (so a reload
    /// from one to the other resets it). `gateway` too, as in BIRD: the routes' kernel next
    /// hops are resolved anew with the session's routes.
    pub fn session_differs(&self, other: &PeerSpec) -> bool {
        let (x, y) = (&self.common, &other.common);
        self.address != other.address
            || self.asn != other.asn
            || x.port != y.port
            || x.passive != y.passive
            || x.password != y.password
            || x.multihop != y.multihop
            || x.ttl_security != y.ttl_security
            || x.source_address != y.source_address
            || x.hold_time != y.hold_time
            || x.keepalive_time != y.keepalive_time
            || x.add_path != y.add_path
            || x.graceful_restart_time != y.graceful_restart_time
            || x.max_prefixes != y.max_prefixes
            || x.families != y.families
            || x.next_hop_v6 != y.next_hop_v6
            || x.local_asn != y.local_asn
            || x.connect_delay_time != y.connect_delay_time
            || x.connect_retry_time != y.connect_retry_time
            || x.error_wait_time != y.error_wait_time
            || x.gateway != y.gateway
    }
}

impl Kernel {
    /// The keys that differ between `self` and `other`.
    pub fn changed_keys(&self, other: &Kernel) -> Vec<&'static str> {
        let (a, b) = (self, other);
        let text =
            |f: &Option<serde_spanned::Spanned<String>>| f.as_ref().map(|e| e.get_ref().clone());
        [
            (a.enabled != b.enabled, "enabled"),
            (a.protocol.get_ref() != b.protocol.get_ref(), "protocol"),
            (a.table != b.table, "table"),
            (a.metric != b.metric, "metric"),
            (a.learn != b.learn, "learn"),
            (a.persist != b.persist, "persist"),
            (
                a.scan_interval.get_ref() != b.scan_interval.get_ref(),
                "scan_interval",
            ),
            (a.ecmp_max.get_ref() != b.ecmp_max.get_ref(), "ecmp_max"),
            (a.tunnel_device != b.tunnel_device, "tunnel_device"),
            (a.nexthop_objects != b.nexthop_objects, "nexthop_objects"),
            (text(&a.export) != text(&b.export), "export"),
            (text(&a.import) != text(&b.import), "import"),
        ]
        .into_iter()
        .filter(|(changed, _)| *changed)
        .map(|(_, key)| key)
        .collect()
    }
}

impl Config {
    /// What a running daemon with this configuration cannot take from `new`: the `[kernel]`
    /// keys that changed (read once at start-up). Empty when `new` can be applied live.
    pub fn restart_required(&self, new: &Config) -> Vec<&'static str> {
        self.file.kernel.changed_keys(&new.file.kernel)
    }

    /// Whether the listening addresses or port differ in `new` (the listeners are rebound;
    /// a bind error refuses the reload).
    pub fn listen_changed(&self, new: &Config) -> bool {
        let (o, n) = (&self.file.listen, &new.file.listen);
        o.addresses != n.addresses || o.port != n.port
    }

    /// Whether our AS or router id differs in `new` (every session resets).
    pub fn identity_changed(&self, new: &Config) -> bool {
        self.asn() != new.asn() || self.router_id() != new.router_id()
    }

    /// The filters of `new` that are not in this configuration with the same text.
    pub fn changed_policies(&self, new: &Config) -> Vec<String> {
        let old: HashMap<String, bgp_core::filter::Filter> = self.policies().into_iter().collect();
        new.policies()
            .into_iter()
            .filter(|(n, p)| old.get(n) != Some(p))
            .map(|(n, _)| n)
            .collect()
    }

    /// Whether the kernel import filter's text changed in `new` (`changed`: from
    /// [`Config::changed_policies`]): the learned kernel routes are filtered again.
    pub fn kernel_import_changed(new: &Config, changed: &[String]) -> bool {
        new.file
            .kernel
            .import
            .as_ref()
            .is_some_and(|i| changed.contains(i.get_ref()))
    }

    /// What the reload from this configuration to `new` does, with the `running` peers: the
    /// identity, the kernel routes to filter again, each running peer's [`PeerChange`], the
    /// peers to start. ([`Config::restart_required`] and the listeners come first: they may
    /// refuse the reload.)
    pub fn reload_plan(&self, new: &Config, running: &[impl Borrow<PeerSpec>]) -> ReloadPlan {
        let identity = self.identity_changed(new);
        let changed = self.changed_policies(new);
        let peers = (running.iter())
            .map(|s| self.peer_change(new, s.borrow(), identity, &changed))
            .collect();
        let spawn = (new.peers().into_iter())
            .filter(|w| !running.iter().any(|s| s.borrow().name == w.name))
            .collect();
        ReloadPlan {
            identity,
            reimport_kernel: Config::kernel_import_changed(new, &changed),
            peers,
            spawn,
        }
    }

    /// The RIB's settings for a running peer (`spec`) after its `change` (this configuration is
    /// the new one): a kept peer's (with its session's own address `local`, which stays the
    /// next hop for "self"), a reset configured peer's; none for a removed peer or a reset
    /// dynamic neighbour (its new session brings them).
    pub fn rib_peer_config_after(
        &self,
        change: &PeerChange,
        spec: &PeerSpec,
        local: Option<std::net::IpAddr>,
    ) -> Option<bgp_core::rib::PeerConfig> {
        match change {
            PeerChange::Remove => None,
            PeerChange::Reset(w) => {
                (spec.origin != PeerOrigin::Dynamic).then(|| self.rib_peer_config(w))
            }
            PeerChange::Keep(k) => Some(self.rib_peer_config_on(&k.spec, local)),
        }
    }

    /// What the reload from this configuration to `new` does to the running peer `spec`.
    /// `identity`: [`Config::identity_changed`]; `changed`: [`Config::changed_policies`].
    /// Dynamic neighbours follow their range in `new`; the others their name.
    pub fn peer_change(
        &self,
        new: &Config,
        spec: &PeerSpec,
        identity: bool,
        changed: &[String],
    ) -> PeerChange {
        let dynamic = spec.origin == PeerOrigin::Dynamic;
        let wanted = if dynamic {
            new.dynamic_peer(spec.address)
        } else {
            new.peers().into_iter().find(|w| w.name == spec.name)
        };
        let Some(w) = wanted else {
            return PeerChange::Remove;
        };
        if identity || spec.session_differs(&w) {
            return PeerChange::Reset(w);
        }
        let import_changed = spec.common.import != w.common.import
            || w.common
                .import
                .as_ref()
                .is_some_and(|i| changed.contains(i));
        let bfd_changed = self.bfd_peer(spec) != new.bfd_peer(&w)
            || self.file.bfd.wait_for_up != new.file.bfd.wait_for_up;
        let enable =
            (!dynamic && spec.common.disabled != w.common.disabled).then_some(!w.common.disabled);
        PeerChange::Keep(KeptPeer {
            spec: w,
            import_changed,
            bfd_changed,
            enable,
        })
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
