//! Operations on values, as BIRD 1.6's `filter/filter.c` defines them: comparison
//! (`val_compare`, `val_same`), the `~` operator (`val_in_range`), arithmetic, list
//! modifications, AS-path masks and the text `print` produces.

use std::cmp::Ordering;
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

use super::ir::{ArithOp, CmpOp, Method, ModOp};
use super::prefix::glob_match;
use super::value::{MaskItem, Set, Type, Value};
use crate::wire::{AsPath, Community, LargeCommunity, SegmentKind};

/// A run-time error: the route is rejected and the message reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub &'static str);

pub(crate) type R<T> = Result<T, RuntimeError>;

fn ip_as_quad(ip: &IpAddr) -> Option<u32> {
    match ip {
        IpAddr::V4(a) => Some(u32::from(*a)),
        IpAddr::V6(_) => None,
    }
}

/// BIRD's `val_compare`: `None` where BIRD reports "Can't compare values of incompatible
/// types". Void is below every other value (BIRD's "hack for else"), so `krt_metric < 1024`
/// holds on a route without `krt_metric`. Ints, pairs, quads, bools and enums compare
/// unsigned; addresses and prefixes by address (IPv4 before IPv6), then length; an IPv4
/// address compares with a quad as its 32-bit value.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    Some(match (a, b) {
        (Void, Void) => Ordering::Equal,
        (Void, _) => Ordering::Less,
        (_, Void) => Ordering::Greater,
        (Int(x), Int(y)) | (Pair(x), Pair(y)) | (Quad(x), Quad(y)) => x.cmp(y),
        (Bool(x), Bool(y)) => x.cmp(y),
        (Enum(x), Enum(y)) if x.kind == y.kind => x.value.cmp(&y.value),
        (Quad(x), Ip(y)) => x.cmp(&ip_as_quad(y)?),
        (Ip(x), Quad(y)) => ip_as_quad(x)?.cmp(y),
        (Ip(x), Ip(y)) => x.cmp(y),
        (Prefix(x), Prefix(y)) => x
            .addr()
            .cmp(&y.addr())
            .then(x.prefix_len().cmp(&y.prefix_len())),
        (String(x), String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Lc(x), Lc(y)) => x.cmp(y),
        _ => return None,
    })
}

/// BIRD's `val_same` (`=`): equal by [`compare`] where that is defined, otherwise equal
/// contents for paths, lists, masks and sets; values of different types are simply not equal
/// (never an error).
pub fn same(a: &Value, b: &Value) -> bool {
    match compare(a, b) {
        Some(o) => o == Ordering::Equal,
        None => a == b,
    }
}

/// BIRD's `val_in_range` (`a ~ b`); `None` for "~ applied on unknown type pair".
pub fn in_range(a: &Value, b: &Value) -> Option<bool> {
    use Value::*;
    Some(match (a, b) {
        (Path(p), PathMask(m)) => path_match(p, m),
        (Int(asn), Path(p)) => p.contains(*asn),
        (Pair(x) | Quad(x), Clist(l)) => l.contains(&Community(*x)),
        (Ip(ip), Clist(l)) => l.contains(&Community(ip_as_quad(ip)?)),
        (Lc(x), Lclist(l)) => l.contains(x),
        (String(s), String(pat)) => glob_match(pat, s),
        (Ip(ip), Prefix(n)) => n.contains(ip),
        (Prefix(x), Prefix(n)) => {
            x.prefix_len() >= n.prefix_len() && n.contains(&x.network()) && same_family(x, n)
        }
        (Prefix(x), Set(s)) => match &**s {
            super::Set::Prefix(ps) => ps.contains(x),
            _ => return None,
        },
        (v, Set(s)) => in_set(v, s)?,
        _ => return None,
    })
}

fn same_family(a: &ipnet::IpNet, b: &ipnet::IpNet) -> bool {
    a.addr().is_ipv4() == b.addr().is_ipv4()
}

fn in_set(v: &Value, s: &Set) -> Option<bool> {
    Some(match (v, s) {
        (Value::Int(x), Set::Int(r)) => r.contains(*x),
        (Value::Pair(x), Set::Pair(r)) => r.contains(*x),
        (Value::Quad(x), Set::Quad(r)) => r.contains(*x),
        (Value::Ip(x), Set::Ip(r)) => r.contains(*x),
        (Value::Quad(x), Set::Ip(r)) => r.contains(IpAddr::V4((*x).into())),
        (Value::Enum(e), Set::Enum(k, r)) if e.kind == *k => r.contains(e.value),
        (Value::Lc(x), Set::Lc(r)) => r.contains(*x),
        (Value::Clist(l), Set::Pair(r) | Set::Quad(r)) => l.iter().any(|c| r.contains(c.0)),
        (Value::Lclist(l), Set::Lc(r)) => l.iter().any(|c| r.contains(*c)),
        (Value::Path(p), Set::Int(r)) => p.asns().any(|a| r.contains(a)),
        _ => return None,
    })
}

