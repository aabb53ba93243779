//! `bgpd/hot-symbols.txt` (the idle path's functions, linked first in release builds:
//! `bgpd/build.rs`, docs/memory.md) still names functions of this bgpd: the check of
//! `xtask hot-symbols --any-hash` (`xtask/src/hot_symbols.rs`, included here) on the binary this
//! test was built with. A dev build's mangled names carry other hashes than a release build's,
//! so this sees functions renamed, moved or deleted, not a list gone stale by a toolchain or
//! dependency update (all hashes change): `cargo run -p xtask -- hot-symbols` on a release
//! build checks the exact names.

use std::path::Path;

#[allow(dead_code)]
#[path = "../../xtask/src/hot_symbols.rs"]
mod hot_symbols;

#[test]
fn the_hot_symbols_list_names_functions_of_this_bgpd() {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-symbols.txt");
    let c = hot_symbols::check(&list, Path::new(env!("CARGO_BIN_EXE_bgpd"))).unwrap();
    if let Err(e) = c.verdict(false) {
        panic!("{e}\n{}", c.report());
    }
    // The list is not trivially satisfied: a good share of it is this workspace's functions.
    assert!(c.workspace >= 20, "{}", c.report());
}
