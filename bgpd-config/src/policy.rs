//! DOC: the TOML `[[policies]]` term language compiled into bgp-core's filter IR, the one
//! representation the RIB runs (BIRD's filters compile into it too).
//!
//! A policy `{ default, terms = [{ match, actions, verdict }] }` becomes
//! `if <match> then { <actions>; [accept|reject;] } ... <default>;`. The TOML conditions keep
//! their documented meaning where it differs from the bare BIRD operator: a route without an
//! interface, kernel metric or next hop matches no `interface`, `krt_metric_below` or
//! `next_hop_in` condition, a missing LOCAL_PREF counts as 100 and a missing AS path as empty.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_core::filter::{
    pack_pair, Attr, CmpOp, EnumKind, EnumValue, Expr, Filter, IrError, Method, ModOp, PrefixRange,
    PrefixSet, RangeSet, Set, Stmt, Value,
};
use bgp_core::wire::LargeCommunity;

use super::derive::{parse_community, parse_large_community};
use super::schema::{ActionsDef, MatchDef, PolicyDef, SourceName, VerdictName};

fn a(x: Attr) -> Expr {
    Expr::attr(x)
}

fn and_all(mut v: Vec<Expr>) -> Expr {
    let Some(mut e) = v.pop() else {
        return Expr::bool(true);
    };
    while let Some(x) = v.pop() {
        e = Expr::and(x, e);
    }
    e
}

fn or_all(mut v: Vec<Expr>) -> Expr {
    let Some(mut e) = v.pop() else {
        return Expr::bool(false);
    };
    while let Some(x) = v.pop() {
        e = Expr::or(x, e);
    }
    e
}

fn range(attr: Expr, min: u32, max: u32) -> Expr {
    Expr::and(
        Expr::cmp(CmpOp::Ge, attr.clone(), Expr::int(min)),
        Expr::cmp(CmpOp::Le, attr, Expr::int(max)),
    )
}

/// `net ~ [ ranges ]`.
pub(crate) fn prefix_in(ranges: impl IntoIterator<Item = PrefixRange>) -> Expr {
    Expr::matches(
        a(Attr::Net),
        Expr::val(Value::set(Set::Prefix(PrefixSet::new(ranges)))),
    )
}

fn source_enum(s: SourceName) -> EnumValue {
    match s {
        SourceName::Bgp => EnumValue::RTS_BGP,
        SourceName::Static => EnumValue::RTS_STATIC,
        SourceName::Kernel => EnumValue::RTS_INHERIT,
        SourceName::Direct => EnumValue::RTS_DEVICE,
    }
}

/// The conjunction of a match table's conditions.
fn condition(m: &MatchDef) -> Result<Expr, IrError> {
    let mut v = Vec::new();
    if let Some(p) = &m.prefix {
        v.push(prefix_in(
            p.iter()
                .filter_map(|s| s.get_ref().parse::<PrefixRange>().ok()),
        ));
    }
    if let Some(nets) = &m.next_hop_in {
        let gw = || a(Attr::Gw);
        v.push(and_all(vec![
            Expr::cmp(
                CmpOp::Ne,
                gw(),
                Expr::val(Value::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
            ),
            Expr::cmp(
                CmpOp::Ne,
                gw(),
                Expr::val(Value::Ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
            ),
            or_all(
                nets.iter()
                    .map(|n| Expr::matches(gw(), Expr::val(Value::Prefix(n.trunc()))))
                    .collect(),
            ),
        ]));
    }
    if let Some(c) = m
        .community
        .as_ref()
        .and_then(|c| parse_community(c.get_ref()))
    {
        v.push(Expr::matches(
            Expr::val(Value::Pair(c.0)),
            a(Attr::BgpCommunity),
        ));
    }
    if let Some(c) = m
        .large_community
        .as_ref()
        .and_then(|c| parse_large_community(c.get_ref()))
    {
        v.push(Expr::matches(
            Expr::val(Value::Lc(c)),
            a(Attr::BgpLargeCommunity),
        ));
    }
    let path = || a(Attr::BgpPath);
    let has_path = || Expr::defined(path());
    if let Some(asn) = m.as_path_first {
        v.push(Expr::and(
            has_path(),
            Expr::eq(Expr::method(Method::First, path()), Expr::int(asn)),
        ));
    }
    if let Some(asn) = m.as_path_contains {
        v.push(Expr::and(has_path(), Expr::matches(Expr::int(asn), path())));
    }
    if let Some([min, max]) = m.as_path_len {
        let len = range(Expr::method(Method::Len, path()), min, max);
        v.push(if min == 0 {
            Expr::or(Expr::not(has_path()), len)
        } else {
            Expr::and(has_path(), len)
        });
    }
    if let Some(s) = &m.source {
        let set = RangeSet::new(s.iter().map(|s| {
            let e = source_enum(*s);
            (e.value, e.value)
        }))?;
        v.push(Expr::matches(
            a(Attr::Source),
            Expr::val(Value::set(Set::Enum(EnumKind::Source, set))),
        ));
    }
    if let Some(pats) = &m.interface {
        v.push(Expr::and(
            Expr::cmp(CmpOp::Ne, a(Attr::Ifname), Expr::string("")),
            or_all(
                pats.iter()
                    .map(|p| Expr::matches(a(Attr::Ifname), Expr::string(p)))
                    .collect(),
            ),
        ));
    }
    if let Some([min, max]) = m.local_pref {
        let lp = a(Attr::BgpLocalPref);
        let absent_matches = (min..=max).contains(&100);
        v.push(Expr::or(
            Expr::and(Expr::defined(lp.clone()), range(lp.clone(), min, max)),
            Expr::and(Expr::not(Expr::defined(lp)), Expr::bool(absent_matches)),
        ));
    }
    if let Some(k) = m.krt_metric_below {
        v.push(Expr::and(
            Expr::defined(a(Attr::KrtMetric)),
            Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), Expr::int(k)),
        ));
    }
    if let Some(n) = &m.not {
        v.push(Expr::not(condition(n)?));
    }
    if let Some(any) = &m.any {
        v.push(or_all(any.iter().map(condition).collect::<Result<_, _>>()?));
    }
    Ok(and_all(v))
}

