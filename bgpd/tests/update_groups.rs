//! Update groups in the daemon (issue 16), against a bgpd process in a network namespace (root):
//! bgpd reflects for 300 iBGP route-reflector clients (raw speakers, one thread each) that fall
//! into four update groups (two peer ranges with different export policies, each with clients
//! that do and do not negotiate 4-octet AS numbers). Every client announces its own /26, three
//! of them also one anycast /24. Each client must end up with exactly the routes a per-peer
//! export gives it, computed here from RFC 4456 and the policies: every other client's /26
//! with ORIGINATOR_ID and CLUSTER_LIST, the anycast prefix from its best source (the lowest
//! BGP identifier) unless it is that source (split horizon) or its range's policy rejects it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_core::wire::{
    AsPath, Capability, Family, Message, Negotiated, Nlri, Open, Origin, PathAttributes, Update,
};
use bgpd_lab::{cmd, wait_observing, Lab, Observed};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net};

mod common;

const AS: u32 = 64512;
const CLIENTS: usize = 300;
const RR: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const CLUSTER: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
/// Announced by three clients (0, 1 and 250): the lowest identifier, client 0's, is best.
const ANYCAST: &str = "10.200.0.0/24";

/// Client `i`'s address (its BGP identifier too): 200 in range `c` (100.64.0.0/23), 100 in
/// range `d` (100.64.2.0/23).
fn addr(i: usize) -> Ipv4Addr {
    if i < 200 {
        Ipv4Addr::new(100, 64, 0, 10 + i as u8)
    } else {
        Ipv4Addr::new(100, 64, 2, 10 + (i - 200) as u8)
    }
}

fn in_range_d(i: usize) -> bool {
    i >= 200
}

/// Some clients do not announce 4-octet AS support: another encoding, another group.
fn four_octet(i: usize) -> bool {
    i % 7 != 3
}

fn own_prefix(i: usize) -> IpNet {
    let net = Ipv4Addr::new(10, 128, (i / 4) as u8, (i % 4) as u8 * 64);
    IpNet::V4(Ipv4Net::new(net, 26).unwrap())
}

fn anycast_sources() -> [usize; 3] {
    [0, 1, 250]
}

fn config() -> String {
    format!(
        r#"router_id = "{RR}"
asn = {AS}
[listen]
addresses = ["{RR}"]
[kernel]
enabled = false
[graceful_restart]
enabled = false
[direct]
interfaces = []
[route_reflector]
cluster_id = "{CLUSTER}"
[[policies]]
name = "no_anycast"
default = "accept"
  [[policies.terms]]
  match = {{ prefix = ["{ANYCAST}"] }}
  verdict = "reject"
[[peer_ranges]]
name = "c"
prefix = "100.64.0.0/23"
asn = {AS}
rr_client = true
passive = true
families = ["ipv4"]
[[peer_ranges]]
name = "d"
prefix = "100.64.2.0/23"
asn = {AS}
rr_client = true
passive = true
families = ["ipv4"]
export = "no_anycast"
"#
    )
}

/// What a client holds from the reflector.
type Table = HashMap<IpNet, PathAttributes>;

#[derive(Default)]
struct Client {
    table: Table,
    end_of_rib: bool,
    error: Option<String>,
}

/// The reflected form of a route announced by client `j`.
fn reflected(j: usize) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::new()),
        next_hop: Some(addr(j)),
        local_pref: Some(100),
        originator_id: Some(addr(j)),
        cluster_list: vec![CLUSTER],
        ..PathAttributes::default()
    }
}

/// The per-peer export to client `i`.
fn expected(i: usize) -> Table {
    let mut t: Table = (0..CLIENTS)
        .filter(|&j| j != i)
        .map(|j| (own_prefix(j), reflected(j)))
        .collect();
    let best = anycast_sources()
        .into_iter()
        .min_by_key(|&j| addr(j))
        .unwrap();
    if best != i && !in_range_d(i) {
        t.insert(ANYCAST.parse().unwrap(), reflected(best));
    }
    t
}

fn negotiated(i: usize) -> Negotiated {
    Negotiated {
        local_as: AS,
        peer_as: AS,
        local_id: addr(i),
        peer_id: RR,
        four_octet_as: four_octet(i),
        families: vec![Family::IPV4_UNICAST],
        ..Negotiated::default()
    }
}

fn read_msg(s: &mut TcpStream) -> Option<Bytes> {
    let mut h = [0u8; 19];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut m = h.to_vec();
    m.resize(len.max(19), 0);
    s.read_exact(m.get_mut(19..)?).ok()?;
    Some(Bytes::from(m))
}

/// Client `i`: connects from its address (a thread in namespace `ns`), OPEN, KEEPALIVE, its
/// routes and End-of-RIB; then a thread applies every UPDATE it receives to its table.
fn client(ns: &str, i: usize, state: Arc<Mutex<Client>>) -> TcpStream {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = rt
            .block_on(async {
                let o = bgpd::net::tcp::ConnectOpts {
                    peer: SocketAddr::new(IpAddr::V4(RR), 179),
                    source: Some(IpAddr::V4(addr(i))),
                    md5: None,
                    ttl: 64,
                    gtsm_min: None,
                    timeout: Duration::from_secs(20),
                };
                bgpd::net::tcp::connect(&o).await
            })
            .unwrap()
            .into_std()
            .unwrap();
        s.set_nonblocking(false).unwrap();
        session(s, i, state)
    })
    .join()
    .unwrap()
}

