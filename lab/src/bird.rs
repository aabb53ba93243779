//! DOC: BIRD, both generations: the driver shared by BIRD 2 and BIRD 1.6 ([`Bird`]: start in
//! the foreground inside a namespace, talk to it over `birdc -s SOCKET`), parsers for the text
//! replies (`show protocols`, `show route all`: BIRD has no JSON), and the BIRD 2 config
//! generator [`Bird2Config`] (`bird/config.rs`). The Calico-style BIRD 1.6 generator is in `bird16.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd;
use crate::error::{Context, Error, Result};
use crate::kernel::Family;
use crate::lab::NodeNet;
use crate::process::Process;
use crate::wait::wait_until;

mod config;
pub use config::{Bird2Config, Bird2Peer, KernelExport};

/// Path of the Debian `bird2` daemon.
pub const BIRD2_BIN: &str = "/usr/sbin/bird";
/// Path of the Debian `bird2` client.
pub const BIRDC2_BIN: &str = "/usr/sbin/birdc";
/// Where BIRD 1.6 is unpacked (override with `BGPLAB_BIRD16_ROOT`).
pub const BIRD16_ROOT: &str = "/opt/bird16";

/// Which BIRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirdVersion {
    /// BIRD 2.0 (Debian `bird2`).
    V2,
    /// BIRD 1.6 (Debian `bird`, unpacked; IPv4 daemon `bird`).
    V16,
    /// BIRD 1.6's IPv6 daemon `bird6` (client `birdc6`), from the same package.
    V16Ip6,
}

impl BirdVersion {
    /// (daemon, client) binaries.
    pub fn binaries(self) -> (PathBuf, PathBuf) {
        match self {
            BirdVersion::V2 => (BIRD2_BIN.into(), BIRDC2_BIN.into()),
            BirdVersion::V16 | BirdVersion::V16Ip6 => {
                let root =
                    std::env::var("BGPLAB_BIRD16_ROOT").unwrap_or_else(|_| BIRD16_ROOT.into());
                let root = Path::new(&root).join("usr/sbin");
                let (d, c) = if self == BirdVersion::V16 {
                    ("bird", "birdc")
                } else {
                    ("bird6", "birdc6")
                };
                (root.join(d), root.join(c))
            }
        }
    }
    /// Fails loudly if the binaries are missing.
    pub fn require(self) -> Result<()> {
        let (d, c) = self.binaries();
        for b in [&d, &c] {
            if !b.exists() {
                return Err(Error(format!(
                    "{} is missing: install the lab's packages (scripts/test-all.sh installs bird2, and unpacks BIRD 1.6 with `apt-get download bird && dpkg-deb -x bird_*.deb /opt/bird16`)",
                    b.display()
                )));
            }
        }
        Ok(())
    }
}

/// A `birdc` connection to one daemon's control socket.
#[derive(Debug, Clone)]
pub struct BirdCtl {
    /// The client binary.
    pub birdc: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
}

/// One row of `show protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Name.
    pub name: String,
    /// Kind (`BGP`, `Kernel`, `Static`, ...).
    pub proto: String,
    /// Table (`master4`, `---`).
    pub table: String,
    /// State (`up`, `start`, `down`).
    pub state: String,
    /// Since.
    pub since: String,
    /// Info column (`Established`, `Active    Socket: Connection refused`, ...).
    pub info: String,
}

impl BirdProtocol {
    /// The BGP state (first word of the info column).
    pub fn bgp_state(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }
}

/// One route of `show route all` (one path: several per prefix when BIRD keeps alternatives).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BirdRoute {
    /// Table (`master4`; empty for BIRD 1.6).
    pub table: String,
    /// Prefix.
    pub prefix: String,
    /// Route kind (`unicast`, `blackhole`, `unreachable`, `prohibited`, `device`).
    pub kind: String,
    /// Next hops (gateway, interface).
    pub nexthops: Vec<(Option<String>, Option<String>)>,
    /// Protocol it came from.
    pub protocol: String,
    /// `*`: the best route.
    pub primary: bool,
    /// The `Type:` line.
    pub source_type: String,
    /// BGP attributes by name without `BGP.` (`as_path`, `next_hop`, `community`,
    /// `large_community`, `originator_id`, `cluster_list`, `local_pref`, `med`, `origin`).
    pub attrs: BTreeMap<String, String>,
}

