//! DOC: AS_PATH and AS4_PATH (RFC 4271 §4.3, §5.1.2; RFC 6793; RFC 5065 for confederations).
//!
//! ```text
//! AS_PATH is a sequence of path segments:
//! +-------------+--------------+----------------------------------+
//! | type (1 oct)| count (1 oct)| count × AS number (2 or 4 octets)|
//! +-------------+--------------+----------------------------------+
//! type 1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE, 4 AS_CONFED_SET
//! ```
//!
//! A path is held as one flat vector of words: each segment is a header word
//! (`kind << 16 | count`) followed by its AS numbers, always 4-octet. Paths of up to five
//! words (one segment of four ASes) live inline, longer ones in one allocation whatever their
//! shape; cheap to hash and compare, which is what interning attribute sets needs.

use std::fmt;

use smallvec::SmallVec;

/// The AS number that stands for a 4-octet AS on a 2-octet session (RFC 6793).
pub const AS_TRANS: u32 = 23456;

/// The kind of an AS_PATH segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// 1: unordered set of ASes (from aggregation).
    Set,
    /// 2: ordered sequence of ASes.
    Sequence,
    /// 3: ordered ASes of a confederation (RFC 5065).
    ConfedSequence,
    /// 4: unordered ASes of a confederation (RFC 5065).
    ConfedSet,
}

impl SegmentKind {
    /// The segment type octet.
    pub fn code(self) -> u8 {
        match self {
            SegmentKind::Set => 1,
            SegmentKind::Sequence => 2,
            SegmentKind::ConfedSequence => 3,
            SegmentKind::ConfedSet => 4,
        }
    }

    /// The kind for a segment type octet.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => SegmentKind::Set,
            2 => SegmentKind::Sequence,
            3 => SegmentKind::ConfedSequence,
            4 => SegmentKind::ConfedSet,
            _ => return None,
        })
    }

    fn is_confed(self) -> bool {
        matches!(self, SegmentKind::ConfedSequence | SegmentKind::ConfedSet)
    }
}

/// One segment, borrowed from an [`AsPath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsSegment<'a> {
    /// Segment type.
    pub kind: SegmentKind,
    /// The AS numbers, in wire order.
    pub asns: &'a [u32],
}

/// An AS path (4-octet AS numbers), as one compact value.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsPath {
    words: SmallVec<[u32; INLINE_WORDS]>,
}

/// Words kept without allocating: a header and four AS numbers.
const INLINE_WORDS: usize = 5;

/// Why AS_PATH bytes are malformed (RFC 7606 §7.2: treat-as-withdraw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedAsPath(pub &'static str);

impl AsPath {
    /// The empty path (a locally originated route inside the AS).
    pub fn new() -> Self {
        AsPath {
            words: SmallVec::new(),
        }
    }

    /// A path with a single AS_SEQUENCE.
    pub fn from_sequence(asns: &[u32]) -> Self {
        let mut p = AsPath::new();
        p.push_segment(SegmentKind::Sequence, asns);
        p
    }

