//! calico-node cannot tell bgpd from BIRD 1.6 (issue 15), on running daemons in network
//! namespaces (root): a Calico-shaped three-node iBGP mesh (pool IP-in-IP always, one
//! blackhole block per node, `tunl0` with a /32 in the block, direct on every interface but
//! `cali*`), node 1 BIRD 1.6, then bgpd with a TOML config, then bgpd with the very `bird.cfg`
//! BIRD 1.6 read (Calico's confd shape); the other two BIRD 1.6 with Calico's configuration. Calico's parsers (`calico_node`) read node 1's socket: readiness, liveness,
//! `calicoctl node status`, the status reporter (`show status`, `show protocols` +
//! `show protocols all NAME` on one connection, `show route` through its four regexes); the
//! two outputs must be equal field by field, times aside. `show route all`, `for`, `protocol`
//! and `count` must be equal as text with times masked, also for a block both other nodes
//! announce (two equal paths: ECMP).
//!
//! bgpd runs under the name `bird`, started as calico-node's runit script starts BIRD
//! (`bird -R -s SOCK -d -c FILE`); its socket is then read by bgpd's `birdcl`/`birdc`
//! personalities and by BIRD 1.6's own `birdc`, and it is reloaded with SIGHUP as `sv hup`
//! does. The recorded BIRD 1.6 transcript's commands are replayed against it and the reply
//! line shapes (codes, continuations) compared.

mod calico_node;

use std::net::Ipv4Addr;
use std::path::Path;

use bgpd_lab::bgpd::BgpdPool;
use bgpd_lab::bird16::{calico_passive, mesh_name};
use bgpd_lab::{
    cmd, wait_observing, BgpdConfig, BgpdPeer, CalicoBird16Config, Lab, NodeNet, Observed, Process,
};
use calico_node as cn;
use cn::seen::{
    assert_same, bird_names, block, calico_lab, observe, spawn_bird, Seen, AS, CONVERGE, POLL,
};
use cn::Fam;

const HOSTS: [u8; 3] = [11, 12, 13];
const BIRD16_BIRDC: &str = "/opt/bird16/usr/sbin/birdc";
/// A block nodes 2 and 3 both announce (a block two nodes claim, as after a borrow).
const SHARED_BLOCK: &str = "10.244.99.0/26";

