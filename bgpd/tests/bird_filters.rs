//! Calico's filters as confd writes them, read by the BIRD front-end and run by the filter
//! engine: (fixture filter, route) → verdict and the attributes BIRD would set
//! (`krt_tunnel` per pool and per next hop, `krt_metric` from `bgp_local_pref` and back,
//! `preference = 200`, `calico_aggr()`, BGPFilter functions with their `is_same_as` argument).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bgp_core::filter::{Filter, Outcome, RouteCtx};
use bgp_core::rib::{KernelTunnel, RouteAttrs, RouteType, SourceKind, Verdict};
use bgp_core::wire::{AsPath, Community, NextHop, Origin};
use bgpd::config::{Config, ConfigFormat, FamilyName, LoadOptions};

fn load(dir: &str) -> Config {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/calico")
        .join(dir)
        .join("bird.cfg");
    Config::load_with(
        &p,
        LoadOptions {
            format: Some(ConfigFormat::Bird),
            family: Some(FamilyName::Ipv4),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn filter(c: &Config, name: &str) -> Arc<Filter> {
    c.filters
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no filter {name}: {:?}", c.filters.keys()))
}

/// A BGP route from node `nh` with LOCAL_PREF `lp`.
fn bgp(nh: &str, lp: Option<u32>) -> RouteAttrs {
    let mut r = RouteAttrs::default();
    r.attrs.origin = Some(Origin::Igp);
    r.attrs.as_path = Some(AsPath::from_sequence(&[]));
    r.attrs.local_pref = lp;
    r.next_hop = Some(NextHop::V4(nh.parse().unwrap()));
    r
}

fn blackhole() -> RouteAttrs {
    let mut r = RouteAttrs::default();
    r.meta.route_type = RouteType::Blackhole;
    r
}

fn run(f: &Filter, prefix: &str, source: SourceKind, r: &RouteAttrs) -> Outcome {
    let p = prefix.parse().unwrap();
    let from: Option<IpAddr> = r.next_hop_addr();
    let ctx = RouteCtx {
        prefix: &p,
        source,
        from,
        proto: "Mesh_10_192_0_3",
        bgp_export: false,
    };
    let o = f.run(&ctx, r);
    if let Some(e) = &o.error {
        // Ending without a verdict is reported as an error (and rejects), as BIRD does.
        assert_eq!(o.verdict, Verdict::Reject, "{e:?}");
    }
    o
}

/// (verdict, krt_tunnel, krt_metric, preference, bgp_local_pref) after the filter.
type Seen = (
    Verdict,
    Option<KernelTunnel>,
    Option<u32>,
    Option<u16>,
    Option<u32>,
);

fn seen(o: &Outcome, orig: &RouteAttrs) -> Seen {
    let m = o.modified(orig);
    let r = m.as_ref().unwrap_or(orig);
    (
        o.verdict,
        r.meta.tunnel.clone(),
        r.meta.krt_metric,
        r.meta.preference,
        r.attrs.local_pref,
    )
}

const A: Verdict = Verdict::Accept;
const R: Verdict = Verdict::Reject;

fn tunl0() -> Option<KernelTunnel> {
    Some(KernelTunnel::Dev("tunl0".into()))
}

#[test]
fn kernel_programming_ipip_always_and_metrics() {
    let c = load("mesh-ipip-always");
    let k = filter(&c, "calico_kernel_programming");
    // A mesh route: its LOCAL_PREF carries the sender's metric 1024 (2147483647 - 1024).
    let r = bgp("10.192.0.3", Some(2147482623));
    assert_eq!(
        seen(&run(&k, "192.168.2.0/26", SourceKind::Bgp, &r), &r),
        (A, tunl0(), Some(1024), None, Some(2147482623))
    );
    // A higher-priority route (metric below 1024): preference 200.
    let r = bgp("10.192.0.3", Some(2147483000));
    assert_eq!(
        seen(&run(&k, "192.168.2.0/26", SourceKind::Bgp, &r), &r),
        (A, tunl0(), Some(647), Some(200), Some(2147483000))
    );
    // No LOCAL_PREF: metric 1024.
    let r = bgp("10.192.0.3", None);
    assert_eq!(
        seen(&run(&k, "192.168.2.0/26", SourceKind::Bgp, &r), &r).2,
        Some(1024)
    );
    // Outside every pool: accepted as is (no tunnel decision).
    let r = bgp("10.192.0.3", Some(2147482623));
    assert_eq!(
        seen(&run(&k, "10.50.0.0/24", SourceKind::Bgp, &r), &r),
        (A, None, Some(1024), None, Some(2147482623))
    );
    // A static blackhole block: no metric derivation (not BGP), direct.
    let b = blackhole();
    assert_eq!(
        seen(&run(&k, "192.168.1.0/26", SourceKind::Static, &b), &b),
        (A, tunl0(), None, None, None)
    );
}

#[test]
fn kernel_programming_cross_subnet_and_modes() {
    let c = load("mesh-ipip-cross-subnet");
    let k = filter(&c, "calico_kernel_programming");
    let inside = bgp("10.192.0.3", Some(2147482623));
    let outside = bgp("10.200.0.3", Some(2147482623));
    assert_eq!(
        seen(
            &run(&k, "192.168.2.0/26", SourceKind::Bgp, &inside),
            &inside
        )
        .1,
        Some(KernelTunnel::Direct)
    );
    assert_eq!(
        seen(
            &run(&k, "192.168.2.0/26", SourceKind::Bgp, &outside),
            &outside
        )
        .1,
        tunl0()
    );
    let c = load("mesh-no-encap");
    let k = filter(&c, "calico_kernel_programming");
    assert_eq!(
        seen(
            &run(&k, "192.168.2.0/26", SourceKind::Bgp, &outside),
            &outside
        )
        .1,
        Some(KernelTunnel::Direct)
    );
    // VXLAN pools: Felix programs them; the kernel filter rejects.
    let c = load("mesh-vxlan");
    let k = filter(&c, "calico_kernel_programming");
    assert_eq!(
        run(&k, "192.168.2.0/26", SourceKind::Bgp, &inside).verdict,
        R
    );
    // v3.30 shape: no metric derivation.
    let c = load("mesh-ipip-always-v3.30");
    let k = filter(&c, "calico_kernel_programming");
    assert_eq!(
        seen(
            &run(&k, "192.168.2.0/26", SourceKind::Bgp, &inside),
            &inside
        ),
        (A, tunl0(), None, None, Some(2147482623))
    );
}

#[test]
fn peer_export_and_import_filters() {
    let c = load("mesh-ipip-always");
    let p = &c.peers()[0];
    let exp = filter(&c, p.common.export.as_deref().unwrap());
    let imp = filter(&c, p.common.import.as_deref().unwrap());
    // Our own block: exported, LOCAL_PREF from the default metric 1024.
    let b = blackhole();
    assert_eq!(
        seen(&run(&exp, "192.168.1.0/26", SourceKind::Static, &b), &b),
        (A, None, Some(1024), None, Some(2147482623))
    );
    // calico_aggr(): a /32 in our block with a high-priority kernel metric is exported;
    // one without is not.
    let mut wl = RouteAttrs::default();
    wl.meta.ifname = Some("cali1234".into());
    wl.meta.krt_metric = Some(512);
    assert_eq!(
        seen(&run(&exp, "192.168.1.5/32", SourceKind::Kernel, &wl), &wl),
        (A, None, Some(512), None, Some(2147483135))
    );
    wl.meta.krt_metric = None;
    assert_eq!(
        run(&exp, "192.168.1.5/32", SourceKind::Kernel, &wl).verdict,
        R
    );
    // Tunnel routes (`*.cali`) are not exported to iBGP peers; outside the pool nothing is.
    let mut t = RouteAttrs::default();
    t.meta.ifname = Some("eth0.cali".into());
    assert_eq!(
        run(&exp, "192.168.7.0/26", SourceKind::Kernel, &t).verdict,
        R
    );
    assert_eq!(run(&exp, "10.1.0.0/16", SourceKind::Static, &b).verdict, R);
    // Import: accept; preference 200 above the priority threshold.
    let r = bgp("10.192.0.3", Some(2147482624));
    assert_eq!(
        seen(&run(&imp, "192.168.2.0/26", SourceKind::Bgp, &r), &r),
        (A, None, None, Some(200), Some(2147482624))
    );
    let r = bgp("10.192.0.3", Some(2147482623));
    assert_eq!(
        seen(&run(&imp, "192.168.2.0/26", SourceKind::Bgp, &r), &r),
        (A, None, None, None, Some(2147482623))
    );
}

#[test]
fn bgpfilter_functions() {
    let c = load("bgpfilter");
    let g = filter(&c, "@Global_10_192_0_254.import");
    let m = filter(&c, "@Mesh_10_192_0_3.import");
    let mut r = bgp("10.192.0.254", Some(100));
    // net ~ 44.0.0.0/16: accepted by the BGPFilter before the priority rule.
    assert_eq!(run(&g, "44.0.1.0/24", SourceKind::Bgp, &r).verdict, A);
    // AS path starting 65000: LOCAL_PREF raised, accepted.
    r.attrs.as_path = Some(AsPath::from_sequence(&[65000, 65001]));
    assert_eq!(
        seen(&run(&g, "99.0.0.0/24", SourceKind::Bgp, &r), &r),
        (A, None, None, None, Some(2147483000))
    );
    // Community (64512,300): path prepended.
    r.attrs.as_path = Some(AsPath::from_sequence(&[65001]));
    r.attrs.communities = vec![Community::new(64512, 300)];
    let o = run(&g, "99.0.0.0/24", SourceKind::Bgp, &r);
    assert_eq!(o.verdict, A);
    let path = o.modified(&r).unwrap().attrs.as_path.unwrap();
    assert_eq!(path, AsPath::from_sequence(&[64512, 65001]));
    // The `is_same_as` argument: the mesh peer passes true, the global one false.
    r.attrs.communities.clear();
    assert_eq!(run(&m, "99.0.0.0/24", SourceKind::Bgp, &r).verdict, A);
    assert_eq!(run(&g, "99.0.0.0/24", SourceKind::Bgp, &r).verdict, R);
    // `net != 55.0.0.0/8` is inequality, `net !~ 66.0.0.0/8` not-inside.
    assert_eq!(run(&m, "55.0.0.0/8", SourceKind::Bgp, &r).verdict, R);
    assert_eq!(run(&m, "55.1.0.0/16", SourceKind::Bgp, &r).verdict, A);
    assert_eq!(run(&m, "66.1.0.0/16", SourceKind::Bgp, &r).verdict, R);
    // Export: community and large community added, path prepended.
    let e = filter(&c, "@Global_10_192_0_254.export");
    let o = run(&e, "77.2.0.0/24", SourceKind::Bgp, &r);
    assert_eq!(o.verdict, A);
    let m = o.modified(&r).unwrap();
    assert!(m.attrs.communities.contains(&Community::new(64512, 400)));
    assert_eq!(m.attrs.large_communities.len(), 1);
    assert_eq!(
        m.attrs.as_path.unwrap(),
        AsPath::from_sequence(&[64512, 65001])
    );
}

#[test]
fn communities_applied_on_export() {
    let c = load("explicit-peers");
    let e = filter(&c, "@Global_10_192_0_254.export");
    let b = blackhole();
    let o = run(&e, "192.168.1.0/26", SourceKind::Static, &b);
    assert_eq!(o.verdict, A);
    let m = o.modified(&b).unwrap();
    assert_eq!(m.attrs.communities, vec![Community::new(64512, 100)]);
    assert_eq!(m.attrs.large_communities.len(), 1);
    // Routes of the disabled pool are never exported.
    assert_eq!(run(&e, "10.99.1.0/26", SourceKind::Static, &b).verdict, R);
}
