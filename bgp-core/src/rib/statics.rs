//! DOC: the RIB's static routes in two layers: the configuration's and those announced
//! through an embedding API. A configured route replaces an announced one of its prefix while
//! it is configured; an announced route stays when the configured one goes. The communities of
//! either are added on export by [`Statics::community_terms`], a prelude for the export
//! filters (`if net = P && source = RTS_STATIC then bgp_community.add(C)`).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{LocalRoute, Rib, RouteType, SourceKind};
use crate::filter::{Attr, EnumValue, Expr, ModOp, Stmt, Value};
use crate::wire::Community;

/// One static route with the communities it is exported with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Its network (made canonical, host bits cleared, when it enters [`Statics`]).
    pub prefix: IpNet,
    /// The route.
    pub route: LocalRoute,
    /// Communities added when exported.
    pub communities: Vec<Community>,
}

impl StaticRoute {
    /// An announced route: through gateway `via`, or a blackhole without one.
    pub fn announced(prefix: IpNet, via: Option<IpAddr>, communities: Vec<Community>) -> Self {
        let route_type = match via {
            Some(_) => RouteType::Unicast,
            None => RouteType::Blackhole,
        };
        StaticRoute {
            prefix,
            route: LocalRoute {
                next_hop: via,
                route_type,
                ..LocalRoute::default()
            },
            communities,
        }
    }
}

/// The static routes the RIB holds, by layer.
#[derive(Debug, Default)]
pub struct Statics {
    /// The configuration's, in its order.
    config: Vec<StaticRoute>,
    /// The announced ones, by network.
    api: BTreeMap<IpNet, StaticRoute>,
}

impl Statics {
    /// The configuration's static routes are now `routes`: each goes into `rib` (over an
    /// announced route of its network); a network no longer configured falls back to its
    /// announced route, or leaves.
    pub fn set_config(&mut self, rib: &mut Rib, mut routes: Vec<StaticRoute>) {
        let mut now = HashSet::new();
        for r in &mut routes {
            r.prefix = r.prefix.trunc();
            now.insert(r.prefix);
            rib.add_local(SourceKind::Static, r.prefix, r.route.clone());
        }
        let gone: HashSet<IpNet> = self
            .config
            .iter()
            .map(|r| r.prefix)
            .filter(|p| !now.contains(p))
            .collect();
        for p in gone {
            match self.api.get(&p) {
                Some(r) => rib.add_local(SourceKind::Static, p, r.route.clone()),
                None => rib.remove_local(SourceKind::Static, p),
            }
        }
        self.config = routes;
    }

    /// Announces (or replaces) a route.
    pub fn announce(&mut self, rib: &mut Rib, mut r: StaticRoute) {
        r.prefix = r.prefix.trunc();
        rib.add_local(SourceKind::Static, r.prefix, r.route.clone());
        self.api.insert(r.prefix, r);
    }

    /// Withdraws an announced route; the configured route of the network, if any, is the
    /// RIB's static route again.
    pub fn withdraw(&mut self, rib: &mut Rib, prefix: IpNet) {
        let p = prefix.trunc();
        if self.api.remove(&p).is_none() {
            return;
        }
        match self.config.iter().find(|r| r.prefix == p) {
            Some(r) => rib.add_local(SourceKind::Static, p, r.route.clone()),
            None => rib.remove_local(SourceKind::Static, p),
        }
    }

    /// The export prelude adding each static route's communities (the configuration's, then
    /// the announced ones by network); empty when none has any.
    pub fn community_terms(&self) -> Vec<Stmt> {
        self.config
            .iter()
            .chain(self.api.values())
            .filter(|r| !r.communities.is_empty())
            .map(|r| {
                Stmt::if_then(
                    Expr::and(
                        Expr::eq(Expr::attr(Attr::Net), Expr::val(Value::Prefix(r.prefix))),
                        Expr::eq(
                            Expr::attr(Attr::Source),
                            Expr::val(Value::Enum(EnumValue::RTS_STATIC)),
                        ),
                    ),
                    r.communities
                        .iter()
                        .map(|c| {
                            Stmt::modify_attr(
                                ModOp::Add,
                                Attr::BgpCommunity,
                                Expr::val(Value::Pair(c.0)),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }
}
