use super::*;

/// Builds a message from its header fields and the body bytes strace printed.
fn msg(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(body);
    v
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

// Captured with `strace -xx -e trace=sendmsg` from iproute2 6.1:
// ip route add table 1000 10.1.0.0/24 metric 10 via 192.168.0.1 dev tunl0 onlink proto bird
// (tunl0 had ifindex 3).
const IP_ADD_ONLINK: &[u8] = b"\x02\x18\x00\x00\x00\x0c\x00\x01\x04\x00\x00\x00\x08\x00\x0f\x00\xe8\x03\x00\x00\x08\x00\x01\x00\x0a\x01\x00\x00\x08\x00\x06\x00\x0a\x00\x00\x00\x08\x00\x05\x00\xc0\xa8\x00\x01\x08\x00\x04\x00\x03\x00\x00\x00";
// ip route add table 1000 blackhole 10.2.0.0/26 metric 0 proto bird
const IP_ADD_BLACKHOLE: &[u8] = b"\x02\x1a\x00\x00\x00\x0c\x00\x06\x00\x00\x00\x00\x08\x00\x0f\x00\xe8\x03\x00\x00\x08\x00\x01\x00\x0a\x02\x00\x00\x08\x00\x06\x00\x00\x00\x00\x00";
// ip -6 route replace table 1000 2001:db8::/64 metric 5 proto bird
//   nexthop via fe80::1 dev tunl0 weight 1 onlink nexthop via fe80::2 dev p0 weight 3
const IP_REPLACE_V6_ECMP: &[u8] = b"\x0a\x40\x00\x00\x00\x0c\x00\x01\x00\x00\x00\x00\x08\x00\x0f\x00\xe8\x03\x00\x00\x14\x00\x01\x00\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x06\x00\x05\x00\x00\x00\x3c\x00\x09\x00\x1c\x00\x04\x00\x03\x00\x00\x00\x14\x00\x05\x00\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1c\x00\x00\x02\x02\x00\x00\x00\x14\x00\x05\x00\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02";
// ip route del table 1000 10.1.0.0/24 metric 10 proto bird
const IP_DEL: &[u8] = b"\x02\x18\x00\x00\x00\x0c\xff\x00\x00\x00\x00\x00\x08\x00\x0f\x00\xe8\x03\x00\x00\x08\x00\x01\x00\x0a\x01\x00\x00\x08\x00\x06\x00\x0a\x00\x00\x00";

const SEQ: u32 = 1795306395;

#[test]
fn onlink_add_is_byte_exact_with_iproute2() {
    let mut b = Vec::new();
    let nh = [WireNextHop {
        gateway: "192.168.0.1".parse().unwrap(),
        ifindex: 3,
        onlink: true,
        weight: 1,
    }];
    encode_newroute(
        &mut b,
        SEQ,
        true,
        false,
        12,
        1000,
        &net("10.1.0.0/24"),
        10,
        WireTarget::Unicast(&nh),
    );
    assert_eq!(b, msg(RTM_NEWROUTE, 0x605, SEQ, IP_ADD_ONLINK));
    // and it reads back as the same route
    let (_, payload) = Messages::new(&b).next().unwrap().unwrap();
    let r = parse_route(payload).unwrap();
    assert_eq!(r.table, 1000);
    assert_eq!(r.prefix, net("10.1.0.0/24"));
    assert_eq!(r.metric, 10);
    assert_eq!(r.protocol, 12);
    assert_eq!(r.rtype, RTN_UNICAST);
    assert_eq!(
        r.nexthops,
        vec![KernelNextHop {
            gateway: Some("192.168.0.1".parse().unwrap()),
            ifindex: 3,
            onlink: true,
            weight: 1
        }]
    );
}

#[test]
fn blackhole_add_is_byte_exact_with_iproute2() {
    let mut b = Vec::new();
    encode_newroute(
        &mut b,
        SEQ,
        true,
        false,
        12,
        1000,
        &net("10.2.0.0/26"),
        0,
        WireTarget::Blackhole,
    );
    assert_eq!(b, msg(RTM_NEWROUTE, 0x605, SEQ, IP_ADD_BLACKHOLE));
}

#[test]
fn ipv6_ecmp_replace_is_byte_exact_with_iproute2() {
    let nhs = [
        WireNextHop {
            gateway: "fe80::1".parse().unwrap(),
            ifindex: 3,
            onlink: true,
            weight: 1,
        },
        WireNextHop {
            gateway: "fe80::2".parse().unwrap(),
            ifindex: 2,
            onlink: false,
            weight: 3,
        },
    ];
    let mut b = Vec::new();
    encode_newroute(
        &mut b,
        SEQ + 3,
        true,
        true,
        12,
        1000,
        &net("2001:db8::/64"),
        5,
        WireTarget::Unicast(&nhs),
    );
    assert_eq!(b, msg(RTM_NEWROUTE, 0x505, SEQ + 3, IP_REPLACE_V6_ECMP));
    let (_, payload) = Messages::new(&b).next().unwrap().unwrap();
    let r = parse_route(payload).unwrap();
    assert!(r.multipath);
    assert_eq!(r.nexthops.len(), 2);
    assert_eq!(r.nexthops[1].weight, 3);
    assert!(r.nexthops[0].onlink && !r.nexthops[1].onlink);
}

#[test]
fn delete_is_byte_exact_with_iproute2() {
    let mut b = Vec::new();
    encode_delroute(
        &mut b,
        SEQ,
        true,
        12,
        1000,
        &net("10.1.0.0/24"),
        10,
        RTN_UNSPEC,
    );
    assert_eq!(b, msg(RTM_DELROUTE, 0x5, SEQ, IP_DEL));
}

#[test]
fn small_table_sets_rtm_table_too() {
    let mut b = Vec::new();
    encode_newroute(
        &mut b,
        1,
        false,
        false,
        12,
        254,
        &net("10.0.0.0/8"),
        0,
        WireTarget::Prohibit,
    );
    assert_eq!(b[16 + 4], 254);
    assert_eq!(b[16 + 7], RTN_PROHIBIT);
    let r = parse_route(&b[16..]).unwrap();
    assert_eq!((r.table, r.rtype), (254, RTN_PROHIBIT));
}

#[test]
fn ipv4_via_ipv6_uses_rta_via() {
    let nh = [WireNextHop {
        gateway: "fe80::1".parse().unwrap(),
        ifindex: 2,
        onlink: false,
        weight: 1,
    }];
    let mut b = Vec::new();
    encode_newroute(
        &mut b,
        1,
        false,
        false,
        12,
        254,
        &net("10.0.0.0/8"),
        0,
        WireTarget::Unicast(&nh),
    );
    let r = parse_route(&b[16..]).unwrap();
    assert_eq!(r.nexthops[0].gateway, Some("fe80::1".parse().unwrap()));
}

#[test]
fn ack_and_error_parse() {
    let mut body = Vec::new();
    body.extend_from_slice(&(-libc::EEXIST).to_ne_bytes());
    body.extend_from_slice(&[0u8; 16]);
    let m = msg(NLMSG_ERROR, 0x100, 7, &body);
    let (h, p) = Messages::new(&m).next().unwrap().unwrap();
    assert_eq!((h.kind, h.seq), (NLMSG_ERROR, 7));
    assert_eq!(parse_error(p).unwrap(), libc::EEXIST);
}

#[test]
fn garbage_never_panics() {
    // Truncations and bit flips of a valid message must only yield errors.
    let mut b = Vec::new();
    encode_newroute(
        &mut b,
        1,
        true,
        true,
        12,
        1000,
        &net("2001:db8::/64"),
        5,
        WireTarget::Blackhole,
    );
    let mut m = msg(RTM_NEWROUTE, 0, 1, IP_REPLACE_V6_ECMP);
    m.extend_from_slice(&b);
    for cut in 0..m.len() {
        for r in Messages::new(&m[..cut]).flatten() {
            let _ = parse_route(r.1);
        }
    }
    let mut x: u32 = 12345;
    for _ in 0..20000 {
        let mut c = m.clone();
        for _ in 0..4 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let i = (x as usize >> 8) % c.len();
            c[i] = (x >> 24) as u8;
        }
        for r in Messages::new(&c).flatten() {
            let _ = parse_route(r.1);
            let _ = parse_link(r.1);
            let _ = parse_address(r.1);
            let _ = parse_error(r.1);
        }
    }
}
