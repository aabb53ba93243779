//! DOC: the decisions a driver of a [`crate::peer::Peer`] takes that are not I/O, kept here so
//! that the daemon's peer task only moves bytes, messages and timers (as quinn drives
//! quinn-proto):
//!
//! * [`batch`]: the decoded UPDATEs handed to the RIB together, bounded by UPDATEs and routes;
//! * [`read`]: the size of the next read from a connection.

pub mod batch;
pub mod read;

pub use batch::Batch;
pub use read::ReadSize;