impl BirdRoute {
    /// A BGP attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

impl BirdCtl {
    /// Runs one command (passed as ONE argument: birdc joins argv with spaces and loses quotes).
    pub fn cmd(&self, command: &str) -> Result<String> {
        let argv = vec![
            self.birdc.to_string_lossy().into_owned(),
            "-s".into(),
            self.socket.to_string_lossy().into_owned(),
            command.into(),
        ];
        let out = cmd::run_argv(&argv, cmd::COMMAND_TIMEOUT)?;
        if out.contains("Unable to connect to server") {
            return Err(Error(format!("birdc: {}", out.trim())));
        }
        Ok(out)
    }

    /// `show protocols`.
    pub fn protocols(&self) -> Result<Vec<BirdProtocol>> {
        Ok(parse_protocols(&self.cmd("show protocols")?))
    }

    /// BGP protocols by name with their state word (`Established`, `Active`, ...).
    pub fn bgp_states(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .protocols()?
            .into_iter()
            .filter(|p| p.proto == "BGP")
            .map(|p| (p.name.clone(), p.bgp_state().to_string()))
            .collect())
    }

    /// Whether BIRD keeps protocol `name`'s routes through the neighbour's graceful restart
    /// (`show protocols all NAME` says "Neighbor graceful restart active"; BIRD does not mark
    /// the stale routes themselves in `show route`).
    pub fn graceful_restart_active(&self, name: &str) -> Result<bool> {
        Ok(self
            .cmd(&format!("show protocols all {name}"))?
            .contains("Neighbor graceful restart active"))
    }

    /// `show route all [ARGS]` (e.g. `protocol frr`, `table master6`, `for 10.0.0.0/26`).
    pub fn routes(&self, args: &str) -> Result<Vec<BirdRoute>> {
        let c = if args.is_empty() {
            "show route all".to_string()
        } else {
            format!("show route all {args}")
        };
        Ok(parse_routes(&self.cmd(&c)?))
    }

    /// `show route [ARGS] count`: the number of routes shown (pass a table on BIRD 2, e.g.
    /// `table master4`, or `table master4 primary` for best routes only).
    pub fn route_count(&self, args: &str) -> Result<u64> {
        let out = self.cmd(&format!("show route {args} count"))?;
        parse_route_count(&out)
            .ok_or_else(|| Error(format!("no route count in: {}", cmd::truncate(&out, 300))))
    }
}

/// The first "N of M routes ..." number of a `show route count` reply.
pub fn parse_route_count(text: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.contains(" routes"))
        .find_map(|l| l.split_whitespace().next().and_then(|w| w.parse().ok()))
}

/// Parses `show protocols` (both generations).
pub fn parse_protocols(text: &str) -> Vec<BirdProtocol> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.starts_with("BIRD ") || l.is_empty() || l.to_ascii_lowercase().starts_with("name ") {
            continue;
        }
        let mut words = l.split_whitespace();
        let (Some(name), Some(proto), Some(table), Some(state), Some(since)) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            continue;
        };
        let info = words.collect::<Vec<_>>().join(" ");
        out.push(BirdProtocol {
            name: name.into(),
            proto: proto.into(),
            table: table.into(),
            state: state.into(),
            since: since.into(),
            info,
        });
    }
    out
}

