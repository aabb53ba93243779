#!/usr/bin/env python3
"""Models the order in which bgpd hands a withdrawn table to the kernel.
usage: synth.py SET MODE [P] [W] > DEL
SET: 'prefix_int len' lines. The RIB's hash keeps 64 neighbouring /24s (a /18) in one run of
buckets; a rescan walks them in P passes by the network number's last bits (MODE 'phases':
P=1 is the old group-by-group order, P=64 one member of every group in turn), and bgp-fib
picks uniformly among at most W queued keys (default 65536). MODE 'shuffle': a global shuffle."""
import sys, random
pfx = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
mode = sys.argv[2]
P = int(sys.argv[3]) if len(sys.argv) > 3 else 1
W = int(sys.argv[4]) if len(sys.argv) > 4 else 65536
r = random.Random(7)
if mode == 'shuffle':
    r.shuffle(pfx); seq = pfx; W = 1
else:
    groups = {}
    for d, l in pfx:
        groups.setdefault(d >> 14, []).append((d, l))
    gl = list(groups.values()); r.shuffle(gl)
    seq = [x for p in range(P) for g in gl for x in g if ((x[0] >> 8) % P) == p]
out, q = [], []
for x in seq:
    q.append(x)
    if len(q) >= W:
        i = r.randrange(len(q)); q[i], q[-1] = q[-1], q[i]; out.append(q.pop())
while q:
    i = r.randrange(len(q)); q[i], q[-1] = q[-1], q[i]; out.append(q.pop())
sys.stdout.write(''.join(f'{d} {l}\n' for d, l in out))
