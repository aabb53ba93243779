//! Interpreter vectors for statements, assignments, list modifications, variables and
//! functions, and a Calico kernel filter end to end.

use std::sync::Arc;

use ipnet::IpNet;

use super::*;
use crate::rib::attrs::{KernelTunnel, RouteAttrs, SourceKind};
use crate::wire::{AsPath, Community, LargeCommunity, NextHop};

fn bgp_route() -> RouteAttrs {
    let mut r = RouteAttrs::default();
    r.attrs.as_path = Some(AsPath::from_sequence(&[65001, 65002]));
    r.attrs.local_pref = Some(100);
    r.attrs.med = Some(5);
    r.attrs.communities = vec![Community::new(65000, 1)];
    r.attrs.large_communities = vec![LargeCommunity::new(65000, 1, 2)];
    r.next_hop = Some(NextHop::V4("10.192.0.5".parse().unwrap()));
    r
}

fn ctx_run(f: &Filter, prefix: &str, r: &RouteAttrs) -> Outcome {
    let p: IpNet = prefix.parse().unwrap();
    let ctx = RouteCtx {
        prefix: &p,
        source: SourceKind::Bgp,
        from: None,
        proto: "p",
        bgp_export: false,
    };
    super::tests::run_checked(f, &ctx, r)
}

fn run(body: Vec<Stmt>) -> Outcome {
    ctx_run(
        &Filter::simple("t", body).unwrap(),
        "10.244.1.0/26",
        &bgp_route(),
    )
}

fn a(x: Attr) -> Expr {
    Expr::attr(x)
}
fn i(n: u32) -> Expr {
    Expr::int(n)
}
fn set(x: Attr, e: Expr) -> Stmt {
    Stmt::SetAttr(x, e)
}
fn pair(x: u16, y: u16) -> Expr {
    Expr::val(Value::pair(x, y))
}

/// The modified attributes of an accepted run.
fn accepted(body: Vec<Stmt>) -> RouteAttrs {
    let o = run(body);
    assert_eq!((o.verdict, o.error), (Verdict::Accept, None));
    o.modified(&bgp_route()).unwrap_or_else(bgp_route)
}

fn rejected_with(body: Vec<Stmt>, msg: &'static str) {
    let o = run(body);
    assert_eq!(o.verdict, Verdict::Reject);
    assert_eq!(o.error, Some(RuntimeError(msg)));
    assert_eq!(o.changes, None);
}

#[test]
fn verdicts() {
    let o = run(vec![Stmt::Accept, Stmt::Reject]);
    assert_eq!(
        (o.verdict, o.error, o.changes),
        (Verdict::Accept, None, None)
    );
    let o = run(vec![set(Attr::BgpMed, i(1)), Stmt::Reject]);
    assert_eq!(
        (o.verdict, o.error, o.changes),
        (Verdict::Reject, None, None)
    );
    // No verdict: BIRD 1.6 rejects ("did not return accept nor reject"); so does `return`.
    rejected_with(
        vec![set(Attr::BgpMed, i(1))],
        "Filter did not return accept nor reject",
    );
    rejected_with(
        vec![Stmt::Return(Some(i(1)))],
        "Filter did not return accept nor reject",
    );
    // if/then/else and blocks.
    let pick = |c: bool| {
        accepted(vec![
            Stmt::if_else(
                Expr::bool(c),
                vec![set(Attr::BgpMed, i(1))],
                vec![Stmt::Block(vec![
                    set(Attr::BgpMed, i(2)),
                    set(Attr::BgpMed, i(3)),
                ])],
            ),
            Stmt::Accept,
        ])
        .attrs
        .med
    };
    assert_eq!((pick(true), pick(false)), (Some(1), Some(3)));
    rejected_with(
        vec![Stmt::if_then(i(1), vec![Stmt::Accept])],
        "If requires boolean expression",
    );
}

