//! A re-implementation of what calico-node and calicoctl do with BIRD's control socket
//! (`/work/shared/CALICO.md` §3; Calico's `node/pkg/health/bird/bird.go`,
//! `calicoctl/commands/node/status.go`, `node/pkg/status/populators/*`): the raw wire lines
//! (codes included) go in, what Calico would record comes out, or the error Calico would fail
//! with. Run against bgpd and against BIRD 1.6 in the same topology, the outputs must agree.
#![allow(dead_code)]

pub mod seen;
pub mod topo;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

/// Calico's read deadline on the socket (`birdTimeOut`).
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Which of calico-node's two BIRDs a socket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    /// `bird`, `/var/run/calico/bird.ctl`.
    V4,
    /// `bird6`, `/var/run/calico/bird6.ctl`.
    V6,
}

impl Fam {
    /// The separator Calico decodes peer addresses from protocol names with (`ipSep`).
    pub fn sep(self) -> &'static str {
        match self {
            Fam::V4 => ".",
            Fam::V6 => ":",
        }
    }
    /// The daemon's name.
    pub fn daemon(self) -> &'static str {
        match self {
            Fam::V4 => "bird",
            Fam::V6 => "bird6",
        }
    }
}

/// Sends `cmds` on one connection (as the status reporter does) and returns, per command, the
/// raw reply lines; the greeting is part of the first reply (Calico sends its command without
/// reading the greeting first and skips `0001` while scanning).
pub fn query(sock: &Path, cmds: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let s = UnixStream::connect(sock).map_err(|e| format!("connect {}: {e}", sock.display()))?;
    s.set_read_timeout(Some(DEADLINE))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    let mut greeting = true;
    for c in cmds {
        w.write_all(format!("{c}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n = r
                .read_line(&mut l)
                .map_err(|e| format!("read {}: {e} (after {lines:?})", sock.display()))?;
            if n == 0 {
                return Err(format!("connection closed after {lines:?}"));
            }
            let l = l.trim_end_matches('\n').to_string();
            let last = l.len() >= 5
                && l.as_bytes().iter().take(4).all(u8::is_ascii_digit)
                && l.as_bytes().get(4) == Some(&b' ');
            lines.push(l.clone());
            if last {
                if greeting && l.starts_with("0001") {
                    greeting = false;
                    continue;
                }
                break;
            }
        }
        out.push(lines);
    }
    Ok(out)
}

/// One command on a fresh connection.
pub fn query1(sock: &Path, cmd: &str) -> Result<Vec<String>, String> {
    Ok(query(sock, &[cmd])?.pop().unwrap_or_default())
}

/// A BGP peer as `scanBIRDPeers` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Address decoded from the protocol name.
    pub peer_ip: String,
    /// `node-to-node mesh`, `global`, `node specific`.
    pub peer_type: String,
    /// Protocol state (`up`, `start`).
    pub state: String,
    /// The since column (a time: compared for shape only).
    pub since: String,
    /// BGP state (`Established`).
    pub bgp_state: String,
    /// The rest of the info column.
    pub info: String,
}

fn peer_name(name: &str) -> Option<(String, String)> {
    peer_name_sep(name, ".")
}

/// Calico decodes the address with the separator of the socket it asked (`.` for `bird`, `:`
/// for `bird6`).
fn peer_name_sep(name: &str, sep: &str) -> Option<(String, String)> {
    let re = Regex::new(r"^(Global|Node|Mesh)_(.+)$").ok()?;
    let c = re.captures(name)?;
    let kind = match &c[1] {
        "Global" => "global",
        "Mesh" => "node-to-node mesh",
        _ => "node specific",
    };
    Some((c[2].replace('_', sep), kind.to_string()))
}

/// `scanBIRDPeers` (identical in health, calicoctl and the status reporter), on `bird`'s socket.
pub fn scan_peers(lines: &[String]) -> Result<Vec<Peer>, String> {
    scan_peers_sep(lines, ".")
}

