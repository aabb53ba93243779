//! DOC: the BGP listeners as the configuration decides them: which sockets a reload closes and
//! which it binds ([`Config::rebind`]), the TCP-MD5 keys each listening socket carries
//! ([`Config::listener_keys`]), and what an incoming connection from an address without a
//! running peer becomes ([`Config::incoming`]: a dynamic neighbour, or refused). The daemon binds,
//! installs and accepts.

use std::net::{IpAddr, SocketAddr};

use super::derive::PeerSpec;
use super::Config;

/// What a reload does to the running listeners (by configured address): kept addresses keep
/// their socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebind {
    /// Listeners to close, first (a wildcard may be in the way of a specific address on the
    /// same port).
    pub close: Vec<SocketAddr>,
    /// Addresses to bind, then.
    pub bind: Vec<SocketAddr>,
}

/// One TCP-MD5 key to install on a listening socket (RFC 2385).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerKey {
    /// Index of the listener in the list given.
    pub listener: usize,
    /// The peer, for the logs.
    pub peer: String,
    /// Its address (the key's).
    pub address: IpAddr,
    /// The key.
    pub password: String,
}

/// What becomes of a connection from an address no running peer has.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A new dynamic neighbour (its address is in a `[[peer_ranges]]` prefix).
    Dynamic(PeerSpec),
    /// Closed at once.
    Refuse,
}

impl Config {
    /// The listeners of this (new) configuration, from those running at the `running`
    /// configured addresses.
    pub fn rebind(&self, running: &[SocketAddr]) -> Rebind {
        let want = self.listen_addrs();
        Rebind {
            close: (running.iter().copied())
                .filter(|a| !want.contains(a))
                .collect(),
            bind: want.into_iter().filter(|a| !running.contains(a)).collect(),
        }
    }

    /// The MD5 keys of every peer with a password, on each listener (by its bound address) of
    /// the peer's family. Keys of removed peers are not listed (they stay on a socket until a
    /// restart: an unknown address cannot connect anyway).
    pub fn listener_keys(&self, bound: &[SocketAddr]) -> Vec<ListenerKey> {
        let mut out = Vec::new();
        for p in self.peers() {
            let Some(pw) = &p.common.password else {
                continue;
            };
            for (i, b) in bound.iter().enumerate() {
                if b.is_ipv4() == p.address.is_ipv4() {
                    out.push(ListenerKey {
                        listener: i,
                        peer: p.name.clone(),
                        address: p.address,
                        password: pw.clone(),
                    });
                }
            }
        }
        out
    }

    /// What a connection from `from` becomes when no running peer has its address (an
    /// IPv4-mapped IPv6 address is its IPv4 address).
    pub fn incoming(&self, from: IpAddr) -> Incoming {
        match self.dynamic_peer(from.to_canonical()) {
            Some(spec) => Incoming::Dynamic(spec),
            None => Incoming::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_config as cfg;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_reload_closes_the_addresses_gone_and_binds_the_new_ones() {
        let new = cfg("[listen]\naddresses = [\"127.0.0.1\", \"::1\"]\nport = 1179\n");
        let r = new.rebind(&[a("127.0.0.1:1179"), a("0.0.0.0:179")]);
        assert_eq!(r.close, [a("0.0.0.0:179")]);
        assert_eq!(r.bind, [a("[::1]:1179")]);
        let same = new.rebind(&new.listen_addrs());
        assert!(same.close.is_empty() && same.bind.is_empty());
    }

    #[test]
    fn md5_keys_go_on_the_listeners_of_the_peers_family() {
        let c = cfg(
            "[[peers]]\nname = \"a\"\naddress = \"10.0.0.2\"\nasn = 65001\npassword = \"s\"\n\
             [[peers]]\nname = \"b\"\naddress = \"fd00::2\"\nasn = 65001\npassword = \"t\"\n\
             [[peers]]\nname = \"c\"\naddress = \"10.0.0.3\"\nasn = 65001\n",
        );
        let keys = c.listener_keys(&[a("0.0.0.0:179"), a("[::]:179"), a("10.0.0.1:179")]);
        let got: Vec<_> = keys
            .iter()
            .map(|k| (k.listener, k.peer.as_str(), k.password.as_str()))
            .collect();
        assert_eq!(got, [(0, "a", "s"), (2, "a", "s"), (1, "b", "t")]);
        assert_eq!(keys[0].address, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_unknown_address_is_a_dynamic_neighbour_inside_a_range_and_refused_outside() {
        let c = cfg("[[peer_ranges]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\nasn = 65002\n");
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        match c.incoming(mapped) {
            Incoming::Dynamic(spec) => {
                assert_eq!(spec.address, "10.1.2.3".parse::<IpAddr>().unwrap());
                assert!(spec.common.passive);
            }
            Incoming::Refuse => panic!("refused"),
        }
        assert_eq!(c.incoming("10.2.0.1".parse().unwrap()), Incoming::Refuse);
    }
}
