//! Interpreter vectors: (program, route) → verdict, attributes, printed text or error, one
//! group per construct, with BIRD 1.6's results.

use std::sync::Arc;

use ipnet::IpNet;

use super::*;
use crate::rib::attrs::{RouteAttrs, RouteType, SourceKind};
use crate::wire::{AsPath, Community, LargeCommunity, NextHop, Origin};

/// A BGP route 10.244.1.0/26 from 10.192.0.5: path 65001 65002, LOCAL_PREF 100, community
/// (65000,1), large community (65000,1,2), no MED, no krt_metric.
fn bgp_route() -> RouteAttrs {
    let mut r = RouteAttrs::default();
    r.attrs.origin = Some(Origin::Igp);
    r.attrs.as_path = Some(AsPath::from_sequence(&[65001, 65002]));
    r.attrs.local_pref = Some(100);
    r.attrs.communities = vec![Community::new(65000, 1)];
    r.attrs.large_communities = vec![LargeCommunity::new(65000, 1, 2)];
    r.next_hop = Some(NextHop::V4("10.192.0.5".parse().unwrap()));
    r
}

/// A static blackhole 10.244.9.0/26 on no interface.
fn static_route() -> RouteAttrs {
    let mut r = RouteAttrs::default();
    r.meta.route_type = RouteType::Blackhole;
    r
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Runs `f` and checks the compiled form against the tree interpreter (every test vector does).
pub(super) fn run_checked(f: &Filter, ctx: &RouteCtx<'_>, r: &RouteAttrs) -> Outcome {
    let o = f.run(ctx, r);
    assert_eq!(
        o.resolved(r),
        f.run_reference(ctx, r).resolved(r),
        "compiled != reference"
    );
    o
}

fn run_on(body: Vec<Stmt>, prefix: &str, source: SourceKind, r: &RouteAttrs) -> Outcome {
    let f = Filter::simple("t", body).unwrap();
    let p = net(prefix);
    let ctx = RouteCtx {
        prefix: &p,
        source,
        from: Some("10.192.0.5".parse().unwrap()),
        proto: "Mesh_10_192_0_5",
        bgp_export: false,
    };
    run_checked(&f, &ctx, r)
}

fn run(body: Vec<Stmt>) -> Outcome {
    run_on(body, "10.244.1.0/26", SourceKind::Bgp, &bgp_route())
}

/// What `print e;` shows, or the run-time error.
fn show(e: Expr) -> Result<String, RuntimeError> {
    show_on(e, SourceKind::Bgp)
}

fn show_on(e: Expr, source: SourceKind) -> Result<String, RuntimeError> {
    let (prefix, r) = match source {
        SourceKind::Bgp => ("10.244.1.0/26", bgp_route()),
        _ => ("10.244.9.0/26", static_route()),
    };
    let o = run_on(
        vec![
            Stmt::Print {
                args: vec![e],
                newline: true,
            },
            Stmt::Accept,
        ],
        prefix,
        source,
        &r,
    );
    match o.error {
        Some(e) => Err(e),
        None => Ok(o.output.join("|")),
    }
}

fn a(x: Attr) -> Expr {
    Expr::attr(x)
}
fn i(n: u32) -> Expr {
    Expr::int(n)
}
fn pfx(s: &str) -> Expr {
    Expr::val(Value::Prefix(net(s)))
}
fn ip(s: &str) -> Expr {
    Expr::val(Value::Ip(s.parse().unwrap()))
}
fn pset(items: &[&str]) -> Expr {
    Expr::val(Value::set(Set::Prefix(PrefixSet::new(
        items.iter().map(|p| p.parse::<PrefixRange>().unwrap()),
    ))))
}
fn enm(n: &str) -> Expr {
    Expr::val(Value::Enum(EnumValue::by_name(n).unwrap()))
}
fn pair(x: u16, y: u16) -> Expr {
    Expr::val(Value::pair(x, y))
}
fn cmp(op: CmpOp, x: Expr, y: Expr) -> Expr {
    Expr::cmp(op, x, y)
}
fn mask(items: &[MaskItem]) -> Expr {
    Expr::val(Value::PathMask(Arc::from(items.to_vec())))
}
fn err(m: &'static str) -> Result<String, RuntimeError> {
    Err(RuntimeError(m))
}
fn ok(s: &str) -> Result<String, RuntimeError> {
    Ok(s.to_string())
}

#[test]
fn integers_are_32_bit_unsigned() {
    use ArithOp::*;
    let cases = [
        (
            Expr::arith(Sub, i(2147483647), a(Attr::BgpLocalPref)),
            ok("2147483547"),
        ),
        (Expr::arith(Sub, i(0), i(1)), ok("4294967295")),
        (Expr::arith(Add, i(u32::MAX), i(2)), ok("1")),
        (Expr::arith(Mul, i(3), i(4)), ok("12")),
        (Expr::arith(Div, i(7), i(2)), ok("3")),
        (
            Expr::arith(Div, i(7), i(0)),
            err("Mother told me not to divide by 0"),
        ),
        (
            Expr::arith(Add, a(Attr::BgpMed), i(1)),
            err("Can't operate with values of type void"),
        ),
        (
            Expr::arith(Add, i(1), Expr::bool(true)),
            err("Can't operate with values of incompatible types"),
        ),
        // Unsigned: 0 - 1 is above everything.
        (
            cmp(CmpOp::Gt, Expr::arith(Sub, i(0), i(1)), i(5)),
            ok("TRUE"),
        ),
    ];
    for (e, want) in cases {
        assert_eq!(show(e.clone()), want, "{e:?}");
    }
}

#[test]
fn comparisons_follow_val_compare() {
    use CmpOp::*;
    let cases = [
        (cmp(Lt, i(1), i(2)), ok("TRUE")),
        (cmp(Ge, i(2), i(2)), ok("TRUE")),
        (cmp(Le, i(3), i(2)), ok("FALSE")),
        // Void is below everything: calico_aggr's `krt_metric < 1024` holds when unset.
        (cmp(Lt, a(Attr::KrtMetric), i(1024)), ok("TRUE")),
        (cmp(Gt, a(Attr::KrtMetric), i(0)), ok("FALSE")),
        (cmp(Eq, a(Attr::KrtMetric), i(0)), ok("FALSE")),
        (cmp(Ne, a(Attr::BgpMed), i(5)), ok("TRUE")),
        (
            cmp(Lt, i(1), Expr::string("a")),
            err("Can't compare values of incompatible types"),
        ),
        // `=` between types never fails.
        (cmp(Eq, Expr::string("a"), i(1)), ok("FALSE")),
        (cmp(Eq, a(Attr::Source), enm("RTS_BGP")), ok("TRUE")),
        (cmp(Eq, a(Attr::Source), enm("RTS_STATIC")), ok("FALSE")),
        (cmp(Eq, a(Attr::BgpOrigin), enm("ORIGIN_IGP")), ok("TRUE")),
        (cmp(Lt, ip("10.0.0.1"), ip("10.0.0.2")), ok("TRUE")),
        (cmp(Eq, a(Attr::Net), pfx("10.244.1.0/26")), ok("TRUE")),
        (cmp(Eq, a(Attr::Net), pfx("10.244.1.0/24")), ok("FALSE")),
        (
            cmp(Lt, pfx("10.244.1.0/24"), pfx("10.244.1.0/26")),
            ok("TRUE"),
        ),
        (
            cmp(Eq, Expr::val(Value::Quad(0x0a000001)), ip("10.0.0.1")),
            ok("TRUE"),
        ),
        (
            cmp(Lt, Expr::string("abc"), Expr::string("abd")),
            ok("TRUE"),
        ),
        (cmp(Eq, pair(1, 2), Expr::pair(i(1), i(2))), ok("TRUE")),
        (cmp(Eq, a(Attr::Preference), i(100)), ok("TRUE")),
        (
            cmp(Eq, a(Attr::Proto), Expr::string("Mesh_10_192_0_5")),
            ok("TRUE"),
        ),
        (cmp(Eq, a(Attr::From), ip("10.192.0.5")), ok("TRUE")),
        (cmp(Eq, a(Attr::Gw), ip("10.192.0.5")), ok("TRUE")),
        (cmp(Eq, a(Attr::Dest), enm("RTD_ROUTER")), ok("TRUE")),
    ];
    for (e, want) in cases {
        assert_eq!(show(e.clone()), want, "{e:?}");
    }
    // A static blackhole: its own source, preference and destination.
    let cases = [
        (cmp(Eq, a(Attr::Source), enm("RTS_STATIC")), ok("TRUE")),
        (cmp(Eq, a(Attr::Preference), i(200)), ok("TRUE")),
        (cmp(Eq, a(Attr::Dest), enm("RTD_BLACKHOLE")), ok("TRUE")),
        (cmp(Eq, a(Attr::Ifname), Expr::string("")), ok("TRUE")),
    ];
    for (e, want) in cases {
        assert_eq!(show_on(e.clone(), SourceKind::Static), want, "{e:?}");
    }
}

#[test]
fn booleans_short_circuit_and_need_bools() {
    let bad = || cmp(CmpOp::Lt, i(1), Expr::string("a"));
    let cases = [
        (Expr::and(Expr::bool(true), Expr::bool(false)), ok("FALSE")),
        (Expr::or(Expr::bool(false), Expr::bool(true)), ok("TRUE")),
        (Expr::and(Expr::bool(false), bad()), ok("FALSE")),
        (Expr::or(Expr::bool(true), bad()), ok("TRUE")),
        (
            Expr::and(Expr::bool(true), bad()),
            err("Can't compare values of incompatible types"),
        ),
        (
            Expr::and(i(1), Expr::bool(true)),
            err("Can't do boolean operation on non-booleans"),
        ),
        (
            Expr::and(Expr::bool(true), i(1)),
            err("Can't do boolean operation on non-booleans"),
        ),
        (Expr::not(Expr::bool(false)), ok("TRUE")),
        (Expr::not(i(1)), err("Not applied to non-boolean")),
    ];
    for (e, want) in cases {
        assert_eq!(show(e.clone()), want, "{e:?}");
    }
}

#[test]
fn matches_by_type() {
    use MaskItem::*;
    let int_set = |lo, hi| Expr::val(Value::set(Set::Int(RangeSet::new([(lo, hi)]).unwrap())));
    let pair_set = Expr::val(Value::set(Set::Pair(
        RangeSet::new(pair_product((65000, 65000), (0, u16::MAX))).unwrap(),
    )));
    let rts = Expr::val(Value::set(Set::Enum(
        EnumKind::Source,
        RangeSet::new([(11, 11), (1, 1)]).unwrap(),
    )));
    let cases = [
        (
            Expr::matches(a(Attr::Net), pfx("10.244.0.0/16")),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::Net), pfx("10.245.0.0/16")),
            ok("FALSE"),
        ),
        (
            Expr::matches(a(Attr::Net), pfx("10.244.1.0/27")),
            ok("FALSE"),
        ),
        (
            Expr::matches(a(Attr::Net), pset(&["10.244.0.0/16{26,32}"])),
            ok("TRUE"),
        ),
        (
            Expr::not_matches(a(Attr::Net), pset(&["10.244.0.0/16{27,32}"])),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpNextHop), pfx("10.192.0.0/16")),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpNextHop), pfx("10.193.0.0/16")),
            ok("FALSE"),
        ),
        (
            Expr::matches(pair(65000, 1), a(Attr::BgpCommunity)),
            ok("TRUE"),
        ),
        (
            Expr::matches(pair(65000, 2), a(Attr::BgpCommunity)),
            ok("FALSE"),
        ),
        (
            Expr::not_matches(pair(65000, 2), a(Attr::BgpCommunity)),
            ok("TRUE"),
        ),
        (
            Expr::matches(Expr::lc(i(65000), i(1), i(2)), a(Attr::BgpLargeCommunity)),
            ok("TRUE"),
        ),
        (
            Expr::matches(Expr::lc(i(65000), i(1), i(3)), a(Attr::BgpLargeCommunity)),
            ok("FALSE"),
        ),
        (Expr::matches(a(Attr::BgpCommunity), pair_set), ok("TRUE")),
        (Expr::matches(a(Attr::Source), rts), ok("TRUE")),
        (Expr::matches(i(5), int_set(1, 10)), ok("TRUE")),
        (Expr::matches(i(11), int_set(1, 10)), ok("FALSE")),
        (
            Expr::matches(a(Attr::BgpPath), int_set(65002, 65002)),
            ok("TRUE"),
        ),
        (Expr::matches(i(65002), a(Attr::BgpPath)), ok("TRUE")),
        (Expr::matches(i(65003), a(Attr::BgpPath)), ok("FALSE")),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[Asn(65001), AnySeq])),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[AnySeq, Asn(65002)])),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[AnyOne, Asn(65002)])),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[AnySeq, Asn(65001), AnySeq])),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[Asn(65002), AnySeq])),
            ok("FALSE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[Asn(65001)])),
            ok("FALSE"),
        ),
        (
            Expr::matches(a(Attr::BgpPath), mask(&[Range(65000, 65001), AnyOne])),
            ok("TRUE"),
        ),
        (
            Expr::matches(
                a(Attr::BgpPath),
                Expr::PathMask(vec![
                    MaskTerm::Asn(Expr::arith(ArithOp::Add, i(65000), i(1))),
                    MaskTerm::Item(AnySeq),
                ]),
            ),
            ok("TRUE"),
        ),
        (
            Expr::matches(Expr::string("eth0.cali"), Expr::string("*.cali")),
            ok("TRUE"),
        ),
        (
            Expr::matches(a(Attr::Ifname), Expr::string("eth0")),
            ok("FALSE"),
        ),
        (
            Expr::matches(i(5), Expr::string("x")),
            err("~ applied on unknown type pair"),
        ),
        (
            Expr::matches(a(Attr::BgpMed), pfx("10.0.0.0/8")),
            err("~ applied on unknown type pair"),
        ),
    ];
    for (e, want) in cases {
        assert_eq!(show(e.clone()), want, "{e:?}");
    }
    // Not a BGP route: bgp_next_hop is void, and matching void is an error (hence Calico's
    // `defined(bgp_next_hop) && ...`).
    let e = Expr::matches(a(Attr::BgpNextHop), pfx("10.192.0.0/16"));
    assert_eq!(
        show_on(e, SourceKind::Static),
        err("~ applied on unknown type pair")
    );
}

