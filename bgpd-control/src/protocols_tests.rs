//! `show protocols`' values from a parsed configuration and peer statuses.

use bgp_core::rib::{SourceCounts, SourceId, TableCounts};
use bgp_core::wire::{Family, GracefulRestartCap};
use bgpd_config::Config;

use super::*;

fn spec(extra: &str) -> PeerSpec {
    let text = format!(
        "router_id = \"10.0.0.1\"\nasn = 64512\n[[peers]]\nname = \"Mesh_10_0_0_2\"\naddress = \"10.0.0.2\"\nasn = 64512\n{extra}"
    );
    let c = Config::parse(&text, "t").unwrap();
    c.peers().remove(0)
}

fn counts(routes: u64, best: u64, exported: u64) -> SourceCounts {
    SourceCounts {
        routes,
        best,
        exported,
    }
}

#[test]
fn an_established_ibgp_peer_shows_birds_caps_flags_and_counters() {
    let s = spec("rr_client = true\n");
    let n = Negotiated {
        local_as: 64512,
        peer_as: 64512,
        peer_id: "10.0.0.2".parse().unwrap(),
        hold_time: 90,
        route_refresh: true,
        four_octet_as: true,
        add_path_rx: vec![Family::IPV4_UNICAST],
        peer_graceful_restart: Some(GracefulRestartCap::default()),
        ..Negotiated::default()
    };
    let st = PeerStatus {
        state: StateKind::Established,
        negotiated: Some(Arc::new(n)),
        routes: RouteCounts {
            received: 7,
            accepted: 5,
            rejected: 2,
            ..RouteCounts::default()
        },
        ..PeerStatus::default()
    };
    let p = peer_protocol(&s, &st, counts(5, 4, 9), 64512);
    assert_eq!((p.state, p.info.as_str()), (ProtoState::Up, "Established"));
    assert_eq!(
        (p.import_policy.as_str(), p.export_policy.as_str()),
        ("ACCEPT", "ACCEPT")
    );
    assert_eq!(
        (p.routes.imported, p.routes.preferred, p.routes.exported),
        (5, 4, 9)
    );
    assert_eq!(
        (p.routes.received, p.routes.accepted, p.routes.rejected),
        (7, 5, 2)
    );
    let b = p.bgp.unwrap();
    assert_eq!(
        b.neighbor_caps,
        ["refresh", "restart-able", "AS4", "add-path-rx"]
    );
    assert_eq!(
        b.session_flags,
        ["internal", "route-reflector", "AS4", "add-path-rx"]
    );
    assert_eq!(
        (b.hold_timer, b.keepalive_timer),
        (Some((90, 90)), Some((30, 30)))
    );
    assert_eq!(b.neighbor_id, Some("10.0.0.2".parse().unwrap()));
}

#[test]
fn a_peer_not_established_shows_its_state_then_its_last_error() {
    let st = PeerStatus {
        state: StateKind::Active,
        last_error: Some("Connection closed".into()),
        ..PeerStatus::default()
    };
    let p = peer_protocol(&spec(""), &st, SourceCounts::default(), 64512);
    assert_eq!(p.state, ProtoState::Start);
    assert_eq!(p.info, format!("{:<14}Connection closed", "Active"));
    // A passive peer waits as BIRD's `Passive`; a disabled one is `Down`.
    let p = peer_protocol(
        &spec("passive = true\n"),
        &st,
        SourceCounts::default(),
        64512,
    );
    assert_eq!(p.bgp.unwrap().state, "Passive");
    let off = PeerStatus {
        enabled: false,
        ..st
    };
    let p = peer_protocol(&spec(""), &off, SourceCounts::default(), 64512);
    assert_eq!(
        (p.state, p.bgp.unwrap().state.as_str()),
        (ProtoState::Down, "Down")
    );
}

#[test]
fn the_peers_follow_the_local_protocols_with_their_own_counters() {
    let mut per_source = std::collections::HashMap::new();
    per_source.insert(SourceId(100), counts(5, 4, 3));
    let t = TableCounts {
        per_source,
        routes: 5,
        networks: 5,
    };
    let f = LocalFacts {
        started: SystemTime::UNIX_EPOCH,
        shutting_down: false,
        fib_enabled: true,
        direct: false,
        kernel_exported: 0,
    };
    let (a, b) = (spec(""), spec("passive = true\n"));
    let st = PeerStatus::default();
    let v = protocols(
        &f,
        &t,
        [(&a, &st, SourceId(100)), (&b, &st, SourceId(101))],
        64512,
    );
    let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[..3], ["kernel1", "device1", "static1"]);
    assert_eq!(v.len(), 5);
    assert_eq!(v[3], peer_protocol(&a, &st, counts(5, 4, 3), 64512));
    assert_eq!(v[4], peer_protocol(&b, &st, SourceCounts::default(), 64512));
}

