//! FIB repair in the daemon (root): our kernel routes deleted, changed or added behind bgpd's
//! back are put right from the route monitor's notifications, without waiting for the
//! periodic scan (set to an hour here, so only the event path can repair within the test's
//! deadline). The time it takes is a benchmark figure (`fib_bench --repair`), not asserted.

mod common;

use bgpd_lab::{cmd, Family, Lab};
use common::{ours, start, wait_kernel};

#[test]
fn routes_changed_behind_our_back_are_repaired_without_a_scan() {
    let mut lab = Lab::new("bgpd_fib_repair").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let gw = lan.v4(99);
    let config = format!(
        r#"
router_id = "{ip}"
asn = 65001
[kernel]
protocol = "bird"
scan_interval = 3600
[[static]]
prefix = "10.1.0.0/24"
blackhole = true
[[static]]
prefix = "10.1.1.0/24"
via = "{gw}"
[[static]]
prefix = "10.1.2.0/24"
via = "{gw}"
"#,
        ip = a.ip4(),
    );
    let _p = start(&a, &config, 0);
    let want = |r: &[bgpd_lab::kernel::KernelRoute]| {
        let gw = gw.to_string();
        r.len() == 3
            && r.iter()
                .any(|k| k.dst == "10.1.0.0/24" && k.kind.as_deref() == Some("blackhole"))
            && common::via(r, "10.1.1.0/24", &gw)
            && common::via(r, "10.1.2.0/24", &gw)
    };
    wait_kernel(
        &a,
        Family::V4,
        30,
        "the three static routes installed",
        want,
    );

    // Behind bgpd's back: one deleted, one given another gateway, one stray of ours added.
    let wrong = lan.v4(98).to_string();
    let dev = ours(&a, Family::V4)
        .into_iter()
        .find(|k| k.dst == "10.1.1.0/24")
        .and_then(|k| k.dev)
        .unwrap();
    for argv in [
        vec!["route", "del", "10.1.2.0/24", "proto", "bird"],
        vec![
            "route",
            "replace",
            "10.1.1.0/24",
            "via",
            &wrong,
            "dev",
            &dev,
            "proto",
            "bird",
        ],
        vec!["route", "add", "blackhole", "10.1.9.0/24", "proto", "bird"],
    ] {
        cmd::run(Some(&a.ns), "ip", &argv).unwrap();
    }
    wait_kernel(
        &a,
        Family::V4,
        30,
        "repaired: the deleted route back, the changed one restored, the stray gone",
        want,
    );
    assert_eq!(common::fib_failed(&a), 0, "routes refused");
}
