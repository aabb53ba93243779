//! DOC: BIRD 1.6.8's human reply formats, byte for byte (`nest/cmds.c`, `nest/proto.c`,
//! `proto/bgp/bgp.c`, `nest/rt-table.c`, `nest/rt-attr.c`), written from the status snapshots.
//!
//! Times follow BIRD's defaults: protocol and route times are `%T` when less than 20 hours
//! old and `%F` otherwise (`tf_proto`/`tf_route`), status times are `%F %T` (`tf_base`), all
//! in local time.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::status::{
    BgpRouteAttrs, DaemonStatus, FibCounts, FibEntry, ProtoKind, ProtoState, ProtocolStatus,
    RouteDest, RouteEntry, IGP_METRIC_UNKNOWN, IGP_METRIC_UNRESOLVED,
};

use crate::wire::ReplyWriter;

/// The version string after `BIRD ` in the greeting and in `show status`.
///
/// It must start with `v` (Calico's status reporter takes the version from a `show status`
/// line that starts with `BIRD v`, as the calico fork's `v0.3.3+birdv1.6.8` does) and contain no
/// space (parsers split on white space). `1.6.8` after the `v` says which CLI dialect we speak,
/// for tools that tell BIRD 1 and 2 apart by the number; our own version follows as semver
/// build metadata.
pub fn bird_version() -> String {
    format!("v1.6.8+bgpd-{}", crate::VERSION)
}

/// Formats times as BIRD does, relative to a fixed "now".
#[derive(Debug, Clone, Copy)]
pub struct TimeFmt {
    /// The present.
    pub now: SystemTime,
    /// Offset from UTC in seconds; `None` asks the C library for local time (TZ).
    pub utc_offset: Option<i64>,
}

/// `tf_proto` / `tf_route` limit: 20 hours.
const SHORT_LIMIT: u64 = 20 * 3600;

impl TimeFmt {
    /// Local time now.
    pub fn local() -> Self {
        TimeFmt {
            now: SystemTime::now(),
            utc_offset: None,
        }
    }

    fn fields(&self, t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let off = self.utc_offset.unwrap_or_else(|| local_offset(secs));
        let s = secs + off;
        let days = s.div_euclid(86_400);
        let rem = s.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
    }

    /// `%F %T`.
    pub fn full(&self, t: SystemTime) -> String {
        let (y, mo, d, h, mi, s) = self.fields(t);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }

    /// `%T` if less than 20 hours from now (either way), else `%F`.
    pub fn short(&self, t: SystemTime) -> String {
        let delta = match self.now.duration_since(t) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        let (y, mo, d, h, mi, s) = self.fields(t);
        if delta < Duration::from_secs(SHORT_LIMIT) {
            format!("{h:02}:{mi:02}:{s:02}")
        } else {
            format!("{y:04}-{mo:02}-{d:02}")
        }
    }
}

/// The local UTC offset at `secs` since the epoch, from the C library (honours `TZ`).
fn local_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we pass; a zeroed `tm` is a valid value.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `show status` (`cmd_show_status`).
pub fn status(w: &mut ReplyWriter, s: &DaemonStatus, tf: &TimeFmt) {
    w.cont(1000, &format!("BIRD {}", bird_version()));
    w.cont(1011, &format!("Router ID is {}", s.router_id));
    w.cont(1011, &format!("Current server time is {}", tf.full(tf.now)));
    w.cont(1011, &format!("Last reboot on {}", tf.full(s.started)));
    w.cont(
        1011,
        &format!(
            "Last reconfiguration on {}",
            tf.full(s.last_reconfiguration)
        ),
    );
    if let Some(gr) = &s.graceful_restart {
        w.cont(24, "Graceful restart recovery in progress");
        w.cont(
            24,
            &format!("  Waiting for {} protocols to recover", gr.waiting_for),
        );
        w.cont(
            24,
            &format!(
                "  Wait timer is {}/{}",
                gr.wait_secs.saturating_sub(gr.elapsed_secs),
                gr.wait_secs
            ),
        );
    }
    let last = if s.shutting_down {
        "Shutdown in progress"
    } else if s.reconfiguring {
        "Reconfiguration in progress"
    } else {
        "Daemon is up and running"
    };
    w.last(13, last);
}

