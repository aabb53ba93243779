//! bgp-fib
pub mod fib;
pub mod protos;
pub mod socket;
pub mod types;
pub mod wire;
pub use types::*;
