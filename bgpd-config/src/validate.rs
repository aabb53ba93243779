//! DOC: checks across the whole file, after types and unknown keys were checked by serde:
//! value ranges, address families, duplicates and references to undefined policies or peers.
//! Every problem is reported (not only the first), each with the span of the offending value.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bgp_core::filter::Filter;
use std::net::IpAddr;
use std::ops::Range;

use bgp_core::rib::PrefixRange;

use super::derive::{parse_community, parse_large_community, peer_name, PeerCommon};
use super::errors::ConfigErrors;
use super::schema::*;

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errs: ConfigErrors,
    policies: HashSet<String>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Option<Range<usize>>, key: &str, msg: impl Into<String>) {
        let span = span.filter(|s| s.end > 0);
        self.errs.push(self.file, self.text, span, key, msg);
    }

    fn policy_ref(&mut self, r: &Option<Spanned<String>>, key: &str) {
        if let Some(r) = r {
            if !self.policies.contains(r.get_ref()) {
                self.err(
                    Some(r.span()),
                    key,
                    format!("policy {:?} is not defined in [[policies]]", r.get_ref()),
                );
            }
        }
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Every problem in `f`.
/// `filters` are the front-end's compiled filters: their names are valid references too.
pub(crate) fn validate(
    f: &ConfigFile,
    filters: &BTreeMap<String, Arc<Filter>>,
    file: &str,
    text: &str,
) -> ConfigErrors {
    let mut c = Ctx {
        file,
        text,
        errs: ConfigErrors::default(),
        policies: filters.keys().cloned().collect(),
    };
    if f.router_id.get_ref().is_unspecified() {
        c.err(Some(f.router_id.span()), "router_id", "must not be 0.0.0.0");
    }
    if *f.asn.get_ref() == 0 {
        c.err(Some(f.asn.span()), "asn", "AS 0 is reserved (RFC 7607)");
    }

    // Policies first: the rest refers to them.
    for (i, p) in f.policies.iter().enumerate() {
        let key = format!("policies[{i}].name");
        let name = p.name.get_ref();
        if name.is_empty() || name.starts_with("export:") {
            c.err(Some(p.name.span()), &key, "invalid policy name");
        }
        if !c.policies.insert(name.clone()) {
            c.err(
                Some(p.name.span()),
                &key,
                format!("duplicate policy {name:?}"),
            );
        }
        for (j, t) in p.terms.iter().enumerate() {
            check_match(
                &mut c,
                &t.matches,
                &format!("policies[{i}].terms[{j}].match"),
            );
            let akey = format!("policies[{i}].terms[{j}].actions");
            for s in t
                .actions
                .add_communities
                .iter()
                .chain(&t.actions.remove_communities)
            {
                if parse_community(s.get_ref()).is_none() {
                    c.err(
                        Some(s.span()),
                        &akey,
                        format!(
                            "invalid community {:?} (expected a:b, 16 bits each)",
                            s.get_ref()
                        ),
                    );
                }
            }
            for s in &t.actions.add_large_communities {
                if parse_large_community(s.get_ref()).is_none() {
                    c.err(
                        Some(s.span()),
                        &akey,
                        format!("invalid large community {:?} (expected a:b:c)", s.get_ref()),
                    );
                }
            }
        }
    }

    // [kernel]
    let k = &f.kernel;
    if k.protocol.get_ref().resolve().is_none() {
        c.err(
            Some(k.protocol.span()),
            "kernel.protocol",
            "unknown protocol name (see /etc/iproute2/rt_protos) or number",
        );
    }
    if matches!(k.protocol.get_ref().resolve(), Some(0..=4)) {
        c.err(
            Some(k.protocol.span()),
            "kernel.protocol",
            "protocols 0-4 are reserved for the kernel",
        );
    }
    if *k.scan_interval.get_ref() == 0 {
        c.err(
            Some(k.scan_interval.span()),
            "kernel.scan_interval",
            "must be at least 1 second",
        );
    }
    if !(1..=256).contains(k.ecmp_max.get_ref()) {
        c.err(
            Some(k.ecmp_max.span()),
            "kernel.ecmp_max",
            "must be 1..=256",
        );
    }
    if k.tunnel_device.is_empty() || k.tunnel_device.len() > 15 {
        c.err(
            None,
            "kernel.tunnel_device",
            "must be an interface name (1-15 characters)",
        );
    }
    let kexp = k.export.clone();
    c.policy_ref(&kexp, "kernel.export");
    let kimp = k.import.clone();
    c.policy_ref(&kimp, "kernel.import");

    // [graceful_restart]
    if *f.graceful_restart.restart_time.get_ref() > 4095 {
        c.err(
            Some(f.graceful_restart.restart_time.span()),
            "graceful_restart.restart_time",
            "at most 4095 seconds (12-bit field)",
        );
    }

    // [[pools]]
    let mut seen = HashSet::new();
    for (i, p) in f.pools.iter().enumerate() {
        let key = format!("pools[{i}].cidr");
        let net = *p.cidr.get_ref();
        if net != net.trunc() {
            c.err(
                Some(p.cidr.span()),
                &key,
                format!("host bits set (did you mean {}?)", net.trunc()),
            );
        }
        if !seen.insert(net.trunc()) {
            c.err(Some(p.cidr.span()), &key, "duplicate pool");
        }
        if p.vxlan && p.ipip != IpipMode::Never {
            c.err(
                Some(p.cidr.span()),
                &format!("pools[{i}].ipip"),
                "a VXLAN pool cannot also use IP-in-IP",
            );
        }
    }

    // [[static]]
    let mut seen = HashSet::new();
    for (i, s) in f.statics.iter().enumerate() {
        let key = format!("static[{i}]");
        let net = *s.prefix.get_ref();
        if net != net.trunc() {
            c.err(
                Some(s.prefix.span()),
                &format!("{key}.prefix"),
                format!("host bits set (did you mean {}?)", net.trunc()),
            );
        }
        if !seen.insert(net.trunc()) {
            c.err(
                Some(s.prefix.span()),
                &format!("{key}.prefix"),
                "duplicate static route",
            );
        }
        let kinds = [s.blackhole, s.unreachable, s.prohibit, s.via.is_some()];
        match kinds.iter().filter(|k| **k).count() {
            0 => c.err(
                Some(s.prefix.span()),
                &key,
                "needs `via` or one of `blackhole`, `unreachable`, `prohibit` = true",
            ),
            1 => {}
            _ => c.err(
                Some(s.prefix.span()),
                &key,
                "`via`, `blackhole`, `unreachable` and `prohibit` exclude each other",
            ),
        }
        if s.via.is_some_and(|v| !same_family(v, net.addr())) {
            c.err(
                Some(s.prefix.span()),
                &format!("{key}.via"),
                "gateway of another address family",
            );
        }
        for cm in &s.communities {
            if parse_community(cm.get_ref()).is_none() {
                c.err(
                    Some(cm.span()),
                    &format!("{key}.communities"),
                    format!("invalid community {:?} (expected a:b)", cm.get_ref()),
                );
            }
        }
    }

    // Peers, mesh, ranges.
    let mut names: HashSet<String> = HashSet::new();
    let mut addrs: HashSet<IpAddr> = HashSet::new();
    for (i, p) in f.peers.iter().enumerate() {
        let key = format!("peers[{i}]");
        let name = p.name.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            c.err(
                Some(p.name.span()),
                &format!("{key}.name"),
                "must be non-empty without spaces",
            );
        }
        if !names.insert(name.clone()) {
            c.err(
                Some(p.name.span()),
                &format!("{key}.name"),
                format!("duplicate peer name {name:?}"),
            );
        }
        if !addrs.insert(*p.address.get_ref()) {
            c.err(
                Some(p.address.span()),
                &format!("{key}.address"),
                "duplicate peer address",
            );
        }
        if *p.asn.get_ref() == 0 {
            c.err(
                Some(p.asn.span()),
                &format!("{key}.asn"),
                "AS 0 is reserved",
            );
        }
        check_common(&mut c, &key, &p.common(), Some(*p.address.get_ref()), p);
    }
    if let Some(m) = &f.mesh {
        let mut seen = HashSet::new();
        for (j, a) in m.peers.iter().enumerate() {
            if !seen.insert(*a.get_ref()) {
                c.err(
                    Some(a.span()),
                    &format!("mesh.peers[{j}]"),
                    "duplicate mesh address",
                );
            }
            let name = peer_name("Mesh", *a.get_ref());
            if f.peers.iter().any(|p| *p.name.get_ref() == name) {
                c.err(
                    Some(a.span()),
                    &format!("mesh.peers[{j}]"),
                    format!("name {name:?} also used by [[peers]]"),
                );
            }
            names.insert(name);
        }
        if m.asn == Some(0) {
            c.err(None, "mesh.asn", "AS 0 is reserved");
        }
        check_common(&mut c, "mesh", &m.common(), None, m);
    }
    let mut seen = HashSet::new();
    for (i, r) in f.peer_ranges.iter().enumerate() {
        let key = format!("peer_ranges[{i}]");
        if !seen.insert(r.name.get_ref().clone()) || names.contains(r.name.get_ref()) {
            c.err(
                Some(r.name.span()),
                &format!("{key}.name"),
                "duplicate name",
            );
        }
        if *r.asn.get_ref() == 0 {
            c.err(
                Some(r.asn.span()),
                &format!("{key}.asn"),
                "AS 0 is reserved",
            );
        }
        check_common(
            &mut c,
            &key,
            &r.common(),
            Some(r.prefix.get_ref().addr()),
            r,
        );
    }
    if let Some(rr) = &f.route_reflector {
        for (j, cl) in rr.clients.iter().enumerate() {
            let n = cl.get_ref();
            if !names.contains(n) && !seen.contains(n) {
                c.err(
                    Some(cl.span()),
                    &format!("route_reflector.clients[{j}]"),
                    format!("no peer or peer range named {n:?}"),
                );
            }
        }
    }
    c.errs
}

