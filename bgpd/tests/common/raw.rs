//! A raw BGP speaker for the daemon tests: plain TCP from inside a namespace, hand-made
//! messages out, every message in decoded by a reader thread (the routes it holds, the
//! NOTIFICATION it got, whether the daemon closed the connection).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_core::wire::{Capability, Family, Message, Negotiated, Open, PathAttributes};
use bgpd_lab::bgpd::BgpdRoute;
use bgpd_lab::{wait_observing, NodeNet, Observed};
use bytes::{Bytes, BytesMut};

/// One path attribute (1-octet length unless `flags` has the Extended Length bit).
pub fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code];
    if flags & 0x10 != 0 {
        v.extend((value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend(value);
    v
}

/// An UPDATE message: withdrawn routes, path attributes (concatenated), NLRI.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = 19 + 2 + withdrawn.len() + 2 + attrs.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend((len as u16).to_be_bytes());
    m.push(2);
    m.extend((withdrawn.len() as u16).to_be_bytes());
    m.extend(withdrawn);
    m.extend((attrs.len() as u16).to_be_bytes());
    m.extend(attrs);
    m.extend(nlri);
    m
}

/// `10.a.b.0/24` as NLRI octets.
pub fn p24(a: u8, b: u8) -> Vec<u8> {
    vec![24, 10, a, b]
}

/// What the speaker received.
#[derive(Debug, Default)]
pub struct Received {
    /// Routes held: prefix -> attributes (the next hop in `next_hop`).
    pub routes: BTreeMap<String, PathAttributes>,
    /// The NOTIFICATION received: (code, subcode, data).
    pub notification: Option<(u8, u8, Vec<u8>)>,
    /// The daemon closed the connection.
    pub closed: bool,
    /// Messages that did not decode (with the context of this speaker).
    pub undecodable: Vec<String>,
    /// The body of every UPDATE received, as it came.
    pub raw_updates: Vec<Vec<u8>>,
}

/// The path attributes of an UPDATE body as (flags, type code, value).
pub fn attributes_of(body: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let at = 2 + wlen;
    let alen = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let mut a = &body[at + 2..at + 2 + alen];
    let mut out = Vec::new();
    while a.len() >= 3 {
        let (flags, code) = (a[0], a[1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([a[2], a[3]])), 4)
        } else {
            (usize::from(a[2]), 3)
        };
        out.push((flags, code, a[hdr..hdr + len].to_vec()));
        a = &a[hdr + len..];
    }
    out
}

/// A raw speaker connected to a daemon.
pub struct RawPeer {
    out: TcpStream,
    /// What it received so far.
    pub rx: Arc<Mutex<Received>>,
    /// Its AS.
    pub asn: u32,
}

/// Connects from namespace `ns` to `to`:179 (a thread that enters the namespace).
pub fn connect_from(ns: &str, to: Ipv4Addr) -> std::io::Result<TcpStream> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        TcpStream::connect_timeout(&(to, 179).into(), Duration::from_secs(5))
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("connect thread panicked")))
}

/// One whole message: (type, body).
pub fn read_msg(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 19];
    s.read_exact(&mut h)?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0; len.saturating_sub(19)];
    s.read_exact(&mut body)?;
    Ok((h[18], body))
}

/// `n` distinct IPv4 prefixes of length `len` (1..=32) from `first` upwards, in UPDATEs packed
/// to 4,096 octets, all with ORIGIN IGP, AS_PATH `asn` (4-octet encoding) and NEXT_HOP `nh`.
pub fn packed_updates(n: u32, first: Ipv4Addr, len: u8, asn: u32, nh: Ipv4Addr) -> Vec<u8> {
    let a = asn.to_be_bytes();
    let nh = nh.octets();
    let attrs: [u8; 20] = [
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 6, 2, 1, a[0], a[1], a[2], a[3], // AS_PATH
        0x40, 3, 4, nh[0], nh[1], nh[2], nh[3], // NEXT_HOP
    ];
    let octets = usize::from(len).div_ceil(8);
    let per = ((4096 - 19 - 4 - attrs.len()) / (1 + octets)) as u32;
    let step = 1u32 << (32 - u32::from(len));
    let base = u32::from(first);
    let mut out = Vec::new();
    let mut i = 0u32;
    while i < n {
        let k = (n - i).min(per);
        let total = 19 + 4 + attrs.len() + (1 + octets) * k as usize;
        out.extend([0xff; 16]);
        out.extend((total as u16).to_be_bytes());
        out.push(2);
        out.extend([0, 0]);
        out.extend((attrs.len() as u16).to_be_bytes());
        out.extend(attrs);
        for j in i..i + k {
            out.push(len);
            out.extend(&(base + j * step).to_be_bytes()[..octets]);
        }
        i += k;
    }
    out
}

