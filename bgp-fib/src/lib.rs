//! bgp-fib: keeps the Linux kernel FIB in step with the routes bgpd selects.
//!
//! Filled in by the FIB issue; for now the crate only exists so the workspace is whole.
