//! End to end in network namespaces (root), several bgpd processes (the `bgpd` binary of this
//! build), checked through the kernel tables and the daemons' control sockets (`bgpd show
//! protocols|route --json`): two route reflectors in one cluster with three clients (stopping
//! one RR loses nothing), eBGP over IPv4 and IPv6 sessions with a SIGHUP reload that adds a
//! peer and a static route without resetting the sessions, TCP-MD5 match and mismatch.

mod common;

use std::time::Duration;

use bgpd_lab::kernel::RouteMonitor;
use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed};
use common::{
    best, nstat, ours, protocols, sessions, start, via, wait_all_established, wait_kernel,
    wait_routes,
};

fn rr_config(n: &NodeNet, other_rr: &NodeNet) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
shutdown = "notify"
[listen]
addresses = ["{ip}"]
[kernel]
enabled = false
[route_reflector]
cluster_id = "10.255.0.1"
clients = ["Client"]
[[peers]]
name = "RR_peer"
address = "{other}"
asn = 64512
source_address = "{ip}"
hold_time = 9
[[peer_ranges]]
name = "Client"
prefix = "172.31.0.0/24"
asn = 64512
hold_time = 9
"#,
        ip = n.ip4(),
        other = other_rr.ip4()
    )
}

fn client_config(n: &NodeNet, idx: u8, rrs: &[&NodeNet]) -> String {
    let mut s = format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = []
[kernel]
protocol = "bird"
[[static]]
prefix = "10.244.{idx}.0/26"
blackhole = true
"#,
        ip = n.ip4()
    );
    for rr in rrs {
        s += &format!(
            "[[peers]]\nname = \"Global_{}\"\naddress = \"{}\"\nasn = 64512\nsource_address = \"{}\"\nhold_time = 9\n",
            rr.ip4().to_string().replace('.', "_"),
            rr.ip4(),
            n.ip4()
        );
    }
    s
}