/// The OPEN of a speaker of AS `asn` (2-octet only unless `four_octet`).
pub fn open_msg(asn: u32, id: Ipv4Addr, four_octet: bool) -> Vec<u8> {
    open_msg_hold(asn, id, four_octet, 90)
}

/// [`open_msg`] with hold time `hold` (seconds).
pub fn open_msg_hold(asn: u32, id: Ipv4Addr, four_octet: bool, hold: u16) -> Vec<u8> {
    let mut caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST)];
    if four_octet {
        caps.push(Capability::FourOctetAs(asn));
    }
    let mut open = BytesMut::new();
    Open::new(asn, hold, id, caps).encode(&mut open).unwrap();
    open.to_vec()
}

pub const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

impl RawPeer {
    /// Connects from `from` to `daemon` (AS `daemon_as`) as AS `asn`, exchanges OPEN and
    /// KEEPALIVE, and starts the reader. Retries (a daemon in its error back-off refuses
    /// connections) until `secs` pass.
    pub fn connect(
        from: &NodeNet,
        daemon: Ipv4Addr,
        daemon_as: u32,
        asn: u32,
        four_octet: bool,
        secs: u64,
    ) -> RawPeer {
        let mut stream = None;
        wait_observing(
            Duration::from_secs(secs),
            Duration::from_millis(100),
            &format!("{}: OPEN from the daemon", from.name),
            || {
                let attempt = (|| -> std::io::Result<TcpStream> {
                    let mut s = connect_from(&from.ns, daemon)?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    s.write_all(&open_msg(asn, from.ip4(), four_octet))?;
                    let (ty, body) = read_msg(&mut s)?;
                    if ty != 1 {
                        return Err(std::io::Error::other(format!("type {ty}: {body:?}")));
                    }
                    s.write_all(&KEEPALIVE)?;
                    Ok(s)
                })();
                let seen = format!("{attempt:?}");
                stream = attempt.ok();
                Ok(Observed::when(stream.is_some(), seen))
            },
        )
        .unwrap();
        let s = stream.unwrap();
        let ctx = Negotiated {
            four_octet_as: four_octet,
            local_as: asn,
            peer_as: daemon_as,
            families: vec![Family::IPV4_UNICAST],
            ..Negotiated::default()
        };
        let rx = Arc::new(Mutex::new(Received::default()));
        let mut reader = s.try_clone().unwrap();
        reader.set_read_timeout(None).unwrap();
        let shared = Arc::clone(&rx);
        std::thread::spawn(move || read_loop(&mut reader, &ctx, &shared));
        RawPeer { out: s, rx, asn }
    }

    /// Sends raw octets.
    pub fn send(&mut self, m: &[u8]) {
        self.out.write_all(m).unwrap();
    }

    /// Sends raw octets; the error when the daemon closed the connection.
    pub fn try_send(&mut self, m: &[u8]) -> std::io::Result<()> {
        self.out.write_all(m)
    }

    /// The attributes of `prefix` as received, if held.
    pub fn route(&self, prefix: &str) -> Option<PathAttributes> {
        self.rx.lock().unwrap().routes.get(prefix).cloned()
    }

