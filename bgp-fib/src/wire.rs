//! DOC: the rtnetlink wire format of route messages, encoded by hand into one big buffer
//! per `send` (the fixed layout of `nlmsghdr` + `rtmsg` + attributes), and the bounded
//! parsers of what the kernel sends back: ACK/error messages, route messages (dumps and
//! notifications), and link and address messages (decoded with `netlink-packet-route`).
//!
//! Nothing here panics on input: every read is bounds-checked and returns `WireError`.
//!
//! ```text
//!  nlmsghdr (16)            rtmsg (12)                         rtattr (4 + payload, pad 4)
//! +--------+----+-----+---+---+---+---+---+---+---+---+----+  +-----+------+---------+
//! | len u32|type|flags|seq|pid|fam|dst|src|tos|tbl|pro|scp|typ|flags|  | len | type | payload |
//! +--------+----+-----+---+---+---+---+---+---+---+---+----+  +-----+------+---------+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_core::Parseable;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

// nlmsghdr types and flags (linux/netlink.h, linux/rtnetlink.h).
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

// rtattr types.
pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_MULTIPATH: u16 = 9;
pub const RTA_TABLE: u16 = 15;
pub const RTA_VIA: u16 = 18;

// rtm_type.
pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;

pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_NOWHERE: u8 = 255;
pub const RT_TABLE_UNSPEC: u8 = 0;
pub const RT_TABLE_LOCAL: u32 = 255;
pub const RTNH_F_ONLINK: u8 = 4;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

pub const NLMSG_HDR_LEN: usize = 16;
pub const RTMSG_LEN: usize = 12;

/// A malformed message from the kernel (or a request we cannot encode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("netlink message truncated")]
    Truncated,
    #[error("netlink message length {0} invalid")]
    BadLength(usize),
    #[error("unknown address family {0}")]
    BadFamily(u8),
    #[error("bad prefix length {0}")]
    BadPrefixLen(u8),
    #[error("attribute {0} malformed")]
    BadAttribute(u16),
    #[error("link or address message malformed")]
    Decode,
}

#[inline]
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The fixed 16-byte header of every netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlHeader {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

fn rd_u16(b: &[u8], at: usize) -> Result<u16, WireError> {
    let s = b.get(at..at + 2).ok_or(WireError::Truncated)?;
    <[u8; 2]>::try_from(s)
        .map(u16::from_ne_bytes)
        .map_err(|_| WireError::Truncated)
}

fn rd_u32(b: &[u8], at: usize) -> Result<u32, WireError> {
    let s = b.get(at..at + 4).ok_or(WireError::Truncated)?;
    <[u8; 4]>::try_from(s)
        .map(u32::from_ne_bytes)
        .map_err(|_| WireError::Truncated)
}

fn rd_u8(b: &[u8], at: usize) -> Result<u8, WireError> {
    b.get(at).copied().ok_or(WireError::Truncated)
}

/// Iterates over the netlink messages of one datagram, yielding header and payload.
pub struct Messages<'a> {
    buf: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Messages { buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(NlHeader, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let r = (|| {
            let len = rd_u32(self.buf, 0)? as usize;
            if len < NLMSG_HDR_LEN || len > self.buf.len() {
                return Err(WireError::BadLength(len));
            }
            let hdr = NlHeader {
                len: len as u32,
                kind: rd_u16(self.buf, 4)?,
                flags: rd_u16(self.buf, 6)?,
                seq: rd_u32(self.buf, 8)?,
                pid: rd_u32(self.buf, 12)?,
            };
            let payload = self
                .buf
                .get(NLMSG_HDR_LEN..len)
                .ok_or(WireError::Truncated)?;
            let next = align4(len).min(self.buf.len());
            self.buf = self.buf.get(next..).unwrap_or(&[]);
            Ok((hdr, payload))
        })();
        if r.is_err() {
            self.buf = &[];
        }
        Some(r)
    }
}

/// Iterates over the rtattrs of a payload.
struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < 4 {
            return None;
        }
        let r = (|| {
            let len = rd_u16(self.buf, 0)? as usize;
            let kind = rd_u16(self.buf, 2)? & 0x3fff; // strip NLA_F_NESTED / NET_BYTEORDER
            if len < 4 || len > self.buf.len() {
                return Err(WireError::BadLength(len));
            }
            let payload = self.buf.get(4..len).ok_or(WireError::Truncated)?;
            let next = align4(len).min(self.buf.len());
            self.buf = self.buf.get(next..).unwrap_or(&[]);
            Ok((kind, payload))
        })();
        if r.is_err() {
            self.buf = &[];
        }
        Some(r)
    }
}

fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf }
}

/// The errno of an `NLMSG_ERROR` payload: 0 is an ACK, otherwise a positive errno.
pub fn parse_error(payload: &[u8]) -> Result<i32, WireError> {
    let e = rd_u32(payload, 0)? as i32;
    Ok(e.saturating_neg())
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Appends the 16-byte netlink header with a placeholder length; returns its offset.
#[inline]
fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    at
}

#[inline]
fn finish(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u32;
    if let Some(s) = buf.get_mut(at..at + 4) {
        s.copy_from_slice(&len.to_ne_bytes());
    }
}

#[inline]
fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + (align4(len) - len), 0);
}

#[inline]
fn attr_u32(buf: &mut Vec<u8>, kind: u16, v: u32) {
    attr(buf, kind, &v.to_ne_bytes());
}

fn attr_ip(buf: &mut Vec<u8>, kind: u16, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => attr(buf, kind, &a.octets()),
        IpAddr::V6(a) => attr(buf, kind, &a.octets()),
    }
}

/// Gateway attribute: `RTA_GATEWAY` in the route's family, `RTA_VIA` otherwise
/// (an IPv4 route via an IPv6 next hop, RFC 5549).
fn attr_gateway(buf: &mut Vec<u8>, prefix_v4: bool, gw: &IpAddr) {
    match (prefix_v4, gw) {
        (true, IpAddr::V4(_)) | (false, IpAddr::V6(_)) => attr_ip(buf, RTA_GATEWAY, gw),
        (_, IpAddr::V4(a)) => {
            let mut v = Vec::with_capacity(6);
            v.extend_from_slice(&(AF_INET as u16).to_ne_bytes());
            v.extend_from_slice(&a.octets());
            attr(buf, RTA_VIA, &v);
        }
        (_, IpAddr::V6(a)) => {
            let mut v = Vec::with_capacity(18);
            v.extend_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            v.extend_from_slice(&a.octets());
            attr(buf, RTA_VIA, &v);
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn rtmsg(
    buf: &mut Vec<u8>,
    family: u8,
    dst_len: u8,
    table: u32,
    protocol: u8,
    scope: u8,
    rtype: u8,
    flags: u32,
) {
    let t = if table < 256 {
        table as u8
    } else {
        RT_TABLE_UNSPEC
    };
    buf.extend_from_slice(&[family, dst_len, 0, 0, t, protocol, scope, rtype]);
    buf.extend_from_slice(&flags.to_ne_bytes());
}

fn family_of(prefix: &IpNet) -> u8 {
    match prefix {
        IpNet::V4(_) => AF_INET,
        IpNet::V6(_) => AF_INET6,
    }
}

fn prefix_head(buf: &mut Vec<u8>, prefix: &IpNet) {
    if prefix.prefix_len() > 0 {
        match prefix {
            IpNet::V4(n) => attr(buf, RTA_DST, &n.network().octets()),
            IpNet::V6(n) => attr(buf, RTA_DST, &n.network().octets()),
        }
    }
}

/// A next hop ready for the wire: the device already resolved to an index (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireNextHop {
    pub gateway: IpAddr,
    pub ifindex: u32,
    pub onlink: bool,
    pub weight: u16,
}

/// What a route message carries.
#[derive(Debug, Clone, Copy)]
pub enum WireTarget<'a> {
    Unicast(&'a [WireNextHop]),
    Blackhole,
    Unreachable,
    Prohibit,
    /// Through a kernel nexthop object (`RTA_NH_ID`).
    Object(u32),
}

/// Appends an `RTM_NEWROUTE` for the route. `replace` selects `NLM_F_CREATE|NLM_F_REPLACE`
/// (replace in place what the kernel files under the same key), otherwise
/// `NLM_F_CREATE|NLM_F_EXCL` (fail with `EEXIST` instead of touching another route).
/// Protocol, table (`rtm_table` and `RTA_TABLE`), scope and type are always explicit.
#[allow(clippy::too_many_arguments)]
pub fn encode_newroute(
    buf: &mut Vec<u8>,
    seq: u32,
    ack: bool,
    replace: bool,
    protocol: u8,
    table: u32,
    prefix: &IpNet,
    metric: u32,
    target: WireTarget<'_>,
) {
    let mut flags = NLM_F_REQUEST | NLM_F_CREATE;
    flags |= if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    if ack {
        flags |= NLM_F_ACK;
    }
    let at = begin(buf, RTM_NEWROUTE, flags, seq);
    let v4 = matches!(prefix, IpNet::V4(_));
    let (rtype, rflags) = match target {
        WireTarget::Unicast([nh]) if nh.onlink => (RTN_UNICAST, RTNH_F_ONLINK as u32),
        WireTarget::Unicast(_) | WireTarget::Object(_) => (RTN_UNICAST, 0),
        WireTarget::Blackhole => (RTN_BLACKHOLE, 0),
        WireTarget::Unreachable => (RTN_UNREACHABLE, 0),
        WireTarget::Prohibit => (RTN_PROHIBIT, 0),
    };
    rtmsg(
        buf,
        family_of(prefix),
        prefix.prefix_len(),
        table,
        protocol,
        RT_SCOPE_UNIVERSE,
        rtype,
        rflags,
    );
    attr_u32(buf, RTA_TABLE, table);
    prefix_head(buf, prefix);
    attr_u32(buf, RTA_PRIORITY, metric);
    match target {
        WireTarget::Unicast([nh]) => {
            attr_gateway(buf, v4, &nh.gateway);
            if nh.ifindex != 0 {
                attr_u32(buf, RTA_OIF, nh.ifindex);
            }
        }
        WireTarget::Unicast(nhs) => {
            // RTA_MULTIPATH: a sequence of struct rtnexthop { len u16, flags u8, hops u8,
            // ifindex i32 } each followed by its own attributes (the gateway).
            let mp = buf.len();
            buf.extend_from_slice(&[0, 0]);
            buf.extend_from_slice(&RTA_MULTIPATH.to_ne_bytes());
            for nh in nhs {
                let start = buf.len();
                buf.extend_from_slice(&[0, 0]);
                buf.push(if nh.onlink { RTNH_F_ONLINK } else { 0 });
                buf.push(nh.weight.clamp(1, 256).saturating_sub(1) as u8);
                buf.extend_from_slice(&nh.ifindex.to_ne_bytes());
                attr_gateway(buf, v4, &nh.gateway);
                let len = (buf.len() - start) as u16;
                if let Some(s) = buf.get_mut(start..start + 2) {
                    s.copy_from_slice(&len.to_ne_bytes());
                }
            }
            let len = (buf.len() - mp) as u16;
            if let Some(s) = buf.get_mut(mp..mp + 2) {
                s.copy_from_slice(&len.to_ne_bytes());
            }
        }
        WireTarget::Object(id) => attr_u32(buf, nexthop::RTA_NH_ID, id),
        _ => {}
    }
    finish(buf, at);
}

/// Appends an `RTM_DELROUTE` naming the full key: table, prefix, metric and our protocol
/// (so a route of another protocol with the same key is never deleted). `rtype` may be
/// `RTN_UNSPEC` (any type).
#[allow(clippy::too_many_arguments)]
pub fn encode_delroute(
    buf: &mut Vec<u8>,
    seq: u32,
    ack: bool,
    protocol: u8,
    table: u32,
    prefix: &IpNet,
    metric: u32,
    rtype: u8,
) {
    let mut flags = NLM_F_REQUEST;
    if ack {
        flags |= NLM_F_ACK;
    }
    let at = begin(buf, RTM_DELROUTE, flags, seq);
    rtmsg(
        buf,
        family_of(prefix),
        prefix.prefix_len(),
        table,
        protocol,
        RT_SCOPE_NOWHERE,
        rtype,
        0,
    );
    attr_u32(buf, RTA_TABLE, table);
    prefix_head(buf, prefix);
    attr_u32(buf, RTA_PRIORITY, metric);
    finish(buf, at);
}

/// What to dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    Links,
    Addresses,
    Routes,
    /// Nexthop objects (fails on kernels without them: how support is detected).
    Nexthops,
}

/// Appends a dump request (all families, all tables).
pub fn encode_dump(buf: &mut Vec<u8>, seq: u32, kind: DumpKind) {
    let (t, body_len) = match kind {
        DumpKind::Links => (RTM_GETLINK, 16),
        DumpKind::Addresses => (RTM_GETADDR, 8),
        DumpKind::Routes => (RTM_GETROUTE, RTMSG_LEN),
        DumpKind::Nexthops => (nexthop::RTM_GETNEXTHOP, nexthop::NHMSG_LEN),
    };
    let at = begin(buf, t, NLM_F_REQUEST | NLM_F_DUMP, seq);
    buf.resize(buf.len() + body_len, 0);
    finish(buf, at);
}

// ---------------------------------------------------------------------------------------
// Route parsing

/// One next hop of a route read from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelNextHop {
    pub gateway: Option<IpAddr>,
    pub ifindex: u32,
    pub onlink: bool,
    pub weight: u16,
}

