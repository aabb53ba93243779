//! IP-in-IP routes as calico-node's status reporter reads them (issue 15), on running daemons
//! in network namespaces (root): a Calico node (`tunl0` holding a /32 of its block, Calico's
//! `bird.cfg`: kernel `learn`, `import all`) whose kernel table holds routes BIRD did not put
//! there: an IP-in-IP route `via NODE dev tunl0 onlink` (what Felix programs from Calico v3.33
//! on, and what Calico's BIRD fork installed before), a cross-subnet route `via NODE dev eth0`,
//! a device route on `tunl0`, an `unreachable` route, and a route to a block the node also
//! learns over BGP (BGP and kernel paths on one network; BIRD's own install then fails with
//! `EEXIST` and its primary route is marked `!`). Node 1 runs BIRD 1.6, then bgpd (as `bird`, same file); the
//! other node is BIRD 1.6. `show route` (all forms, `all` with its `Kernel.source` and
//! `Kernel.metric` lines) must be equal as text, times masked, and every line must pass the
//! status reporter's regexes. Then a multipath kernel route is added: BIRD 1.6's `multipath`
//! line (and its `via ... weight 1` lines) must be printed alike, and make Calico's status
//! reporter fail alike.

mod calico_node;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bgpd_lab::bird16::mesh_name;
use bgpd_lab::{
    cmd, wait_observing, Bird, BirdVersion, CalicoBird16Config, NodeNet, Observed, Process,
};
use calico_node as cn;
use cn::seen::{
    bird_names, block, calico_lab, mask, reply_text, spawn_bird, AS, CONVERGE, POLL, POOL,
};

/// Kernel routes of another origin (`proto 80`, as Felix's), added on node 1 before its
/// daemon starts: (`[type] destination`, `ip route` arguments after it).
const ALIEN: [(&str, &str); 5] = [
    ("10.244.50.0/26", "via 172.31.0.12 dev tunl0 onlink"),
    ("unreachable 10.244.54.0/26", ""),
    ("10.244.51.0/26", "via 172.31.0.12 dev eth0"),
    ("10.244.52.0/26", "dev tunl0"),
    // Node 2's block: node 1 learns it over BGP too.
    ("10.244.12.0/26", "via 172.31.0.12 dev tunl0 onlink"),
];

/// A kernel route with two next hops, added once the others are compared.
const MULTIPATH: &str = "10.244.53.0/26";

/// The destination of an [`ALIEN`] entry (its route type word left out).
fn dest(d: &str) -> &str {
    d.rsplit(' ').next().unwrap_or(d)
}

fn view(test: &str, bgpd: bool) -> (Vec<cn::Route>, BTreeMap<String, String>) {
    let (lab, nodes, tunnel) = calico_lab(test, &[(11, true), (12, true)]);
    let ips: Vec<Ipv4Addr> = nodes.iter().map(NodeNet::ip4).collect();
    let cfg = |i: usize| {
        let c = CalicoBird16Config::new(&nodes[i], AS, &block([11, 12][i]), POOL, &ips, tunnel);
        c.render(&nodes[i].path("bird.log"))
    };
    let _other = Bird::start(BirdVersion::V16, &nodes[1], &cfg(1)).unwrap();
    let n1 = &nodes[0];
    for (dst, how) in ALIEN {
        let mut argv = vec!["-n", &n1.ns, "route", "add"];
        argv.extend(dst.split(' '));
        argv.extend(how.split_whitespace());
        argv.extend(["proto", "80"]);
        cmd::ip(&argv).unwrap();
    }
    let sock = n1.path("bird.ctl");
    let mut proc: Option<Process> = None;
    let mut _subject = None;
    if bgpd {
        let path = n1.path("bird.cfg");
        std::fs::write(&path, cfg(0)).unwrap();
        let bin = bird_names(lab.artefacts());
        proc = Some(spawn_bird(&bin, cn::Fam::V4, n1, &sock, &path));
    } else {
        _subject = Some(Bird::start(BirdVersion::V16, n1, &cfg(0)).unwrap());
    }
    let peer = mesh_name(&ips[1].to_string());
    let want: Vec<&str> = ALIEN.iter().map(|(d, _)| dest(d)).collect();
    wait_observing(CONVERGE, POLL, "kernel and BGP routes", || {
        if let Some(p) = proc.as_mut() {
            p.ensure_running()?;
        }
        let r = cn::query1(&sock, "show route").and_then(|l| cn::routes(&l));
        let ok = r.as_ref().is_ok_and(|r| {
            want.iter().all(|w| r.iter().any(|x| x.dest == *w))
                && r.iter().any(|x| x.dest == block(12) && x.from == peer)
        });
        Ok(Observed::when(ok, format!("{r:?}")))
    })
    .unwrap();
    let mut r = cn::routes(&cn::query1(&sock, "show route").unwrap()).unwrap();
    r.sort();
    let mut texts = BTreeMap::new();
    for c in ALIEN
        .iter()
        .map(|(d, _)| dest(d))
        .flat_map(|d| [format!("show route {d}"), format!("show route all {d}")])
        .chain([
            "show route for 10.244.50.9".to_string(),
            "show route protocol kernel1".into(),
            "show route count".into(),
        ])
    {
        let l = cn::query1(&sock, &c).unwrap();
        texts.insert(c.clone(), reply_text(&c, &l));
    }
    // Then an ECMP route of another origin: BIRD 1.6 prints `multipath` and a `via ... weight 1`
    // line per next hop, a line no regex of the status reporter matches.
    cmd::ip(&[
        "-n",
        &n1.ns,
        "route",
        "add",
        MULTIPATH,
        "proto",
        "80",
        "nexthop",
        "via",
        "172.31.0.12",
        "dev",
        "eth0",
        "nexthop",
        "via",
        "172.31.0.13",
        "dev",
        "eth0",
    ])
    .unwrap();
    let c = format!("show route {MULTIPATH}");
    wait_observing(CONVERGE, POLL, "the multipath kernel route", || {
        let l = cn::query1(&sock, &c).unwrap_or_default();
        Ok(Observed::when(l.len() > 2, format!("{l:?}")))
    })
    .unwrap();
    for c in [c, format!("show route all {MULTIPATH}")] {
        let l = cn::query1(&sock, &c).unwrap();
        texts.insert(c.clone(), reply_text(&c, &l));
    }
    let parsed = cn::routes(&cn::query1(&sock, "show route").unwrap());
    texts.insert("status reporter".into(), mask(&format!("{parsed:?}")));
    if let Some(p) = proc.as_mut() {
        assert!(p.is_running());
    }
    (r, texts)
}

#[test]
fn calico_tunnel_and_kernel_routes() {
    let bird = view("calico_tun_bird16", false);
    let bgpd = view("calico_tun_bgpd", true);
    for (c, b) in &bird.1 {
        assert_eq!(bgpd.1.get(c), Some(b), "{c}");
    }
    assert_eq!(bgpd.0, bird.0);
    // The IP-in-IP route as Calico records it: via the node, on tunl0, from the kernel.
    let r = bgpd.0.iter().find(|r| r.dest == "10.244.50.0/26").unwrap();
    assert_eq!(
        (r.kind.as_str(), r.gateway.as_str(), r.iface.as_str()),
        ("via", "172.31.0.12", "tunl0")
    );
    assert!(r.from.starts_with("kernel"), "{r:?}");
    // With the multipath route, Calico's status reporter fails on both daemons alike.
    assert!(
        bgpd.1["status reporter"].contains("route line matches no regex"),
        "{:?}",
        bgpd.1
    );
}
