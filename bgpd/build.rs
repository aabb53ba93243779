//! Release builds of the `bgpd` binary link the functions an idle daemon runs next to each
//! other (`hot-symbols.txt`, lld's `--symbol-ordering-file`): the kernel maps code in 64 KiB
//! windows, so an idle path spread over the whole `.text` keeps most of it resident
//! (docs/memory.md). Only where the linker is lld: rustc ≥ 1.90 on x86_64-unknown-linux-gnu
//! links with its own rust-lld (not when RUSTFLAGS choose the linker). `BGPD_NO_SYMBOL_ORDERING=1`
//! leaves the default layout.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=BGPD_NO_SYMBOL_ORDERING");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let wanted = env("PROFILE") == "release"
        && env("TARGET") == "x86_64-unknown-linux-gnu"
        && std::env::var_os("BGPD_NO_SYMBOL_ORDERING").is_none()
        && !other_linker(&env("CARGO_ENCODED_RUSTFLAGS"))
        && rustc_minor() >= Some(90);
    if !wanted {
        return;
    }
    let file = std::path::Path::new(&env("CARGO_MANIFEST_DIR")).join("hot-symbols.txt");
    println!(
        "cargo:rustc-link-arg-bin=bgpd=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    // Names the toolchain or a dependency update renamed are skipped, not errors.
    println!("cargo:rustc-link-arg-bin=bgpd=-Wl,--no-warn-symbol-ordering");
}

/// Whether the flags pick the linker themselves (then it may not be lld).
fn other_linker(flags: &str) -> bool {
    [
        "linker=",
        "linker-flavor",
        "linker-features",
        "link-self-contained",
        "fuse-ld",
    ]
    .iter()
    .any(|k| flags.contains(k))
}

/// The minor version of the compiler cargo builds with (`rustc 1.95.0 (...)`).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("-V").output().ok()?;
    let v = String::from_utf8(out.stdout).ok()?;
    v.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
}
