//! DOC: the daemon's side of bgp-fib's FIB thread (`bgp_fib::spawn`: desired state, intent
//! resolution against the links and on-link subnets it tracks, netlink batches, coalescing per
//! prefix, reconcile scans, monitor): started with bgpd-config's `Config::fib_config`, what it
//! reports (events to the RIB task, the kernel view for `show route`, metrics and refused
//! routes for `show fib`). What is handed over (intents, tags, pools) is bgpd-config's
//! `fib::KernelSync`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bgp_core::rib::Rib;
use bgp_fib::{FailedRoute, FibEvent, FibHandle, FibObserver, FibSocket, KernelView};
use tokio::sync::mpsc;

use super::{lock, Shared};
use crate::config::fib::KernelSync;
use crate::config::Config;

/// The FIB thread's handle and its event stream.
pub(crate) struct FibBridge {
    pub handle: FibHandle,
    pub events: mpsc::UnboundedReceiver<FibEvent>,
    /// Tagged mode's state: intents by tag, pools, the count of tagged changes.
    pub sync: KernelSync,
}

/// Whether the kernel already holds routes of our protocol in our table (a restart).
pub(crate) fn kernel_has_our_routes(config: &Config) -> bool {
    let s = FibSocket::open(false).map_err(bgp_fib::DumpError::from);
    let found = s.and_then(|mut s| s.holds_route(|r| config.owns_kernel_route(r)));
    found.unwrap_or_else(|e| {
        tracing::warn!("cannot dump the kernel routes: {e}");
        false
    })
}

/// Where the FIB thread's reports go.
struct Observer {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<FibEvent>,
}

impl FibObserver for Observer {
    fn event(&mut self, ev: FibEvent) {
        let _ = self.events.send(ev);
    }

    fn view(&mut self, view: Arc<KernelView>) {
        *lock(&self.shared.kernel_view) = view;
    }

    fn batch_sent(&mut self, took: Duration) {
        self.shared.stats.netlink_batch(took);
    }

    fn turn(&mut self, installed: usize, pending: usize) {
        self.shared.stats.fib_state(installed, pending);
    }

    fn stats(&mut self, stats: bgp_fib::FibStats) {
        self.shared.stats.fib_kernel_stats(stats.into());
    }

    fn failures(&mut self, count: usize, listed: Vec<FailedRoute>) {
        *lock(&self.shared.fib_failures) = listed;
        self.shared.stats.fib_failed(count);
    }
}

impl FibBridge {
    /// Starts the FIB thread; `adopt`: keep our routes found in the kernel until released.
    pub fn start(config: &Config, adopt: bool, shared: Arc<Shared>) -> io::Result<FibBridge> {
        let (tx, events) = mpsc::unbounded_channel();
        let sync = KernelSync::new(config);
        let answers = sync.answers(Arc::clone(&shared.rib));
        let observer = Observer { shared, events: tx };
        let cfg = config.fib_config();
        let handle = bgp_fib::spawn_tagged(cfg, adopt, FibSocket::open(true)?, observer, answers)?;
        Ok(FibBridge {
            handle,
            events,
            sync,
        })
    }

    /// The IP pools of a reloaded config, for the intents handed over from now on (every
    /// prefix goes again when they changed).
    pub fn set_pools(&mut self, config: &Config, rib: &mut Rib) {
        if let Some(pools) = self.sync.set_pools(config, rib) {
            self.handle.set_pools(pools);
        }
    }

    /// Stops the thread (flushing our routes unless `persist`), without blocking the runtime.
    pub async fn shutdown(self) {
        let h = self.handle;
        let _ = tokio::task::spawn_blocking(move || h.shutdown()).await;
    }
}