/// The `show protocols` heading.
pub fn protocols_heading(w: &mut ReplyWriter) {
    w.cont(2002, "name     proto    table    state  since       info");
}

fn kind_name(k: ProtoKind) -> &'static str {
    match k {
        ProtoKind::Bgp => "BGP",
        ProtoKind::Kernel => "Kernel",
        ProtoKind::Device => "Device",
        ProtoKind::Direct => "Direct",
        ProtoKind::Static => "Static",
    }
}

/// BIRD's state word.
pub fn state_name(s: ProtoState) -> &'static str {
    match s {
        ProtoState::Down => "down",
        ProtoState::Start => "start",
        ProtoState::Up => "up",
        ProtoState::Stop => "stop",
    }
}

/// The last error as BIRD shows it: BIRD clears it when the session reaches Established.
fn last_error<'a>(p: &'a ProtocolStatus, b: &'a crate::status::BgpStatus) -> Option<&'a str> {
    b.last_error
        .as_deref()
        .filter(|_| p.state != ProtoState::Up)
}

/// The info column. For BGP, computed as BIRD's `bgp_get_status` does (`%-14s%s` of the
/// session state and the last error; only the error when the protocol is down), so the column
/// widths match whatever the core puts in `info`; other kinds show `info` as it is.
pub fn info_column(p: &ProtocolStatus) -> String {
    match &p.bgp {
        Some(b) => {
            let err = last_error(p, b).unwrap_or("");
            if p.state == ProtoState::Down {
                err.to_string()
            } else {
                format!("{:<14}{}", b.state, err)
            }
        }
        None => p.info.clone(),
    }
}

/// The state word of a row. While graceful-restart recovery lasts (`recovering`), BIRD 1.6
/// postpones its export to the kernel protocol and to BGP sessions whose peer can help
/// (`gr_wait`), and shows such an up protocol as `wait` (`proto_state_name`: up, export
/// down); bgpd holds the same routes back, so it says the same.
pub fn row_state(p: &ProtocolStatus, recovering: bool) -> &'static str {
    let waits = match p.kind {
        ProtoKind::Kernel => true,
        ProtoKind::Bgp => p.bgp.as_ref().is_some_and(|b| {
            b.neighbor_caps
                .iter()
                .any(|c| c == "restart-able" || c == "restart-aware")
        }),
        _ => false,
    };
    if recovering && waits && p.state == ProtoState::Up {
        "wait"
    } else {
        state_name(p.state)
    }
}

/// One `show protocols` row (`proto_cmd_show`); `recovering`: see [`row_state`].
pub fn protocol_row(w: &mut ReplyWriter, p: &ProtocolStatus, recovering: bool, tf: &TimeFmt) {
    w.cont(
        1002,
        &format!(
            "{:<8} {:<8} {:<8} {:<5}  {:<10}  {}",
            p.name,
            kind_name(p.kind),
            "master",
            row_state(p, recovering),
            tf.short(p.since),
            info_column(p)
        ),
    );
}

/// BIRD's default preference of a protocol kind.
pub fn preference(k: ProtoKind) -> u32 {
    match k {
        ProtoKind::Bgp => 100,
        ProtoKind::Kernel => 10,
        ProtoKind::Static => 200,
        ProtoKind::Direct | ProtoKind::Device => 240,
    }
}

/// The `1006` detail lines of `show protocols all` after the row, blank line included.
pub fn protocol_details(w: &mut ReplyWriter, p: &ProtocolStatus) {
    protocol_details_then(w, p, &mut |_| {});
}