fn run(argv: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    if let Some(s) = stdin {
        i.write_all(s.as_bytes()).unwrap();
    }
    drop(i);
    let o = c.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Node 1 is `subject` (`"bgpd"` or `"bird16"`); returns what Calico sees once converged and,
/// for bgpd, runs the personality, reload and transcript checks while the lab is up.
fn mesh(test: &str, subject: &str) -> Seen {
    let (lab, nodes, tunnel) = calico_lab(test, &HOSTS.map(|h| (h, true)));
    let ips: Vec<Ipv4Addr> = nodes.iter().map(NodeNet::ip4).collect();
    let mut birds = Vec::new();
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let mut c = CalicoBird16Config::new(n, AS, &block(HOSTS[i]), "10.244.0.0/16", &ips, tunnel);
        // A block both other nodes announce: node 1 holds two equal paths (ECMP).
        c.blocks.push(SHARED_BLOCK.into());
        birds.push(c.start(n).unwrap());
    }
    let n1 = &nodes[0];
    let peer_names: Vec<String> = ips[1..].iter().map(|p| mesh_name(&p.to_string())).collect();
    let mut bgpd_proc: Option<Process> = None;
    let mut subject_bird = None;
    let sock = n1.path("bird.ctl");
    let mut cfg_path = n1.path("bird.toml");
    if subject == "bgpd-bird-cfg" {
        // The configuration calico-node's confd renders, the same text BIRD 1.6 gets.
        cfg_path = n1.path("bird.cfg");
        let c = CalicoBird16Config::new(n1, AS, &block(HOSTS[0]), "10.244.0.0/16", &ips, tunnel);
        std::fs::write(&cfg_path, c.render(&n1.path("bird.log"))).unwrap();
    }
    if subject.starts_with("bgpd") {
        let mut c = BgpdConfig::new(n1, AS);
        c.tunnel = Some("tunl0".into());
        c.pools.push(BgpdPool {
            cidr: "10.244.0.0/16".into(),
            ipip: "always".into(),
        });
        c.blackhole_blocks.push(block(HOSTS[0]));
        for p in &ips[1..] {
            let mut bp = BgpdPeer::new(&mesh_name(&p.to_string()), *p, AS);
            bp.passive = calico_passive(&ips[0].to_string(), &p.to_string());
            bp.hold_time = Some(9);
            c.peers.push(bp);
        }
        c.extra = "[direct]\ninterfaces = [\"-cali*\", \"-kube-ipvs*\", \"*\"]\n".into();
        if subject == "bgpd" {
            std::fs::write(&cfg_path, c.render()).unwrap();
        }
        let bin = bird_names(lab.artefacts());
        // calico-node's runit script: exec bird -R -s /var/run/calico/bird.ctl -d -c FILE
        bgpd_proc = Some(spawn_bird(&bin, Fam::V4, n1, &sock, &cfg_path));
    } else {
        cfg_path = n1.path("bird.conf");
        let c = CalicoBird16Config::new(n1, AS, &block(HOSTS[0]), "10.244.0.0/16", &ips, tunnel);
        subject_bird = Some(c.start(n1).unwrap());
    }

    // Ready as calico-node's readiness probe sees it: every peer Established, no graceful
    // restart in progress (bgpd was started with -R), and every block learned.
    wait_observing(CONVERGE, POLL, "node 1 ready, blocks learned", || {
        if let Some(p) = bgpd_proc.as_mut() {
            p.ensure_running()?;
        }
        let r = cn::ready(&sock, Fam::V4);
        let routes = cn::query1(&sock, "show route")
            .and_then(|l| cn::routes(&l))
            .unwrap_or_default();
        let learned = HOSTS[1..]
            .iter()
            .all(|h| routes.iter().any(|x| x.dest == block(*h) && x.primary));
        let peers = cn::query1(&sock, "show protocols")
            .and_then(|l| cn::scan_peers(&l))
            .map(|p| p.len())
            .unwrap_or(0);
        let shared_paths = cn::query1(&sock, &format!("show route {SHARED_BLOCK}"))
            .map(|l| l.iter().filter(|l| l.contains(" via ")).count())
            .unwrap_or(0);
        Ok(Observed::when(
            r.is_ok() && learned && peers == 2 && shared_paths == 2,
            format!("{r:?} {routes:?}"),
        ))
    })
    .unwrap();
    let cmds = [
        format!("show route all {}", block(HOSTS[1])),
        // The ECMP network: two paths, the prefix on the first line only.
        format!("show route {SHARED_BLOCK}"),
        format!("show route all {SHARED_BLOCK}"),
        format!("show route for {}", "10.244.12.5"),
        format!("show route protocol {}", peer_names[1]),
        "show route protocol static1".into(),
        "show route count".into(),
        "show route 10.99.0.0/24".into(),
        "show protocols all nosuch".into(),
        "show nonsense".into(),
    ];
    let seen = observe(&sock, Fam::V4, &peer_names, &cmds);

    if subject == "bgpd" {
        let bin = lab.artefacts().join("bin");
        personalities(&bin, &sock, &ips);
        transcript_shapes(&sock, &peer_names, &block(HOSTS[1]));
        // `sv hup bird`: a new static route appears after SIGHUP.
        let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
        cfg.push_str("\n[[static]]\nprefix = \"10.244.11.64/26\"\nblackhole = true\n");
        std::fs::write(&cfg_path, cfg).unwrap();
        let pid = bgpd_proc.as_ref().unwrap().pid();
        // SAFETY: signals our own child.
        unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        wait_observing(CONVERGE, POLL, "SIGHUP reload adds a static route", || {
            let r = cn::query1(&sock, "show route")
                .and_then(|l| cn::routes(&l))
                .unwrap_or_default();
            Ok(Observed::when(
                r.iter()
                    .any(|x| x.dest == "10.244.11.64/26" && x.kind == "blackhole"),
                format!("{r:?}"),
            ))
        })
        .unwrap();
        let st = cn::status(&cn::query1(&sock, "show status").unwrap());
        assert!(st.version.starts_with("1.6.8"), "{st:?}");
        assert!(bgpd_proc.as_mut().unwrap().is_running());
    }
    drop(subject_bird);
    drop(birds);
    seen
}

