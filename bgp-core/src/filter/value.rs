//! Values of the filter language: BIRD 1.6's data types (`bool`, `int`, `pair`, `quad`, `ip`,
//! `prefix`, `string`, the enums, sets, `bgpmask`, `bgppath`, `clist`, `lclist`, `lc`) and the
//! void value an unset attribute or an uninitialised variable holds.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

pub use super::prefix::PrefixSet;
use super::IrError;
use crate::wire::{AsPath, Community, LargeCommunity};

/// The static type of a value, as declared for function parameters and local variables
/// (`function f(bool is_same_as; int x)`, `int metric;`) and as reported in type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// No value: an unset attribute, an uninitialised variable, a function that returns nothing.
    Void,
    /// `bool`.
    Bool,
    /// `int`: BIRD 1.6 keeps integers in 32 bits, unsigned (`uint` in `struct f_val`).
    Int,
    /// `pair`: two 16-bit halves, `(a,b)`; a standard community is a pair.
    Pair,
    /// `quad`: a 32-bit value written as a dotted quad (router ids, `bgp_originator_id`).
    Quad,
    /// `ip`: an IPv4 or IPv6 address.
    Ip,
    /// `prefix`: an address and a length.
    Prefix,
    /// `string`.
    String,
    /// One of BIRD's enums (`RTS_*`, `RTD_*`, `ORIGIN_*`, `SCOPE_*`, `RTC_*`).
    Enum(EnumKind),
    /// `lc`: a large community `(a,b,c)`.
    Lc,
    /// A set literal (`[ ... ]`) of the given element type.
    Set(SetKind),
    /// `bgpmask`: an AS-path mask `[= ... =]`.
    PathMask,
    /// `bgppath`: an AS path.
    Path,
    /// `clist`: a list of standard communities.
    Clist,
    /// `lclist`: a list of large communities.
    Lclist,
}

impl Type {
    /// BIRD's name of the type, for error messages and `print`.
    pub fn name(self) -> &'static str {
        match self {
            Type::Void => "void",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Pair => "pair",
            Type::Quad => "quad",
            Type::Ip => "ip",
            Type::Prefix => "prefix",
            Type::String => "string",
            Type::Enum(_) => "enum",
            Type::Lc => "lc",
            Type::Set(SetKind::Prefix) => "prefix set",
            Type::Set(_) => "set",
            Type::PathMask => "bgpmask",
            Type::Path => "bgppath",
            Type::Clist => "clist",
            Type::Lclist => "lclist",
        }
    }

    /// The type a declaration keyword names (`bool`, `int`, `pair`, `quad`, `ip`, `prefix`,
    /// `string`, `bgpmask`, `bgppath`, `clist`, `lclist`, `lc`, `enum`). `int set`, `pair set`,
    /// `prefix set`... are [`Type::Set`] values the front-end builds itself.
    pub fn from_keyword(kw: &str) -> Option<Type> {
        Some(match kw {
            "bool" => Type::Bool,
            "int" => Type::Int,
            "pair" => Type::Pair,
            "quad" => Type::Quad,
            "ip" => Type::Ip,
            "prefix" => Type::Prefix,
            "string" => Type::String,
            "bgpmask" => Type::PathMask,
            "bgppath" => Type::Path,
            "clist" => Type::Clist,
            "lclist" => Type::Lclist,
            "lc" => Type::Lc,
            _ => return None,
        })
    }
}

/// Which enum an [`EnumValue`] belongs to: values of different enums never compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnumKind {
    /// `RTS_*`: the route's source (attribute `source`).
    Source,
    /// `RTD_*`: the route's destination type (attribute `dest`).
    Dest,
    /// `ORIGIN_*`: BGP ORIGIN (attribute `bgp_origin`).
    Origin,
    /// `SCOPE_*`: route scope.
    Scope,
    /// `RTC_*`: route cast.
    Cast,
}

/// A value of one of BIRD's enums, with BIRD 1.6's numbering (`nest/route.h`), so sets of them
/// order as BIRD's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnumValue {
    /// Which enum.
    pub kind: EnumKind,
    /// The numeric value.
    pub value: u8,
}