/// Integer arithmetic on 32-bit unsigned values, wrapping as BIRD's C does.
pub fn arith(op: ArithOp, a: &Value, b: &Value) -> R<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_arith(op, Some(*x), Some(*y)).map(Value::Int),
        (Value::Void, _) | (_, Value::Void) => int_arith(op, None, None).map(Value::Int),
        _ => Err(RuntimeError(
            "Can't operate with values of incompatible types",
        )),
    }
}

/// [`arith`] on ints (`None`: void).
pub(crate) fn int_arith(op: ArithOp, a: Option<u32>, b: Option<u32>) -> R<u32> {
    let (Some(x), Some(y)) = (a, b) else {
        return Err(RuntimeError("Can't operate with values of type void"));
    };
    Ok(match op {
        ArithOp::Add => x.wrapping_add(y),
        ArithOp::Sub => x.wrapping_sub(y),
        ArithOp::Mul => x.wrapping_mul(y),
        ArithOp::Div => x
            .checked_div(y)
            .ok_or(RuntimeError("Mother told me not to divide by 0"))?,
    })
}

/// `.len`, `.first`, `.last`, `.ip`.
pub fn method(m: Method, v: &Value) -> R<Value> {
    let n = |x: usize| Value::Int(u32::try_from(x).unwrap_or(u32::MAX));
    match (m, v) {
        (Method::Len, Value::Prefix(p)) => Ok(Value::Int(u32::from(p.prefix_len()))),
        (Method::Len, Value::Path(p)) => Ok(n(p.decision_len())),
        (Method::Len, Value::Clist(l)) => Ok(n(l.len())),
        (Method::Len, Value::Lclist(l)) => Ok(n(l.len())),
        (Method::Len, _) => Err(RuntimeError("Prefix, path, clist or eclist expected")),
        (Method::First, Value::Path(p)) => Ok(Value::Int(p.first_as().unwrap_or(0))),
        (Method::Last, Value::Path(p)) => Ok(Value::Int(p.origin_as().unwrap_or(0))),
        (Method::First | Method::Last, _) => Err(RuntimeError("AS path expected")),
        (Method::Ip, Value::Prefix(p)) => Ok(Value::Ip(p.addr())),
        (Method::Ip, _) => Err(RuntimeError("Prefix expected")),
    }
}

/// `add`, `delete`, `filter` on (l)clists and `prepend`, `delete`, `filter` on paths.
pub fn modify(op: ModOp, list: &Value, arg: &Value) -> R<Value> {
    match list {
        Value::Clist(l) => clist_modify(op, l, arg),
        Value::Lclist(l) => lclist_modify(op, l, arg),
        Value::Path(p) => path_modify(op, p, arg),
        _ => Err(RuntimeError("Can't add/delete to non-[e|l]clist")),
    }
}

fn clist_modify(op: ModOp, l: &Arc<[Community]>, arg: &Value) -> R<Value> {
    let one = match arg {
        Value::Pair(x) | Value::Quad(x) => Some(Community(*x)),
        Value::Ip(ip) => Some(Community(
            ip_as_quad(ip).ok_or(RuntimeError("Can't add/delete non-pair"))?,
        )),
        Value::Set(s) if matches!(**s, Set::Pair(_) | Set::Quad(_)) => None,
        Value::Clist(_) => None,
        _ => return Err(RuntimeError("Can't add/delete non-pair")),
    };
    let member = |c: &Community| match arg {
        Value::Set(s) => {
            in_set(&Value::Pair(c.0), s).unwrap_or(false)
                || in_set(&Value::Quad(c.0), s).unwrap_or(false)
        }
        Value::Clist(o) => o.contains(c),
        _ => Some(*c) == one,
    };
    let out: Vec<Community> = match (op, one) {
        (ModOp::Add, Some(c)) => {
            if l.contains(&c) {
                return Ok(Value::Clist(l.clone()));
            }
            l.iter().copied().chain([c]).collect()
        }
        (ModOp::Add, None) => match arg {
            Value::Clist(o) => {
                let mut v = l.to_vec();
                v.extend(o.iter().filter(|c| !l.contains(c)));
                v
            }
            _ => return Err(RuntimeError("Can't add set")),
        },
        (ModOp::Delete, _) => l.iter().copied().filter(|c| !member(c)).collect(),
        (ModOp::Filter, None) => l.iter().copied().filter(|c| member(c)).collect(),
        (ModOp::Filter, Some(_)) => return Err(RuntimeError("Can't filter pair")),
        (ModOp::Prepend, _) => return Err(RuntimeError("Can't prepend to non-path")),
    };
    Ok(Value::Clist(Arc::from(out)))
}

