//! DOC: the daemon-wide counters the core updates and the metrics endpoint reads. This is the
//! one place the core touches [`crate::metrics::Metrics`]: every update site calls a method
//! here; the Prometheus collectors are fed once [`Stats::set_metrics`] attached them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::Metrics;
use crate::daemon::lock;
use crate::status::FibKernelCounts;

/// Counters and latency sums, and the Prometheus collectors when attached.
#[derive(Debug, Default)]
pub struct Stats {
    /// UPDATE batches applied by the RIB task.
    pub rib_batches: AtomicU64,
    /// UPDATE messages applied.
    pub updates_applied: AtomicU64,
    /// Total UPDATE processing time, microseconds.
    pub update_processing_us: AtomicU64,
    /// FIB changes handed to the FIB thread.
    pub fib_changes: AtomicU64,
    /// The FIB thread's last report: routes we want in the kernel whose operation is done.
    fib_installed: AtomicU64,
    /// The FIB thread's last report: routes whose add, replace or delete waits to be sent
    /// (`bgp_fib::Fib::pending`).
    fib_pending: AtomicU64,
    /// Routes whose last kernel install failed (the RIB task's count).
    fib_failed: AtomicU64,
    /// FIB thread loop turns (`fib_state` reports): its liveness signal for the systemd
    /// watchdog (`crate::systemd`).
    fib_turns: AtomicU64,
    /// The FIB thread's cumulative counters, as last reported (`show fib`, metrics).
    fib_kernel: Mutex<FibKernelCounts>,
    metrics: OnceLock<Arc<Metrics>>,
}

impl Stats {
    /// Attaches the Prometheus collectors (once).
    pub fn set_metrics(&self, m: Arc<Metrics>) {
        // The gauges start from what was reported before they existed (a route refused at
        // start-up is reported once, before the metrics endpoint is up).
        m.fib_installed
            .set(self.fib_installed.load(Ordering::Relaxed) as i64);
        m.fib_pending
            .set(self.fib_pending.load(Ordering::Relaxed) as i64);
        m.fib_failed
            .set(self.fib_failed.load(Ordering::Relaxed) as i64);
        m.set_fib_kernel(self.fib_kernel());
        let _ = self.metrics.set(m);
    }

    /// One RIB batch of `updates` UPDATEs took `d`: each UPDATE is observed at the batch's
    /// mean (`update_processing_seconds`).
    pub fn rib_batch(&self, updates: usize, d: Duration) {
        self.rib_batches.fetch_add(1, Ordering::Relaxed);
        self.updates_applied
            .fetch_add(updates as u64, Ordering::Relaxed);
        self.update_processing_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        if let (Some(m), true) = (self.metrics.get(), updates > 0) {
            let each = d.as_secs_f64() / updates as f64;
            for _ in 0..updates.min(64) {
                m.update_processing_seconds.observe(each);
            }
        }
    }

    /// `n` FIB changes were sent to the FIB thread.
    pub fn fib_sent(&self, n: usize) {
        self.fib_changes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Routes whose last kernel install failed.
    pub fn fib_failed(&self, n: usize) {
        self.fib_failed.store(n as u64, Ordering::Relaxed);
        if let Some(m) = self.metrics.get() {
            m.fib_failed.set(n as i64);
        }
    }

    /// One netlink batch was sent and the acknowledgements then available were read in `d`
    /// (`netlink_batch_seconds`).
    pub fn netlink_batch(&self, d: Duration) {
        if let Some(m) = self.metrics.get() {
            m.netlink_batch_seconds.observe(d.as_secs_f64());
        }
    }

    /// The FIB thread's view: routes we want in the kernel whose operation is done
    /// (`installed`) and those still waiting to be sent (`pending`).
    pub fn fib_state(&self, installed: usize, pending: usize) {
        self.fib_installed
            .store(installed as u64, Ordering::Relaxed);
        self.fib_pending.store(pending as u64, Ordering::Relaxed);
        self.fib_turns.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = self.metrics.get() {
            m.fib_installed.set(installed as i64);
            m.fib_pending.set(pending as i64);
        }
    }

    /// Installed routes as the FIB thread last reported them (`show fib`).
    pub fn fib_installed(&self) -> u64 {
        self.fib_installed.load(Ordering::Relaxed)
    }

    /// Routes the kernel refused, as the FIB thread last reported them (`show fib`).
    pub fn fib_failures(&self) -> u64 {
        self.fib_failed.load(Ordering::Relaxed)
    }

    /// Pending kernel operations as the FIB thread last reported them (`show fib`).
    pub fn fib_pending(&self) -> u64 {
        self.fib_pending.load(Ordering::Relaxed)
    }

    /// The FIB thread's cumulative counters (reported at the end of each of its turns).
    pub fn fib_kernel_stats(&self, c: FibKernelCounts) {
        *lock(&self.fib_kernel) = c;
        if let Some(m) = self.metrics.get() {
            m.set_fib_kernel(c);
        }
    }

    /// The FIB thread's cumulative counters as last reported (`show fib`).
    pub fn fib_kernel(&self) -> FibKernelCounts {
        *lock(&self.fib_kernel)
    }

    /// FIB thread loop turns so far.
    pub fn fib_turns(&self) -> u64 {
        self.fib_turns.load(Ordering::Relaxed)
    }

    /// Filter runs that ended in a run-time error (`bgpd_filter_errors_total`).
    pub fn filter_errors(&self, n: u64) {
        if let Some(m) = self.metrics.get() {
            m.filter_errors.inc_by(n);
        }
    }

    /// Loc-RIB prefixes per family.
    pub fn rib_routes(&self, v4: usize, v6: usize) {
        if let Some(m) = self.metrics.get() {
            m.rib_routes.with_label_values(&["ipv4"]).set(v4 as i64);
            m.rib_routes.with_label_values(&["ipv6"]).set(v6 as i64);
        }
    }

    /// A BFD session changed state; `since_rx`: time since its last packet (for a detection
    /// by timeout, `bgpd_bfd_detection_seconds`).
    pub fn bfd_transition(&self, ev: &bgp_core::bfd::BfdEvent, since_rx: Option<Duration>) {
        if let Some(m) = self.metrics.get() {
            let t = ev.transition;
            m.bfd_state_changes
                .with_label_values(&[&ev.key.remote.to_string(), t.to.name()])
                .inc();
            if t.diag == bgp_core::bfd::Diag::TIME_EXPIRED {
                if let Some(d) = since_rx {
                    m.bfd_detection_seconds.observe(d.as_secs_f64());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_state_is_kept_for_show_fib_without_metrics() {
        let s = Stats::default();
        assert_eq!((s.fib_installed(), s.fib_pending()), (0, 0));
        s.fib_state(40, 2);
        assert_eq!((s.fib_installed(), s.fib_pending()), (40, 2));
        s.fib_state(42, 0);
        assert_eq!((s.fib_installed(), s.fib_pending()), (42, 0));
        // `show fib`'s kernel counters are the FIB thread's last report.
        let k = bgp_fib::FibStats {
            object_flushes: 1,
            flushed_routes: 2000,
            ..Default::default()
        };
        s.fib_kernel_stats(k.into());
        let c = s.fib_kernel();
        assert_eq!((c.object_flushes, c.flushed_routes), (1, 2000));
    }
}