fn actions(x: &ActionsDef, asn: u32) -> Vec<Stmt> {
    let mut v = Vec::new();
    if let Some(n) = x.local_pref {
        v.push(Stmt::SetAttr(Attr::BgpLocalPref, Expr::int(n)));
    }
    if let Some(n) = x.med {
        v.push(Stmt::SetAttr(Attr::BgpMed, Expr::int(n)));
    }
    let pair = |c: bgp_core::wire::Community| Expr::val(Value::Pair(pack_pair(c.asn(), c.value())));
    for c in x
        .add_communities
        .iter()
        .filter_map(|c| parse_community(c.get_ref()))
    {
        v.push(Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, pair(c)));
    }
    for c in x
        .remove_communities
        .iter()
        .filter_map(|c| parse_community(c.get_ref()))
    {
        v.push(Stmt::modify_attr(
            ModOp::Delete,
            Attr::BgpCommunity,
            pair(c),
        ));
    }
    let lc = |c: LargeCommunity| Expr::val(Value::Lc(c));
    for c in x
        .add_large_communities
        .iter()
        .filter_map(|c| parse_large_community(c.get_ref()))
    {
        v.push(Stmt::modify_attr(
            ModOp::Add,
            Attr::BgpLargeCommunity,
            lc(c),
        ));
    }
    for _ in 0..x.prepend.unwrap_or(0) {
        v.push(Stmt::modify_attr(
            ModOp::Prepend,
            Attr::BgpPath,
            Expr::int(asn),
        ));
    }
    if let Some(ip) = x.next_hop {
        v.push(Stmt::SetAttr(Attr::BgpNextHop, Expr::val(Value::Ip(ip))));
    }
    if let Some(t) = &x.kernel_tunnel {
        v.push(Stmt::SetAttr(Attr::KrtTunnel, Expr::string(t)));
    }
    if let Some(m) = x.krt_metric {
        v.push(Stmt::SetAttr(Attr::KrtMetric, Expr::int(m)));
    }
    if let Some(p) = x.preference {
        v.push(Stmt::SetAttr(Attr::Preference, Expr::int(u32::from(p))));
    }
    v
}

fn verdict(v: VerdictName) -> Stmt {
    match v {
        VerdictName::Accept => Stmt::Accept,
        VerdictName::Reject => Stmt::Reject,
    }
}