/// [`protocol_details`] with more lines (`extra`, e.g. BFD) before the blank line.
pub fn protocol_details_then(
    w: &mut ReplyWriter,
    p: &ProtocolStatus,
    extra: &mut dyn FnMut(&mut ReplyWriter),
) {
    if let Some(d) = &p.description {
        w.cont(1006, &format!("  Description:    {d}"));
    }
    w.cont(1006, &format!("  Preference:     {}", preference(p.kind)));
    w.cont(1006, &format!("  Input filter:   {}", p.import_policy));
    w.cont(1006, &format!("  Output filter:  {}", p.export_policy));
    if p.state != ProtoState::Down {
        let r = &p.routes;
        w.cont(
            1006,
            &format!(
                "  Routes:         {} imported, {} exported, {} preferred",
                r.imported, r.exported, r.preferred
            ),
        );
        // status.rs carries cumulative import counters only (received, rejected, accepted);
        // the columns BIRD fills from counters we do not keep print 0.
        w.cont(
            1006,
            "  Route change stats:     received   rejected   filtered    ignored   accepted",
        );
        w.cont(
            1006,
            &format!(
                "    Import updates:     {:>10} {:>10} {:>10} {:>10} {:>10}",
                r.received, r.rejected, 0, 0, r.accepted
            ),
        );
        w.cont(
            1006,
            &format!(
                "    Import withdraws:   {:>10} {:>10}        --- {:>10} {:>10}",
                0, 0, 0, 0
            ),
        );
        w.cont(
            1006,
            &format!(
                "    Export updates:     {:>10} {:>10} {:>10}        --- {:>10}",
                r.exported, 0, 0, r.exported
            ),
        );
        w.cont(
            1006,
            &format!(
                "    Export withdraws:   {:>10}        ---        ---        --- {:>10}",
                0, 0
            ),
        );
    }
    if let Some(b) = &p.bgp {
        w.cont(1006, &format!("  BGP state:          {}", b.state));
        w.cont(
            1006,
            &format!("    Neighbor address: {}", b.neighbor_address),
        );
        w.cont(1006, &format!("    Neighbor AS:      {}", b.neighbor_as));
        if b.graceful_restart_stale {
            w.cont(1006, "    Neighbor graceful restart active");
        }
        if p.state == ProtoState::Up {
            if let Some(id) = b.neighbor_id {
                w.cont(1006, &format!("    Neighbor ID:      {id}"));
            }
            let mut caps = String::new();
            for c in &b.neighbor_caps {
                caps.push(' ');
                caps.push_str(c);
            }
            w.cont(1006, &format!("    Neighbor caps:   {caps}"));
            let mut flags = String::new();
            for c in &b.session_flags {
                flags.push(' ');
                flags.push_str(c);
            }
            w.cont(1006, &format!("    Session:         {flags}"));
            if let Some(a) = b.source_address {
                w.cont(1006, &format!("    Source address:   {a}"));
            }
            if let Some((left, total)) = b.hold_timer {
                w.cont(1006, &format!("    Hold timer:       {left}/{total}"));
            }
            if let Some((left, total)) = b.keepalive_timer {
                w.cont(1006, &format!("    Keepalive timer:  {left}/{total}"));
            }
        }
        if let Some(e) = last_error(p, b) {
            w.cont(1006, &format!("    Last error:       {e}"));
        }
    }
    extra(w);
    w.cont(1006, "");
}

/// `via X on IF`, `dev IF`, ... (`rt_format_via`).
pub fn via(d: &RouteDest) -> String {
    match d {
        RouteDest::Via { nexthops } => match nexthops.as_slice() {
            [(gw, Some(ifname))] => format!("via {gw} on {ifname}"),
            [(gw, None)] => format!("via {gw}"),
            [] => "???".into(),
            _ => "multipath".into(),
        },
        RouteDest::Dev { iface } => format!("dev {iface}"),
        RouteDest::Blackhole => "blackhole".into(),
        RouteDest::Unreachable => "unreachable".into(),
        RouteDest::Prohibit => "prohibited".into(),
    }
}

/// The last AS of the path (`as_path_get_last`): none for an empty path or a final set.
fn last_as(path: &str) -> Option<&str> {
    let last = path.split_whitespace().next_back()?;
    if last.ends_with('}') || last.ends_with(')') || last.ends_with(']') {
        return None;
    }
    last.chars().all(|c| c.is_ascii_digit()).then_some(last)
}

fn origin_char(origin: &str) -> char {
    match origin {
        "IGP" => 'i',
        "EGP" => 'e',
        _ => '?',
    }
}

