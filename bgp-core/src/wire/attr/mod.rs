//! DOC: path attributes (RFC 4271 §4.3, §5) and their error handling (RFC 7606).
//!
//! ```text
//! +------------------+------------------+--------------------------------+
//! | Attr. Flags (1)  | Attr. Type (1)   | Length (1, or 2 if Extended)   |  value ...
//! +------------------+------------------+--------------------------------+
//! flags: 0x80 Optional, 0x40 Transitive, 0x20 Partial, 0x10 Extended Length
//! ```
//!
//! One descriptor table (`DESCRIPTORS`) says, per known attribute, which flag bits it must
//! carry and what RFC 7606 does when it is malformed; the decoder applies it once per attribute
//! and folds the strongest disposition for the whole UPDATE.

mod aspath;
mod community;
mod encode;
mod mp;

use std::net::Ipv4Addr;

use bytes::Bytes;

pub use aspath::{as_trans16, AsPath, AsSegment, MalformedAsPath, SegmentKind, AS_TRANS};
pub use community::{Community, ExtCommunity, LargeCommunity};
pub(crate) use encode::{encode_mp_reach, encode_mp_reach_parts, encode_mp_unreach};
pub use mp::{MpReach, MpUnreach, NextHop};

use super::error::{update_subcode, AttrError, DecodeError, Disposition};
use super::negotiated::Negotiated;

/// Attribute type codes.
pub mod code {
    /// ORIGIN
    pub const ORIGIN: u8 = 1;
    /// AS_PATH
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC
    pub const MED: u8 = 4;
    /// LOCAL_PREF
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997)
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456)
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456)
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760)
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760)
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED_COMMUNITIES (RFC 4360)
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793)
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793)
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092)
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// Attribute flag bits.
pub mod flag {
    /// Optional (not well-known).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute some speaker on the path did not recognise.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// ORIGIN values (RFC 4271 §5.1.1); lower is preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    /// 0: learned from an interior protocol.
    #[default]
    Igp,
    /// 1: learned from EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

impl Origin {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }

    /// The origin for a wire value.
    pub fn from_code(v: u8) -> Option<Origin> {
        Some(match v {
            0 => Origin::Igp,
            1 => Origin::Egp,
            2 => Origin::Incomplete,
            _ => return None,
        })
    }
}

/// AGGREGATOR (RFC 4271 §5.1.7, 4-octet AS per RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    /// The AS that formed the aggregate.
    pub asn: u32,
    /// The BGP identifier of the speaker that formed it.
    pub address: Ipv4Addr,
}

/// An optional transitive attribute this codec does not know, carried through unchanged but for
/// the Partial bit (RFC 4271 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawAttribute {
    /// Flags as they will be sent (Partial set once we passed it on unrecognised).
    pub flags: u8,
    /// Type code.
    pub code: u8,
    /// Value octets.
    pub value: Bytes,
}

/// The path attributes of a route, other than the NLRI-carrying MP_REACH/MP_UNREACH.
///
/// AS numbers are always 4-octet here: on a 2-octet session AS4_PATH and AS4_AGGREGATOR are
/// merged in when decoding (RFC 6793 §4.2.3) and generated when encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// AS_PATH.
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (for IPv4 NLRI in the UPDATE's own NLRI field).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES, in received order.
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST, nearest cluster first.
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED_COMMUNITIES.
    pub ext_communities: Vec<ExtCommunity>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
    /// Unrecognised optional transitive attributes, in type order.
    pub unknown: Vec<RawAttribute>,
}

/// What a malformed instance of an attribute leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnError {
    Discard,
    Withdraw,
    /// MP_REACH_NLRI / MP_UNREACH_NLRI: the NLRI cannot be trusted, the session resets.
    Reset,
}

/// How a known attribute is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Descriptor {
    pub(crate) code: u8,
    pub(crate) name: &'static str,
    /// The Optional and Transitive bits it must carry.
    flags: u8,
    on_error: OnError,
}