#[test]
fn two_route_reflectors_one_cluster_three_clients() {
    let mut lab = Lab::new("bgpd_rr").unwrap();
    let lan = lab.lan().unwrap();
    let rr1 = lab.node("rr1", &[(&lan, 2)], None).unwrap();
    let rr2 = lab.node("rr2", &[(&lan, 3)], None).unwrap();
    let clients: Vec<NodeNet> = (1..=3u8)
        .map(|i| lab.node(&format!("c{i}"), &[(&lan, 20 + i)], None).unwrap())
        .collect();
    let mut p_rr1 = start(&rr1, &rr_config(&rr1, &rr2), 0);
    let _p_rr2 = start(&rr2, &rr_config(&rr2, &rr1), 0);
    let _pc: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| start(c, &client_config(c, i as u8 + 1, &[&rr1, &rr2]), 0))
        .collect();
    let all_learned = |me: usize, r: &[bgpd_lab::KernelRoute]| {
        clients.iter().enumerate().all(|(j, o)| {
            let dst = format!("10.244.{}.0/26", j + 1);
            if j == me {
                r.iter().any(|k| k.dst == dst && k.is_blackhole())
            } else {
                via(r, &dst, &o.ip4().to_string())
            }
        })
    };
    for (i, c) in clients.iter().enumerate() {
        wait_kernel(
            c,
            Family::V4,
            40,
            "every client learns every block via its owner (reflected)",
            |r| all_learned(i, r),
        );
    }
    // Through the control sockets: each RR has its RR peer and three dynamic clients up and
    // holds every block from its owner; each client has both RRs up, and two paths (one per
    // RR) of every other block, reflected (ORIGINATOR_ID the owner, CLUSTER_LIST our cluster).
    for rr in [&rr1, &rr2] {
        wait_all_established(rr, 4, 30);
        wait_routes(rr, 30, "an RR holds every block from its owner", |rs| {
            clients.iter().enumerate().all(|(j, o)| {
                let dst = format!("10.244.{}.0/26", j + 1);
                let owner = o.ip4().to_string();
                rs.iter().any(|r| {
                    r.primary
                        && r.prefix == dst
                        && r.bgp.as_ref().and_then(|b| b.next_hop.as_deref()) == Some(&*owner)
                })
            })
        });
    }
    for (i, c) in clients.iter().enumerate() {
        wait_all_established(c, 2, 30);
        wait_routes(c, 30, "two reflected paths per block", |rs| {
            clients.iter().enumerate().all(|(j, o)| {
                let dst = format!("10.244.{}.0/26", j + 1);
                let paths: Vec<_> = rs.iter().filter(|r| r.prefix == dst).collect();
                if j == i {
                    return paths.len() == 1 && paths[0].protocol == "static1";
                }
                let owner = o.ip4().to_string();
                paths.len() == 2
                    && paths.iter().all(|r| {
                        r.bgp.as_ref().is_some_and(|b| {
                            b.originator_id.as_deref() == Some(&*owner)
                                && b.cluster_list == ["10.255.0.1"]
                        })
                    })
            })
        });
    }
    // Stop RR 1 with Cease (shutdown = "notify": no GR on the clients' side): nothing lost,
    // RR 2 still reflects everything.
    let mons: Vec<RouteMonitor> = clients
        .iter()
        .map(|c| RouteMonitor::start(&c.ns, &c.path("monitor.log")).unwrap())
        .collect();
    p_rr1.signal(libc::SIGTERM).unwrap();
    assert!(p_rr1.wait_exit(Duration::from_secs(10)).is_some());
    // Each client saw RR 1 go (its Cease); `ip monitor` records any deletion from the start.
    let rr1_name = format!("Global_{}", rr1.ip4().to_string().replace('.', "_"));
    for c in &clients {
        wait_observing(
            Duration::from_secs(30),
            Duration::from_millis(200),
            &format!("{}: session with RR 1 down", c.name),
            || {
                let s = sessions(c);
                let down = s.iter().any(|(n, up)| *n == rr1_name && !up);
                Ok(Observed::when(down, format!("{s:?}")))
            },
        )
        .unwrap();
    }
    for (i, c) in clients.iter().enumerate() {
        assert!(
            all_learned(i, &ours(c, Family::V4)),
            "{}: lost routes after RR 1 stopped",
            c.name
        );
    }
    for (i, c) in clients.iter().enumerate() {
        let s = sessions(c);
        let rr2_name = format!("Global_{}", rr2.ip4().to_string().replace('.', "_"));
        assert!(
            s.contains(&(rr2_name, true)) && s.iter().filter(|(_, up)| *up).count() == 1,
            "{}: only the session with RR 2 up: {s:?}",
            c.name
        );
        for (j, o) in clients.iter().enumerate() {
            if j != i {
                let dst = format!("10.244.{}.0/26", j + 1);
                let b = best(c, &dst);
                assert_eq!(
                    b.as_ref().and_then(|(_, nh)| nh.clone()),
                    Some(o.ip4().to_string()),
                    "{}: {dst} still best through RR 2: {b:?}",
                    c.name
                );
            }
        }
    }
    let watched: Vec<String> = (1..=3).map(|j| format!("10.244.{j}.0/26")).collect();
    for (c, m) in clients.iter().zip(mons) {
        let d = m.deletions_of(&watched).unwrap();
        assert!(d.is_empty(), "{}: deleted {d:?}", c.name);
        m.stop();
    }
}

