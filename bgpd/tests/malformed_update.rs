//! A raw test speaker (plain TCP, hand-made messages) sends malformed UPDATEs to an embedded
//! daemon over loopback: RFC 7606 treat-as-withdraw keeps the session up and withdraws only
//! the affected prefixes; the daemon keeps running and accepts the next valid UPDATE. Once
//! with an embedded daemon (checked through its control API), once with a `bgpd` process on
//! loopback checked only through its control socket (`bgpd -s SOCKET ... --json`).

mod loopback;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgp_core::wire::{Capability, Family, Open};
use bgpd::config::Config;
use bgpd::status::RouteQuery;
use bgpd::{Daemon, StartOptions};
use bytes::BytesMut;
use loopback::{socket_from, update};

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_EMPTY: [u8; 3] = [0x40, 2, 0];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 127, 0, 0, 9];
const LOCAL_PREF: [u8; 7] = [0x40, 5, 4, 0, 0, 0, 100];

/// The daemon: listening on 127.0.0.1, port 0 (the kernel picks), waiting for the raw speaker.
const CONFIG: &str = r#"
router_id = "10.0.0.1"
asn = 64512
[listen]
addresses = ["127.0.0.1"]
port = 0
[kernel]
enabled = false
[[peers]]
name = "raw"
address = "127.0.0.9"
asn = 64512
passive = true
"#;

fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 19];
    s.read_exact(&mut h).unwrap();
    let len = u16::from_be_bytes([h[16], h[17]]) as usize;
    let mut body = vec![0; len - 19];
    s.read_exact(&mut body).unwrap();
    (h[18], body)
}

