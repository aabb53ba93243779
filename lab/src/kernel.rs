//! DOC: the kernel's routing tables as the lab sees them: `ip -j route show` of one namespace,
//! parsed into [`KernelRoute`] values (destination, gateway, device, flags such as `onlink`,
//! protocol, type such as `blackhole`, ECMP next hops), with a `Display` in `ip route` words for
//! assertions and error messages.

use std::fmt;

use serde::Deserialize;

use crate::cmd;
use crate::error::{Context, Result};

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`ip -4`).
    V4,
    /// IPv6 (`ip -6`).
    V6,
}

impl Family {
    /// `-4` / `-6`.
    pub fn ip_flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }
    /// `ipv4` / `ipv6` (FRR, GoBGP words).
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// One ECMP next hop.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KernelNexthop {
    /// Gateway address.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Output device.
    #[serde(default)]
    pub dev: Option<String>,
    /// Weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Flags (`onlink`, ...).
    #[serde(default)]
    pub flags: Vec<String>,
}

/// One kernel route, as `ip -j route show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KernelRoute {
    /// Route type when not plain unicast (`blackhole`, `unreachable`, `prohibit`, `local`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Destination, normalised to `prefix/len` (`ip` prints host routes without `/32`).
    pub dst: String,
    /// Gateway (single next hop).
    #[serde(default)]
    pub gateway: Option<String>,
    /// Output device.
    #[serde(default)]
    pub dev: Option<String>,
    /// Protocol (`bird`, `bgp`, `kernel`, `static`, or a number).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Scope (`link`, `host`; absent = universe).
    #[serde(default)]
    pub scope: Option<String>,
    /// Metric.
    #[serde(default)]
    pub metric: Option<u32>,
    /// Flags (`onlink`, `linkdown`, ...).
    #[serde(default)]
    pub flags: Vec<String>,
    /// ECMP next hops (multipath routes).
    #[serde(default)]
    pub nexthops: Vec<KernelNexthop>,
    /// Table, when asked for `table all`.
    #[serde(default)]
    pub table: Option<String>,
}

impl KernelRoute {
    /// `onlink` is set (on the route or on every next hop).
    pub fn is_onlink(&self) -> bool {
        self.flags.iter().any(|f| f == "onlink")
            || (!self.nexthops.is_empty()
                && self
                    .nexthops
                    .iter()
                    .all(|n| n.flags.iter().any(|f| f == "onlink")))
    }
    /// A blackhole route.
    pub fn is_blackhole(&self) -> bool {
        self.kind.as_deref() == Some("blackhole")
    }
    /// The (gateway, device) pairs: one for a plain route, several for ECMP.
    pub fn hops(&self) -> Vec<(Option<&str>, Option<&str>)> {
        if self.nexthops.is_empty() {
            vec![(self.gateway.as_deref(), self.dev.as_deref())]
        } else {
            self.nexthops
                .iter()
                .map(|n| (n.gateway.as_deref(), n.dev.as_deref()))
                .collect()
        }
    }
    /// `via GW dev DEV onlink` for a single-hop route through a gateway.
    pub fn is_via(&self, gateway: &str, dev: &str, onlink: bool) -> bool {
        self.nexthops.is_empty()
            && self.kind.is_none()
            && self.gateway.as_deref() == Some(gateway)
            && self.dev.as_deref() == Some(dev)
            && self.is_onlink() == onlink
    }
}

impl fmt::Display for KernelRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = &self.kind {
            write!(f, "{k} ")?;
        }
        write!(f, "{}", self.dst)?;
        if let Some(g) = &self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        for fl in &self.flags {
            write!(f, " {fl}")?;
        }
        if let Some(p) = &self.protocol {
            write!(f, " proto {p}")?;
        }
        if let Some(s) = &self.scope {
            write!(f, " scope {s}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        for n in &self.nexthops {
            write!(f, " nexthop")?;
            if let Some(g) = &n.gateway {
                write!(f, " via {g}")?;
            }
            if let Some(d) = &n.dev {
                write!(f, " dev {d}")?;
            }
            if let Some(w) = n.weight {
                write!(f, " weight {w}")?;
            }
            for fl in &n.flags {
                write!(f, " {fl}")?;
            }
        }
        Ok(())
    }
}

