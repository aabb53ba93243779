//! Parser and lowering vectors: (text, expected) for every construct, and the error messages.

use std::path::{Path, PathBuf};

use super::*;
use crate::{Config, GatewayMode, PeerGracefulRestart};

/// Loads `files` (name, text) from memory, the first being the root.
pub(super) fn load_mem(files: &[(&str, &str)], family: FamilyName) -> Result<Lowered, String> {
    let mut m = MemFiles::default();
    for (n, t) in files {
        m.0.insert(PathBuf::from(n), t.to_string());
    }
    let root = files.first().map(|f| f.0).unwrap_or("bird.cfg");
    load(Path::new(root), &mut m, family).map_err(|e| {
        e.0.first()
            .map(|e| format!("{}:{}:{}: {}", e.file, e.line, e.col, e.message))
            .unwrap_or_default()
    })
}

pub(super) fn v4(text: &str) -> Result<Lowered, String> {
    load_mem(&[("bird.cfg", text)], FamilyName::Ipv4)
}

const HEAD: &str = "router id 10.0.0.1;\n";

fn parse_one(text: &str) -> ast::Tree {
    let toks = lexer::lex(text, 0).unwrap();
    parser::parse(&toks).unwrap()
}

fn parse_err(text: &str) -> String {
    match v4(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.trim_start_matches("bird.cfg:").to_string(),
    }
}

/// The first filter's statements.
fn filter_stmts(body: &str) -> Vec<ast::Stmt> {
    let t = parse_one(&format!("filter f {{ {body} }}"));
    match t.items.into_iter().next() {
        Some(ast::Item::Filter(f)) => f.body.body,
        other => panic!("{other:?}"),
    }
}

fn expr_of(text: &str) -> ast::Expr {
    match filter_stmts(&format!("if {text} then accept;"))
        .into_iter()
        .next()
    {
        Some(ast::Stmt::If { cond, .. }) => cond,
        other => panic!("{other:?}"),
    }
}

