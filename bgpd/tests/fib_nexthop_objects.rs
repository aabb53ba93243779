//! Kernel nexthop objects in the daemon (root, network namespaces, bgpd processes): with
//! `[kernel] nexthop_objects = "on"`, the blocks a peer announces with one next hop land in
//! the kernel through one nexthop object of ours (`nhid`), still printed by `ip route` as
//! `via NH dev tunl0 proto bird onlink`; with `"off"` they are plain routes.

mod common;

use std::time::Duration;

use bgpd_lab::{cmd, wait_observing, Family, KernelRoute, Lab, NodeNet, Observed};
use common::{cli, metric, scrape_metrics, start_bgpd, wait_established, wait_kernel};

fn config_a(mode: &str) -> String {
    format!(
        r#"
router_id = "172.31.0.11"
asn = 64512
[listen]
addresses = ["172.31.0.11"]
[kernel]
protocol = "bird"
nexthop_objects = "{mode}"
[[pools]]
cidr = "10.244.0.0/16"
ipip = "always"
[[peers]]
name = "b"
address = "172.31.0.12"
asn = 64512
families = ["ipv4"]
hold_time = 9
"#
    )
}

const CONFIG_B: &str = r#"
router_id = "172.31.0.12"
asn = 64512
[listen]
addresses = ["172.31.0.12"]
[kernel]
enabled = false
[[static]]
prefix = "10.244.2.0/26"
blackhole = true
[[static]]
prefix = "10.244.3.0/26"
blackhole = true
[[peers]]
name = "a"
address = "172.31.0.11"
asn = 64512
families = ["ipv4"]
hold_time = 9
"#;

/// `ip route` lines of our two blocks.
fn block_lines(ns: &str) -> Vec<String> {
    cmd::run(Some(ns), "ip", &["route", "show"])
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("10.244.2.0/26") || l.starts_with("10.244.3.0/26"))
        .map(str::to_string)
        .collect()
}

#[test]
fn peer_routes_share_one_nexthop_object() {
    for mode in ["on", "off"] {
        let mut lab = Lab::new(&format!("bgpd_nhobj_{mode}")).unwrap();
        let lan = lab.lan().unwrap();
        let a = lab
            .node("a", &[(&lan, 11)], Some("10.244.1.1".parse().unwrap()))
            .unwrap();
        let b = lab.node("b", &[(&lan, 12)], None).unwrap();
        let ba = start_bgpd(&a, &config_a(mode));
        let _bb = start_bgpd(&b, CONFIG_B);
        wait_established(&ba, "b", 30);
        let gw = "172.31.0.12";
        wait_kernel(&a, Family::V4, 30, "both blocks via tunl0 onlink", |r| {
            ["10.244.2.0/26", "10.244.3.0/26"]
                .iter()
                .all(|p| r.iter().any(|k| k.dst == *p && k.is_via(gw, "tunl0", true)))
        });
        let lines = block_lines(&a.ns);
        assert_eq!(lines.len(), 2, "{lines:?}");
        // Our objects: `id N via GW dev tunl0 scope link proto bird onlink`.
        let objects: String = cmd::run(Some(&a.ns), "ip", &["nexthop", "list"])
            .unwrap()
            .lines()
            .filter(|l| l.contains("proto bird"))
            .map(|l| format!("{l}\n"))
            .collect();
        if mode == "off" {
            assert!(lines.iter().all(|l| !l.contains("nhid")), "{lines:?}");
            assert!(objects.trim().is_empty(), "{objects}");
            continue;
        }
        // `10.244.2.0/26 nhid N via 172.31.0.12 dev tunl0 proto bird metric 32 onlink`, one N
        // for both.
        let ids: Vec<&str> = lines
            .iter()
            .map(|l| {
                assert!(
                    l.contains(&format!("via {gw} dev tunl0 proto bird metric 32 onlink")),
                    "{l}"
                );
                l.split_whitespace().nth(2).unwrap()
            })
            .collect();
        assert!(lines
            .iter()
            .all(|l| l.split_whitespace().nth(1) == Some("nhid")));
        assert_eq!(ids[0], ids[1], "{lines:?}");
        // The object: ours, through the tunnel.
        let line = objects
            .lines()
            .find(|l| l.starts_with(&format!("id {} ", ids[0])))
            .unwrap_or_else(|| panic!("object {} missing: {objects}", ids[0]));
        assert!(line.contains(&format!("via {gw} dev tunl0")), "{line}");
        assert!(line.contains("onlink"), "{line}");
    }
}

/// B's config with `n` blocks of its own (blackhole statics, announced to A).
fn config_b_many(n: u32) -> String {
    // `notify`: B's stop ends A's graceful-restart helper at once (A drops B's routes).
    let base = CONFIG_B.replacen("asn = 64512\n", "asn = 64512\nshutdown = \"notify\"\n", 1);
    let mut c = base.replace(
        "[[static]]\nprefix = \"10.244.2.0/26\"\nblackhole = true\n[[static]]\nprefix = \"10.244.3.0/26\"\nblackhole = true\n",
        "",
    );
    for i in 0..n {
        c.push_str(&format!(
            "[[static]]\nprefix = \"10.245.{}.{}/27\"\nblackhole = true\n",
            i / 8,
            (i % 8) * 32
        ));
    }
    c
}

