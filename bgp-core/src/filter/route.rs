//! Route attributes as filters see them: reading and writing [`RouteAttrs`] with BIRD 1.6's
//! types and rules (`filter/filter.c`, cases `'a'`, `'aS'`, `'ea'`, `'eS'`, `'P'`, `'PS'`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::exec::RouteCtx;
use super::ir::Attr;
use super::ops::RuntimeError;
use super::value::{EnumKind, EnumValue, Value};
use crate::rib::attrs::{KernelTunnel, RouteAttrs, RouteType, SourceKind};
use crate::wire::{NextHop, Origin};

type R<T> = Result<T, RuntimeError>;

pub(super) fn source_enum(s: SourceKind) -> EnumValue {
    match s {
        SourceKind::Bgp => EnumValue::RTS_BGP,
        SourceKind::Static => EnumValue::RTS_STATIC,
        SourceKind::Kernel => EnumValue::RTS_INHERIT,
        SourceKind::Direct => EnumValue::RTS_DEVICE,
    }
}

fn ip_of(nh: &NextHop) -> Option<IpAddr> {
    match nh {
        NextHop::V4(a) => Some(IpAddr::V4(*a)),
        NextHop::V6 { global, .. } => Some(IpAddr::V6(*global)),
        NextHop::Opaque(_) => None,
    }
}

fn next_hop_of(ip: IpAddr) -> NextHop {
    match ip {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(a) => NextHop::V6 {
            global: a,
            link_local: None,
        },
    }
}

fn unspecified(v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

fn origin_value(o: Origin) -> Value {
    Value::Enum(EnumValue::new(EnumKind::Origin, o.code()))
}

/// The empty string, shared (read on every route without an interface: no allocation).
fn empty_str() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    Arc::clone(&EMPTY)
}

/// Whether reading `a` gives a value (BIRD's `defined(a)`), without building it: static
/// attributes always do, community lists too (they read as empty lists).
pub(super) fn defined(a: Attr, ctx: &RouteCtx<'_>, r: &RouteAttrs) -> bool {
    let p = &r.attrs;
    match a {
        Attr::KrtMetric | Attr::KrtTunnel | Attr::BgpMed | Attr::BgpLocalPref => {
            Scalars::load(r).defined(a)
        }
        Attr::BgpOrigin => p.origin.is_some(),
        Attr::BgpPath => p.as_path.is_some(),
        Attr::BgpOriginatorId => p.originator_id.is_some(),
        Attr::BgpNextHop | Attr::Gw | Attr::From => read(a, ctx, r) != Value::Void,
        a => always_defined(a),
    }
}

/// Attributes every route has a value for (`defined` is constantly true; community lists
/// read as empty lists).
pub(super) fn always_defined(a: Attr) -> bool {
    matches!(
        a,
        Attr::Net
            | Attr::Source
            | Attr::Dest
            | Attr::Ifname
            | Attr::Preference
            | Attr::Proto
            | Attr::BgpCommunity
            | Attr::BgpLargeCommunity
    )
}

/// `ifname ~ PATTERN` without building the name's value (the tree interpreter's).
#[cfg(test)]
pub(super) fn ifname_matches(r: &RouteAttrs, pattern: &str) -> bool {
    super::prefix::glob_match(pattern, r.meta.ifname.as_deref().unwrap_or(""))
}