/// Every enum constant the language knows: name, kind, value.
const ENUM_NAMES: &[(&str, EnumKind, u8)] = &[
    ("RTS_DUMMY", EnumKind::Source, 0),
    ("RTS_STATIC", EnumKind::Source, 1),
    ("RTS_INHERIT", EnumKind::Source, 2),
    ("RTS_DEVICE", EnumKind::Source, 3),
    ("RTS_STATIC_DEVICE", EnumKind::Source, 4),
    ("RTS_REDIRECT", EnumKind::Source, 5),
    ("RTS_RIP", EnumKind::Source, 6),
    ("RTS_OSPF", EnumKind::Source, 7),
    ("RTS_OSPF_IA", EnumKind::Source, 8),
    ("RTS_OSPF_EXT1", EnumKind::Source, 9),
    ("RTS_OSPF_EXT2", EnumKind::Source, 10),
    ("RTS_BGP", EnumKind::Source, 11),
    ("RTS_PIPE", EnumKind::Source, 12),
    ("RTS_BABEL", EnumKind::Source, 13),
    ("RTD_ROUTER", EnumKind::Dest, 0),
    ("RTD_DEVICE", EnumKind::Dest, 1),
    ("RTD_BLACKHOLE", EnumKind::Dest, 2),
    ("RTD_UNREACHABLE", EnumKind::Dest, 3),
    ("RTD_PROHIBIT", EnumKind::Dest, 4),
    ("RTD_MULTIPATH", EnumKind::Dest, 5),
    ("RTD_NONE", EnumKind::Dest, 6),
    ("ORIGIN_IGP", EnumKind::Origin, 0),
    ("ORIGIN_EGP", EnumKind::Origin, 1),
    ("ORIGIN_INCOMPLETE", EnumKind::Origin, 2),
    ("SCOPE_HOST", EnumKind::Scope, 0),
    ("SCOPE_LINK", EnumKind::Scope, 16),
    ("SCOPE_SITE", EnumKind::Scope, 32),
    ("SCOPE_ORGANIZATION", EnumKind::Scope, 64),
    ("SCOPE_UNIVERSE", EnumKind::Scope, 128),
    ("SCOPE_UNDEFINED", EnumKind::Scope, 255),
    ("RTC_UNICAST", EnumKind::Cast, 0),
    ("RTC_BROADCAST", EnumKind::Cast, 1),
    ("RTC_MULTICAST", EnumKind::Cast, 2),
    ("RTC_ANYCAST", EnumKind::Cast, 3),
];

impl EnumValue {
    /// `RTS_STATIC`: a static route.
    pub const RTS_STATIC: EnumValue = EnumValue::new(EnumKind::Source, 1);
    /// `RTS_INHERIT`: a route learned from the kernel.
    pub const RTS_INHERIT: EnumValue = EnumValue::new(EnumKind::Source, 2);
    /// `RTS_DEVICE`: a direct (interface) route.
    pub const RTS_DEVICE: EnumValue = EnumValue::new(EnumKind::Source, 3);
    /// `RTS_BGP`: a route learned over BGP.
    pub const RTS_BGP: EnumValue = EnumValue::new(EnumKind::Source, 11);
    /// `RTD_ROUTER`: forwarded to a gateway.
    pub const RTD_ROUTER: EnumValue = EnumValue::new(EnumKind::Dest, 0);
    /// `RTD_DEVICE`: directly on an interface.
    pub const RTD_DEVICE: EnumValue = EnumValue::new(EnumKind::Dest, 1);
    /// `RTD_BLACKHOLE`.
    pub const RTD_BLACKHOLE: EnumValue = EnumValue::new(EnumKind::Dest, 2);
    /// `RTD_UNREACHABLE`.
    pub const RTD_UNREACHABLE: EnumValue = EnumValue::new(EnumKind::Dest, 3);
    /// `RTD_PROHIBIT`.
    pub const RTD_PROHIBIT: EnumValue = EnumValue::new(EnumKind::Dest, 4);

    /// A value of `kind`.
    pub const fn new(kind: EnumKind, value: u8) -> Self {
        EnumValue { kind, value }
    }