/// Parses `show route all` (BIRD 2: `PREFIX unicast [proto time] * (pref) [origin]` then tab
/// lines `via X on IF`, `Type:`, `BGP.x: v`; BIRD 1.6: `PREFIX via X on IF [proto time] * ...`).
pub fn parse_routes(text: &str) -> Vec<BirdRoute> {
    let mut out: Vec<BirdRoute> = Vec::new();
    let mut table = String::new();
    let mut prefix = String::new();
    for line in text.lines() {
        if line.starts_with("BIRD ") || line.trim().is_empty() {
            continue;
        }
        if let Some(t) = line.strip_prefix("Table ") {
            table = t.trim_end_matches(':').to_string();
            continue;
        }
        if let Some(rest) = line.strip_prefix('\t') {
            let Some(r) = out.last_mut() else { continue };
            let rest = rest.trim();
            if let Some(v) = rest.strip_prefix("via ") {
                let mut w = v.split_whitespace();
                let gw = w.next().map(String::from);
                let ifc = if w.next() == Some("on") {
                    w.next().map(String::from)
                } else {
                    None
                };
                r.nexthops.push((gw, ifc));
            } else if let Some(d) = rest.strip_prefix("dev ") {
                r.nexthops
                    .push((None, d.split_whitespace().next().map(String::from)));
            } else if let Some(t) = rest.strip_prefix("Type: ") {
                r.source_type = t.to_string();
            } else if let Some(a) = rest.strip_prefix("BGP.") {
                if let Some((k, v)) = a.split_once(':') {
                    r.attrs.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            continue;
        }
        // A route line: a new prefix, or (leading spaces) another path of the same prefix.
        let body = if line.starts_with(' ') {
            line.trim_start()
        } else {
            let mut sp = line.splitn(2, char::is_whitespace);
            prefix = sp.next().unwrap_or("").to_string();
            sp.next().unwrap_or("").trim_start()
        };
        let Some(open) = body.find('[') else { continue };
        let head = body[..open].trim();
        let tail = &body[open + 1..];
        let protocol = tail.split_whitespace().next().unwrap_or("").to_string();
        let primary = tail.contains("] *");
        let mut r = BirdRoute {
            table: table.clone(),
            prefix: prefix.clone(),
            protocol,
            primary,
            ..Default::default()
        };
        let mut w = head.split_whitespace();
        match w.next() {
            Some("via") => {
                // BIRD 1.6: via X on IF
                let gw = w.next().map(String::from);
                let ifc = if w.next() == Some("on") {
                    w.next().map(String::from)
                } else {
                    None
                };
                r.kind = "unicast".into();
                r.nexthops.push((gw, ifc));
            }
            Some("dev") => {
                r.kind = "device".into();
                r.nexthops.push((None, w.next().map(String::from)));
            }
            Some("multipath") => r.kind = "unicast".into(),
            Some(k) => r.kind = k.to_string(),
            None => {}
        }
        out.push(r);
    }
    out
}

/// A running BIRD (either generation).
#[derive(Debug)]
pub struct Bird {
    /// Which BIRD.
    pub version: BirdVersion,
    /// The node it runs on.
    pub node: NodeNet,
    /// The config file.
    pub config: PathBuf,
    /// Control connection.
    pub ctl: BirdCtl,
    process: Option<Process>,
    starts: u32,
    reconfigs: u32,
}

impl Bird {
    /// Writes `config` to `<node dir>/bird.conf`, checks it with `bird -p`, and starts BIRD in
    /// the node's namespace (foreground, `-s <node dir>/bird.ctl`); returns once the control
    /// socket answers.
    pub fn start(version: BirdVersion, node: &NodeNet, config: &str) -> Result<Bird> {
        version.require()?;
        let (daemon, birdc) = version.binaries();
        let conf = node.path("bird.conf");
        std::fs::write(&conf, config)?;
        let socket = node.path("bird.ctl");
        check_socket_path(&socket)?;
        let check = cmd::run_raw(
            &[
                daemon.to_string_lossy().into_owned(),
                "-p".into(),
                "-c".into(),
                conf.to_string_lossy().into_owned(),
            ],
            cmd::COMMAND_TIMEOUT,
        )?;
        if check.code != Some(0) {
            return Err(Error(format!(
                "{} rejects {}: {}{}",
                daemon.display(),
                conf.display(),
                check.stderr.trim(),
                check.stdout.trim()
            )));
        }
        let mut b = Bird {
            version,
            node: node.clone(),
            config: conf,
            ctl: BirdCtl { birdc, socket },
            process: None,
            starts: 0,
            reconfigs: 0,
        };
        b.restart_process(false)?;
        Ok(b)
    }

    /// Starts the daemon; `recover`: with `-R` (graceful-restart recovery).
    fn restart_process(&mut self, recover: bool) -> Result<()> {
        let (daemon, _) = self.version.binaries();
        let _ = std::fs::remove_file(&self.ctl.socket);
        self.starts += 1;
        let (conf, sock) = (
            self.config.to_string_lossy(),
            self.ctl.socket.to_string_lossy(),
        );
        let pid = self.node.path("bird.pid");
        let pid = pid.to_string_lossy();
        let mut args = vec!["-f", "-c", &conf, "-s", &sock, "-P", &pid];
        if recover {
            args.push("-R");
        }
        let argv = cmd::in_netns(Some(&self.node.ns), &daemon.to_string_lossy(), &args);
        let log = self.node.path(&format!("bird-stdout.{}.log", self.starts));
        self.process = Some(Process::spawn(
            &format!("bird@{}", self.node.name),
            &argv,
            &log,
        )?);
        let ctl = self.ctl.clone();
        let proc_ = self
            .process
            .as_mut()
            .ok_or_else(|| Error("no process".into()))?;
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(50),
            "BIRD control socket answers",
            || {
                proc_.ensure_running()?;
                Ok(ctl.cmd("show status").is_ok())
            },
        )
        .context(format!("starting BIRD on {}", self.node.name))
    }

    /// The daemon process.
    pub fn process(&mut self) -> Option<&mut Process> {
        self.process.as_mut()
    }

    /// Stops the daemon with `signal` (SIGTERM: clean shutdown; SIGKILL: crash) and waits.
    pub fn stop(&mut self, signal: i32) -> Result<()> {
        if let Some(p) = self.process.as_mut() {
            p.signal(signal)?;
            if p.wait_exit(Duration::from_secs(10)).is_none() {
                p.kill();
            }
        }
        self.process = None;
        Ok(())
    }

    /// Starts it again with the same config (after [`Bird::stop`]).
    pub fn start_again(&mut self) -> Result<()> {
        self.stop(libc::SIGTERM)?;
        self.restart_process(false)
    }

    /// Stops it with SIGTERM and starts it again with `-R`, in graceful-restart recovery (as
    /// calico-node's runit script always starts BIRD).
    pub fn restart_recovering(&mut self) -> Result<()> {
        self.stop(libc::SIGTERM)?;
        self.restart_process(true)
    }

    /// Replaces the config with `config` (checked with `bird -p` first) and applies it with
    /// `birdc configure` (BIRD's soft reconfiguration: changed static routes are announced or
    /// withdrawn without restarting sessions). The previous config is kept as
    /// `bird.conf.<n>` in the node's directory.
    pub fn reconfigure(&mut self, config: &str) -> Result<()> {
        let (daemon, _) = self.version.binaries();
        self.reconfigs += 1;
        let _ = std::fs::copy(
            &self.config,
            self.node.path(&format!("bird.conf.{}", self.reconfigs)),
        );
        let next = self.node.path("bird.conf.next");
        std::fs::write(&next, config)?;
        let check = cmd::run_raw(
            &[
                daemon.to_string_lossy().into_owned(),
                "-p".into(),
                "-c".into(),
                next.to_string_lossy().into_owned(),
            ],
            cmd::COMMAND_TIMEOUT,
        )?;
        if check.code != Some(0) {
            return Err(Error(format!(
                "{} rejects {}: {}{}",
                daemon.display(),
                next.display(),
                check.stderr.trim(),
                check.stdout.trim()
            )));
        }
        std::fs::rename(&next, &self.config)?;
        let out = self.ctl.cmd("configure")?;
        if !out.contains("Reconfigured") && !out.contains("Reconfiguration in progress") {
            return Err(Error(format!("birdc configure: {}", out.trim())));
        }
        Ok(())
    }

    /// BGP protocols that are Established.
    pub fn established(&self) -> Result<Vec<String>> {
        Ok(self
            .ctl
            .bgp_states()?
            .into_iter()
            .filter(|(_, s)| s == "Established")
            .map(|(n, _)| n)
            .collect())
    }

    /// Prefixes of the best routes in the table of `family` (BIRD 1.6: its daemon's family).
    pub fn prefixes(&self, family: Family) -> Result<Vec<String>> {
        let args = match (self.version, family) {
            (BirdVersion::V2, Family::V4) => "table master4",
            (BirdVersion::V2, Family::V6) => "table master6",
            (BirdVersion::V16 | BirdVersion::V16Ip6, _) => "",
        };
        let mut v: Vec<String> = self
            .ctl
            .routes(args)?
            .into_iter()
            .filter(|r| r.primary)
            .map(|r| r.prefix)
            .collect();
        v.dedup();
        Ok(v)
    }

    /// Writes `show protocols all` and `show route all` into the node's directory.
    pub fn dump_state(&self) {
        for (file, c) in [
            ("birdc-protocols.txt", "show protocols all"),
            ("birdc-routes.txt", "show route all"),
        ] {
            let text = self.ctl.cmd(c).unwrap_or_else(|e| format!("(failed: {e})"));
            let _ = std::fs::write(self.node.path(file), text);
        }
        crate::lab::dump_netns(&self.node.ns, &self.node.path("kernel.txt"));
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_state();
        }
    }
}

