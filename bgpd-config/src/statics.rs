//! DOC: what the RIB's static routes and export filters are made of: `[[static]]` as
//! bgp-core [`StaticRoute`]s (route type, gateway, communities), and the filters of
//! [`Config::policies`] with a prelude (the static routes' communities) joined to every
//! export wrapper.

use bgp_core::filter::{Filter, IrError, Stmt};
use bgp_core::rib::{LocalRoute, RouteType, StaticRoute};

use super::derive::parse_community;
use super::Config;

/// Filters by name, as [`Config::policies`] lists them.
pub type NamedFilters = Vec<(String, Filter)>;

/// The prefix of the generated export wrappers' names ([`super::export_policy_name`]).
const EXPORT_WRAPPER: &str = "export:";

impl Config {
    /// The static routes of `[[static]]`, with the communities they are exported with (one
    /// that does not parse, which validation reports, is left out).
    pub fn static_routes(&self) -> Vec<StaticRoute> {
        self.file
            .statics
            .iter()
            .map(|s| StaticRoute {
                prefix: s.prefix.get_ref().trunc(),
                route: LocalRoute {
                    next_hop: s.via,
                    route_type: if s.blackhole {
                        RouteType::Blackhole
                    } else if s.unreachable {
                        RouteType::Unreachable
                    } else if s.prohibit {
                        RouteType::Prohibit
                    } else {
                        RouteType::Unicast
                    },
                    ..LocalRoute::default()
                },
                communities: s
                    .communities
                    .iter()
                    .filter_map(|c| parse_community(c.get_ref()))
                    .collect(),
            })
            .collect()
    }

    /// [`Config::policies`], each export wrapper running `prelude` first (the static routes'
    /// communities). A wrapper the prelude cannot join is kept as it is; its name and the
    /// error come back in the second list.
    pub fn policies_with_export_prelude(
        &self,
        prelude: &[Stmt],
    ) -> (NamedFilters, Vec<(String, IrError)>) {
        let mut errors = Vec::new();
        let policies = self
            .policies()
            .into_iter()
            .map(|(name, pol)| {
                if !name.starts_with(EXPORT_WRAPPER) || prelude.is_empty() {
                    return (name, pol);
                }
                match pol.with_prelude(&name, prelude.to_vec()) {
                    Ok(f) => (name, f),
                    Err(e) => {
                        errors.push((name.clone(), e));
                        (name, pol)
                    }
                }
            })
            .collect();
        (policies, errors)
    }
}

#[cfg(test)]
mod tests {
    use bgp_core::filter::{Attr, Expr, ModOp, Value};
    use bgp_core::wire::Community;

    use super::*;

    use crate::test_config as cfg;

    #[test]
    fn statics_become_rib_routes_with_their_communities() {
        let c = cfg(concat!(
            "[[static]]\nprefix = \"10.1.0.0/16\"\nblackhole = true\ncommunities = [\"65000:100\"]\n",
            "[[static]]\nprefix = \"10.2.0.0/16\"\nvia = \"192.168.1.1\"\n",
            "[[static]]\nprefix = \"10.3.0.0/16\"\nunreachable = true\n",
            "[[static]]\nprefix = \"10.4.0.0/16\"\nprohibit = true\n",
        ));
        let v = c.static_routes();
        let kinds: Vec<RouteType> = v.iter().map(|r| r.route.route_type).collect();
        assert_eq!(
            kinds,
            [
                RouteType::Blackhole,
                RouteType::Unicast,
                RouteType::Unreachable,
                RouteType::Prohibit
            ]
        );
        assert_eq!(v[0].communities, [Community((65000 << 16) | 100)]);
        assert_eq!(v[1].route.next_hop, Some("192.168.1.1".parse().unwrap()));
        assert_eq!(v[1].prefix.to_string(), "10.2.0.0/16");
    }

    #[test]
    fn the_prelude_joins_the_export_wrappers_only() {
        let c = cfg("[[policies]]\nname = \"p\"\ndefault = \"accept\"\n");
        let (plain, errors) = c.policies_with_export_prelude(&[]);
        assert!(errors.is_empty());
        assert_eq!(plain, c.policies());
        let prelude = [Stmt::modify_attr(
            ModOp::Add,
            Attr::BgpCommunity,
            Expr::val(Value::Pair(1)),
        )];
        let (with, errors) = c.policies_with_export_prelude(&prelude);
        assert!(errors.is_empty());
        assert_eq!(with.len(), plain.len());
        for ((n, f), (n0, f0)) in with.iter().zip(&plain) {
            assert_eq!(n, n0);
            assert_eq!(f != f0, n.starts_with("export:"), "{n}");
        }
    }
}