    /// The constant a name stands for (`"RTS_BGP"`), `None` when the name is not an enum
    /// constant.
    pub fn by_name(name: &str) -> Option<EnumValue> {
        ENUM_NAMES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, kind, value)| EnumValue { kind, value })
    }

    /// BIRD's name of the value (`"RTS_BGP"`), `None` for a value without one.
    pub fn name(self) -> Option<&'static str> {
        ENUM_NAMES
            .iter()
            .find(|(_, k, v)| *k == self.kind && *v == self.value)
            .map(|(n, _, _)| *n)
    }
}

/// The element type of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetKind {
    /// `int set`.
    Int,
    /// `pair set` (also matched against a `clist`).
    Pair,
    /// `quad set`.
    Quad,
    /// `ip set`.
    Ip,
    /// A set of values of one enum.
    Enum(EnumKind),
    /// `lc set` (also matched against an `lclist`).
    Lc,
    /// `prefix set`.
    Prefix,
}

/// A set of ordered values stored as sorted, disjoint, inclusive ranges: BIRD's `[1, 5..10]`,
/// `[(65000,*), (65001,1..10)]`, `[RTS_BGP, RTS_STATIC]`. Membership is a binary search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeSet<T> {
    ranges: Vec<(T, T)>,
}

impl<T: Ord + Copy> RangeSet<T> {
    /// A set of the given inclusive ranges (in any order, overlapping allowed). An item is the
    /// range `(x, x)`. A range whose low end is above its high end is an error, as in BIRD.
    pub fn new(ranges: impl IntoIterator<Item = (T, T)>) -> Result<Self, IrError> {
        let mut v: Vec<(T, T)> = ranges.into_iter().collect();
        if v.iter().any(|(lo, hi)| lo > hi) {
            return Err(IrError::BadRange);
        }
        v.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1 => {
                    if hi > last.1 {
                        last.1 = hi;
                    }
                }
                _ => out.push((lo, hi)),
            }
        }
        Ok(RangeSet { ranges: out })
    }

    /// Whether `x` is in one of the ranges.
    pub fn contains(&self, x: T) -> bool {
        let i = self.ranges.partition_point(|&(_, hi)| hi < x);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= x)
    }

    /// The ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }
}

/// A set literal's value. Pairs are packed as BIRD packs them (`a << 16 | b`), so `(a,*)` is the
/// range `(a,0)..(a,65535)`; a product like `(1..2, 5..6)` is one range per first half (see
/// [`pair_product`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Set {
    /// `int set`.
    Int(RangeSet<u32>),
    /// `pair set`, packed pairs.
    Pair(RangeSet<u32>),
    /// `quad set`.
    Quad(RangeSet<u32>),
    /// `ip set`.
    Ip(RangeSet<IpAddr>),
    /// A set of enum values of one kind.
    Enum(EnumKind, RangeSet<u8>),
    /// `lc set`.
    Lc(RangeSet<LargeCommunity>),
    /// `prefix set`.
    Prefix(PrefixSet),
}

impl Set {
    /// The element type.
    pub fn kind(&self) -> SetKind {
        match self {
            Set::Int(_) => SetKind::Int,
            Set::Pair(_) => SetKind::Pair,
            Set::Quad(_) => SetKind::Quad,
            Set::Ip(_) => SetKind::Ip,
            Set::Enum(k, _) => SetKind::Enum(*k),
            Set::Lc(_) => SetKind::Lc,
            Set::Prefix(_) => SetKind::Prefix,
        }
    }
}

/// Packs a pair as BIRD does: `a << 16 | b`.
pub fn pack_pair(a: u16, b: u16) -> u32 {
    (u32::from(a) << 16) | u32::from(b)
}

/// The ranges of packed pairs covering `(a_lo..a_hi, b_lo..b_hi)` (BIRD's pair-set items
/// `(a,b)`, `(a,*)`, `(a,b..c)`, `(a..b,c..d)`): one range when the second half is unbounded,
/// one per first half otherwise.
pub fn pair_product(a: (u16, u16), b: (u16, u16)) -> Vec<(u32, u32)> {
    if b == (0, u16::MAX) {
        return vec![(pack_pair(a.0, 0), pack_pair(a.1, u16::MAX))];
    }
    (a.0..=a.1)
        .map(|x| (pack_pair(x, b.0), pack_pair(x, b.1)))
        .collect()
}

