#!/bin/sh
# The text of a release binary by crate: the sizes of its function symbols (`nm -C -S`),
# grouped by the first path segment of the demangled name (`<A as B>::f` counts for A's crate,
# `core::ptr::drop_in_place<T>` for T's). Functions inlined into others count for the caller
# (fat LTO inlines a lot across crates); symbols without a Rust path (libc stubs, C, the
# allocator's and std's runtime glue) are "(other)". Usage: scripts/text-by-crate.sh BINARY [N]
set -eu
bin=${1:?usage: $0 BINARY [TOP]}
top=${2:-20}
size -A "$bin" | awk '$1 == ".text" { printf "text section: %d bytes\n", $2 }'
nm -C -S -t d --size-sort "$bin" | awk -v top="$top" '
$3 ~ /^[tTwW]$/ {
    size = $2 + 0
    name = $4
    for (i = 5; i <= NF; i++) name = name " " $i
    sub(/^core::ptr::drop_in_place</, "", name)
    while (name ~ /^(<|&|\*const |\*mut |mut |dyn |\[|\()/) sub(/^(<|&|\*const |\*mut |mut |dyn |\[|\()/, "", name)
    if (name !~ /::/) crate = "(other)"
    else { crate = name; sub(/(::|<| |,|>|;).*/, "", crate) }
    by[crate] += size; total += size
}
END {
    printf "function symbols: %d bytes\n", total
    n = 0
    for (c in by) { keys[++n] = c }
    # sort by size, descending
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (by[keys[j]] > by[keys[i]]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
    for (i = 1; i <= n && i <= top; i++) printf "%-24s %9d  %5.1f%%\n", keys[i], by[keys[i]], 100 * by[keys[i]] / total
    rest = 0; for (i = top + 1; i <= n; i++) rest += by[keys[i]]
    if (n > top) printf "%-24s %9d  %5.1f%%\n", "(" n - top " more)", rest, 100 * rest / total
}'