/// The client personalities against the live socket, next to BIRD 1.6's own `birdc`.
fn personalities(bin: &Path, sock: &Path, ips: &[Ipv4Addr]) {
    let s = sock.to_string_lossy().into_owned();
    let birdcl = bin.join("birdcl").to_string_lossy().into_owned();
    let birdc = bin.join("birdc").to_string_lossy().into_owned();
    // Liveness: `birdcl -s SOCK show status` starts with BIRD.
    let (code, out, _) = run(&[&birdcl, "-s", &s, "show", "status"], None);
    assert_eq!(code, Some(0));
    assert!(cn::live(&out), "{out}");
    let mut l = out.lines();
    assert!(l.next().unwrap().ends_with(" ready."), "{out}");
    assert!(l.next().unwrap().starts_with("BIRD v1.6.8"), "{out}");
    assert_eq!(l.next(), Some("Router ID is 172.31.0.11"), "{out}");
    // The same bytes as BIRD 1.6's client prints, for replies without running timers.
    for c in [["show", "protocols"], ["show", "route"], ["sh", "ro"]] {
        let ours = run(&[&birdc, "-s", &s, c[0], c[1]], None);
        let theirs = run(&[BIRD16_BIRDC, "-s", &s, c[0], c[1]], None);
        assert_eq!(ours, theirs, "{c:?}");
    }
    let (code, out, _) = run(&[&birdc, "-s", &s, "show", "protocols", "all"], None);
    assert_eq!(code, Some(0));
    for ip in &ips[1..] {
        assert!(
            out.contains(&format!("    Neighbor address: {ip}\n")),
            "{out}"
        );
    }
    assert!(out.contains("  BGP state:          Established\n"), "{out}");
    // An error reply is printed on stdout; the exit status stays 0, as BIRD 1.6's client.
    let (code, out, err) = run(&[&birdcl, "-s", &s, "show", "route", "10.99.0.0/24"], None);
    assert_eq!((code, err.as_str()), (Some(0), ""));
    assert!(out.ends_with("\nNetwork not in table\n"), "{out}");
    let (code, out, _) = run(&[&birdcl, "-s", &s, "nonsense"], None);
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with("No such command. Press `?' for help.\n"),
        "{out}"
    );
    // Commands from standard input: prompt, echo, reply, and a newline at the end.
    let (code, out, _) = run(
        &[&birdcl, "-s", &s],
        Some("show route count\nshow protocols all nosuch\n"),
    );
    assert_eq!(code, Some(0));
    let greeting = out.lines().next().unwrap().to_string();
    assert_eq!(
        out,
        format!("{greeting}\nbird> show route count\n7 of 7 routes for 6 networks\nbird> show protocols all nosuch\nnosuch is not a protocol\nbird> \n")
    );
    // -v shows the codes.
    let (_, out, _) = run(&[&birdcl, "-v", "-s", &s, "show", "route", "count"], None);
    assert!(
        out.ends_with("0014 7 of 7 routes for 6 networks\n"),
        "{out}"
    );
    // -r: restricted; state-changing commands are refused.
    let (_, out, _) = run(
        &[&birdcl, "-r", "-s", &s, "disable", "Mesh_172_31_0_12"],
        None,
    );
    assert!(out.contains("Access restricted\nAccess denied\n"), "{out}");
    // A bad socket path: BIRD's message on stderr, exit status 1, as BIRD 1.6's client.
    let bad = "/nonexistent-calico/bird.ctl";
    let ours = run(&[&birdcl, "-s", bad, "show", "status"], None);
    let theirs = run(&[BIRD16_BIRDC, "-s", bad, "show", "status"], None);
    assert_eq!(ours, theirs);
    assert_eq!(ours.0, Some(1));
    assert_eq!(
        ours.2,
        format!("Unable to connect to server control socket ({bad}): No such file or directory\n")
    );
    // `bird -p -c FILE`: confd's check command.
    let bird = bin.join("bird").to_string_lossy().into_owned();
    let dir = sock.parent().unwrap();
    let bad_cfg = dir.join("bad.toml");
    std::fs::write(&bad_cfg, "router_id = \"1.2.3.4\"\nasn = \"x\"\n").unwrap();
    let (code, _, err) = run(&[&bird, "-p", "-c", &bad_cfg.to_string_lossy()], None);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("bird: "), "{err}");
    let good = dir.join("bird.toml");
    let (code, out, err) = run(&[&bird, "-p", "-c", &good.to_string_lossy()], None);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
}

/// The reply shape of each line: its code, or `+` for a continuation.
fn shape(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for l in lines {
        let s = if l.starts_with(' ') {
            "+".to_string()
        } else {
            l.get(..5).unwrap_or(l).to_string()
        };
        if v.last() != Some(&s) {
            v.push(s);
        }
    }
    v
}

/// Replays the commands of the recorded BIRD 1.6 transcript (names and prefixes mapped onto
/// this topology; its second peer was down, ours is up) and compares reply shapes.
fn transcript_shapes(sock: &Path, peers: &[String], peer_block: &str) {
    let t = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bird16-cli-transcript.txt"),
    )
    .or_else(|_| std::fs::read_to_string("/work/shared/fixtures/bird16-cli-transcript.txt"))
    .unwrap();
    let mut cmd: Option<String> = None;
    let mut reply: Vec<String> = Vec::new();
    let mut n = 0;
    for line in t.lines() {
        if let Some(c) = line.strip_prefix(">>> ") {
            cmd = Some(c.to_string());
            reply.clear();
        } else if line == "<<<" {
            let c = cmd.take().unwrap();
            let mapped = c
                .replace("Mesh_172_30_0_12", &peers[0])
                .replace("Mesh_172_30_0_13", &peers[1])
                .replace("10.244.2.0/26", peer_block);
            let ours = cn::query1(sock, &mapped).unwrap();
            // Both include the greeting line (one connection per command).
            assert_eq!(shape(&reply), shape(&ours), "{mapped}: {ours:?}");
            n += 1;
        } else if cmd.is_some() {
            reply.push(line.to_string());
        }
    }
    assert!(n >= 10, "{n} commands replayed");
}

