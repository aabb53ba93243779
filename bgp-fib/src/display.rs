//! DOC: what the kernel view tells a reader of routes (the control socket's `show route`),
//! beside the resolution the `Fib` does for the kernel: BIRD 1.6's `gateway direct` choice of
//! gateway, with the interface it is reached on.

use std::net::IpAddr;

use crate::intent::KernelView;

impl KernelView {
    /// BIRD 1.6's `gateway direct` (`bgp_set_next_hop`): the gateway of next hop `nh` learned
    /// from neighbour `peer` is `nh` when an on-link subnet holds it, else the neighbour's
    /// address (as the `Fib` resolves a `RouteIntent` hop with a `peer`).
    pub fn direct_gateway_of(&self, nh: IpAddr, peer: IpAddr) -> IpAddr {
        if self.onlink_iface(nh).is_some() {
            nh
        } else {
            peer
        }
    }

    /// [`KernelView::direct_gateway_of`] with the interface of the on-link subnet holding it;
    /// `None` when no on-link subnet holds that gateway.
    pub fn direct_gateway(&self, nh: IpAddr, peer: IpAddr) -> Option<(IpAddr, &str)> {
        let gw = self.direct_gateway_of(nh, peer);
        self.onlink_name(gw).map(|name| (gw, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> KernelView {
        KernelView {
            links: [(2, "eth0".to_string()), (3, "tunl0".to_string())].into(),
            subnets: vec![
                (
                    "192.168.1.0/24".parse().unwrap(),
                    2,
                    "192.168.1.5".parse().unwrap(),
                ),
                // A host-length address holds nothing on-link.
                (
                    "10.244.0.1/32".parse().unwrap(),
                    3,
                    "10.244.0.1".parse().unwrap(),
                ),
            ],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_onlink_next_hop_is_its_own_gateway() {
        let v = view();
        assert_eq!(
            v.direct_gateway(ip("192.168.1.9"), ip("192.168.1.2")),
            Some((ip("192.168.1.9"), "eth0"))
        );
    }

    #[test]
    fn any_other_next_hop_is_replaced_by_the_neighbour() {
        let v = view();
        assert_eq!(
            v.direct_gateway_of(ip("10.9.9.9"), ip("192.168.1.2")),
            ip("192.168.1.2")
        );
        assert_eq!(
            v.direct_gateway(ip("10.9.9.9"), ip("192.168.1.2")),
            Some((ip("192.168.1.2"), "eth0"))
        );
        // Neither on-link: the gateway is the neighbour, reached on no known interface.
        assert_eq!(
            v.direct_gateway_of(ip("10.9.9.9"), ip("10.244.0.1")),
            ip("10.244.0.1")
        );
        assert_eq!(v.direct_gateway(ip("10.9.9.9"), ip("10.244.0.1")), None);
    }
}
