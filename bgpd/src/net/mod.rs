//! DOC: the OS socket layer the daemon's tasks call: plain libc calls on the raw fds of tokio
//! and std sockets, no protocol logic.
//!
//! * [`tcp`]: BGP's TCP sockets: listeners (`IPV6_V6ONLY`), outgoing connections (source
//!   address, TTL / GTSM, TCP_NODELAY) and TCP-MD5 keys.
//! * [`bfd`]: BFD's UDP sockets (receive with `IP_RECVTTL` / `IPV6_RECVHOPLIMIT`, one send
//!   socket per session).

pub mod bfd;
pub mod tcp;
