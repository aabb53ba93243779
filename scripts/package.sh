#!/usr/bin/env bash
# Builds bgpd's Debian package: target/debian/bgpd_<version>-1_<arch>.deb (docs/package.md).
#
#   scripts/package.sh                  release build (what to install on hosts)
#   scripts/package.sh --profile debug  package target/debug/bgpd (CI checks the packaging
#                                       without a release build: fat LTO costs minutes there)
#   scripts/package.sh --dist-only      only the generated files (man pages, completions) in
#                                       target/dist, for `cargo deb -p bgpd`
#   scripts/package.sh --no-build       package target/<profile>/bgpd as it is (CI: the binary
#                                       `cargo test` built, instead of a second build with
#                                       other features)
#
# What goes where is [package.metadata.deb] of bgpd/Cargo.toml, cargo-deb's format: `xtask
# stage` lays that tree out, `dpkg-deb --build` packs it. Needs cargo, dpkg-deb, gzip; strip
# (binutils) when present.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
dist_only=0
no_build=0
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) profile=$2; shift 2 ;;
    --dist-only) dist_only=1; shift ;;
    --no-build) no_build=1; shift ;;
    *) echo "usage: $0 [--profile release|debug] [--dist-only] [--no-build]" >&2; exit 2 ;;
    esac
done
case "$profile" in
release) build=(--release) ;;
debug) build=() ;;
*) echo "--profile: release or debug" >&2; exit 2 ;;
esac
target=${CARGO_TARGET_DIR:-target}

echo "==> man pages and completions (target/dist)"
# --no-build: the xtask binary cargo test built (xtask/tests/dist.rs runs it).
if [ "$no_build" = 0 ] || [ ! -x "$target/debug/xtask" ]; then cargo build --locked -q -p xtask; fi
rm -rf "$target/dist"
"$target/debug/xtask" dist "$target/dist"
gzip -9nf "$target"/dist/man/*
[ "$dist_only" = 1 ] && exit 0

if [ "$no_build" = 0 ]; then
    echo "==> cargo build ${build[*]:-} -p bgpd"
    cargo build --locked "${build[@]}" -p bgpd --bin bgpd
elif [ ! -x "$target/$profile/bgpd" ]; then
    echo "--no-build: $target/$profile/bgpd missing" >&2
    exit 1
fi

work="$target/debian"
rm -rf "$work/bin" "$work/root"
mkdir -p "$work/bin"
cp "$target/$profile/bgpd" "$work/bin/bgpd"
if command -v strip >/dev/null; then strip --strip-unneeded "$work/bin/bgpd"; fi

echo "==> staging $work/root"
"$target/debug/xtask" stage --bin "$work/bin/bgpd" --dist "$target/dist" --out "$work/root" \
    --arch "$(dpkg --print-architecture)"
(cd "$work/root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$work/root/DEBIAN/md5sums"

rm -f "$work"/bgpd_*.deb
dpkg-deb --root-owner-group -Zxz --build "$work/root" "$work/" >/dev/null
ls "$work"/bgpd_*.deb
