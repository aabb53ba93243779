#!/usr/bin/env python3
"""Kernel only: add prefixes (order A), then delete them (order D); time each phase.
usage: replay.py ADDORDER DELORDER   (files with one 'prefix_int len' per line, or 'shuffle'/'asc' + N)"""
import socket, struct, sys, time, random, os
def load(spec, base=None):
    if spec.startswith('asc:'):
        n = int(spec[4:]); return [((10 << 24) + (i << 8), 24) for i in range(n)]
    if spec.startswith('shuffle:'):
        n = int(spec[8:]); l = [((10 << 24) + (i << 8), 24) for i in range(n)]; random.Random(1).shuffle(l); return l
    out = []
    for line in open(spec):
        p = line.split(); out.append((int(p[0]), int(p[1])))
    return out
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)
s.bind((0, 0))
seq = 0
def msg(typ, flags, d, l):
    global seq; seq += 1
    nh = os.environ.get('NHID')
    rtype = (1 if nh else 6) if typ == 24 else 0
    body = struct.pack('BBBBBBBB', 2, l, 0, 0, 254, 12, 0, rtype) + b'\0\0\0\0'
    if nh and typ == 24:
        body += struct.pack('<HH', 8, 30) + struct.pack('<I', int(nh))
    body += struct.pack('<HH', 8, 1) + struct.pack('>I', d)
    body += struct.pack('<HH', 8, 15) + struct.pack('<I', 254)  # RTA_TABLE
    return struct.pack('<IHHII', 16 + len(body), typ, flags, seq, 0) + body
def run(typ, flags, pfx):
    t0 = time.perf_counter(); errs = 0; B = 200
    for i in range(0, len(pfx), B):
        chunk = pfx[i:i+B]
        parts = [msg(typ, flags | (4 if k == len(chunk) - 1 else 0), d, l) for k, (d, l) in enumerate(chunk)]
        s.send(b''.join(parts))
        last = seq
        while True:
            data = s.recv(1 << 20); j = 0; done = False
            while j + 16 <= len(data):
                ln, t, f, sq, _ = struct.unpack_from('<IHHII', data, j)
                if t == 2:
                    e = struct.unpack_from('<i', data, j + 16)[0]
                    if e != 0: errs += 1
                    if sq == last: done = True
                j += (ln + 3) & ~3
            if done: break
    return time.perf_counter() - t0, errs
add = load(sys.argv[1]); dele = load(sys.argv[2])
ta, ea = run(24, 1 | 0x400 | 0x200, add)   # NLM_F_REQUEST|CREATE|EXCL
if os.environ.get('FLUSH'):
    import subprocess
    t0 = time.perf_counter(); subprocess.run(['ip', 'nexthop', 'del', 'id', os.environ['NHID']], check=True); td = time.perf_counter() - t0; ed = 0
    out = subprocess.run(['ip', '-4', 'route', 'show', 'proto', '12'], capture_output=True, text=True).stdout
    print('left after flush:', len(out.splitlines()))
else:
    td, ed = run(25, 1, dele)
print(f"add {len(add)} {ta:.2f}s errs {ea}  del {len(dele)} {td:.2f}s errs {ed}")
