//! Cross-subnet IP-in-IP (`ipip = "cross-subnet"`) follows the local on-link subnets, in
//! network namespaces (root), with bgpd processes (control socket) and the kernel table:
//! node b announces a pool block with next hop 172.31.1.12, an address a reaches through a
//! host route only, so a installs it `via 172.31.1.12 dev tunl0 onlink`; when a gets an
//! address in 172.31.1.0/24 the route moves to `via 172.31.1.12 dev eth0`, and back to tunl0
//! when the address goes — the session staying up throughout.

mod common;

use bgpd_lab::{cmd, Family, Lab, NodeNet};
use common::{session_state, start_bgpd, wait_established, wait_kernel};

fn ip(n: &NodeNet, args: &[&str]) {
    let mut a = vec!["-n", n.ns.as_str()];
    a.extend_from_slice(args);
    cmd::ip(&a).unwrap();
}

#[test]
fn cross_subnet_routes_follow_local_subnet_changes() {
    let mut lab = Lab::new("bgpd_cross_subnet_onlink").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab
        .node("a", &[(&lan, 11)], Some("10.244.1.1".parse().unwrap()))
        .unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    // b's session and next-hop address is in a subnet a is not on; a reaches it by a host
    // route (no address of a covers it).
    ip(&b, &["addr", "add", "172.31.1.12/24", "dev", "eth0"]);
    ip(&a, &["route", "add", "172.31.1.12/32", "dev", "eth0"]);
    ip(
        &b,
        &[
            "route",
            "add",
            "172.31.0.11/32",
            "dev",
            "eth0",
            "src",
            "172.31.1.12",
        ],
    );

    let ca = r#"
router_id = "172.31.0.11"
asn = 64512
[listen]
addresses = ["172.31.0.11"]
[kernel]
protocol = "bird"
[[pools]]
cidr = "10.244.0.0/16"
ipip = "cross-subnet"
[[peers]]
name = "b"
address = "172.31.1.12"
asn = 64512
source_address = "172.31.0.11"
families = ["ipv4"]
hold_time = 9
"#;
    let cb = r#"
router_id = "172.31.0.12"
asn = 64512
[listen]
addresses = ["172.31.1.12"]
[kernel]
enabled = false
[[static]]
prefix = "10.244.2.0/26"
blackhole = true
[[peers]]
name = "a"
address = "172.31.0.11"
asn = 64512
source_address = "172.31.1.12"
families = ["ipv4"]
hold_time = 9
"#;
    let ba = start_bgpd(&a, ca);
    let _bb = start_bgpd(&b, cb);
    wait_established(&ba, "b", 30);
    let block = "10.244.2.0/26";
    let gw = "172.31.1.12";
    wait_kernel(
        &a,
        Family::V4,
        30,
        "off-subnet next hop: tunl0 onlink",
        |r| {
            r.iter()
                .any(|k| k.dst == block && k.is_via(gw, "tunl0", true))
        },
    );

    ip(&a, &["addr", "add", "172.31.1.11/24", "dev", "eth0"]);
    wait_kernel(&a, Family::V4, 30, "now on-link: directly on eth0", |r| {
        r.iter()
            .any(|k| k.dst == block && k.is_via(gw, "eth0", false))
    });

    ip(&a, &["addr", "del", "172.31.1.11/24", "dev", "eth0"]);
    wait_kernel(&a, Family::V4, 30, "off-subnet again: tunl0 onlink", |r| {
        r.iter()
            .any(|k| k.dst == block && k.is_via(gw, "tunl0", true))
    });
    assert_eq!(session_state(&ba, "b"), "Established");
    assert_eq!(
        ba.route(block).unwrap().len(),
        1,
        "the route is still in a's table"
    );
}