/// Compiles a validated `[[policies]]` entry; `asn` is ours (for `prepend`).
pub(crate) fn compile(p: &PolicyDef, asn: u32) -> Result<Filter, IrError> {
    let mut body = Vec::with_capacity(p.terms.len() + 1);
    for t in &p.terms {
        let mut then = actions(&t.actions, asn);
        then.extend(t.verdict.map(verdict));
        body.push(Stmt::if_then(condition(&t.matches)?, then));
    }
    body.push(verdict(p.default));
    Filter::simple(p.name.get_ref(), body)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bgp_core::filter::{RouteCtx, Verdict};
    use bgp_core::rib::{KernelTunnel, RouteAttrs, SourceKind};
    use bgp_core::wire::{AsPath, Community, NextHop};

    use crate::Config;

    const HEAD: &str = "router_id = \"10.0.0.1\"\nasn = 65000\n";

    fn route() -> RouteAttrs {
        let mut r = RouteAttrs::default();
        r.attrs.as_path = Some(AsPath::from_sequence(&[65001, 65002, 65003]));
        r.attrs.local_pref = Some(200);
        r.attrs.communities = vec![Community::new(65000, 100)];
        r.attrs.large_communities = vec![bgp_core::wire::LargeCommunity::new(65000, 1, 2)];
        r.next_hop = Some(NextHop::V4("10.192.0.5".parse().unwrap()));
        r.meta.ifname = Some(Arc::from("cali123"));
        r.meta.krt_metric = Some(512);
        r
    }

    /// Runs `[[policies]] name = "p"` with `body` on `route()` at 10.244.3.0/26 from BGP.
    fn run(body: &str, r: &RouteAttrs) -> (Verdict, Option<RouteAttrs>) {
        let text = format!("{HEAD}[[policies]]\nname = \"p\"\n{body}");
        let c = Config::parse(&text, "t").unwrap();
        let (_, f) = c.policies().into_iter().find(|(n, _)| n == "p").unwrap();
        let p = "10.244.3.0/26".parse().unwrap();
        let o = f.run(
            &RouteCtx {
                prefix: &p,
                source: SourceKind::Bgp,
                from: None,
                proto: "t",
                bgp_export: false,
            },
            r,
        );
        assert_eq!(o.error, None, "{body}");
        (o.verdict, o.modified(r))
    }

    #[test]
    fn every_match_keeps_its_toml_meaning() {
        // (match table, holds on route())
        let cases = [
            ("prefix = [\"10.244.0.0/16{26,32}\"]", true),
            ("prefix = [\"10.244.0.0/16{27,32}\"]", false),
            ("next_hop_in = [\"10.192.0.0/16\"]", true),
            ("next_hop_in = [\"10.193.0.0/16\"]", false),
            ("community = \"65000:100\"", true),
            ("community = \"65000:101\"", false),
            ("large_community = \"65000:1:2\"", true),
            ("large_community = \"65000:1:3\"", false),
            ("as_path_first = 65001", true),
            ("as_path_first = 65002", false),
            ("as_path_contains = 65002", true),
            ("as_path_contains = 65009", false),
            ("as_path_len = [3, 3]", true),
            ("as_path_len = [0, 2]", false),
            ("source = [\"kernel\", \"bgp\"]", true),
            ("source = [\"static\"]", false),
            ("interface = [\"cali*\"]", true),
            ("interface = [\"*.cali\", \"tunl0\"]", false),
            ("local_pref = [150, 250]", true),
            ("local_pref = [0, 150]", false),
            ("krt_metric_below = 1024", true),
            ("krt_metric_below = 512", false),
            ("not = { as_path_first = 65002 }", true),
            ("not = { as_path_first = 65001 }", false),
            (
                "any = [{ as_path_first = 1 }, { as_path_first = 65001 }]",
                true,
            ),
            (
                "any = [{ as_path_first = 1 }, { as_path_first = 2 }]",
                false,
            ),
            ("prefix = [\"10.0.0.0/8+\"]\nas_path_first = 65002", false),
        ];
        for (m, want) in cases {
            let body =
                format!("[[policies.terms]]\nverdict = \"accept\"\n[policies.terms.match]\n{m}\n");
            let (v, _) = run(&body, &route());
            assert_eq!(v == Verdict::Accept, want, "{m}");
        }
        // A route without interface, kernel metric, next hop, LOCAL_PREF or path.
        let bare = RouteAttrs::default();
        let cases = [
            ("interface = [\"*\"]", false),
            ("krt_metric_below = 1024", false),
            ("next_hop_in = [\"0.0.0.0/0\"]", false),
            ("local_pref = [100, 100]", true),
            ("as_path_len = [0, 0]", true),
            ("as_path_first = 0", false),
        ];
        for (m, want) in cases {
            let body =
                format!("[[policies.terms]]\nverdict = \"accept\"\n[policies.terms.match]\n{m}\n");
            let (v, _) = run(&body, &bare);
            assert_eq!(v == Verdict::Accept, want, "bare: {m}");
        }
    }

    #[test]
    fn actions_terms_and_default() {
        let body = r#"default = "reject"
[[policies.terms]]
match = { prefix = ["10.0.0.0/8+"] }
actions = { local_pref = 300, med = 7, add_communities = ["1:1"], remove_communities = ["65000:100"], add_large_communities = ["1:2:3"], prepend = 2, next_hop = "10.0.0.9", kernel_tunnel = "tunl0", krt_metric = 100, preference = 200 }
[[policies.terms]]
match = { local_pref = [300, 300] }
verdict = "accept"
"#;
        let (v, m) = run(body, &route());
        assert_eq!(v, Verdict::Accept);
        let m = m.unwrap();
        assert_eq!((m.attrs.local_pref, m.attrs.med), (Some(300), Some(7)));
        assert_eq!(m.attrs.communities, [Community::new(1, 1)]);
        assert_eq!(m.attrs.large_communities.len(), 2);
        let path: Vec<u32> = m.attrs.as_path.unwrap().asns().collect();
        assert_eq!(path, [65000, 65000, 65001, 65002, 65003]);
        assert_eq!(m.next_hop, Some(NextHop::V4("10.0.0.9".parse().unwrap())));
        assert_eq!(m.meta.tunnel, Some(KernelTunnel::Dev(Arc::from("tunl0"))));
        assert_eq!(
            (m.meta.krt_metric, m.meta.preference),
            (Some(100), Some(200))
        );
        // No term decides: the default.
        let (v, m) = run("default = \"reject\"\n[[policies.terms]]\nmatch = { as_path_first = 1 }\nverdict = \"accept\"\n", &route());
        assert_eq!((v, m), (Verdict::Reject, None));
        let (v, _) = run("default = \"accept\"\n", &route());
        assert_eq!(v, Verdict::Accept);
    }
}
