//! Shared helpers for the benchmarks (workload generators).
