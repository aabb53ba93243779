//! DOC: kernel nexthop objects (Linux 5.3 and later, `linux/nexthop.h`): `RTM_NEWNEXTHOP` /
//! `RTM_DELNEXTHOP` encoded by hand like route messages (byte-exact with `ip nexthop`, see
//! the tests), and the bounded parser of what dumps and notifications carry.
//!
//! ```text
//!  nlmsghdr (16)   nhmsg (8)                                  attributes
//! +------------+  +------+-------+----------+-----+--------+  NHA_ID u32, then either
//! | ...        |  |family| scope | protocol | rsv | flags  |  NHA_GATEWAY + NHA_OIF (one next hop)
//! +------------+  +------+-------+----------+-----+--------+  or NHA_GROUP [{id u32, weight-1 u8, 0, 0}]
//! ```

use std::net::IpAddr;

use super::*;

pub const RTM_NEWNEXTHOP: u16 = 104;
pub const RTM_DELNEXTHOP: u16 = 105;
pub const RTM_GETNEXTHOP: u16 = 106;

pub const NHA_ID: u16 = 1;
pub const NHA_GROUP: u16 = 2;
pub const NHA_BLACKHOLE: u16 = 4;
pub const NHA_OIF: u16 = 5;
pub const NHA_GATEWAY: u16 = 6;

/// `RTA_NH_ID`: the nexthop object a route uses.
pub const RTA_NH_ID: u16 = 30;

pub const NHMSG_LEN: usize = 8;

/// What a nexthop object holds.
#[derive(Debug, Clone, Copy)]
pub enum WireNexthop<'a> {
    /// One gateway on a device (`onlink`: `RTNH_F_ONLINK` in `nh_flags`).
    One {
        gateway: IpAddr,
        ifindex: u32,
        onlink: bool,
    },
    /// A multipath group of other objects: (id, weight 1..=256).
    Group(&'a [(u32, u16)]),
}

/// Appends an `RTM_NEWNEXTHOP` for object `id`: `NLM_F_CREATE|NLM_F_REPLACE` when
/// `replace` (create or change in place: the routes using it follow at once), otherwise
/// `NLM_F_CREATE|NLM_F_EXCL`.
pub fn encode_newnexthop(
    buf: &mut Vec<u8>,
    seq: u32,
    ack: bool,
    replace: bool,
    protocol: u8,
    id: u32,
    nh: WireNexthop<'_>,
) {
    let mut flags = NLM_F_REQUEST | NLM_F_CREATE;
    flags |= if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    if ack {
        flags |= NLM_F_ACK;
    }
    let at = begin(buf, RTM_NEWNEXTHOP, flags, seq);
    let (family, nh_flags) = match nh {
        WireNexthop::One {
            gateway, onlink, ..
        } => (
            if gateway.is_ipv4() { AF_INET } else { AF_INET6 },
            if onlink { RTNH_F_ONLINK as u32 } else { 0 },
        ),
        WireNexthop::Group(_) => (0, 0),
    };
    buf.extend_from_slice(&[family, RT_SCOPE_UNIVERSE, protocol, 0]);
    buf.extend_from_slice(&nh_flags.to_ne_bytes());
    attr_u32(buf, NHA_ID, id);
    match nh {
        WireNexthop::One {
            gateway, ifindex, ..
        } => {
            attr_ip(buf, NHA_GATEWAY, &gateway);
            attr_u32(buf, NHA_OIF, ifindex);
        }
        WireNexthop::Group(members) => {
            let mut v = Vec::with_capacity(members.len() * 8);
            for (m, w) in members {
                v.extend_from_slice(&m.to_ne_bytes());
                v.push(w.clamp(&1, &256).saturating_sub(1) as u8);
                v.extend_from_slice(&[0, 0, 0]);
            }
            attr(buf, NHA_GROUP, &v);
        }
    }
    finish(buf, at);
}

/// Appends an `RTM_DELNEXTHOP` for object `id` (the kernel also removes the routes still
/// using it, so it is sent after they moved away).
pub fn encode_delnexthop(buf: &mut Vec<u8>, seq: u32, ack: bool, id: u32) {
    let mut flags = NLM_F_REQUEST;
    if ack {
        flags |= NLM_F_ACK;
    }
    let at = begin(buf, RTM_DELNEXTHOP, flags, seq);
    buf.extend_from_slice(&[0; NHMSG_LEN]);
    attr_u32(buf, NHA_ID, id);
    finish(buf, at);
}

/// A nexthop object as the kernel reports it (dump or notification).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelNexthop {
    pub id: u32,
    pub family: u8,
    pub protocol: u8,
    pub onlink: bool,
    pub gateway: Option<IpAddr>,
    pub ifindex: u32,
    pub blackhole: bool,
    /// Group members: (id, weight 1..=256); empty for a single next hop.
    pub group: Vec<(u32, u16)>,
}

