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
//!
//! Later parts (the session state machine and the RIB) consume these values: a session turns
//! decoded messages into events, the RIB turns route events into Loc-RIB change sets.
//!
//! # Panics
//!
//! Untrusted bytes never panic this crate: non-test code is built with clippy's `unwrap_used`,
//! `expect_used`, `indexing_slicing` and `panic` lints denied.

pub mod rib;
pub mod wire;