/// A compact rendering of an expression, for the vectors.
fn show(e: &ast::Expr) -> String {
    use ast::Expr::*;
    match e {
        Num(_, n) => n.to_string(),
        Bool(_, b) => b.to_string(),
        Str(_, s) => format!("{s:?}"),
        Ip(_, a) => a.to_string(),
        Prefix(_, n) => n.to_string(),
        Tuple(_, v) => format!("({})", v.iter().map(show).collect::<Vec<_>>().join(",")),
        Set(_, v) => format!(
            "[{}]",
            v.iter()
                .map(|i| match i {
                    ast::SetItem::Prefix { net, min, max } => format!("{net}{{{min},{max}}}"),
                    ast::SetItem::Value(x) => show(x),
                    ast::SetItem::Range(a, b) => format!("{}..{}", show(a), show(b)),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        PathMask(_, v) => format!("[={:?}=]", v),
        Sym(a) => a.v.clone(),
        Call(n, a) => format!(
            "{}({})",
            n.v,
            a.iter().map(show).collect::<Vec<_>>().join(",")
        ),
        Member(_, x, m, a) => match a {
            Some(a) => format!("{}.{}({})", show(x), m.v, show(a)),
            None => format!("{}.{}", show(x), m.v),
        },
        Defined(_, x) => format!("defined({})", show(x)),
        Not(_, x) => format!("!{}", show(x)),
        Bin(_, op, a, b) => format!("({} {} {})", show(a), op.word(), show(b)),
    }
}

#[test]
fn expression_vectors() {
    let cases = [
        ("net ~ 10.0.0.0/8", "(net ~ 10.0.0.0/8)"),
        ("net !~ 10.0.0.0/8", "(net !~ 10.0.0.0/8)"),
        ("net = 192.168.1.0/26", "(net = 192.168.1.0/26)"),
        ("net != 55.0.0.0/8", "(net != 55.0.0.0/8)"),
        ("krt_metric < 1024", "(krt_metric < 1024)"),
        ("bgp_local_pref > 2147482623", "(bgp_local_pref > 2147482623)"),
        ("a <= 1 || b >= 2", "((a <= 1) || (b >= 2))"),
        // BIRD 1.6: && and || share a level, left-associative.
        ("a || b && c", "((a || b) && c)"),
        ("a && b || c", "((a && b) || c)"),
        // `!` binds tighter than a comparison.
        ("!defined(krt_metric)", "!defined(krt_metric)"),
        ("! a = b", "(!a = b)"),
        ("2147483647 - bgp_local_pref", "(2147483647 - bgp_local_pref)"),
        ("1 + 2 * 3 - 4", "((1 + (2 * 3)) - 4)"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("(64512, 300) ~ bgp_community", "((64512,300) ~ bgp_community)"),
        ("(64512, 1, 2) ~ bgp_large_community", "((64512,1,2) ~ bgp_large_community)"),
        ("bgp_path ~ [= 65000 * =]", "(bgp_path ~ [=[Asn(65000), Any]=])"),
        ("bgp_path ~ [= * 1..5 ? =]", "(bgp_path ~ [=[Any, Range(1, 5), One]=])"),
        ("bgp_path.len > 3", "(bgp_path.len > 3)"),
        ("bgp_path.first = 65000", "(bgp_path.first = 65000)"),
        ("net.len = 26", "(net.len = 26)"),
        ("net.ip = 10.0.0.0", "(net.ip = 10.0.0.0)"),
        ("net.ip.mask(8) = 10.0.0.0", "(net.ip.mask(8) = 10.0.0.0)"),
        (
            "net ~ [ 10.0.0.0/8{16,24}, 192.168.0.0/16+, 172.16.0.0/12-, 1.2.3.0/24 ]",
            "(net ~ [10.0.0.0/8{16,24},192.168.0.0/16{16,32},172.16.0.0/12{0,12},1.2.3.0/24{24,24}])",
        ),
        ("source ~ [ RTS_BGP, RTS_STATIC ]", "(source ~ [RTS_BGP,RTS_STATIC])"),
        ("source = RTS_BGP", "(source = RTS_BGP)"),
        ("bgp_med ~ [ 1, 5..10 ]", "(bgp_med ~ [1,5..10])"),
        ("ifname ~ \"*.cali\"", "(ifname ~ \"*.cali\")"),
        ("bgp_next_hop ~ 10.192.0.0/16", "(bgp_next_hop ~ 10.192.0.0/16)"),
        ("net ~ fd00::/8", "(net ~ fd00::/8)"),
        ("f(true, 1)", "f(true,1)"),
        ("'bgp_x-y_importFilterV4'(false)", "bgp_x-y_importFilterV4(false)"),
        ("true", "true"),
        ("gw = 10.0.0.1", "(gw = 10.0.0.1)"),
    ];
    for (text, want) in cases {
        assert_eq!(show(&expr_of(text)), want, "{text}");
    }
}

#[test]
fn statement_vectors() {
    use ast::Stmt;
    let s = filter_stmts(
        "if a then krt_tunnel=\"\"; else krt_tunnel=\"tunl0\"; accept; reject \"why\"; \
         return 5; print \"x\", net; bgp_path.prepend(65000); bgp_community.add((1,2)); \
         bgp_community.delete((1,2)); bgp_large_community.add((1,2,3)); f(); unset(krt_metric); \
         { accept; } ;",
    );
    let kinds: Vec<&str> = s
        .iter()
        .map(|s| match s {
            Stmt::If { els: Some(_), .. } => "if-else",
            Stmt::If { .. } => "if",
            Stmt::Block(..) => "block",
            Stmt::Accept(_) => "accept",
            Stmt::Reject(_) => "reject",
            Stmt::Return(_, Some(_)) => "return-value",
            Stmt::Return(_, None) => "return",
            Stmt::Print(..) => "print",
            Stmt::Assign(..) => "assign",
            Stmt::Method { method, .. } if method.v == "prepend" => "prepend",
            Stmt::Method { method, .. } if method.v == "add" => "add",
            Stmt::Method { method, .. } if method.v == "delete" => "delete",
            Stmt::Method { .. } => "method",
            Stmt::Call(_) => "call",
            Stmt::Unset(_) => "unset",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "if-else",
            "accept",
            "reject",
            "return-value",
            "print",
            "prepend",
            "add",
            "delete",
            "add",
            "call",
            "unset",
            "block"
        ]
    );
    // Positions: line and column of each node.
    let t = parse_one("filter f\n{\n  if net ~ 10.0.0.0/8 then\n    accept;\n}\n");
    let Some(ast::Item::Filter(f)) = t.items.first() else {
        panic!()
    };
    let Some(Stmt::If {
        pos, cond, then, ..
    }) = f.body.body.first()
    else {
        panic!()
    };
    assert_eq!((pos.line, pos.col), (3, 3));
    assert_eq!((cond.pos().line, cond.pos().col), (3, 10));
    let Stmt::Accept(p) = **then else { panic!() };
    assert_eq!((p.line, p.col), (4, 5));
}

#[test]
fn function_and_filter_definitions() {
    let t = parse_one(
        "function 'bgp_a-b_importFilterV4'(bool is_same_as, int n, prefix set p) int x; { x = n; return x; }\n\
         filter g int a; prefix b; { a = 1; accept; }\n\
         function f() { }",
    );
    let Some(ast::Item::Function(f)) = t.items.first() else {
        panic!()
    };
    assert_eq!(f.name.v, "bgp_a-b_importFilterV4");
    let params: Vec<_> = f.params.iter().map(|(n, t)| (n.v.as_str(), *t)).collect();
    assert_eq!(
        params,
        [
            ("is_same_as", ast::VarType::Bool),
            ("n", ast::VarType::Int),
            ("p", ast::VarType::Set(ast::SetElem::Prefix))
        ]
    );
    assert_eq!(f.body.vars.len(), 1);
    let Some(ast::Item::Filter(g)) = t.items.get(1) else {
        panic!()
    };
    assert_eq!(g.body.vars.len(), 2);
}

#[test]
fn protocol_option_vectors() {
    use ast::Opt;
    let t = parse_one(
        "protocol bgp p {\n local 10.0.0.1 as 65000; neighbor 10.0.0.2 port 1790 as 65001; \
         source address 10.0.0.1; multihop 3; ttl security on; password \"pw\"; passive on; \
         rr client; rr cluster id 1.2.3.4; next hop self; next hop keep off; allow local as 2; \
         add paths rx; graceful restart aware; graceful restart time 300; keepalive time 10; \
         hold time 30; connect delay time 2; connect retry time 5; error wait time 5,30; \
         gateway recursive; description \"d\"; bfd on; import all; export none; \
         debug { states, routes }; disabled off; preference 120; }",
    );
    let Some(ast::Item::Proto(p)) = t.items.first() else {
        panic!()
    };
    let o: Vec<Opt> = p.opts.iter().map(|o| o.v.clone()).collect();
    assert_eq!(
        o,
        vec![
            Opt::LocalAs {
                address: Some("10.0.0.1".parse().unwrap()),
                asn: Some(65000)
            },
            Opt::Neighbor {
                address: "10.0.0.2".parse().unwrap(),
                port: Some(1790),
                asn: Some(65001)
            },
            Opt::SourceAddress("10.0.0.1".parse().unwrap()),
            Opt::Multihop(Some(3)),
            Opt::TtlSecurity(true),
            Opt::Password("pw".into()),
            Opt::Passive(true),
            Opt::RrClient(true),
            Opt::RrClusterId("1.2.3.4".parse().unwrap()),
            Opt::NextHopSelf(true),
            Opt::NextHopKeep(false),
            Opt::AllowLocalAs(Some(2)),
            Opt::AddPaths(ast::AddPaths::Rx),
            Opt::GracefulRestart(ast::GrMode::Aware),
            Opt::GracefulRestartTime(300),
            Opt::KeepaliveTime(10),
            Opt::HoldTime(30),
            Opt::ConnectDelayTime(2),
            Opt::ConnectRetryTime(5),
            Opt::ErrorWaitTime(5, 30),
            Opt::Gateway { recursive: true },
            Opt::Description("d".into()),
            Opt::Bfd(true),
            Opt::Import(ast::FilterRef::All),
            Opt::Export(ast::FilterRef::None),
            Opt::Debug,
            Opt::Disabled(false),
            Opt::Preference(120),
        ]
    );
    let t = parse_one(
        "protocol kernel { learn; persist off; scan time 10; kernel table 100; metric 20; \
         merge paths on limit 4; device routes no; graceful restart; import none; }\n\
         protocol static { route 10.0.0.0/8 blackhole; route 10.1.0.0/16 via 192.0.2.1; \
         route 10.2.0.0/16 unreachable; route 10.3.0.0/16 prohibit; }\n\
         protocol direct { interface -\"cali*\", \"*\"; }\n\
         protocol bfd { interface \"*\" { min rx interval 100 ms; min tx interval 1 s; idle tx interval 500 ms; multiplier 3; }; multihop { interval 200 ms; }; }",
    );
    let opts: Vec<Vec<Opt>> = t
        .items
        .iter()
        .map(|i| match i {
            ast::Item::Proto(p) => p.opts.iter().map(|o| o.v.clone()).collect(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        opts[0],
        vec![
            Opt::Learn(true),
            Opt::Persist(false),
            Opt::ScanTime(10),
            Opt::KernelTable(100),
            Opt::Metric(20),
            Opt::MergePaths {
                on: true,
                limit: Some(4)
            },
            Opt::DeviceRoutes(false),
            Opt::GracefulRestart(ast::GrMode::On),
            Opt::Import(ast::FilterRef::None),
        ]
    );
    assert_eq!(opts[1].len(), 4);
    assert!(matches!(
        &opts[1][3],
        Opt::Route(_, ast::RouteTarget::Prohibit)
    ));
    assert_eq!(
        opts[2],
        vec![Opt::Interface(vec![
            ast::IfacePattern {
                exclude: true,
                pattern: "cali*".into()
            },
            ast::IfacePattern {
                exclude: false,
                pattern: "*".into()
            },
        ])]
    );
    let Opt::BfdInterface(_, b) = &opts[3][0] else {
        panic!()
    };
    assert_eq!(
        (b.min_rx_ms, b.min_tx_ms, b.idle_tx_ms, b.multiplier),
        (Some(100), Some(1000), Some(500), Some(3))
    );
}

#[test]
fn templates_names_and_defaults() {
    let l = v4(&format!(
        "{HEAD}template bgp t {{ local as 65000; multihop; export all; }}\n\
         template bgp t2 from t {{ passive; }}\n\
         protocol bgp a from t2 {{ neighbor 10.0.0.2 as 65000; }}\n\
         protocol bgp b from t {{ neighbor 10.0.0.3 as 65001; multihop 2; export none; }}\n\
         protocol bgp c {{ local as 65000; neighbor 10.0.0.4 as 65000; }}\n\
         protocol static {{ route 10.9.0.0/16 blackhole; }}\n\
         protocol static {{ route 10.8.0.0/16 blackhole; }}\n\
         protocol kernel {{ }}\nprotocol device {{ }}\nprotocol direct {{ }}\n"
    ))
    .unwrap();
    let names: Vec<_> = l.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["a", "b", "c", "static1", "static2", "kernel1", "device1", "direct1"]
    );
    let p = &l.file.peers;
    assert!(p[0].passive && p[0].multihop.as_ref().map(|m| *m.get_ref()) == Some(64));
    assert_eq!(
        p[0].export.as_ref().map(|e| e.get_ref().as_str()),
        Some(lower::ALL)
    );
    assert_eq!(p[1].multihop.as_ref().map(|m| *m.get_ref()), Some(2));
    assert_eq!(
        p[1].export.as_ref().map(|e| e.get_ref().as_str()),
        Some(lower::NONE)
    );
    // No export clause: BIRD's default is `export none`; import `all` is no filter.
    assert_eq!(
        p[2].export.as_ref().map(|e| e.get_ref().as_str()),
        Some(lower::NONE)
    );
    assert!(p[2].import.is_none() && p[2].multihop.is_none());
    // Kernel: BIRD 1.6 defaults.
    let k = &l.file.kernel;
    assert_eq!(
        (
            k.metric,
            k.persist,
            k.learn,
            *k.scan_interval.get_ref(),
            *k.ecmp_max.get_ref()
        ),
        (0, false, false, 60, 1)
    );
    assert_eq!(
        k.export.as_ref().map(|e| e.get_ref().as_str()),
        Some(lower::NONE)
    );
    assert_eq!(l.file.direct.as_ref().unwrap().interfaces, ["*"]);
    assert!(l.filters.contains_key(lower::ALL) && l.filters.contains_key(lower::NONE));
    // Without a kernel protocol nothing is programmed.
    let l = v4(HEAD).unwrap();
    assert!(!l.file.kernel.enabled);
    // BIRD has no such setting: plain routes, as BIRD installs them.
    assert_eq!(
        l.file.kernel.nexthop_objects,
        crate::schema::NexthopObjectsMode::Off
    );
}

#[test]
fn includes() {
    let files = [
        (
            "/etc/calico/bird.cfg",
            "include \"bird_ipam.cfg\";\nrouter id 10.0.0.1;\ninclude \"/abs/x.cfg\";\n",
        ),
        ("/etc/calico/bird_ipam.cfg", "filter f { accept; }\n"),
        ("/abs/x.cfg", "protocol kernel { export filter f; }\n"),
    ];
    let l = load_mem(&files, FamilyName::Ipv4).unwrap();
    assert_eq!(
        l.file.kernel.export.as_ref().map(|e| e.get_ref().as_str()),
        Some("f")
    );
    // Errors name the included file.
    let files = [
        (
            "/c/bird.cfg",
            "router id 10.0.0.1;\ninclude \"sub/a.cfg\";\n",
        ),
        ("/c/sub/a.cfg", "\n\nprotocol kernel { bogus; }\n"),
    ];
    assert_eq!(
        load_mem(&files, FamilyName::Ipv4).unwrap_err(),
        "/c/sub/a.cfg:3:19: unsupported option `bogus` in a kernel protocol"
    );
    // Missing file, cycles, depth.
    let files = [("/c/bird.cfg", "include \"nope.cfg\";\n")];
    assert_eq!(
        load_mem(&files, FamilyName::Ipv4).unwrap_err(),
        "/c/bird.cfg:1:1: unable to open included file /c/nope.cfg: No such file or directory"
    );
    let files = [
        ("/c/a.cfg", "include \"b.cfg\";\n"),
        ("/c/b.cfg", "  include \"a.cfg\";\n"),
    ];
    assert_eq!(
        load_mem(&files, FamilyName::Ipv4).unwrap_err(),
        "/c/b.cfg:1:3: include cycle: /c/a.cfg -> /c/b.cfg -> /c/a.cfg"
    );
    let mut chain: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("/d/{i}.cfg"),
                format!("include \"{}.cfg\";\n", i + 1),
            )
        })
        .collect();
    chain.push(("/d/12.cfg".into(), HEAD.into()));
    let refs: Vec<(&str, &str)> = chain
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        load_mem(&refs, FamilyName::Ipv4).unwrap_err(),
        "/d/7.cfg:1:1: include depth over 8"
    );
    // `include` is only recognised at the start of a line, as in BIRD.
    assert_eq!(
        parse_err("router id 10.0.0.1; include \"x\";"),
        "1:21: unsupported statement `include`"
    );
    assert_eq!(
        parse_err("include \"x*.cfg\";"),
        "1:1: include patterns (globs) are not supported"
    );
}

#[test]
fn error_vectors() {
    let cases: &[(&str, &str)] = &[
        ("router id 10.0.0.1", "1:19: syntax error: expected `;`, found end of file"),
        ("router id 1.2.3.4;\nroute 1;", "2:1: unsupported statement `route`"),
        ("router id 0.0.0.0;", "1:11: router id must not be 0.0.0.0"),
        ("router id 1.2.3.4;\nprotocol ospf { }", "2:10: unsupported protocol type `ospf`"),
        ("router id 1.2.3.4;\nprotocol bgp x { neighbor 10.0.0.2 as 1; }", "2:1: BGP protocol `x` has no `local as`"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; }", "2:1: BGP protocol `x` has no `neighbor`"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2; }", "2:1: BGP protocol `x` has no neighbor AS (`neighbor ... as N`)"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor fd00::1 as 2; }", "2:30: neighbor fd00::1 is not of this daemon's family, IPv4 (bird)"),
        ("router id 1.2.3.4;\nprotocol bgp x from t { }", "2:21: template `t` is not defined"),
        ("router id 1.2.3.4;\ntemplate kernel t { }\nprotocol bgp x from t { }", "3:21: template `t` is a kernel template, not bgp"),
        ("router id 1.2.3.4;\nprotocol kernel { export filter nope; }", "2:33: no filter named `nope`"),
        ("router id 1.2.3.4;\nfilter f { accept; }\nfilter f { reject; }", "3:8: symbol `f` already defined (line 2, column 8)"),
        ("router id 1.2.3.4;\nfilter f { if x = 1 then accept; }", "2:15: unknown symbol `x`"),
        ("router id 1.2.3.4;\nfilter f { g(); }", "2:12: unknown function `g`"),
        ("router id 1.2.3.4;\nfunction g(int a) { }\nfilter f { g(); }", "3:12: function `g` takes 1 argument(s), 0 given"),
        ("router id 1.2.3.4;\nfilter f { foo = 1; }", "2:12: `foo` is neither a variable nor a route attribute"),
        ("router id 1.2.3.4;\nfilter f { if 1 = 1 = 1 then accept; }", "2:21: syntax error: comparisons do not chain; add parentheses"),
        ("router id 1.2.3.4;\nfilter f { case net { } }", "2:12: `case` statements are not supported"),
        ("router id 1.2.3.4;\nfilter f { bgp_path.foo(1); }", "2:21: unsupported method `foo` in a statement"),
        ("router id 1.2.3.4;\nfilter f { if net ~ 10.0.0.1/8 then accept; }", "2:21: invalid prefix 10.0.0.1/8: host bits set"),
        ("router id 1.2.3.4;\nfilter f { if net ~ [ 10.0.0.0/8{4,40} ] then accept; }", "2:23: invalid prefix pattern 10.0.0.0/8{4,40}"),
        ("router id 1.2.3.4;\nfilter f { if net ~ 10.0.0.0/33 then accept; }", "2:21: invalid prefix length 33"),
        ("router id 1.2.3.4;\nfilter f { accept; ", "2:19: syntax error: expected `}`, found end of file"),
        ("router id 1.2.3.4;\nprotocol static { route 10.0.0.0/8 via \"eth0\"; }", "2:25: static routes `via \"interface\"` are not supported"),
        ("router id 1.2.3.4;\nprotocol static { route 10.0.0.0/8 blackhole; route 10.0.0.0/8 blackhole; }", "2:53: duplicate static route 10.0.0.0/8"),
        ("router id 1.2.3.4;\nprotocol kernel { }\nprotocol kernel { }", "3:1: a second kernel protocol (the first is at line 2): bgpd programs one kernel table"),
        ("router id 1.2.3.4;\nprotocol kernel { metric 5000000000; }", "2:26: value 5000000000 out of range 0..4294967295"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2 as 2; hold time 2; }", "2:54: hold time must be 0 or at least 3"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2 as 2; multihop; gateway direct; }", "2:64: Multihop BGP cannot use direct gateway mode"),
        ("router id 1.2.3.4;\nprotocol static { route 10.0.0.0/8 via \"eth0\"; }", "2:25: static routes `via \"interface\"` are not supported"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2 as 2; next hop self; next hop keep; }", "2:1: BGP protocol `x` has both `next hop self` and `next hop keep`"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2 as 2; import limit 5; }", "2:61: import/export limits and `import keep filtered` are not supported"),
        ("router id 1.2.3.4;\nprotocol bgp x { local as 1; neighbor 10.0.0.2 as 2; rr cluster id 1.2.3.4; }\nprotocol bgp y { local as 1; neighbor 10.0.0.3 as 2; rr cluster id 1.2.3.5; }", "3:54: `rr cluster id 1.2.3.5` differs from 1.2.3.4 given before: one cluster id per daemon is supported"),
        ("router id 1.2.3.4;\nprotocol bfd { neighbor 10.0.0.2; }", "2:16: BFD `neighbor` statements are not supported (BGP's `bfd on` creates the sessions)"),
        ("router id 1.2.3.4;\nfilter f { x = 1 $ }", "2:18: unexpected character '$'"),
        ("router id 1.2.3.4;\nlisten bgp address fd00::1;", "2:1: listen address fd00::1 is not of this daemon's family, IPv4 (bird)"),
    ];
    let bad: Vec<String> = cases
        .iter()
        .filter(|(text, want)| parse_err(text) != *want)
        .map(|(text, want)| format!("{text:?}\n  got  {:?}\n  want {want:?}", parse_err(text)))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "{HEAD}filter f {{ if {}1{} = 1 then accept; }}",
        "(".repeat(500),
        ")".repeat(500)
    );
    assert!(parse_err(&deep).contains("nesting deeper than 64 levels"));
    let deep = format!("{HEAD}filter f {{ {} }}", "{ ".repeat(500));
    assert!(parse_err(&deep).contains("nesting deeper than 64 levels"));
    let deep = format!("{HEAD}filter f {{ if {}a then accept; }}", "!".repeat(500));
    assert!(parse_err(&deep).contains("nesting deeper than 64 levels"));
}