/// Parses the payload of an `RTM_NEWNEXTHOP`/`RTM_DELNEXTHOP`.
pub fn parse_nexthop(payload: &[u8]) -> Result<KernelNexthop, WireError> {
    let family = rd_u8(payload, 0)?;
    let protocol = rd_u8(payload, 2)?;
    let flags = rd_u32(payload, 4)?;
    let body = payload.get(NHMSG_LEN..).ok_or(WireError::Truncated)?;
    let mut n = KernelNexthop {
        family,
        protocol,
        onlink: flags & RTNH_F_ONLINK as u32 != 0,
        ..Default::default()
    };
    for a in attrs(body) {
        let (kind, data) = a?;
        match kind {
            NHA_ID => n.id = rd_u32(data, 0)?,
            NHA_OIF => n.ifindex = rd_u32(data, 0)?,
            NHA_GATEWAY => n.gateway = Some(ip_from(family, data, kind)?),
            NHA_BLACKHOLE => n.blackhole = true,
            NHA_GROUP => {
                for c in data.chunks(8) {
                    if c.len() != 8 {
                        return Err(WireError::BadAttribute(NHA_GROUP));
                    }
                    n.group.push((rd_u32(c, 0)?, u16::from(rd_u8(c, 4)?) + 1));
                }
            }
            _ => {}
        }
    }
    if n.id == 0 {
        return Err(WireError::BadAttribute(NHA_ID));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(buf: &[u8]) -> &[u8] {
        &buf[NLMSG_HDR_LEN..]
    }

    // The bodies `ip nexthop` (iproute2 6.x) sends, as strace decoded them:
    // ip nexthop add id 1000 via 10.0.0.5 dev tunl0 onlink proto bird (tunl0 = ifindex 3)
    const IP_NH_ADD: &[u8] = b"\x02\x00\x0c\x00\x04\x00\x00\x00\x08\x00\x01\x00\xe8\x03\x00\x00\x08\x00\x06\x00\x0a\x00\x00\x05\x08\x00\x05\x00\x03\x00\x00\x00";
    // ip nexthop add id 1002 group 1000/1001,3 proto bird
    const IP_NH_GROUP: &[u8] = b"\x00\x00\x0c\x00\x00\x00\x00\x00\x08\x00\x01\x00\xea\x03\x00\x00\x14\x00\x02\x00\xe8\x03\x00\x00\x00\x00\x00\x00\xe9\x03\x00\x00\x02\x00\x00\x00";
    // ip nexthop del id 1002
    const IP_NH_DEL: &[u8] = b"\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x01\x00\xea\x03\x00\x00";

    #[test]
    fn single_is_byte_exact_with_iproute2() {
        let mut b = Vec::new();
        let nh = WireNexthop::One {
            gateway: "10.0.0.5".parse().unwrap(),
            ifindex: 3,
            onlink: true,
        };
        encode_newnexthop(&mut b, 7, true, false, 12, 1000, nh);
        assert_eq!(body(&b), IP_NH_ADD);
        assert_eq!(rd_u16(&b, 4).unwrap(), RTM_NEWNEXTHOP);
        assert_eq!(
            rd_u16(&b, 6).unwrap(),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
        );
        let p = parse_nexthop(body(&b)).unwrap();
        assert_eq!(p.id, 1000);
        assert_eq!(p.gateway, Some("10.0.0.5".parse().unwrap()));
        assert_eq!((p.ifindex, p.onlink, p.protocol), (3, true, 12));
        assert!(p.group.is_empty());
    }

    #[test]
    fn group_and_delete_are_byte_exact_with_iproute2() {
        let mut b = Vec::new();
        encode_newnexthop(
            &mut b,
            7,
            true,
            false,
            12,
            1002,
            WireNexthop::Group(&[(1000, 1), (1001, 3)]),
        );
        assert_eq!(body(&b), IP_NH_GROUP);
        let p = parse_nexthop(body(&b)).unwrap();
        assert_eq!(p.group, vec![(1000, 1), (1001, 3)]);
        let mut d = Vec::new();
        encode_delnexthop(&mut d, 8, true, 1002);
        assert_eq!(body(&d), IP_NH_DEL);
        assert_eq!(rd_u16(&d, 4).unwrap(), RTM_DELNEXTHOP);
    }

    #[test]
    fn replace_flags_and_ipv6() {
        let mut b = Vec::new();
        let nh = WireNexthop::One {
            gateway: "fe80::1".parse().unwrap(),
            ifindex: 9,
            onlink: false,
        };
        encode_newnexthop(&mut b, 1, false, true, 12, 5, nh);
        assert_eq!(
            rd_u16(&b, 6).unwrap(),
            NLM_F_REQUEST | NLM_F_REPLACE | NLM_F_CREATE
        );
        let p = parse_nexthop(body(&b)).unwrap();
        assert_eq!((p.family, p.ifindex, p.onlink), (AF_INET6, 9, false));
        assert_eq!(p.gateway, Some("fe80::1".parse().unwrap()));
    }

    #[test]
    fn route_with_object_is_byte_exact_with_iproute2() {
        // ip route add 10.244.1.0/26 nhid 1000 proto bird: our encoder adds RTA_TABLE and
        // RTA_PRIORITY (always explicit); the rest matches.
        let mut b = Vec::new();
        encode_newroute(
            &mut b,
            1,
            false,
            false,
            12,
            254,
            &"10.244.1.0/26".parse().unwrap(),
            0,
            WireTarget::Object(1000),
        );
        let r = parse_route(body(&b)).unwrap();
        assert_eq!(r.nh_id, 1000);
        assert_eq!(r.rtype, RTN_UNICAST);
        assert!(r.nexthops.is_empty());
        let tail: &[u8] = b"\x08\x00\x1e\x00\xe8\x03\x00\x00";
        assert!(b.ends_with(tail));
    }

    #[test]
    fn garbage_never_panics() {
        for n in 0..IP_NH_GROUP.len() {
            let _ = parse_nexthop(&IP_NH_GROUP[..n]);
        }
        let mut bad = IP_NH_GROUP.to_vec();
        bad[16] = 0x13; // group attribute length not a multiple of 8
        assert!(parse_nexthop(&bad).is_err());
        assert!(parse_nexthop(&[0u8; 8]).is_err()); // no id
    }
}
