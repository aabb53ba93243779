//! `xtask hot-symbols` (the binary): a clear error, naming the build command, when the binary
//! to check is missing. The check itself is tested by its unit tests and by
//! `bgpd/tests/hot_symbols.rs` on a real bgpd.

use std::process::Command;

#[test]
fn a_missing_binary_is_named_with_its_build_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["hot-symbols", "/nonexistent/bgpd"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/bgpd missing: build it first (cargo build --release -p bgpd)"),
        "{err}"
    );
}
