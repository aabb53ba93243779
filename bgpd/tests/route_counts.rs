//! Exact route counters against a known table: two embedded daemons in one AS over loopback
//! (no kernel, no root). `a` has three static blackholes, `b` three, one prefix in both; `b`
//! then announces a fourth route and withdraws it again. `show protocols` (`Routes: N
//! imported, M exported, K preferred`, BIRD 1.6) and `show route count` (`X of Y routes for Z
//! networks`) are checked through the control API and the BIRD-protocol control socket.

mod control_common;

use std::time::Duration;

use bgpd::config::Config;
use bgpd::daemon::LocalRoute;
use bgpd::status::{ProtoKind, RouteCounts};
use bgpd::{Daemon, Handle, StartOptions};
use control_common::Client;

/// Daemon `me` listening on 127.0.0.`me` port 0 (the kernel picks), with peer `other` reached
/// at `port`, or passive when `port` is `None`.
fn config(me: u8, other: u8, port: Option<u16>, statics: &[&str]) -> Config {
    let (port, passive) = (port.unwrap_or(179), port.is_none());
    let mut text = format!(
        r#"
router_id = "10.0.0.{me}"
asn = 64512
[listen]
addresses = ["127.0.0.{me}"]
port = 0
[kernel]
enabled = false
[[peers]]
name = "n{other}"
address = "127.0.0.{other}"
asn = 64512
port = {port}
passive = {passive}
source_address = "127.0.0.{me}"
hold_time = 9
"#
    );
    for s in statics {
        text += &format!("[[static]]\nprefix = \"{s}\"\nblackhole = true\n");
    }
    Config::parse(&text, "test").unwrap()
}

fn counts(h: &Handle, name: &str) -> RouteCounts {
    h.control()
        .protocols()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.routes)
        .unwrap_or_default()
}

fn established(h: &Handle, name: &str) -> bool {
    h.control().protocols().iter().any(|p| {
        p.kind == ProtoKind::Bgp
            && p.name == name
            && p.bgp.as_ref().is_some_and(|b| b.state == "Established")
    })
}

/// Waits until `f` returns the expected value; fails showing the last value seen.
async fn wait_eq<T: PartialEq + std::fmt::Debug>(what: &str, want: T, f: impl Fn() -> T) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = f();
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: want {want:?}, last seen {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (imported, exported, preferred) as `show protocols all` prints them.
fn iep(c: RouteCounts) -> (u64, u64, u64) {
    (c.imported, c.exported, c.preferred)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_and_table_counters_are_exact() {
    let opts = StartOptions {
        no_kernel: true,
        ..StartOptions::default()
    };
    let a = Daemon::start(
        config(1, 2, None, &["10.1.1.0/24", "10.1.2.0/24", "10.9.0.0/24"]),
        opts.clone(),
    )
    .await
    .unwrap();
    let port = a.listen_addrs()[0].port();
    let b = Daemon::start(
        config(
            2,
            1,
            Some(port),
            &["10.2.1.0/24", "10.2.2.0/24", "10.9.0.0/24"],
        ),
        opts,
    )
    .await
    .unwrap();
    wait_eq("sessions", (true, true), || {
        (established(&a, "n2"), established(&b, "n1"))
    })
    .await;

    // a holds its 3 statics and b's 3 routes (10.9.0.0/24 twice: its static wins, preference
    // 200 over 100). b's routes are not sent back over iBGP: a exports its 3 statics only.
    wait_eq("a: n2 imported/exported/preferred", (3, 3, 2), || {
        iep(counts(&a, "n2"))
    })
    .await;
    wait_eq("b: n1", (3, 3, 2), || iep(counts(&b, "n1"))).await;
    assert_eq!(iep(counts(&a, "static1")), (3, 0, 3));
    assert_eq!(a.control().route_count(), (6, 5));

    // One more route from b, then withdrawn: current counters follow, cumulative ones grow.
    let extra = "10.2.3.0/24".parse().unwrap();
    b.announce(LocalRoute {
        prefix: extra,
        via: None,
        communities: Vec::new(),
    })
    .await
    .unwrap();
    wait_eq("a: n2 after b's announcement", (4, 3, 3), || {
        iep(counts(&a, "n2"))
    })
    .await;
    assert_eq!(a.control().route_count(), (7, 6));
    assert_eq!(iep(counts(&b, "n1")), (3, 4, 2));
    b.withdraw(extra).await.unwrap();
    wait_eq("a: n2 after b's withdrawal", (3, 3, 2), || {
        iep(counts(&a, "n2"))
    })
    .await;
    assert_eq!(a.control().route_count(), (6, 5));
    wait_eq("b: n1 exports 3 again", (3, 3, 2), || iep(counts(&b, "n1"))).await;
    let c = counts(&a, "n2");
    assert_eq!((c.received, c.accepted), (4, 4), "cumulative: {c:?}");

    // The same through the control socket, in BIRD 1.6's words.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bgpd.ctl");
    let listener = bgpd::control::bind(&path).unwrap();
    tokio::spawn(bgpd::control::serve_listener(
        listener,
        a.control(),
        Default::default(),
    ));
    let (count, primary, protos) = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&path);
        (
            c.ask(b"show route count"),
            c.ask(b"show route primary count"),
            c.ask(b"show protocols all n2"),
        )
    })
    .await
    .unwrap();
    assert_eq!(count, "0014 6 of 6 routes for 5 networks\n");
    assert_eq!(primary, "0014 5 of 5 routes for 5 networks\n");
    assert!(
        protos.contains("  Routes:         3 imported, 3 exported, 2 preferred\n"),
        "{protos}"
    );
    assert!(
        protos.contains(
            "    Import updates:              4          0          0          0          4\n"
        ),
        "{protos}"
    );
    a.stop().await;
    b.stop().await;
}