#[test]
fn calico_sees_bgpd_as_bird16() {
    let bird = mesh("calico_live_bird16", "bird16");
    let bgpd = mesh("calico_live_bgpd", "bgpd");
    // bgpd reading the very bird.cfg BIRD 1.6 reads.
    let bgpd_cfg = mesh("calico_live_bgpd_bird_cfg", "bgpd-bird-cfg");
    assert_eq!(bgpd_cfg, bird);
    assert_eq!(bgpd.peers.len(), 2);
    assert_same(&bgpd, &bird);
}

/// One bgpd for `bird` and `bird6`: with `control_socket_v6`, the first socket shows IPv4 only
/// and the second IPv6 only (routes, counts, BGP neighbours), as the two BIRDs would.
#[test]
fn one_bgpd_two_views() {
    let mut lab = Lab::new("calico_live_two_views").unwrap();
    let lan = lab.lan().unwrap();
    let n = lab.node("n1", &[(&lan, 11)], None).unwrap();
    let (s4, s6) = (n.path("bird.ctl"), n.path("bird6.ctl"));
    let cfg = format!(
        r#"
router_id = "{ip4}"
asn = 64512
control_socket_v6 = "{s6}"
[kernel]
protocol = "bird"
[direct]
interfaces = ["*"]
[[static]]
prefix = "10.244.11.0/26"
blackhole = true
[[static]]
prefix = "fd00:244:11::/122"
blackhole = true
[[peers]]
name = "Mesh_172_31_0_12"
address = "172.31.0.12"
asn = 64512
[[peers]]
name = "Mesh_fd00_31__c"
address = "fd00:31::c"
asn = 64512
families = ["ipv6"]
"#,
        ip4 = n.ip4(),
        s6 = s6.display()
    );
    let cfg_path = n.path("bgpd.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let argv = cmd::in_netns(
        Some(&n.ns),
        env!("CARGO_BIN_EXE_bgpd"),
        &[
            "-c",
            &cfg_path.to_string_lossy(),
            "-s",
            &s4.to_string_lossy(),
        ],
    );
    let mut p = Process::spawn("bgpd", &argv, &n.path("bgpd.log")).unwrap();
    let want4 = ["10.244.11.0/26", "172.31.0.0/24"];
    let want6 = ["fd00:244:11::/122", "fd00:31::/64"];
    wait_observing(CONVERGE, POLL, "both views complete", || {
        p.ensure_running()?;
        let r4 = cn::query1(&s4, "show route").and_then(|l| cn::routes(&l));
        let r6 = cn::query1(&s6, "show route").and_then(|l| cn::routes(&l));
        let dests = |r: &Result<Vec<cn::Route>, String>| -> Vec<String> {
            let mut v: Vec<String> = r
                .as_ref()
                .map(|r| r.iter().map(|x| x.dest.clone()).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        Ok(Observed::when(
            dests(&r4) == want4 && dests(&r6) == want6,
            format!("{r4:?} {r6:?}"),
        ))
    })
    .unwrap();
    // No loopback, no link-local: BIRD's direct protocol skips them.
    let c4 = cn::query1(&s4, "show route count").unwrap();
    assert_eq!(c4.last().unwrap(), "0014 2 of 2 routes for 2 networks");
    let c6 = cn::query1(&s6, "show route count").unwrap();
    assert_eq!(c6.last().unwrap(), "0014 2 of 2 routes for 2 networks");
    let p4 = cn::scan_peers(&cn::query1(&s4, "show protocols").unwrap()).unwrap();
    let p6 = cn::scan_peers_sep(&cn::query1(&s6, "show protocols").unwrap(), ":").unwrap();
    let ips = |v: &[cn::Peer]| v.iter().map(|p| p.peer_ip.clone()).collect::<Vec<_>>();
    assert_eq!(ips(&p4), ["172.31.0.12"]);
    assert_eq!(ips(&p6), ["fd00:31::c"]);
    // The other family's prefix is a syntax error, as in the other BIRD.
    assert_eq!(
        cn::query1(&s4, "show route fd00:31::/64")
            .unwrap()
            .last()
            .unwrap(),
        "9001 syntax error"
    );
    assert_eq!(
        cn::query1(&s6, "show route for 172.31.0.1")
            .unwrap()
            .last()
            .unwrap(),
        "9001 syntax error"
    );
    assert!(p.is_running());
}
