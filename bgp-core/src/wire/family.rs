//! DOC: address families (RFC 4760): AFI, SAFI and their pair.

use std::fmt;

/// Address Family Identifier. A newtype so unknown values survive decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4.
    pub const IPV4: Afi = Afi(1);
    /// IPv6.
    pub const IPV6: Afi = Afi(2);
}

/// Subsequent Address Family Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast forwarding.
    pub const UNICAST: Safi = Safi(1);
    /// Multicast forwarding.
    pub const MULTICAST: Safi = Safi(2);
}

/// An (AFI, SAFI) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast: the family of the UPDATE message's own NLRI and withdrawn fields.
    pub const IPV4_UNICAST: Family = Family {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Family = Family {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };
    /// IPv4 multicast.
    pub const IPV4_MULTICAST: Family = Family {
        afi: Afi::IPV4,
        safi: Safi::MULTICAST,
    };
    /// IPv6 multicast.
    pub const IPV6_MULTICAST: Family = Family {
        afi: Afi::IPV6,
        safi: Safi::MULTICAST,
    };

    /// A family from its two codes.
    pub const fn new(afi: u16, safi: u8) -> Family {
        Family {
            afi: Afi(afi),
            safi: Safi(safi),
        }
    }

    /// Whether this codec parses this family's NLRI as IP prefixes (unicast and multicast of
    /// IPv4 and IPv6). Other families are carried as opaque bytes.
    pub fn is_ip(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6)
            && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Family::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Family::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            Family::IPV4_MULTICAST => f.write_str("ipv4-multicast"),
            Family::IPV6_MULTICAST => f.write_str("ipv6-multicast"),
            Family { afi, safi } => write!(f, "afi{}-safi{}", afi.0, safi.0),
        }
    }
}