#[test]
fn attribute_assignments() {
    let r = accepted(vec![
        set(
            Attr::KrtMetric,
            Expr::arith(ArithOp::Sub, i(2147483647), a(Attr::BgpLocalPref)),
        ),
        set(Attr::Preference, i(200)),
        set(Attr::BgpLocalPref, i(300)),
        set(
            Attr::BgpMed,
            Expr::arith(ArithOp::Add, a(Attr::BgpMed), i(1)),
        ),
        set(Attr::KrtTunnel, Expr::string("tunl0")),
        set(
            Attr::BgpNextHop,
            Expr::val(Value::Ip("10.0.0.9".parse().unwrap())),
        ),
        set(
            Attr::BgpOrigin,
            Expr::val(Value::Enum(
                EnumValue::by_name("ORIGIN_INCOMPLETE").unwrap(),
            )),
        ),
        Stmt::Accept,
    ]);
    assert_eq!(r.meta.krt_metric, Some(2147483547));
    assert_eq!(r.meta.preference, Some(200));
    assert_eq!((r.attrs.local_pref, r.attrs.med), (Some(300), Some(6)));
    assert_eq!(r.meta.tunnel, Some(KernelTunnel::Dev(Arc::from("tunl0"))));
    assert_eq!(r.next_hop, Some(NextHop::V4("10.0.0.9".parse().unwrap())));
    assert_eq!(r.attrs.origin, Some(crate::wire::Origin::Incomplete));
    let r = accepted(vec![set(Attr::KrtTunnel, Expr::string("")), Stmt::Accept]);
    assert_eq!(r.meta.tunnel, Some(KernelTunnel::Direct));
    let r = accepted(vec![Stmt::UnsetAttr(Attr::BgpMed), Stmt::Accept]);
    assert_eq!(r.attrs.med, None);
    // Writing what is already there leaves the route unmodified.
    let o = run(vec![set(Attr::BgpLocalPref, i(100)), Stmt::Accept]);
    assert_eq!(o.changes, None);

    // BIRD's type errors.
    rejected_with(
        vec![set(Attr::Preference, i(70000))],
        "Setting preference value out of bounds",
    );
    rejected_with(
        vec![set(Attr::BgpMed, Expr::string("x"))],
        "Setting int attribute to non-int value",
    );
    // Assigning an unset attribute's void to another.
    rejected_with(
        vec![set(Attr::KrtMetric, a(Attr::BgpOriginatorId))],
        "Setting int attribute to non-int value",
    );
    rejected_with(
        vec![set(
            Attr::BgpNextHop,
            Expr::val(Value::Ip("fd00::1".parse().unwrap())),
        )],
        "Setting ip attribute to non-ip value",
    );
    rejected_with(
        vec![set(Attr::KrtTunnel, i(1))],
        "Setting string attribute to non-string value",
    );
}

#[test]
fn list_modifications() {
    let pset = |lo, hi| {
        Expr::val(Value::set(Set::Pair(
            RangeSet::new([(pack_pair(65000, lo), pack_pair(65000, hi))]).unwrap(),
        )))
    };
    let r = accepted(vec![
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(65000, 100)),
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(65000, 100)),
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(65000, 200)),
        Stmt::modify_attr(ModOp::Delete, Attr::BgpCommunity, pair(65000, 1)),
        Stmt::Accept,
    ]);
    let c = |x| Community::new(65000, x);
    assert_eq!(r.attrs.communities, [c(100), c(200)]);
    let r = accepted(vec![
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(65000, 150)),
        Stmt::modify_attr(ModOp::Delete, Attr::BgpCommunity, pset(100, 199)),
        Stmt::Accept,
    ]);
    assert_eq!(r.attrs.communities, [c(1)]);
    let r = accepted(vec![
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(65000, 150)),
        Stmt::modify_attr(ModOp::Filter, Attr::BgpCommunity, pset(100, 199)),
        Stmt::Accept,
    ]);
    assert_eq!(r.attrs.communities, [c(150)]);
    let r = accepted(vec![
        Stmt::modify_attr(
            ModOp::Add,
            Attr::BgpLargeCommunity,
            Expr::lc(i(1), i(2), i(3)),
        ),
        Stmt::modify_attr(
            ModOp::Delete,
            Attr::BgpLargeCommunity,
            Expr::lc(i(65000), i(1), i(2)),
        ),
        Stmt::Accept,
    ]);
    assert_eq!(r.attrs.large_communities, [LargeCommunity::new(1, 2, 3)]);
    let r = accepted(vec![
        Stmt::modify_attr(ModOp::Prepend, Attr::BgpPath, i(65000)),
        Stmt::modify_attr(ModOp::Prepend, Attr::BgpPath, i(65000)),
        Stmt::Accept,
    ]);
    let path: Vec<u32> = r.attrs.as_path.unwrap().asns().collect();
    assert_eq!(path, [65000, 65000, 65001, 65002]);
    let r = accepted(vec![
        Stmt::modify_attr(ModOp::Delete, Attr::BgpPath, i(65001)),
        Stmt::Accept,
    ]);
    let path: Vec<u32> = r.attrs.as_path.unwrap().asns().collect();
    assert_eq!(path, [65002]);
    // `-empty-`, then add.
    let r = accepted(vec![
        set(Attr::BgpCommunity, Expr::val(Value::empty_clist())),
        Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(1, 1)),
        Stmt::Accept,
    ]);
    assert_eq!(r.attrs.communities, [Community::new(1, 1)]);
    rejected_with(
        vec![Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, i(5))],
        "Can't add/delete non-pair",
    );
    rejected_with(
        vec![Stmt::modify_attr(ModOp::Add, Attr::BgpPath, i(5))],
        "Can't add to path",
    );
    rejected_with(
        vec![Stmt::modify_attr(
            ModOp::Prepend,
            Attr::BgpPath,
            Expr::string("x"),
        )],
        "Can't prepend non-integer",
    );
}

