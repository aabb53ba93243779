//! Daemons under test: their configs for each shape, and starting them.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgpd_lab::Process;
use bgpd_lab::{cmd, Bgpd, Bird, BirdVersion, Frr, Gobgp, GobgpConfig, GobgpNeighbor, NodeNet};

use super::{err, src_addr, Daemon, Kind, DUT_ADDR, DUT_AS, EBGP_AS, R};

pub(crate) enum Dut {
    Bird(Bird),
    Frr(Frr),
    Gobgp(Gobgp),
    Bgpd {
        process: Process,
        node: NodeNet,
        binary: PathBuf,
        socket: PathBuf,
    },
}

/// How BIRD 2 takes the RR shape's clients: `neighbor range` (dynamic BGP, as bgpd, FRR and
/// GoBGP take them; the default) or, with `CONVERGE_BIRD2_RR=protocols`, one protocol per client
/// (as BIRD 1.6, which has no ranges, always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bird2Rr {
    Range,
    Protocols,
}

impl Bird2Rr {
    pub(crate) fn from_env() -> R<Bird2Rr> {
        Bird2Rr::parse(std::env::var("CONVERGE_BIRD2_RR").ok().as_deref())
    }
    fn parse(v: Option<&str>) -> R<Bird2Rr> {
        match v {
            None | Some("") | Some("range") => Ok(Bird2Rr::Range),
            Some("protocols") => Ok(Bird2Rr::Protocols),
            Some(o) => err(format!("CONVERGE_BIRD2_RR={o}: `range` or `protocols`")),
        }
    }
    /// Its name in the report's rows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bird2Rr::Range => "range",
            Bird2Rr::Protocols => "protocols",
        }
    }
}

pub(crate) fn bird_config(
    v2: bool,
    kind: Kind,
    node: &NodeNet,
    kernel: bool,
    rr2: Bird2Rr,
) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "log \"{}\" {{ warning, error, fatal }};\nrouter id {DUT_ADDR};\nprotocol device {{ scan time 10; }}",
        node.path("bird.log").display()
    );
    let (imp, exp) = if kind.rr() {
        ("all", "all")
    } else {
        ("all", "none")
    };
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    if v2 {
        if kernel {
            let _ = writeln!(
                c,
                "protocol kernel k4 {{ scan time 60; ipv4 {{ import none; export all; }}; }}"
            );
        }
        let _ = writeln!(c, "template bgp inj {{\n  local {DUT_ADDR} as {DUT_AS};\n  hold time 90; keepalive time 30;\n  passive on;\n  direct;\n  ipv4 {{ import {imp}; export {exp}; }};");
        if kind.rr() {
            let _ = writeln!(c, "  rr client; rr cluster id 1.1.1.1;");
        }
        let _ = writeln!(c, "}}");
        if kind.rr() && rr2 == Bird2Rr::Range {
            let _ = writeln!(
                c,
                "protocol bgp clients from inj {{ neighbor range 100.64.0.0/22 internal; }}"
            );
        } else {
            for i in 0..kind.sessions() {
                let _ = writeln!(
                    c,
                    "protocol bgp p{i} from inj {{ neighbor {} as {peer_as}; }}",
                    src_addr(i)
                );
            }
        }
    } else {
        if kernel {
            let _ = writeln!(c, "protocol kernel {{ scan time 60; export all; }}");
        }
        let _ = writeln!(c, "template bgp inj {{\n  local {DUT_ADDR} as {DUT_AS};\n  hold time 90; keepalive time 30;\n  passive on;\n  import {imp}; export {exp};");
        if kind.rr() {
            let _ = writeln!(c, "  rr client; rr cluster id 1.1.1.1;");
        }
        let _ = writeln!(c, "}}");
        for i in 0..kind.sessions() {
            let _ = writeln!(
                c,
                "protocol bgp p{i} from inj {{ neighbor {} as {peer_as}; }}",
                src_addr(i)
            );
        }
    }
    c
}