/// Unix socket paths are limited to 107 bytes.
pub fn check_socket_path(p: &Path) -> Result<()> {
    if p.as_os_str().len() > 100 {
        return Err(Error(format!(
            "socket path too long for a unix socket ({} bytes): {} — use a shorter test name or CARGO_TARGET_DIR",
            p.as_os_str().len(),
            p.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bird2_and_bird16_routes() {
        let b2 = "BIRD 2.0.12 ready.\nTable master4:\n10.2.4.1/32          unicast [frr 00:17:20.473] * (100) [i]\n\tvia 172.30.0.2 on veth-a\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: \n\tBGP.originator_id: 172.30.0.9\n\tBGP.cluster_list: 1.1.1.1\n                     unicast [other 00:17:20.473] (100) [i]\n\tvia 172.30.0.3 on veth-a\n10.0.0.0/26          blackhole [static1 00:33:42.768] * (200)\n\tType: static univ\n";
        let r = parse_routes(b2);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].prefix, "10.2.4.1/32");
        assert!(r[0].primary);
        assert_eq!(r[0].protocol, "frr");
        assert_eq!(r[0].attr("cluster_list"), Some("1.1.1.1"));
        assert_eq!(
            r[0].nexthops,
            vec![(Some("172.30.0.2".into()), Some("veth-a".into()))]
        );
        assert_eq!(r[1].prefix, "10.2.4.1/32");
        assert!(!r[1].primary);
        assert_eq!(r[1].protocol, "other");
        assert_eq!(r[2].kind, "blackhole");
        let b16 = "BIRD 1.6.8 ready.\n10.2.2.0/24        via 172.30.0.2 on veth-a [frr 00:17:53] * (100/0) [i]\n\tType: BGP unicast univ\n\tBGP.med: 20\n10.0.0.0/26        blackhole [static1 00:17:50] * (200)\n";
        let r = parse_routes(b16);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].nexthops,
            vec![(Some("172.30.0.2".into()), Some("veth-a".into()))]
        );
        assert_eq!(r[0].attr("med"), Some("20"));
        assert_eq!(r[1].kind, "blackhole");
    }

    #[test]
    fn parses_route_count() {
        let b2 =
            "BIRD 2.0.12 ready.\n100000 of 100000 routes for 100000 networks in table master4\n";
        assert_eq!(parse_route_count(b2), Some(100000));
        assert_eq!(
            parse_route_count("BIRD 1.6.8 ready.\n7 of 9 routes for 7 networks\n"),
            Some(7)
        );
        assert_eq!(parse_route_count("BIRD 2.0.12 ready.\n"), None);
    }

    #[test]
    fn parses_protocols() {
        let t = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\ndevice1    Device     ---        up     00:33:42.768  \ngobgp      BGP        ---        up     00:33:43.655  Established   \nx          BGP        ---        start  00:33:43.655  Active        Socket: Connection refused\n";
        let p = parse_protocols(t);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].bgp_state(), "Established");
        assert_eq!(p[2].info, "Active Socket: Connection refused");
    }
}
