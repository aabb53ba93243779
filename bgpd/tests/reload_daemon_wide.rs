//! Reload of the daemon-wide settings, with embedded daemons over loopback (no root):
//! * `listen` changes rebind the listeners live; an address that cannot be bound refuses the
//!   reload and the running listeners stay;
//! * an `asn` or `router_id` change resets the sessions with the new identity (the peer sees
//!   the new BGP identifier, and the new AS in the AS_PATH once it expects it);
//! * a `[kernel]` change is refused with an error saying a restart is required, through
//!   `Handle::reload` and the control socket's `configure`, and nothing of that reload is
//!   applied.

mod control_common;

mod loopback;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use bgpd::config::Config;
use bgpd::status::{ControlError, RouteQuery};
use bgpd::{Daemon, Handle, StartOptions};
use control_common::Client;
use loopback::own_listeners;

struct Node {
    me: u8,
    asn: u32,
    router_id: Ipv4Addr,
    listen: Vec<String>,
    peer_as: u32,
    /// The peer's port (`None`: passive, it connects to us).
    peer_port: Option<u16>,
    extra: String,
}

impl Node {
    fn new(me: u8) -> Node {
        Node {
            me,
            asn: 64512,
            router_id: Ipv4Addr::new(10, 0, 0, me),
            listen: vec![format!("127.0.0.{me}")],
            peer_as: 64512,
            peer_port: None,
            extra: String::new(),
        }
    }

    /// The configuration: listeners on port 0 (the kernel picks; `Handle::listen_addrs` says
    /// which).
    fn text(&self) -> String {
        let other = 3 - self.me;
        format!(
            r#"
router_id = "{rid}"
asn = {asn}
[listen]
addresses = [{listen}]
port = 0
[kernel]
enabled = false
{extra}
[[static]]
prefix = "10.{me}.0.0/24"
blackhole = true
[[peers]]
name = "n{other}"
address = "127.0.0.{other}"
asn = {peer_as}
port = {port}
passive = {passive}
source_address = "127.0.0.{me}"
hold_time = 9
"#,
            rid = self.router_id,
            asn = self.asn,
            listen = self
                .listen
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", "),
            extra = self.extra,
            me = self.me,
            peer_as = self.peer_as,
            port = self.peer_port.unwrap_or(179),
            passive = self.peer_port.is_none(),
        )
    }

    fn config(&self) -> Config {
        Config::parse(&self.text(), "test").unwrap()
    }
}

fn opts() -> StartOptions {
    StartOptions {
        no_kernel: true,
        ..StartOptions::default()
    }
}

async fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (state, neighbour router ID) of `name` in `show protocols`.
fn session(h: &Handle, name: &str) -> (String, Option<Ipv4Addr>) {
    h.control()
        .protocols()
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.bgp)
        .map(|b| (b.state, b.neighbor_id))
        .unwrap_or_default()
}

fn as_path(h: &Handle, prefix: &str) -> Option<String> {
    h.control()
        .routes(&RouteQuery {
            prefix: Some(prefix.parse().unwrap()),
            ..Default::default()
        })
        .into_iter()
        .find_map(|r| r.bgp.map(|b| b.as_path))
}

fn accepts(a: SocketAddr) -> bool {
    TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()
}

/// The listeners of `d`, sorted.
fn bound(d: &Handle) -> Vec<SocketAddr> {
    let mut b = d.listen_addrs();
    b.sort();
    b
}