/// Spans of the shared settings, per struct.
trait SettingSpans {
    fn spans(&self) -> Spans<'_>;
}

struct Spans<'a> {
    multihop: Option<&'a Spanned<u8>>,
    hold_time: Option<&'a Spanned<u16>>,
    gr_time: Option<&'a Spanned<u32>>,
    import: &'a Option<Spanned<String>>,
    export: &'a Option<Spanned<String>>,
    families: &'a Spanned<Vec<FamilyName>>,
}

macro_rules! impl_spans {
    ($($t:ty),*) => {$(
        impl SettingSpans for $t {
            fn spans(&self) -> Spans<'_> {
                Spans {
                    multihop: self.multihop.as_ref(),
                    hold_time: self.hold_time.as_ref(),
                    gr_time: self.graceful_restart_time.as_ref(),
                    import: &self.import,
                    export: &self.export,
                    families: &self.families,
                }
            }
        }
    )*};
}
impl_spans!(Peer, Mesh, PeerRange);

fn check_common(
    c: &mut Ctx<'_>,
    key: &str,
    p: &PeerCommon,
    addr: Option<IpAddr>,
    s: &dyn SettingSpans,
) {
    let sp = s.spans();
    if let Some(m) = sp.multihop {
        if *m.get_ref() == 0 {
            c.err(
                Some(m.span()),
                &format!("{key}.multihop"),
                "TTL must be 1..=255",
            );
        }
    }
    if let Some(h) = sp.hold_time {
        if matches!(h.get_ref(), 1 | 2) {
            c.err(
                Some(h.span()),
                &format!("{key}.hold_time"),
                "must be 0 or at least 3 seconds (RFC 4271)",
            );
        }
    }
    if let (Some(k), Some(h)) = (p.keepalive_time, p.hold_time) {
        if h > 0 && k > h / 3 {
            c.err(
                sp.hold_time.map(|h| h.span()),
                &format!("{key}.keepalive_time"),
                "must be at most a third of hold_time",
            );
        }
    }
    if let Some(g) = sp.gr_time {
        if *g.get_ref() > 4095 {
            c.err(
                Some(g.span()),
                &format!("{key}.graceful_restart_time"),
                "at most 4095 seconds",
            );
        }
    }
    c.policy_ref(sp.import, &format!("{key}.import"));
    c.policy_ref(sp.export, &format!("{key}.export"));
    // BIRD: "Multihop BGP cannot use direct gateway mode".
    if p.gateway == GatewayMode::Direct && p.multihop.is_some_and(|m| m > 1) {
        c.err(
            sp.multihop.map(|m| m.span()),
            &format!("{key}.gateway"),
            "\"direct\" needs a single-hop session (multihop > 1 cannot use it)",
        );
    }
    if sp.families.get_ref().is_empty() {
        c.err(
            Some(sp.families.span()),
            &format!("{key}.families"),
            "at least one family",
        );
    }
    let mut seen = HashSet::new();
    for f in sp.families.get_ref() {
        if !seen.insert(*f) {
            c.err(
                Some(sp.families.span()),
                &format!("{key}.families"),
                "duplicate family",
            );
        }
    }
    if let (Some(src), Some(a)) = (p.source_address, addr) {
        if !same_family(src, a) {
            c.err(
                None,
                &format!("{key}.source_address"),
                "source address of another family than the peer",
            );
        }
    }
    if p.password
        .as_ref()
        .is_some_and(|pw| pw.is_empty() || pw.len() > 80)
    {
        c.err(
            None,
            &format!("{key}.password"),
            "TCP-MD5 keys are 1..=80 octets",
        );
    }
}

