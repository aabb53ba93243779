//! Next hop "self" is our address on the session (root, network namespaces): a daemon whose
//! router ID is not an address of the host (nor configured with a `source_address`) announces
//! its routes to an eBGP speaker with the connection's local address as NEXT_HOP, as BIRD
//! does, and keeps it across a reload that changes only the peer's policy.

mod common;

use bgpd_lab::Lab;
use common::raw::{peer, RawPeer, D_AS};
use common::start;

const SP_AS: u32 = 65020;

/// The daemon's configuration; `export` is the speaker's export policy, if any.
fn config(d: &bgpd_lab::NodeNet, sp: std::net::Ipv4Addr, export: Option<&str>) -> String {
    let extra = export.map_or(String::new(), |e| format!("export = \"{e}\""));
    format!(
        "router_id = \"10.255.0.1\"\nasn = {D_AS}\n[listen]\naddresses = [\"{ip}\"]\n\
         [kernel]\nprotocol = \"bird\"\n\
         [[static]]\nprefix = \"10.77.0.0/24\"\nblackhole = true\n\
         [[static]]\nprefix = \"10.78.0.0/24\"\nblackhole = true\n{more}\
         [[policies]]\nname = \"not77\"\ndefault = \"accept\"\n\
         [[policies.terms]]\nmatch = {{ prefix = [\"10.77.0.0/24\"] }}\nverdict = \"reject\"\n{}",
        peer("sp", sp, SP_AS, &extra),
        ip = d.ip4(),
        // The reload also adds a route: it is announced after the reload, with the address.
        more = if export.is_some() {
            "[[static]]\nprefix = \"10.79.0.0/24\"\nblackhole = true\n"
        } else {
            ""
        },
    )
}

#[test]
fn next_hop_self_is_the_connections_local_address_not_the_router_id() {
    let mut lab = Lab::new("bgpd_nh_self").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let sp = lab.node("sp", &[(&lan, 12)], None).unwrap();
    let mut p = start(&d, &config(&d, sp.ip4(), None), 0);
    let speaker = RawPeer::connect(&sp, d.ip4(), D_AS, SP_AS, true, 30);
    let a = speaker.wait_route("10.77.0.0/24", 30);
    assert_eq!(a.next_hop, Some(d.ip4()), "{a:?}");

    // A reload that changes only the peer's export policy keeps the session and the address.
    let cfg = config(&d, sp.ip4(), Some("not77"));
    std::fs::write(d.path("bgpd.toml"), cfg).unwrap();
    p.signal(libc::SIGHUP).unwrap();
    bgpd_lab::wait_until(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(100),
        "10.77.0.0/24 withdrawn by the new export policy",
        || Ok(speaker.route("10.77.0.0/24").is_none()),
    )
    .unwrap();
    let b = speaker.wait_route("10.79.0.0/24", 30);
    assert_eq!(b.next_hop, Some(d.ip4()), "{b:?}");
    let c = speaker.wait_route("10.78.0.0/24", 30);
    assert_eq!(c.next_hop, Some(d.ip4()), "{c:?}");
}
