//! One Calico-shaped topology with node 0 as the subject (bgpd under BIRD's name, or BIRD 1.6),
//! the other nodes BIRD 1.6, every node's configuration from one function: started, waited on
//! until calico-node's readiness passes, and read as calico-node reads it. The same for `bird`
//! and `bird6` ([`Fam`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgpd_lab::{wait_observing, Bird, BirdVersion, Lab, NodeNet, Observed, Process, TunnelSupport};

use super::seen::{assert_same, bird_names, calico_lab, observe, spawn_bird, Seen, CONVERGE, POLL};
use super::Fam;

/// What one run saw: Calico's view, plus the `show protocols all NAME` lines that describe
/// the session (`Neighbor AS`, `Neighbor ID`, `Session`, `Source address`) per peer.
pub type View = (Seen, BTreeMap<String, Vec<String>>);

/// The session lines of `show protocols all NAME` for each of `names`.
pub fn session_lines(sock: &Path, names: &[String]) -> BTreeMap<String, Vec<String>> {
    let keys = [
        "Neighbor AS:",
        "Neighbor ID:",
        "Session:",
        "Source address:",
    ];
    names
        .iter()
        .map(|n| {
            let r = super::query1(sock, &format!("show protocols all {n}")).unwrap();
            let l: Vec<String> = r
                .iter()
                .filter(|l| keys.iter().any(|k| l.trim_start().starts_with(k)))
                .map(|l| l.trim().to_string())
                .collect();
            (n.clone(), l)
        })
        .collect()
}

/// Node 0's daemon.
pub enum Subject {
    /// bgpd under BIRD's name, started as calico-node's runit script starts BIRD.
    Bgpd(Process),
    /// BIRD 1.6.
    Bird(Bird),
}

/// A running topology (fields drop in order: daemons first, namespaces last).
pub struct Up {
    pub subject: Subject,
    pub others: Vec<Bird>,
    pub fam: Fam,
    /// Node 0's control socket.
    pub sock: PathBuf,
    /// Node 0's configuration file (bgpd) and the links under BIRD's names.
    cfg: PathBuf,
    bin: PathBuf,
    pub nodes: Vec<NodeNet>,
    pub lab: Lab,
}

/// Starts the lab: node `i` on the LAN as `hosts[i]` (Calico nodes get `tunl0`), its config
/// from `cfg(node, host, tunnel)`; node 0 is the subject, run by bgpd under `fam`'s daemon
/// name reading the very text BIRD 1.6 would read (`bgpd`), else by BIRD 1.6.
pub fn start(
    test: &str,
    fam: Fam,
    bgpd: bool,
    hosts: &[(u8, bool)],
    cfg: impl Fn(&NodeNet, u8, TunnelSupport) -> String,
) -> Up {
    let version = match fam {
        Fam::V4 => BirdVersion::V16,
        Fam::V6 => BirdVersion::V16Ip6,
    };
    let (lab, nodes, tunnel) = calico_lab(test, hosts);
    let mut others: Vec<Bird> = Vec::new();
    for (n, (h, _)) in nodes.iter().zip(hosts).skip(1) {
        others.push(Bird::start(version, n, &cfg(n, *h, tunnel)).unwrap());
    }
    let n1 = &nodes[0];
    let text = cfg(n1, hosts[0].0, tunnel);
    let sock = n1.path("bird.ctl");
    let path = n1.path(&format!("{}.cfg", fam.daemon()));
    let bin = bird_names(lab.artefacts());
    let subject = if bgpd {
        std::fs::write(&path, &text).unwrap();
        Subject::Bgpd(spawn_bird(&bin, fam, n1, &sock, &path))
    } else {
        Subject::Bird(Bird::start(version, n1, &text).unwrap())
    };
    Up {
        subject,
        others,
        fam,
        sock,
        cfg: path,
        bin,
        nodes,
        lab,
    }
}

impl Up {
    /// Fails if the subject's process has died.
    pub fn ensure_running(&mut self) -> bgpd_lab::Result<()> {
        match &mut self.subject {
            Subject::Bgpd(p) => p.ensure_running(),
            Subject::Bird(b) => match b.process() {
                Some(p) => p.ensure_running(),
                None => Ok(()),
            },
        }
    }

