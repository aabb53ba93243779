//! DOC: the router ID of a configuration without `router id`, chosen from the host's interface
//! addresses as BIRD 1.6 does (`if_choose_router_id`): the lowest IPv4 address that is not
//! host- or link-scoped (BIRD classifies by the address: `127.0.0.0/8` host, `169.254.0.0/16`
//! link) on an interface that is administratively up. BIRD also skips secondary addresses;
//! `getifaddrs` does not tell them apart, so bgpd does not (a documented difference). The
//! IPv6 build of BIRD 1.6 (`bird6`) cannot choose one and refuses to start; so does bgpd for
//! `--family ipv6`.

use std::net::{IpAddr, Ipv4Addr};

/// One interface address as the choice sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    /// Interface name (for the log line BIRD prints: "Chosen router ID ... according to
    /// interface ...").
    pub iface: String,
    /// The interface is administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// The address.
    pub addr: IpAddr,
}

/// BIRD 1.6's choice over `addrs`: the lowest eligible IPv4 address, with its interface.
pub fn router_id_from(addrs: &[HostAddress]) -> Option<(Ipv4Addr, &str)> {
    addrs
        .iter()
        .filter(|a| a.admin_up)
        .filter_map(|a| match a.addr {
            IpAddr::V4(v4) if eligible(v4) => Some((v4, a.iface.as_str())),
            _ => None,
        })
        .min_by_key(|(v4, _)| u32::from(*v4))
}

/// Not host-scoped (loopback), not link-scoped (169.254/16), and a unicast address (BIRD's
/// `ipv4_classify`: first octet 1..=223).
fn eligible(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    (1..=223).contains(&first) && !a.is_loopback() && !a.is_link_local()
}

/// The host's interface addresses (`getifaddrs(3)`); empty when they cannot be read.
pub fn host_addresses() -> Vec<HostAddress> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr whose family says its real type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let addr = match family {
            libc::AF_INET => {
                // SAFETY: AF_INET: the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6: the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let iface = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        out.push(HostAddress {
            iface,
            admin_up: ifa.ifa_flags & libc::IFF_UP as u32 != 0,
            addr,
        });
    }
    // SAFETY: frees the list getifaddrs allocated; no reference into it outlives this call.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(iface: &str, up: bool, addr: &str) -> HostAddress {
        HostAddress {
            iface: iface.into(),
            admin_up: up,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn lowest_eligible_ipv4_of_an_up_interface() {
        let addrs = [
            a("lo", true, "127.0.0.1"),
            a("eth0", true, "172.31.0.12"),
            a("eth0", true, "fd00:31::12"),
            a("eth1", true, "169.254.1.1"),
            a("kube-ipvs0", false, "10.96.0.1"),
            a("tunl0", true, "10.244.12.1"),
            a("eth2", true, "192.168.1.1"),
        ];
        assert_eq!(
            router_id_from(&addrs),
            Some(("10.244.12.1".parse().unwrap(), "tunl0"))
        );
        // A routable address on lo counts (BIRD classifies by the address, not the link).
        let mut more = addrs.to_vec();
        more.push(a("lo", true, "10.0.0.1"));
        assert_eq!(
            router_id_from(&more),
            Some(("10.0.0.1".parse().unwrap(), "lo"))
        );
        assert_eq!(router_id_from(&addrs[..1]), None);
        assert_eq!(router_id_from(&[a("eth0", true, "fd00::1")]), None);
    }
}