const WK: u8 = flag::TRANSITIVE;
const OT: u8 = flag::OPTIONAL | flag::TRANSITIVE;
const ON: u8 = flag::OPTIONAL;

/// Every attribute this codec understands (RFC 7606 §7 for the dispositions).
pub(crate) const DESCRIPTORS: &[Descriptor] = &[
    Descriptor {
        code: code::ORIGIN,
        name: "ORIGIN",
        flags: WK,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::AS_PATH,
        name: "AS_PATH",
        flags: WK,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::NEXT_HOP,
        name: "NEXT_HOP",
        flags: WK,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::MED,
        name: "MULTI_EXIT_DISC",
        flags: ON,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::LOCAL_PREF,
        name: "LOCAL_PREF",
        flags: WK,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::ATOMIC_AGGREGATE,
        name: "ATOMIC_AGGREGATE",
        flags: WK,
        on_error: OnError::Discard,
    },
    Descriptor {
        code: code::AGGREGATOR,
        name: "AGGREGATOR",
        flags: OT,
        on_error: OnError::Discard,
    },
    Descriptor {
        code: code::COMMUNITIES,
        name: "COMMUNITIES",
        flags: OT,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::ORIGINATOR_ID,
        name: "ORIGINATOR_ID",
        flags: ON,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::CLUSTER_LIST,
        name: "CLUSTER_LIST",
        flags: ON,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::MP_REACH_NLRI,
        name: "MP_REACH_NLRI",
        flags: ON,
        on_error: OnError::Reset,
    },
    Descriptor {
        code: code::MP_UNREACH_NLRI,
        name: "MP_UNREACH_NLRI",
        flags: ON,
        on_error: OnError::Reset,
    },
    Descriptor {
        code: code::EXTENDED_COMMUNITIES,
        name: "EXTENDED_COMMUNITIES",
        flags: OT,
        on_error: OnError::Withdraw,
    },
    Descriptor {
        code: code::AS4_PATH,
        name: "AS4_PATH",
        flags: OT,
        on_error: OnError::Discard,
    },
    Descriptor {
        code: code::AS4_AGGREGATOR,
        name: "AS4_AGGREGATOR",
        flags: OT,
        on_error: OnError::Discard,
    },
    Descriptor {
        code: code::LARGE_COMMUNITY,
        name: "LARGE_COMMUNITY",
        flags: OT,
        on_error: OnError::Withdraw,
    },
];

/// Index into `DESCRIPTORS` + 1 per type code (0: unknown), so lookup is one load.
// Evaluated at compile time: an out-of-range index would fail the build, not the daemon.
#[allow(clippy::indexing_slicing)]
const DESCRIPTOR_INDEX: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < DESCRIPTORS.len() {
        t[DESCRIPTORS[i].code as usize] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// The descriptor of a known attribute type.
pub(crate) fn descriptor(code: u8) -> Option<&'static Descriptor> {
    let i = DESCRIPTOR_INDEX
        .get(usize::from(code))
        .copied()
        .unwrap_or(0);
    DESCRIPTORS.get(usize::from(i).checked_sub(1)?)
}

/// The RFC name of a known attribute type (`AS_PATH`, ...), for logs.
pub fn attribute_name(code: u8) -> Option<&'static str> {
    descriptor(code).map(|d| d.name)
}

/// The decoder's working state: where decoded values go (fields of the UPDATE being built,
/// so nothing large is moved afterwards) and what was seen.
pub(crate) struct DecodedAttributes<'u> {
    attrs: &'u mut PathAttributes,
    mp_reach: &'u mut Option<MpReach>,
    mp_unreach: &'u mut Option<MpUnreach>,
    errors: &'u mut Vec<AttrError>,
    scan: AttrScan,
}

/// What the attribute scan learned beyond the values themselves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AttrScan {
    /// The attribute field could not be parsed to its end (RFC 7606 §4).
    pub(crate) incomplete: bool,
    /// The attribute types met so far, valid or not: a later occurrence is a repeat
    /// (RFC 7606 §3 g: only the first counts, even when the first is malformed).
    seen: [u64; 4],
    /// The attribute types present and valid (after discards), for the mandatory-attribute
    /// check.
    present: [u64; 4],
}

