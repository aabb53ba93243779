//! Prefix patterns and prefix sets (BIRD's `[ 10.0.0.0/8{16,24}, 192.168.0.0/16+ ]`), and the
//! shell-style string patterns of `ifname ~ "*.cali"`.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A prefix pattern `address/len{low,high}` (BIRD 1.6 user guide, "Data types", prefix sets):
/// a prefix `ip1/len1` matches when the first `min(len, len1)` bits of `ip1` and `address` are
/// identical and `low <= len1 <= high`. Shorthands: `a/b` is `a/b{b,b}` (exactly that prefix),
/// `a/b+` is `a/b{b,max}` (it and everything inside), `a/b-` is `a/b{0,b}` (it and every prefix
/// covering it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct PrefixRange {
    /// The pattern's prefix (host bits cleared).
    pub prefix: IpNet,
    /// Shortest length matched.
    pub min_len: u8,
    /// Longest length matched.
    pub max_len: u8,
}

impl PrefixRange {
    /// Exactly `prefix` (`a/b`).
    pub fn exact(prefix: IpNet) -> Self {
        let l = prefix.prefix_len();
        PrefixRange {
            prefix: prefix.trunc(),
            min_len: l,
            max_len: l,
        }
    }

    /// `prefix` and everything inside it (`a/b+`).
    pub fn orlonger(prefix: IpNet) -> Self {
        PrefixRange {
            prefix: prefix.trunc(),
            min_len: prefix.prefix_len(),
            max_len: prefix.max_prefix_len(),
        }
    }

    /// `prefix` and every prefix covering it (`a/b-`).
    pub fn orshorter(prefix: IpNet) -> Self {
        PrefixRange {
            prefix: prefix.trunc(),
            min_len: 0,
            max_len: prefix.prefix_len(),
        }
    }

    /// `prefix{min_len,max_len}`; `None` unless `min_len <= max_len <= ` the family's maximum.
    pub fn with_lengths(prefix: IpNet, min_len: u8, max_len: u8) -> Option<Self> {
        (min_len <= max_len && max_len <= prefix.max_prefix_len()).then(|| PrefixRange {
            prefix: prefix.trunc(),
            min_len,
            max_len,
        })
    }

    /// Whether `net` matches the pattern (BIRD's rule above; other family: no).
    pub fn matches(&self, net: &IpNet) -> bool {
        let l = net.prefix_len();
        if l < self.min_len || l > self.max_len {
            return false;
        }
        let n = l.min(self.prefix.prefix_len());
        match (self.prefix.addr(), net.addr()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(n)).unwrap_or(0);
                (u32::from(a) ^ u32::from(b)) & mask == 0
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(n)).unwrap_or(0);
                (u128::from(a) ^ u128::from(b)) & mask == 0
            }
            _ => false,
        }
    }
}

/// Why a prefix pattern string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix range {0:?}: expected a/b, a/b+, a/b- or a/b{{min,max}}")]
pub struct PrefixRangeError(pub String);

impl FromStr for PrefixRange {
    type Err = PrefixRangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PrefixRangeError(s.to_string());
        let s = s.trim();
        if let Some(p) = s.strip_suffix('+') {
            return Ok(PrefixRange::orlonger(p.parse().map_err(|_| err())?));
        }
        if let Some(p) = s.strip_suffix('-') {
            return Ok(PrefixRange::orshorter(p.parse().map_err(|_| err())?));
        }
        if let Some((p, r)) = s.split_once('{') {
            let prefix: IpNet = p.parse().map_err(|_| err())?;
            let r = r.strip_suffix('}').ok_or_else(err)?;
            let (a, b) = r.split_once(',').ok_or_else(err)?;
            let min_len: u8 = a.trim().parse().map_err(|_| err())?;
            let max_len: u8 = b.trim().parse().map_err(|_| err())?;
            return PrefixRange::with_lengths(prefix, min_len, max_len).ok_or_else(err);
        }
        Ok(PrefixRange::exact(s.parse().map_err(|_| err())?))
    }
}

impl TryFrom<String> for PrefixRange {
    type Error = PrefixRangeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::fmt::Display for PrefixRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = self.prefix.prefix_len();
        if self.min_len == l && self.max_len == l {
            write!(f, "{}", self.prefix)
        } else if self.min_len == l && self.max_len == self.prefix.max_prefix_len() {
            write!(f, "{}+", self.prefix)
        } else if self.min_len == 0 && self.max_len == l {
            write!(f, "{}-", self.prefix)
        } else {
            write!(f, "{}{{{},{}}}", self.prefix, self.min_len, self.max_len)
        }
    }
}

impl From<PrefixRange> for String {
    fn from(p: PrefixRange) -> String {
        p.to_string()
    }
}