/// `scanBIRDPeers` with the address separator of the socket (`:` for `bird6`).
pub fn scan_peers_sep(lines: &[String], sep: &str) -> Result<Vec<Peer>, String> {
    let mut peers = Vec::new();
    for line in lines {
        let row = if line.starts_with("0000") {
            return Ok(peers);
        } else if line.starts_with("0001") {
            continue;
        } else if let Some(h) = line.strip_prefix("2002-") {
            let heads: Vec<String> = h.split_whitespace().map(str::to_lowercase).collect();
            if heads != ["name", "proto", "table", "state", "since", "info"] {
                return Err(format!("unexpected headings: {line:?}"));
            }
            continue;
        } else if let Some(r) = line.strip_prefix("1002-") {
            r
        } else if let Some(r) = line.strip_prefix(' ') {
            r
        } else {
            return Err(format!("unexpected output line: {line:?}"));
        };
        let f: Vec<&str> = row.split_whitespace().collect();
        if f.len() < 6 || f[1] != "BGP" {
            continue;
        }
        let Some((ip, kind)) = peer_name_sep(f[0], sep) else {
            continue;
        };
        peers.push(Peer {
            peer_ip: ip,
            peer_type: kind,
            state: f[3].into(),
            since: f[4].into(),
            bgp_state: f[5].into(),
            info: f[6..].join(" "),
        });
    }
    Err("reply ended without 0000".into())
}

/// `GRInProgress`: `0024` means graceful restart in progress, `0013` ends the reply.
pub fn gr_in_progress(lines: &[String]) -> Result<bool, String> {
    for l in lines {
        if l.starts_with("0013") {
            return Ok(false);
        }
        if l.starts_with("0024") {
            return Ok(true);
        }
        if l.starts_with("0001")
            || l.starts_with("1000")
            || l.starts_with("1011")
            || l.starts_with(' ')
        {
            continue;
        }
        return Err(format!("unexpected output line: {l:?}"));
    }
    Err("reply ended without 0013".into())
}

/// `--bird-live`: `birdcl -s SOCK show status` output starts with `BIRD`.
pub fn live(birdcl_stdout: &str) -> bool {
    birdcl_stdout.starts_with("BIRD")
}

/// `--bird-ready` (`--bird6-ready` for [`Fam::V6`]): every peer Established (the first 30 s
/// after start) and no graceful restart in progress. Returns Calico's failure message.
pub fn ready(sock: &Path, fam: Fam) -> Result<(), String> {
    let peers = scan_peers_sep(&query1(sock, "show protocols")?, fam.sep())?;
    for p in &peers {
        if p.bgp_state != "Established" {
            return Err(format!("BGP not established with {}", p.peer_ip));
        }
    }
    if gr_in_progress(&query1(sock, "show status")?)? {
        return Err("graceful restart in progress".into());
    }
    Ok(())
}

/// What the status reporter reads from `show status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `Contains("BIRD") && Contains("ready")`.
    pub ready: bool,
    /// After `BIRD v` (empty for an upstream BIRD, whose version has no `v`).
    pub version: String,
    /// `Router ID is `.
    pub router_id: String,
    /// `Current server time is ` (shape only).
    pub server_time: String,
    /// `Last reboot on `.
    pub last_boot: String,
    /// `Last reconfiguration on `.
    pub last_reconfig: String,
}

/// The status reporter's `show status` scan (stops at `0013`).
pub fn status(lines: &[String]) -> Status {
    let mut s = Status::default();
    for l in lines {
        if l.starts_with("0013") {
            break;
        }
        if l.contains("BIRD") && l.contains("ready") {
            s.ready = true;
        }
        let t = match l.strip_prefix(' ') {
            Some(t) => t,
            None => l.get(5..).unwrap_or(""),
        };
        if let Some(v) = t.strip_prefix("BIRD v") {
            s.version = v.into();
        } else if let Some(v) = t.strip_prefix("Router ID is ") {
            s.router_id = v.into();
        } else if let Some(v) = t.strip_prefix("Current server time is ") {
            s.server_time = v.into();
        } else if let Some(v) = t.strip_prefix("Last reboot on ") {
            s.last_boot = v.into();
        } else if let Some(v) = t.strip_prefix("Last reconfiguration on ") {
            s.last_reconfig = v.into();
        }
    }
    s
}

