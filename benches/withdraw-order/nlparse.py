#!/usr/bin/env python3
"""Decodes nlrec records into one line per route change: A/D, destination (integer), prefix length, protocol, microseconds.
import sys, struct
def parse(path):
    data = open(path, 'rb').read(); i = 0; ev = []
    while i + 12 <= len(data):
        us = int.from_bytes(data[i:i+8], 'little'); i += 8
        k = int.from_bytes(data[i:i+4], 'little'); i += 4
        if k == 0xffffffff: ev.append(('ERR', 0, 0, 0, us)); continue
        rec = data[i:i+k]; i += k; j = 0
        while j + 16 <= len(rec):
            ln, typ = struct.unpack_from('<IH', rec, j)
            if ln < 16: break
            body = rec[j+16:j+ln]
            if typ in (24, 25) and len(body) >= 12:
                fam, dlen, slen, tos, table, proto, scope, rtype = struct.unpack_from('BBBBBBBB', body, 0)
                a = 12; dst = 0
                while a + 4 <= len(body):
                    alen, atyp = struct.unpack_from('<HH', body, a)
                    if alen < 4: break
                    if atyp == 1 and alen >= 8: dst = struct.unpack_from('>I', body, a+4)[0]
                    a += (alen + 3) & ~3
                ev.append(('A' if typ == 24 else 'D', dst, dlen, proto, us))
            j += (ln + 3) & ~3
    return ev
if __name__ == '__main__':
    ev = parse(sys.argv[1])
    with open(sys.argv[2], 'w') as o:
        for op, d, l, p, us in ev:
            o.write(f"{op} {d} {l} {p} {us}\n")
    print(len(ev), 'events', sum(1 for e in ev if e[0]=='D'), 'deletes', sum(1 for e in ev if e[0]=='ERR'), 'errors')