#[test]
fn defined_constructors_methods_and_print() {
    let cases = [
        (Expr::defined(a(Attr::BgpMed)), ok("FALSE")),
        (Expr::defined(a(Attr::BgpLocalPref)), ok("TRUE")),
        (Expr::defined(a(Attr::KrtMetric)), ok("FALSE")),
        (Expr::defined(a(Attr::KrtTunnel)), ok("FALSE")),
        (Expr::defined(a(Attr::Source)), ok("TRUE")),
        (Expr::defined(a(Attr::Ifname)), ok("TRUE")),
        (
            Expr::pair(Expr::arith(ArithOp::Add, i(1), i(1)), i(3)),
            ok("(2,3)"),
        ),
        (
            Expr::pair(i(70000), i(1)),
            err("Can't operate with value out of bounds in pair constructor"),
        ),
        (
            Expr::pair(Expr::string("x"), i(1)),
            err("Can't operate with value of non-integer type in pair constructor"),
        ),
        (
            Expr::lc(i(4200000000), i(1), i(2)),
            ok("(4200000000, 1, 2)"),
        ),
        (Expr::method(Method::Len, a(Attr::BgpPath)), ok("2")),
        (Expr::method(Method::First, a(Attr::BgpPath)), ok("65001")),
        (Expr::method(Method::Last, a(Attr::BgpPath)), ok("65002")),
        (Expr::method(Method::Len, a(Attr::Net)), ok("26")),
        (Expr::method(Method::Ip, a(Attr::Net)), ok("10.244.1.0")),
        (Expr::method(Method::Len, a(Attr::BgpCommunity)), ok("1")),
        (
            Expr::method(Method::Len, i(5)),
            err("Prefix, path, clist or eclist expected"),
        ),
        (Expr::method(Method::First, i(5)), err("AS path expected")),
        (a(Attr::BgpPath), ok("(path 65001 65002)")),
        (a(Attr::BgpCommunity), ok("(clist (65000,1))")),
        (a(Attr::BgpLargeCommunity), ok("(lclist (65000, 1, 2))")),
        (a(Attr::Source), ok("RTS_BGP")),
        (a(Attr::BgpMed), ok("(void)")),
        (a(Attr::Net), ok("10.244.1.0/26")),
        (Expr::val(Value::Quad(0x01020304)), ok("1.2.3.4")),
    ];
    for (e, want) in cases {
        assert_eq!(show(e.clone()), want, "{e:?}");
    }
    // printn continues the line; print ends it.
    let o = run(vec![
        Stmt::Print {
            args: vec![Expr::string("a=")],
            newline: false,
        },
        Stmt::Print {
            args: vec![i(1), Expr::string(" b")],
            newline: true,
        },
        Stmt::Print {
            args: vec![Expr::string("tail")],
            newline: false,
        },
        Stmt::Accept,
    ]);
    assert_eq!(o.output, ["a=1 b", "tail"]);
}