/// Reads an attribute. Static attributes always have a value (`gw` and `from` read as the
/// unspecified address when the route has none, `ifname` as `""`, `preference` as the source's
/// default); optional BGP attributes read as void when absent, except the community lists,
/// which read as empty lists (BIRD: "undefined int_set looks like empty int_set").
/// `bgp_next_hop` is defined for BGP routes only.
pub(super) fn read(a: Attr, ctx: &RouteCtx<'_>, r: &RouteAttrs) -> Value {
    let p = &r.attrs;
    let v4 = ctx.prefix.addr().is_ipv4();
    match a {
        Attr::Net => Value::Prefix(*ctx.prefix),
        Attr::Source => Value::Enum(source_enum(ctx.source)),
        Attr::Dest => Value::Enum(match r.meta.route_type {
            RouteType::Blackhole => EnumValue::RTD_BLACKHOLE,
            RouteType::Unreachable => EnumValue::RTD_UNREACHABLE,
            RouteType::Prohibit => EnumValue::RTD_PROHIBIT,
            RouteType::Unicast if r.next_hop.is_some() => EnumValue::RTD_ROUTER,
            RouteType::Unicast => EnumValue::RTD_DEVICE,
        }),
        Attr::Ifname => Value::String(r.meta.ifname.clone().unwrap_or_else(empty_str)),
        Attr::Preference
        | Attr::KrtMetric
        | Attr::KrtTunnel
        | Attr::BgpMed
        | Attr::BgpLocalPref => Scalars::load(r).read(a, ctx),
        Attr::Gw => Value::Ip(
            r.next_hop
                .as_ref()
                .and_then(ip_of)
                .unwrap_or_else(|| unspecified(v4)),
        ),
        Attr::From => Value::Ip(ctx.from.unwrap_or_else(|| unspecified(v4))),
        Attr::Proto => Value::string(ctx.proto),
        Attr::BgpOrigin => p.origin.map_or(Value::Void, origin_value),
        Attr::BgpPath => p
            .as_path
            .as_ref()
            .map_or(Value::Void, |x| Value::Path(Arc::new(x.clone()))),
        Attr::BgpNextHop if ctx.bgp_export || ctx.source == SourceKind::Bgp => r
            .next_hop
            .as_ref()
            .and_then(ip_of)
            .map_or(Value::Void, Value::Ip),
        Attr::BgpNextHop => Value::Void,
        Attr::BgpCommunity => Value::Clist(Arc::from(p.communities.as_slice())),
        Attr::BgpLargeCommunity => Value::Lclist(Arc::from(p.large_communities.as_slice())),
        Attr::BgpOriginatorId => p
            .originator_id
            .map_or(Value::Void, |a| Value::Quad(u32::from(a))),
    }
}

fn int(v: &Value, msg: &'static str) -> R<u32> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(RuntimeError(msg)),
    }
}

fn ip(v: &Value, v4: bool, msg: &'static str) -> R<IpAddr> {
    match v {
        Value::Ip(a) if a.is_ipv4() == v4 => Ok(*a),
        _ => Err(RuntimeError(msg)),
    }
}

/// Writes an attribute with BIRD's type checks ("Setting int attribute to non-int value"...).
/// `v4`: the route's family (a next hop or gateway of the other family is an error).
pub(super) fn write(a: Attr, r: &mut RouteAttrs, v: Value, v4: bool) -> R<()> {
    let p = &mut r.attrs;
    match a {
        Attr::Net | Attr::Source | Attr::Ifname | Attr::From | Attr::Proto => {
            return Err(RuntimeError("attribute is read-only"))
        }
        Attr::Dest => {
            r.meta.route_type = match v {
                Value::Enum(e) if e == EnumValue::RTD_BLACKHOLE => RouteType::Blackhole,
                Value::Enum(e) if e == EnumValue::RTD_UNREACHABLE => RouteType::Unreachable,
                Value::Enum(e) if e == EnumValue::RTD_PROHIBIT => RouteType::Prohibit,
                Value::Enum(e) if e.kind == EnumKind::Dest => {
                    return Err(RuntimeError(
                        "Destination can be changed only to blackhole, unreachable or prohibit",
                    ))
                }
                _ => {
                    return Err(RuntimeError(
                        "Attempt to set static attribute to incompatible type",
                    ))
                }
            };
            r.next_hop = None;
        }
        Attr::Preference
        | Attr::KrtMetric
        | Attr::KrtTunnel
        | Attr::BgpMed
        | Attr::BgpLocalPref => {
            let mut s = Scalars::load(r);
            s.write(a, v)?;
            s.store(r);
        }
        Attr::Gw => {
            let a = ip(&v, v4, "Invalid gw address")?;
            r.next_hop = Some(next_hop_of(a));
            r.meta.route_type = RouteType::Unicast;
        }
        Attr::BgpNextHop => {
            r.next_hop = Some(next_hop_of(ip(
                &v,
                v4,
                "Setting ip attribute to non-ip value",
            )?))
        }
        Attr::BgpOrigin => {
            let code = match v {
                Value::Enum(e) if e.kind == EnumKind::Origin => e.value,
                Value::Int(i) => u8::try_from(i).unwrap_or(u8::MAX),
                _ => return Err(RuntimeError("Setting int attribute to non-int value")),
            };
            p.origin =
                Some(Origin::from_code(code).ok_or(RuntimeError("Invalid BGP origin value"))?);
        }
        Attr::BgpPath => match v {
            Value::Path(x) => p.as_path = Some((*x).clone()),
            _ => return Err(RuntimeError("Setting path attribute to non-path value")),
        },
        Attr::BgpCommunity => match v {
            Value::Clist(l) => p.communities = l.to_vec(),
            _ => return Err(RuntimeError("Setting clist attribute to non-clist value")),
        },
        Attr::BgpLargeCommunity => match v {
            Value::Lclist(l) => p.large_communities = l.to_vec(),
            _ => return Err(RuntimeError("Setting lclist attribute to non-lclist value")),
        },
        Attr::BgpOriginatorId => {
            p.originator_id = Some(Ipv4Addr::from(match v {
                Value::Quad(q) | Value::Int(q) => q,
                Value::Ip(IpAddr::V4(a)) => u32::from(a),
                _ => return Err(RuntimeError("Setting quad attribute to non-quad value")),
            }))
        }
    }
    Ok(())
}

