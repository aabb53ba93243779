//! DOC: `show protocols`: what the daemon keeps of each peer ([`PeerStatus`]) and of its
//! local protocols, turned into the [`ProtocolStatus`] values the control socket, `--json`
//! and the metrics show, in BIRD 1.6's words (states, capabilities, session flags).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bgp_core::bfd::Verdict;
use bgp_core::rib::{BatchStats, SourceCounts, SourceId, TableCounts};
use bgp_core::session::{Down, Event, StateKind, Stats};
use bgp_core::wire::Negotiated;
use bgpd_config::PeerSpec;

use crate::status::{BgpStatus, ProtoKind, ProtoState, ProtocolStatus, RouteCounts};

/// What `show protocols` shows of a peer: kept by its task, copied under a short lock.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Session state.
    pub state: StateKind,
    /// When it last changed.
    pub since: SystemTime,
    /// Administratively enabled.
    pub enabled: bool,
    /// Last error, BIRD words.
    pub last_error: Option<String>,
    /// What was negotiated on the established session (the session's own, shared).
    pub negotiated: Option<Arc<Negotiated>>,
    /// Established since.
    pub established_since: Option<SystemTime>,
    /// Our address on the current connection.
    pub local_addr: Option<IpAddr>,
    /// Messages received and sent by type (the peer's `bgp_core::peer::Peer::stats`, copied
    /// after each turn of its task).
    pub messages: bgp_core::session::Stats,
    /// Route counters.
    pub routes: RouteCounts,
    /// Its routes are kept stale (graceful restart helper).
    pub stale: bool,
}

impl Default for PeerStatus {
    fn default() -> Self {
        PeerStatus {
            state: StateKind::Idle,
            since: SystemTime::now(),
            enabled: true,
            last_error: None,
            negotiated: None,
            established_since: None,
            local_addr: None,
            messages: bgp_core::session::Stats::default(),
            routes: RouteCounts::default(),
            stale: false,
        }
    }
}

impl PeerStatus {
    /// What a session event changes, at `at`: see [`PeerStatus::established`] and
    /// [`PeerStatus::down`]; End-of-RIB or the stale timer's end clear `stale`.
    pub fn follow(&mut self, ev: &Event, at: SystemTime) {
        match ev {
            Event::Established(n) => self.established(Arc::clone(n), at),
            Event::Down(d) => {
                self.down(d);
            }
            Event::EndOfRib(_) | Event::StaleRoutesExpired(_) => self.stale = false,
            _ => {}
        }
    }

    /// The session came up at `at`, with `negotiated`: the last error is cleared.
    pub fn established(&mut self, negotiated: Arc<Negotiated>, at: SystemTime) {
        self.negotiated = Some(negotiated);
        self.established_since = Some(at);
        self.last_error = None;
    }

    /// A session went down: why, in BIRD's words, becomes the last error (returned); an
    /// established session's negotiated values go, and its routes are kept stale when
    /// graceful restart keeps any family.
    pub fn down(&mut self, d: &Down) -> &str {
        if d.was_established() {
            self.negotiated = None;
            self.established_since = None;
            self.stale = !d.keep_stale.is_empty();
        }
        self.last_error.insert(d.reason.bird_text())
    }

    /// A batch of the peer's UPDATEs applied: the cumulative counters of what was received,
    /// accepted and rejected by the import filter.
    pub fn updates(&mut self, s: &BatchStats) {
        self.routes.received += s.received;
        self.routes.accepted += s.accepted;
        self.routes.rejected += s.filtered;
    }

    /// What a BFD verdict changes: a session BFD closed says so as its last error.
    pub fn bfd(&mut self, v: Verdict) {
        if v == Verdict::Close {
            self.last_error = Some("BFD session down".into());
        }
    }

    /// The peer's state and message counters after a turn of its task, at `at`: the state
    /// left when it changed.
    pub fn observe(
        &mut self,
        state: StateKind,
        messages: Stats,
        at: SystemTime,
    ) -> Option<StateKind> {
        self.messages = messages;
        if self.state == state {
            return None;
        }
        self.since = at;
        Some(std::mem::replace(&mut self.state, state))
    }
}

/// The daemon-wide facts the local protocols (`kernel1`, `device1`, `direct1`, `static1`)
/// are shown with.
#[derive(Debug, Clone)]
pub struct LocalFacts {
    /// The daemon's start.
    pub started: SystemTime,
    /// A shutdown is under way (the protocols show `stop`).
    pub shutting_down: bool,
    /// The kernel is programmed (else `kernel1` is down).
    pub fib_enabled: bool,
    /// A `direct` protocol is configured.
    pub direct: bool,
    /// Routes the kernel protocol wants installed (installed, pending, refused).
    pub kernel_exported: u64,
}

/// The local protocols, in BIRD's order, with their counters from `counts`.
pub fn local_protocols(f: &LocalFacts, counts: &TableCounts) -> Vec<ProtocolStatus> {
    let up = if f.shutting_down {
        ProtoState::Stop
    } else {
        ProtoState::Up
    };
    let local = |name: &str, kind: ProtoKind, state: ProtoState, src: Option<SourceId>| {
        let c = src.map(|s| source_counts(counts, s)).unwrap_or_default();
        ProtocolStatus {
            name: name.into(),
            kind,
            state,
            since: f.started,
            info: String::new(),
            description: None,
            import_policy: "ACCEPT".into(),
            export_policy: "REJECT".into(),
            routes: RouteCounts {
                imported: c.routes,
                preferred: c.best,
                exported: c.exported,
                ..RouteCounts::default()
            },
            bgp: None,
        }
    };
    let kernel_state = if f.fib_enabled { up } else { ProtoState::Down };
    let mut kernel = local(
        "kernel1",
        ProtoKind::Kernel,
        kernel_state,
        Some(SourceId::KERNEL),
    );
    // The kernel protocol "exports" the routes it wants installed (refused ones too).
    kernel.routes.exported = f.kernel_exported;
    let mut out = vec![kernel, local("device1", ProtoKind::Device, up, None)];
    if f.direct {
        out.push(local(
            "direct1",
            ProtoKind::Direct,
            up,
            Some(SourceId::DIRECT),
        ));
    }
    out.push(local(
        "static1",
        ProtoKind::Static,
        up,
        Some(SourceId::STATIC),
    ));
    out
}

