//! `show route` and `show fib` text for ECMP and IP-in-IP tunnel routes, against a live `bgpd`
//! (root, network namespaces). Two raw eBGP speakers of one AS announce the same prefix with
//! equal paths, and one announces a block of an IP-in-IP (`ipip = "always"`) pool:
//! * the kernel holds the ECMP route with both next hops, and the block `via NH dev tunl0
//!   onlink`;
//! * `show route` prints them as BIRD 1.6 does (`rt_show_net`): one line per path, the prefix
//!   on the first line of the network only (the best path, `*`), the other path's line with
//!   the prefix column blank; the tunnel route `via NH on eth0` (BIRD's `gateway recursive`
//!   view, not the kernel's `dev tunl0`);
//! * `show fib` prints the kernel's forms: `multipath` for the ECMP route (then one `via NH on
//!   IFACE` line per next hop), `via NH on tunl0 onlink` for the block.

mod common;

use std::net::Ipv4Addr;

use bgpd_lab::{Family, Lab};
use common::raw::{asn4, attr, config, peer, update, RawPeer, D_AS};
use common::{start, wait_kernel};
use regex::Regex;

const B_AS: u32 = 65002;

/// `bgpd -s SOCK ARGS` (text), the reply's lines without their `NNNN-` / ` ` prefixes.
fn text(n: &bgpd_lab::NodeNet, args: &[&str]) -> Vec<String> {
    let out = common::cli(n, args).unwrap();
    out.lines().map(String::from).collect()
}

#[test]
fn show_route_and_fib_text_for_ecmp_and_tunnel_routes() {
    let mut lab = Lab::new("bgpd_show_route_live").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab
        .node("a", &[(&lan, 11)], Some(Ipv4Addr::new(10, 244, 1, 1)))
        .unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let c = lab.node("c", &[(&lan, 13)], None).unwrap();
    let pools = "[[pools]]\ncidr = \"10.244.0.0/16\"\nipip = \"always\"\n";
    let _p = start(
        &a,
        &format!(
            "{}{pools}",
            config(
                &a,
                &[peer("b", b.ip4(), B_AS, ""), peer("c", c.ip4(), B_AS, "")]
            )
        ),
        0,
    );
    let mut pb = RawPeer::connect(&b, a.ip4(), D_AS, B_AS, true, 30);
    let mut pc = RawPeer::connect(&c, a.ip4(), D_AS, B_AS, true, 30);
    common::wait_all_established(&a, 2, 30);
    let path = attr(0x40, 2, &[&[2u8, 1][..], &asn4(B_AS)].concat());
    let attrs = |nh: Ipv4Addr| {
        [
            &attr(0x40, 1, &[0])[..],
            &path,
            &attr(0x40, 3, &nh.octets()),
        ]
        .concat()
    };
    pb.send(&update(&[], &attrs(b.ip4()), &[24, 10, 3, 0]));
    pc.send(&update(&[], &attrs(c.ip4()), &[24, 10, 3, 0]));
    pb.send(&update(&[], &attrs(b.ip4()), &[26, 10, 244, 5, 0]));
    let (b4, c4) = (b.ip4().to_string(), c.ip4().to_string());
    wait_kernel(
        &a,
        Family::V4,
        30,
        "ECMP over b and c, the block through tunl0",
        |k| {
            let ecmp = k.iter().any(|r| {
                let mut h = r.hops();
                h.sort();
                r.dst == "10.3.0.0/24"
                    && h == vec![
                        (Some(b4.as_str()), Some("eth0")),
                        (Some(c4.as_str()), Some("eth0")),
                    ]
            });
            ecmp && k
                .iter()
                .any(|r| r.dst == "10.244.5.0/26" && r.is_via(&b4, "tunl0", true))
        },
    );

    let lines = text(&a, &["show", "route"]);
    let since = r"[^\]]+";
    let esc = |s: &str| regex::escape(s);
    let bgp = |gw: &str, proto: &str, star: &str| {
        format!(
            r" via {} on eth0 \[{proto} {since}\]{star} \(100(/\d+)?\) \[AS{B_AS}i\]$",
            esc(gw)
        )
    };
    // The ECMP network: the best path with the prefix, then the other with a blank prefix.
    let first = lines
        .iter()
        .position(|l| l.starts_with("10.3.0.0/24 "))
        .unwrap_or_else(|| panic!("no 10.3.0.0/24 line:\n{}", lines.join("\n")));
    let (best, other) = if lines[first].contains(&format!("via {b4} ")) {
        ((&b4, "b"), (&c4, "c"))
    } else {
        ((&c4, "c"), (&b4, "b"))
    };
    let re1 = Regex::new(&format!(
        r"^10\.3\.0\.0/24\s+{}",
        bgp(best.0, best.1, r" \*")
    ))
    .unwrap();
    let re2 = Regex::new(&format!(r"^ {{18}}{}", bgp(other.0, other.1, ""))).unwrap();
    assert!(re1.is_match(&lines[first]), "{re1}\n{}", lines.join("\n"));
    assert!(
        lines.get(first + 1).is_some_and(|l| re2.is_match(l)),
        "{re2}\n{}",
        lines.join("\n")
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("10.3.0.0/24")).count(),
        1,
        "the prefix once per network:\n{}",
        lines.join("\n")
    );
    // The tunnel route, as BIRD shows it: via the node on the shared interface.
    let re = Regex::new(&format!(r"^10\.244\.5\.0/26\s+{}", bgp(&b4, "b", r" \*"))).unwrap();
    assert!(
        lines.iter().any(|l| re.is_match(l)),
        "{re}\n{}",
        lines.join("\n")
    );
    // `show route PREFIX all`: the same two paths, the attribute lines after each.
    let all = text(&a, &["show", "route", "10.3.0.0/24", "all"]);
    assert_eq!(
        all.iter().filter(|l| l.contains("10.3.0.0/24")).count(),
        1,
        "{all:?}"
    );
    assert_eq!(
        all.iter()
            .filter(|l| l.contains("BGP.as_path: 65002"))
            .count(),
        2,
        "{all:?}"
    );

    // show fib: the kernel's forms.
    let fib = text(&a, &["show", "fib"]);
    let row = |p: &str| {
        fib.iter()
            .find(|l| l.starts_with(p))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        Regex::new(r"^10\.3\.0\.0/24\s+multipath\s+254\s+32\s+installed$")
            .unwrap()
            .is_match(&row("10.3.0.0/24 ")),
        "{fib:?}"
    );
    let at = fib
        .iter()
        .position(|l| l.starts_with("10.3.0.0/24 "))
        .unwrap();
    let mut hops = vec![fib[at + 1].clone(), fib[at + 2].clone()];
    hops.sort();
    assert_eq!(
        hops,
        [format!("\tvia {b4} on eth0"), format!("\tvia {c4} on eth0")],
        "{fib:?}"
    );
    assert!(
        Regex::new(&format!(
            r"^10\.244\.5\.0/26\s+via {} on tunl0 onlink\s+254\s+32\s+installed$",
            esc(&b4)
        ))
        .unwrap()
        .is_match(&row("10.244.5.0/26 ")),
        "{fib:?}"
    );
}
