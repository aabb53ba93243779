//! DOC: the embedding API's plain types (placement: not the driver): how a daemon is started
//! (`DaemonOptions` of the binary, `StartOptions` of an embedded daemon, `StartError`), the
//! local routes announced from code and the session-state notifications. `crate::daemon`
//! re-exports them beside `Daemon` and `Handle`; the best-path notifications are bgp-core's
//! (`bgp_core::driver::rib::BestPathChange`), which computes them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;

/// Options of the `bgpd` binary.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `-c FILE`.
    pub config_path: PathBuf,
    /// `-s PATH`: overrides `control_socket`.
    pub socket: Option<PathBuf>,
    /// `-R`: graceful-restart recovery (as BIRD's `-R`), even when the kernel holds none of
    /// our routes.
    pub recovery: bool,
    /// `--config-format` / `--family` (or a BIRD personality's family); reloads read the
    /// same way.
    pub load: crate::config::LoadOptions,
    /// The control socket's view: `bird` serves IPv4 only, `bird6` IPv6 only; `None` (bgpd)
    /// serves both. When the config names `control_socket_v6`, the first socket shows IPv4
    /// and that one IPv6, whatever the name.
    pub view: Option<crate::status::IpFamily>,
}

/// Options of an embedded daemon.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Start in graceful-restart recovery (R bit, deferred stale sweep).
    pub recovery: bool,
    /// Never program the kernel (overrides `[kernel] enabled`), e.g. in tests without
    /// privileges.
    pub no_kernel: bool,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening socket could not be opened.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The kernel FIB could not be opened.
    #[error("kernel FIB: {0}")]
    Fib(std::io::Error),
}

/// A local route to announce from code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoute {
    /// The prefix.
    pub prefix: IpNet,
    /// Gateway, or `None` for a blackhole.
    pub via: Option<IpAddr>,
    /// Communities (`(asn, value)`) added when exported.
    pub communities: Vec<(u16, u16)>,
}

/// The RIB's static route for an announced one.
impl From<LocalRoute> for bgp_core::rib::StaticRoute {
    fn from(r: LocalRoute) -> Self {
        let cs = r.communities.iter();
        let cs = cs.map(|(a, v)| bgp_core::wire::Community::new(*a, *v));
        bgp_core::rib::StaticRoute::announced(r.prefix, r.via, cs.collect())
    }
}

/// A neighbour's session state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStateChange {
    /// Protocol name.
    pub name: String,
    /// Neighbour address.
    pub address: IpAddr,
    /// State left and entered (RFC 4271 names).
    pub from: &'static str,
    /// State entered.
    pub to: &'static str,
}
