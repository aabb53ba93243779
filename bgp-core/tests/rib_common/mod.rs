//! DOC: shared helpers for the RIB integration tests: attribute builders and a tiny network of
//! RIBs whose peers exchange real encoded UPDATEs (encode with the sender's context, frame and
//! decode with the receiver's), so export rules are tested through the codec.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr};

use bgp_core::rib::{PeerConfig, Rib, RibConfig, SourceId};
use bgp_core::wire::{
    frame, AsPath, Message, Negotiated, NextHop, Nlri, Origin, PathAttributes, MAX_MESSAGE_LEN,
};
use bytes::BytesMut;
use ipnet::IpNet;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
pub fn nlri(s: &str) -> Nlri {
    Nlri::new(net(s))
}

/// A session context between `local` and `peer`.
pub fn neg(local_as: u32, local_id: &str, peer_as: u32, peer_id: &str) -> Negotiated {
    Negotiated {
        local_as,
        peer_as,
        local_id: v4(local_id),
        peer_id: v4(peer_id),
        ..Negotiated::default()
    }
}

/// Attributes with an AS_SEQUENCE, origin IGP.
pub fn attrs(path: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path)),
        ..PathAttributes::default()
    }
}

pub fn nh(s: &str) -> Option<NextHop> {
    Some(NextHop::V4(v4(s)))
}

/// One node of a test network.
pub struct Node {
    pub rib: Rib,
    pub asn: u32,
    pub id: &'static str,
}

/// A link: node a's peer id for b, and b's for a.
pub struct Link {
    pub a: usize,
    pub a_peer: SourceId,
    pub b: usize,
    pub b_peer: SourceId,
    pub neg_ab: Negotiated,
}

#[derive(Default)]
pub struct Network {
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

impl Network {
    pub fn node(&mut self, asn: u32, id: &'static str) -> usize {
        self.node_with(RibConfig::new(asn, v4(id)))
    }

    pub fn node_with(&mut self, cfg: RibConfig) -> usize {
        let asn = cfg.local_as;
        let id: &'static str = Box::leak(cfg.router_id.to_string().into_boxed_str());
        self.nodes.push(Node {
            rib: Rib::new(cfg),
            asn,
            id,
        });
        self.nodes.len() - 1
    }

    /// Connects `a` and `b`; `a_cfg` is how a sees b, `b_cfg` how b sees a.
    pub fn link(&mut self, a: usize, b: usize, a_cfg: PeerConfig, b_cfg: PeerConfig) -> usize {
        let a_peer = self.nodes[a].rib.add_peer(a_cfg).unwrap();
        let b_peer = self.nodes[b].rib.add_peer(b_cfg).unwrap();
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        let neg_ab = neg(na.asn, na.id, nb.asn, nb.id);
        self.nodes[a].rib.peer_up(a_peer, neg_ab.clone());
        self.nodes[b].rib.peer_up(b_peer, neg_ab.mirror());
        self.links.push(Link {
            a,
            a_peer,
            b,
            b_peer,
            neg_ab,
        });
        self.links.len() - 1
    }

    /// A plain link where each side sees the other by router id address.
    pub fn connect(&mut self, a: usize, b: usize) -> usize {
        let (ia, ib) = (self.nodes[a].id, self.nodes[b].id);
        let mut ca = PeerConfig::new(format!("to_{ib}"), ip(ib));
        ca.local_v4 = Some(v4(ia));
        let mut cb = PeerConfig::new(format!("to_{ia}"), ip(ia));
        cb.local_v4 = Some(v4(ib));
        self.link(a, b, ca, cb)
    }

    /// Moves UPDATEs along every link until nothing is pending. Returns the number of messages.
    pub fn settle(&mut self) -> usize {
        let mut total = 0;
        loop {
            let mut moved = 0;
            for li in 0..self.links.len() {
                let (a, ap, b, bp) = {
                    let l = &self.links[li];
                    (l.a, l.a_peer, l.b, l.b_peer)
                };
                let nab = self.links[li].neg_ab.clone();
                moved += pump(&mut self.nodes, a, ap, b, bp, &nab);
                moved += pump(&mut self.nodes, b, bp, a, ap, &nab.mirror());
            }
            total += moved;
            if moved == 0 {
                return total;
            }
        }
    }
}

/// Sends everything `from` has pending for its peer `fp` to `to` (which knows it as `tp`).
fn pump(
    nodes: &mut [Node],
    from: usize,
    fp: SourceId,
    to: usize,
    tp: SourceId,
    neg_from: &Negotiated,
) -> usize {
    let mut buf = BytesMut::new();
    let mut n = 0;
    while nodes[from].rib.poll_update(fp, &mut buf).unwrap() {
        n += 1;
    }
    let mut bytes = buf.freeze();
    let rx = neg_from.mirror();
    while !bytes.is_empty() {
        let len = frame(&bytes, MAX_MESSAGE_LEN).unwrap().unwrap();
        let msg = bytes.split_to(len);
        match Message::decode(msg, &rx).unwrap() {
            Message::Update(u) => {
                nodes[to].rib.apply_update(tp, &u);
            }
            m => panic!("unexpected {m:?}"),
        }
    }
    n
}

/// Drains the FIB queue of `rib`.
pub fn drain_fib(rib: &mut Rib) -> Vec<bgp_core::rib::FibChange> {
    std::iter::from_fn(|| rib.poll_fib_change()).collect()
}