fn ebgp_config(
    n: &NodeNet,
    asn: u32,
    peer: &NodeNet,
    peer_as: u32,
    idx: u8,
    password: Option<&str>,
) -> String {
    let pw = password
        .map(|p| format!("password = \"{p}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
router_id = "{ip4}"
asn = {asn}
[listen]
addresses = ["{ip4}", "{ip6}"]
[kernel]
protocol = "bird"
[[static]]
prefix = "10.{idx}.0.0/24"
blackhole = true
[[static]]
prefix = "fd00:{idx}::/48"
blackhole = true
[[peers]]
name = "v4"
address = "{p4}"
asn = {peer_as}
source_address = "{ip4}"
families = ["ipv4"]
hold_time = 9
{pw}
[[peers]]
name = "v6"
address = "{p6}"
asn = {peer_as}
source_address = "{ip6}"
families = ["ipv6"]
hold_time = 9
{pw}
"#,
        ip4 = n.ip4(),
        ip6 = n.ip6(),
        p4 = peer.ip4(),
        p6 = peer.ip6(),
    )
}

#[test]
fn ebgp_ipv4_and_ipv6_sessions() {
    let mut lab = Lab::new("bgpd_ebgp").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let mut pa = start(&a, &ebgp_config(&a, 65001, &b, 65002, 1, None), 0);
    let _pb = start(&b, &ebgp_config(&b, 65002, &a, 65001, 2, None), 0);
    let (a4, b4, a6, b6) = (
        a.ip4().to_string(),
        b.ip4().to_string(),
        a.ip6().to_string(),
        b.ip6().to_string(),
    );
    wait_kernel(&a, Family::V4, 30, "a learns 10.2.0.0/24 via b", |r| {
        via(r, "10.2.0.0/24", &b4)
    });
    wait_kernel(&b, Family::V4, 30, "b learns 10.1.0.0/24 via a", |r| {
        via(r, "10.1.0.0/24", &a4)
    });
    wait_kernel(&a, Family::V6, 30, "a learns fd00:2::/48 via b", |r| {
        via(r, "fd00:2::/48", &b6)
    });
    wait_kernel(&b, Family::V6, 30, "b learns fd00:1::/48 via a", |r| {
        via(r, "fd00:1::/48", &a6)
    });
    // Control socket: both sessions up on both sides; eBGP routes with the peer's AS.
    for n in [&a, &b] {
        wait_all_established(n, 2, 30);
    }
    let ebgp = |r: &bgpd_lab::bgpd::BgpdRoute, proto: &str, nh: &str, asn: &str| {
        r.primary
            && r.protocol == proto
            && r.bgp
                .as_ref()
                .is_some_and(|x| x.as_path == asn && x.next_hop.as_deref() == Some(nh))
    };
    wait_routes(&a, 20, "a: b's routes over v4 and v6", |rs| {
        rs.iter()
            .any(|r| r.prefix == "10.2.0.0/24" && ebgp(r, "v4", &b4, "65002"))
            && rs
                .iter()
                .any(|r| r.prefix == "fd00:2::/48" && ebgp(r, "v6", &b6, "65002"))
    });
    let since = |n: &NodeNet| -> Vec<(String, serde_json::Value)> {
        let v: serde_json::Value =
            serde_json::from_str(&common::cli(n, &["show", "protocols", "--json"]).unwrap())
                .unwrap();
        v["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "bgp")
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["bgp"]["established_since"].clone(),
                )
            })
            .collect()
    };
    let b_before = since(&b);

    // SIGHUP with a peer added and a static route added: the sessions with b are not reset
    // (b never withdraws a's routes: no deletion in b's kernel), the new static reaches b.
    let mon = RouteMonitor::start(&b.ns, &b.path("monitor.log")).unwrap();
    let mut cfg = ebgp_config(&a, 65001, &b, 65002, 1, None);
    cfg += "[[peers]]\nname = \"absent\"\naddress = \"172.31.0.99\"\nasn = 65009\npassive = true\n";
    cfg += "[[static]]\nprefix = \"10.11.0.0/24\"\nblackhole = true\n";
    std::fs::write(a.path("bgpd.toml"), cfg).unwrap();
    pa.signal(libc::SIGHUP).unwrap();
    wait_kernel(
        &b,
        Family::V4,
        20,
        "b learns the static added by the reload",
        |r| via(r, "10.11.0.0/24", &a4),
    );
    pa.ensure_running().unwrap();
    let d = mon
        .deletions_of(&["10.1.0.0/24".to_string(), "fd00:1::/48".to_string()])
        .unwrap();
    assert!(d.is_empty(), "the reload reset a session: {d:?}");
    mon.stop();
    // Control socket: a has the new peer (not up: nobody there), its sessions with b are the
    // same ones (b's `established_since` did not move).
    let ps = protocols(&a).unwrap();
    assert!(ps.iter().any(|p| p.name == "absent"), "{ps:?}");
    assert!(sessions(&a)
        .iter()
        .filter(|(n, _)| n != "absent")
        .all(|(_, up)| *up));
    assert_eq!(since(&b), b_before, "b's sessions were not reset");
}