#[test]
fn variables() {
    let mut fr = Frame::new();
    let x = fr.local("x", Type::Int).unwrap();
    let (_, locals) = fr.into_parts();
    let f = |body| Filter::new("t", locals.clone(), body, Arc::from(Vec::new())).unwrap();
    let o = ctx_run(
        &f(vec![
            Stmt::if_then(Expr::defined(Expr::var(x)), vec![Stmt::Reject]),
            Stmt::SetVar(x, i(5)),
            Stmt::SetVar(x, Expr::arith(ArithOp::Add, Expr::var(x), i(1))),
            set(Attr::BgpMed, Expr::var(x)),
            // Void may be stored in any variable.
            Stmt::SetVar(x, a(Attr::KrtMetric)),
            Stmt::Accept,
        ]),
        "10.0.0.0/8",
        &bgp_route(),
    );
    assert_eq!(o.error, None);
    assert_eq!(o.modified(&bgp_route()).unwrap().attrs.med, Some(6));
    let o = ctx_run(
        &f(vec![Stmt::SetVar(x, Expr::string("s"))]),
        "10.0.0.0/8",
        &bgp_route(),
    );
    assert_eq!(
        o.error,
        Some(RuntimeError("Assigning to variable of incompatible type"))
    );
}

#[test]
fn functions() {
    let mut b = ProgramBuilder::new();
    // function is_internal(bool internal) { if internal then return true; return false; }
    let mut fr = Frame::new();
    let p = fr.param("internal", Type::Bool).unwrap();
    let is_internal = b
        .function(
            "is_internal",
            fr,
            vec![
                Stmt::if_then(Expr::var(p), vec![Stmt::Return(Some(Expr::bool(true)))]),
                Stmt::Return(Some(Expr::bool(false))),
            ],
        )
        .unwrap();
    // function 'bgp_x-y_importFilterV4'() { bgp_med = 7; accept; }  (accept ends the filter)
    let accepts = b
        .function(
            "'bgp_x-y_importFilterV4'",
            Frame::new(),
            vec![set(Attr::BgpMed, i(7)), Stmt::Accept],
        )
        .unwrap();
    // function nothing() { }  returns void
    let nothing = b.function("nothing", Frame::new(), vec![]).unwrap();
    // function rec() { rec(); }
    let rec = b.declare_function("rec", vec![]).unwrap();
    b.define_function(rec, vec![], vec![Stmt::call(rec, vec![])])
        .unwrap();

    b.filter(
        "uses_value",
        vec![],
        vec![
            Stmt::if_then(
                Expr::call(is_internal, vec![Expr::bool(true)]),
                vec![Stmt::Accept],
            ),
            Stmt::Reject,
        ],
    )
    .unwrap();
    b.filter(
        "accept_inside",
        vec![],
        vec![Stmt::call(accepts, vec![]), Stmt::Reject],
    )
    .unwrap();
    b.filter(
        "void_result",
        vec![],
        vec![
            Stmt::if_then(
                Expr::defined(Expr::call(nothing, vec![])),
                vec![Stmt::Reject],
            ),
            Stmt::Accept,
        ],
    )
    .unwrap();
    b.filter(
        "recursion",
        vec![],
        vec![Stmt::call(rec, vec![]), Stmt::Accept],
    )
    .unwrap();
    b.filter(
        "bad_arg",
        vec![],
        vec![Stmt::call(is_internal, vec![i(1)]), Stmt::Accept],
    )
    .unwrap();
    let prog = b.finish().unwrap();
    let run = |n: &str| ctx_run(&prog.filters[n], "10.0.0.0/8", &bgp_route());

    assert_eq!(run("uses_value").verdict, Verdict::Accept);
    let o = run("accept_inside");
    assert_eq!(o.verdict, Verdict::Accept);
    assert_eq!(o.modified(&bgp_route()).unwrap().attrs.med, Some(7));
    assert_eq!(
        (run("void_result").verdict, run("void_result").error),
        (Verdict::Accept, None)
    );
    let o = run("recursion");
    assert_eq!(
        (o.verdict, o.error),
        (
            Verdict::Reject,
            Some(RuntimeError("function calls nested too deeply"))
        )
    );
    let o = run("bad_arg");
    assert_eq!(
        o.error,
        Some(RuntimeError("Assigning to variable of incompatible type"))
    );
}