/// `unset(attr)`: removes an optional (extended) attribute; static attributes cannot be
/// unset.
pub(super) fn unset(a: Attr, r: &mut RouteAttrs) -> R<()> {
    let p = &mut r.attrs;
    match a {
        Attr::KrtMetric | Attr::KrtTunnel | Attr::BgpMed | Attr::BgpLocalPref => {
            let mut s = Scalars::load(r);
            s.unset(a)?;
            s.store(r);
        }
        Attr::BgpOrigin => p.origin = None,
        Attr::BgpPath => p.as_path = None,
        Attr::BgpNextHop => r.next_hop = None,
        Attr::BgpCommunity => p.communities.clear(),
        Attr::BgpLargeCommunity => p.large_communities.clear(),
        Attr::BgpOriginatorId => p.originator_id = None,
        Attr::Net
        | Attr::Source
        | Attr::Dest
        | Attr::Ifname
        | Attr::Preference
        | Attr::Gw
        | Attr::From
        | Attr::Proto => return Err(RuntimeError("Only extended attributes can be unset")),
    }
    Ok(())
}

/// The scalar attributes filters write most (`krt_metric`, `krt_tunnel`, `preference`,
/// `bgp_local_pref`, `bgp_med`), held apart from the route while a filter runs: writing one
/// costs no copy of the route's attributes, which are built (once) only when the route is
/// accepted. [`read`], [`write`], [`defined`] and [`unset`] go through this too, so the rules
/// live here once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scalars {
    krt_metric: Option<u32>,
    preference: Option<u16>,
    local_pref: Option<u32>,
    med: Option<u32>,
    tunnel: Option<KernelTunnel>,
}

impl Scalars {
    /// Whether `a` is one of them.
    pub(super) fn holds(a: Attr) -> bool {
        matches!(
            a,
            Attr::KrtMetric
                | Attr::KrtTunnel
                | Attr::Preference
                | Attr::BgpLocalPref
                | Attr::BgpMed
        )
    }

    /// The route's values.
    pub(super) fn load(r: &RouteAttrs) -> Scalars {
        Scalars {
            krt_metric: r.meta.krt_metric,
            preference: r.meta.preference,
            local_pref: r.attrs.local_pref,
            med: r.attrs.med,
            tunnel: r.meta.tunnel.clone(),
        }
    }

    /// `krt_metric`.
    pub(crate) fn krt_metric(&self) -> Option<u32> {
        self.krt_metric
    }

    /// `krt_tunnel`.
    pub(crate) fn tunnel(&self) -> Option<&KernelTunnel> {
        self.tunnel.as_ref()
    }

    /// `bgp_local_pref`.
    pub(crate) fn local_pref(&self) -> Option<u32> {
        self.local_pref
    }

    /// Writes them back into `r`.
    pub(crate) fn store(self, r: &mut RouteAttrs) {
        r.meta.krt_metric = self.krt_metric;
        r.meta.preference = self.preference;
        r.attrs.local_pref = self.local_pref;
        r.attrs.med = self.med;
        r.meta.tunnel = self.tunnel;
    }

