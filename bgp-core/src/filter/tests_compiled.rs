//! The compiled form against the tree interpreter: Calico-shaped programs (the per-peer export
//! filter with `calico_aggr()` and the pools, `calico_kernel_programming`) and a program using
//! every other construct, run on random routes by both; and what the compile step produces for
//! the shapes it specialises.

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::IpNet;
use proptest::prelude::*;

use super::code::{Cond, IntEx, Op};
use super::*;
use crate::rib::attrs::{KernelTunnel, RouteAttrs, RouteType, SourceKind};
use crate::wire::{AsPath, Community, LargeCommunity, NextHop};

fn a(x: Attr) -> Expr {
    Expr::attr(x)
}
fn i(n: u32) -> Expr {
    Expr::int(n)
}
fn p(s: &str) -> Expr {
    Expr::val(Value::Prefix(s.parse().unwrap()))
}
fn s(x: &str) -> Expr {
    Expr::string(x)
}
fn set(x: Attr, e: Expr) -> Stmt {
    Stmt::SetAttr(x, e)
}
fn pool(k: usize) -> String {
    format!("10.{}.0.0/16", 100 + k)
}
fn block(j: usize) -> String {
    format!("10.{}.{}.0/26", 100 + j % 4, j / 4)
}

/// A BGP route's context, protocol "p".
fn bgp_ctx(net: &IpNet) -> RouteCtx<'_> {
    RouteCtx {
        prefix: net,
        source: SourceKind::Bgp,
        from: None,
        proto: "p",
        bgp_export: false,
    }
}