pub(crate) fn frr_config(kind: Kind) -> String {
    let mut c = String::new();
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    let _ = writeln!(c, "frr defaults traditional\nhostname dut\n!\nrouter bgp {DUT_AS}\n bgp router-id {DUT_ADDR}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check");
    if kind.rr() {
        let _ = writeln!(c, " bgp cluster-id 1.1.1.1\n bgp listen limit 5000\n neighbor clients peer-group\n neighbor clients remote-as {DUT_AS}\n neighbor clients timers 30 90\n bgp listen range 100.64.0.0/22 peer-group clients\n address-family ipv4 unicast\n  neighbor clients activate\n  neighbor clients route-reflector-client\n exit-address-family");
    } else {
        // Export nothing (as BIRD's `export none`): the shapes measure receive → RIB → FIB.
        let _ = writeln!(c, " neighbor inj peer-group\n neighbor inj remote-as {peer_as}\n neighbor inj passive\n neighbor inj timers 30 90");
        for i in 0..kind.sessions() {
            let _ = writeln!(c, " neighbor {} peer-group inj", src_addr(i));
        }
        let _ = writeln!(
            c,
            " address-family ipv4 unicast\n  neighbor inj activate\n  neighbor inj route-map NONE out\n exit-address-family\n!\nroute-map NONE deny 10"
        );
    }
    c
}

pub(crate) fn gobgp_config(kind: Kind, node: &NodeNet) -> String {
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    if kind.rr() {
        format!(
            "[global.config]\n  as = {DUT_AS}\n  router-id = \"{DUT_ADDR}\"\n\n[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n    peer-as = {DUT_AS}\n  [peer-groups.timers.config]\n    hold-time = 90\n    keepalive-interval = 30\n  [peer-groups.transport.config]\n    passive-mode = true\n  [peer-groups.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = \"1.1.1.1\"\n  [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\n[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"100.64.0.0/22\"\n    peer-group = \"clients\"\n"
        )
    } else {
        let mut g = GobgpConfig::new(node, DUT_AS);
        g.router_id = DUT_ADDR.parse().unwrap_or(g.router_id);
        g.hold_time = 90;
        for i in 0..kind.sessions() {
            let mut n = GobgpNeighbor::new(src_addr(i), peer_as);
            n.passive = true;
            g.neighbors.push(n);
        }
        // Export nothing (as BIRD's `export none`).
        g.render().replacen(
            "\n\n[[neighbors]]",
            "\n[global.apply-policy.config]\n  default-export-policy = \"reject-route\"\n\n[[neighbors]]",
            1,
        )
    }
}

pub(crate) fn bgpd_config(kind: Kind) -> String {
    // The schema of bgpd/docs/config.md (branch `daemon`): no direct routes (they would count
    // in `show route count`), no graceful restart (the injector does not announce it either),
    // kernel protocol 12 as Calico runs BIRD.
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    let mut c = format!(
        "router_id = \"{DUT_ADDR}\"\nasn = {DUT_AS}\n\n[listen]\naddresses = [\"{DUT_ADDR}\"]\n\n[kernel]\nenabled = {}\nprotocol = 12\npersist = false\n\n[graceful_restart]\nenabled = false\n\n[direct]\ninterfaces = []\n",
        !kind.rr()
    );
    if !kind.rr() {
        // Export nothing (as BIRD's `export none`).
        let _ = writeln!(c, "\n[[policies]]\nname = \"none\"\ndefault = \"reject\"");
    }
    if kind.rr() {
        let _ = writeln!(c, "\n[route_reflector]\ncluster_id = \"1.1.1.1\"\n\n[[peer_ranges]]\nname = \"c\"\nprefix = \"100.64.0.0/22\"\nasn = {DUT_AS}\nrr_client = true\npassive = true\nhold_time = 90\nfamilies = [\"ipv4\"]");
    } else {
        for i in 0..kind.sessions() {
            let _ = writeln!(
                c,
                "\n[[peers]]\nname = \"p{i}\"\naddress = \"{}\"\nasn = {peer_as}\npassive = true\nhold_time = 90\nfamilies = [\"ipv4\"]\nexport = \"none\"",
                src_addr(i)
            );
        }
    }
    c
}