    /// An int attribute's value (`preference` defaults to the source's); `None` is void.
    /// Only for `krt_metric`, `preference`, `bgp_local_pref`, `bgp_med`.
    pub(super) fn int(&self, a: Attr, source: SourceKind) -> Option<u32> {
        match a {
            Attr::KrtMetric => self.krt_metric,
            Attr::BgpLocalPref => self.local_pref,
            Attr::BgpMed => self.med,
            Attr::Preference => Some(u32::from(
                self.preference
                    .unwrap_or_else(|| source.default_preference()),
            )),
            _ => None,
        }
    }

    /// Reads one of them as [`read`] does.
    pub(super) fn read(&self, a: Attr, ctx: &RouteCtx<'_>) -> Value {
        match (a, &self.tunnel) {
            (Attr::KrtTunnel, None) => Value::Void,
            (Attr::KrtTunnel, Some(KernelTunnel::Direct)) => Value::String(empty_str()),
            (Attr::KrtTunnel, Some(KernelTunnel::Dev(d))) => Value::String(d.clone()),
            _ => self.int(a, ctx.source).map_or(Value::Void, Value::Int),
        }
    }

    /// Whether reading `a` gives exactly `v` (what [`read`] would compare equal), without
    /// building the value.
    pub(super) fn holds_value(&self, a: Attr, v: &Value, source: SourceKind) -> bool {
        match (a, v) {
            (Attr::KrtTunnel, Value::String(s)) => self.holds_tunnel(s),
            (Attr::KrtTunnel, _) => false,
            (_, Value::Int(x)) => self.int(a, source) == Some(*x),
            _ => false,
        }
    }

    /// Whether `krt_tunnel` reads as the string `s`.
    pub(super) fn holds_tunnel(&self, s: &str) -> bool {
        match &self.tunnel {
            Some(KernelTunnel::Direct) => s.is_empty(),
            Some(KernelTunnel::Dev(d)) => &**d == s,
            None => false,
        }
    }

    /// Sets `krt_tunnel` (as [`Scalars::write`] of a string does).
    pub(super) fn set_tunnel(&mut self, t: KernelTunnel) {
        self.tunnel = Some(t);
    }

    /// `defined(a)`.
    pub(super) fn defined(&self, a: Attr) -> bool {
        match a {
            Attr::KrtMetric => self.krt_metric.is_some(),
            Attr::KrtTunnel => self.tunnel.is_some(),
            Attr::BgpLocalPref => self.local_pref.is_some(),
            Attr::BgpMed => self.med.is_some(),
            _ => true,
        }
    }

    /// Writes one of them with BIRD's type checks.
    pub(super) fn write(&mut self, a: Attr, v: Value) -> R<()> {
        let int_msg = "Setting int attribute to non-int value";
        match a {
            Attr::Preference => {
                return self.write_int(a, int(&v, "Can't set preference to non-integer")?)
            }
            Attr::KrtMetric | Attr::BgpLocalPref | Attr::BgpMed => {
                return self.write_int(a, int(&v, int_msg)?)
            }
            Attr::KrtTunnel => match v {
                Value::String(s) => {
                    self.tunnel = Some(if s.is_empty() {
                        KernelTunnel::Direct
                    } else {
                        KernelTunnel::Dev(s)
                    })
                }
                _ => return Err(RuntimeError("Setting string attribute to non-string value")),
            },
            _ => return Err(RuntimeError("attribute is read-only")),
        }
        Ok(())
    }

    /// Writes an int attribute (`krt_metric`, `preference`, `bgp_local_pref`, `bgp_med`).
    pub(super) fn write_int(&mut self, a: Attr, x: u32) -> R<()> {
        match a {
            Attr::Preference => {
                let x = u16::try_from(x)
                    .map_err(|_| RuntimeError("Setting preference value out of bounds"))?;
                self.preference = Some(x);
            }
            Attr::KrtMetric => self.krt_metric = Some(x),
            Attr::BgpLocalPref => self.local_pref = Some(x),
            Attr::BgpMed => self.med = Some(x),
            _ => return Err(RuntimeError("Setting int attribute to non-int value")),
        }
        Ok(())
    }

    /// `unset(a)` (`preference` is static: an error).
    pub(super) fn unset(&mut self, a: Attr) -> R<()> {
        match a {
            Attr::KrtMetric => self.krt_metric = None,
            Attr::KrtTunnel => self.tunnel = None,
            Attr::BgpLocalPref => self.local_pref = None,
            Attr::BgpMed => self.med = None,
            _ => return Err(RuntimeError("Only extended attributes can be unset")),
        }
        Ok(())
    }
}