/// Sets bit `code` of `set`; whether it was set already.
fn set_bit(set: &mut [u64; 4], code: u8) -> bool {
    let (word, bit) = (usize::from(code / 64), code % 64);
    match set.get_mut(word) {
        Some(w) => {
            let was = *w & (1 << bit) != 0;
            *w |= 1 << bit;
            was
        }
        None => false,
    }
}

impl AttrScan {
    pub(crate) fn has(&self, code: u8) -> bool {
        self.present
            .get(usize::from(code / 64))
            .is_some_and(|w| w & (1 << (code % 64)) != 0)
    }
}

impl DecodedAttributes<'_> {
    /// Records an occurrence of `code`; whether it is a repeat.
    fn mark(&mut self, code: u8) -> bool {
        set_bit(&mut self.scan.seen, code)
    }

    fn fail(&mut self, code: u8, disposition: Disposition, reason: &'static str) {
        self.errors.push(AttrError {
            type_code: code,
            disposition,
            reason,
        });
    }
}

/// Flags, type code and value of one attribute.
type RawTlv<'a> = (u8, u8, &'a [u8]);

/// One attribute's header and value: flags, type code, value bounded by its length field.
/// (Hand-written rather than nom: this runs once per attribute of every UPDATE, and the two
/// fixed header forms are simplest as slice patterns.)
#[inline]
fn attribute(i: &[u8]) -> Option<(&[u8], RawTlv<'_>)> {
    let (flags, code, len, rest) = match *i {
        [flags, code, hi, lo, ref rest @ ..] if flags & flag::EXTENDED_LENGTH != 0 => {
            (flags, code, usize::from(u16::from_be_bytes([hi, lo])), rest)
        }
        [flags, code, len, ref rest @ ..] if flags & flag::EXTENDED_LENGTH == 0 => {
            (flags, code, usize::from(len), rest)
        }
        _ => return None,
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((rest, (flags, code, value)))
}

/// Decodes the path attribute field of an UPDATE (`buf` is exactly that field; `root` is the
/// buffer it lies in, which opaque values are sliced from without copying).
///
/// Returns `Err` only for errors that reset the session; everything RFC 7606 lets the session
/// survive is recorded in [`DecodedAttributes::errors`].
pub(crate) fn decode_attributes(
    root: &Bytes,
    buf: &[u8],
    ctx: &Negotiated,
    update: &mut super::Update,
) -> Result<AttrScan, DecodeError> {
    let mut out = DecodedAttributes {
        attrs: &mut update.attrs,
        mp_reach: &mut update.mp_reach,
        mp_unreach: &mut update.mp_unreach,
        errors: &mut update.errors,
        scan: AttrScan::default(),
    };
    let mut as4_path: Option<AsPath> = None;
    let mut as4_aggregator: Option<Aggregator> = None;
    let ebgp = ctx.is_ebgp();
    let mut rest = buf;
    while !rest.is_empty() {
        let attr_start = rest;
        // RFC 7606 §4: fewer octets left than a minimal attribute header, or a length that
        // overruns the field: the attribute list cannot be parsed further; treat-as-withdraw,
        // relying on the Total Attribute Length to find the NLRI.
        let Some((tail, (flags, code, value))) = attribute(rest) else {
            let code = rest.get(1).copied().unwrap_or(0);
            out.fail(
                code,
                Disposition::TreatAsWithdraw,
                "attribute overruns the attribute field",
            );
            out.scan.incomplete = true;
            break;
        };
        rest = tail;
        let whole = attr_start
            .get(..attr_start.len() - tail.len())
            .unwrap_or_default();

        let Some(desc) = descriptor(code) else {
            unknown_attribute(&mut out, flags, code, root.slice_ref(value), whole)?;
            continue;
        };
        // RFC 7606 §3 g: a repeated MP attribute resets the session; any other repeat is
        // discarded, keeping the first.
        if out.mark(code) {
            if desc.on_error == OnError::Reset {
                return Err(DecodeError::update(
                    update_subcode::MALFORMED_ATTRIBUTE_LIST,
                    &[],
                    "MP_REACH_NLRI or MP_UNREACH_NLRI repeated",
                ));
            }
            out.fail(code, Disposition::AttributeDiscard, "repeated attribute");
            continue;
        }
        // Attributes discarded whatever their content: LOCAL_PREF (RFC 7606 §7.5),
        // ORIGINATOR_ID and CLUSTER_LIST (§7.9, §7.10) from an external peer; AS4_PATH and
        // AS4_AGGREGATOR between two 4-octet speakers (RFC 6793 §4.1).
        if let Some(reason) = ignored(code, ebgp, ctx.four_octet_as) {
            if let Some(reason) = reason {
                out.fail(code, Disposition::AttributeDiscard, reason);
            }
            continue;
        }
        // RFC 7606 §3 c: Optional/Transitive bits in conflict with the attribute's definition
        // make it malformed, and "treat-as-withdraw" is used whatever its own length or
        // value errors would get; MP_REACH_NLRI / MP_UNREACH_NLRI carry the NLRI, so a
        // session reset (RFC 4271 §6.3 Attribute Flags Error, with the attribute as data).
        if flags & (flag::OPTIONAL | flag::TRANSITIVE) != desc.flags {
            let reason = "attribute flags conflict with the attribute type";
            if desc.on_error == OnError::Reset {
                return Err(DecodeError::update(
                    update_subcode::ATTRIBUTE_FLAGS,
                    whole,
                    reason,
                ));
            }
            out.fail(code, Disposition::TreatAsWithdraw, reason);
            continue;
        }
        let result = decode_known(
            &mut out,
            root,
            code,
            value,
            ctx,
            ebgp,
            &mut as4_path,
            &mut as4_aggregator,
        );
        match result {
            Ok(()) => {
                set_bit(&mut out.scan.present, code);
            }
            Err(reason) => match desc.on_error {
                OnError::Reset => {
                    return Err(DecodeError::update(
                        update_subcode::OPTIONAL_ATTRIBUTE,
                        whole,
                        reason,
                    ))
                }
                OnError::Discard => out.fail(code, Disposition::AttributeDiscard, reason),
                OnError::Withdraw => out.fail(code, Disposition::TreatAsWithdraw, reason),
            },
        }
    }
    if !ctx.four_octet_as {
        merge_as4(out.attrs, as4_path, as4_aggregator);
    }
    Ok(out.scan)
}

/// Whether attribute `code` is dropped unread on this session: `Some(reason)` to record as an
/// attribute discard, `Some(None)` to drop silently, `None` to decode it.
fn ignored(code: u8, ebgp: bool, four_octet_as: bool) -> Option<Option<&'static str>> {
    match code {
        code::LOCAL_PREF if ebgp => Some(Some("LOCAL_PREF from an external peer")),
        code::ORIGINATOR_ID | code::CLUSTER_LIST if ebgp => {
            Some(Some("route reflection attribute from an external peer"))
        }
        // RFC 6793 §4.1: between two 4-octet speakers AS4_PATH and AS4_AGGREGATOR are not
        // used.
        code::AS4_PATH | code::AS4_AGGREGATOR if four_octet_as => Some(None),
        _ => None,
    }
}