fn ips(a: &[SocketAddr]) -> Vec<String> {
    a.iter().map(|a| a.ip().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_changes_rebind_live() {
    let mut n = Node::new(1);
    let d = Daemon::start(n.config(), opts()).await.unwrap();
    let first = bound(&d);
    assert_eq!(ips(&first), ["127.0.0.1"]);
    assert!(accepts(first[0]));
    n.listen = vec!["127.0.0.3".into(), "127.0.0.4".into()];
    d.reload(n.config()).await.unwrap();
    let now = bound(&d);
    assert_eq!(ips(&now), ["127.0.0.3", "127.0.0.4"]);
    assert!(now.iter().all(|a| accepts(*a)));
    // The old listener is closed: no socket of this process listens there any more (asked of
    // the kernel, not by connecting to a port another process may have bound since).
    let ours = own_listeners();
    assert!(
        !ours.contains(&first[0]),
        "old address still open: {ours:?}"
    );
    assert!(now.iter().all(|a| ours.contains(a)), "{ours:?} {now:?}");

    // 192.0.2.1 (TEST-NET-1) is no address of this host: it cannot be bound, so the reload
    // is refused and the listeners stay as they were.
    n.listen = vec!["127.0.0.3".into(), "192.0.2.1".into()];
    n.extra = "[[static]]\nprefix = \"10.99.0.0/24\"\nblackhole = true\n".into();
    let e = d.reload(n.config()).await.unwrap_err();
    assert!(
        matches!(&e, ControlError::Listen { addr, .. } if addr.ip().to_string() == "192.0.2.1"),
        "{e}"
    );
    assert_eq!(ips(&bound(&d)), ["127.0.0.3", "127.0.0.4"]);
    assert!(bound(&d).iter().all(|a| accepts(*a)));
    assert!(
        d.control()
            .routes(&RouteQuery {
                prefix: Some("10.99.0.0/24".parse().unwrap()),
                ..Default::default()
            })
            .is_empty(),
        "nothing of a refused reload is applied"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asn_and_router_id_changes_reset_sessions_with_the_new_identity() {
    // a waits for b, which connects to the port a's listener got.
    let mut na = Node::new(1);
    let mut nb = Node::new(2);
    let a = Daemon::start(na.config(), opts()).await.unwrap();
    nb.peer_port = Some(a.listen_addrs()[0].port());
    let b = Daemon::start(nb.config(), opts()).await.unwrap();
    wait("up", || {
        session(&b, "n1") == ("Established".into(), Some(Ipv4Addr::new(10, 0, 0, 1)))
    })
    .await;
    wait("b learns 10.1.0.0/24", || {
        as_path(&b, "10.1.0.0/24").is_some()
    })
    .await;

    // New router ID on a: the session comes back with it.
    na.router_id = Ipv4Addr::new(10, 0, 0, 11);
    a.reload(na.config()).await.unwrap();
    wait("b sees a's new router ID", || {
        session(&b, "n1") == ("Established".into(), Some(Ipv4Addr::new(10, 0, 0, 11)))
    })
    .await;

    // New AS on a (b expects it too): eBGP now, a's AS leads the AS_PATH.
    na.asn = 65001;
    nb.peer_as = 65001;
    a.reload(na.config()).await.unwrap();
    b.reload(nb.config()).await.unwrap();
    wait("AS_PATH 65001 at b", || {
        as_path(&b, "10.1.0.0/24").as_deref() == Some("65001")
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_changes_are_refused_with_restart_required() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bgpd.toml");
    let mut n = Node::new(1);
    std::fs::write(&file, n.text()).unwrap();
    let d = Daemon::start(Config::load(&file).unwrap(), opts())
        .await
        .unwrap();

    // A new static and a new kernel table: refused as a whole.
    n.extra = "[[static]]\nprefix = \"10.99.0.0/24\"\nblackhole = true\n".into();
    let text = n.text().replace(
        "[kernel]\nenabled = false\n",
        "[kernel]\nenabled = false\ntable = 100\ntunnel_device = \"tunl9\"\n",
    );
    let e = d
        .reload(Config::parse(&text, "t").unwrap())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("table") && msg.contains("tunnel_device") && msg.contains("restart"),
        "{msg}"
    );
    let has_99 = || {
        !d.control()
            .routes(&RouteQuery {
                prefix: Some("10.99.0.0/24".parse().unwrap()),
                ..Default::default()
            })
            .is_empty()
    };
    assert!(!has_99());

    // Through the control socket (`bgpd reload` sends `configure`): 8002 and the reason.
    std::fs::write(&file, &text).unwrap();
    let sock = dir.path().join("ctl");
    let listener = bgpd::control::bind(&sock).unwrap();
    tokio::spawn(bgpd::control::serve_listener(
        listener,
        d.control(),
        Default::default(),
    ));
    let reply = tokio::task::spawn_blocking(move || Client::connect(&sock).ask(b"configure"))
        .await
        .unwrap();
    assert!(
        reply.starts_with("8002 ") && reply.contains("restart"),
        "{reply}"
    );
    assert!(!has_99());

    // The same file without the kernel change applies.
    std::fs::write(&file, n.text()).unwrap();
    let sock = dir.path().join("ctl");
    let reply = tokio::task::spawn_blocking(move || Client::connect(&sock).ask(b"configure"))
        .await
        .unwrap();
    assert_eq!(reply, "0003 Reconfigured\n");
    wait("the static of the accepted reload", has_99).await;
    d.stop().await;
}