fn check_match(c: &mut Ctx<'_>, m: &MatchDef, key: &str) {
    if let Some(p) = &m.prefix {
        for s in p {
            if let Err(e) = s.get_ref().parse::<PrefixRange>() {
                c.err(Some(s.span()), &format!("{key}.prefix"), e.to_string());
            }
        }
    }
    if let Some(s) = &m.community {
        if parse_community(s.get_ref()).is_none() {
            c.err(
                Some(s.span()),
                &format!("{key}.community"),
                "invalid community (expected a:b)",
            );
        }
    }
    if let Some(s) = &m.large_community {
        if parse_large_community(s.get_ref()).is_none() {
            c.err(
                Some(s.span()),
                &format!("{key}.large_community"),
                "invalid large community (expected a:b:c)",
            );
        }
    }
    for (name, r) in [("as_path_len", m.as_path_len), ("local_pref", m.local_pref)] {
        if let Some([a, b]) = r {
            if a > b {
                c.err(None, &format!("{key}.{name}"), "[min, max] with min > max");
            }
        }
    }
    if let Some(n) = &m.not {
        check_match(c, n, &format!("{key}.not"));
    }
    if let Some(any) = &m.any {
        for (i, a) in any.iter().enumerate() {
            check_match(c, a, &format!("{key}.any[{i}]"));
        }
    }
}
