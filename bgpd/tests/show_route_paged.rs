//! `show route` of a 200,000-route table pages through the RIB (root): while a client holds a
//! dump half read, one peer's UPDATE stream is imported in full and another peer withdraws
//! half of the dumped table (on both sides of where the client stopped reading); the dump then completes in prefix order, with no network twice and
//! every network that stayed present; pages that end inside a network go on with its other
//! routes. `show route count protocol X` (a monitoring loop's
//! question, answered from the table's counters) equals the routes the walk lists for X. The
//! update rate during a dump is a figure of the convergence harness (benches/README.md).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bgpd_lab::{Lab, NodeNet};
use common::raw::{config, packed_updates, peer, update, RawPeer, D_AS};
use common::start;
use ipnet::IpNet;

const BIG_AS: u32 = 65010;
const STREAM_AS: u32 = 65020;
/// The dumped table: /32s from 10.0.0.0 (the big peer).
const TABLE: u32 = 200_000;
/// The big peer withdraws its routes outside these indexes while the dump is held: some the
/// client has read, some not yet (a walk that pages by counting routes skips some of those
/// that stay).
const KEPT: std::ops::Range<u32> = 50_000..150_000;
const KEEP: u32 = KEPT.end - KEPT.start;
/// The stream: /32s from 11.0.0.0, announced while the dump is held.
const STREAM: u32 = 20_000;
/// Lines of the dump read before the client stops reading.
const FIRST_LINES: usize = 1_000;

fn imported(d: &NodeNet, name: &str) -> bgpd_lab::Result<u64> {
    Ok(common::protocols(d)?
        .iter()
        .find(|p| p.name == name)
        .map_or(0, |p| p.routes.imported))
}

fn wait_imported(d: &NodeNet, name: &str, n: u64) {
    bgpd_lab::wait_until(
        Duration::from_secs(180),
        Duration::from_millis(200),
        &format!("{name}: {n} routes imported"),
        || Ok(imported(d, name)? == n),
    )
    .unwrap();
}

/// The network a `show route` line starts (BIRD prints it on a network's first route only),
/// from the socket (with its reply code) or from the CLI.
fn network(line: &str) -> Option<IpNet> {
    let rest = line.strip_prefix("1007-").unwrap_or(line);
    rest.split_whitespace().next()?.parse().ok()
}

/// WITHDRAWN of the /32s `first + i` for `i` in `range`, in UPDATEs of 800 prefixes.
fn withdrawals(first: Ipv4Addr, range: std::ops::Range<u32>) -> Vec<u8> {
    let base = u32::from(first);
    let idx: Vec<u32> = range.collect();
    idx.chunks(800)
        .flat_map(|c| {
            let w: Vec<u8> = c
                .iter()
                .flat_map(|i| {
                    let mut p = vec![32];
                    p.extend((base + i).to_be_bytes());
                    p
                })
                .collect();
            update(&w, &[], &[])
        })
        .collect()
}