#[test]
fn ipv6_family() {
    let l = load_mem(
        &[("bird6.cfg", "router id 10.0.0.1;\nprotocol bgp x { local as 1; neighbor fd00::2 as 1; source address fd00::1; }\nprotocol static { route fd00:1::/64 blackhole; }\n")],
        FamilyName::Ipv6,
    )
    .unwrap();
    assert_eq!(l.file.peers[0].families.get_ref(), &[FamilyName::Ipv6]);
    assert_eq!(
        l.file.listen.addresses,
        vec!["::".parse::<std::net::IpAddr>().unwrap()]
    );
    let e = load_mem(
        &[(
            "bird6.cfg",
            "router id 10.0.0.1;\nprotocol static { route 10.0.0.0/8 blackhole; }\n",
        )],
        FamilyName::Ipv6,
    )
    .unwrap_err();
    assert_eq!(
        e,
        "bird6.cfg:2:25: route 10.0.0.0/8 is not of this daemon's family, IPv6 (bird6)"
    );
}

#[test]
fn static_route_kinds() {
    let l = v4(&format!(
        "{HEAD}protocol static {{ route 10.0.0.0/8 blackhole; route 10.1.0.0/16 via 192.0.2.1; \
         route 10.2.0.0/16 unreachable; route 10.3.0.0/16 prohibit; }}\n"
    ))
    .unwrap();
    let kinds: Vec<(String, bool, bool, bool, Option<std::net::IpAddr>)> = l
        .file
        .statics
        .iter()
        .map(|s| {
            (
                s.prefix.get_ref().to_string(),
                s.blackhole,
                s.unreachable,
                s.prohibit,
                s.via,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("10.0.0.0/8".into(), true, false, false, None),
            (
                "10.1.0.0/16".into(),
                false,
                false,
                false,
                Some("192.0.2.1".parse().unwrap())
            ),
            ("10.2.0.0/16".into(), false, true, false, None),
            ("10.3.0.0/16".into(), false, false, true, None),
        ]
    );
    // The lowered file passes the model's own validation.
    Config::from_bird(l, FamilyName::Ipv4, "bird.cfg").unwrap();
}

#[test]
fn graceful_restart_and_gateway_per_protocol() {
    let l = v4(&format!(
        "{HEAD}template bgp t {{ local as 64512; }}\n\
         protocol bgp plain from t {{ neighbor 10.0.0.2 as 64512; }}\n\
         protocol bgp on from t {{ neighbor 10.0.0.3 as 64512; graceful restart; }}\n\
         protocol bgp off from t {{ neighbor 10.0.0.4 as 64512; graceful restart off; }}\n\
         protocol bgp aware from t {{ neighbor 10.0.0.5 as 64512; graceful restart aware; }}\n\
         protocol bgp ebgp from t {{ neighbor 10.0.0.6 as 65001; }}\n\
         protocol bgp ebgp_mh from t {{ neighbor 10.0.0.7 as 65001; multihop; }}\n\
         protocol bgp ebgp_rec from t {{ neighbor 10.0.0.8 as 65001; gateway recursive; }}\n\
         protocol bgp ibgp_direct from t {{ neighbor 10.0.0.9 as 64512; gateway direct; }}\n"
    ))
    .unwrap();
    let got: Vec<(&str, Option<PeerGracefulRestart>, GatewayMode)> = l
        .file
        .peers
        .iter()
        .map(|p| (p.name.get_ref().as_str(), p.graceful_restart, p.gateway))
        .collect();
    use GatewayMode::*;
    use PeerGracefulRestart::*;
    assert_eq!(
        got,
        vec![
            // BIRD 1.6's default is `graceful restart aware`.
            ("plain", Some(Aware), Recursive),
            ("on", Some(On), Recursive),
            ("off", Some(Off), Recursive),
            ("aware", Some(Aware), Recursive),
            // BIRD 1.6: direct by default for a single-hop eBGP neighbor only.
            ("ebgp", Some(Aware), Direct),
            ("ebgp_mh", Some(Aware), Recursive),
            ("ebgp_rec", Some(Aware), Recursive),
            ("ibgp_direct", Some(Aware), Direct),
        ]
    );
    // What each announces in its OPEN.
    let c = Config::from_bird(l, FamilyName::Ipv4, "bird.cfg").unwrap();
    let peers = c.peers();
    let gr = |name: &str| {
        let p = peers.iter().find(|p| p.name == name).unwrap();
        c.session_config(p, false)
            .open()
            .capabilities
            .into_iter()
            .find_map(|cap| match cap {
                bgp_core::wire::Capability::GracefulRestart(g) => Some(g),
                _ => None,
            })
    };
    let on = gr("on").unwrap();
    assert_eq!((on.restart_time, on.families.len()), (120, 1));
    assert_eq!(gr("off"), None);
    let aware = gr("aware").unwrap();
    assert_eq!(
        (
            aware.restart_time,
            aware.families.len(),
            aware.restart_state,
            aware.notification
        ),
        (0, 0, false, false)
    );
}

#[test]
fn router_id_absent_is_chosen_later() {
    let l = v4("protocol device { }\n").unwrap();
    assert!(l.router_id_auto);
    assert!(l.file.router_id.get_ref().is_unspecified());
    let l = v4(HEAD).unwrap();
    assert!(!l.router_id_auto);
    // bird6 cannot choose one (BIRD 1.6's IPv6 build dies: "Cannot determine router ID").
    let l = load_mem(&[("bird6.cfg", "protocol device { }\n")], FamilyName::Ipv6).unwrap();
    let e = Config::from_bird(l, FamilyName::Ipv6, "bird6.cfg").unwrap_err();
    assert!(
        e.to_string()
            .contains("Cannot determine router ID, please configure it manually"),
        "{e}"
    );
}

#[test]
fn kernel_import_filters() {
    let l = v4(&format!(
        "{HEAD}filter kimp {{ if net ~ 10.66.0.0/16 then accept; reject; }}\n\
         protocol kernel {{ learn; import filter kimp; export all; }}\n"
    ))
    .unwrap();
    assert_eq!(
        l.file.kernel.import.as_ref().map(|i| i.get_ref().as_str()),
        Some("kimp")
    );
    let l = v4(&format!(
        "{HEAD}protocol kernel {{ learn; import where net ~ 10.66.0.0/16; }}\n"
    ))
    .unwrap();
    assert_eq!(
        l.file.kernel.import.as_ref().map(|i| i.get_ref().as_str()),
        Some("@kernel1.import")
    );
    let c = Config::from_bird(l, FamilyName::Ipv4, "bird.cfg").unwrap();
    assert!(c.filters.contains_key("@kernel1.import"));
    for (text, want) in [("import all;", None), ("import none;", Some("@none"))] {
        let l = v4(&format!("{HEAD}protocol kernel {{ learn; {text} }}\n")).unwrap();
        assert_eq!(
            l.file.kernel.import.as_ref().map(|i| i.get_ref().as_str()),
            want,
            "{text}"
        );
    }
}
