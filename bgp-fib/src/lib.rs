//! bgp-fib: keeps the Linux kernel FIB in step with the routes bgpd selects, over rtnetlink.
//!
//! # Parts (one file each) and what they own
//!
//! - [`types`]: the plain values crossing the crate boundary. In: [`FibChange`]
//!   (`Upsert(FibRoute)` / `Remove(RouteKey)` / `Set` / `Clear`, or `Intent(RouteIntent)` /
//!   `Withdraw(prefix)`), [`FibConfig`]. Out: [`FibEvent`] (per-route
//!   outcome with errno, learned routes of other protocols, links, addresses, reconcile
//!   summaries, overruns). No netlink type and no BGP/RIB type appears there.
//! - [`wire`]: the rtnetlink format. Route messages are hand-encoded straight into one
//!   send buffer (byte-exact with what `ip route add ... proto bird onlink` sends; see its
//!   tests); replies and dumps are parsed with bounded readers that return errors, never
//!   panic. Link and address messages are decoded with `netlink-packet-route`.
//! - [`fib`]: the sans-IO state machine [`fib::Fib`]. It owns the per-route state it needs
//!   (a hash map keyed by packed (table, prefix, metric) keys with 4-octet entries and
//!   interned kernel targets), the queue of coalesced changes (served in scattered order when
//!   long: the kernel deletes much faster so), the batches in flight and their sequence
//!   numbers, the reconcile (dump) state, and what the monitor reported (interfaces by index
//!   and name, local addresses, learned routes). Unit-tested without a kernel.
//! - [`tags`]: *tagged mode*, how the daemon drives it: the daemon's RIB keeps a small tag
//!   per prefix naming the kernel intent it last handed over ([`TagTable`]), so the `Fib`
//!   keeps an entry only for a route queued, in flight, failed or being deleted, drops it
//!   once the kernel acknowledges the route, and asks the daemon ([`DesiredTags`], or
//!   `FibEvent::Resync`) for what it no longer holds. Without tags (`FibChange::Upsert`,
//!   `Intent`, ...), it keeps every desired route itself (21.7 B/route at 1M).
//! - [`socket`]: the thin IO layer. [`socket::FibSocket`] holds two `netlink-sys` sockets:
//!   the *request* socket (our writes, their ACKs/errors, our dumps; no multicast groups,
//!   so notifications never crowd out an ACK) and the *monitor* socket (link, address,
//!   IPv4/IPv6 route groups; a socket filter drops, in the kernel, the notifications of our
//!   own writes - our protocol's routes with our request socket's port id - so installing
//!   1M routes does not flood it, while anyone else's change of our routes still arrives). Large buffers (`SO_RCVBUFFORCE` 64 MiB, `SO_SNDBUFFORCE`
//!   4 MiB as root), `NETLINK_CAP_ACK`, `NETLINK_EXT_ACK`.
//! - [`intent`]: what the daemon hands over per prefix, unresolved: [`RouteIntent`] (next hops
//!   as a gateway plus how to reach it: as the Calico IP pool says - IP-in-IP always,
//!   cross-subnet, directly, VXLAN not programmed -, through a named tunnel device, directly;
//!   BIRD's `gateway direct` peer address), the [`RoutePolicy`] (pools, table, default metric,
//!   ECMP cap, Calico's skipped host-length blackholes) and the [`KernelView`] (links,
//!   on-link subnets) the `Fib` resolves intents against, re-resolving the affected routes
//!   itself when a subnet appears or goes.
//! - [`thread`]: the FIB thread ([`spawn`], [`FibHandle`]): bounded hand-offs with
//!   backpressure, an eventfd wake, reports through a [`FibObserver`] (events, kernel view,
//!   batch times, installed/pending counts, refused routes), and its netlink writer thread
//!   (the `send` of each batch, in order, while the FIB thread encodes the next).
//! - [`protos`]: `rtm_protocol` by number or name (`/etc/iproute2/rt_protos`).
//!
//! # Data flow
//!
//! 1. The daemon sends `FibChange`s (from Loc-RIB changes: tags and their intents) to the FIB
//!    thread ([`FibHandle::try_send`], which gives them back while the thread is behind),
//!    which applies them to the `Fib`: a tag's intent is resolved (interned: tags wanting the
//!    same thing share one), the route gets an entry and its key is queued once, however
//!    often it changes before it is sent (coalescing); the daemon's RIB coalesces per prefix
//!    before that.
//! 2. `Fib::poll_transmit` fills one buffer with up to `max_batch_bytes` of RTM_NEWROUTE /
//!    RTM_DELROUTE messages; only the last asks for an ACK (`NLM_F_ACK`). The kernel handles
//!    a `send` in order and reports every failure by sequence number even without
//!    `NLM_F_ACK`, so the batch's ACK means "every other message in it succeeded";
//!    failures become `FibEvent::Outcome { errno }` (once per key and errno) and are retried
//!    by the next reconcile. An ACK for a later batch while an earlier one is open, or
//!    `ENOBUFS`, means a lost message: `FibEvent::Overrun` and a full resync.
//! 3. Reconcile: a route dump (`RTM_GETROUTE`) at start-up, every `scan_interval` (2 s by
//!    default, BIRD's `scan time 2`; a scan taking longer than a tenth of that pushes the next
//!    one out to ten times its duration, at most 60 s, so a 1M-route table is not dumped every
//!    2 s) and after an overrun. Each route of our protocol in a
//!    managed table is compared with the desired entry, or in tagged mode the daemon's tag
//!    for the prefix (type, gateways, device index, `onlink`, weights): a route that differs
//!    (including one that moved between `dev tunl0 onlink` and a direct device, the old
//!    BIRD bug) is replaced in place, a desired route that is missing is re-added (in
//!    tagged mode: the daemon hands every prefix over again), and ours that are not desired
//!    are deleted (or adopted until [`fib::Fib::release_stale`] when started with `adopt_stale`, so a
//!    restart keeps forwarding while BGP converges). Routes of other protocols are never
//!    written; they are reported as learned routes.
//! 4. The monitor socket's notifications update interfaces (deleted ones are forgotten at
//!    once: churn of `cali*` veths costs no memory), addresses with their on-link subnets,
//!    and learned routes; an `ENOBUFS` there re-dumps links, addresses and routes. A
//!    notification about a route of our protocol comes from someone else (ours are
//!    filtered, or recognised by port id): it is repaired at once as a scan would (a deleted
//!    route re-added, a changed one replaced, an unwanted one deleted), so the scan is only
//!    the safety net.
//! 5. `Fib::poll_event` yields the events; the thread hands them to the daemon's sink.
//!
//! # Kernel rules applied
//!
//! - Every route message sets protocol, table (`rtm_table`, plus `RTA_TABLE` always, which
//!   is required above 255), scope, type and metric explicitly.
//! - The kernel keys routes on (table, prefix, metric) (and TOS, always 0 here). A route of
//!   ours known to be in the kernel is updated with `NLM_F_CREATE|NLM_F_REPLACE` (in place,
//!   also across unicast/blackhole/ECMP changes); a new one is added with
//!   `NLM_F_CREATE|NLM_F_EXCL`, so a foreign route under the same key is never overwritten
//!   (we get `EEXIST`) and IPv6 never appends our route to someone else's as an ECMP sibling
//!   (which a plain `NLM_F_CREATE` does). A metric change is a different key: the daemon
//!   removes the old key and upserts the new one. IPv6 metric 0 is stored as 1024, as the
//!   kernel does, so keys match what dumps return.
//! - IPv6 multipath is sent as one `RTA_MULTIPATH` message (`NLM_F_EXCL` when new: the
//!   kernel applies it to the first sibling only; `NLM_F_REPLACE` when ours is there, which
//!   replaces all siblings at once, also from/to single-path); the kernel dumps it back as
//!   one message. The kernel tests read all of this back.
//! - Nexthop objects (`FibConfig::nexthop_objects`, Linux 5.3 and later; bgpd's default
//!   `auto`): a unicast route whose next hops are on known devices carries `RTA_NH_ID` of
//!   the object its interned intent owns (`fib::nhobj`: ids from [`nhid_part`], our
//!   protocol in `nh_protocol`, `RTNH_F_ONLINK` in `nh_flags`; ECMP is a group of member
//!   objects). The object is sent (`NLM_F_CREATE|NLM_F_REPLACE`) in the batch just before
//!   the first route using it, replaced in place when the intent resolves differently with
//!   the same shape (a cross-subnet flip: one message, the routes follow), and deleted
//!   after its last route (the kernel deletes a deleted object's routes). Blackholes,
//!   device-less next hops and IPv4-via-IPv6 stay plain. The start-up nexthop dump detects
//!   support (an error: plain routes); objects of ours left by a previous run are kept
//!   while stale routes are adopted, then deleted. The kernel still prints such routes as
//!   `nhid N via GW dev tunl0 proto bird onlink` (`nexthop_compat_mode`).
//! - Deletes name table, prefix, metric and our protocol (never another protocol's route);
//!   `ESRCH`/`ENOENT` on delete count as success.
//! - `onlink` is `RTNH_F_ONLINK` in `rtm_flags` for a single next hop and in each
//!   `rtnexthop` for multipath. Device names (e.g. the configurable tunnel `tunl0`) are
//!   resolved through the interface table the monitor keeps; an unknown name is reported
//!   as `ENODEV` without sending, and retried when such a link appears.
//!
//! # Threading model (for the daemon)
//!
//! A dedicated blocking thread ([`spawn`]) is the simplest fit: netlink calls are
//! short and synchronous (the kernel processes a whole `send` before returning), a 1M-route
//! resync keeps one core busy for seconds and must not stall the tokio runtime, and no
//! tokio dependency is needed here. Commands go in through a `std::sync::mpsc` channel
//! (changes bounded by [`thread::HANDOFF_DEPTH`] hand-offs) plus an eventfd that wakes the
//! thread's `poll(2)`; reports come out through a [`FibObserver`] run on the FIB thread
//! (forward events into a tokio channel; the observer must not block, or the thread
//! stalls). The kernel does the inserts inside `send`, so a second thread sends the
//! batches the FIB thread encodes (one writer: the kernel sees them in order), and the FIB
//! thread reads and matches the ACKs meanwhile. Alternatively, drive
//! [`fib::Fib`] yourself: `apply`/`handle_*` in, `poll_transmit`/`poll_event`/
//! `poll_timeout` out, with [`socket::FibSocket::pump`] doing the IO, and the raw fds
//! (`request_fd`, `monitor_fd`) for readiness.
//!
//! Hashing of route keys uses a small FxHash (speed at 1M routes); adversarially chosen
//! prefixes could degrade map performance but not correctness.

mod display;
pub mod fib;
pub mod intent;
pub mod protos;
pub mod socket;
mod store;
pub mod tags;
pub mod thread;
pub mod types;
pub mod wire;

pub use fib::{nhid_part, Fib, FibStats, NHID_BASE, NHID_PART, NHID_SPAN};
pub use intent::*;
pub use socket::{DumpError, FibSocket};
pub use tags::{DesiredTags, TagTable};
pub use thread::{spawn, spawn_tagged, FibCommand, FibHandle, FibObserver};
pub use types::*;