/// bgpd's BIRD-text config for a shape (the BIRD 1.6 dialect confd writes): one passive BGP
/// protocol per injector session, the kernel protocol (`rtm_protocol` 12, BIRD's), no direct
/// routes, no graceful restart, nothing exported to the injector. `calico`: the peers' import
/// filter is Calico's mesh import filter (v3.32) and the kernel export filter is
/// `calico_kernel_programming` for 20 IP pools as confd writes it (`bird_ipam.cfg`): sixteen
/// /8 pools covering the injected routes (10.0.0.0 to 25.255.255.255), even ones CrossSubnet
/// (the injector's next hop is inside the node subnet 100.64.0.0/22, so `krt_tunnel = ""`),
/// odd ones IP-in-IP Always (`krt_tunnel = "tunl0"`), and four /16 pools no route falls in.
/// Otherwise `import all` and kernel `export all`.
pub(crate) fn bgpd_bird_config(kind: Kind, calico: bool) -> String {
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    let mut c = format!(
        "# Generated by converge
router id {DUT_ADDR};

"
    );
    if calico {
        let pools: Vec<String> = (10..26)
            .map(|a| format!("{a}.0.0.0/8"))
            .chain((0..4).map(|b| format!("192.{b}.0.0/16")))
            .collect();
        c.push_str(&bgpd_benches::calico_text::calico_kernel_programming(
            &pools,
            "100.64.0.0/22",
        ));
        c.push('\n');
    }
    let kexp = if calico {
        "filter calico_kernel_programming"
    } else {
        "all"
    };
    if !kind.rr() {
        let _ = writeln!(
            c,
            "protocol kernel {{\n  scan time 60;\n  import none;\n  export {kexp};\n}}\n"
        );
    }
    let _ = writeln!(c, "protocol device {{\n  scan time 10;\n}}\n");
    let import = if calico {
        "filter {\n    if (defined(bgp_local_pref)&&(bgp_local_pref > 2147482623)) then\n      preference = 200;\n    accept;\n  }"
    } else {
        "all"
    };
    for i in 0..kind.sessions() {
        let _ = writeln!(
            c,
            "protocol bgp p{i} {{\n  local {DUT_ADDR} as {DUT_AS};\n  neighbor {} as {peer_as};\n  hold time 90;\n  keepalive time 30;\n  passive on;\n  import {import};\n  export none;\n}}\n",
            src_addr(i)
        );
    }
    c
}

/// Calico's IP-in-IP device, emulated by a veth end named `tunl0` (up) in the node's
/// namespace: the kernel then accepts `via NH dev tunl0 onlink` routes.
fn add_tunl0(node: &NodeNet) -> R<()> {
    cmd::ip(&[
        "-n", &node.ns, "link", "add", "tunl0", "type", "veth", "peer", "name", "tunl0p",
    ])?;
    cmd::ip(&["-n", &node.ns, "link", "set", "tunl0p", "up"])?;
    cmd::ip(&["-n", &node.ns, "link", "set", "tunl0", "up"])?;
    Ok(())
}

pub(crate) fn start_dut(d: Daemon, kind: Kind, node: &NodeNet) -> R<Dut> {
    let kernel = !kind.rr() && std::env::var_os("CONVERGE_NO_KERNEL").is_none();
    Ok(match d {
        Daemon::Bird2 => Dut::Bird(Bird::start(
            BirdVersion::V2,
            node,
            &bird_config(true, kind, node, kernel, Bird2Rr::from_env()?),
        )?),
        Daemon::Bird16 => Dut::Bird(Bird::start(
            BirdVersion::V16,
            node,
            &bird_config(false, kind, node, kernel, Bird2Rr::Range),
        )?),
        Daemon::Frr => Dut::Frr(Frr::start(node, &frr_config(kind))?),
        Daemon::Gobgp => Dut::Gobgp(Gobgp::start(node, &gobgp_config(kind, node))?),
        Daemon::Bgpd => start_bgpd(node, &bgpd_config(kind), "bgpd.toml")?,
        Daemon::BgpdBefore => {
            let Some(bin) = std::env::var_os("BGPD_BEFORE_BIN") else {
                return err("bgpd-before: set BGPD_BEFORE_BIN to the baseline build's bgpd");
            };
            start_bgpd_bin(node, bin.into(), &bgpd_config(kind), "bgpd.toml")?
        }
        Daemon::BgpdAll => start_bgpd(node, &bgpd_bird_config(kind, false), "bird.cfg")?,
        Daemon::BgpdCalico => {
            if kind.rr() {
                return err("bgpd-calico: a shape with the kernel protocol (not rr)");
            }
            add_tunl0(node)?;
            start_bgpd(node, &bgpd_bird_config(kind, true), "bird.cfg")?
        }
    })
}