    /// Builds a path from segments; segments longer than 255 ASes are split.
    pub fn from_segments<'a>(segs: impl IntoIterator<Item = (SegmentKind, &'a [u32])>) -> Self {
        let mut p = AsPath::new();
        for (kind, asns) in segs {
            p.push_segment(kind, asns);
        }
        p
    }

    /// Appends a segment (split in pieces of at most 255 ASes, as the wire needs).
    pub fn push_segment(&mut self, kind: SegmentKind, asns: &[u32]) {
        for chunk in asns.chunks(255) {
            self.words.push(header(kind, chunk.len()));
            self.words.extend_from_slice(chunk);
        }
    }

    /// Iterates over the segments.
    pub fn segments(&self) -> Segments<'_> {
        Segments { rest: &self.words }
    }

    /// Whether the path has no segments at all.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The path length used by the decision process (RFC 4271 §9.1.2.2 a): an AS_SET counts as
    /// one, confederation segments count as zero (RFC 5065 §5.3).
    pub fn decision_len(&self) -> usize {
        self.segments()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// The first AS of the path (leftmost AS of the first AS_SEQUENCE segment, skipping
    /// confederation segments): the neighbouring AS for MED comparison and the AS an eBGP peer
    /// must have put first.
    pub fn first_as(&self) -> Option<u32> {
        let seg = self.segments().find(|s| !s.kind.is_confed())?;
        match seg.kind {
            SegmentKind::Sequence => seg.asns.first().copied(),
            _ => None,
        }
    }

    /// The origin AS: the last AS of the path when the last segment is a sequence.
    pub fn origin_as(&self) -> Option<u32> {
        let seg = self.segments().filter(|s| !s.kind.is_confed()).last()?;
        match seg.kind {
            SegmentKind::Sequence => seg.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether `asn` appears anywhere in the path.
    pub fn contains(&self, asn: u32) -> bool {
        self.segments().any(|s| s.asns.contains(&asn))
    }

    /// How many times `asn` appears (for `allow local as N`).
    pub fn count(&self, asn: u32) -> usize {
        self.segments()
            .map(|s| s.asns.iter().filter(|&&a| a == asn).count())
            .sum()
    }

    /// All AS numbers in order, segment kinds ignored.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments().flat_map(|s| s.asns.iter().copied())
    }

    /// A new path with `asn` prepended `times` times (RFC 4271 §5.1.2): into the leading
    /// AS_SEQUENCE if there is one with room, otherwise as a new leading segment.
    pub fn prepend(&self, asn: u32, times: usize) -> AsPath {
        let mut lead: Vec<u32> = vec![asn; times];
        let mut rest = self.segments().peekable();
        if let Some(first) = rest.peek() {
            if first.kind == SegmentKind::Sequence {
                lead.extend_from_slice(first.asns);
                rest.next();
            }
        }
        let mut out = AsPath::new();
        // Keep segments within 255 ASes: put the overflow first so the new ASes lead.
        out.push_segment(SegmentKind::Sequence, &lead);
        for s in rest {
            out.push_segment(s.kind, s.asns);
        }
        out
    }

    /// The path without confederation segments (when leaving a confederation, RFC 5065 §5.1).
    pub fn without_confed(&self) -> AsPath {
        AsPath::from_segments(
            self.segments()
                .filter(|s| !s.kind.is_confed())
                .map(|s| (s.kind, s.asns)),
        )
    }

    /// Whether every AS number fits in two octets.
    pub fn is_two_octet(&self) -> bool {
        self.asns().all(|a| a <= 0xffff)
    }

    /// Decodes AS_PATH (or AS4_PATH) bytes; `four_octet` selects the AS number width.
    pub fn decode(mut buf: &[u8], four_octet: bool) -> Result<AsPath, MalformedAsPath> {
        let width = if four_octet { 4 } else { 2 };
        // Each AS costs `width` octets plus 2 per segment header: enough room up front.
        let mut words = SmallVec::with_capacity(buf.len() / width + 1);
        while let [kind, count, rest @ ..] = buf {
            let kind =
                SegmentKind::from_code(*kind).ok_or(MalformedAsPath("unknown segment type"))?;
            let count = usize::from(*count);
            if count == 0 {
                return Err(MalformedAsPath("segment with no AS numbers"));
            }
            let Some((body, tail)) = rest.split_at_checked(count * width) else {
                return Err(MalformedAsPath("segment overruns the attribute"));
            };
            words.push(header(kind, count));
            if four_octet {
                words.extend(
                    body.as_chunks::<4>()
                        .0
                        .iter()
                        .map(|c| u32::from_be_bytes(*c)),
                );
            } else {
                words.extend(
                    body.as_chunks::<2>()
                        .0
                        .iter()
                        .map(|c| u32::from(u16::from_be_bytes(*c))),
                );
            }
            buf = tail;
        }
        if !buf.is_empty() {
            return Err(MalformedAsPath("trailing octet after the last segment"));
        }
        Ok(AsPath { words })
    }

    /// Encodes the path with 4-octet AS numbers, or with 2-octet ones where ASes that do not fit
    /// become AS_TRANS (RFC 6793 §4.2.2).
    pub fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for s in self.segments() {
            out.push(s.kind.code());
            out.push(s.asns.len() as u8);
            for &a in s.asns {
                if four_octet {
                    out.extend_from_slice(&a.to_be_bytes());
                } else {
                    out.extend_from_slice(&as_trans16(a).to_be_bytes());
                }
            }
        }
    }

    /// The encoded length in octets.
    pub fn encoded_len(&self, four_octet: bool) -> usize {
        let width = if four_octet { 4 } else { 2 };
        self.segments().map(|s| 2 + s.asns.len() * width).sum()
    }

    /// Reconstructs the real path from a 2-octet AS_PATH and an AS4_PATH (RFC 6793 §4.2.3):
    /// if AS4_PATH is longer than AS_PATH it is ignored; otherwise the leading
    /// `len(AS_PATH) - len(AS4_PATH)` ASes of AS_PATH are kept and AS4_PATH is appended.
    /// Lengths count AS_SET as one and confederation segments as zero, as the RFC says.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.decision_len();
        let n4 = as4.decision_len();
        if n4 > n {
            return self.clone();
        }
        let mut keep = n - n4;
        let mut out = AsPath::new();
        for s in self.segments() {
            if keep == 0 {
                break;
            }
            match s.kind {
                SegmentKind::Sequence => {
                    let take = keep.min(s.asns.len());
                    out.push_segment(s.kind, s.asns.get(..take).unwrap_or_default());
                    keep -= take;
                }
                SegmentKind::Set => {
                    out.push_segment(s.kind, s.asns);
                    keep -= 1;
                }
                // Confederation segments count zero and are carried along in place.
                _ => out.push_segment(s.kind, s.asns),
            }
        }
        for s in as4.segments() {
            out.push_segment(s.kind, s.asns);
        }
        out.normalize()
    }

    /// Merges adjacent AS_SEQUENCE segments (a product of prepending and merging).
    fn normalize(self) -> AsPath {
        let segs: Vec<(SegmentKind, Vec<u32>)> =
            self.segments().map(|s| (s.kind, s.asns.to_vec())).collect();
        let mut merged: Vec<(SegmentKind, Vec<u32>)> = Vec::with_capacity(segs.len());
        for (kind, asns) in segs {
            match merged.last_mut() {
                Some((k, prev)) if *k == SegmentKind::Sequence && kind == SegmentKind::Sequence => {
                    prev.extend_from_slice(&asns)
                }
                _ => merged.push((kind, asns)),
            }
        }
        AsPath::from_segments(merged.iter().map(|(k, a)| (*k, a.as_slice())))
    }
}