/// Calico's export filter (4 pools, 12 local blocks) and kernel filter, as the BIRD front-end
/// lowers them, plus a filter using every other construct.
fn programs() -> Vec<Arc<Filter>> {
    let mut b = ProgramBuilder::new();
    let mut aggr = Vec::new();
    for j in 0..12 {
        let blk = block(j);
        aggr.push(Stmt::if_then(
            Expr::eq(a(Attr::Net), p(&blk)),
            vec![Stmt::Accept],
        ));
        aggr.push(Stmt::if_then(
            Expr::and(
                Expr::matches(a(Attr::Net), p(&blk)),
                Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), i(1024)),
            ),
            vec![Stmt::Accept],
        ));
        aggr.push(Stmt::if_then(
            Expr::matches(a(Attr::Net), p(&blk)),
            vec![Stmt::Reject],
        ));
    }
    let aggr = b.function("calico_aggr", Frame::new(), aggr).unwrap();
    let local = b
        .function(
            "reject_local_routes",
            Frame::new(),
            vec![Stmt::if_then(
                Expr::defined(a(Attr::Ifname)),
                vec![Stmt::if_then(
                    Expr::matches(a(Attr::Ifname), s("bpf*.cali")),
                    vec![Stmt::Reject],
                )],
            )],
        )
        .unwrap();
    let mut fr = Frame::new();
    let internal = fr.param("internal_peer", Type::Bool).unwrap();
    let mut body = vec![
        Stmt::if_then(
            Expr::var(internal),
            vec![Stmt::if_then(
                Expr::or(
                    Expr::matches(a(Attr::Ifname), s("*.cali")),
                    Expr::matches(a(Attr::Ifname), s("cali*")),
                ),
                vec![Stmt::Reject],
            )],
        ),
        Stmt::call(local, vec![]),
        Stmt::call(aggr, vec![]),
    ];
    for k in 0..4 {
        body.push(Stmt::if_then(
            Expr::matches(a(Attr::Net), p(&pool(k))),
            vec![Stmt::Accept],
        ));
    }
    let peers = b.function("calico_export_to_bgp_peers", fr, body).unwrap();
    let export = vec![
        Stmt::if_else(
            Expr::and(
                Expr::and(
                    Expr::defined(a(Attr::Source)),
                    Expr::eq(a(Attr::Source), Expr::val(Value::Enum(EnumValue::RTS_BGP))),
                ),
                Expr::defined(a(Attr::BgpLocalPref)),
            ),
            vec![set(
                Attr::KrtMetric,
                Expr::arith(ArithOp::Sub, i(2147483647), a(Attr::BgpLocalPref)),
            )],
            vec![
                Stmt::if_then(
                    Expr::not(Expr::defined(a(Attr::KrtMetric))),
                    vec![set(Attr::KrtMetric, i(1024))],
                ),
                set(
                    Attr::BgpLocalPref,
                    Expr::arith(ArithOp::Sub, i(2147483647), a(Attr::KrtMetric)),
                ),
            ],
        ),
        Stmt::call(peers, vec![Expr::bool(true)]),
        Stmt::Reject,
    ];
    b.filter("export", vec![], export).unwrap();
    let mut kernel = vec![Stmt::if_then(
        Expr::and(
            Expr::eq(a(Attr::Source), Expr::val(Value::Enum(EnumValue::RTS_BGP))),
            Expr::not(Expr::defined(a(Attr::KrtMetric))),
        ),
        vec![
            set(Attr::KrtMetric, i(1024)),
            Stmt::if_then(
                Expr::defined(a(Attr::BgpLocalPref)),
                vec![set(
                    Attr::KrtMetric,
                    Expr::arith(ArithOp::Sub, i(2147483647), a(Attr::BgpLocalPref)),
                )],
            ),
            Stmt::if_then(
                Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), i(1024)),
                vec![set(Attr::Preference, i(200))],
            ),
        ],
    )];
    for k in 0..4 {
        let tunnel = if k % 2 == 0 {
            Stmt::if_else(
                Expr::and(
                    Expr::defined(a(Attr::BgpNextHop)),
                    Expr::matches(a(Attr::BgpNextHop), p("10.192.0.0/16")),
                ),
                vec![set(Attr::KrtTunnel, s(""))],
                vec![set(Attr::KrtTunnel, s("tunl0"))],
            )
        } else {
            set(Attr::KrtTunnel, s("tunl0"))
        };
        kernel.push(Stmt::if_then(
            Expr::matches(a(Attr::Net), p(&pool(k))),
            vec![tunnel, Stmt::Accept],
        ));
    }
    kernel.push(Stmt::Accept);
    b.filter("kernel", vec![], kernel).unwrap();

    // Everything else: variables of several types, arithmetic (with void), pairs, lists,
    // paths, masks, print, unset, dest/gw writes, a function returning a value.
    let mut fr = Frame::new();
    let x = fr.param("x", Type::Int).unwrap();
    let twice = b
        .function(
            "twice",
            fr,
            vec![Stmt::Return(Some(Expr::arith(
                ArithOp::Add,
                Expr::var(x),
                Expr::var(x),
            )))],
        )
        .unwrap();
    let mut fr = Frame::new();
    let n = fr.local("n", Type::Int).unwrap();
    let q = fr.local("q", Type::Quad).unwrap();
    let (_, locals) = fr.into_parts();
    let comm = Value::pair(65000, 1);
    let pairs = Set::Pair(RangeSet::new(pair_product((65000, 65000), (0, 100))).unwrap());
    let mask = Value::PathMask(Arc::from(vec![MaskItem::AnySeq, MaskItem::Asn(65002)]));
    let misc = vec![
        Stmt::SetVar(n, Expr::call(twice, vec![a(Attr::BgpMed)])),
        Stmt::SetVar(q, a(Attr::Gw)),
        Stmt::Print {
            args: vec![Expr::var(n), s(" "), a(Attr::BgpPath), Expr::var(q)],
            newline: true,
        },
        Stmt::if_then(
            Expr::matches(Expr::val(comm.clone()), a(Attr::BgpCommunity)),
            vec![Stmt::modify_attr(
                ModOp::Add,
                Attr::BgpCommunity,
                Expr::pair(i(65000), Expr::var(n)),
            )],
        ),
        Stmt::if_then(
            Expr::matches(Expr::val(Value::set(pairs.clone())), a(Attr::BgpCommunity)),
            vec![set(
                Attr::BgpMed,
                Expr::arith(ArithOp::Mul, i(3), a(Attr::BgpMed)),
            )],
        ),
        Stmt::if_then(
            Expr::matches(Expr::lc(i(65000), i(1), i(2)), a(Attr::BgpLargeCommunity)),
            vec![Stmt::UnsetAttr(Attr::BgpLocalPref)],
        ),
        Stmt::if_then(
            Expr::matches(a(Attr::BgpPath), Expr::val(mask)),
            vec![Stmt::modify_attr(ModOp::Prepend, Attr::BgpPath, i(65000))],
        ),
        Stmt::if_then(
            Expr::cmp(CmpOp::Ge, Expr::method(Method::Len, a(Attr::BgpPath)), i(3)),
            vec![set(
                Attr::Dest,
                Expr::val(Value::Enum(EnumValue::RTD_BLACKHOLE)),
            )],
        ),
        Stmt::if_then(
            Expr::not_matches(a(Attr::Net), p("10.0.0.0/8")),
            vec![set(Attr::Preference, Expr::var(n))],
        ),
        Stmt::if_then(
            Expr::cmp(CmpOp::Gt, a(Attr::Net), p("10.100.0.0/16")),
            vec![set(
                Attr::Gw,
                Expr::val(Value::Ip("10.1.1.1".parse().unwrap())),
            )],
        ),
        Stmt::if_then(
            Expr::matches(a(Attr::Ifname), s("c?li*")),
            vec![
                set(Attr::KrtTunnel, a(Attr::Ifname)),
                Stmt::UnsetAttr(Attr::KrtMetric),
            ],
        ),
        Stmt::if_then(
            Expr::or(Expr::cmp(CmpOp::Le, a(Attr::KrtMetric), i(5)), Expr::var(n)),
            vec![Stmt::Reject],
        ),
        Stmt::Return(None),
    ];
    b.filter("misc", locals, misc).unwrap();
    b.finish().unwrap().filters.into_values().collect()
}