fn ours_via(r: &[KernelRoute], gw: &str) -> usize {
    r.iter()
        .filter(|k| k.dst.starts_with("10.245.") && k.is_via(gw, "tunl0", true))
        .count()
}

fn our_objects(ns: &str) -> Vec<String> {
    cmd::run(Some(ns), "ip", &["nexthop", "list"])
        .unwrap()
        .lines()
        .filter(|l| l.contains("proto bird"))
        .map(str::to_string)
        .collect()
}

const METRICS_PORT: u16 = 9179;

/// The FIB thread's (object flushes, flushed routes) counters of `n`, from `/metrics`.
fn flush_counters(n: &NodeNet) -> bgpd_lab::Result<(f64, f64)> {
    let text = scrape_metrics(n, METRICS_PORT)?;
    let get = |s: &str| {
        metric(&text, s).ok_or_else(|| bgpd_lab::Error(format!("no {s} in /metrics:\n{text}")))
    };
    Ok((
        get("bgpd_fib_object_flushes_total")?,
        get("bgpd_fib_flushed_routes_total")?,
    ))
}

/// A peer's whole table going at once (its daemon stops) is withdrawn by deleting the nexthop
/// object its routes share (bgp-fib's object flush: 2,000 routes is above its threshold): no
/// route and no object of ours is left, the metrics (and `show fib --json`) count the flush and
/// its 2,000 routes, and when the peer comes back its routes are installed again through a new
/// object.
#[test]
fn a_peers_table_goes_with_its_nexthop_object_and_comes_back() {
    const N: u32 = 2_000;
    let mut lab = Lab::new("bgpd_nhobj_flush").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab
        .node("a", &[(&lan, 11)], Some("10.244.1.1".parse().unwrap()))
        .unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let config_a = config_a("on").replace("10.244.0.0/16", "10.244.0.0/15")
        + &format!("[metrics]\nlisten = \"127.0.0.1:{METRICS_PORT}\"\n");
    let ba = start_bgpd(&a, &config_a);
    let gw = "172.31.0.12";
    for round in 0..2 {
        let (flushes, flushed) = flush_counters(&a).unwrap();
        let bb = start_bgpd(&b, &config_b_many(N));
        wait_established(&ba, "b", 30);
        wait_kernel(&a, Family::V4, 60, "every block via tunl0 onlink", |r| {
            ours_via(r, gw) == N as usize
        });
        let objects = our_objects(&a.ns);
        assert_eq!(objects.len(), 1, "round {round}: {objects:?}");
        drop(bb);
        wait_kernel(&a, Family::V4, 60, "no block left", |r| {
            ours_via(r, gw) == 0
        });
        let objects = our_objects(&a.ns);
        assert!(objects.is_empty(), "round {round}: {objects:?}");
        // By object flush: the object's delete withdrew the routes (no route delete each).
        wait_observing(
            Duration::from_secs(20),
            Duration::from_millis(200),
            &format!("round {round}: the withdrawal counted as an object flush"),
            || {
                let (f, r) = flush_counters(&a)?;
                Ok(Observed::when(
                    f > flushes && r >= flushed + f64::from(N),
                    format!("object flushes {flushes} -> {f}, flushed routes {flushed} -> {r}"),
                ))
            },
        )
        .unwrap();
        // `show fib` reports the same counters.
        let fib: serde_json::Value =
            serde_json::from_str(&cli(&a, &["show", "fib", "--json"]).unwrap()).unwrap();
        let kernel = &fib["fib"]["counts"]["kernel"];
        assert!(
            kernel["flushed_routes"].as_f64().unwrap() >= flushed + f64::from(N),
            "{fib}"
        );
        assert!(kernel["nexthop_messages"].as_u64().unwrap() >= 2, "{fib}");
    }
}

/// Someone deletes our nexthop object: the kernel takes the routes using it along, without a
/// notification for each. bgp-fib keeps no entry for an installed route (the RIB holds its
/// tag), so it asks the RIB task for every prefix again (`Resync`): the object and every
/// route through it come back, and `show fib` counts the resync.
#[test]
fn routes_taken_along_with_an_object_deleted_behind_our_back_come_back() {
    let mut lab = Lab::new("bgpd_nhobj_resync").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab
        .node("a", &[(&lan, 11)], Some("10.244.1.1".parse().unwrap()))
        .unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let ba = start_bgpd(
        &a,
        &config_a("on").replace("10.244.0.0/16", "10.244.0.0/15"),
    );
    let _bb = start_bgpd(&b, &config_b_many(50));
    wait_established(&ba, "b", 30);
    let gw = "172.31.0.12";
    wait_kernel(&a, Family::V4, 60, "every block via tunl0 onlink", |r| {
        ours_via(r, gw) == 50
    });
    let objects = our_objects(&a.ns);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let id = objects[0].split_whitespace().nth(1).unwrap().to_string();
    cmd::run(Some(&a.ns), "ip", &["nexthop", "del", "id", &id]).unwrap();
    wait_kernel(
        &a,
        Family::V4,
        30,
        "every block back via tunl0 onlink",
        |r| ours_via(r, gw) == 50,
    );
    assert_eq!(our_objects(&a.ns).len(), 1);
    let fib: serde_json::Value =
        serde_json::from_str(&cli(&a, &["show", "fib", "--json"]).unwrap()).unwrap();
    let kernel = &fib["fib"]["counts"]["kernel"];
    assert!(kernel["resyncs"].as_u64().unwrap() >= 1, "{fib}");
}
