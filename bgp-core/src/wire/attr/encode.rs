//! Encoding path attributes: the attribute header, the attributes of [`PathAttributes`] in
//! type-code order (with AS4_PATH / AS4_AGGREGATOR towards 2-octet speakers), and
//! MP_REACH_NLRI / MP_UNREACH_NLRI.

use std::net::Ipv4Addr;

use bytes::BufMut;

use super::{as_trans16, code, flag, MpReach, MpUnreach, NextHop, PathAttributes, ON, OT, WK};
use crate::wire::family::Family;
use crate::wire::negotiated::Negotiated;
use crate::wire::nlri::encode_prefixes;
use crate::wire::{EncodeError, Nlri};

fn put_attr<B: BufMut>(out: &mut B, flags: u8, code: u8, len: usize) {
    if len > 255 {
        out.put_u8(flags | flag::EXTENDED_LENGTH);
        out.put_u8(code);
        out.put_u16(len as u16);
    } else {
        out.put_u8(flags & !flag::EXTENDED_LENGTH);
        out.put_u8(code);
        out.put_u8(len as u8);
    }
}

/// Whether a value fits in a path attribute.
fn check_len(len: usize) -> Result<(), EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::Invalid(
            "path attribute longer than 65535 octets",
        ));
    }
    Ok(())
}

impl PathAttributes {
    /// Encodes the attributes (without MP_REACH/MP_UNREACH), in type-code order, for a session
    /// with the given context. On a 2-octet session, AS numbers that do not fit are sent as
    /// AS_TRANS with AS4_PATH / AS4_AGGREGATOR alongside (RFC 6793 §4.2.2).
    pub fn encode<B: BufMut>(&self, ctx: &Negotiated, out: &mut B) -> Result<(), EncodeError> {
        self.encode_with_next_hop(ctx, self.next_hop, out)
    }

    /// [`PathAttributes::encode`] with NEXT_HOP replaced by `next_hop` (or left out when
    /// `None`): what UPDATE packing needs without cloning the attributes.
    pub fn encode_with_next_hop<B: BufMut>(
        &self,
        ctx: &Negotiated,
        next_hop: Option<Ipv4Addr>,
        out: &mut B,
    ) -> Result<(), EncodeError> {
        let four = ctx.four_octet_as;
        if let Some(o) = self.origin {
            put_attr(out, WK, code::ORIGIN, 1);
            out.put_u8(o.code());
        }
        let mut as4_path = None;
        if let Some(p) = &self.as_path {
            let len = p.encoded_len(four);
            check_len(len)?;
            put_attr(out, WK, code::AS_PATH, len);
            let mut v = Vec::with_capacity(len);
            p.encode(four, &mut v);
            out.put_slice(&v);
            if !four && !p.is_two_octet() {
                // Confederation segments stay out of AS4_PATH (RFC 6793 §3); a path of 4-octet
                // ASes in confederation segments only needs none (an empty one is malformed).
                as4_path = Some(p.without_confed()).filter(|a| !a.is_empty());
            }
        }
        if let Some(nh) = next_hop {
            put_attr(out, WK, code::NEXT_HOP, 4);
            out.put_slice(&nh.octets());
        }
        if let Some(m) = self.med {
            put_attr(out, ON, code::MED, 4);
            out.put_u32(m);
        }
        if let Some(lp) = self.local_pref {
            put_attr(out, WK, code::LOCAL_PREF, 4);
            out.put_u32(lp);
        }
        if self.atomic_aggregate {
            put_attr(out, WK, code::ATOMIC_AGGREGATE, 0);
        }
        let mut as4_aggregator = None;
        if let Some(agg) = self.aggregator {
            if four {
                put_attr(out, OT, code::AGGREGATOR, 8);
                out.put_u32(agg.asn);
            } else {
                put_attr(out, OT, code::AGGREGATOR, 6);
                out.put_u16(as_trans16(agg.asn));
                if agg.asn > 0xffff {
                    as4_aggregator = Some(agg);
                }
            }
            out.put_slice(&agg.address.octets());
        }
        if !self.communities.is_empty() {
            let len = self.communities.len() * 4;
            check_len(len)?;
            put_attr(out, OT, code::COMMUNITIES, len);
            for c in &self.communities {
                out.put_u32(c.0);
            }
        }
        if let Some(id) = self.originator_id {
            put_attr(out, ON, code::ORIGINATOR_ID, 4);
            out.put_slice(&id.octets());
        }
        if !self.cluster_list.is_empty() {
            let len = self.cluster_list.len() * 4;
            check_len(len)?;
            put_attr(out, ON, code::CLUSTER_LIST, len);
            for c in &self.cluster_list {
                out.put_slice(&c.octets());
            }
        }
        if !self.ext_communities.is_empty() {
            let len = self.ext_communities.len() * 8;
            check_len(len)?;
            put_attr(out, OT, code::EXTENDED_COMMUNITIES, len);
            for c in &self.ext_communities {
                out.put_slice(&c.0);
            }
        }
        if let Some(p) = as4_path {
            let len = p.encoded_len(true);
            check_len(len)?;
            put_attr(out, OT, code::AS4_PATH, len);
            let mut v = Vec::with_capacity(len);
            p.encode(true, &mut v);
            out.put_slice(&v);
        }
        if let Some(agg) = as4_aggregator {
            put_attr(out, OT, code::AS4_AGGREGATOR, 8);
            out.put_u32(agg.asn);
            out.put_slice(&agg.address.octets());
        }
        // Unknown attributes and LARGE_COMMUNITY (32) interleave by type code.
        let mut large_done = self.large_communities.is_empty();
        for u in &self.unknown {
            if !large_done && u.code > code::LARGE_COMMUNITY {
                self.encode_large(out)?;
                large_done = true;
            }
            check_len(u.value.len())?;
            put_attr(out, u.flags, u.code, u.value.len());
            out.put_slice(&u.value);
        }
        if !large_done {
            self.encode_large(out)?;
        }
        Ok(())
    }

