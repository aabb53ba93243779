//! DOC: local routes built from what the kernel reports: a route learned from another
//! protocol's kernel routes (BIRD's kernel `learn`), and the `direct` route of an interface
//! address (BIRD 1.6's direct protocol).

use std::net::IpAddr;
use std::sync::Arc;

use super::{LocalRoute, RouteType};

impl LocalRoute {
    /// A route learned from the kernel. `nexthops`: (gateway, interface) each; the first gives
    /// the route's next hop and interface (`dev`, the route's own interface, when it has
    /// none); with more than one, those with a gateway make the multipath route. `metric`
    /// and `protocol` are the kernel's (BIRD's `krt_metric`, `krt_source`).
    pub fn learned(
        route_type: RouteType,
        dev: Option<Arc<str>>,
        nexthops: Vec<(Option<IpAddr>, Option<Arc<str>>)>,
        metric: u32,
        protocol: u8,
    ) -> LocalRoute {
        let (next_hop, ifname) = match nexthops.first() {
            Some((gw, name)) => (*gw, name.clone()),
            None => (None, dev),
        };
        let multipath = if nexthops.len() > 1 {
            nexthops
                .into_iter()
                .filter_map(|(g, name)| g.map(|g| (g, name)))
                .collect()
        } else {
            Vec::new()
        };
        LocalRoute {
            next_hop,
            route_type,
            ifname,
            krt_metric: Some(metric),
            krt_source: Some(protocol),
            multipath,
        }
    }

    /// The `direct` route of `address` on interface `ifname`, as BIRD 1.6's direct protocol
    /// decides (`dev_ifa_notify`, scopes from `ipa_classify`): none for host-scope (loopback)
    /// or link-scope (IPv6 link-local) addresses; host-length addresses (`tunl0`'s /32) do
    /// make one.
    pub fn direct(address: IpAddr, ifname: Arc<str>) -> Option<LocalRoute> {
        let eligible = match address {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
            IpAddr::V6(v6) => {
                !v6.is_loopback() && !v6.is_unspecified() && !v6.is_unicast_link_local()
            }
        };
        eligible.then(|| LocalRoute {
            ifname: Some(ifname),
            ..LocalRoute::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_learned_route_takes_its_first_hop_and_keeps_several_as_multipath() {
        let eth0: Arc<str> = "eth0".into();
        let one = LocalRoute::learned(
            RouteType::Unicast,
            Some("lo".into()),
            vec![(Some(ip("192.168.1.1")), Some(eth0.clone()))],
            100,
            4,
        );
        assert_eq!(one.next_hop, Some(ip("192.168.1.1")));
        assert_eq!(one.ifname.as_deref(), Some("eth0"));
        assert_eq!((one.krt_metric, one.krt_source), (Some(100), Some(4)));
        assert!(one.multipath.is_empty());
        let dev = LocalRoute::learned(RouteType::Unicast, Some(eth0.clone()), Vec::new(), 0, 3);
        assert_eq!((dev.next_hop, dev.ifname.as_deref()), (None, Some("eth0")));
        let many = LocalRoute::learned(
            RouteType::Unicast,
            None,
            vec![
                (Some(ip("192.168.1.1")), Some(eth0.clone())),
                (None, Some("eth1".into())),
                (Some(ip("192.168.2.1")), Some("eth2".into())),
            ],
            0,
            4,
        );
        let hops: Vec<(IpAddr, Option<&str>)> = many
            .multipath
            .iter()
            .map(|(g, n)| (*g, n.as_deref()))
            .collect();
        assert_eq!(
            hops,
            [
                (ip("192.168.1.1"), Some("eth0")),
                (ip("192.168.2.1"), Some("eth2"))
            ]
        );
        let bh = LocalRoute::learned(RouteType::Blackhole, None, Vec::new(), 0, 4);
        assert_eq!(bh.route_type, RouteType::Blackhole);
    }

    #[test]
    fn direct_routes_skip_host_and_link_scope_addresses() {
        let r = LocalRoute::direct(ip("10.0.0.5"), "eth0".into()).unwrap();
        assert_eq!((r.route_type, r.next_hop), (RouteType::Unicast, None));
        assert_eq!(r.ifname.as_deref(), Some("eth0"));
        assert!(LocalRoute::direct(ip("10.244.0.1"), "tunl0".into()).is_some());
        assert!(LocalRoute::direct(ip("127.0.0.1"), "lo".into()).is_none());
        assert!(LocalRoute::direct(ip("::1"), "lo".into()).is_none());
        assert!(LocalRoute::direct(ip("fe80::1"), "eth0".into()).is_none());
        assert!(LocalRoute::direct(ip("fd00::1"), "eth0".into()).is_some());
    }
}