/// Normalises `ip`'s destination (`default`, `10.0.0.1`) to `prefix/len`.
pub fn normalise_dst(dst: &str, family: Family) -> String {
    match (dst, family) {
        ("default", Family::V4) => "0.0.0.0/0".into(),
        ("default", Family::V6) => "::/0".into(),
        (d, _) if d.contains('/') => d.into(),
        (d, Family::V4) => format!("{d}/32"),
        (d, Family::V6) => format!("{d}/128"),
    }
}

/// Parses `ip -j route show` output. `protocol` fills in the protocol `ip` omits when the dump
/// was filtered by it.
pub fn parse_routes(
    json: &str,
    family: Family,
    protocol: Option<&str>,
) -> Result<Vec<KernelRoute>> {
    let json = json.trim();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let mut routes: Vec<KernelRoute> = serde_json::from_str(json).context(format!(
        "parsing `ip -j route`: {}",
        cmd::truncate(json, 300)
    ))?;
    for r in &mut routes {
        r.dst = normalise_dst(&r.dst, family);
        if r.protocol.is_none() {
            r.protocol = protocol.map(String::from);
        }
    }
    Ok(routes)
}

/// The routes of namespace `ns`, table `table` (`main`, `254`, `all`), optionally only protocol
/// `protocol` (`bird`, `bgp`, `12`, ...).
pub fn routes(
    ns: &str,
    family: Family,
    table: &str,
    protocol: Option<&str>,
) -> Result<Vec<KernelRoute>> {
    let mut args = vec![
        "-n",
        ns,
        "-j",
        family.ip_flag(),
        "route",
        "show",
        "table",
        table,
    ];
    if let Some(p) = protocol {
        args.extend(["proto", p]);
    }
    let out = cmd::ip(&args)?;
    parse_routes(&out, family, protocol)
}

/// How many routes namespace `ns` has in `table` (optionally only `protocol`): counts the lines
/// of `ip route show` (ECMP next-hop lines excluded), much cheaper than [`routes`] at 100k.
pub fn count(ns: &str, family: Family, table: &str, protocol: Option<&str>) -> Result<usize> {
    let mut args = vec!["-n", ns, family.ip_flag(), "route", "show", "table", table];
    if let Some(p) = protocol {
        args.extend(["proto", p]);
    }
    let out = cmd::ip(&args)?;
    Ok(out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .count())
}

/// Renders routes one per line for error messages.
pub fn render(routes: &[KernelRoute]) -> String {
    if routes.is_empty() {
        return "(no routes)".into();
    }
    routes
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_onlink_blackhole_and_ecmp() {
        let json = r#"[{"dst":"10.0.1.0/26","gateway":"172.31.0.12","dev":"tunl0","metric":32,"flags":["onlink"]},
            {"type":"blackhole","dst":"10.0.0.0/26","flags":[]},
            {"dst":"10.9.9.9","flags":[]},
            {"dst":"10.0.2.0/26","metric":32,"flags":[],"nexthops":[{"gateway":"172.31.0.12","dev":"eth0","weight":1,"flags":[]},{"gateway":"172.31.0.13","dev":"eth0","weight":1,"flags":[]}]}]"#;
        let r = parse_routes(json, Family::V4, Some("bird")).unwrap();
        assert!(r[0].is_via("172.31.0.12", "tunl0", true));
        assert_eq!(
            r[0].to_string(),
            "10.0.1.0/26 via 172.31.0.12 dev tunl0 onlink proto bird metric 32"
        );
        assert!(r[1].is_blackhole());
        assert_eq!(r[2].dst, "10.9.9.9/32");
        assert_eq!(r[3].hops().len(), 2);
        assert!(!r[3].is_onlink());
    }
}

/// One event of `ip monitor route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    /// A deletion (`Deleted ...`), else an addition or replacement.
    pub deleted: bool,
    /// Destination, normalised like [`KernelRoute::dst`].
    pub dst: String,
    /// The line as `ip` printed it.
    pub line: String,
}