fn lclist_modify(op: ModOp, l: &Arc<[LargeCommunity]>, arg: &Value) -> R<Value> {
    let one = match arg {
        Value::Lc(x) => Some(*x),
        Value::Set(s) if matches!(**s, Set::Lc(_)) => None,
        Value::Lclist(_) => None,
        _ => return Err(RuntimeError("Can't add/delete non-lc")),
    };
    let member = |c: &LargeCommunity| match arg {
        Value::Set(s) => in_set(&Value::Lc(*c), s).unwrap_or(false),
        Value::Lclist(o) => o.contains(c),
        _ => Some(*c) == one,
    };
    let out: Vec<LargeCommunity> = match (op, one) {
        (ModOp::Add, Some(c)) => {
            if l.contains(&c) {
                return Ok(Value::Lclist(l.clone()));
            }
            l.iter().copied().chain([c]).collect()
        }
        (ModOp::Add, None) => match arg {
            Value::Lclist(o) => {
                let mut v = l.to_vec();
                v.extend(o.iter().filter(|c| !l.contains(c)));
                v
            }
            _ => return Err(RuntimeError("Can't add set")),
        },
        (ModOp::Delete, _) => l.iter().copied().filter(|c| !member(c)).collect(),
        (ModOp::Filter, None) => l.iter().copied().filter(|c| member(c)).collect(),
        (ModOp::Filter, Some(_)) => return Err(RuntimeError("Can't filter lc")),
        (ModOp::Prepend, _) => return Err(RuntimeError("Can't prepend to non-path")),
    };
    Ok(Value::Lclist(Arc::from(out)))
}

fn path_modify(op: ModOp, p: &AsPath, arg: &Value) -> R<Value> {
    match (op, arg) {
        (ModOp::Prepend, Value::Int(asn)) => Ok(Value::Path(Arc::new(p.prepend(*asn, 1)))),
        (ModOp::Prepend, _) => Err(RuntimeError("Can't prepend non-integer")),
        (ModOp::Add, _) => Err(RuntimeError("Can't add to path")),
        (ModOp::Delete | ModOp::Filter, _) => {
            let keep_members = op == ModOp::Filter;
            let member = |a: u32| match arg {
                Value::Int(k) => Ok(a == *k),
                Value::Set(s) => match &**s {
                    Set::Int(r) => Ok(r.contains(a)),
                    _ => Err(RuntimeError("Can't delete non-integer (set)")),
                },
                _ => Err(RuntimeError("Can't delete non-integer (set)")),
            };
            if keep_members && matches!(arg, Value::Int(_)) {
                return Err(RuntimeError("Can't filter integer"));
            }
            let mut segs: Vec<(SegmentKind, Vec<u32>)> = Vec::new();
            for s in p.segments() {
                let mut kept = Vec::with_capacity(s.asns.len());
                for &a in s.asns {
                    if member(a)? == keep_members {
                        kept.push(a);
                    }
                }
                if !kept.is_empty() {
                    segs.push((s.kind, kept));
                }
            }
            Ok(Value::Path(Arc::new(AsPath::from_segments(
                segs.iter().map(|(k, v)| (*k, v.as_slice())),
            ))))
        }
    }
}

/// Whether a path matches a mask `[= ... =]` as a whole. Each AS of a sequence is one
/// position; an AS_SET is one position that an AS item or range matches when any of its
/// members does (BIRD's `as_path_match`).
pub fn path_match(p: &AsPath, mask: &[MaskItem]) -> bool {
    // Positions: one per sequence AS, one per set.
    let mut pos: Vec<&[u32]> = Vec::new();
    for s in p.segments() {
        match s.kind {
            SegmentKind::Sequence | SegmentKind::ConfedSequence => {
                pos.extend(s.asns.chunks(1));
            }
            SegmentKind::Set | SegmentKind::ConfedSet => pos.push(s.asns),
        }
    }
    // reach[i]: the first `k` mask items can consume exactly the first `i` positions.
    let mut reach = vec![false; pos.len() + 1];
    if let Some(r) = reach.first_mut() {
        *r = true;
    }
    for item in mask {
        let mut next = vec![false; pos.len() + 1];
        match item {
            MaskItem::AnySeq => {
                let mut on = false;
                for (n, r) in next.iter_mut().zip(reach.iter()) {
                    on |= *r;
                    *n = on;
                }
            }
            _ => {
                for (i, asns) in pos.iter().enumerate() {
                    let ok = match item {
                        MaskItem::AnyOne => true,
                        MaskItem::Asn(a) => asns.contains(a),
                        MaskItem::Range(lo, hi) => asns.iter().any(|a| a >= lo && a <= hi),
                        MaskItem::AnySeq => false,
                    };
                    if ok && reach.get(i).copied().unwrap_or(false) {
                        if let Some(n) = next.get_mut(i + 1) {
                            *n = true;
                        }
                    }
                }
            }
        }
        reach = next;
    }
    reach.last().copied().unwrap_or(false)
}