/// A prefix set: a prefix matches when it matches any of the patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PrefixSet {
    patterns: Vec<PrefixRange>,
}

impl PrefixSet {
    /// A set of these patterns.
    pub fn new(patterns: impl IntoIterator<Item = PrefixRange>) -> Self {
        PrefixSet {
            patterns: patterns.into_iter().collect(),
        }
    }

    /// Whether `net` matches one of the patterns.
    pub fn contains(&self, net: &IpNet) -> bool {
        self.patterns.iter().any(|p| p.matches(net))
    }

    /// The patterns.
    pub fn patterns(&self) -> &[PrefixRange] {
        &self.patterns
    }
}

/// BIRD's string match (`string ~ "pattern"`): shell-style, `*` any run of characters, `?`
/// exactly one; everything else literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // `*SUFFIX` without other wildcards (Calico's `"*.cali"`, `"*.calico"`): a suffix test.
    // SUFFIX is a whole UTF-8 string, so a byte match starts on a character boundary.
    if let Some((&b'*', suffix)) = pattern.as_bytes().split_first() {
        if !suffix.iter().any(|&c| c == b'*' || c == b'?') {
            return text.as_bytes().ends_with(suffix);
        }
    }
    glob_backtrack(pattern, text)
}

/// A string pattern analysed once (when a filter is compiled): the shapes without `?` and
/// with `*` only at one end are plain comparisons; anything else runs [`glob_match`]'s general
/// match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Glob {
    /// No wildcard: equality.
    Exact(Box<str>),
    /// `PREFIX*`.
    Prefix(Box<str>),
    /// `*SUFFIX`.
    Suffix(Box<str>),
    /// `PREFIX*SUFFIX`.
    Both(Box<str>, Box<str>),
    /// Anything else.
    General(Box<str>),
}

impl Glob {
    pub(super) fn new(pattern: &str) -> Glob {
        let wild = |s: &str| s.bytes().any(|c| c == b'*' || c == b'?');
        if !wild(pattern) {
            return Glob::Exact(pattern.into());
        }
        if let Some(rest) = pattern.strip_prefix('*') {
            if !wild(rest) {
                return Glob::Suffix(rest.into());
            }
        }
        if let Some(rest) = pattern.strip_suffix('*') {
            if !wild(rest) {
                return Glob::Prefix(rest.into());
            }
        }
        if let Some((a, b)) = pattern.split_once('*') {
            if !wild(a) && !wild(b) {
                return Glob::Both(a.into(), b.into());
            }
        }
        Glob::General(pattern.into())
    }

    /// Whether `text` matches, as [`glob_match`] says.
    #[inline(always)]
    pub(super) fn matches(&self, text: &str) -> bool {
        let t = text.as_bytes();
        match self {
            Glob::Exact(p) => t.len() == p.len() && starts(t, p.as_bytes()),
            Glob::Prefix(p) => starts(t, p.as_bytes()),
            Glob::Suffix(p) => ends(t, p.as_bytes()),
            Glob::Both(a, b) => {
                t.len() >= a.len() + b.len() && ends(t, b.as_bytes()) && starts(t, a.as_bytes())
            }
            Glob::General(p) => glob_backtrack(p, text),
        }
    }
}

// Byte loops rather than `starts_with`/`ends_with`: the patterns and interface names are a
// few bytes long and usually differ in the first byte compared, where a `memcmp` call costs
// more than the comparison (callgrind, Calico's export filter: 3 `ifname` tests per route).

/// `t.starts_with(p)`.
#[inline]
fn starts(t: &[u8], p: &[u8]) -> bool {
    t.len() >= p.len() && t.iter().zip(p).all(|(a, b)| a == b)
}

/// `t.ends_with(p)`.
#[inline]
fn ends(t: &[u8], p: &[u8]) -> bool {
    t.len() >= p.len() && t.iter().rev().zip(p.iter().rev()).all(|(a, b)| a == b)
}

