#!/bin/sh
# Regenerates bgpd/hot-symbols.txt, the functions an idle daemon runs, which release builds link
# first (bgpd/build.rs, docs/memory.md): samples a running release bgpd with call graphs and
# lists every function of its binary that appears in any sampled stack, most frequent first.
# Run it (root) while the daemon is idle the way it is measured, e.g. during
# `converge --shapes idle` (a longer window: the idle path's rarer functions need samples).
# Usage: scripts/hot-symbols.sh PID [SECONDS] > bgpd/hot-symbols.txt
set -eu
pid=${1:?usage: $0 PID [SECONDS]}
secs=${2:-120}
exe=$(readlink "/proc/$pid/exe")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
perf record -q -F 10000 --call-graph dwarf,8192 -p "$pid" -o "$tmp/perf.data" -- sleep "$secs" >&2
echo "# The functions an idle bgpd runs (scripts/hot-symbols.sh: $secs s of $(basename "$exe"), $(date -u +%Y-%m-%d))."
echo "# Linked first in release builds (bgpd/build.rs). Regenerate after a toolchain or dependency update."
perf script -i "$tmp/perf.data" --no-demangle -F ip,sym,dso 2>/dev/null |
    awk -v dso="($exe)" '$NF == dso && NF >= 3 { s = $2; sub(/\+0x[0-9a-f]+$/, "", s); n[s]++ }
        END { for (s in n) print n[s], s }' |
    sort -k1,1nr -k2 | awk '{ print $2 }'