    fn encode_large<B: BufMut>(&self, out: &mut B) -> Result<(), EncodeError> {
        let len = self.large_communities.len() * 12;
        check_len(len)?;
        put_attr(out, OT, code::LARGE_COMMUNITY, len);
        for c in &self.large_communities {
            out.put_u32(c.global);
            out.put_u32(c.local1);
            out.put_u32(c.local2);
        }
        Ok(())
    }
}

/// Encodes an MP_REACH_NLRI attribute.
pub(crate) fn encode_mp_reach<B: BufMut>(
    mp: &MpReach,
    add_path: bool,
    out: &mut B,
) -> Result<(), EncodeError> {
    let len = mp.value_len(add_path);
    check_len(len)?;
    put_attr(out, ON, code::MP_REACH_NLRI, len);
    mp.encode_value(add_path, out);
    Ok(())
}

/// Encodes an MP_REACH_NLRI attribute from its parts (IP families), without building an
/// [`MpReach`].
pub(crate) fn encode_mp_reach_parts<B: BufMut>(
    family: Family,
    next_hop: &NextHop,
    nlri: &[Nlri],
    add_path: bool,
    out: &mut B,
) -> Result<(), EncodeError> {
    let len = 3
        + 1
        + next_hop.encoded_len()
        + 1
        + nlri.iter().map(|n| n.encoded_len(add_path)).sum::<usize>();
    check_len(len)?;
    put_attr(out, ON, code::MP_REACH_NLRI, len);
    super::mp::encode_reach_value(&family, next_hop, out);
    encode_prefixes(nlri, add_path, out);
    Ok(())
}

/// Encodes an MP_UNREACH_NLRI attribute.
pub(crate) fn encode_mp_unreach<B: BufMut>(
    mp: &MpUnreach,
    add_path: bool,
    out: &mut B,
) -> Result<(), EncodeError> {
    let len = mp.value_len(add_path);
    check_len(len)?;
    put_attr(out, ON, code::MP_UNREACH_NLRI, len);
    mp.encode_value(add_path, out);
    Ok(())
}