/// Appends the text `print` shows for a value (BIRD's `val_format`; enums print their name).
pub fn format(v: &Value, out: &mut String) {
    let _ = match v {
        Value::Void => write!(out, "(void)"),
        Value::Bool(b) => write!(out, "{}", if *b { "TRUE" } else { "FALSE" }),
        Value::Int(i) => write!(out, "{i}"),
        Value::Pair(p) => write!(out, "({},{})", p >> 16, p & 0xffff),
        Value::Quad(q) => write!(out, "{}", std::net::Ipv4Addr::from(*q)),
        Value::Ip(ip) => write!(out, "{ip}"),
        Value::Prefix(p) => write!(out, "{p}"),
        Value::String(s) => write!(out, "{s}"),
        Value::Enum(e) => match e.name() {
            Some(n) => write!(out, "{n}"),
            None => write!(out, "(enum {:?}){}", e.kind, e.value),
        },
        Value::Lc(c) => write!(out, "({}, {}, {})", c.global, c.local1, c.local2),
        Value::Set(_) => write!(out, "[set]"),
        Value::PathMask(m) => {
            let _ = write!(out, "[=");
            for i in m.iter() {
                let _ = match i {
                    MaskItem::Asn(a) => write!(out, " {a}"),
                    MaskItem::Range(a, b) => write!(out, " {a}..{b}"),
                    MaskItem::AnySeq => write!(out, " *"),
                    MaskItem::AnyOne => write!(out, " ?"),
                };
            }
            write!(out, " =]")
        }
        Value::Path(p) => {
            let _ = write!(out, "(path");
            for a in p.asns() {
                let _ = write!(out, " {a}");
            }
            write!(out, ")")
        }
        Value::Clist(l) => {
            let _ = write!(out, "(clist");
            for c in l.iter() {
                let _ = write!(out, " ({},{})", c.asn(), c.value());
            }
            write!(out, ")")
        }
        Value::Lclist(l) => {
            let _ = write!(out, "(lclist");
            for c in l.iter() {
                let _ = write!(out, " ({}, {}, {})", c.global, c.local1, c.local2);
            }
            write!(out, ")")
        }
    };
}

// The executors' checks and conversions (compiled and reference).

pub(super) fn need_bool(v: &Value, msg: &'static str) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(RuntimeError(msg)),
    }
}

pub(super) fn need_int(v: &Value, msg: &'static str) -> R<u32> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(RuntimeError(msg)),
    }
}

/// Whether a value may be stored in a variable of type `ty` (void always may, as in BIRD;
/// an IPv4 address may go into a quad).
pub(super) fn fits(ty: Type, v: &Value) -> bool {
    let vt = v.ty();
    vt == ty
        || vt == Type::Void
        || matches!((ty, v), (Type::Quad, Value::Ip(IpAddr::V4(_))))
        || matches!((ty, vt), (Type::Set(_), Type::Set(_)))
}

/// Converts for storage (an IPv4 address stored in a quad becomes the quad).
pub(super) fn convert(ty: Type, v: Value) -> Value {
    match (ty, v) {
        (Type::Quad, Value::Ip(IpAddr::V4(a))) => Value::Quad(u32::from(a)),
        (_, v) => v,
    }
}

/// A comparison with BIRD's rules: `=`/`!=` never fail, the orderings fail on incompatible
/// types.
pub(super) fn cmp(op: CmpOp, a: &Value, b: &Value) -> R<bool> {
    if let CmpOp::Eq | CmpOp::Ne = op {
        return Ok(same(a, b) == (op == CmpOp::Eq));
    }
    match compare(a, b) {
        Some(o) => Ok(order(op, o)),
        None => Err(RuntimeError("Can't compare values of incompatible types")),
    }
}

pub(super) fn order(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Gt => o == Greater,
        CmpOp::Le => o != Greater,
        CmpOp::Ge => o != Less,
    }
}

/// `a ~ b`.
pub(super) fn match_values(a: &Value, b: &Value) -> R<bool> {
    in_range(a, b).ok_or(RuntimeError("~ applied on unknown type pair"))
}