fn session(mut s: TcpStream, i: usize, state: Arc<Mutex<Client>>) -> TcpStream {
    let neg = negotiated(i);
    let mut caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST)];
    if four_octet(i) {
        caps.push(Capability::FourOctetAs(AS));
    }
    let mut out = BytesMut::new();
    Open::new(AS, 90, addr(i), caps).encode(&mut out).unwrap();
    s.write_all(&out).unwrap();
    let m = read_msg(&mut s).expect("the reflector's OPEN");
    assert_eq!(m.get(18), Some(&1), "client {i}: OPEN expected");
    out.clear();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 19, 4]);
    let mut prefixes = vec![own_prefix(i)];
    if anycast_sources().contains(&i) {
        prefixes.push(ANYCAST.parse().unwrap());
    }
    let u = Update {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::new()),
            next_hop: Some(addr(i)),
            local_pref: Some(100),
            ..PathAttributes::default()
        },
        nlri: prefixes.into_iter().map(Nlri::new).collect(),
        ..Update::default()
    };
    u.encode(&neg, &mut out).unwrap();
    Update::end_of_rib(Family::IPV4_UNICAST)
        .encode(&neg, &mut out)
        .unwrap();
    s.write_all(&out).unwrap();
    let mut r = s.try_clone().unwrap();
    std::thread::spawn(move || {
        while let Some(m) = read_msg(&mut r) {
            let msg = match Message::decode(m, &neg) {
                Ok(msg) => msg,
                Err(e) => {
                    state.lock().unwrap().error = Some(format!("undecodable message: {e:?}"));
                    return;
                }
            };
            let mut st = state.lock().unwrap();
            match msg {
                Message::Update(u) => {
                    if u.end_of_rib_family().is_some() {
                        st.end_of_rib = true;
                    }
                    for (_, n) in u.withdrawn_routes() {
                        st.table.remove(&n.prefix);
                    }
                    for a in u.announced() {
                        for n in a.nlri {
                            st.table.insert(n.prefix, u.attrs.clone());
                        }
                    }
                }
                Message::Notification(n) => {
                    st.error = Some(format!("NOTIFICATION {n:?}"));
                }
                _ => {}
            }
        }
    });
    s
}

/// How client `i`'s table differs from the per-peer export (empty when equal).
fn diff(i: usize, got: &Table) -> String {
    let want = expected(i);
    let mut d = String::new();
    for (p, a) in &want {
        match got.get(p) {
            None => {
                let _ = write!(d, " missing {p};");
            }
            Some(g) if g != a => {
                let _ = write!(d, " {p}: got {g:?}, want {a:?};");
            }
            _ => {}
        }
    }
    for p in got.keys().filter(|p| !want.contains_key(p)) {
        let _ = write!(d, " unexpected {p};");
    }
    d
}

#[test]
fn three_hundred_clients_each_get_exactly_the_per_peer_export() {
    let mut lab = Lab::new("bgpd_ugroups").unwrap();
    let lan = lab.lan().unwrap();
    let rr = lab.node("rr", &[(&lan, 1)], None).unwrap();
    let cl = lab.node("clients", &[(&lan, 2)], None).unwrap();
    cmd::ip(&[
        "-n",
        &rr.ns,
        "addr",
        "add",
        "100.64.0.1/22",
        "dev",
        rr.iface(),
    ])
    .unwrap();
    let mut batch = String::new();
    for i in 0..CLIENTS {
        let _ = writeln!(batch, "addr add {}/22 dev {}", addr(i), cl.iface());
    }
    let file = cl.path("addrs.batch");
    std::fs::write(&file, batch).unwrap();
    cmd::ip(&["-n", &cl.ns, "-batch", &file.to_string_lossy()]).unwrap();
    let _p = common::start(&rr, &config(), 0);

    let states: Vec<Arc<Mutex<Client>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let conns: Vec<TcpStream> = states
        .iter()
        .enumerate()
        .map(|(i, st)| client(&cl.ns, i, st.clone()))
        .collect();

    wait_observing(
        Duration::from_secs(90),
        Duration::from_millis(200),
        "every client has exactly its per-peer export",
        || {
            let mut wrong = Vec::new();
            for (i, st) in states.iter().enumerate() {
                let st = st.lock().unwrap();
                if let Some(e) = &st.error {
                    panic!("client {i}: {e}");
                }
                let d = diff(i, &st.table);
                if !st.end_of_rib || !d.is_empty() {
                    wrong.push((i, st.end_of_rib, d));
                }
            }
            let first = wrong
                .first()
                .map(|(i, eor, d)| {
                    format!("client {i} (End-of-RIB {eor}):{}", &d[..d.len().min(300)])
                })
                .unwrap_or_default();
            Ok(Observed::when(
                wrong.is_empty(),
                format!("{} clients not there yet; {first}", wrong.len()),
            ))
        },
    )
    .unwrap();
    // The groups the reflector formed: every client established.
    assert_eq!(
        common::sessions(&rr).iter().filter(|(_, up)| *up).count(),
        CLIENTS
    );
    for c in conns {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
}
