//! DOC: the UPDATE message (RFC 4271 §4.3), End-of-RIB (RFC 4724 §2), RFC 7606 folding, and
//! packing many prefixes into as few UPDATEs as fit.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::multi::length_data;
use nom::number::complete::be_u16;
use nom::{IResult, Parser};

use super::attr::{self, code as attr_code, PathAttributes};
pub use super::attr::{MpReach, MpUnreach, NextHop};
use super::error::{update_subcode, AttrError, DecodeError, Disposition, EncodeError};
use super::family::Family;
use super::header::{finish_message, start_message, MessageType, HEADER_LEN};
use super::negotiated::Negotiated;
use super::nlri::{decode_prefixes, Nlri};

/// An UPDATE message.
///
/// The fields are what was on the wire. What the message means for routing — with RFC 7606
/// treat-as-withdraw applied — is given by [`Update::announced`] and [`Update::withdrawn_routes`];
/// use those rather than the raw fields when acting on a received UPDATE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// IPv4 unicast prefixes withdrawn in the Withdrawn Routes field.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes (MP_REACH/MP_UNREACH aside).
    pub attrs: PathAttributes,
    /// IPv4 unicast prefixes announced in the NLRI field.
    pub nlri: Vec<Nlri>,
    /// MP_REACH_NLRI.
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI.
    pub mp_unreach: Option<MpUnreach>,
    /// Malformed attributes the session survived (RFC 7606); empty for a clean UPDATE.
    pub errors: Vec<AttrError>,
    /// The UPDATE's body as received, kept only when `errors` is not empty (RFC 7606 §6:
    /// the error is logged with the NLRI involved and the entire malformed UPDATE).
    pub malformed: Option<Bytes>,
}

/// The announced routes of one family with their next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced<'a> {
    /// The family.
    pub family: Family,
    /// The next hop (NEXT_HOP for IPv4 in the NLRI field, else MP_REACH's).
    pub next_hop: Option<NextHopRef<'a>>,
    /// The prefixes.
    pub nlri: &'a [Nlri],
}