/// What the status reporter reads from `show protocols all NAME`: `BGP state:` and
/// `Neighbor address:`, until `0000`.
pub fn protocol_details(lines: &[String]) -> Result<(String, String), String> {
    let (mut state, mut addr) = (String::new(), String::new());
    for l in lines {
        if l.starts_with("0000") {
            return Ok((state, addr));
        }
        if let Some(i) = l.find("BGP state:") {
            state = l[i + "BGP state:".len()..].trim().to_string();
        }
        if let Some(i) = l.find("Neighbor address:") {
            addr = l[i + "Neighbor address:".len()..].trim().to_string();
        }
    }
    Err(format!("reply ended without 0000: {lines:?}"))
}

/// One route as the status reporter records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// Destination.
    pub dest: String,
    /// `via`, `dev`, `blackhole`, `unreachable`.
    pub kind: String,
    /// Gateway (`via`).
    pub gateway: String,
    /// Interface (`via`, `dev`).
    pub iface: String,
    /// The protocol it came from.
    pub from: String,
    /// `] *`: the primary route.
    pub primary: bool,
}

/// The status reporter's `show route` parse: every `1007` line and its continuations must
/// match one of the four regexes (with the protocol name in the brackets), and that protocol
/// must be `kernel*`, `static*`, `direct*` or a Calico peer name; anything else fails.
pub fn routes(lines: &[String]) -> Result<Vec<Route>, String> {
    let via = Regex::new(
        r"(?P<dest>\S*)\s*via\s(?P<gateway>\S*)\s*on\s(?P<iface>.*)\s\[(?P<from>\S*)\s.*\].*",
    )
    .unwrap();
    let dev = Regex::new(r"(?P<dest>\S*)\s*dev\s(?P<iface>.*)\s\[(?P<from>\S*)\s.*\].*").unwrap();
    let bh = Regex::new(r"(?P<dest>\S*)\s*blackhole\s\[(?P<from>\S*)\s.*\].*").unwrap();
    let un = Regex::new(r"(?P<dest>\S*)\s*unreachable\s\[(?P<from>\S*)\s.*\].*").unwrap();
    let mut out = Vec::new();
    for l in lines {
        let text = if let Some(t) = l.strip_prefix("1007-") {
            t
        } else if let Some(t) = l.strip_prefix(' ') {
            t
        } else if l.starts_with("0000") {
            return Ok(out);
        } else if l.starts_with("0001") {
            continue;
        } else {
            return Err(format!("unexpected output line: {l:?}"));
        };
        let get = |c: &regex::Captures, n: &str| c.name(n).map_or("", |m| m.as_str()).to_string();
        let (kind, c) = if let Some(c) = via.captures(text) {
            ("via", c)
        } else if let Some(c) = dev.captures(text) {
            ("dev", c)
        } else if let Some(c) = bh.captures(text) {
            ("blackhole", c)
        } else if let Some(c) = un.captures(text) {
            ("unreachable", c)
        } else {
            return Err(format!("route line matches no regex: {text:?}"));
        };
        let from = get(&c, "from");
        let known = ["kernel", "static", "direct"]
            .iter()
            .any(|p| from.starts_with(p))
            || peer_name(&from).is_some();
        if !known {
            return Err(format!("route from unknown protocol {from:?}: {text:?}"));
        }
        out.push(Route {
            dest: get(&c, "dest"),
            kind: kind.into(),
            gateway: get(&c, "gateway"),
            iface: get(&c, "iface"),
            from,
            primary: text.contains("] *"),
        });
    }
    Err("reply ended without 0000".into())
}

/// `calicoctl node status`'s IPv4 table rows: peer address, type, state, since, info
/// (BGP state and info joined).
pub fn calicoctl_rows(peers: &[Peer]) -> Vec<[String; 5]> {
    peers
        .iter()
        .map(|p| {
            let info = if p.info.is_empty() {
                p.bgp_state.clone()
            } else {
                format!("{} {}", p.bgp_state, p.info)
            };
            [
                p.peer_ip.clone(),
                p.peer_type.clone(),
                p.state.clone(),
                p.since.clone(),
                info,
            ]
        })
        .collect()
}