/// A route as the kernel reports it (dump or notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    pub table: u32,
    pub prefix: IpNet,
    pub metric: u32,
    pub protocol: u8,
    pub scope: u8,
    pub rtype: u8,
    pub flags: u32,
    /// Single-path: one entry; multipath: one per `rtnexthop`; none for device-less types.
    pub nexthops: Vec<KernelNextHop>,
    /// Whether `RTA_MULTIPATH` was present.
    pub multipath: bool,
    /// The nexthop object it uses (`RTA_NH_ID`), 0 for none. The kernel also reports the
    /// object's next hops in `nexthops` (unless `net.ipv4.nexthop_compat_mode` is 0).
    pub nh_id: u32,
}

impl Default for KernelRoute {
    fn default() -> Self {
        KernelRoute {
            table: 0,
            prefix: IpNet::V4(Ipv4Net::default()),
            metric: 0,
            protocol: 0,
            scope: 0,
            rtype: 0,
            flags: 0,
            nexthops: Vec::new(),
            multipath: false,
            nh_id: 0,
        }
    }
}

fn ip_from(family: u8, b: &[u8], code: u16) -> Result<IpAddr, WireError> {
    match (family, b.len()) {
        (AF_INET, 4) => <[u8; 4]>::try_from(b)
            .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
            .map_err(|_| WireError::BadAttribute(code)),
        (AF_INET6, 16) => <[u8; 16]>::try_from(b)
            .map(|o| IpAddr::V6(Ipv6Addr::from(o)))
            .map_err(|_| WireError::BadAttribute(code)),
        _ => Err(WireError::BadAttribute(code)),
    }
}