#[test]
fn local_protocols_in_birds_order_with_their_counters() {
    let mut per_source = std::collections::HashMap::new();
    per_source.insert(SourceId::KERNEL, counts(3, 2, 0));
    per_source.insert(SourceId::STATIC, counts(1, 1, 0));
    let t = TableCounts {
        per_source,
        routes: 4,
        networks: 3,
    };
    let mut f = LocalFacts {
        started: SystemTime::UNIX_EPOCH,
        shutting_down: false,
        fib_enabled: true,
        direct: false,
        kernel_exported: 11,
    };
    let v = local_protocols(&f, &t);
    let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kernel1", "device1", "static1"]);
    let k = &v[0];
    assert_eq!(
        (k.routes.imported, k.routes.preferred, k.routes.exported),
        (3, 2, 11)
    );
    assert_eq!(
        (k.import_policy.as_str(), k.export_policy.as_str()),
        ("ACCEPT", "REJECT")
    );
    assert_eq!(v[2].routes.imported, 1);
    f.direct = true;
    f.fib_enabled = false;
    f.shutting_down = true;
    let v = local_protocols(&f, &t);
    let names: Vec<&str> = v.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kernel1", "device1", "direct1", "static1"]);
    assert_eq!(
        (v[0].state, v[1].state),
        (ProtoState::Down, ProtoState::Stop)
    );
}

#[test]
fn the_status_follows_the_session() {
    use bgp_core::session::{Down, DownReason, Event};
    let t = |s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
    let mut st = PeerStatus {
        last_error: Some("Connection closed".into()),
        ..PeerStatus::default()
    };
    // A turn that changed nothing but the counters.
    let mut m = bgp_core::session::Stats::default();
    m.received.keepalive = 3;
    assert_eq!(st.observe(StateKind::Idle, m, t(1)), None);
    assert_eq!(st.messages.received.keepalive, 3);
    assert_eq!(
        st.observe(StateKind::Established, m, t(2)),
        Some(StateKind::Idle)
    );
    assert_eq!((st.state, st.since), (StateKind::Established, t(2)));
    st.established(Arc::new(Negotiated::default()), t(2));
    assert_eq!(
        (st.last_error.as_deref(), st.established_since),
        (None, Some(t(2)))
    );
    // Down from Established with a family kept: stale, negotiated values gone.
    let down = |from, keep_stale| Down {
        reason: DownReason::ConnectionClosed,
        from,
        keep_stale,
    };
    assert_eq!(
        st.down(&down(StateKind::Established, vec![Family::IPV4_UNICAST])),
        "Connection closed"
    );
    assert!(st.stale && st.negotiated.is_none() && st.established_since.is_none());
    // A later failure before Established keeps the stale routes.
    st.down(&down(StateKind::OpenSent, Vec::new()));
    assert!(st.stale);
    st.down(&down(StateKind::Established, Vec::new()));
    assert!(!st.stale);
    // Through `follow`: up, down gracefully, then End-of-RIB ends the stale state.
    st.follow(&Event::Established(Arc::new(Negotiated::default())), t(3));
    assert_eq!(st.established_since, Some(t(3)));
    st.follow(
        &Event::Down(down(StateKind::Established, vec![Family::IPV4_UNICAST])),
        t(4),
    );
    assert!(st.stale && st.negotiated.is_none());
    st.follow(&Event::EndOfRib(Family::IPV4_UNICAST), t(5));
    assert!(!st.stale);
    st.follow(
        &Event::StateChanged {
            from: StateKind::Idle,
            to: StateKind::Connect,
        },
        t(6),
    );
    assert_eq!(st.last_error.as_deref(), Some("Connection closed"));
    // BFD closing the session is its last error; its other verdicts change nothing.
    st.bfd(bgp_core::bfd::Verdict::Release);
    assert_eq!(st.last_error.as_deref(), Some("Connection closed"));
    st.bfd(bgp_core::bfd::Verdict::Close);
    assert_eq!(st.last_error.as_deref(), Some("BFD session down"));
    // Each batch of UPDATEs adds to the cumulative counters.
    let batch = bgp_core::rib::BatchStats {
        received: 5,
        accepted: 3,
        filtered: 2,
        end_of_rib: Vec::new(),
    };
    st.updates(&batch);
    st.updates(&batch);
    let r = st.routes;
    assert_eq!((r.received, r.accepted, r.rejected), (10, 6, 4));
}

#[test]
fn local_protocols_name_their_sources() {
    let f = LocalFacts {
        started: SystemTime::UNIX_EPOCH,
        shutting_down: false,
        fib_enabled: true,
        direct: true,
        kernel_exported: 0,
    };
    for p in local_protocols(&f, &TableCounts::default()) {
        let want = match p.kind {
            ProtoKind::Device => None,
            ProtoKind::Kernel => Some(SourceId::KERNEL),
            ProtoKind::Direct => Some(SourceId::DIRECT),
            ProtoKind::Static => Some(SourceId::STATIC),
            ProtoKind::Bgp => unreachable!(),
        };
        assert_eq!(local_source(&p.name), want, "{}", p.name);
    }
    assert_eq!(local_source("Mesh_10_0_0_2"), None);
}
