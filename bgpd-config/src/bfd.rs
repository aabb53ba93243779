//! DOC: the BFD keys (RFC 5880/5881/5883): the `[bfd]` defaults section, the per-peer `bfd`
//! setting (`bfd = true` or `bfd = { min_rx = "100ms", ... }`, also in `[mesh]` and
//! `[[peer_ranges]]`), and their resolution into the parameters of one BFD session. Ranges are
//! checked while deserializing, so errors carry the value's file, line and column.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A BFD interval: `"100ms"`, `"1s"`, `"300us"`, or an integer number of milliseconds.
/// Between 1 ms and 60 s (BFD carries microseconds in 32 bits; BIRD's and FRR's ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdInterval(pub Duration);

impl BfdInterval {
    /// From milliseconds.
    pub const fn ms(ms: u64) -> Self {
        BfdInterval(Duration::from_millis(ms))
    }

    /// Parses `"100ms"`, `"1s"`, `"300us"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{s:?}: missing unit (us, ms or s)"))?;
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?}: expected a number followed by us, ms or s"))?;
        let d = match unit.trim() {
            "us" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            u => return Err(format!("{s:?}: unknown unit {u:?} (us, ms or s)")),
        };
        Self::checked(d)
    }

    fn checked(d: Duration) -> Result<Self, String> {
        if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
            return Err(format!("BFD interval {d:?} out of range (1ms ..= 60s)"));
        }
        Ok(BfdInterval(d))
    }
}

impl<'de> Deserialize<'de> for BfdInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BfdInterval;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"100ms\", \"1s\" or milliseconds")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<BfdInterval, E> {
                BfdInterval::parse(s).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<BfdInterval, E> {
                let n = u64::try_from(n).map_err(|_| E::custom("negative interval"))?;
                BfdInterval::checked(Duration::from_millis(n)).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<BfdInterval, E> {
                BfdInterval::checked(Duration::from_millis(n)).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Detect Mult: 1..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdMultiplier(pub u8);

impl<'de> Deserialize<'de> for BfdMultiplier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u8::try_from(n) {
            Ok(m) if m > 0 => Ok(BfdMultiplier(m)),
            _ => Err(de::Error::custom("BFD multiplier must be 1..=255")),
        }
    }
}

/// `[bfd]`: defaults of every BFD session (BIRD's defaults) and how BGP follows BFD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdDefaults {
    /// Required Min RX Interval: the fastest we accept packets (BIRD: 10 ms).
    #[serde(default = "default_min_rx")]
    pub min_rx: BfdInterval,
    /// Desired Min TX Interval once Up (BIRD: 100 ms).
    #[serde(default = "default_min_tx")]
    pub min_tx: BfdInterval,
    /// Desired Min TX Interval while not Up (BIRD's `idle tx interval`, 1 s).
    #[serde(default = "default_idle_tx")]
    pub idle_tx: BfdInterval,
    /// Detect Mult (BIRD: 5).
    #[serde(default = "default_multiplier")]
    pub multiplier: BfdMultiplier,
    /// After BFD declared a neighbour down, its BGP session stays down until BFD is Up again
    /// (BIRD's behaviour). `false`: BGP reconnects on its own timers.
    #[serde(default = "yes")]
    pub wait_for_up: bool,
}

impl Default for BfdDefaults {
    fn default() -> Self {
        BfdDefaults {
            min_rx: default_min_rx(),
            min_tx: default_min_tx(),
            idle_tx: default_idle_tx(),
            multiplier: default_multiplier(),
            wait_for_up: true,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_min_rx() -> BfdInterval {
    BfdInterval::ms(10)
}
fn default_min_tx() -> BfdInterval {
    BfdInterval::ms(100)
}
fn default_idle_tx() -> BfdInterval {
    BfdInterval::ms(1000)
}
fn default_multiplier() -> BfdMultiplier {
    BfdMultiplier(5)
}

/// The options of one peer's BFD session; unset keys come from `[bfd]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdOptions {
    /// Required Min RX Interval.
    #[serde(default)]
    pub min_rx: Option<BfdInterval>,
    /// Desired Min TX Interval once Up.
    #[serde(default)]
    pub min_tx: Option<BfdInterval>,
    /// Desired Min TX Interval while not Up.
    #[serde(default)]
    pub idle_tx: Option<BfdInterval>,
    /// Detect Mult.
    #[serde(default)]
    pub multiplier: Option<BfdMultiplier>,
    /// Multihop BFD (RFC 5883, UDP 4784). Default: single-hop (RFC 5881, UDP 3784, TTL 255),
    /// unless the peer's `multihop` TTL is set above 1.
    #[serde(default)]
    pub multihop: Option<bool>,
}

/// A peer's `bfd` key: `bfd = true`, `bfd = false`, or `bfd = { ... }` (enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BfdSetting {
    /// `true` / `false`.
    Enabled(bool),
    /// A table: enabled with these options.
    Options(BfdOptions),
}

impl<'de> Deserialize<'de> for BfdSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BfdSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "true, false or a table { min_rx, min_tx, idle_tx, multiplier, multihop }",
                )
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<BfdSetting, E> {
                Ok(BfdSetting::Enabled(b))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BfdSetting, A::Error> {
                BfdOptions::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(BfdSetting::Options)
            }
        }
        d.deserialize_any(V)
    }
}