/// IPv6 Address Specific Extended Community (RFC 5701): carried opaque, its length checked.
const IPV6_EXT_COMMUNITIES: u8 = 25;

fn unknown_attribute(
    out: &mut DecodedAttributes<'_>,
    flags: u8,
    code: u8,
    value: Bytes,
    whole: &[u8],
) -> Result<(), DecodeError> {
    if flags & flag::OPTIONAL == 0 {
        // RFC 4271 §6.3: an unrecognised well-known attribute.
        return Err(DecodeError::update(
            update_subcode::UNRECOGNIZED_WELL_KNOWN,
            whole,
            "unrecognized well-known attribute",
        ));
    }
    if out.mark(code) {
        out.fail(code, Disposition::AttributeDiscard, "repeated attribute");
        return Ok(());
    }
    // RFC 7606 §7.15: an IPv6 Address Specific Extended Community attribute (RFC 5701) whose
    // length is not a non-zero multiple of 20 is treat-as-withdraw, even though it is carried
    // through as an opaque attribute.
    if code == IPV6_EXT_COMMUNITIES && (value.is_empty() || !value.len().is_multiple_of(20)) {
        out.fail(
            code,
            Disposition::TreatAsWithdraw,
            "IPv6 Address Specific Extended Community length is not a multiple of 20",
        );
        return Ok(());
    }
    if flags & flag::TRANSITIVE != 0 {
        // Passed on with the Partial bit set (RFC 4271 §5); optional non-transitive ones are
        // quietly ignored.
        let flags = (flags | flag::PARTIAL) & !flag::EXTENDED_LENGTH;
        out.attrs.unknown.push(RawAttribute { flags, code, value });
    }
    Ok(())
}