/// A 4-octet AS as it appears on a 2-octet session.
pub fn as_trans16(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS as u16)
}

fn header(kind: SegmentKind, count: usize) -> u32 {
    (u32::from(kind.code()) << 16) | (count as u32 & 0xffff)
}

/// Iterator over the segments of an [`AsPath`].
pub struct Segments<'a> {
    rest: &'a [u32],
}

impl<'a> Iterator for Segments<'a> {
    type Item = AsSegment<'a>;

    fn next(&mut self) -> Option<AsSegment<'a>> {
        let (&h, rest) = self.rest.split_first()?;
        let count = (h & 0xffff) as usize;
        let kind = SegmentKind::from_code((h >> 16) as u8)?;
        let (asns, rest) = rest.split_at_checked(count)?;
        self.rest = rest;
        Some(AsSegment { kind, asns })
    }
}

impl fmt::Display for AsPath {
    /// BIRD-style: sequences as plain numbers, sets in braces, confederation parts in parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in self.segments() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                SegmentKind::Sequence => ("", ""),
                SegmentKind::Set => ("{", "}"),
                SegmentKind::ConfedSequence => ("(", ")"),
                SegmentKind::ConfedSet => ("({", "})"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(
                        if s.kind == SegmentKind::Sequence || s.kind == SegmentKind::ConfedSequence
                        {
                            " "
                        } else {
                            ","
                        },
                    )?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

impl fmt::Debug for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsPath[{self}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_both_ways() {
        // AS_SEQUENCE 65001 65002, AS_SET {64512,64513}; 4-octet.
        let bytes = [
            2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 1, 2, 0, 0, 0xfc, 0, 0, 0, 0xfc, 1,
        ];
        let p = AsPath::decode(&bytes, true).unwrap();
        let want = AsPath::from_segments([
            (SegmentKind::Sequence, &[65001u32, 65002][..]),
            (SegmentKind::Set, &[64512, 64513][..]),
        ]);
        assert_eq!(p, want);
        let mut out = Vec::new();
        want.encode(true, &mut out);
        assert_eq!(out, bytes);
        assert_eq!(want.encoded_len(true), bytes.len());
        assert_eq!(want.decision_len(), 3);
        assert_eq!(want.first_as(), Some(65001));
        assert_eq!(want.origin_as(), None);
        assert_eq!(want.to_string(), "65001 65002 {64512,64513}");
    }

    #[test]
    fn two_octet_with_as_trans() {
        let p = AsPath::from_sequence(&[65001, 4_200_000_000]);
        let mut out = Vec::new();
        p.encode(false, &mut out);
        assert_eq!(out, [2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
        assert_eq!(
            AsPath::decode(&out, false).unwrap(),
            AsPath::from_sequence(&[65001, 23456])
        );
    }

    #[test]
    fn malformed() {
        assert!(AsPath::decode(&[2, 1, 0], true).is_err()); // overrun
        assert!(AsPath::decode(&[5, 1, 0, 0, 0, 1], true).is_err()); // bad type
        assert!(AsPath::decode(&[2, 0], true).is_err()); // empty segment
        assert!(AsPath::decode(&[2, 1, 0, 1, 9], false).is_err()); // trailing octet
        assert_eq!(AsPath::decode(&[], true).unwrap(), AsPath::new());
    }

    #[test]
    fn confed_counts_zero() {
        let p = AsPath::from_segments([
            (SegmentKind::ConfedSequence, &[65100u32, 65101][..]),
            (SegmentKind::Sequence, &[65001][..]),
        ]);
        assert_eq!(p.decision_len(), 1);
        assert_eq!(p.first_as(), Some(65001));
        assert_eq!(p.without_confed(), AsPath::from_sequence(&[65001]));
    }

    #[test]
    fn prepend_joins_leading_sequence() {
        let p = AsPath::from_sequence(&[2, 3]).prepend(1, 2);
        assert_eq!(p, AsPath::from_sequence(&[1, 1, 2, 3]));
        let q = AsPath::from_segments([(SegmentKind::Set, &[7u32][..])]).prepend(1, 1);
        assert_eq!(q.to_string(), "1 {7}");
        let long = AsPath::from_sequence(&[9; 255]).prepend(1, 1);
        assert_eq!(long.segments().count(), 2);
        assert_eq!(long.decision_len(), 256);
        assert_eq!(long.first_as(), Some(1));
    }

    #[test]
    fn as4_merge_rfc6793() {
        // 2-octet path: 65001 AS_TRANS AS_TRANS 65002; AS4_PATH: 4200000001 4200000002 65002
        let two = AsPath::from_sequence(&[65001, 23456, 23456, 65002]);
        let four = AsPath::from_sequence(&[4_200_000_001, 4_200_000_002, 65002]);
        assert_eq!(
            two.merge_as4(&four),
            AsPath::from_sequence(&[65001, 4_200_000_001, 4_200_000_002, 65002])
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let short = AsPath::from_sequence(&[23456]);
        assert_eq!(short.merge_as4(&four), short);
    }
}
