//! Two embedded daemons peering over loopback (127.0.0.1 and 127.0.0.2), no kernel, no root:
//! sessions come up, a route announced through one `Handle` reaches the other's RIB and
//! best-path stream, a withdrawal removes it, reload adds a peer without resetting the other,
//! and `stop` is graceful.

mod loopback;

use std::time::Duration;

use bgpd::config::Config;
use bgpd::daemon::LocalRoute;
use bgpd::status::{ProtoKind, RouteQuery};
use bgpd::{Daemon, Handle, StartOptions};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
/// Daemon `me` listening on 127.0.0.`me`, port 0 (the kernel picks; [`Handle::listen_addrs`]
/// says which), with peer `other`: reached at `port`, or passive when `port` is `None`.
fn config(me: u8, other: u8, port: Option<u16>, extra: &str) -> Config {
    let (port, passive) = match port {
        Some(p) => (p, false),
        None => (179, true),
    };
    let text = format!(
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
{extra}
"#
    );
    Config::parse(&text, "test").unwrap()
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn established(h: &Handle, name: &str) -> bool {
    h.control().protocols().iter().any(|p| {
        p.kind == ProtoKind::Bgp
            && p.name == name
            && p.bgp.as_ref().is_some_and(|b| b.state == "Established")
    })
}

fn has_route(h: &Handle, prefix: &str) -> bool {
    !h.control()
        .routes(&RouteQuery {
            prefix: Some(prefix.parse().unwrap()),
            ..RouteQuery::default()
        })
        .is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_embedded_daemons_exchange_routes() {
    let (filter, _) = bgpd::daemon::log_filter(std::env::var("RUST_LOG").ok().as_deref(), "info");
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .finish()
        .with(filter)
        .try_init();
    let opts = StartOptions {
        no_kernel: true,
        ..StartOptions::default()
    };
    // A waits for B's connection on the port it was given; B connects to it.
    let a = Daemon::start(config(1, 2, None, ""), opts.clone())
        .await
        .unwrap();
    let port = a.listen_addrs()[0].port();
    assert_ne!(port, 0);
    let b = Daemon::start(config(2, 1, Some(port), ""), opts)
        .await
        .unwrap();
    let mut best = b.subscribe_best_paths();
    wait_until("both sessions Established", 20, || {
        established(&a, "n2") && established(&b, "n1")
    })
    .await;

    a.announce(LocalRoute {
        prefix: "10.1.0.0/24".parse().unwrap(),
        via: None,
        communities: vec![(64512, 7)],
    })
    .await
    .unwrap();
    wait_until("B learns 10.1.0.0/24", 20, || has_route(&b, "10.1.0.0/24")).await;
    let r = &b.control().routes(&RouteQuery {
        prefix: Some("10.1.0.0/24".parse().unwrap()),
        ..RouteQuery::default()
    })[0];
    assert_eq!(r.protocol, "n1");
    assert!(r.primary);
    let attrs = r.bgp.as_ref().unwrap();
    assert_eq!(attrs.communities, vec![(64512, 7)]);
    assert_eq!(
        attrs.next_hop,
        Some("127.0.0.1".parse().unwrap()),
        "next hop self of a local route: the source address"
    );
    // The best-path stream saw it too.
    let change = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = best.recv().await.unwrap();
            if c.prefix == "10.1.0.0/24".parse().unwrap() {
                return c;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(change.best.unwrap().protocol, "n1");

    a.withdraw("10.1.0.0/24".parse().unwrap()).await.unwrap();
    wait_until("B drops 10.1.0.0/24", 20, || !has_route(&b, "10.1.0.0/24")).await;

    // Reload B adding a third (absent) peer: the session with A is not reset.
    let up_since = b
        .control()
        .protocols()
        .into_iter()
        .find(|p| p.name == "n1")
        .unwrap()
        .since;
    let extra = r#"
[[peers]]
name = "n3"
address = "127.0.0.3"
asn = 64512
port = 1
passive = true
"#;
    let mut states = b.subscribe_peer_states();
    b.reload(config(2, 1, Some(port), extra)).await.unwrap();
    wait_until("n3 appears", 5, || {
        b.control().protocols().iter().any(|p| p.name == "n3")
    })
    .await;
    // The session carries traffic after the reload: a route A announces now reaches B.
    a.announce(LocalRoute {
        prefix: "10.2.0.0/24".parse().unwrap(),
        via: None,
        communities: Vec::new(),
    })
    .await
    .unwrap();
    wait_until("B learns 10.2.0.0/24 after the reload", 20, || {
        has_route(&b, "10.2.0.0/24")
    })
    .await;
    // Over the whole window (reload, n3's arrival, the new route), n1 never changed state.
    loop {
        match states.try_recv() {
            Ok(c) => assert_ne!(c.name, "n1", "session n1 reset by the reload: {c:?}"),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Err(e) => panic!("peer state stream: {e}"),
        }
    }
    let p1 = b
        .control()
        .protocols()
        .into_iter()
        .find(|p| p.name == "n1")
        .unwrap();
    assert_eq!(p1.since, up_since, "session n1 untouched by the reload");
    assert!(established(&b, "n1"));

    tokio::time::timeout(Duration::from_secs(10), async {
        a.stop().await;
        b.stop().await;
    })
    .await
    .expect("graceful stop within 10 s");
}