fn u32_of(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

fn ipv4_of(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

fn aggregator_of(v: &[u8], four_octet: bool) -> Option<Aggregator> {
    match (four_octet, v.len()) {
        (true, 8) => Some(Aggregator {
            asn: u32_of(v.get(..4)?)?,
            address: ipv4_of(v.get(4..)?)?,
        }),
        (false, 6) => Some(Aggregator {
            asn: u32::from(u16::from_be_bytes(<[u8; 2]>::try_from(v.get(..2)?).ok()?)),
            address: ipv4_of(v.get(2..)?)?,
        }),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_known(
    out: &mut DecodedAttributes<'_>,
    root: &Bytes,
    code: u8,
    value: &[u8],
    ctx: &Negotiated,
    ebgp: bool,
    as4_path: &mut Option<AsPath>,
    as4_aggregator: &mut Option<Aggregator>,
) -> Result<(), &'static str> {
    let a = &mut out.attrs;
    match code {
        code::ORIGIN => {
            let &[v] = value else {
                return Err("ORIGIN length is not 1");
            };
            a.origin = Some(Origin::from_code(v).ok_or("undefined ORIGIN value")?);
        }
        code::AS_PATH => {
            let path = AsPath::decode(value, ctx.four_octet_as).map_err(|e| e.0)?;
            // RFC 7607 §2: AS 0 in AS_PATH is malformed (RFC 7606 §7.2: treat-as-withdraw).
            if path.contains(0) {
                return Err("AS 0 in AS_PATH");
            }
            if ebgp {
                // RFC 7606 §7.2 / RFC 5065: confederation segments from outside the
                // confederation, or a path that does not start with the neighbour's AS
                // (RFC 4271 §6.3), are malformed.
                if path
                    .segments()
                    .any(|s| matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet))
                {
                    return Err("confederation segment from an external peer");
                }
                if ctx.enforce_first_as && path.first_as() != Some(ctx.peer_as) {
                    return Err("AS_PATH does not start with the external peer's AS");
                }
            }
            a.as_path = Some(path);
        }
        code::NEXT_HOP => {
            let nh = ipv4_of(value).ok_or("NEXT_HOP length is not 4")?;
            // RFC 4271 §6.3: a next hop that cannot be a host's address is semantically wrong.
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                return Err("NEXT_HOP is not a unicast address");
            }
            a.next_hop = Some(nh);
        }
        code::MED => a.med = Some(u32_of(value).ok_or("MULTI_EXIT_DISC length is not 4")?),
        code::LOCAL_PREF => a.local_pref = Some(u32_of(value).ok_or("LOCAL_PREF length is not 4")?),
        code::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err("ATOMIC_AGGREGATE length is not 0");
            }
            a.atomic_aggregate = true;
        }
        code::AGGREGATOR => {
            let agg = aggregator_of(value, ctx.four_octet_as).ok_or("AGGREGATOR length invalid")?;
            // RFC 7607 §2: AS 0 in AGGREGATOR is malformed (RFC 7606 §7.7: discard).
            if agg.asn == 0 {
                return Err("AS 0 in AGGREGATOR");
            }
            a.aggregator = Some(agg);
        }
        code::COMMUNITIES => {
            a.communities =
                community::decode_communities(value).ok_or("COMMUNITIES length invalid")?
        }
        code::ORIGINATOR_ID => {
            a.originator_id = Some(ipv4_of(value).ok_or("ORIGINATOR_ID length is not 4")?)
        }
        code::CLUSTER_LIST => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err("CLUSTER_LIST length is not a multiple of 4");
            }
            a.cluster_list = value
                .as_chunks::<4>()
                .0
                .iter()
                .map(|c| Ipv4Addr::from(*c))
                .collect();
        }
        code::MP_REACH_NLRI => {
            let mp = mp::decode_mp_reach(root, value, |f| ctx.add_path_rx(f)).map_err(|e| e.0)?;
            // RFC 4271 §6.3 semantics for the next hop MP_REACH_NLRI carries: one that cannot
            // be a host's address makes its routes unusable; its NLRI parsed, so they are
            // withdrawn rather than the session reset.
            let unusable = match &mp.next_hop {
                NextHop::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
                NextHop::V6 { global, link_local } => {
                    global.is_multicast() || (global.is_unspecified() && link_local.is_none())
                }
                NextHop::Opaque(_) => false,
            };
            *out.mp_reach = Some(mp);
            if unusable {
                out.fail(
                    code,
                    Disposition::TreatAsWithdraw,
                    "MP_REACH_NLRI next hop is not a unicast address",
                );
            }
        }
        code::MP_UNREACH_NLRI => {
            *out.mp_unreach =
                Some(mp::decode_mp_unreach(root, value, |f| ctx.add_path_rx(f)).map_err(|e| e.0)?)
        }
        code::EXTENDED_COMMUNITIES => {
            a.ext_communities = community::decode_ext_communities(value)
                .ok_or("EXTENDED_COMMUNITIES length invalid")?
        }
        code::AS4_PATH => {
            // RFC 7606 §4: only AS_PATH and ATOMIC_AGGREGATE may be empty.
            if value.is_empty() {
                return Err("AS4_PATH of length 0");
            }
            let p = AsPath::decode(value, true).map_err(|e| e.0)?;
            if p.segments()
                .any(|s| matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet))
            {
                return Err("confederation segment in AS4_PATH");
            }
            // RFC 7607 §2: AS 0 in AS4_PATH is malformed (RFC 6793: attribute discard).
            if p.contains(0) {
                return Err("AS 0 in AS4_PATH");
            }
            *as4_path = Some(p);
        }
        code::AS4_AGGREGATOR => {
            let agg = aggregator_of(value, true).ok_or("AS4_AGGREGATOR length is not 8")?;
            if agg.asn == 0 {
                return Err("AS 0 in AS4_AGGREGATOR");
            }
            *as4_aggregator = Some(agg);
        }
        code::LARGE_COMMUNITY => {
            a.large_communities = community::decode_large_communities(value)
                .ok_or("LARGE_COMMUNITY length invalid")?
        }
        _ => {}
    }
    Ok(())
}

/// RFC 6793 §4.2.3: rebuild the 4-octet AS_PATH and AGGREGATOR from a 2-octet speaker's UPDATE.
fn merge_as4(a: &mut PathAttributes, as4_path: Option<AsPath>, as4_aggregator: Option<Aggregator>) {
    if let (Some(agg), Some(as4agg)) = (a.aggregator, as4_aggregator) {
        if agg.asn != AS_TRANS {
            // The aggregator is a 2-octet speaker that did not pass AS4 information on:
            // ignore AS4_AGGREGATOR and AS4_PATH.
            return;
        }
        a.aggregator = Some(as4agg);
    }
    if let (Some(path), Some(as4)) = (&a.as_path, as4_path) {
        a.as_path = Some(path.merge_as4(&as4));
    }
}