fn via_from(b: &[u8]) -> Result<IpAddr, WireError> {
    let fam = rd_u16(b, 0)? as u8;
    ip_from(fam, b.get(2..).ok_or(WireError::Truncated)?, RTA_VIA)
}

/// Parses the payload of an `RTM_NEWROUTE`/`RTM_DELROUTE`.
pub fn parse_route(payload: &[u8]) -> Result<KernelRoute, WireError> {
    let mut r = KernelRoute::default();
    parse_route_into(payload, &mut r)?;
    Ok(r)
}

/// As [`parse_route`], reusing `out` (and its next-hop allocation): dumps of a million
/// routes then parse without allocating.
pub fn parse_route_into(payload: &[u8], out: &mut KernelRoute) -> Result<(), WireError> {
    let family = rd_u8(payload, 0)?;
    let dst_len = rd_u8(payload, 1)?;
    let mut table = rd_u8(payload, 4)? as u32;
    let protocol = rd_u8(payload, 5)?;
    let scope = rd_u8(payload, 6)?;
    let rtype = rd_u8(payload, 7)?;
    let flags = rd_u32(payload, 8)?;
    let body = payload.get(RTMSG_LEN..).ok_or(WireError::Truncated)?;
    let mut dst: Option<IpAddr> = None;
    let mut metric = 0u32;
    let mut gw = None;
    let mut oif = 0u32;
    let mut nexthops = std::mem::take(&mut out.nexthops);
    nexthops.clear();
    let mut multipath = false;
    let mut nh_id = 0;
    for a in attrs(body) {
        let (kind, data) = a?;
        match kind {
            RTA_DST => dst = Some(ip_from(family, data, kind)?),
            RTA_PRIORITY => metric = rd_u32(data, 0)?,
            RTA_TABLE => table = rd_u32(data, 0)?,
            RTA_OIF => oif = rd_u32(data, 0)?,
            RTA_GATEWAY => gw = Some(ip_from(family, data, kind)?),
            RTA_VIA => gw = Some(via_from(data)?),
            nexthop::RTA_NH_ID => nh_id = rd_u32(data, 0)?,
            RTA_MULTIPATH => {
                multipath = true;
                let mut rest = data;
                while rest.len() >= 8 {
                    let len = rd_u16(rest, 0)? as usize;
                    if len < 8 || len > rest.len() {
                        return Err(WireError::BadAttribute(RTA_MULTIPATH));
                    }
                    let nh_flags = rd_u8(rest, 2)?;
                    let hops = rd_u8(rest, 3)?;
                    let ifindex = rd_u32(rest, 4)?;
                    let mut ngw = None;
                    for na in attrs(rest.get(8..len).ok_or(WireError::Truncated)?) {
                        let (nk, nd) = na?;
                        match nk {
                            RTA_GATEWAY => ngw = Some(ip_from(family, nd, nk)?),
                            RTA_VIA => ngw = Some(via_from(nd)?),
                            _ => {}
                        }
                    }
                    nexthops.push(KernelNextHop {
                        gateway: ngw,
                        ifindex,
                        onlink: nh_flags & RTNH_F_ONLINK != 0,
                        weight: hops as u16 + 1,
                    });
                    rest = rest.get(align4(len).min(rest.len())..).unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }
    let prefix = match (family, dst) {
        (AF_INET, None) => IpNet::V4(
            Ipv4Net::new(Ipv4Addr::UNSPECIFIED, dst_len)
                .map_err(|_| WireError::BadPrefixLen(dst_len))?,
        ),
        (AF_INET6, None) => IpNet::V6(
            Ipv6Net::new(Ipv6Addr::UNSPECIFIED, dst_len)
                .map_err(|_| WireError::BadPrefixLen(dst_len))?,
        ),
        (AF_INET, Some(IpAddr::V4(a))) => {
            IpNet::V4(Ipv4Net::new(a, dst_len).map_err(|_| WireError::BadPrefixLen(dst_len))?)
        }
        (AF_INET6, Some(IpAddr::V6(a))) => {
            IpNet::V6(Ipv6Net::new(a, dst_len).map_err(|_| WireError::BadPrefixLen(dst_len))?)
        }
        _ => return Err(WireError::BadFamily(family)),
    };
    if !multipath && (gw.is_some() || oif != 0) {
        nexthops.push(KernelNextHop {
            gateway: gw,
            ifindex: oif,
            onlink: flags & RTNH_F_ONLINK as u32 != 0,
            weight: 1,
        });
    }
    *out = KernelRoute {
        table,
        prefix,
        metric,
        protocol,
        scope,
        rtype,
        flags,
        nexthops,
        multipath,
        nh_id,
    };
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Links and addresses (decoded with netlink-packet-route)

/// An interface as reported by `RTM_NEWLINK`/`RTM_DELLINK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLink {
    pub index: u32,
    pub name: String,
    /// Administratively up and with carrier (`IFF_UP` and `IFF_RUNNING`).
    pub up: bool,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
}

pub fn parse_link(payload: &[u8]) -> Result<KernelLink, WireError> {
    let msg = LinkMessage::parse(payload).map_err(|_| WireError::Decode)?;
    let name = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let f = msg.header.flags;
    Ok(KernelLink {
        index: msg.header.index,
        name,
        up: f.contains(LinkFlags::Up) && f.contains(LinkFlags::Running),
        admin_up: f.contains(LinkFlags::Up),
    })
}

/// A local address as reported by `RTM_NEWADDR`/`RTM_DELADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAddress {
    pub ifindex: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl KernelAddress {
    /// The on-link subnet of the address (network address and prefix length).
    pub fn subnet(&self) -> Option<IpNet> {
        IpNet::new(self.address, self.prefix_len)
            .ok()
            .map(|n| n.trunc())
    }
}

pub fn parse_address(payload: &[u8]) -> Result<KernelAddress, WireError> {
    let msg = AddressMessage::parse(payload).map_err(|_| WireError::Decode)?;
    // IFA_LOCAL is the local address on point-to-point links, IFA_ADDRESS otherwise.
    let mut address = None;
    for a in &msg.attributes {
        match a {
            AddressAttribute::Local(ip) => address = Some(*ip),
            AddressAttribute::Address(ip) if address.is_none() => address = Some(*ip),
            _ => {}
        }
    }
    let address = address.ok_or(WireError::Decode)?;
    Ok(KernelAddress {
        ifindex: msg.header.index,
        address,
        prefix_len: msg.header.prefix_len,
    })
}

pub mod nexthop;
pub use nexthop::{
    encode_delnexthop, encode_newnexthop, parse_nexthop, KernelNexthop, WireNexthop,
    RTM_DELNEXTHOP, RTM_NEWNEXTHOP,
};

#[cfg(test)]
mod tests;