/// The bgpd under test: `$BGPD_BIN`, else the release build (never a newer debug build: the
/// lab's `Bgpd::binary` takes the newest of the two, which suits tests, not measurements).
pub(crate) fn bgpd_binary() -> R<std::path::PathBuf> {
    if std::env::var_os("BGPD_BIN").is_some() {
        return Ok(Bgpd::binary()?);
    }
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/bgpd");
    if release.exists() {
        return Ok(release);
    }
    err("no target/release/bgpd: run `cargo build --release -p bgpd` (or set BGPD_BIN)")
}

/// Starts `bgpd -c FILE -s SOCK` in the node's namespace and waits until it listens on 179
/// (its control socket answers from then on too). `file`: the config's name (`*.toml` is
/// TOML, anything else BIRD text).
pub(crate) fn start_bgpd(node: &NodeNet, config: &str, file: &str) -> R<Dut> {
    start_bgpd_bin(node, bgpd_binary()?, config, file)
}

/// [`start_bgpd`] with the given binary.
fn start_bgpd_bin(node: &NodeNet, binary: std::path::PathBuf, config: &str, file: &str) -> R<Dut> {
    let conf = node.path(file);
    std::fs::write(&conf, config)?;
    let socket = node.path("bgpd.ctl");
    let argv = cmd::in_netns(
        Some(&node.ns),
        &binary.to_string_lossy(),
        &[
            "-c",
            &conf.to_string_lossy(),
            "-s",
            &socket.to_string_lossy(),
        ],
    );
    let mut p = Process::spawn("bgpd", &argv, &node.path("bgpd.log"))?;
    let t = Instant::now();
    loop {
        p.ensure_running()?;
        let ss = cmd::run(Some(&node.ns), "ss", &["-Hltn", "sport = :179"]).unwrap_or_default();
        if !ss.trim().is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(15) {
            return err("bgpd does not listen on port 179");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Dut::Bgpd {
        process: p,
        node: node.clone(),
        binary,
        socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeNet {
        NodeNet {
            name: "dut".into(),
            ns: "t-dut".into(),
            dir: "/nonexistent/dut".into(),
            ifaces: Vec::new(),
            tunl0: None,
        }
    }

    #[test]
    fn bird2_takes_reflector_clients_by_range_or_one_protocol_each() {
        let rr = Kind::Rr { clients: 3 };
        let range = bird_config(true, rr, &node(), false, Bird2Rr::Range);
        assert!(
            range.contains(
                "protocol bgp clients from inj { neighbor range 100.64.0.0/22 internal; }"
            ),
            "{range}"
        );
        assert!(!range.contains("protocol bgp p0 "), "{range}");
        let each = bird_config(true, rr, &node(), false, Bird2Rr::Protocols);
        assert!(!each.contains("neighbor range"), "{each}");
        for (i, a) in ["100.64.0.10", "100.64.0.11", "100.64.0.12"]
            .iter()
            .enumerate()
        {
            let line = format!("protocol bgp p{i} from inj {{ neighbor {a} as {DUT_AS}; }}");
            assert!(each.contains(&line), "{line} in {each}");
        }
        assert!(!each.contains("protocol bgp p3 "), "{each}");
        // The same template either way: reflector clients, iBGP, everything exported.
        for c in [&range, &each] {
            assert!(c.contains("  rr client; rr cluster id 1.1.1.1;"), "{c}");
            assert!(c.contains("ipv4 { import all; export all; };"), "{c}");
            assert!(c.contains("passive on;"), "{c}");
        }
        // BIRD 1.6 lists its clients whatever is asked of BIRD 2.
        let v16 = bird_config(false, rr, &node(), false, Bird2Rr::Range);
        assert!(
            v16.contains("protocol bgp p2 from inj { neighbor 100.64.0.12 as 64512; }"),
            "{v16}"
        );
        assert!(!v16.contains("neighbor range"), "{v16}");
    }

    #[test]
    fn the_bird2_rr_choice_parses() {
        assert_eq!(Bird2Rr::parse(None).unwrap(), Bird2Rr::Range);
        assert_eq!(Bird2Rr::parse(Some("range")).unwrap(), Bird2Rr::Range);
        assert_eq!(
            Bird2Rr::parse(Some("protocols")).unwrap(),
            Bird2Rr::Protocols
        );
        assert!(Bird2Rr::parse(Some("list")).is_err());
    }
}
