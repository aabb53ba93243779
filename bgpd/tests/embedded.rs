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
use loopback::free_port;

fn config(me: u8, other: u8, port: u16, extra: &str) -> Config {
    let text = format!(
        r#"
router_id = "10.0.0.{me}"
asn = 64512
[listen]
addresses = ["127.0.0.{me}"]
port = {port}
[kernel]
enabled = false
[[peers]]
name = "n{other}"
address = "127.0.0.{other}"
asn = 64512
port = {port}
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_test_writer()
        .try_init();
    let port = free_port();
    let opts = StartOptions {
        no_kernel: true,
        ..StartOptions::default()
    };
    let a = Daemon::start(config(1, 2, port, ""), opts.clone())
        .await
        .unwrap();
    let b = Daemon::start(config(2, 1, port, ""), opts).await.unwrap();
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
    b.reload(config(2, 1, port, extra)).await.unwrap();
    wait_until("n3 appears", 5, || {
        b.control().protocols().iter().any(|p| p.name == "n3")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
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