/// Over an established session `s`: a valid UPDATE for 10.5.0.0/24 and 10.6.0.0/24, then one
/// with an undefined ORIGIN for 10.5.0.0/24 (RFC 7606 §7.1: treat-as-withdraw), which must
/// withdraw that prefix only. Returns the valid path attributes.
fn learn_then_bad_origin(
    s: &mut TcpStream,
    has: &dyn Fn(&str) -> bool,
    wait: &dyn Fn(&str, &dyn Fn() -> bool),
) -> Vec<u8> {
    let good = [&ORIGIN_IGP[..], &AS_PATH_EMPTY, &NEXT_HOP, &LOCAL_PREF].concat();
    s.write_all(&update(&good, &[24, 10, 5, 0, 24, 10, 6, 0]))
        .unwrap();
    wait("10.5.0.0/24 and 10.6.0.0/24 learned", &|| {
        has("10.5.0.0/24") && has("10.6.0.0/24")
    });
    let bad_origin = [
        &[0x40u8, 1, 1, 7][..],
        &AS_PATH_EMPTY,
        &NEXT_HOP,
        &LOCAL_PREF,
    ]
    .concat();
    s.write_all(&update(&bad_origin, &[24, 10, 5, 0])).unwrap();
    wait("10.5.0.0/24 withdrawn", &|| !has("10.5.0.0/24"));
    assert!(has("10.6.0.0/24"), "other prefixes untouched");
    good
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_updates_are_treated_as_withdraw() {
    let cfg = Config::parse(CONFIG, "t").unwrap();
    let d = Daemon::start(
        cfg,
        StartOptions {
            no_kernel: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = d.listen_addrs()[0].port();
    let ctl = d.control();

    let speaker = tokio::task::spawn_blocking(move || {
        // Connect from 127.0.0.9 (the configured peer address).
        let mut s = socket_from(Ipv4Addr::new(127, 0, 0, 9), port);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut open = BytesMut::new();
        Open::new(
            64512,
            90,
            Ipv4Addr::new(10, 0, 0, 9),
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::FourOctetAs(64512),
            ],
        )
        .encode(&mut open)
        .unwrap();
        s.write_all(&open).unwrap();
        assert_eq!(read_msg(&mut s).0, 1, "OPEN from the daemon");
        let mut ka = vec![0xff; 16];
        ka.extend([0, 19, 4]);
        s.write_all(&ka).unwrap();
        s
    })
    .await
    .unwrap();
    let mut s = speaker;

    let established = || {
        ctl.protocols()
            .iter()
            .any(|p| p.name == "raw" && p.bgp.as_ref().is_some_and(|b| b.state == "Established"))
    };
    let has = |p: &str| {
        !ctl.routes(&RouteQuery {
            prefix: Some(p.parse().unwrap()),
            ..Default::default()
        })
        .is_empty()
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("Established", &established);
    let up_since = ctl
        .protocols()
        .into_iter()
        .find_map(|p| p.bgp.filter(|_| p.name == "raw"))
        .and_then(|b| b.established_since);

    let good = learn_then_bad_origin(&mut s, &has, &wait);

    // AS_PATH with an unknown segment type (§7.2: treat-as-withdraw) for 10.6.0.0/24.
    let bad_path = [
        &ORIGIN_IGP[..],
        &[0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe8],
        &NEXT_HOP,
        &LOCAL_PREF,
    ]
    .concat();
    s.write_all(&update(&bad_path, &[24, 10, 6, 0])).unwrap();
    wait("10.6.0.0/24 withdrawn", &|| !has("10.6.0.0/24"));

    // The session survived both and takes the next valid UPDATE.
    assert!(established(), "session reset by a treat-as-withdraw error");
    s.write_all(&update(&good, &[24, 10, 7, 0])).unwrap();
    wait("10.7.0.0/24 learned", &|| has("10.7.0.0/24"));
    // Over the whole run: the daemon sent no NOTIFICATION and the session never went down
    // (a cumulative counter and the Established time cover every moment, not one sample).
    let b = ctl
        .protocols()
        .into_iter()
        .find_map(|p| p.bgp.filter(|_| p.name == "raw"))
        .unwrap();
    assert_eq!(b.state, "Established");
    assert_eq!(b.messages_out.notification, 0, "NOTIFICATION sent");
    assert_eq!(b.established_since, up_since, "session went down meanwhile");
    drop(s);
    tokio::time::timeout(Duration::from_secs(10), d.stop())
        .await
        .unwrap();
}

/// `bgpd -s SOCK ARGS --json` output, or `None` when it fails (e.g. 8001 not in table).
fn ctl_json(sock: &std::path::Path, args: &[&str]) -> Option<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The same scenario against a `bgpd` process, observed through its control socket only.
#[test]
fn malformed_updates_against_a_bgpd_process() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, sock) = (dir.path().join("bgpd.toml"), dir.path().join("bgpd.ctl"));
    std::fs::write(&cfg, CONFIG).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("-c")
        .arg(&cfg)
        .arg("-s")
        .arg(&sock)
        .stderr(std::fs::File::create(dir.path().join("bgpd.log")).unwrap())
        .spawn()
        .unwrap();
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("control socket", &|| {
        ctl_json(&sock, &["show", "status"]).is_some()
    });
    // The port the kernel gave the listener, as `show status --json` reports it.
    let status = ctl_json(&sock, &["show", "status"]).unwrap();
    let listen: std::net::SocketAddr = status["status"]["listen"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let port = listen.port();
    assert_ne!(port, 0);
    let has = |p: &str| ctl_json(&sock, &["show", "route", p]).is_some();
    let established = || {
        ctl_json(&sock, &["show", "protocols"]).is_some_and(|v| {
            v["protocols"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "raw" && p["bgp"]["state"] == "Established")
        })
    };

    let mut s = socket_from(Ipv4Addr::new(127, 0, 0, 9), port);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut open = BytesMut::new();
    Open::new(
        64512,
        90,
        Ipv4Addr::new(10, 0, 0, 9),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::FourOctetAs(64512),
        ],
    )
    .encode(&mut open)
    .unwrap();
    s.write_all(&open).unwrap();
    assert_eq!(read_msg(&mut s).0, 1, "OPEN from the daemon");
    let mut ka = vec![0xff; 16];
    ka.extend([0, 19, 4]);
    s.write_all(&ka).unwrap();
    wait("Established", &established);
    let established_at = ctl_json(&sock, &["show", "protocols"]).unwrap()["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "raw")
        .unwrap()["bgp"]["established_since"]
        .clone();

    let good = learn_then_bad_origin(&mut s, &has, &wait);
    // A NEXT_HOP of the wrong length (RFC 7606 §7.3: treat-as-withdraw).
    let bad_nh = [
        &ORIGIN_IGP[..],
        &AS_PATH_EMPTY,
        &[0x40, 3, 3, 127, 0, 0],
        &LOCAL_PREF,
    ]
    .concat();
    s.write_all(&update(&bad_nh, &[24, 10, 6, 0])).unwrap();
    wait("10.6.0.0/24 withdrawn", &|| !has("10.6.0.0/24"));
    assert!(established(), "session kept");
    s.write_all(&update(&good, &[24, 10, 7, 0])).unwrap();
    wait("10.7.0.0/24 learned", &|| has("10.7.0.0/24"));
    assert!(child.try_wait().unwrap().is_none(), "bgpd still running");
    // Over the whole run: no NOTIFICATION sent, one Established period, and the socket holds
    // nothing but KEEPALIVEs and the End-of-RIB (it would hold the NOTIFICATION and EOF of a
    // reset).
    let p = ctl_json(&sock, &["show", "protocols"]).unwrap();
    let raw = p["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "raw")
        .unwrap()
        .clone();
    assert_eq!(raw["bgp"]["state"], "Established");
    assert_eq!(raw["bgp"]["messages_out"]["notification"], 0, "{raw}");
    assert_eq!(raw["bgp"]["established_since"], established_at, "{raw}");
    s.set_nonblocking(true).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        r => panic!("the daemon closed the session: {r:?}"),
    }
    let mut at = 0;
    while at + 19 <= rest.len() {
        let len = u16::from_be_bytes([rest[at + 16], rest[at + 17]]) as usize;
        // KEEPALIVE, or the End-of-RIB (an empty UPDATE): nothing else.
        let ty = rest[at + 18];
        assert!(
            ty == 4 || (ty == 2 && len == 23),
            "only KEEPALIVEs and End-of-RIB from the daemon: {rest:?}"
        );
        at += len;
    }
    drop(s);
    let _ = ctl_json(&sock, &["down"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        panic!("bgpd did not stop on `down`");
    }
}
