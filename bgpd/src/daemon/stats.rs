//! DOC: the daemon-wide counters the core updates and the metrics endpoint reads. This is the
//! one place to wire `crate::metrics::Metrics` (another module): every update site calls a
//! method here, so wiring Prometheus is a few lines in these methods.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters and latency sums (histograms live in the metrics module once wired).
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
}

impl Stats {
    /// One RIB batch of `updates` UPDATEs took `d` (the `update_processing_seconds`
    /// histogram's observation point).
    pub fn rib_batch(&self, updates: usize, d: Duration) {
        self.rib_batches.fetch_add(1, Ordering::Relaxed);
        self.updates_applied
            .fetch_add(updates as u64, Ordering::Relaxed);
        self.update_processing_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// `n` FIB changes were sent to the FIB thread.
    pub fn fib_sent(&self, n: usize) {
        self.fib_changes.fetch_add(n as u64, Ordering::Relaxed);
    }
}
