#!/usr/bin/env python3
"""Which of a running process's mapped pages are resident, and for its own text, which code.

Usage: scripts/resident-code.py PID [TOP]   (root: reads /proc/PID/pagemap)

Prints every mapping's Rss / Anonymous from /proc/PID/smaps, then, for the executable's own
r-x mapping, which pages are present in the page tables (/proc/PID/pagemap, bit 63), how many
64 KiB fault-around windows they fill, and the resident bytes by crate: each resident page's
bytes are attributed to the function symbols (`nm -C -S`) that overlap it, grouped by the first
path segment of the demangled name as scripts/text-by-crate.sh does.
"""
import re
import struct
import subprocess
import sys

PAGE = 4096


def smaps(pid):
    maps, cur = [], None
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$")
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = head.match(line)
            if m:
                cur = dict(start=int(m[1], 16), end=int(m[2], 16), perms=m[3],
                           offset=int(m[4], 16), inode=int(m[5]), path=m[6].strip(), kb={})
                maps.append(cur)
            elif cur is not None and line.split(":")[0] and line.rstrip().endswith("kB"):
                k, v = line.split(":", 1)
                cur["kb"][k] = int(v.split()[0])
    return maps


def crate_of(name):
    name = re.sub(r"^core::ptr::drop_in_place<", "", name)
    while True:
        n2 = re.sub(r"^(<|&|\*const |\*mut |mut |dyn |\[|\()", "", name)
        if n2 == name:
            break
        name = n2
    if "::" not in name:
        return "(other)"
    return re.split(r"::|<| |,|>|;", name, 1)[0]


def main():
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    exe = subprocess.run(["readlink", f"/proc/{pid}/exe"], capture_output=True, text=True).stdout.strip()
    maps = smaps(pid)
    print(f"{'mapping':<48} {'perm':4} {'size':>8} {'Rss':>7} {'Anon':>6}  (kB)")
    tot = {}
    for m in maps:
        kb = m["kb"]
        if kb.get("Rss", 0) == 0:
            continue
        path = m["path"] or "[anon]"
        print(f"{path[-48:]:<48} {m['perms']} {kb.get('Size', 0):>8} {kb.get('Rss', 0):>7} {kb.get('Anonymous', 0):>6}")
        for k in ("Rss", "Anonymous"):
            tot[k] = tot.get(k, 0) + kb.get(k, 0)
    print(f"{'total':<48} {'':4} {'':>8} {tot.get('Rss', 0):>7} {tot.get('Anonymous', 0):>6}")
    text = [m for m in maps if m["path"] == exe.replace(" (deleted)", "") and "x" in m["perms"]]
    if not text:
        return
    t = text[0]
    # PT_LOAD segments: file offset -> link-time address.
    loads = []
    for line in subprocess.run(["readelf", "-lW", exe], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))  # offset, vaddr, filesz
    npages = (t["end"] - t["start"]) // PAGE
    present = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(t["start"] // PAGE * 8)
        data = f.read(npages * 8)
    for i in range(npages):
        (v,) = struct.unpack_from("<Q", data, i * 8)
        if v >> 63 & 1:
            off = t["offset"] + i * PAGE
            for (po, pv, fs) in loads:
                if po <= off < po + fs:
                    present.append(pv + off - po)
                    break
    windows = {a // 65536 for a in present}
    print(f"\n{exe}: text mapping {npages * 4} kB, resident {len(present) * 4} kB "
          f"({len(present)} pages, {len(windows)} of {(npages + 15) // 16} 64 KiB windows)")
    syms = []
    for line in subprocess.run(["nm", "-C", "-S", exe], capture_output=True, text=True).stdout.splitlines():
        f = line.split(None, 3)
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    syms.sort()
    by_all, by_res = {}, {}
    pages = set(a // PAGE for a in present)
    for (a, s, n) in syms:
        c = crate_of(n)
        by_all[c] = by_all.get(c, 0) + s
        r = 0
        for p in range(a // PAGE, (a + s - 1) // PAGE + 1 if s else a // PAGE):
            if p in pages:
                r += min(a + s, (p + 1) * PAGE) - max(a, p * PAGE)
        by_res[c] = by_res.get(c, 0) + r
    print(f"{'crate':<28} {'text kB':>8} {'resident kB':>12}")
    for c in sorted(by_all, key=lambda c: -by_res[c])[:top]:
        print(f"{c:<28} {by_all[c] // 1024:>8} {by_res[c] // 1024:>12}")


if __name__ == "__main__":
    main()