/// The general match, with backtracking to the last `*`.
pub(super) fn glob_backtrack(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == t.get(ti) => {
                pi += 1;
                // `?` is one character, not one byte.
                ti += if c == b'?' { utf8_len(t.get(ti)) } else { 1 };
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + utf8_len(t.get(st));
                    pi = sp + 1;
                    ti = next;
                    star = Some((sp, next));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// Length of the UTF-8 sequence starting with `b` (1 for anything unexpected).
fn utf8_len(b: Option<&u8>) -> usize {
    match b {
        Some(&b) if b >= 0xf0 => 4,
        Some(&b) if b >= 0xe0 => 3,
        Some(&b) if b >= 0xc0 => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_match_as_bird() {
        // (pattern, prefix, matches)
        let cases = [
            ("10.244.0.0/16{26,32}", "10.244.3.0/26", true),
            ("10.244.0.0/16{26,32}", "10.244.3.7/32", true),
            ("10.244.0.0/16{26,32}", "10.244.0.0/16", false),
            ("10.244.0.0/16{26,32}", "10.245.0.0/26", false),
            ("10.244.0.0/16{26,32}", "10.244.0.0/24", false),
            ("10.244.0.0/16", "10.244.0.0/16", true),
            ("10.244.0.0/16", "10.244.0.0/17", false),
            ("10.244.0.0/16+", "10.244.0.0/17", true),
            ("10.244.0.0/16+", "10.0.0.0/8", false),
            ("10.244.0.0/16-", "10.0.0.0/8", true),
            ("10.244.0.0/16-", "0.0.0.0/0", true),
            ("10.244.0.0/16-", "10.244.0.0/17", false),
            ("10.244.0.0/16-", "11.0.0.0/8", false),
            // low below the pattern's length: the first min(len, len1) bits count.
            ("10.244.0.0/16{8,24}", "10.0.0.0/8", true),
            ("10.244.0.0/16{8,24}", "10.245.0.0/24", false),
            ("fd00::/48{64,128}", "fd00:0:0:1::/64", true),
            ("fd00::/48{64,128}", "10.244.0.0/26", false),
            ("0.0.0.0/0+", "192.0.2.1/32", true),
        ];
        for (r, p, want) in cases {
            let r: PrefixRange = r.parse().unwrap();
            assert_eq!(r.matches(&p.parse().unwrap()), want, "{r:?} {p}");
        }
        for bad in [
            "10.0.0.0/8{9}",
            "10.0.0.0/8{20,10}",
            "10.0.0.0/8{8,33}",
            "x/8",
        ] {
            assert!(bad.parse::<PrefixRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_display_round_trip() {
        for s in [
            "10.244.0.0/16{26,32}",
            "10.0.0.0/8",
            "10.0.0.0/8+",
            "10.0.0.0/8-",
            "fd00::/48{64,128}",
        ] {
            let r: PrefixRange = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
    }

    #[test]
    fn sets() {
        let s =
            PrefixSet::new(["10.0.0.0/8{16,24}", "192.168.0.0/16+"].map(|p| p.parse().unwrap()));
        assert!(s.contains(&"10.1.0.0/16".parse().unwrap()));
        assert!(s.contains(&"192.168.1.1/32".parse().unwrap()));
        assert!(!s.contains(&"10.0.0.0/8".parse().unwrap()));
        assert!(!PrefixSet::default().contains(&"10.0.0.0/8".parse().unwrap()));
    }

    #[test]
    fn globs() {
        let cases = [
            ("*.cali", "eth0.cali", true),
            ("*.cali", "cali123", false),
            ("bpf*.cali", "bpfout.cali", true),
            ("bpf*.cali", "bpf.calico", false),
            ("tunl0", "tunl0", true),
            ("tunl?", "tunl0", true),
            ("tunl?", "tunl", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("cali*", "cali1234abcd", true),
            ("cali*", "eth0", false),
            ("?x", "éx", true),
            ("*x", "ééx", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
    }
}

#[cfg(test)]
mod glob_tests {
    #![allow(clippy::unwrap_used)]
    use super::{glob_backtrack, glob_match};
    use proptest::prelude::*;

    #[test]
    fn calico_patterns() {
        for (p, t, want) in [
            ("*.cali", "cali12ab", false),
            ("*.cali", "eth0.cali", true),
            ("cali*", "cali12ab", true),
            ("cali*", "cal", false),
            ("bpf*.cali", "bpf0.cali", true),
            ("bpf*.cali", "bpf.cali", true),
            ("bpf*.cali", "bpf.cal", false),
            ("a*a", "a", false),
            ("a*b*c", "abbc", true),
            ("a*b*c", "acb", false),
            ("", "", true),
            ("*", "", true),
            ("é*", "éa", true),
        ] {
            assert_eq!(glob_match(p, t), want, "{p:?} ~ {t:?}");
            assert_eq!(glob_backtrack(p, t), want, "{p:?} ~ {t:?}");
        }
    }

    proptest! {
        /// The suffix fast path answers as the backtracking matcher on every input.
        #[test]
        fn star_match_is_backtracking(p in "[ab.*é]{0,8}", t in "[ab.é]{0,10}") {
            prop_assert_eq!(glob_match(&p, &t), glob_backtrack(&p, &t));
        }

        /// Patterns analysed once match as the general matcher does.
        #[test]
        fn analysed_globs_match_as_the_general_one(p in "[ab.*?é]{0,8}", t in "[ab.é]{0,10}") {
            prop_assert_eq!(super::Glob::new(&p).matches(&t), glob_backtrack(&p, &t), "{:?}", super::Glob::new(&p));
        }
    }
}
