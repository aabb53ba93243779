//! What an export filter sees of a route, BIRD 1.6 against bgpd reading the same `bird.cfg`:
//! the filter towards an eBGP neighbor tags the route with communities according to what it
//! reads of `bgp_path` and `bgp_next_hop` (stored, or after the protocol's own rewrite: our AS
//! prepended, next hop self). Node a runs the file, first as BIRD 1.6, then as bgpd; p (BIRD 2,
//! eBGP) records the communities and next hops it receives; q (BIRD 2, iBGP) supplies a learned
//! route. Both runs must give p the same.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bgpd_lab::bird::{Bird, BirdVersion};
use bgpd_lab::{wait_observing, Lab, Observed};
use common::{start_bird_cfg, wait_all_established};

const A_CFG: &str = r#"router id 172.31.0.12;
filter probe {
  if defined(bgp_path) then {
    bgp_community.add((1,1));
    if bgp_path.len = 1 then bgp_community.add((1,2));
  }
  if defined(bgp_next_hop) then {
    bgp_community.add((2,1));
    if bgp_next_hop = 172.31.0.12 then bgp_community.add((2,2));
  }
  accept;
}
protocol device { scan time 2; }
protocol static { route 10.55.0.0/24 blackhole; }
protocol bgp P {
  local as 64512;
  neighbor 172.31.0.11 as 65001;
  source address 172.31.0.12;
  import all;
  export filter probe;
}
protocol bgp Q {
  local as 64512;
  neighbor 172.31.0.13 as 64512;
  source address 172.31.0.12;
  import all;
  export none;
}
"#;

const P_CFG: &str = r#"router id 172.31.0.11;
protocol device { scan time 2; }
protocol bgp a {
  local 172.31.0.11 as 65001;
  neighbor 172.31.0.12 as 64512;
  ipv4 { import all; export none; };
}
"#;

const Q_CFG: &str = r#"router id 172.31.0.13;
protocol device { scan time 2; }
protocol static { ipv4; route 10.56.0.0/24 blackhole; }
protocol bgp a {
  local 172.31.0.13 as 64512;
  neighbor 172.31.0.12 as 64512;
  ipv4 { import all; export all; };
}
"#;

/// prefix -> (communities, next hop, AS path) as p has them.
type Seen = BTreeMap<String, (String, String, String)>;

fn seen_by_p(p: &Bird) -> Seen {
    let mut out = Seen::new();
    wait_observing(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "p has both routes from a",
        || {
            let r = p.ctl.routes("all")?;
            out = r
                .iter()
                .filter(|x| x.prefix == "10.55.0.0/24" || x.prefix == "10.56.0.0/24")
                .map(|x| {
                    (
                        x.prefix.clone(),
                        (
                            x.attr("community").unwrap_or("").to_string(),
                            x.attr("next_hop").unwrap_or("").to_string(),
                            x.attr("as_path").unwrap_or("").to_string(),
                        ),
                    )
                })
                .collect();
            Ok(Observed::when(out.len() == 2, format!("{out:?}")))
        },
    )
    .unwrap();
    out
}

#[test]
fn export_filter_sees_what_bird16_shows_it() {
    let mut lab = Lab::new("bgpd_bird_export_order").unwrap();
    let lan = lab.lan().unwrap();
    let p = lab.node("p", &[(&lan, 11)], None).unwrap();
    let a = lab.node("a", &[(&lan, 12)], None).unwrap();
    let q = lab.node("q", &[(&lan, 13)], None).unwrap();
    let bird_p = Bird::start(BirdVersion::V2, &p, P_CFG).unwrap();
    let _bird_q = Bird::start(BirdVersion::V2, &q, Q_CFG).unwrap();

    let mut bird_a = Bird::start(BirdVersion::V16, &a, A_CFG).unwrap();
    let want = seen_by_p(&bird_p);
    bird_a.stop(libc::SIGTERM).unwrap();
    wait_observing(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "p forgets a's routes",
        || {
            let n = bird_p.ctl.routes("")?.len();
            Ok(Observed::when(n == 0, format!("{n} routes")))
        },
    )
    .unwrap();

    std::fs::write(a.path("bird.cfg"), A_CFG).unwrap();
    let _bgpd = start_bird_cfg(&a);
    wait_all_established(&a, 2, 60);
    let got = seen_by_p(&bird_p);
    assert_eq!(got, want, "bgpd (left) and BIRD 1.6 (right) differ");
}