/// Calico's kernel filter (v3.32 shape): metric from LOCAL_PREF, preference 200 below 1024,
/// then the tunnel per pool: an IP-in-IP CrossSubnet pool and an Always pool.
#[test]
fn calico_kernel_programming() {
    let p = |s: &str| Expr::val(Value::Prefix(s.parse().unwrap()));
    let body = vec![
        Stmt::if_then(
            Expr::and(
                Expr::eq(a(Attr::Source), Expr::val(Value::Enum(EnumValue::RTS_BGP))),
                Expr::defined(a(Attr::BgpLocalPref)),
            ),
            vec![set(
                Attr::KrtMetric,
                Expr::arith(ArithOp::Sub, i(2147483647), a(Attr::BgpLocalPref)),
            )],
        ),
        Stmt::if_then(
            Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), i(1024)),
            vec![set(Attr::Preference, i(200))],
        ),
        Stmt::if_then(
            Expr::matches(a(Attr::Net), p("172.16.0.0/16")),
            vec![
                Stmt::if_else(
                    Expr::and(
                        Expr::defined(a(Attr::BgpNextHop)),
                        Expr::matches(a(Attr::BgpNextHop), p("10.192.0.0/16")),
                    ),
                    vec![set(Attr::KrtTunnel, Expr::string(""))],
                    vec![set(Attr::KrtTunnel, Expr::string("tunl0"))],
                ),
                Stmt::Accept,
            ],
        ),
        Stmt::if_then(
            Expr::matches(a(Attr::Net), p("192.168.0.0/16")),
            vec![set(Attr::KrtTunnel, Expr::string("tunl0")), Stmt::Accept],
        ),
        Stmt::Accept,
    ];
    let f = Filter::simple("calico_kernel_programming", body).unwrap();
    assert!(f.analysis.reads_prefix && f.analysis.writes);
    let tunnel = |prefix: &str, nh: &str| {
        let mut r = bgp_route();
        r.next_hop = Some(NextHop::V4(nh.parse().unwrap()));
        let o = ctx_run(&f, prefix, &r);
        assert_eq!((o.verdict, o.error), (Verdict::Accept, None));
        let m = o.modified(&r).unwrap();
        assert_eq!(m.meta.krt_metric, Some(2147483547));
        m.meta.tunnel
    };
    let dev = Some(KernelTunnel::Dev(Arc::from("tunl0")));
    assert_eq!(
        tunnel("172.16.3.0/26", "10.192.0.5"),
        Some(KernelTunnel::Direct)
    );
    assert_eq!(tunnel("172.16.3.0/26", "10.200.0.5"), dev);
    assert_eq!(tunnel("192.168.3.0/26", "10.192.0.5"), dev);
    assert_eq!(tunnel("10.1.0.0/24", "10.192.0.5"), None);
}