/// A borrowed next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHopRef<'a> {
    /// From the NEXT_HOP attribute.
    V4(Ipv4Addr),
    /// From MP_REACH_NLRI.
    Mp(&'a NextHop),
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    /// UPDATE with an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Update {
        if family == Family::IPV4_UNICAST {
            Update::default()
        } else {
            Update {
                mp_unreach: Some(MpUnreach {
                    family,
                    withdrawn: Vec::new(),
                    opaque_nlri: Bytes::new(),
                }),
                ..Update::default()
            }
        }
    }

    /// The family this UPDATE marks the End-of-RIB of, if it is such a marker.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        let no_attrs = self.attrs == PathAttributes::default();
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.mp_reach.is_some()
            || !no_attrs
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.withdrawn.is_empty() && u.opaque_nlri.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    /// The strongest RFC 7606 disposition applied while decoding, if any attribute was malformed.
    pub fn disposition(&self) -> Option<Disposition> {
        self.errors.iter().map(|e| e.disposition).max()
    }

    /// RFC 4271 §6.3: "The IP address in the NEXT_HOP MUST NOT be the IP address of the
    /// receiving speaker"; such a route "SHOULD be ignored" (without NOTIFICATION). When a
    /// next hop of this UPDATE's announcements (NEXT_HOP, or MP_REACH_NLRI's) is `own`, the
    /// UPDATE becomes treat-as-withdraw; returns whether it did.
    pub fn ignore_own_next_hop(&mut self, own: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let v4 =
            !self.nlri.is_empty() && self.attrs.next_hop.is_some_and(|nh| IpAddr::V4(nh) == own);
        let mp = self.mp_reach.as_ref().is_some_and(|m| {
            !m.nlri.is_empty()
                && match &m.next_hop {
                    NextHop::V4(a) => IpAddr::V4(*a) == own,
                    NextHop::V6 { global, .. } => IpAddr::V6(*global) == own,
                    NextHop::Opaque(_) => false,
                }
        });
        for (hit, code) in [(v4, attr_code::NEXT_HOP), (mp, attr_code::MP_REACH_NLRI)] {
            if hit {
                self.errors.push(AttrError {
                    type_code: code,
                    disposition: Disposition::TreatAsWithdraw,
                    reason: "next hop is the receiving speaker's own address",
                });
            }
        }
        v4 || mp
    }

    /// The RFC 7606 §6 report of a malformed UPDATE: each error (attribute, what was done,
    /// why), the NLRI involved (at most 32 listed) and the whole UPDATE body in hex (at most
    /// 4096 octets); `None` for a clean UPDATE.
    pub fn malformed_report(&self) -> Option<String> {
        use std::fmt::Write;
        if self.errors.is_empty() {
            return None;
        }
        let mut s = String::new();
        for (i, e) in self.errors.iter().enumerate() {
            let name = attr::attribute_name(e.type_code)
                .map_or_else(|| format!("attribute {}", e.type_code), String::from);
            let what = match e.disposition {
                Disposition::AttributeDiscard => "attribute discard",
                Disposition::TreatAsWithdraw => "treat-as-withdraw",
            };
            let sep = if i == 0 { "" } else { "; " };
            let _ = write!(s, "{sep}{name}: {} ({what})", e.reason);
        }
        let nlri: Vec<String> = self
            .withdrawn_routes()
            .map(|(_, n)| n.prefix)
            .chain(
                self.announced()
                    .flat_map(|a| a.nlri.iter().map(|n| n.prefix)),
            )
            .map(|p| p.to_string())
            .collect();
        let listed = nlri.len().min(32);
        let _ = write!(
            s,
            "; NLRI: {}",
            nlri.get(..listed).unwrap_or_default().join(" ")
        );
        if nlri.len() > listed {
            let _ = write!(s, " (+{} more)", nlri.len() - listed);
        }
        if let Some(raw) = &self.malformed {
            let shown = raw.get(..raw.len().min(4096)).unwrap_or_default();
            let _ = write!(s, "; UPDATE ({} octets): ", raw.len());
            for b in shown {
                let _ = write!(s, "{b:02x}");
            }
        }
        Some(s)
    }

    /// Whether RFC 7606 turned this UPDATE's announcements into withdrawals.
    pub fn treat_as_withdraw(&self) -> bool {
        self.disposition() == Some(Disposition::TreatAsWithdraw)
    }

    /// The routes this UPDATE announces: none when treat-as-withdraw applies.
    pub fn announced(&self) -> impl Iterator<Item = Announced<'_>> {
        let ok = !self.treat_as_withdraw();
        let v4 = (ok && !self.nlri.is_empty()).then(|| Announced {
            family: Family::IPV4_UNICAST,
            next_hop: self.attrs.next_hop.map(NextHopRef::V4),
            nlri: &self.nlri,
        });
        let mp = self
            .mp_reach
            .as_ref()
            .filter(|m| ok && !m.nlri.is_empty())
            .map(|m| Announced {
                family: m.family,
                next_hop: Some(NextHopRef::Mp(&m.next_hop)),
                nlri: &m.nlri,
            });
        v4.into_iter().chain(mp)
    }

    /// The routes this UPDATE withdraws, per family: the withdrawn fields, plus every announced
    /// prefix when treat-as-withdraw applies (RFC 7606 §2).
    pub fn withdrawn_routes(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let taw = self.treat_as_withdraw();
        let v4 = self.withdrawn.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mpu = self
            .mp_unreach
            .iter()
            .flat_map(|m| m.withdrawn.iter().map(move |n| (m.family, n)));
        let as_v4 = self
            .nlri
            .iter()
            .filter(move |_| taw)
            .map(|n| (Family::IPV4_UNICAST, n));
        let as_mp = self
            .mp_reach
            .iter()
            .filter(move |_| taw)
            .flat_map(|m| m.nlri.iter().map(move |n| (m.family, n)));
        v4.chain(mpu).chain(as_v4).chain(as_mp)
    }

    /// Decodes the body of an UPDATE (after the header).
    pub fn decode(body: &Bytes, ctx: &Negotiated) -> Result<Update, DecodeError> {
        Self::decode_in(body, body, ctx)
    }

    /// Decodes `body`, which lies inside `root`; opaque values are sliced from `root`.
    pub(crate) fn decode_in(
        root: &Bytes,
        body: &[u8],
        ctx: &Negotiated,
    ) -> Result<Update, DecodeError> {
        // RFC 4271 §6.3: Withdrawn Routes Length or Total Attribute Length too large for the
        // message: Malformed Attribute List.
        let fields: IResult<&[u8], (&[u8], &[u8]), ()> =
            (length_data(be_u16), length_data(be_u16)).parse(body);
        let Ok((nlri_bytes, (wbytes, attr_bytes))) = fields else {
            return Err(DecodeError::update(
                update_subcode::MALFORMED_ATTRIBUTE_LIST,
                &[],
                "withdrawn routes or path attribute length overruns the message",
            ));
        };
        let invalid_net = |e: super::nlri::InvalidNlri| {
            DecodeError::update(update_subcode::INVALID_NETWORK_FIELD, &[], e.0)
        };
        let add_path = ctx.add_path_rx(Family::IPV4_UNICAST);
        let mut withdrawn = Vec::new();
        decode_prefixes(wbytes, super::Afi::IPV4, add_path, &mut withdrawn).map_err(invalid_net)?;
        let mut nlri = Vec::new();
        decode_prefixes(nlri_bytes, super::Afi::IPV4, add_path, &mut nlri).map_err(invalid_net)?;
        let malformed =
            |reason| DecodeError::update(update_subcode::MALFORMED_ATTRIBUTE_LIST, &[], reason);

        let mut u = Update {
            withdrawn,
            nlri,
            ..Update::default()
        };
        let scan = attr::decode_attributes(root, attr_bytes, ctx, &mut u)?;
        // RFC 7606 §4: an attribute list that could not be parsed to its end is only
        // survivable when the routes it concerns can still be found.
        if scan.incomplete && u.nlri.is_empty() && u.mp_reach.is_none() && u.mp_unreach.is_none() {
            return Err(malformed(
                "attribute list cannot be parsed and no NLRI can be located",
            ));
        }
        // RFC 4760 §3: a NEXT_HOP in an UPDATE without NLRI field "SHOULD" be ignored, so a
        // malformed one costs no route carried in MP_REACH_NLRI.
        if u.nlri.is_empty() {
            for e in u
                .errors
                .iter_mut()
                .filter(|e| e.type_code == attr_code::NEXT_HOP)
            {
                e.disposition = Disposition::AttributeDiscard;
            }
        }
        // RFC 7606 §3 d: "If any of the well-known mandatory attributes are not present in an
        // UPDATE message, then "treat-as-withdraw" MUST be used." They are needed only where
        // routes are announced; NEXT_HOP only for the NLRI field (RFC 4760 §3).
        let announces =
            !u.nlri.is_empty() || u.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if announces {
            let mut required =
                [attr_code::ORIGIN, attr_code::AS_PATH, attr_code::NEXT_HOP].as_slice();
            if u.nlri.is_empty() {
                required = &[attr_code::ORIGIN, attr_code::AS_PATH];
            }
            for &c in required {
                if !scan.has(c) && !u.errors.iter().any(|e| e.type_code == c) {
                    u.errors.push(AttrError {
                        type_code: c,
                        disposition: Disposition::TreatAsWithdraw,
                        reason: "missing well-known mandatory attribute",
                    });
                }
            }
        }
        if !u.errors.is_empty() {
            u.malformed = Some(Bytes::copy_from_slice(body));
        }
        // RFC 7606 §5.2: path attributes but no reachable NLRI (no NLRI field, no
        // MP_REACH_NLRI): the NLRI cannot be known to have been parsed, so an error stronger
        // than attribute discard resets the session (as BIRD: Malformed Attribute List).
        if u.treat_as_withdraw() && u.nlri.is_empty() && u.mp_reach.is_none() {
            return Err(malformed(
                "malformed attribute in an UPDATE without reachable NLRI",
            ));
        }
        Ok(u)
    }

    /// Encodes the whole message, header included. Fails if it exceeds the session's maximum
    /// message size; use [`encode_announcements`] / [`encode_withdrawals`] to split.
    pub fn encode(&self, ctx: &Negotiated, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = start_message(out, MessageType::Update);
        let ap4 = ctx.add_path_tx(Family::IPV4_UNICAST);
        let wpos = out.len();
        out.put_u16(0);
        super::nlri::encode_prefixes(&self.withdrawn, ap4, out);
        let wlen = out.len() - wpos - 2;
        set_u16(out, wpos, wlen)?;
        let apos = out.len();
        out.put_u16(0);
        // RFC 7606 §5.1: MP_REACH_NLRI / MP_UNREACH_NLRI first.
        if let Some(mp) = &self.mp_reach {
            attr::encode_mp_reach(mp, ctx.add_path_tx(mp.family), out)?;
        }
        if let Some(mp) = &self.mp_unreach {
            attr::encode_mp_unreach(mp, ctx.add_path_tx(mp.family), out)?;
        }
        self.attrs.encode(ctx, out)?;
        let alen = out.len() - apos - 2;
        set_u16(out, apos, alen)?;
        super::nlri::encode_prefixes(&self.nlri, ap4, out);
        let len = out.len() - start;
        if len > ctx.max_message_len() {
            out.truncate(start);
            return Err(EncodeError::TooLong(len));
        }
        finish_message(out, start)
    }
}

