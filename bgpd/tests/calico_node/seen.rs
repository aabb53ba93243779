//! The harness around the parsers: everything Calico reads from one node's socket, gathered
//! into one value so a bgpd node and a BIRD 1.6 node in the same topology can be compared
//! field by field (times aside), and bgpd started the way calico-node's runit script starts
//! BIRD.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgpd_lab::{cmd, Lab, NodeNet, Process, TunnelSupport};

/// The Calico cluster's AS in these labs.
pub const AS: u32 = 64512;
/// Its IP pool (IP-in-IP always).
pub const POOL: &str = "10.244.0.0/16";
/// How long a lab may take to converge.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// How often it is polled meanwhile.
pub const POLL: Duration = Duration::from_millis(250);

/// Host `h`'s IPAM block.
pub fn block(h: u8) -> String {
    format!("10.244.{h}.0/26")
}

/// A lab with one LAN and a node `n<host>` per `(host, calico)` at `.host`; a Calico node has
/// `tunl0` holding the first address of its block. Also tells whether BIRD 1.6 here knows
/// `krt_tunnel`.
pub fn calico_lab(test: &str, hosts: &[(u8, bool)]) -> (Lab, Vec<NodeNet>, TunnelSupport) {
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nodes = hosts
        .iter()
        .map(|(h, calico)| {
            let tunl0 = calico.then(|| Ipv4Addr::new(10, 244, *h, 1));
            lab.node(&format!("n{h}"), &[(&lan, *h)], tunl0).unwrap()
        })
        .collect();
    let tunnel = TunnelSupport::detect(lab.artefacts());
    (lab, nodes, tunnel)
}

/// Times (`12:34:56`, `2026-12-02`) masked.
pub fn mask(s: &str) -> String {
    let t = regex::Regex::new(r"\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d").unwrap();
    t.replace_all(s, "T").into_owned()
}

/// Reply lines (times masked) as one text.
pub fn text(lines: &[String]) -> String {
    mask(&lines.join("\n"))
}

/// A reply (greeting left out: it names the version) as compared: times masked; the networks
/// of `show route protocol` come in BIRD's hash order, bgpd's in prefix order, and the rows of
/// `show protocols` in BIRD's configuration order, bgpd's in its own (Calico does not care),
/// so those replies are compared as sets of lines, codes aside.
pub fn reply_text(cmd: &str, reply: &[String]) -> String {
    let t = text(reply.get(1..).unwrap_or_default());
    if !cmd.starts_with("show route protocol") && cmd != "show protocols" {
        return t;
    }
    let mut lines: Vec<&str> = t
        .lines()
        .map(|l| {
            l.strip_prefix("1007-")
                .or(l.strip_prefix("1002-"))
                .or(l.strip_prefix(' '))
                .unwrap_or(l)
        })
        .collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// Everything Calico reads from a node, times aside.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub ready: Result<(), String>,
    pub gr: bool,
    pub status_ready: bool,
    pub router_id: String,
    pub peers: Vec<super::Peer>,
    pub calicoctl: Vec<[String; 5]>,
    pub details: BTreeMap<String, (String, String)>,
    pub routes: Vec<super::Route>,
    /// Raw text (times masked) of the other commands asked.
    pub texts: BTreeMap<String, String>,
}

/// Reads `sock` (the socket of `fam`'s daemon) as calico-node does (readiness, `show status`, `show protocols` and
/// `show protocols all NAME` for each of `peer_names` on one connection, `show route`
/// through the status reporter's regexes), plus the raw text of `cmds`.
pub fn observe(sock: &Path, fam: super::Fam, peer_names: &[String], cmds: &[String]) -> Seen {
    let status = super::status(&super::query1(sock, "show status").unwrap());
    let mut all = vec!["show protocols".to_string()];
    all.extend(peer_names.iter().map(|n| format!("show protocols all {n}")));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let replies = super::query(sock, &refs).unwrap();
    let mut peers = super::scan_peers_sep(&replies[0], fam.sep()).unwrap();
    let time = regex::Regex::new(r"^\d\d:\d\d:\d\d$").unwrap();
    for p in &mut peers {
        // `since` must be one token (a time): checked, then left out of the comparison.
        assert!(time.is_match(&p.since), "{p:?}");
        p.since.clear();
    }
    let mut details = BTreeMap::new();
    for (n, r) in peer_names.iter().zip(&replies[1..]) {
        details.insert(n.clone(), super::protocol_details(r).unwrap());
    }
    let mut routes = super::routes(&super::query1(sock, "show route").unwrap()).unwrap();
    routes.sort();
    let mut texts = BTreeMap::new();
    for c in cmds {
        let r = super::query1(sock, c).unwrap();
        texts.insert(c.clone(), reply_text(c, &r));
    }
    Seen {
        ready: super::ready(sock, fam),
        gr: super::gr_in_progress(&super::query1(sock, "show status").unwrap()).unwrap(),
        status_ready: status.ready,
        router_id: status.router_id,
        calicoctl: super::calicoctl_rows(&peers),
        peers,
        details,
        routes,
        texts,
    }
}

/// Compares field by field first (clearer failures), then as a whole; bgpd must be ready.
pub fn assert_same(bgpd: &Seen, bird: &Seen) {
    assert_eq!(bgpd.ready, Ok(()));
    assert!(!bgpd.gr);
    assert_fields(bgpd, bird);
}

/// Compares field by field first (clearer failures), then as a whole, whatever the state.
pub fn assert_fields(bgpd: &Seen, bird: &Seen) {
    assert_eq!(bgpd.ready, bird.ready);
    assert_eq!(bgpd.gr, bird.gr);
    assert_eq!(bgpd.status_ready, bird.status_ready);
    assert_eq!(bgpd.router_id, bird.router_id);
    assert_eq!(bgpd.peers, bird.peers);
    assert_eq!(bgpd.calicoctl, bird.calicoctl);
    assert_eq!(bgpd.details, bird.details);
    assert_eq!(bgpd.routes, bird.routes);
    for (c, b) in &bird.texts {
        assert_eq!(bgpd.texts.get(c), Some(b), "{c}");
    }
    assert_eq!(bgpd, bird);
}

/// A directory of links to this build's binary under BIRD's names.
pub fn bird_names(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for n in ["bird", "bird6", "birdc", "birdcl", "birdc6", "birdcl6"] {
        let p = bin.join(n);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bgpd"), &p).unwrap();
    }
    bin
}

/// bgpd under the name `bird` (`bird6` for [`super::Fam::V6`]), started as calico-node's runit
/// script starts BIRD: `bird -R -s SOCK -d -c FILE`, in `node`'s namespace; `bin` from
/// [`bird_names`].
pub fn spawn_bird(bin: &Path, fam: super::Fam, node: &NodeNet, sock: &Path, cfg: &Path) -> Process {
    let bird = bin.join(fam.daemon());
    let argv = cmd::in_netns(
        Some(&node.ns),
        &bird.to_string_lossy(),
        &[
            "-R",
            "-s",
            &sock.to_string_lossy(),
            "-d",
            "-c",
            &cfg.to_string_lossy(),
        ],
    );
    let name = fam.daemon();
    Process::spawn(
        &format!("{name}(bgpd)"),
        &argv,
        &node.path(&format!("{name}.log")),
    )
    .unwrap()
}
