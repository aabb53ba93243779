//! bgp-core: a sans-IO implementation of BGP-4.
//!
//! No sockets, no async runtime and no clock of its own: every input is a method call and every
//! output is a value the caller collects, so the same code runs in the `bgpd` daemon, in other
//! daemons that embed it, in fuzzers and in deterministic tests on virtual time.
//!
//! # Parts and data flow
//!
//! * [`wire`]: the BGP-4 message codec. Bytes from a connection are split into messages by
//!   [`wire::frame`], decoded by [`wire::Message::decode`] under the session's [`wire::Negotiated`]
//!   context (4-octet AS, ADD-PATH, extended messages), and encoded back the same way. Malformed
//!   input becomes either a [`wire::DecodeError`] naming the NOTIFICATION to send, or, for path
//!   attributes, an RFC 7606 disposition recorded on the decoded [`wire::Update`].
//! * [`bfd`]: Bidirectional Forwarding Detection (RFC 5880, 5881, 5883): the session state
//!   machine, its Control packet codec and the set of sessions of a speaker, sans-IO like the
//!   rest; the daemon binds its sessions to BGP peers.
//! * [`session`]: one BGP connection's state machine (RFC 4271 §8). The driver feeds it bytes,
//!   connection changes, commands and timeouts (`handle_*`, each with the current time) and
//!   drains what it produces (`poll_*`): events for the owner ([`session::Event`]: Established,
//!   UPDATEs, End-of-RIB, route refresh, Down with graceful restart instructions, stale-route
//!   expiry, max-prefix), connect/close actions, the next message to write, and the next
//!   deadline. UPDATEs to send are pulled one at a time from the owner's
//!   [`session::UpdateSource`] (the Adj-RIB-Out) only when the socket can take them, so no
//!   queue grows without bound. The module documentation states the contract.
//! * [`peer`]: one configured neighbour: at most two sessions (outgoing and incoming),
//!   collision resolution by BGP identifier (RFC 4271 §6.8), passive mode, connection ids for
//!   the driver.
//! * [`filter`]: the one route-filter engine: BIRD 1.6's filter language as an IR (built by
//!   the BIRD and TOML front-ends) and its interpreter, used by the RIB for import, export
//!   and the kernel filter.
//! * [`rib`]: the routing table. Decoded UPDATEs ([`rib::Rib::apply_update`]) and local routes
//!   ([`rib::Rib::add_local`]) enter per-source Adj-RIBs-In through loop checks and import
//!   filters ([`filter`]); the decision process (RFC 4271 §9.1, RFC 4456 §9) keeps each
//!   prefix's paths in preference order with the ECMP set first; every change is recorded once
//!   per prefix for two consumers: the FIB ([`rib::Rib::poll_fib_change`]) and each peer's
//!   Adj-RIB-Out, which the session pulls as encoded UPDATEs when it can write
//!   ([`rib::Rib::poll_update`]). Attribute sets are interned; a path costs a few octets.
//!
//! * [`driver`]: what the driver of a [`peer::Peer`] decides beside the protocol (UPDATE
//!   batches for the RIB, read sizes), so that the daemon's peer task is I/O only.
//! * [`restart`]: the restarting speaker's deferral of RFC 4724 §4.1 (our advertisements wait
//!   for the peers' End-of-RIB, the stale sweep also for peers that restart too).
//!
//! # Panics
//!
//! Untrusted bytes never panic this crate: non-test code is built with clippy's `unwrap_used`,
//! `expect_used`, `indexing_slicing` and `panic` lints denied.

pub mod bfd;
pub mod driver;
pub mod filter;
pub mod peer;
pub mod restart;
pub mod rib;
pub mod session;
pub mod wire;
