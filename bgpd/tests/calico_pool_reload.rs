//! A reload that changes an IP pool's mode re-resolves the routes already in the kernel, in
//! network namespaces (root), with bgpd processes (control socket) and the kernel table: node
//! b announces a block of pool 10.244.0.0/16 with its on-link address as next hop; a installs it
//! `via NH dev tunl0 onlink` while the pool is IP-in-IP `always`, `via NH dev eth0` once a
//! reload makes it `never`, not at all while it is a VXLAN pool, and directly again after — the
//! session staying up throughout.

mod common;

use bgpd_lab::{Family, Lab};
use common::{session_state, start_bgpd, wait_established, wait_kernel};

fn config_a(pool: &str) -> String {
    format!(
        r#"
router_id = "172.31.0.11"
asn = 64512
[listen]
addresses = ["172.31.0.11"]
[kernel]
protocol = "bird"
[[pools]]
cidr = "10.244.0.0/16"
{pool}
[[peers]]
name = "b"
address = "172.31.0.12"
asn = 64512
families = ["ipv4"]
hold_time = 9
"#
    )
}

#[test]
fn a_reloaded_pool_mode_applies_to_installed_routes() {
    let mut lab = Lab::new("bgpd_pool_reload").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab
        .node("a", &[(&lan, 11)], Some("10.244.1.1".parse().unwrap()))
        .unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let cb = r#"
router_id = "172.31.0.12"
asn = 64512
[listen]
addresses = ["172.31.0.12"]
[kernel]
enabled = false
[[static]]
prefix = "10.244.2.0/26"
blackhole = true
[[peers]]
name = "a"
address = "172.31.0.11"
asn = 64512
families = ["ipv4"]
hold_time = 9
"#;
    let ba = start_bgpd(&a, &config_a(r#"ipip = "always""#));
    let _bb = start_bgpd(&b, cb);
    wait_established(&ba, "b", 30);
    let block = "10.244.2.0/26";
    let gw = "172.31.0.12";
    wait_kernel(&a, Family::V4, 30, "ipip always: tunl0 onlink", |r| {
        r.iter()
            .any(|k| k.dst == block && k.is_via(gw, "tunl0", true))
    });

    let reload = |pool: &str| {
        std::fs::write(&ba.config, config_a(pool)).unwrap();
        ba.cli(&["configure"]).unwrap();
    };
    reload(r#"ipip = "never""#);
    wait_kernel(&a, Family::V4, 30, "ipip never: directly on eth0", |r| {
        r.iter()
            .any(|k| k.dst == block && k.is_via(gw, "eth0", false))
    });
    reload("ipip = \"never\"\nvxlan = true");
    wait_kernel(&a, Family::V4, 30, "a VXLAN pool: not programmed", |r| {
        !r.iter().any(|k| k.dst == block)
    });
    reload(r#"ipip = "cross-subnet""#);
    wait_kernel(&a, Family::V4, 30, "cross-subnet, on-link: eth0", |r| {
        r.iter()
            .any(|k| k.dst == block && k.is_via(gw, "eth0", false))
    });
    assert_eq!(session_state(&ba, "b"), "Established");
}
