//! A peer that only speaks 2-octet AS numbers (RFC 6793): BIRD 2 with `enable as4 off`
//! ("old", AS 65002) between bgpd (AS 65001) and a BIRD 2 with a 4-octet AS ("far",
//! 4200000009); a second BIRD 2 with a 4-octet AS ("near", 4200000007) peers with bgpd. Both
//! ways the 4-octet ASes cross the old speaker as AS_TRANS in AS_PATH plus AS4_PATH and come
//! out merged: bgpd shows `65002 4200000009` for far's route (and passes it to near in
//! 4-octet form); the old and far BIRDs show `... 65001 4200000007` for near's route, which
//! bgpd sent to the old speaker as AS_TRANS plus AS4_PATH.

use super::*;

const BGPD_AS: u32 = 65001;
const OLD_AS: u32 = 65002;
const NEAR_AS: u32 = 4_200_000_007;
const FAR_AS: u32 = 4_200_000_009;

/// BIRD's `BGP.as_path` of its best route to `prefix` (empty when it has none).
fn bird_path(bird: &bgpd_lab::Bird, prefix: &str) -> bgpd_lab::Result<String> {
    Ok(bird
        .ctl
        .routes(prefix)?
        .iter()
        .find(|r| r.primary)
        .and_then(|r| r.attrs.get("as_path").cloned())
        .unwrap_or_default())
}

fn wait_bird_path(bird: &bgpd_lab::Bird, who: &str, prefix: &str, want: &str) {
    wait_observing(
        CONVERGE,
        POLL,
        &format!("{who}: {prefix} path {want}"),
        || {
            let p = bird_path(bird, prefix)?;
            Ok(Observed::when(p == want, p))
        },
    )
    .unwrap();
}

#[test]
fn bgpd_through_a_two_octet_as_peer() {
    let test = "bgpd_through_a_two_octet_as_peer";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nd = lab.node("bgpd", &[(&lan, 10)], None).unwrap();
    let no = lab.node("old", &[(&lan, 11)], None).unwrap();
    let nf = lab.node("far", &[(&lan, 12)], None).unwrap();
    let nn = lab.node("near", &[(&lan, 13)], None).unwrap();

    let mut cf = Bird2Config::new(&nf, FAR_AS);
    cf.statics.push("10.61.0.0/24 blackhole".into());
    cf.peers.push(Bird2Peer::new("old", no.ip4(), OLD_AS));
    let far = cf.start(&nf).unwrap();

    let mut co = Bird2Config::new(&no, OLD_AS);
    co.peers.push(Bird2Peer::new("far", nf.ip4(), FAR_AS));
    let mut p = Bird2Peer::new("bgpd", nd.ip4(), BGPD_AS);
    p.extra = "  enable as4 off;\n".into();
    co.peers.push(p);
    let old = co.start(&no).unwrap();

    let mut cn = Bird2Config::new(&nn, NEAR_AS);
    cn.statics.push("10.63.0.0/24 blackhole".into());
    cn.peers.push(Bird2Peer::new("bgpd", nd.ip4(), BGPD_AS));
    let near = cn.start(&nn).unwrap();

    let mut cd = bgpd_config(&nd, BGPD_AS);
    cd.kernel_enabled = false;
    cd.peers.push(BgpdPeer::new("old", no.ip4(), OLD_AS));
    cd.peers.push(BgpdPeer::new("near", nn.ip4(), NEAR_AS));
    let bgpd = cd.start(&nd).unwrap();

    wait_sessions(&old, 2, CONVERGE).unwrap();
    wait_sessions(&bgpd, 2, CONVERGE).unwrap();
    // The session with the old speaker runs without the 4-octet AS capability, the one with
    // near with it.
    let v: serde_json::Value =
        serde_json::from_str(&bgpd.cli(&["show", "protocols", "all", "--json"]).unwrap()).unwrap();
    let flags = |name: &str| -> Vec<String> {
        v["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["bgp"]["session_flags"].clone())
            .and_then(|f| serde_json::from_value(f).ok())
            .unwrap_or_default()
    };
    assert!(
        !flags("old").contains(&"AS4".to_string()),
        "{:?}",
        flags("old")
    );
    assert!(
        flags("near").contains(&"AS4".to_string()),
        "{:?}",
        flags("near")
    );
    // From the old speaker: AS_PATH (65002 23456) merged with AS4_PATH (4200000009).
    wait_observing(
        CONVERGE,
        POLL,
        "bgpd: 10.61.0.0/24 with the merged path",
        || {
            let rs = bgpd.route("10.61.0.0/24").unwrap_or_default();
            let path = rs
                .iter()
                .find(|r| r.primary)
                .and_then(|r| r.bgp.as_ref().map(|b| b.as_path.clone()));
            Ok(Observed::when(
                path.as_deref() == Some(&*format!("{OLD_AS} {FAR_AS}")),
                format!("{rs:?}"),
            ))
        },
    )
    .unwrap();
    wait_bird_path(
        &near,
        "near",
        "10.61.0.0/24",
        &format!("{BGPD_AS} {OLD_AS} {FAR_AS}"),
    );
    // To the old speaker: bgpd sends AS_TRANS for 4200000007 plus AS4_PATH; both BIRDs
    // behind it see the 4-octet AS.
    wait_bird_path(&old, "old", "10.63.0.0/24", &format!("{BGPD_AS} {NEAR_AS}"));
    wait_bird_path(
        &far,
        "far",
        "10.63.0.0/24",
        &format!("{OLD_AS} {BGPD_AS} {NEAR_AS}"),
    );
    report(test, start);
}