#[test]
fn tcp_md5_match_and_mismatch() {
    let mut lab = Lab::new("bgpd_md5").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let c = lab.node("c", &[(&lan, 13)], None).unwrap();
    // a <-> b with the same key; c uses another key towards a.
    let mut ca = ebgp_config(&a, 65001, &b, 65002, 1, Some("s3cret"));
    ca += &format!(
        "[[peers]]\nname = \"c\"\naddress = \"{}\"\nasn = 65003\nfamilies = [\"ipv4\"]\npassword = \"s3cret\"\nhold_time = 9\n",
        c.ip4()
    );
    let _pa = start(&a, &ca, 0);
    let _pb = start(&b, &ebgp_config(&b, 65002, &a, 65001, 2, Some("s3cret")), 0);
    let cc = format!(
        r#"
router_id = "{ip}"
asn = 65003
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[[static]]
prefix = "10.3.0.0/24"
blackhole = true
[[peers]]
name = "a"
address = "{pa}"
asn = 65001
families = ["ipv4"]
password = "wrong"
hold_time = 9
"#,
        ip = c.ip4(),
        pa = a.ip4()
    );
    let _pc = start(&c, &cc, 0);
    let b4 = b.ip4().to_string();
    wait_kernel(
        &a,
        Family::V4,
        30,
        "matching keys: a learns b's route",
        |r| via(r, "10.2.0.0/24", &b4),
    );
    // c and a keep trying: wait until each side's kernel dropped several of the other's
    // segments for their wrong MD5 signature (TcpExtTCPMD5Failure).
    for n in [&a, &c] {
        wait_observing(
            Duration::from_secs(60),
            Duration::from_millis(200),
            &format!("{}: segments with a wrong MD5 signature dropped", n.name),
            || {
                let d = nstat(&n.ns, "TcpExtTCPMD5Failure");
                Ok(Observed::when(d >= 3, format!("TcpExtTCPMD5Failure {d}")))
            },
        )
        .unwrap();
    }
    // Over that whole window no TCP connection came up between them: not one OPEN either way
    // (cumulative counters), hence no session and no route.
    let opens = |n: &NodeNet, peer: &str| {
        protocols(n)
            .unwrap()
            .into_iter()
            .find(|p| p.name == peer)
            .and_then(|p| p.bgp)
            .map(|b| (b.messages_in.open, b.messages_out.open))
    };
    assert_eq!(opens(&a, "c"), Some((0, 0)), "a <-> c: an OPEN crossed");
    assert_eq!(opens(&c, "a"), Some((0, 0)), "c <-> a: an OPEN crossed");
    assert!(
        !ours(&a, Family::V4).iter().any(|k| k.dst == "10.3.0.0/24"),
        "mismatched key: no session, no route from c"
    );
    assert!(!ours(&c, Family::V4).iter().any(|k| k.dst == "10.1.0.0/24"));
    // Control socket: a's sessions with b up, with c not; c's with a not.
    let sa = sessions(&a);
    assert!(
        sa.contains(&("v4".into(), true)) && sa.contains(&("c".into(), false)),
        "{sa:?}"
    );
    assert_eq!(sessions(&c), [("a".to_string(), false)]);
    assert!(best(&a, "10.3.0.0/24").is_none());
    assert!(best(&a, "10.2.0.0/24").is_some());
}