    /// Waits until calico-node's readiness passes on node 0 with `peers` BGP peers, and
    /// `show route` lists each of `want` at least as often as it occurs there (a network
    /// twice: two paths), one of them primary.
    pub fn wait_ready(&mut self, what: &str, peers: usize, want: &[String]) {
        let (sock, fam) = (self.sock.clone(), self.fam);
        wait_observing(CONVERGE, POLL, what, || {
            self.ensure_running()?;
            let r = super::ready(&sock, fam);
            let mut routes = super::query1(&sock, "show route")
                .and_then(|l| super::routes(&l))
                .unwrap_or_default();
            // A network's other paths print without its prefix (BIRD's `rt_show_net`).
            for i in 1..routes.len() {
                if routes[i].dest.is_empty() {
                    routes[i].dest = routes[i - 1].dest.clone();
                }
            }
            let learned = want.iter().all(|w| {
                let of: Vec<_> = routes.iter().filter(|x| &x.dest == w).collect();
                of.iter().any(|x| x.primary) && of.len() >= want.iter().filter(|v| v == &w).count()
            });
            let n = super::query1(&sock, "show protocols")
                .and_then(|l| super::scan_peers_sep(&l, fam.sep()))
                .map(|p| p.len())
                .unwrap_or(0);
            Ok(Observed::when(
                r.is_ok() && learned && n == peers,
                format!("{r:?} {n} peers {routes:?}"),
            ))
        })
        .unwrap();
    }

    /// What calico-node reads on node 0 (see [`observe`]), and the session lines.
    pub fn view(&mut self, peer_names: &[String], cmds: &[String]) -> View {
        let seen = observe(&self.sock, self.fam, peer_names, cmds);
        let sessions = session_lines(&self.sock, peer_names);
        self.ensure_running().unwrap();
        (seen, sessions)
    }

    /// Restarts node 0 as a node restart does: SIGTERM (runit's `sv restart`, or the
    /// container stopping), then the daemon again with `-R` (graceful-restart recovery), as
    /// calico-node's runit script starts it; returns once the new control socket answers.
    pub fn restart_graceful(&mut self) {
        match &mut self.subject {
            Subject::Bgpd(p) => {
                p.signal(libc::SIGTERM).unwrap();
                assert!(
                    p.wait_exit(Duration::from_secs(20)).is_some(),
                    "bgpd did not exit on SIGTERM"
                );
                let _ = std::fs::remove_file(&self.sock);
                let n1 = &self.nodes[0];
                let mut p = spawn_bird(&self.bin, self.fam, n1, &self.sock, &self.cfg);
                let sock = self.sock.clone();
                wait_observing(CONVERGE, POLL, "restarted bgpd answers", || {
                    p.ensure_running()?;
                    let ok = super::query1(&sock, "show status").is_ok();
                    Ok(Observed::when(ok, String::new()))
                })
                .unwrap();
                self.subject = Subject::Bgpd(p);
            }
            Subject::Bird(b) => b.restart_recovering().unwrap(),
        }
    }
}

/// [`start`], [`Up::wait_ready`] with `peer_names` and `want`, then [`Up::view`] with `cmds`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    test: &str,
    fam: Fam,
    bgpd: bool,
    hosts: &[(u8, bool)],
    cfg: impl Fn(&NodeNet, u8, TunnelSupport) -> String,
    peer_names: &[String],
    want: &[String],
    cmds: &[String],
) -> View {
    let mut up = start(test, fam, bgpd, hosts, cfg);
    up.wait_ready("node 1 ready, routes learned", peer_names.len(), want);
    up.view(peer_names, cmds)
}

/// bgpd's view equals BIRD 1.6's, field by field (times aside), bgpd ready.
pub fn compare(bgpd: &View, bird: &View) {
    assert_same(&bgpd.0, &bird.0);
    assert_eq!(bgpd.1, bird.1);
}
