#!/usr/bin/env python3
"""How scattered a delete order is: distinct /16s among each window of consecutive deletes
(a global shuffle of 1M /24s: ~883 of 1,024 and ~3,750 of 16,384).
usage: win.py DEL..."""
import sys
for path in sys.argv[1:]:
    D = [int(l.split()[0]) for l in open(path)]
    allb = len(set(x >> 16 for x in D))
    for w in (1024, 16384, 65536):
        ds = [len(set(x >> 16 for x in D[i:i + w])) for i in range(0, len(D) - w + 1, w)]
        if ds:
            print(path, f"w={w}: distinct /16 mean {sum(ds) / len(ds):.0f} of {allb}")
