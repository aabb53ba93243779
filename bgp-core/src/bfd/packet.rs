//! DOC: the BFD Control packet (RFC 5880 §4.1) and the field checks of §6.8.6 that need no
//! session: version, length (against the field and the datagram), Detect Mult, Multipoint,
//! My Discriminator, and the Authentication bit (authentication is not supported, so a packet
//! that carries it is dropped, as §6.8.6 requires when none is configured). Decoding never
//! panics; encoding writes into a caller's fixed buffer, so sending allocates nothing.

use std::fmt;

/// The length of a Control packet without authentication.
pub const PACKET_LEN: usize = 24;
/// BFD version carried and accepted.
pub const VERSION: u8 = 1;

/// Session state (RFC 5880 §4.1 `Sta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0.
    AdminDown = 0,
    /// 1.
    Down = 1,
    /// 2.
    Init = 2,
    /// 3.
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// BIRD's and FRR's words.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }

    /// Every state, for metrics.
    pub const ALL: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Diagnostic code (RFC 5880 §4.1 `Diag`); values above 8 are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Diag(pub u8);

impl Diag {
    /// 0: No Diagnostic.
    pub const NONE: Diag = Diag(0);
    /// 1: Control Detection Time Expired.
    pub const TIME_EXPIRED: Diag = Diag(1);
    /// 2: Echo Function Failed.
    pub const ECHO_FAILED: Diag = Diag(2);
    /// 3: Neighbor Signaled Session Down.
    pub const NEIGHBOR_DOWN: Diag = Diag(3);
    /// 4: Forwarding Plane Reset.
    pub const FORWARDING_RESET: Diag = Diag(4);
    /// 5: Path Down.
    pub const PATH_DOWN: Diag = Diag(5);
    /// 6: Concatenated Path Down.
    pub const CONCAT_PATH_DOWN: Diag = Diag(6);
    /// 7: Administratively Down.
    pub const ADMIN_DOWN: Diag = Diag(7);
    /// 8: Reverse Concatenated Path Down.
    pub const REVERSE_CONCAT_PATH_DOWN: Diag = Diag(8);

    /// The RFC's words.
    pub fn text(self) -> &'static str {
        match self.0 {
            0 => "No diagnostic",
            1 => "Control detection time expired",
            2 => "Echo function failed",
            3 => "Neighbor signaled session down",
            4 => "Forwarding plane reset",
            5 => "Path down",
            6 => "Concatenated path down",
            7 => "Administratively down",
            8 => "Reverse concatenated path down",
            _ => "Unknown diagnostic",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.0)
    }
}

/// A decoded Control packet (mandatory section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Diagnostic.
    pub diag: Diag,
    /// Sender's state.
    pub state: State,
    /// P: Poll.
    pub poll: bool,
    /// F: Final.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub cpi: bool,
    /// D: Demand.
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discr: u32,
    /// Your Discriminator.
    pub your_discr: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, µs.
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, µs.
    pub required_min_echo_rx: u32,
}

/// Why a received datagram was dropped (RFC 5880 §6.8.6, RFC 5881 §5); metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than 24 octets, or the Length field below the minimum.
    Short,
    /// The Length field exceeds the datagram.
    Length,
    /// Version is not 1.
    Version,
    /// Detect Mult is zero.
    DetectMult,
    /// The Multipoint bit is set.
    Multipoint,
    /// My Discriminator is zero.
    MyDiscriminator,
    /// Authentication present (none is configured).
    Auth,
    /// Single-hop packet with a TTL / hop limit other than 255.
    Ttl,
    /// Your Discriminator names no session.
    UnknownDiscriminator,
    /// Your Discriminator is zero while the State is neither Down nor AdminDown.
    ZeroDiscriminator,
    /// No session for the source address (Your Discriminator zero).
    NoSession,
    /// The session named by Your Discriminator belongs to another address or hop mode.
    AddressMismatch,
}

impl DropReason {
    /// Metrics label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Short => "short",
            DropReason::Length => "length",
            DropReason::Version => "version",
            DropReason::DetectMult => "detect_mult",
            DropReason::Multipoint => "multipoint",
            DropReason::MyDiscriminator => "my_discriminator",
            DropReason::Auth => "auth",
            DropReason::Ttl => "ttl",
            DropReason::UnknownDiscriminator => "unknown_discriminator",
            DropReason::ZeroDiscriminator => "zero_discriminator",
            DropReason::NoSession => "no_session",
            DropReason::AddressMismatch => "address_mismatch",
        }
    }

    /// Every reason, for metrics.
    pub const ALL: [DropReason; 12] = [
        DropReason::Short,
        DropReason::Length,
        DropReason::Version,
        DropReason::DetectMult,
        DropReason::Multipoint,
        DropReason::MyDiscriminator,
        DropReason::Auth,
        DropReason::Ttl,
        DropReason::UnknownDiscriminator,
        DropReason::ZeroDiscriminator,
        DropReason::NoSession,
        DropReason::AddressMismatch,
    ];
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b2, c, d]) => u32::from_be_bytes([a, b2, c, d]),
        _ => 0,
    }
}

impl Packet {
    /// Decodes a datagram's payload with the session-independent checks of RFC 5880 §6.8.6.
    pub fn decode(b: &[u8]) -> Result<Packet, DropReason> {
        let (Some(&b0), Some(&b1), Some(&mult), Some(&len)) =
            (b.first(), b.get(1), b.get(2), b.get(3))
        else {
            return Err(DropReason::Short);
        };
        if b0 >> 5 != VERSION {
            return Err(DropReason::Version);
        }
        let auth = b1 & 0x04 != 0;
        let len = usize::from(len);
        if len < PACKET_LEN || (auth && len < PACKET_LEN + 2) || b.len() < PACKET_LEN {
            return Err(DropReason::Short);
        }
        if len > b.len() {
            return Err(DropReason::Length);
        }
        if mult == 0 {
            return Err(DropReason::DetectMult);
        }
        if b1 & 0x01 != 0 {
            return Err(DropReason::Multipoint);
        }
        let my_discr = be32(b, 4);
        if my_discr == 0 {
            return Err(DropReason::MyDiscriminator);
        }
        if auth {
            return Err(DropReason::Auth);
        }
        Ok(Packet {
            diag: Diag(b0 & 0x1f),
            state: State::from_bits(b1 >> 6),
            poll: b1 & 0x20 != 0,
            final_: b1 & 0x10 != 0,
            cpi: b1 & 0x08 != 0,
            demand: b1 & 0x02 != 0,
            detect_mult: mult,
            my_discr,
            your_discr: be32(b, 8),
            desired_min_tx: be32(b, 12),
            required_min_rx: be32(b, 16),
            required_min_echo_rx: be32(b, 20),
        })
    }

    /// Encodes the packet (no authentication section).
    pub fn encode(&self, out: &mut [u8; PACKET_LEN]) {
        out[0] = (VERSION << 5) | (self.diag.0 & 0x1f);
        out[1] = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        out[2] = self.detect_mult;
        out[3] = PACKET_LEN as u8;
        let words = [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ];
        for (chunk, w) in out[4..].chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
    }
}
