//! Two mesh nodes restarting at once (a rolling upgrade that overlaps, a power cut): each
//! comes back as a restarting speaker with the R bit set. RFC 4724 §4.1 excludes such peers
//! from the End-of-RIB wait, so neither defers its advertisements for the other: both learn
//! each other's block again long before the graceful-restart wait timer (here 300 s) would
//! have released them, and the kernel keeps the blocks throughout.

use std::time::Duration;

use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed};

mod common;

fn config(n: &NodeNet, idx: u8, other: &NodeNet) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[graceful_restart]
wait_time = 300
[[static]]
prefix = "10.244.{idx}.0/26"
blackhole = true
[mesh]
peers = ["{ip}", "{other}"]
source_address = "{ip}"
"#,
        ip = n.ip4(),
        other = other.ip4()
    )
}

/// Waits until `n`'s best route for `prefix` comes from BGP (a `Mesh_*` protocol).
fn wait_bgp_route(n: &NodeNet, prefix: &str, secs: u64, what: &str) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(200),
        what,
        || {
            let b = common::best(n, prefix);
            Ok(Observed::when(
                b.as_ref().is_some_and(|(p, _)| p.starts_with("Mesh_")),
                format!("{b:?}"),
            ))
        },
    )
    .unwrap();
}

#[test]
fn two_nodes_restarting_together_do_not_wait_for_each_other() {
    let mut lab = Lab::new("bgpd_gr_together").unwrap();
    let lan = lab.lan().unwrap();
    let n1 = lab.node("n1", &[(&lan, 1)], None).unwrap();
    let n2 = lab.node("n2", &[(&lan, 2)], None).unwrap();
    let c1 = config(&n1, 1, &n2);
    let c2 = config(&n2, 2, &n1);
    let mut p1 = common::start(&n1, &c1, 0);
    let mut p2 = common::start(&n2, &c2, 0);
    wait_bgp_route(&n1, "10.244.2.0/26", 60, "n1 learns n2's block");
    wait_bgp_route(&n2, "10.244.1.0/26", 60, "n2 learns n1's block");

    // Both stop gracefully (routes persist in the kernel) and start again together.
    p1.signal(libc::SIGTERM).unwrap();
    p2.signal(libc::SIGTERM).unwrap();
    assert!(p1.wait_exit(Duration::from_secs(20)).is_some(), "n1 stops");
    assert!(p2.wait_exit(Duration::from_secs(20)).is_some(), "n2 stops");
    let mut p1 = common::start(&n1, &c1, 1);
    let mut p2 = common::start(&n2, &c2, 1);
    // Each is a restarting speaker; neither waits for the other's End-of-RIB, so the blocks
    // come back over BGP without the 300 s wait timer.
    wait_bgp_route(&n1, "10.244.2.0/26", 90, "n1 learns n2's block again");
    wait_bgp_route(&n2, "10.244.1.0/26", 90, "n2 learns n1's block again");
    for (n, theirs) in [(&n1, "10.244.2.0/26"), (&n2, "10.244.1.0/26")] {
        let k = common::ours(n, Family::V4);
        assert!(
            k.iter().any(|r| r.dst == theirs),
            "{}: {theirs} in the kernel",
            n.name
        );
    }
    p1.ensure_running().unwrap();
    p2.ensure_running().unwrap();
}