/// `show protocols`: the local protocols ([`local_protocols`]), then the BGP peers (their
/// spec, status and RIB source) in the order given, with their counters from `counts`.
/// `local_as`: the daemon's AS.
pub fn protocols<'a>(
    f: &LocalFacts,
    counts: &TableCounts,
    peers: impl IntoIterator<Item = (&'a PeerSpec, &'a PeerStatus, SourceId)>,
    local_as: u32,
) -> Vec<ProtocolStatus> {
    let mut out = local_protocols(f, counts);
    for (spec, st, id) in peers {
        let c = counts.per_source.get(&id).copied().unwrap_or_default();
        out.push(peer_protocol(spec, st, c, local_as));
    }
    out
}

/// The RIB source of a local protocol's name (`static1`, `kernel1`, `direct1`), if it has
/// one (`device1` has no routes).
pub fn local_source(name: &str) -> Option<SourceId> {
    match name {
        "static1" => Some(SourceId::STATIC),
        "kernel1" => Some(SourceId::KERNEL),
        "direct1" => Some(SourceId::DIRECT),
        _ => None,
    }
}

fn source_counts(counts: &TableCounts, s: SourceId) -> SourceCounts {
    counts.per_source.get(&s).copied().unwrap_or_default()
}

/// A BGP peer's protocol: its state as BIRD shows it (`Passive` for a passive peer waiting,
/// the last error after the state while not established), its counters (the table's now,
/// `counts`, and its cumulative ones), what was negotiated. `local_as`: the daemon's AS.
pub fn peer_protocol(
    spec: &PeerSpec,
    st: &PeerStatus,
    counts: SourceCounts,
    local_as: u32,
) -> ProtocolStatus {
    let established = st.state == StateKind::Established;
    let state = if !st.enabled {
        ProtoState::Down
    } else if established {
        ProtoState::Up
    } else {
        ProtoState::Start
    };
    let bgp_state = if !st.enabled {
        "Down".to_string()
    } else if spec.common.passive && st.state == StateKind::Active {
        "Passive".into()
    } else {
        st.state.name().into()
    };
    let info = match &st.last_error {
        Some(e) if !established => format!("{bgp_state:<14}{e}"),
        _ => bgp_state.clone(),
    };
    let n = st.negotiated.as_deref();
    let policy = |p: &Option<String>| p.clone().unwrap_or_else(|| "ACCEPT".into());
    ProtocolStatus {
        name: spec.name.clone(),
        kind: ProtoKind::Bgp,
        state,
        since: st.since,
        info,
        description: spec.common.description.clone(),
        import_policy: policy(&spec.common.import),
        export_policy: policy(&spec.common.export),
        routes: RouteCounts {
            imported: counts.routes,
            preferred: counts.best,
            exported: counts.exported,
            ..st.routes
        },
        bgp: Some(BgpStatus {
            state: bgp_state,
            neighbor_address: spec.address,
            neighbor_port: spec.common.port,
            neighbor_as: spec.asn,
            local_as,
            neighbor_id: n.map(|n| n.peer_id),
            neighbor_caps: n.map(caps).unwrap_or_default(),
            session_flags: n.map(|n| session_flags(spec, n)).unwrap_or_default(),
            source_address: st.local_addr,
            hold_timer: n.map(|n| (u32::from(n.hold_time), u32::from(n.hold_time))),
            keepalive_timer: n.map(|n| {
                let k = spec.common.keepalive_time.unwrap_or(n.hold_time / 3);
                (u32::from(k), u32::from(k))
            }),
            last_error: st.last_error.clone(),
            established_since: st.established_since,
            rr_client: spec.common.rr_client,
            graceful_restart_stale: st.stale,
            messages_in: st.messages.received,
            messages_out: st.messages.sent,
        }),
    }
}

/// The neighbour's capabilities in BIRD's words.
pub fn caps(n: &Negotiated) -> Vec<String> {
    words(&[
        (n.route_refresh, "refresh"),
        (n.enhanced_route_refresh, "enhanced-refresh"),
        (n.peer_graceful_restart.is_some(), "restart-able"),
        (n.four_octet_as, "AS4"),
        (!n.add_path_rx.is_empty(), "add-path-rx"),
        (!n.add_path_tx.is_empty(), "add-path-tx"),
        (n.extended_message, "ext-messages"),
    ])
}

/// The session's flags in BIRD 1.6's order: internal/external, multihop, route-reflector,
/// AS4, then what add-path negotiated.
fn session_flags(spec: &PeerSpec, n: &Negotiated) -> Vec<String> {
    words(&[
        (true, if n.is_ebgp() { "external" } else { "internal" }),
        (spec.common.multihop.is_some(), "multihop"),
        (spec.common.rr_client, "route-reflector"),
        (n.four_octet_as, "AS4"),
        (!n.add_path_rx.is_empty(), "add-path-rx"),
        (!n.add_path_tx.is_empty(), "add-path-tx"),
    ])
}

/// The words whose flag is set, in order.
fn words(flags: &[(bool, &str)]) -> Vec<String> {
    flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| w.to_string())
        .collect()
}

#[cfg(test)]
#[path = "protocols_tests.rs"]
mod tests;