/// `defined(attr)` (answered without building the value) agrees with reading the attribute,
/// for every attribute, on routes of every source, with and without the export view.
#[test]
fn defined_agrees_with_read() {
    use Attr::*;
    let all = [
        Net,
        Source,
        Dest,
        Ifname,
        Preference,
        Gw,
        From,
        Proto,
        KrtMetric,
        KrtTunnel,
        BgpOrigin,
        BgpPath,
        BgpNextHop,
        BgpMed,
        BgpLocalPref,
        BgpCommunity,
        BgpLargeCommunity,
        BgpOriginatorId,
    ];
    let mut with_meta = bgp_route();
    with_meta.meta.krt_metric = Some(5);
    with_meta.meta.tunnel = Some(crate::rib::attrs::KernelTunnel::Direct);
    with_meta.meta.ifname = Some(Arc::from("eth0"));
    with_meta.attrs.med = Some(1);
    with_meta.attrs.originator_id = Some("1.2.3.4".parse().unwrap());
    let p = net("10.244.1.0/26");
    for r in [
        bgp_route(),
        static_route(),
        with_meta,
        RouteAttrs::default(),
    ] {
        for source in [SourceKind::Bgp, SourceKind::Static, SourceKind::Kernel] {
            for bgp_export in [false, true] {
                let ctx = RouteCtx {
                    prefix: &p,
                    source,
                    from: None,
                    proto: "p",
                    bgp_export,
                };
                for a in all {
                    assert_eq!(
                        route::defined(a, &ctx, &r),
                        route::read(a, &ctx, &r) != Value::Void,
                        "{a:?} {source:?} export={bgp_export} {r:?}"
                    );
                }
            }
        }
    }
}