/// Runs of prefix-guarded `if`s are indexed and give the same results as running them one by
/// one (the reference wraps each `if` in a block, which the indexer leaves alone).
#[test]
fn prefix_index_is_transparent() {
    let p = |s: &str| Expr::val(Value::Prefix(s.parse().unwrap()));
    let mut stmts = Vec::new();
    for j in 0..12u32 {
        let b = format!("10.{}.{}.0/26", 100 + j % 3, j);
        stmts.push(Stmt::if_then(
            Expr::eq(a(Attr::Net), p(&b)),
            vec![set(Attr::BgpMed, i(j)), Stmt::Accept],
        ));
        stmts.push(Stmt::if_then(
            Expr::and(
                Expr::matches(a(Attr::Net), p(&b)),
                Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), i(1024)),
            ),
            vec![set(Attr::BgpMed, i(100 + j))],
        ));
        stmts.push(Stmt::if_then(
            Expr::matches(a(Attr::Net), p(&format!("10.{}.0.0/16", 100 + j % 3))),
            vec![Stmt::modify_attr(
                ModOp::Add,
                Attr::BgpCommunity,
                pair(1, j as u16),
            )],
        ));
    }
    // Zero-length and host-length guards (the index masks addresses by length).
    for (g, c) in [("0.0.0.0/0", 1), ("::/0", 2), ("10.101.1.5/32", 3)] {
        stmts.push(Stmt::if_then(
            Expr::matches(a(Attr::Net), p(g)),
            vec![Stmt::modify_attr(
                ModOp::Add,
                Attr::BgpCommunity,
                pair(2, c),
            )],
        ));
    }
    stmts.push(Stmt::if_then(
        Expr::matches(a(Attr::Net), p("fd00::/48")),
        vec![Stmt::Reject],
    ));
    stmts.push(Stmt::Accept);
    let fast = Filter::simple("fast", stmts.clone()).unwrap();
    assert!(matches!(fast.body.first(), Some(Stmt::Indexed(_))));
    let slow_body = stmts.into_iter().map(|s| Stmt::Block(vec![s])).collect();
    let slow = Filter::simple("slow", slow_body).unwrap();
    assert!(!slow.body.iter().any(|s| matches!(s, Stmt::Indexed(_))));
    let mut n = 0;
    for net in [
        "10.100.0.0/26",
        "10.101.1.0/26",
        "10.101.1.5/32",
        "10.101.2.5/32",
        "10.102.11.0/26",
        "10.102.11.0/25",
        "10.102.0.0/16",
        "10.103.0.0/26",
        "0.0.0.0/0",
        "fd00::/64",
        "fd01::/64",
    ] {
        for metric in [None, Some(5), Some(2000)] {
            let mut r = bgp_route();
            r.meta.krt_metric = metric;
            let (x, y) = (ctx_run(&fast, net, &r), ctx_run(&slow, net, &r));
            assert_eq!(x, y, "{net} {metric:?}");
            n += usize::from(x.changes.is_some());
        }
    }
    assert!(n > 10, "the vectors exercise the statements ({n})");
}

/// Conditions of `if` are evaluated without building bool values; their errors are those of
/// the operator that met the non-bool (BIRD 1.6's messages), and short-circuits still skip.
#[test]
fn if_conditions_keep_operator_errors() {
    let if_accept = |c: Expr| vec![Stmt::if_then(c, vec![Stmt::Accept]), Stmt::Reject];
    rejected_with(if_accept(i(1)), "If requires boolean expression");
    rejected_with(if_accept(Expr::not(i(1))), "Not applied to non-boolean");
    rejected_with(
        if_accept(Expr::and(Expr::bool(true), i(1))),
        "Can't do boolean operation on non-booleans",
    );
    rejected_with(
        if_accept(Expr::or(Expr::not(Expr::bool(true)), i(1))),
        "Can't do boolean operation on non-booleans",
    );
    rejected_with(
        if_accept(Expr::not(Expr::and(Expr::bool(true), i(1)))),
        "Can't do boolean operation on non-booleans",
    );
    // Short-circuits: the bad operand is never evaluated.
    assert_eq!(
        run(if_accept(Expr::or(Expr::bool(true), i(1)))).verdict,
        Verdict::Accept
    );
    assert_eq!(
        run(if_accept(Expr::and(
            Expr::defined(a(Attr::KrtMetric)),
            i(1)
        )))
        .error,
        None
    );
}