/// One item of an AS-path mask `[= ... =]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaskItem {
    /// That AS number.
    Asn(u32),
    /// Any AS number in `lo..=hi` (`[= 64512..65534 =]`).
    Range(u32, u32),
    /// `*`: any sequence of AS numbers, including none.
    AnySeq,
    /// `?`: exactly one AS number, any.
    AnyOne,
}

/// A value of the filter language. Cheap to clone: the large ones are shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Value {
    /// No value: what an unset attribute or uninitialised variable reads as.
    #[default]
    Void,
    /// `true` / `false`.
    Bool(bool),
    /// A 32-bit unsigned integer (BIRD 1.6's `int`): arithmetic wraps, comparisons are
    /// unsigned.
    Int(u32),
    /// A pair, packed `a << 16 | b` (see [`pack_pair`]).
    Pair(u32),
    /// A quad (dotted 32-bit value).
    Quad(u32),
    /// An address.
    Ip(IpAddr),
    /// A prefix.
    Prefix(IpNet),
    /// A string.
    String(Arc<str>),
    /// An enum constant.
    Enum(EnumValue),
    /// A large community.
    Lc(LargeCommunity),
    /// A set.
    Set(Arc<Set>),
    /// An AS-path mask.
    PathMask(Arc<[MaskItem]>),
    /// An AS path.
    Path(Arc<AsPath>),
    /// A community list.
    Clist(Arc<[Community]>),
    /// A large-community list.
    Lclist(Arc<[LargeCommunity]>),
}

impl Value {
    /// The value's type.
    pub fn ty(&self) -> Type {
        match self {
            Value::Void => Type::Void,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Pair(_) => Type::Pair,
            Value::Quad(_) => Type::Quad,
            Value::Ip(_) => Type::Ip,
            Value::Prefix(_) => Type::Prefix,
            Value::String(_) => Type::String,
            Value::Enum(e) => Type::Enum(e.kind),
            Value::Lc(_) => Type::Lc,
            Value::Set(s) => Type::Set(s.kind()),
            Value::PathMask(_) => Type::PathMask,
            Value::Path(_) => Type::Path,
            Value::Clist(_) => Type::Clist,
            Value::Lclist(_) => Type::Lclist,
        }
    }

    /// A pair value `(a,b)`.
    pub fn pair(a: u16, b: u16) -> Value {
        Value::Pair(pack_pair(a, b))
    }

    /// A string value.
    pub fn string(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    /// A set value.
    pub fn set(s: Set) -> Value {
        Value::Set(Arc::new(s))
    }

    /// The empty community list (BIRD's `-empty-` in a clist context).
    pub fn empty_clist() -> Value {
        Value::Clist(Arc::from(Vec::new()))
    }

    /// The empty large-community list.
    pub fn empty_lclist() -> Value {
        Value::Lclist(Arc::from(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_sets_merge_and_search() {
        let s = RangeSet::new([(5u32, 10), (1, 1), (8, 12), (20, 20)]).unwrap();
        assert_eq!(s.ranges(), &[(1, 1), (5, 12), (20, 20)]);
        for (x, want) in [(0, false), (1, true), (2, false), (5, true), (12, true)] {
            assert_eq!(s.contains(x), want, "{x}");
        }
        assert!(s.contains(20) && !s.contains(21) && !s.contains(13));
        assert_eq!(RangeSet::new([(3u32, 2)]), Err(IrError::BadRange));
        assert!(!RangeSet::<u32>::new([]).unwrap().contains(0));
    }

    #[test]
    fn pair_products() {
        let all = pair_product((65000, 65000), (0, u16::MAX));
        let s = RangeSet::new(all).unwrap();
        assert!(s.contains(pack_pair(65000, 7)) && !s.contains(pack_pair(65001, 0)));
        let p = RangeSet::new(pair_product((1, 2), (5, 6))).unwrap();
        assert!(p.contains(pack_pair(2, 6)) && !p.contains(pack_pair(1, 7)));
        assert!(!p.contains(pack_pair(3, 5)));
    }

    #[test]
    fn enum_names_round_trip() {
        for (n, _, _) in ENUM_NAMES {
            assert_eq!(EnumValue::by_name(n).and_then(EnumValue::name), Some(*n));
        }
        assert_eq!(EnumValue::by_name("RTS_BGP"), Some(EnumValue::RTS_BGP));
        assert_eq!(EnumValue::by_name("RTS_NOPE"), None);
    }
}