#[test]
fn show_route_of_a_large_table_pages_while_updates_stream() {
    let mut lab = Lab::new("bgpd_paged").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let big = lab.node("big", &[(&lan, 12)], None).unwrap();
    let stream = lab.node("stream", &[(&lan, 13)], None).unwrap();
    let peers = [
        peer("big", big.ip4(), BIG_AS, ""),
        peer("stream", stream.ip4(), STREAM_AS, ""),
    ];
    let _p = start(&d, &config(&d, &peers), 0);
    let mut b = RawPeer::connect(&big, d.ip4(), D_AS, BIG_AS, true, 30);
    let mut s = RawPeer::connect(&stream, d.ip4(), D_AS, STREAM_AS, true, 30);
    let table_start = Ipv4Addr::new(10, 0, 0, 0);
    b.send(&packed_updates(TABLE, table_start, 32, BIG_AS, big.ip4()));
    wait_imported(&d, "big", u64::from(TABLE));

    // A client asks for the whole table and stops reading after the first lines: the daemon
    // is then mid-walk, its socket full.
    let mut ctl = UnixStream::connect(common::socket(&d)).unwrap();
    ctl.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut rd = BufReader::new(ctl.try_clone().unwrap());
    let mut line = String::new();
    rd.read_line(&mut line).unwrap(); // greeting
    ctl.write_all(b"show route\n").unwrap();
    let mut lines = Vec::new();
    while lines.len() < FIRST_LINES {
        line.clear();
        assert!(rd.read_line(&mut line).unwrap() > 0, "dump ended early");
        lines.push(line.trim_end().to_string());
    }

    // Meanwhile the RIB goes on: the stream is imported in full, and the big peer withdraws
    // the upper half of the table.
    s.send(&packed_updates(
        STREAM,
        Ipv4Addr::new(11, 0, 0, 0),
        32,
        STREAM_AS,
        stream.ip4(),
    ));
    b.send(&withdrawals(table_start, 0..KEPT.start));
    b.send(&withdrawals(table_start, KEPT.end..TABLE));
    wait_imported(&d, "stream", u64::from(STREAM));
    wait_imported(&d, "big", u64::from(KEEP));

    // The rest of the dump.
    loop {
        line.clear();
        assert!(rd.read_line(&mut line).unwrap() > 0, "dump not terminated");
        if line.starts_with("0000") {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    // One route per network here: a route line without its network is a route listed twice
    // (BIRD prints a network's prefix on its first route only).
    let repeated = lines
        .iter()
        .filter(|l| l.contains("[big ") || l.contains("[stream "))
        .filter(|l| network(l).is_none())
        .count();
    assert_eq!(repeated, 0, "routes listed twice");
    let nets: Vec<IpNet> = lines.iter().filter_map(|l| network(l)).collect();
    assert!(
        nets.windows(2).all(|w| w[0] < w[1]),
        "networks out of order or twice"
    );
    let seen: BTreeSet<IpNet> = nets.iter().copied().collect();
    let kept =
        KEPT.map(|i| IpNet::new(Ipv4Addr::from(u32::from(table_start) + i).into(), 32).unwrap());
    let missing: Vec<IpNet> = kept.filter(|n| !seen.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} networks that stayed present are missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // `show route count protocol X` comes from counters: the same number as the walk lists.
    for (name, n) in [("big", KEEP), ("stream", STREAM)] {
        let count = common::cli(&d, &["show", "route", "count", "protocol", name]).unwrap();
        let listed = common::cli(&d, &["show", "route", "protocol", name])
            .unwrap()
            .lines()
            .filter_map(network)
            .count();
        assert_eq!(listed, n as usize, "show route protocol {name}");
        let shown = count
            .split_whitespace()
            .find(|w| w.parse::<u64>().is_ok())
            .and_then(|w| w.parse::<u64>().ok());
        assert_eq!(
            shown,
            Some(u64::from(n)),
            "show route count protocol {name}: {count}"
        );
    }
}

/// Networks with three routes each, 3 × 5,000 = 15,000 routes: pages of 8,192 routes end in
/// the middle of a network, and the next page goes on with that network's other routes. Every
/// (network, protocol) is listed once, each network's primary route first.
#[test]
fn a_page_that_ends_inside_a_network_goes_on_with_its_other_routes() {
    const NETS: u32 = 5_000;
    let mut lab = Lab::new("bgpd_paged3").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let nodes: Vec<NodeNet> = (0..3u8)
        .map(|i| lab.node(&format!("p{i}"), &[(&lan, 12 + i)], None).unwrap())
        .collect();
    let peers: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| peer(&format!("p{i}"), n.ip4(), BIG_AS + i as u32, ""))
        .collect();
    let _p = start(&d, &config(&d, &peers), 0);
    let mut raw: Vec<RawPeer> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let asn = BIG_AS + i as u32;
        let mut r = RawPeer::connect(n, d.ip4(), D_AS, asn, true, 30);
        r.send(&packed_updates(
            NETS,
            Ipv4Addr::new(10, 0, 0, 0),
            32,
            asn,
            n.ip4(),
        ));
        raw.push(r);
    }
    for i in 0..3 {
        wait_imported(&d, &format!("p{i}"), u64::from(NETS));
    }
    let routes = common::routes(&d).unwrap();
    let ours = routes
        .iter()
        .filter(|r| ["p0", "p1", "p2"].contains(&r.protocol.as_str()));
    assert_eq!(ours.clone().count(), 3 * NETS as usize);
    let pairs: BTreeSet<(String, String)> = ours
        .map(|r| (r.prefix.clone(), r.protocol.clone()))
        .collect();
    assert_eq!(pairs.len(), 3 * NETS as usize, "a route listed twice");
    // In order, a network's routes together, its primary first.
    let mut last: Option<IpNet> = None;
    for r in &routes {
        let p: IpNet = r.prefix.parse().unwrap();
        if last != Some(p) {
            assert!(last.is_none_or(|l| l < p), "{p} after {last:?}");
            assert!(r.primary, "{p}: first route not primary");
            last = Some(p);
        }
    }
}