    /// Waits until the speaker holds `prefix`.
    pub fn wait_route(&self, prefix: &str, secs: u64) -> PathAttributes {
        self.try_wait_route(prefix, secs)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until the speaker holds `prefix`; the timeout as an error.
    pub fn try_wait_route(&self, prefix: &str, secs: u64) -> Result<PathAttributes, String> {
        wait_observing(
            Duration::from_secs(secs),
            Duration::from_millis(100),
            &format!("raw speaker AS{} receives {prefix}", self.asn),
            || {
                let r = self.rx.lock().unwrap();
                Ok(Observed::when(
                    r.routes.contains_key(prefix),
                    format!("{:?}", r.routes.keys().collect::<Vec<_>>()),
                ))
            },
        )
        .map_err(|e| e.to_string())?;
        self.route(prefix).ok_or_else(|| format!("{prefix} gone"))
    }

    /// Waits for the NOTIFICATION and the close of the connection by the daemon.
    pub fn wait_notification_and_close(&self, secs: u64) -> (u8, u8, Vec<u8>) {
        wait_observing(
            Duration::from_secs(secs),
            Duration::from_millis(50),
            &format!("raw speaker AS{}: NOTIFICATION and close", self.asn),
            || {
                let r = self.rx.lock().unwrap();
                Ok(Observed::when(
                    r.notification.is_some() && r.closed,
                    format!("{:?} closed {}", r.notification, r.closed),
                ))
            },
        )
        .unwrap();
        self.rx.lock().unwrap().notification.clone().unwrap()
    }
}

fn read_loop(s: &mut TcpStream, ctx: &Negotiated, rx: &Mutex<Received>) {
    loop {
        let Ok((ty, body)) = read_msg(s) else {
            rx.lock().unwrap().closed = true;
            return;
        };
        let mut whole = vec![0xff; 16];
        whole.extend(((body.len() + 19) as u16).to_be_bytes());
        whole.push(ty);
        whole.extend(&body);
        let mut r = rx.lock().unwrap();
        if ty == 2 {
            r.raw_updates.push(body.clone());
        }
        match Message::decode(Bytes::from(whole), ctx) {
            Ok(Message::Update(u)) => {
                for (_, n) in u.withdrawn_routes() {
                    r.routes.remove(&n.prefix.to_string());
                }
                for a in u.announced() {
                    for n in a.nlri {
                        r.routes.insert(n.prefix.to_string(), u.attrs.clone());
                    }
                }
            }
            Ok(Message::Notification(n)) => {
                r.notification = Some((n.code, n.subcode, n.data.to_vec()));
            }
            Ok(_) => {}
            Err(e) => r.undecodable.push(format!("type {ty}: {e}")),
        }
    }
}

/// The AS of the daemon in the raw-speaker tests.
pub const D_AS: u32 = 65001;

/// A `[[peers]]` entry: passive, IPv4, hold time 90, plus `extra` lines.
pub fn peer(name: &str, addr: Ipv4Addr, asn: u32, extra: &str) -> String {
    format!(
        "[[peers]]\nname = \"{name}\"\naddress = \"{addr}\"\nasn = {asn}\npassive = true\n\
         families = [\"ipv4\"]\nhold_time = 90\n{extra}\n"
    )
}

/// The daemon's configuration on `d` (AS [`D_AS`], kernel protocol `bird`) with `peers`.
pub fn config(d: &NodeNet, peers: &[String]) -> String {
    format!(
        "router_id = \"{ip}\"\nasn = {D_AS}\n[listen]\naddresses = [\"{ip}\"]\n[kernel]\n\
         protocol = \"bird\"\n{}",
        peers.concat(),
        ip = d.ip4(),
    )
}

/// A 4-octet AS number on the wire.
pub fn asn4(a: u32) -> [u8; 4] {
    a.to_be_bytes()
}

/// A 2-octet AS number on the wire.
pub fn asn2(a: u32) -> [u8; 2] {
    (a as u16).to_be_bytes()
}

/// A message of type `ty` with this body.
pub fn with_header(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(ty);
    m.extend(body);
    m
}

/// `show route --json`'s entry for `p` at `n`.
pub fn route(n: &NodeNet, p: &str) -> Option<BgpdRoute> {
    super::routes(n)
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.prefix == p)
}