fn arb_prefix() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        // Inside the pools and blocks, at the lengths that matter.
        (
            0usize..6,
            0u8..4,
            0u8..=255,
            prop::sample::select(vec![16u8, 24, 26, 32])
        )
            .prop_map(|(k, third, fourth, len)| {
                let a = Ipv4Addr::new(10, 100 + k as u8, third, fourth);
                IpNet::new(a.into(), len).unwrap()
            }),
        (any::<u32>(), 0u8..=32)
            .prop_map(|(x, l)| IpNet::new(Ipv4Addr::from(x).into(), l).unwrap()),
        (any::<u128>(), 0u8..=128).prop_map(|(x, l)| IpNet::new(
            std::net::Ipv6Addr::from(x).into(),
            l
        )
        .unwrap()),
    ]
}

fn arb_source() -> impl Strategy<Value = SourceKind> {
    prop::sample::select(vec![
        SourceKind::Bgp,
        SourceKind::Static,
        SourceKind::Kernel,
        SourceKind::Direct,
    ])
}

fn arb_route() -> impl Strategy<Value = RouteAttrs> {
    let small = || {
        prop::option::of(prop::sample::select(vec![
            0u32,
            5,
            100,
            1023,
            1024,
            2147483647,
            u32::MAX,
        ]))
    };
    (
        (small(), small(), small(), prop::option::of(0u16..300)),
        prop::option::of(prop::sample::select(vec!["", "tunl0"])),
        prop::option::of(prop::sample::select(vec![
            "cali1234",
            "x.cali",
            "bpf0.cali",
            "eth0",
            "tunl0",
            "vxlan.calico",
        ])),
        prop::option::of((0u8..2, any::<u8>())),
        prop::collection::vec((65000u16..65002, 0u16..3), 0..3),
        prop::option::of(prop::collection::vec(65000u32..65004, 0..4)),
        prop::sample::select(vec![RouteType::Unicast, RouteType::Blackhole]),
        any::<bool>(),
    )
        .prop_map(
            |((metric, lp, med, pref), tunnel, ifname, nh, comms, path, rt, lc)| {
                let mut r = RouteAttrs::default();
                r.meta.krt_metric = metric;
                r.attrs.local_pref = lp;
                r.attrs.med = med;
                r.meta.preference = pref;
                r.meta.tunnel = tunnel.map(|t| {
                    if t.is_empty() {
                        KernelTunnel::Direct
                    } else {
                        KernelTunnel::Dev(Arc::from(t))
                    }
                });
                r.meta.ifname = ifname.map(Arc::from);
                r.next_hop = nh.map(|(net, h)| NextHop::V4(Ipv4Addr::new(10, 192 + net, 0, h)));
                r.attrs.communities = comms
                    .into_iter()
                    .map(|(x, y)| Community::new(x, y))
                    .collect();
                r.attrs.as_path = path.map(|p| AsPath::from_sequence(&p));
                r.meta.route_type = rt;
                if lc {
                    r.attrs.large_communities = vec![LargeCommunity::new(65000, 1, 2)];
                }
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn compiled_equals_reference(
        prefix in arb_prefix(),
        source in arb_source(),
        r in arb_route(),
        bgp_export in any::<bool>(),
    ) {
        let ctx = RouteCtx {
            prefix: &prefix,
            source,
            from: Some("10.192.0.5".parse().unwrap()),
            proto: "Mesh_10_192_0_5",
            bgp_export,
        };
        for f in programs() {
            prop_assert_eq!(
                f.run(&ctx, &r).resolved(&r),
                f.run_reference(&ctx, &r).resolved(&r),
                "{}",
                f.name
            );
        }
    }
}

/// Both Calico filters do reach their accept, reject and write paths on these routes (the
/// property above is not vacuous).
#[test]
fn calico_programs_take_every_path() {
    let fs = programs();
    let by = |n: &str| fs.iter().find(|f| f.name == n).unwrap().clone();
    let (export, kernel) = (by("export"), by("kernel"));
    let run = |f: &Filter, prefix: &str, source, r: &RouteAttrs| {
        let net: IpNet = prefix.parse().unwrap();
        let ctx = RouteCtx {
            prefix: &net,
            source,
            from: None,
            proto: "p",
            bgp_export: false,
        };
        f.run(&ctx, r)
    };
    let mut bgp = RouteAttrs::default();
    bgp.attrs.local_pref = Some(100);
    bgp.next_hop = Some(NextHop::V4("10.192.0.9".parse().unwrap()));
    let o = run(&export, "10.101.7.0/26", SourceKind::Bgp, &bgp);
    assert_eq!(o.verdict, Verdict::Accept);
    assert_eq!(o.modified(&bgp).unwrap().meta.krt_metric, Some(2147483547));
    let mut wl = RouteAttrs::default();
    wl.meta.ifname = Some(Arc::from("cali0001"));
    assert_eq!(
        run(&export, "10.101.0.5/32", SourceKind::Kernel, &wl).verdict,
        Verdict::Reject
    );
    let o = run(
        &export,
        "10.101.0.0/26",
        SourceKind::Static,
        &RouteAttrs::default(),
    );
    assert_eq!(o.verdict, Verdict::Accept);
    assert_eq!(
        o.modified(&RouteAttrs::default()).unwrap().attrs.local_pref,
        Some(2147482623)
    );
    let o = run(&kernel, "10.100.7.0/26", SourceKind::Bgp, &bgp);
    let m = o.modified(&bgp).unwrap();
    assert_eq!(
        (m.meta.tunnel, m.meta.preference),
        (Some(KernelTunnel::Direct), None)
    );
    let o = run(&kernel, "10.101.7.0/26", SourceKind::Bgp, &bgp);
    assert_eq!(
        o.modified(&bgp).unwrap().meta.tunnel,
        Some(KernelTunnel::Dev(Arc::from("tunl0")))
    );
    // Writing what is there already leaves the route shared.
    let mut done = bgp.clone();
    done.meta.krt_metric = Some(7);
    done.meta.tunnel = Some(KernelTunnel::Dev(Arc::from("tunl0")));
    let o = run(&kernel, "10.101.7.0/26", SourceKind::Bgp, &done);
    assert_eq!((o.verdict, o.changes), (Verdict::Accept, None));
}

/// The compile step: constant `defined`s fold away, `net ~ P`/`net = P` become mask tests, int
/// comparisons and arithmetic are unboxed, blocks flatten, guarded runs get per-length tables.
#[test]
fn compile_specialises_the_hot_shapes() {
    let fs = programs();
    let export = fs.iter().find(|f| f.name == "export").unwrap();
    let code = &export.code.0;
    // `defined(source) && source = RTS_BGP && defined(bgp_local_pref)`: the first folds.
    let Some(Op::If(Cond::And(x, y), _, otherwise)) = code.body.first() else {
        panic!("{:?}", code.body.first());
    };
    assert!(matches!(**x, Cond::SourceIs { equal: true, .. }));
    assert!(matches!(**y, Cond::Defined(Attr::BgpLocalPref)));
    assert!(matches!(
        otherwise.get(1),
        Some(Op::SetInt(
            Attr::BgpLocalPref,
            IntEx::Arith(ArithOp::Sub, ..)
        ))
    ));
    let f = code.functions.first().unwrap(); // calico_aggr, declared first
    let Some(Op::Index(ix)) = f.body.first() else {
        panic!("calico_aggr not indexed: {:?}", f.body.first());
    };
    assert_eq!(ix.ops.len(), 36);
    assert_eq!(ix.v4.len(), 1);
    assert!(ix.v6.is_empty());
    let level = ix.v4.first().unwrap();
    assert_eq!((level.len, level.keys.len()), (26, 36));
    assert!(matches!(
        ix.ops.first(),
        Some(Op::If(Cond::NetEq { equal: true, .. }, ..))
    ));
    assert!(matches!(
        ix.ops.get(1),
        Some(Op::If(Cond::And(x, y), ..))
            if matches!(**x, Cond::NetIn { negated: false, len: 26, .. })
                && matches!(**y, Cond::IntCmp(CmpOp::Lt, IntEx::Attr(Attr::KrtMetric), IntEx::Const(1024)))
    ));
    // calico_export_to_bgp_peers (a parameter) stays a function; the leaf functions it calls,
    // reject_local_routes() and calico_aggr(), run in place.
    let peers = code.functions.get(2).unwrap();
    assert!(matches!(peers.body.get(1), Some(Op::Leaf(_))));
    assert!(
        matches!(peers.body.get(2), Some(Op::Leaf(b)) if matches!(b.first(), Some(Op::Index(_))))
    );
    // Its call with a constant, `calico_export_to_bgp_peers(true)`, runs its body in place,
    // compiled for `internal_peer = true`: the `if (internal_peer)` is gone, the ifname test
    // comes first, then the leaf bodies.
    assert!(matches!(
        code.body.get(1),
        Some(Op::Inline(b)) if matches!(b.first(), Some(Op::If(Cond::Or(..), ..)))
            && matches!(b.get(1), Some(Op::Leaf(_)))
    ));
    // A block inside a body is flattened into it.
    let f = Filter::simple(
        "b",
        vec![
            Stmt::Block(vec![Stmt::Block(vec![Stmt::Accept])]),
            Stmt::Reject,
        ],
    )
    .unwrap();
    assert_eq!(&*f.code.0.body, &[Op::Accept, Op::Reject]);
}

/// A leaf function run in place still counts as a call for the depth limit.
#[test]
fn leaf_calls_keep_the_depth_limit() {
    let mut b = ProgramBuilder::new();
    let leaf = b
        .function("leaf", Frame::new(), vec![set(Attr::BgpMed, i(1))])
        .unwrap();
    let mut fr = Frame::new();
    let n = fr.param("n", Type::Int).unwrap();
    let rec = b.declare_function("rec", fr.into_parts().0).unwrap();
    b.define_function(
        rec,
        vec![],
        vec![Stmt::if_else(
            Expr::cmp(CmpOp::Gt, Expr::var(n), i(0)),
            vec![Stmt::call(
                rec,
                vec![Expr::arith(ArithOp::Sub, Expr::var(n), i(1))],
            )],
            vec![Stmt::call(leaf, vec![])],
        )],
    )
    .unwrap();
    for depth in [60, 62, 63, 64] {
        b.filter(
            &format!("d{depth}"),
            vec![],
            vec![Stmt::call(rec, vec![i(depth)]), Stmt::Accept],
        )
        .unwrap();
    }
    // The same with an argument that is not a constant: a real call.
    let mut fr = Frame::new();
    let m = fr.local("m", Type::Int).unwrap();
    b.filter(
        "d60var",
        fr.into_parts().1,
        vec![
            Stmt::SetVar(m, i(60)),
            Stmt::call(rec, vec![Expr::var(m)]),
            Stmt::Accept,
        ],
    )
    .unwrap();
    let p = b.finish().unwrap();
    // rec(60) runs in place (its parameter a constant); the recursion inside stays calls.
    assert!(matches!(
        p.filters["d60"].code.0.body.first(),
        Some(Op::Inline(b)) if matches!(b.first(), Some(Op::If(_, t, _)) if matches!(t.first(), Some(Op::Call(..))))
    ));
    assert!(matches!(
        p.filters["d60var"].code.0.body.get(1),
        Some(Op::Call(..))
    ));
    let net: IpNet = "10.0.0.0/8".parse().unwrap();
    let ctx = bgp_ctx(&net);
    let r = RouteAttrs::default();
    let mut errors = Vec::new();
    for f in p.filters.values() {
        let o = f.run(&ctx, &r);
        assert_eq!(
            o.resolved(&r),
            f.run_reference(&ctx, &r).resolved(&r),
            "{}",
            f.name
        );
        errors.push((f.name.clone(), o.error));
    }
    let deep = Some(RuntimeError("function calls nested too deeply"));
    assert_eq!(
        errors,
        vec![
            ("d60".to_string(), None),
            ("d60var".to_string(), None),
            ("d62".to_string(), None),
            ("d63".to_string(), deep),
            ("d64".to_string(), deep),
        ]
    );
}

/// The flat layout of a prefix index: a statement whose first test is its own guard runs
/// without it (`[Accept]`), one guarded by a later conjunct keeps its first test, and guards
/// of several lengths merge in order. Also the one-instruction forms of int comparisons
/// (with their void error) and `krt_tunnel` constants, on every route shape.
#[test]
fn flat_layout_agrees_with_the_reference() {
    use super::flat::Insn;
    let med_is = |n: u32| Expr::eq(a(Attr::BgpMed), i(n));
    let body = vec![
        Stmt::if_then(
            Expr::cmp(
                CmpOp::Lt,
                Expr::arith(ArithOp::Add, a(Attr::BgpMed), i(1)),
                i(5),
            ),
            vec![set(Attr::Preference, i(7))],
        ),
        Stmt::if_then(
            Expr::matches(a(Attr::Net), p("10.1.0.0/16")),
            vec![Stmt::Accept],
        ),
        Stmt::if_then(
            Expr::and(med_is(1), Expr::matches(a(Attr::Net), p("10.2.0.0/16"))),
            vec![set(Attr::KrtTunnel, s("")), Stmt::Accept],
        ),
        Stmt::if_then(
            Expr::and(
                Expr::matches(a(Attr::Net), p("10.0.0.0/8")),
                Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), i(1024)),
            ),
            vec![set(Attr::KrtTunnel, s("tunl0"))],
        ),
        Stmt::if_then(Expr::eq(a(Attr::Net), p("10.3.0.0/16")), vec![Stmt::Reject]),
        Stmt::if_then(
            Expr::matches(a(Attr::Net), p("10.3.0.0/16")),
            vec![Stmt::Accept],
        ),
        Stmt::Reject,
    ];
    let f = Filter::simple("ix", body).unwrap();
    let code = &f.code.0.flat;
    let Some(Insn::Index(ix)) = code.iter().find(|i| matches!(i, Insn::Index(_))) else {
        panic!("not indexed: {code:?}");
    };
    assert_eq!(&*ix.ops[0], &[Insn::Accept]);
    // `bgp_med = 1 && net ~ G`: both tests stay, in order.
    assert!(matches!(
        &*ix.ops[1],
        [
            Insn::IntBranch { .. },
            Insn::NetInBranch { .. },
            Insn::SetTunnel(..),
            Insn::Accept
        ]
    ));
    // `net ~ G && krt_metric < 1024`: the guard's test goes.
    assert!(matches!(
        &*ix.ops[2],
        [Insn::IntBranch { .. }, Insn::SetTunnel(..)]
    ));
    assert!(matches!(ix.ops[3].first(), Some(Insn::NetEqBranch { .. })));
    assert!(matches!(code.first(), Some(Insn::IntBranch { .. })));
    let mut r = RouteAttrs::default();
    for (k, prefix) in [
        "10.1.2.0/24",
        "10.2.0.0/16",
        "10.3.0.0/16",
        "10.3.4.0/24",
        "10.9.0.0/16",
        "10.0.0.0/7",
        "11.0.0.0/8",
    ]
    .iter()
    .cycle()
    .take(28)
    .enumerate()
    {
        r.attrs.med = (k % 4 != 0).then_some(u32::try_from(k % 3).unwrap());
        r.meta.krt_metric = (k % 5 != 0).then_some(1000 + 10 * u32::try_from(k).unwrap());
        r.meta.tunnel = match k % 4 {
            0 => None,
            1 => Some(KernelTunnel::Direct),
            2 => Some(KernelTunnel::Dev(Arc::from("tunl0"))),
            _ => Some(KernelTunnel::Dev(Arc::from(""))),
        };
        let net: IpNet = prefix.parse().unwrap();
        super::tests::run_checked(&f, &bgp_ctx(&net), &r);
    }
}