/// The resolved parameters of one peer's BFD session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdPeer {
    /// Required Min RX Interval.
    pub min_rx: Duration,
    /// Desired Min TX Interval once Up.
    pub min_tx: Duration,
    /// Desired Min TX Interval while not Up.
    pub idle_tx: Duration,
    /// Detect Mult.
    pub multiplier: u8,
    /// RFC 5883 multihop.
    pub multihop: bool,
}

/// A peer's BFD session as the BFD engine takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdSession {
    /// The session's key: the peer's address, our source address, the hop mode.
    pub key: bgp_core::bfd::Key,
    /// Its parameters.
    pub params: bgp_core::bfd::SessionParams,
    /// After a BFD failure, BGP stays down until BFD is Up again (`[bfd] wait_for_up`).
    pub wait_for_up: bool,
}

impl BfdSetting {
    /// The session parameters, or `None` when BFD is off. `bgp_multihop`: the peer's `multihop`
    /// TTL, if set.
    pub fn resolve(&self, d: &BfdDefaults, bgp_multihop: Option<u8>) -> Option<BfdPeer> {
        let o = match self {
            BfdSetting::Enabled(false) => return None,
            BfdSetting::Enabled(true) => BfdOptions::default(),
            BfdSetting::Options(o) => o.clone(),
        };
        Some(BfdPeer {
            min_rx: o.min_rx.unwrap_or(d.min_rx).0,
            min_tx: o.min_tx.unwrap_or(d.min_tx).0,
            idle_tx: o.idle_tx.unwrap_or(d.idle_tx).0,
            multiplier: o.multiplier.unwrap_or(d.multiplier).0,
            multihop: o
                .multihop
                .unwrap_or(bgp_multihop.is_some_and(|ttl| ttl > 1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        bfd: BfdSetting,
    }

    #[test]
    fn intervals() {
        assert_eq!(BfdInterval::parse("100ms"), Ok(BfdInterval::ms(100)));
        assert_eq!(BfdInterval::parse("1s"), Ok(BfdInterval::ms(1000)));
        assert_eq!(
            BfdInterval::parse("2500us"),
            Ok(BfdInterval(Duration::from_micros(2500)))
        );
        assert!(BfdInterval::parse("100").is_err());
        assert!(BfdInterval::parse("0ms").is_err());
        assert!(BfdInterval::parse("61s").is_err());
        assert!(BfdInterval::parse("5min").is_err());
    }

    #[test]
    fn setting_forms() {
        let t: T = toml::from_str("bfd = true").unwrap();
        assert_eq!(t.bfd, BfdSetting::Enabled(true));
        let t: T = toml::from_str(
            "bfd = { min_rx = \"100ms\", min_tx = 200, multiplier = 3, multihop = true }",
        )
        .unwrap();
        let p = t.bfd.resolve(&BfdDefaults::default(), None).unwrap();
        assert_eq!(
            p,
            BfdPeer {
                min_rx: Duration::from_millis(100),
                min_tx: Duration::from_millis(200),
                idle_tx: Duration::from_secs(1),
                multiplier: 3,
                multihop: true
            }
        );
        let t: T = toml::from_str("bfd = false").unwrap();
        assert_eq!(t.bfd.resolve(&BfdDefaults::default(), None), None);
        // multihop follows the BGP TTL unless given.
        let t: T = toml::from_str("bfd = true").unwrap();
        assert!(
            t.bfd
                .resolve(&BfdDefaults::default(), Some(64))
                .unwrap()
                .multihop
        );
        assert!(
            !t.bfd
                .resolve(&BfdDefaults::default(), Some(1))
                .unwrap()
                .multihop
        );
    }

    #[test]
    fn errors_name_the_value() {
        for bad in [
            "bfd = { min_rx = \"0ms\" }",
            "bfd = { multiplier = 0 }",
            "bfd = { multiplier = 300 }",
            "bfd = { unknown = 1 }",
            "bfd = \"yes\"",
        ] {
            let e = toml::from_str::<T>(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.span().is_some(), "{bad}: {e}");
        }
    }

    #[test]
    fn a_peers_bfd_session_from_the_config() {
        let text = "router_id = \"10.0.0.1\"\nasn = 64512\n[bfd]\nwait_for_up = false\n[[peers]]\nname = \"a\"\naddress = \"10.0.0.2\"\nasn = 65001\nsource_address = \"10.0.0.1\"\nmultihop = 2\nbfd = { min_tx = \"200ms\", multiplier = 3 }\n[[peers]]\nname = \"b\"\naddress = \"10.0.0.3\"\nasn = 65001\n";
        let c = crate::Config::parse(text, "t").unwrap();
        let peers = c.peers();
        let s = c.bfd_session(&peers[0]).unwrap();
        assert_eq!(s.key.remote, peers[0].address);
        assert_eq!(s.key.local, Some("10.0.0.1".parse().unwrap()));
        // BGP multihop makes the BFD session multihop (RFC 5883).
        assert!(s.key.multihop);
        assert_eq!(
            (s.params.min_tx, s.params.detect_mult),
            (Duration::from_millis(200), 3)
        );
        assert!(!s.wait_for_up);
        assert_eq!(c.bfd_session(&peers[1]), None);
    }
}
