//! DOC: the decisions a driver of a [`crate::peer::Peer`] or of the RIB takes that are not
//! I/O, kept here so that the daemon's peer task and RIB task only move bytes, messages and
//! timers (as quinn drives quinn-proto):
//!
//! * [`admin`]: what an operator, a reload or the shutdown asks of a session, as commands;
//! * [`batch`]: the decoded UPDATEs handed to the RIB together, bounded by UPDATEs and routes;
//! * [`feed`]: what the RIB must learn from each session event, in order;
//! * [`linger`]: when a dynamic neighbour that owes nothing is forgotten;
//! * [`peer`]: a neighbour's driver without I/O ([`PeerDriver`]): what follows each input of
//!   the daemon's peer task (administrative sequences, the process loop, hand-offs to the RIB
//!   and the session epoch, connections, linger, state publication, BFD's verdicts);
//! * [`read`]: the size of the next read from a connection;
//! * [`rib`]: the RIB writer's (the RIB task's) decisions: batching, each message applied
//!   (a peer's only while its session is current),
//!   the FIB hand-off and its backlog, best-path notifications, the recovery's steps;
//! * [`trim`]: when freed memory is given back to the kernel after sessions came or went;
//! * [`tx`]: a connection's write buffer and when to pull the session's messages into it;
//! * [`watchdog`]: when to ping the service manager's watchdog (every loop went around).

pub mod admin;
pub mod batch;
pub mod feed;
pub mod linger;
pub mod peer;
pub mod read;
pub mod rib;
pub mod trim;
pub mod tx;
pub mod watchdog;

pub use admin::Admin;
pub use batch::Batch;
pub use feed::{Feed, Handoff, ToRib};
pub use linger::{owes_nothing, Linger};
pub use peer::{Conn, Env, ForRib, Output, PeerDriver};
pub use read::ReadSize;
pub use rib::{Applied, BestPath, BestPathChange, Current, Writer};
pub use tx::TxBuffer;
