//! The BIRD front-end on configuration trees in the exact shapes Calico's confd renders
//! (`tests/fixtures/calico/*/`): every top-level `bird.cfg` / `bird6.cfg` passes BIRD 1.6's own
//! `bird -p -c` (bird6 for IPv6; `krt_tunnel` assignments, known only to Calico's fork, turned
//! into `print` statements for it) and bgpd's `-p`, and loads into the model it means.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use bgpd::config::{Config, ConfigFormat, FamilyName, LoadOptions, NextHopSetting};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calico")
}

/// Every top-level file: (path, family).
fn top_files() -> Vec<(PathBuf, FamilyName)> {
    let mut v = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for d in dirs {
        for (f, fam) in [
            ("bird.cfg", FamilyName::Ipv4),
            ("bird6.cfg", FamilyName::Ipv6),
        ] {
            let p = d.join(f);
            if p.exists() {
                v.push((p, fam));
            }
        }
    }
    assert!(v.len() >= 15, "expected the fixture set, found {}", v.len());
    v
}

fn opts(family: FamilyName) -> LoadOptions {
    LoadOptions {
        format: Some(ConfigFormat::Bird),
        family: Some(family),
    }
}

fn load(dir: &str, file: &str) -> Config {
    let fam = if file.starts_with("bird6") {
        FamilyName::Ipv6
    } else {
        FamilyName::Ipv4
    };
    let p = fixtures().join(dir).join(file);
    Config::load_with(&p, opts(fam)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const BIRD16: &str = "/opt/bird16/usr/sbin";

/// Copies a fixture directory with the fork-only `krt_tunnel = "X";` statements replaced by
/// `print "krt_tunnel X";` (same structure, a statement upstream BIRD 1.6 knows).
fn for_upstream_bird(dir: &Path) -> tempfile::TempDir {
    let re = regex::Regex::new(r#"krt_tunnel *= *"([^"]*)";"#).unwrap();
    let t = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let out = re.replace_all(&text, r#"print "krt_tunnel $1";"#);
        std::fs::write(t.path().join(p.file_name().unwrap()), out.as_ref()).unwrap();
    }
    t
}

#[test]
fn every_fixture_passes_bird16_parse_check() {
    assert!(
        Path::new(BIRD16).join("bird").exists(),
        "BIRD 1.6 is not installed at {BIRD16}: unpack the Debian package `bird` (1.6.8) there \
         (`apt-get download bird && dpkg-deb -x bird_*.deb /opt/bird16`)"
    );
    for (p, fam) in top_files() {
        let t = for_upstream_bird(p.parent().unwrap());
        let bin = match fam {
            FamilyName::Ipv4 => "bird",
            FamilyName::Ipv6 => "bird6",
        };
        let out = Command::new(Path::new(BIRD16).join(bin))
            .arg("-p")
            .arg("-c")
            .arg(p.file_name().unwrap())
            .current_dir(t.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{bin} -p rejects {}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_fixture_passes_bgpd_parse_check() {
    for (p, fam) in top_files() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bgpd"));
        cmd.arg("-p").arg("-c").arg(&p);
        if fam == FamilyName::Ipv6 {
            cmd.args(["--family", "ipv6"]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "bgpd -p rejects {}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bgpd_parse_check_reports_like_bird() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bird.cfg");
    std::fs::write(
        &p,
        "router id 10.0.0.1;\nprotocol bgp x {\n  neighbour 10.0.0.2 as 1;\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("-p")
        .arg("-c")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "bird: {}:3:3 unsupported option `neighbour` in a bgp protocol",
            p.display()
        )
    );
    // The same file read as TOML by name is refused with the TOML report.
    let out = Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .args(["-p", "--config-format", "toml", "-c"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn mesh_node_means_what_confd_meant() {
    let c = load("mesh-ipip-always", "bird.cfg");
    let f = &c.file;
    assert_eq!(c.format, ConfigFormat::Bird);
    assert_eq!(c.family, Some(FamilyName::Ipv4));
    assert_eq!(f.router_id.get_ref().to_string(), "10.192.0.2");
    assert_eq!(*f.asn.get_ref(), 64512);
    let names: Vec<_> = c.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "static1",
            "kernel1",
            "device1",
            "direct1",
            "Mesh_10_192_0_3",
            "Mesh_10_192_0_4"
        ]
    );
    // Kernel: BIRD 1.6 defaults where confd says nothing.
    let k = &f.kernel;
    assert!(k.enabled && k.learn && k.persist);
    assert_eq!(k.metric, 0);
    assert_eq!(*k.scan_interval.get_ref(), 2);
    assert_eq!(*k.ecmp_max.get_ref(), 16);
    assert_eq!(
        k.export.as_ref().map(|e| e.get_ref().as_str()),
        Some("calico_kernel_programming")
    );
    assert_eq!(
        f.direct.as_ref().unwrap().interfaces,
        ["-cali*", "-kube-ipvs*", "*"]
    );
    assert_eq!(f.statics.len(), 1);
    assert!(f.statics[0].blackhole);
    assert_eq!(f.statics[0].prefix.get_ref().to_string(), "192.168.1.0/26");
    assert_eq!(
        f.listen.addresses,
        vec!["0.0.0.0".parse::<IpAddr>().unwrap()]
    );
    let peers = c.peers();
    assert_eq!(peers.len(), 2);
    let p3 = &peers[0];
    assert_eq!(p3.name, "Mesh_10_192_0_3");
    assert_eq!(p3.address.to_string(), "10.192.0.3");
    assert_eq!(p3.asn, 64512);
    assert!(p3.common.passive, "10.192.0.3 > 10.192.0.2: passive on");
    assert_eq!(p3.common.multihop, Some(64));
    assert!(!p3.common.ttl_security);
    assert_eq!(
        p3.common.source_address,
        Some("10.192.0.2".parse().unwrap())
    );
    assert_eq!(p3.common.families, [FamilyName::Ipv4]);
    assert_eq!(p3.common.connect_delay_time, Some(2));
    assert_eq!(p3.common.connect_retry_time, Some(5));
    assert_eq!(p3.common.error_wait_time, Some([5, 30]));
    assert_eq!(
        p3.common.description.as_deref(),
        Some("Connection to BGP peer")
    );
    assert_eq!(p3.common.import.as_deref(), Some("@Mesh_10_192_0_3.import"));
    assert_eq!(p3.common.export.as_deref(), Some("@Mesh_10_192_0_3.export"));
}

#[test]
fn explicit_peers_options() {
    let c = load("explicit-peers", "bird.cfg");
    let peers = c.peers();
    let by = |n: &str| peers.iter().find(|p| p.name == n).unwrap().common.clone();
    let g = by("Global_10_192_0_254");
    assert_eq!(g.password.as_deref(), Some("s3cr3t-md5"));
    let n1 = by("Node_172_16_0_1");
    assert_eq!(n1.local_asn, Some(64600));
    assert_eq!(n1.next_hop, NextHopSetting::Keep);
    assert_eq!(n1.allow_local_as, 2);
    assert!(n1.ttl_security);
    assert_eq!(n1.multihop, Some(2));
    let n2 = by("Node_172_16_0_2_port_1790");
    assert_eq!(n2.port, 1790);
    assert_eq!(n2.next_hop, NextHopSetting::SelfAlways);
    assert_eq!(n2.keepalive_time, Some(10));
    assert_eq!(n2.graceful_restart_time, Some(120));
    assert_eq!(n2.source_address, None);
    // reachableBy: a /32 static via the gateway.
    let s: Vec<_> = c
        .file
        .statics
        .iter()
        .map(|s| (s.prefix.get_ref().to_string(), s.blackhole, s.via))
        .collect();
    assert!(s.contains(&(
        "172.16.0.1/32".into(),
        false,
        Some("10.192.0.1".parse().unwrap())
    )));
    // Our AS towards the session with the override.
    let spec = peers.iter().find(|p| p.name == "Node_172_16_0_1").unwrap();
    assert_eq!(c.session_config(spec, false).local_as, 64600);
}

#[test]
fn route_reflector_and_client() {
    let c = load("route-reflector", "bird.cfg");
    let rr = c.file.route_reflector.as_ref().unwrap();
    assert_eq!(rr.cluster_id, Some("224.0.0.1".parse().unwrap()));
    let peers = c.peers();
    let clients: Vec<_> = peers
        .iter()
        .filter(|p| p.common.rr_client)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(clients, ["Node_10_192_0_2", "Node_10_192_0_3"]);
    assert_eq!(c.file.statics.len(), 3);

    let c = load("route-reflector-client", "bird.cfg");
    assert!(c.file.route_reflector.is_none());
    let p = c.peers();
    assert!(p.iter().all(
        |p| p.common.graceful_restart_time == Some(300) && p.common.keepalive_time == Some(20)
    ));
    // The /32 block is not a static route (confd skips it).
    assert_eq!(c.file.statics.len(), 1);
}

#[test]
fn ipv6_daemon() {
    let c = load("ipv6", "bird6.cfg");
    assert_eq!(c.family, Some(FamilyName::Ipv6));
    assert_eq!(
        c.file.listen.addresses,
        vec!["::".parse::<IpAddr>().unwrap()]
    );
    let peers = c.peers();
    assert_eq!(peers.len(), 3);
    assert!(peers
        .iter()
        .all(|p| p.address.is_ipv6() && p.common.families == [FamilyName::Ipv6]));
    assert_eq!(peers[0].name, "Mesh_fd00_10_192__3");
    // The same file in an IPv4 daemon is refused (BIRD 1.6's bird would not parse it either).
    let p = fixtures().join("ipv6/bird6.cfg");
    let e = Config::load_with(&p, opts(FamilyName::Ipv4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not of this daemon's family"), "{e}");
}
