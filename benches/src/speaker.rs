//! A raw BGP speaker's pieces for the load generators (`inject`, `churn`): the connection from
//! a chosen source address, the OPEN/KEEPALIVE handshake, and a table pre-encoded as UPDATEs.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use bgp_core::wire::{
    encode_announcements, encode_keepalive, frame, AsPath, Family, Message, Negotiated, NextHop,
    Nlri, Open, Origin, PathAttributes, Update,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// All UPDATEs announcing `nlri` with next hop `nh`, then End-of-RIB, in one buffer.
pub fn encode_table(ctx: &Negotiated, nlri: &[Nlri], nh: Ipv4Addr, ibgp: bool) -> Bytes {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(if ibgp {
            AsPath::from_sequence(&[])
        } else {
            AsPath::from_sequence(&[ctx.local_as])
        }),
        next_hop: Some(nh),
        local_pref: ibgp.then_some(100),
        ..PathAttributes::default()
    };
    let mut out = BytesMut::with_capacity(nlri.len() * 5 + 4096);
    let mut rest = nlri;
    let hop = NextHop::V4(nh);
    while !rest.is_empty() {
        let took = encode_announcements(ctx, &attrs, Family::IPV4_UNICAST, &hop, rest, &mut out)
            .expect("encode");
        rest = &rest[took..];
    }
    Update::end_of_rib(Family::IPV4_UNICAST)
        .encode(ctx, &mut out)
        .expect("eor");
    out.freeze()
}

/// Reads one whole message from `s` (with `buf` holding what was read beyond it).
pub async fn read_message(s: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<Bytes> {
    loop {
        match frame(buf, 65535) {
            Ok(Some(len)) => return Ok(buf.split_to(len).freeze()),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::other(format!("framing: {e:?}"))),
        }
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::Error::other("peer closed during handshake"));
        }
    }
}

/// OPEN/KEEPALIVE exchange; returns the negotiated context.
pub async fn handshake(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    open: &Open,
) -> std::io::Result<Negotiated> {
    let mut out = BytesMut::new();
    open.encode(&mut out)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    encode_keepalive(&mut out).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut sent_ka = false;
    let mut ctx = None;
    // OPEN first, KEEPALIVE after the peer's OPEN.
    let (open_part, ka_part) = out.split_at(out.len() - 19);
    s.write_all(open_part).await?;
    let pre = Negotiated::pre_open();
    loop {
        let msg = read_message(s, buf).await?;
        match Message::decode(msg, ctx.as_ref().unwrap_or(&pre)) {
            Ok(Message::Open(remote)) => {
                ctx = Some(Negotiated::new(open, &remote));
                if !sent_ka {
                    s.write_all(ka_part).await?;
                    sent_ka = true;
                }
            }
            Ok(Message::Keepalive) if ctx.is_some() => {
                return Ok(ctx.unwrap_or_else(Negotiated::pre_open))
            }
            Ok(Message::Notification(n)) => {
                return Err(std::io::Error::other(format!("NOTIFICATION {n:?}")))
            }
            Ok(other) => {
                return Err(std::io::Error::other(format!(
                    "unexpected {:?} in handshake",
                    other.message_type()
                )))
            }
            Err(e) => return Err(std::io::Error::other(format!("decode: {e:?}"))),
        }
    }
}

/// A connection from `src` (any port) to `target`, with large socket buffers.
pub async fn connect(src: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))?;
    sock.set_send_buffer_size(4 << 20)?;
    sock.set_recv_buffer_size(1 << 20)?;
    let s = sock.connect(target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}