fn set_u16(out: &mut BytesMut, pos: usize, v: usize) -> Result<(), EncodeError> {
    let v = u16::try_from(v).map_err(|_| EncodeError::TooLong(v))?;
    if let Some(f) = out.get_mut(pos..pos + 2) {
        f.copy_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

/// How many of `nlri`, from the start, fit in `room` octets.
fn fit(nlri: &[Nlri], add_path: bool, room: usize) -> usize {
    let mut used = 0;
    nlri.iter()
        .take_while(|n| {
            used += n.encoded_len(add_path);
            used <= room
        })
        .count()
}

/// Appends one UPDATE announcing as many prefixes from the front of `nlri` as fit in one
/// message, all with `attrs` and `next_hop`, and returns how many it took (call again with the
/// rest). IPv4 unicast with an IPv4 next hop goes in the NLRI field with NEXT_HOP; every other
/// case in MP_REACH_NLRI (with no NEXT_HOP attribute).
pub fn encode_announcements(
    ctx: &Negotiated,
    attrs: &PathAttributes,
    family: Family,
    next_hop: &NextHop,
    nlri: &[Nlri],
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let add_path = ctx.add_path_tx(family);
    let max = ctx.max_message_len();
    let start = out.len();
    let classic_v4 = match (family, next_hop) {
        (Family::IPV4_UNICAST, NextHop::V4(nh)) => Some(*nh),
        _ => None,
    };
    // The attributes go straight into `out` (NEXT_HOP only for the classic form); their size
    // then tells how many prefixes fit.
    let s = start_message(out, MessageType::Update);
    out.put_u16(0);
    let apos = out.len();
    out.put_u16(0);
    let attr_start = out.len();
    if let Err(e) = attrs.encode_with_next_hop(ctx, classic_v4, out) {
        out.truncate(start);
        return Err(e);
    }
    let too_long = |out: &mut BytesMut, need: usize| {
        out.truncate(start);
        Err(EncodeError::TooLong(need))
    };
    if classic_v4.is_some() {
        let n = fit(nlri, add_path, max.saturating_sub(out.len() - start));
        if n == 0 && !nlri.is_empty() {
            let need = out.len() - start + nlri.first().map_or(0, |p| p.encoded_len(add_path));
            return too_long(out, need);
        }
        set_u16(out, apos, out.len() - attr_start)?;
        super::nlri::encode_prefixes(nlri.get(..n).unwrap_or_default(), add_path, out);
        finish_message(out, s)?;
        return Ok(n);
    }
    // MP_REACH_NLRI with an extended length: flags, code, 2-octet length, AFI, SAFI, next hop
    // length, next hop, reserved, then the prefixes.
    let mp_fixed = 4 + 3 + 1 + next_hop.encoded_len() + 1;
    let n = fit(
        nlri,
        add_path,
        max.saturating_sub(out.len() - start + mp_fixed),
    );
    if n == 0 && !nlri.is_empty() {
        let need = out.len() - start + mp_fixed;
        return too_long(out, need);
    }
    let mp_start = out.len();
    attr::encode_mp_reach_parts(
        family,
        next_hop,
        nlri.get(..n).unwrap_or_default(),
        add_path,
        out,
    )?;
    // RFC 7606 §5.1: MP_REACH_NLRI SHOULD be the first attribute: rotate it in front of the
    // others (a move of a few dozen octets, cheaper than encoding the attributes twice).
    let mp_len = out.len() - mp_start;
    if let Some(section) = out.get_mut(attr_start..) {
        section.rotate_right(mp_len);
    }
    set_u16(out, apos, out.len() - attr_start)?;
    finish_message(out, s)?;
    debug_assert!(out.len() - start <= max);
    Ok(n)
}

/// Appends one UPDATE withdrawing as many prefixes from the front of `nlri` as fit, and
/// returns how many it took.
pub fn encode_withdrawals(
    ctx: &Negotiated,
    family: Family,
    nlri: &[Nlri],
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let add_path = ctx.add_path_tx(family);
    let max = ctx.max_message_len();
    let s = start_message(out, MessageType::Update);
    if family == Family::IPV4_UNICAST {
        let n = fit(nlri, add_path, max - HEADER_LEN - 4);
        let wpos = out.len();
        out.put_u16(0);
        super::nlri::encode_prefixes(nlri.get(..n).unwrap_or_default(), add_path, out);
        set_u16(out, wpos, out.len() - wpos - 2)?;
        out.put_u16(0);
        finish_message(out, s)?;
        return Ok(n);
    }
    let n = fit(nlri, add_path, max - HEADER_LEN - 4 - 4 - 3);
    out.put_u16(0);
    let mp = MpUnreach {
        family,
        withdrawn: nlri.get(..n).unwrap_or_default().to_vec(),
        opaque_nlri: Bytes::new(),
    };
    let apos = out.len();
    out.put_u16(0);
    attr::encode_mp_unreach(&mp, add_path, out)?;
    set_u16(out, apos, out.len() - apos - 2)?;
    finish_message(out, s)?;
    Ok(n)
}