/// The trailing info of a route line: ` (100/0) [AS65001i]` for BGP, ` (200)` otherwise.
fn route_info(r: &RouteEntry) -> String {
    match &r.bgp {
        Some(b) => {
            let mut s = format!(" ({}", r.preference);
            match r.igp_metric {
                Some(IGP_METRIC_UNRESOLVED) => s.push_str("/-"),
                Some(m) if m >= IGP_METRIC_UNKNOWN => s.push_str("/?"),
                Some(m) => {
                    let _ = write!(s, "/{m}");
                }
                None => {}
            }
            s.push_str(") [");
            if let Some(a) = last_as(&b.as_path) {
                let _ = write!(s, "AS{a}");
            }
            s.push(origin_char(&b.origin));
            s.push(']');
            s
        }
        None => format!(" ({})", r.preference),
    }
}

/// One route (`rt_show_rte`), with its attribute lines when `verbose`; the prefix column is
/// blank unless it is the `first` route shown of its network (`rt_show_net`).
pub fn route(w: &mut ReplyWriter, r: &RouteEntry, first: bool, verbose: bool, tf: &TimeFmt) {
    let from = match r.from {
        Some(f) if !is_gateway(&r.dest, f) => format!(" from {f}"),
        _ => String::new(),
    };
    w.cont(
        1007,
        &format!(
            "{:<18} {} [{} {}{}]{}{}",
            if first {
                r.prefix.to_string()
            } else {
                String::new()
            },
            via(&r.dest),
            r.protocol,
            tf.short(r.since),
            from,
            match (r.primary, r.sync_error) {
                (true, false) => " *",
                (true, true) => " !",
                (false, _) => "",
            },
            route_info(r)
        ),
    );
    if let RouteDest::Via { nexthops } = &r.dest {
        if nexthops.len() > 1 {
            for (gw, ifname) in nexthops {
                w.cont(
                    1007,
                    &format!(
                        "\tvia {gw} on {} weight 1",
                        ifname.as_deref().unwrap_or("???")
                    ),
                );
            }
        }
    }
    if verbose {
        w.cont(1008, &format!("\tType: {} unicast univ", source_name(r)));
        if let Some(b) = &r.bgp {
            bgp_attrs(w, b);
        }
        if let Some((source, metric)) = r.krt {
            // BIRD 1.6's kernel attributes of a learned route (`EA_KRT_SOURCE`,
            // `EA_KRT_METRIC`); `Kernel.prefsrc`/`realm` are not kept.
            w.cont(1012, &format!("\tKernel.source: {source}"));
            w.cont(1012, &format!("\tKernel.metric: {metric}"));
        }
    }
}

fn is_gateway(d: &RouteDest, a: IpAddr) -> bool {
    matches!(d, RouteDest::Via { nexthops } if matches!(nexthops.as_slice(), [(g, _)] if *g == a))
}

/// BIRD's route source name (`rta_show` `src_names`), inferred from the route: BGP attributes
/// mean `BGP`; otherwise BIRD's protocol auto-names tell (`static1`, `direct1`, `kernel1`).
fn source_name(r: &RouteEntry) -> &'static str {
    if r.bgp.is_some() {
        "BGP"
    } else if r.protocol.starts_with("direct") {
        "device"
    } else if r.protocol.starts_with("kernel") {
        "inherit"
    } else if matches!(r.dest, RouteDest::Dev { .. }) {
        "static-device"
    } else {
        "static"
    }
}

/// The `1012` BGP attribute lines, in BIRD's attribute-code order.
fn bgp_attrs(w: &mut ReplyWriter, b: &BgpRouteAttrs) {
    w.cont(1012, &format!("\tBGP.origin: {}", b.origin));
    w.cont(1012, &format!("\tBGP.as_path: {}", b.as_path));
    if let Some(nh) = b.next_hop {
        w.cont(1012, &format!("\tBGP.next_hop: {nh}"));
    }
    if let Some(m) = b.med {
        w.cont(1012, &format!("\tBGP.med: {m}"));
    }
    if let Some(lp) = b.local_pref {
        w.cont(1012, &format!("\tBGP.local_pref: {lp}"));
    }
    if !b.communities.is_empty() {
        let c: Vec<String> = b
            .communities
            .iter()
            .map(|(a, v)| format!("({a},{v})"))
            .collect();
        w.cont(1012, &format!("\tBGP.community: {}", c.join(" ")));
    }
    if let Some(o) = b.originator_id {
        w.cont(1012, &format!("\tBGP.originator_id: {o}"));
    }
    if !b.cluster_list.is_empty() {
        let c: Vec<String> = b.cluster_list.iter().map(|a| a.to_string()).collect();
        w.cont(1012, &format!("\tBGP.cluster_list: {}", c.join(" ")));
    }
    if !b.large_communities.is_empty() {
        let c: Vec<String> = b
            .large_communities
            .iter()
            .map(|(a, x, y)| format!("({a}, {x}, {y})"))
            .collect();
        w.cont(1012, &format!("\tBGP.large_community: {}", c.join(" ")));
    }
}

