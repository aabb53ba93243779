//! DOC: the static routes' two layers (`rib::Statics`): the configuration's and the announced
//! ones, which wins a network while both exist, what is left when one goes, and the export
//! prelude adding their communities.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::filter::{Attr, EnumValue, Expr, ModOp, Stmt, Value};
use bgp_core::rib::{LocalRoute, Rib, RibConfig, RouteType, StaticRoute, Statics};
use bgp_core::wire::Community;
use rib_common::*;

fn rib() -> Rib {
    Rib::new(RibConfig::new(65000, v4("10.0.0.1")))
}

fn configured(prefix: &str, route_type: RouteType) -> StaticRoute {
    StaticRoute {
        prefix: net(prefix),
        route: LocalRoute {
            route_type,
            ..LocalRoute::default()
        },
        communities: Vec::new(),
    }
}

/// The static route's type of `prefix` in the RIB, if any.
fn kind(rib: &Rib, prefix: &str) -> Option<RouteType> {
    rib.best(&net(prefix)).map(|r| r.attrs.meta.route_type)
}

#[test]
fn configured_routes_follow_the_configuration() {
    let mut r = rib();
    let mut s = Statics::default();
    s.set_config(
        &mut r,
        vec![
            configured("10.1.0.0/16", RouteType::Blackhole),
            // Host bits are cleared.
            configured("10.2.0.1/16", RouteType::Unreachable),
        ],
    );
    assert_eq!(kind(&r, "10.1.0.0/16"), Some(RouteType::Blackhole));
    assert_eq!(kind(&r, "10.2.0.0/16"), Some(RouteType::Unreachable));
    s.set_config(&mut r, vec![configured("10.2.0.0/16", RouteType::Prohibit)]);
    assert_eq!(kind(&r, "10.1.0.0/16"), None);
    assert_eq!(kind(&r, "10.2.0.0/16"), Some(RouteType::Prohibit));
}

#[test]
fn an_announced_route_outlives_its_configured_twin_and_gives_it_back() {
    let mut r = rib();
    let mut s = Statics::default();
    s.set_config(
        &mut r,
        vec![configured("10.1.0.0/16", RouteType::Blackhole)],
    );
    s.announce(
        &mut r,
        StaticRoute::announced(net("10.1.0.0/16"), Some(ip("192.168.1.1")), Vec::new()),
    );
    assert_eq!(kind(&r, "10.1.0.0/16"), Some(RouteType::Unicast));
    // Withdrawn: the configured route is the static route again.
    s.withdraw(&mut r, net("10.1.0.0/16"));
    assert_eq!(kind(&r, "10.1.0.0/16"), Some(RouteType::Blackhole));
    // Announced again, then no longer configured: the announced route stays.
    s.announce(
        &mut r,
        StaticRoute::announced(net("10.1.0.0/16"), None, Vec::new()),
    );
    s.set_config(&mut r, Vec::new());
    assert_eq!(kind(&r, "10.1.0.0/16"), Some(RouteType::Blackhole));
    s.withdraw(&mut r, net("10.1.0.0/16"));
    assert_eq!(kind(&r, "10.1.0.0/16"), None);
    // Withdrawing what was never announced leaves a configured route alone.
    s.set_config(
        &mut r,
        vec![configured("10.3.0.0/16", RouteType::Blackhole)],
    );
    s.withdraw(&mut r, net("10.3.0.0/16"));
    assert_eq!(kind(&r, "10.3.0.0/16"), Some(RouteType::Blackhole));
}

#[test]
fn community_terms_cover_the_routes_with_communities() {
    let mut r = rib();
    let mut s = Statics::default();
    assert!(s.community_terms().is_empty());
    let mut c = configured("10.1.0.0/16", RouteType::Blackhole);
    c.communities = vec![Community(0xfde8_0064), Community(0xfde8_0065)];
    s.set_config(
        &mut r,
        vec![c, configured("10.2.0.0/16", RouteType::Blackhole)],
    );
    s.announce(
        &mut r,
        StaticRoute::announced(net("10.9.0.0/16"), None, vec![Community(0xfde8_0001)]),
    );
    // if net = P && source = RTS_STATIC then { bgp_community.add(C); ... }
    let term = |p: &str, cs: &[u32]| {
        Stmt::if_then(
            Expr::and(
                Expr::eq(Expr::attr(Attr::Net), Expr::val(Value::Prefix(net(p)))),
                Expr::eq(
                    Expr::attr(Attr::Source),
                    Expr::val(Value::Enum(EnumValue::RTS_STATIC)),
                ),
            ),
            cs.iter()
                .map(|c| {
                    Stmt::modify_attr(ModOp::Add, Attr::BgpCommunity, Expr::val(Value::Pair(*c)))
                })
                .collect(),
        )
    };
    assert_eq!(
        s.community_terms(),
        [
            term("10.1.0.0/16", &[0xfde8_0064, 0xfde8_0065]),
            term("10.9.0.0/16", &[0xfde8_0001])
        ]
    );
}