/// Parses `ip monitor route` output (lines such as `Deleted blackhole 10.0.0.0/26 proto bird`,
/// `10.0.1.0/26 via 172.31.0.12 dev tunl0 proto bird onlink`).
pub fn parse_monitor(text: &str) -> Vec<RouteEvent> {
    const TYPES: [&str; 8] = [
        "unicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "local",
        "broadcast",
        "multicast",
        "anycast",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let (deleted, rest) = match l.strip_prefix("Deleted ") {
            Some(r) => (true, r),
            None => (false, l),
        };
        let mut w = rest.split_whitespace().peekable();
        if w.peek().is_some_and(|t| TYPES.contains(t)) {
            w.next();
        }
        let Some(dst) = w.next() else { continue };
        let family = if dst.contains(':') {
            Family::V6
        } else {
            Family::V4
        };
        out.push(RouteEvent {
            deleted,
            dst: normalise_dst(dst, family),
            line: l.to_string(),
        });
    }
    out
}

/// A running `ip monitor route` of one namespace, logging every route change, so a scenario
/// can prove a route was *never* removed (a poll could miss a short gap; the monitor cannot).
#[derive(Debug)]
pub struct RouteMonitor {
    process: crate::process::Process,
    log: std::path::PathBuf,
}

impl RouteMonitor {
    /// Starts the monitor for namespace `ns`, logging to `log`; returns once it is subscribed
    /// (a marker route in table 4242 was seen and removed again).
    pub fn start(ns: &str, log: &std::path::Path) -> Result<RouteMonitor> {
        let argv = cmd::in_netns(None, "ip", &["-n", ns, "monitor", "route"]);
        let mut process = crate::process::Process::spawn(&format!("ip-monitor@{ns}"), &argv, log)?;
        let marker = "203.0.113.255";
        crate::wait::wait_until(
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(50),
            "ip monitor is subscribed",
            || {
                process.ensure_running()?;
                // Delete and add on every poll: replacing an identical route is not notified,
                // so a marker added before the subscription would never show up.
                for op in ["del", "add"] {
                    let _ = cmd::ip(&[
                        "-n",
                        ns,
                        "route",
                        op,
                        "unreachable",
                        marker,
                        "table",
                        "4242",
                    ]);
                }
                Ok(std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .contains(marker))
            },
        )?;
        cmd::ip(&[
            "-n",
            ns,
            "route",
            "del",
            "unreachable",
            marker,
            "table",
            "4242",
        ])?;
        Ok(RouteMonitor {
            process,
            log: log.to_path_buf(),
        })
    }

    /// Every event so far (the marker's excluded).
    pub fn events(&self) -> Result<Vec<RouteEvent>> {
        let text = std::fs::read_to_string(&self.log)?;
        Ok(parse_monitor(&text)
            .into_iter()
            .filter(|e| !e.line.contains("table 4242"))
            .collect())
    }

    /// Deletions of any of `prefixes` so far.
    pub fn deletions_of(&self, prefixes: &[String]) -> Result<Vec<RouteEvent>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.deleted && prefixes.contains(&e.dst))
            .collect())
    }

    /// Forgets the events so far (truncates the log).
    pub fn clear(&self) -> Result<()> {
        std::fs::write(&self.log, "")?;
        Ok(())
    }

    /// Stops the monitor.
    pub fn stop(mut self) {
        self.process.kill();
    }
}

#[cfg(test)]
mod monitor_tests {
    use super::*;

    #[test]
    fn parses_monitor_lines() {
        let t = "Deleted blackhole 10.0.0.0/26 proto bird \n10.0.1.0/26 via 172.31.0.12 dev tunl0 proto bird onlink \nDeleted 10.9.9.9 dev eth0 scope link \n2001:db8::/48 via fe80::1 dev eth0 proto bird metric 32 pref medium\n";
        let e = parse_monitor(t);
        assert_eq!(e.len(), 4);
        assert!(e[0].deleted && e[0].dst == "10.0.0.0/26");
        assert!(!e[1].deleted && e[1].dst == "10.0.1.0/26");
        assert_eq!(e[2].dst, "10.9.9.9/32");
        assert_eq!(e[3].dst, "2001:db8::/48");
    }
}