/// `show route count`: `0014 N of M routes for K networks`.
pub fn route_count(w: &mut ReplyWriter, shown: u64, routes: u64, networks: u64) {
    w.last(
        14,
        &format!("{shown} of {routes} routes for {networks} networks"),
    );
}

/// `show fib` heading (bgpd extension, code 2100).
pub fn fib_heading(w: &mut ReplyWriter) {
    w.cont(
        2100,
        "prefix             dest                               table  metric  state",
    );
}

/// One `show fib` row (code 1100).
pub fn fib_row(w: &mut ReplyWriter, f: &FibEntry) {
    let mut dest = via(&f.dest);
    if f.onlink {
        dest.push_str(" onlink");
    }
    w.cont(
        1100,
        &format!(
            "{:<18} {:<34} {:<6} {:<7} {}",
            f.prefix.to_string(),
            dest,
            f.table,
            f.metric,
            f.state
        ),
    );
    // ECMP: one line per next hop, as `show route` prints a multipath route.
    if let RouteDest::Via { nexthops } = &f.dest {
        if nexthops.len() > 1 {
            for (gw, ifname) in nexthops {
                w.cont(
                    1100,
                    &format!("\tvia {gw} on {}", ifname.as_deref().unwrap_or("???")),
                );
            }
        }
    }
}

/// `show fib` summary: the FIB thread's counters since start, then the last line (code 0100).
pub fn fib_summary(w: &mut ReplyWriter, c: &FibCounts) {
    let k = &c.kernel;
    w.cont(
        100,
        &format!(
            "netlink: {} messages ({} nexthop), {} object flushes ({} routes), {} third-party changes, {} errors, {} overruns, {} scans",
            k.messages,
            k.nexthop_messages,
            k.object_flushes,
            k.flushed_routes,
            k.third_party_route_changes,
            k.errors,
            k.overruns,
            k.scans
        ),
    );
    w.last(
        100,
        &format!(
            "{} installed, {} failed, {} pending",
            c.installed, c.failed, c.pending
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_summary_shows_the_kernel_counters_then_the_route_counts() {
        let c = FibCounts {
            installed: 2000,
            failed: 1,
            pending: 3,
            kernel: crate::status::FibKernelCounts {
                messages: 2004,
                nexthop_messages: 4,
                object_flushes: 1,
                flushed_routes: 2000,
                third_party_route_changes: 5,
                errors: 6,
                overruns: 7,
                scans: 8,
                ..Default::default()
            },
        };
        let mut w = ReplyWriter::new();
        fib_summary(&mut w, &c);
        assert_eq!(
            String::from_utf8_lossy(w.as_bytes()),
            "0100-netlink: 2004 messages (4 nexthop), 1 object flushes (2000 routes), 5 third-party changes, 6 errors, 7 overruns, 8 scans\n\
             0100 2000 installed, 1 failed, 3 pending\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let tf = TimeFmt {
            now: UNIX_EPOCH + Duration::from_secs(1_795_305_715),
            utc_offset: Some(0),
        };
        assert_eq!(tf.full(tf.now), "2026-11-22 00:01:55");
        assert_eq!(tf.short(tf.now - Duration::from_secs(13)), "00:01:42");
        assert_eq!(
            tf.short(tf.now - Duration::from_secs(21 * 3600)),
            "2026-11-21"
        );
    }

    #[test]
    fn as_paths() {
        assert_eq!(last_as(""), None);
        assert_eq!(last_as("65001 65002"), Some("65002"));
        assert_eq!(last_as("65001 {1,2}"), None);
    }
}
