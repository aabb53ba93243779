//! Kernel routes at a metric set by the kernel filter (root). Calico's
//! `calico_kernel_programming` gives every BGP route `krt_metric = 1024`, while the kernel
//! protocol's own metric is 0. A route's key in the kernel includes its metric, and the kernel
//! takes a delete at metric 0 as "this prefix at any metric": a delete of the key at the
//! default metric, sent after the add of the one at 1024 (bgp-fib's queue sends a long load in
//! scattered order), removed the route just installed, until the next scan put it back. With
//! the scan an hour away here, every route must be in the kernel, at 1024, and stay there;
//! after a reload that sets metric 0, every route must be there at 0 and none at 1024.

mod common;

use std::fmt::Write as _;

use bgpd_lab::{Family, Lab};
use common::{start_bird_cfg, wait_kernel};

const ROUTES: usize = 5000;

#[test]
fn routes_at_a_filter_set_metric_all_reach_the_kernel_and_stay() {
    let mut lab = Lab::new("bgpd_kernel_metric").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let config = |metric: u32| {
        let mut cfg = format!(
            "router id {};\nprotocol device {{ scan time 10; }}\nprotocol static {{\n",
            a.ip4()
        );
        for i in 0..ROUTES {
            let _ = writeln!(
                cfg,
                "  route 10.{}.{}.0/24 blackhole;",
                100 + i / 256,
                i % 256
            );
        }
        let _ = write!(
            cfg,
            "}}\nprotocol kernel {{\n  scan time 3600;\n  import none;\n  \
             export filter {{ krt_metric = {metric}; accept; }};\n}}\n"
        );
        std::fs::write(a.path("bird.cfg"), cfg).unwrap();
    };
    let all_at = |metric| {
        // `ip -j route` leaves out a metric of 0.
        move |r: &[bgpd_lab::kernel::KernelRoute]| {
            r.len() == ROUTES && r.iter().all(|k| k.metric.unwrap_or(0) == metric)
        }
    };
    config(1024);
    let mut p = start_bird_cfg(&a);
    wait_kernel(
        &a,
        Family::V4,
        60,
        "every static route in the kernel at metric 1024",
        all_at(1024),
    );
    // None of them goes away afterwards (a late delete would take one; the scan that would
    // put it back is an hour away): a second, later read.
    let again = common::ours(&a, Family::V4);
    assert!(
        all_at(1024)(&again),
        "{} routes of ours after the load",
        again.len()
    );

    // The filter changes the metric (a reload): each route moves to the new metric and none
    // is left behind at the old one. The daemon keeps no record of old metrics: bgp-fib
    // replaces a prefix at whatever metric it held it.
    config(0);
    p.signal(libc::SIGHUP).unwrap();
    wait_kernel(
        &a,
        Family::V4,
        60,
        "every static route moved to metric 0, none left at 1024",
        all_at(0),
    );
}
