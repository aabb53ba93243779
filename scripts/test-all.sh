#!/usr/bin/env bash
# The whole test suite, as CI runs it: `sudo scripts/test-all.sh` on a fresh Debian 12 machine.
# Installs what the tests need (Debian packages, Rust components), then runs formatting and lint
# checks, builds the fuzz targets and benchmarks so they cannot rot, replays the fuzz corpus and
# runs every test of the workspace (kernel and lab tests need root: they create network
# namespaces of their own and remove them afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# A fresh clone compiles everything once: no incremental caches to write, and line tables only
# for debug info (backtraces keep file and line; the ~70 test binaries link much faster).
# A value already set in the environment wins.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"

# Debian packages the tests use: iproute2 for namespaces, the real BGP peers for the lab,
# tshark for captures of failed lab runs.
packages=(iproute2 gcc g++ make pkg-config bird2 frr gobgpd tshark)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "need root to install ${missing[*]}" >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# BIRD 1.6 for the lab (lab/README.md): Debian's `bird` conflicts with bird2, so it is unpacked
# into /opt/bird16, not installed.
if [ ! -x /opt/bird16/usr/sbin/bird ]; then
    step "unpacking BIRD 1.6 (Debian package bird) into /opt/bird16"
    if [ "$(id -u)" -ne 0 ]; then echo "need root to unpack BIRD 1.6 into /opt/bird16" >&2; exit 1; fi
    tmp=$(mktemp -d)
    (cd "$tmp" && { apt-get download bird 2>/dev/null || { apt-get update -qq && apt-get download bird; }; })
    dpkg-deb -x "$tmp"/bird_*.deb /opt/bird16
    rm -rf "$tmp"
fi

if command -v rustup >/dev/null 2>&1; then
    for c in clippy rustfmt; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
    done
fi

step "cargo fmt --check"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace)"
# The lab's own tests (lab/tests/*.rs) start bgpd through BGPD_BIN: the binary this very
# `cargo test` builds (bgpd's integration tests need it, so it exists before any test runs).
BGPD_BIN="$(pwd)/target/debug/bgpd" cargo test --workspace --locked

# The fuzz targets and the benchmarks are built so they cannot rot, in the dev profile and in
# the workspace's target directory: they reuse what `cargo test` just compiled (optimised
# builds of both took ~7 of CI's 21 minutes; the benchmarks' figures come from `cargo bench`
# and the release harnesses, never from CI).
step "build the fuzz targets and replay their corpus (stable Rust)"
(cd fuzz && CARGO_TARGET_DIR=../target cargo test --locked)

step "build the benchmarks"
cargo build -p bgpd-benches --benches --locked

# --- packaging (issue 18): the Debian package, the systemd unit, man pages, alert rules -----
# systemd-analyze (package systemd) verifies the unit offline; groff renders the man pages;
# promtool comes from Debian's prometheus package, unpacked into /opt/prometheus rather than
# installed (19 MB download, a few seconds; installing would pull its web assets and a service).
pkg_missing=()
for p in systemd groff-base binutils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkg_missing+=("$p")
done
if [ "${#pkg_missing[@]}" -gt 0 ]; then
    step "installing Debian packages for the package checks: ${pkg_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkg_missing[@]}"
fi
if [ ! -x /opt/prometheus/usr/bin/promtool ]; then
    step "unpacking promtool (Debian package prometheus) into /opt/prometheus"
    tmp=$(mktemp -d)
    (cd "$tmp" && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; })
    dpkg-deb -x "$tmp"/prometheus_*.deb /opt/prometheus
    rm -rf "$tmp"
fi
step "Debian package: contents, scratch install, unit, man pages, rules (scripts/test-package.sh)"
# Packs the debug binary cargo test just built (no release build in CI: fat LTO costs minutes).
PREBUILT=1 scripts/test-package.sh
# --- end packaging ---------------------------------------------------------------------------
