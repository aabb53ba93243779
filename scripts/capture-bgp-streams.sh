#!/usr/bin/env bash
# capture-bgp-streams.sh — regenerate bgp-core/tests/captures/ from real daemons.
#
# Runs BIRD 2 (and, if unpacked in /opt/bird16, BIRD 1.6) against FRR, each in its
# own network namespace joined by a veth pair, records the session with tshark and
# writes, per scenario and per direction, the raw BGP byte stream (.bin), the
# tshark decode (.tshark.txt), the routes as seen by the receiving daemon plus the
# wire decode (.routes.json, .receiver.txt) and the daemon configs (.conf).
#
# Usage (as root, from anywhere inside the repository):
#   scripts/capture-bgp-streams.sh            # all scenarios
#   scripts/capture-bgp-streams.sh ibgp ebgp  # a subset (ibgp, ebgp, bird16-ibgp)
#
# Traffic stays inside the namespaces bgpcap-a / bgpcap-b (172.30.0.0/24,
# fd00:30::/64). Everything started here is stopped and both namespaces are
# deleted on exit (trap EXIT), whatever happens.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "must run as root" >&2; exit 1; }
for t in bird birdc vtysh tshark dumpcap python3 ip; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT="$REPO/bgp-core/tests/captures"
NS_A=bgpcap-a          # BIRD side
NS_B=bgpcap-b          # FRR side
IP_A=172.30.0.1 IP_B=172.30.0.2
IP6_A=fd00:30::1 IP6_B=fd00:30::2
FRR_LIB=/usr/lib/frr
BIRD16_ROOT=${BIRD16_ROOT:-/opt/bird16}
POLL=0.2               # poll interval (s)
DEADLINE=${DEADLINE:-90}            # per wait (s)

WORK=$(mktemp -d /tmp/bgpcap.XXXXXX)
chmod 755 "$WORK"
TSHARK_PID=""

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

kill_pidfile() {  # kill the process whose pid is in $1 (if any) and wait for it
  local f=$1 pid
  [[ -s $f ]] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do  # gone, or a zombie (daemonised children of this shell)
    kill -0 "$pid" 2>/dev/null || break
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop_all() {
  if [[ -n $TSHARK_PID ]]; then
    kill -INT "$TSHARK_PID" 2>/dev/null || true
    wait "$TSHARK_PID" 2>/dev/null || true
    TSHARK_PID=""
  fi
  local f
  for f in "$WORK"/run/*.pid; do [[ -e $f ]] && kill_pidfile "$f"; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_all
  if [[ $rc -ne 0 ]]; then
    log "FAILED (rc=$rc); daemon logs:"
    tail -n 20 "$WORK"/run/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for DESCRIPTION CMD... : poll until CMD succeeds or deadline
  local what=$1; shift
  local end=$((SECONDS + DEADLINE))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < end )) || { log "timeout waiting for: $what"; return 1; }
    sleep "$POLL"
  done
  log "ok: $what"
}

setup_netns() {
  stop_all
  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip -n "$NS_A" link set lo up
  ip -n "$NS_B" link set lo up
  # fixed MACs, so the IPv6 link-local next hops are the same on every run
  ip link add veth-a netns "$NS_A" address 02:00:00:30:00:01 type veth \
    peer name veth-b netns "$NS_B" address 02:00:00:30:00:02
  ip -n "$NS_A" addr add "$IP_A/24" dev veth-a
  ip -n "$NS_B" addr add "$IP_B/24" dev veth-b
  ip -n "$NS_A" addr add "$IP6_A/64" dev veth-a nodad
  ip -n "$NS_B" addr add "$IP6_B/64" dev veth-b nodad
  ip -n "$NS_A" link set veth-a up
  ip -n "$NS_B" link set veth-b up
  wait_for "veth link-local addresses usable" \
    bash -c "! ip -n $NS_A -6 addr show dev veth-a | grep -q tentative && ! ip -n $NS_B -6 addr show dev veth-b | grep -q tentative && ip -n $NS_A -6 addr show dev veth-a | grep -q 'scope link'"
}

# ---------------------------------------------------------------------------
# Configs. Scenario parameters: KIND=ibgp|ebgp, BIRD AS / FRR AS.
# BIRD announces 10.1.x / 2001:db8:1.. ; FRR announces 10.2.x / 2001:db8:2..
# ---------------------------------------------------------------------------
bird2_conf() {  # $1=kind $2=local as $3=peer as $4=logfile
  local kind=$1 las=$2 pas=$3 logf=$4 addpath="" 
  [[ $kind == ibgp ]] && addpath="add paths on;"
  cat <<EOF
# BIRD 2 side of scenario bird2-frr-$kind (namespace $NS_A, $IP_A / $IP6_A)
log "$logf" all;
router id $IP_A;

protocol device { scan time 10; }

protocol static static4 {
  ipv4;
  route 10.1.1.0/24 blackhole { bgp_community.add((64512,100)); bgp_med = 10; };
  route 10.1.2.0/24 blackhole { bgp_community.add((64512,100)); bgp_community.add((64512,200)); bgp_large_community.add((64512,1,2)); bgp_local_pref = 200; };
  route 10.1.3.0/26 blackhole { bgp_large_community.add((64512,1,2)); bgp_large_community.add((64512,3,4)); bgp_med = 20; };
  route 10.1.3.64/26 blackhole { bgp_origin = ORIGIN_INCOMPLETE; };
  route 10.1.4.1/32 blackhole { bgp_community.add((64512,300)); bgp_local_pref = 50; bgp_med = 0; };
  route 10.1.4.2/32 blackhole;
}

protocol static static6 {
  ipv6;
  route 2001:db8:1::/48 blackhole { bgp_community.add((64512,100)); bgp_med = 30; };
  route 2001:db8:1:1::/64 blackhole { bgp_large_community.add((64512,1,2)); bgp_local_pref = 150; };
  route 2001:db8:1:2::/64 blackhole { bgp_origin = ORIGIN_EGP; };
}

# multi-AS path: prepend two private ASes on one route per family
filter to_frr4 {
  if source != RTS_STATIC then reject;
  if net = 10.1.3.64/26 then { bgp_path.prepend(65020); bgp_path.prepend(65010); }
  accept;
}
filter to_frr6 {
  if source != RTS_STATIC then reject;
  if net = 2001:db8:1:2::/64 then { bgp_path.prepend(65020); bgp_path.prepend(65010); }
  accept;
}

protocol bgp frr {
  description "FRR in $NS_B";
  local $IP_A as $las;
  neighbor $IP_B as $pas;
  direct;                # iBGP defaults to multihop, which forbids gateway direct
  hold time 9;
  keepalive time 3;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
  graceful restart on;
  enable route refresh on;
  ipv4 {
    import all;
    export filter to_frr4;
    gateway direct;
    $addpath
  };
  ipv6 {
    import all;
    export filter to_frr6;
    gateway direct;
    next hop address $IP6_A;
  };
}
EOF
}

bird16_conf() {  # BIRD 1.6, Calico-style: $1=logfile
  local logf=$1
  cat <<EOF
# BIRD 1.6 side of scenario bird16-frr-ibgp (namespace $NS_A, $IP_A), Calico-like
log "$logf" all;
router id $IP_A;

protocol device { scan time 10; }
protocol direct { interface "veth-a"; }   # on-link route that resolves the recursive next hop

protocol static static4 {
  route 10.1.1.0/24 blackhole;
  route 10.1.2.0/24 blackhole;
  route 10.1.3.0/26 blackhole;
  route 10.1.3.64/26 blackhole;
  route 10.1.4.1/32 blackhole;
  route 10.1.4.2/32 blackhole;
}

function apply_communities() {
  if net ~ [ 10.1.1.0/24, 10.1.2.0/24 ] then bgp_community.add((64512,100));
  if net ~ [ 10.1.2.0/24, 10.1.3.0/26 ] then bgp_large_community.add((64512,1,2));
}

filter to_frr {
  if source != RTS_STATIC then reject;
  apply_communities();
  if net = 10.1.1.0/24 then bgp_med = 10;
  if net = 10.1.2.0/24 then bgp_local_pref = 200;
  if net = 10.1.3.64/26 then { bgp_path.prepend(65020); bgp_path.prepend(65010); }
  if net = 10.1.4.1/32 then bgp_origin = ORIGIN_INCOMPLETE;
  accept;
}

template bgp bgp_template {
  description "Connection to BGP peer";
  local as 64512;
  gateway recursive;
  add paths on;
  graceful restart;
  connect delay time 2;
  connect retry time 5;
  error wait time 5,30;
}

protocol bgp frr from bgp_template {
  neighbor $IP_B as 64512;
  source address $IP_A;
  multihop;              # Calico: every peer is multihop, next hops resolved recursively
  hold time 9;
  keepalive time 3;
  connect delay time 1;
  connect retry time 2;
  error wait time 1,5;
  import all;
  export filter to_frr;
}
EOF
}

frr_conf() {  # $1=kind $2=local as $3=peer as $4=ipv6 yes|no $5=logfile
  local kind=$1 las=$2 pas=$3 v6=$4 logf=$5
  cat <<EOF
! FRR side of scenario *-frr-$kind (namespace $NS_B, $IP_B / $IP6_B)
frr defaults traditional
hostname frr-b
log file $logf debugging
!
router bgp $las
 bgp router-id $IP_B
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor $IP_A remote-as $pas
 neighbor $IP_A passive
 neighbor $IP_A timers 3 9
 !
 address-family ipv4 unicast
  network 10.2.1.0/24 route-map ANN-COMM
  network 10.2.2.0/24 route-map ANN-ALL
  network 10.2.3.0/26 route-map ANN-LARGE
  network 10.2.3.64/26 route-map ANN-PREPEND
  network 10.2.4.1/32 route-map ANN-LOWPREF
  network 10.2.4.2/32
  neighbor $IP_A activate
  neighbor $IP_A send-community all
  neighbor $IP_A soft-reconfiguration inbound
EOF
  [[ $kind == ibgp ]] && echo "  neighbor $IP_A addpath-tx-all-paths"
  echo " exit-address-family"
  if [[ $v6 == yes ]]; then
    cat <<EOF
 !
 address-family ipv6 unicast
  network 2001:db8:2::/48 route-map ANN-COMM
  network 2001:db8:2:1::/64 route-map ANN-LARGE
  network 2001:db8:2:2::/64 route-map ANN-PREPEND
  neighbor $IP_A activate
  neighbor $IP_A send-community all
  neighbor $IP_A soft-reconfiguration inbound
 exit-address-family
EOF
  fi
  cat <<EOF
!
route-map ANN-COMM permit 10
 set community 64512:100
 set metric 10
!
route-map ANN-ALL permit 10
 set community 64512:100 64512:200
 set large-community 64512:1:2
 set local-preference 200
 set metric 20
!
route-map ANN-LARGE permit 10
 set large-community 64512:1:2 64512:3:4
!
route-map ANN-PREPEND permit 10
 set as-path prepend 65010 65020
 set origin incomplete
!
route-map ANN-LOWPREF permit 10
 set community 64512:300
 set local-preference 50
 set metric 0
!
line vty
!
EOF
}

# ---------------------------------------------------------------------------
frr_start() {  # $1=config file
  local conf=$1 d="$WORK/frr"
  mkdir -p "$d"
  chown frr:frr "$d"
  cp "$conf" "$d/frr.conf"; chown frr:frr "$d/frr.conf"
  : > "$d/frr.log"; chown frr:frr "$d/frr.log"
  ip netns exec "$NS_B" "$FRR_LIB/zebra" -d -N bgpcap -f "$d/frr.conf" --vty_socket "$d" \
    -i "$WORK/run/zebra.pid" -z "$d/zserv.api" --log "file:$d/zebra.log" 
  wait_for "zebra api socket" test -S "$d/zserv.api"
  ip netns exec "$NS_B" "$FRR_LIB/bgpd" -d -N bgpcap -f "$d/frr.conf" --vty_socket "$d" \
    -i "$WORK/run/bgpd.pid" -z "$d/zserv.api" --log "file:$d/bgpd-stdout.log"
  wait_for "FRR bgpd vty" vtysh --vty_socket "$d" -d bgpd -c 'show bgp summary'
}
vty() { vtysh --vty_socket "$WORK/frr" "$@"; }

bird_start() {  # $1=flavour bird2|bird16 $2=config
  local fl=$1 conf=$2 bin=bird
  if [[ $fl == bird16 ]]; then
    bin="$BIRD16_ROOT/usr/sbin/bird"
  fi
  "$bin" -p -c "$conf"
  ip netns exec "$NS_A" "$bin" -c "$conf" -s "$WORK/bird.ctl" -P "$WORK/run/bird.pid"
  wait_for "BIRD control socket" test -S "$WORK/bird.ctl"
}
bc() {  # birdc for either flavour
  if [[ $FLAVOUR == bird16 ]]; then "$BIRD16_ROOT/usr/sbin/birdc" -s "$WORK/bird.ctl" "$@"
  else birdc -s "$WORK/bird.ctl" "$@"; fi
}

frr_local_routes() {  # FRR has at least $1 locally originated routes (v4 + v6)
  local n4 n6
  n4=$(vty -c 'show bgp ipv4 unicast json' | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("routes",{})))')
  n6=$(vty -c 'show bgp ipv6 unicast json' | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("routes",{})))')
  (( n4 + n6 >= $1 ))
}
frr_nbr_json() { vty -c "show bgp neighbors $IP_A json"; }

frr_ready() {  # Established, both EoRs received and sent for each family FRR activated
  frr_nbr_json | python3 -c '
import json,sys
n=json.load(sys.stdin)[sys.argv[1]]
assert n.get("bgpState")=="Established", n.get("bgpState")
gr=n.get("gracefulRestartInfo",{})
for fam in sys.argv[2].split(","):
    e=gr[fam]["endOfRibStatus"]
    assert e["endOfRibSend"] and e["endOfRibRecv"], e
' "$IP_A" "$1"
}
bird_ready() {  # BIRD imported the expected number of routes ($1)
  local n
  n=$(bc show protocols all frr | grep -oE 'Routes: +[0-9]+ imported' | grep -oE '[0-9]+' | paste -sd+ | bc_sum)
  [[ ${n:-0} -ge $1 ]]
}
bc_sum() { python3 -c 'import sys; print(eval(sys.stdin.read().strip() or "0"))'; }
frr_keepalives() { frr_nbr_json | python3 -c '
import json,sys; m=json.load(sys.stdin)[sys.argv[1]]["messageStats"]; print(m["keepalivesSent"], m["keepalivesRecv"])' "$IP_A"; }
keepalives_after() {  # both counters strictly greater than $1 $2
  local s r; read -r s r < <(frr_keepalives)
  (( s > $1 && r > $2 ))
}
frr_not_established() { ! frr_nbr_json | grep -q '"bgpState":"Established"'; }

# ---------------------------------------------------------------------------
run_scenario() {  # $1=scenario name: ibgp | ebgp | bird16-ibgp
  local sc=$1 kind las pas v6=yes stopper fams nbird
  case $sc in
    ibgp) FLAVOUR=bird2; kind=ibgp; las=64512; pas=64512; stopper=bird ;;
    ebgp) FLAVOUR=bird2; kind=ebgp; las=64512; pas=65001; stopper=frr ;;
    bird16-ibgp) FLAVOUR=bird16; kind=ibgp; las=64512; pas=64512; v6=no; stopper=bird ;;
    *) echo "unknown scenario $sc" >&2; return 1 ;;
  esac
  local tag="$FLAVOUR-frr-$kind"
  log "=== scenario $tag ==="
  rm -rf "$WORK/run" "$WORK/frr" "$WORK/bird.ctl"; mkdir -p "$WORK/run"; chmod 777 "$WORK/run"
  setup_netns

  if [[ $FLAVOUR == bird16 ]]; then
    bird16_conf "$WORK/run/bird.log" > "$WORK/bird.conf"
    fams=ipv4Unicast; nbird=6
  else
    bird2_conf "$kind" "$las" "$pas" "$WORK/run/bird.log" > "$WORK/bird.conf"
    fams=ipv4Unicast,ipv6Unicast; nbird=9
  fi
  frr_conf "$kind" "$pas" "$las" "$v6" "$WORK/frr/bgpd.log" > "$WORK/frr.conf"

  # capture first, so the very first SYN and OPEN are on file
  local pcap="$WORK/$tag.pcap"
  ip netns exec "$NS_A" dumpcap -q -i veth-a -f 'tcp port 179' -w "$pcap" -P 2>"$WORK/run/dumpcap.log" &
  TSHARK_PID=$!
  wait_for "capture running (pcap header written)" test -s "$pcap"

  frr_start "$WORK/frr.conf"
  # FRR originates its network routes a moment after start: wait for them, or FRR
  # sends End-of-RIB before its routes.
  local nfrr=6; [[ $v6 == yes ]] && nfrr=9
  wait_for "FRR originated $nfrr routes" frr_local_routes "$nfrr"
  bird_start "$FLAVOUR" "$WORK/bird.conf"

  wait_for "FRR: Established + End-of-RIB both ways ($fams)" frr_ready "$fams"
  wait_for "BIRD imported $nbird routes" bird_ready "$nbird"
  local ks kr; read -r ks kr < <(frr_keepalives)
  wait_for "one more KEEPALIVE each way" keepalives_after "$ks" "$kr"

  # receivers' views of the routes
  {
    echo "# birdc show route all protocol frr  (BIRD = receiver of frr-to-$FLAVOUR-$kind)"
    bc show route all protocol frr
  } > "$WORK/frr-to-$FLAVOUR-$kind.receiver.txt"
  {
    local p fam
    for fam in ipv4 ipv6; do
      [[ $fam == ipv6 && $v6 == no ]] && continue
      for p in $(vty -c "show bgp $fam unicast json" | python3 -c '
import json,sys; print(" ".join(json.load(sys.stdin).get("routes",{}).keys()))'); do
        vty -c "show bgp $fam unicast $p json"
      done
    done
  } | python3 -c '
import json,sys
dec=json.JSONDecoder(); s=sys.stdin.read(); i=0; out=[]
while True:
    while i<len(s) and s[i].isspace(): i+=1
    if i>=len(s): break
    o,i=dec.raw_decode(s,i); out.append(o)
json.dump(out,sys.stdout,indent=1)' > "$WORK/$FLAVOUR-to-frr-$kind.receiver.txt"
  vty -c "show bgp neighbors $IP_A json" > "$WORK/run/frr-neighbor.json"

  # graceful stop with a shutdown communication
  if [[ $stopper == bird ]]; then
    bc 'disable frr "maintenance"'   # one argument: birdc joins argv with spaces, dropping quotes
  else
    vty -c 'configure terminal' -c "router bgp $pas" -c "neighbor $IP_A shutdown message maintenance"
  fi
  wait_for "session down after shutdown" frr_not_established
  wait_for "NOTIFICATION on the wire" \
    bash -c "tshark -r '$pcap' -Y 'bgp.type == 3' 2>/dev/null | grep -q ."
  sleep 0.5   # let the final FIN/ACK land in the capture
  kill -INT "$TSHARK_PID"; wait "$TSHARK_PID" || true; TSHARK_PID=""

  # configs into the output folder
  cp "$WORK/bird.conf" "$OUT/$tag.$FLAVOUR.conf"
  cp "$WORK/frr.conf" "$OUT/$tag.frr.conf"
  sed -i "s#$WORK/run/#/tmp/bgpcap/#; s#$WORK/frr/#/tmp/bgpcap/#" "$OUT/$tag.$FLAVOUR.conf" "$OUT/$tag.frr.conf"

  python3 "$WORK/extract.py" "$pcap" "$OUT" "$FLAVOUR" "$kind" "$IP_A" "$IP_B" \
    "$WORK/$FLAVOUR-to-frr-$kind.receiver.txt" "$WORK/frr-to-$FLAVOUR-$kind.receiver.txt"
  stop_all
}

write_extractor() {
cat > "$WORK/extract.py" <<'PY'
"""Extract per-direction BGP byte streams from a pcap, decode them, cross-check
against the receiving daemon's view and write the fixture files."""
import json, re, subprocess, sys, ipaddress, os
pcap, out, flav, kind, ip_a, ip_b, recv_frr, recv_bird = sys.argv[1:9]

def tshark(*args):
    return subprocess.run(["tshark", "-r", pcap, *args], check=True,
                          capture_output=True, text=True).stdout

# --- reassemble both directions of every TCP stream, by sequence number ---------
rows = tshark("-o", "tcp.relative_sequence_numbers:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE",
              "-T", "fields", "-e", "tcp.stream", "-e", "ip.src", "-e", "tcp.seq",
              "-e", "tcp.len", "-e", "tcp.payload", "-Y", "tcp.len > 0")
streams = {}
for line in rows.splitlines():
    st, src, seq, ln, payload = line.split("\t")
    data = bytes.fromhex(payload.replace(":", ""))
    assert len(data) == int(ln)
    d = streams.setdefault(int(st), {}).setdefault(src, {})
    off = int(seq) - 1
    if off in d and d[off] != data and len(d[off]) >= len(data):
        continue  # retransmission with a shorter/identical segment
    d[off] = data if off not in d or len(data) > len(d[off]) else d[off]

def assemble(segs):
    buf = bytearray()
    for off in sorted(segs):
        data = segs[off]
        if off > len(buf):
            raise SystemExit(f"gap in TCP stream at {len(buf)} (next segment at {off})")
        buf[off:off + len(data)] = data  # overlap (retransmit) rewrites identical bytes
    return bytes(buf)

# the session that carried UPDATEs is the biggest stream
best = max(streams, key=lambda s: sum(len(v) for d in streams[s].values() for v in d.values()))
a2b = assemble(streams[best].get(ip_a, {}))
b2a = assemble(streams[best].get(ip_b, {}))

# --- BGP decoder ----------------------------------------------------------------
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
CAPS = {1: "multiprotocol", 2: "route-refresh", 5: "extended-nexthop", 6: "extended-message",
        9: "bgp-role", 64: "graceful-restart", 65: "4-octet-as", 69: "add-path",
        70: "enhanced-route-refresh", 71: "long-lived-graceful-restart", 73: "fqdn",
        128: "route-refresh-cisco(old)", 131: "multisession-cisco(old)"}
AFI = {1: "ipv4", 2: "ipv6"}; SAFI = {1: "unicast", 2: "multicast"}
ORIGIN = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}

def frames(buf):
    i = 0
    while i < len(buf):
        assert buf[i:i + 16] == b"\xff" * 16, f"bad marker at {i}"
        ln = int.from_bytes(buf[i + 16:i + 18], "big")
        assert 19 <= ln <= 65535 and i + ln <= len(buf), f"bad length {ln} at {i}"
        yield i, buf[i + 18], buf[i + 19:i + ln]
        i += ln

def fam(afi, safi): return f"{AFI.get(afi, afi)}-{SAFI.get(safi, safi)}"

def parse_open(b):
    res = {"version": b[0], "my_as": int.from_bytes(b[1:3], "big"),
           "hold_time": int.from_bytes(b[3:5], "big"), "bgp_id": str(ipaddress.IPv4Address(b[5:9])),
           "capabilities": []}
    plen = b[9]; p = b[10:10 + plen]; i = 0
    while i < len(p):
        t, l = p[i], p[i + 1]; v = p[i + 2:i + 2 + l]; i += 2 + l
        if t != 2: res["capabilities"].append({"param_type": t, "hex": v.hex()}); continue
        j = 0
        while j < len(v):
            c, cl = v[j], v[j + 1]; cv = v[j + 2:j + 2 + cl]; j += 2 + cl
            cap = {"code": c, "name": CAPS.get(c, f"unknown-{c}"), "hex": cv.hex()}
            if c == 1: cap["family"] = fam(int.from_bytes(cv[0:2], "big"), cv[3])
            elif c == 65: cap["as"] = int.from_bytes(cv, "big")
            elif c == 69:
                cap["families"] = [{"family": fam(int.from_bytes(cv[k:k+2], "big"), cv[k+2]),
                                    "mode": {1: "receive", 2: "send", 3: "send+receive"}[cv[k+3]]}
                                   for k in range(0, len(cv), 4)]
            elif c == 64:
                fl = int.from_bytes(cv[0:2], "big")
                cap["restart_flags"] = fl >> 12; cap["restart_time"] = fl & 0xfff
                cap["families"] = [{"family": fam(int.from_bytes(cv[k:k+2], "big"), cv[k+2]),
                                    "forwarding_preserved": bool(cv[k+3] & 0x80)}
                                   for k in range(2, len(cv), 4)]
            elif c == 71:
                cap["families"] = [{"family": fam(int.from_bytes(cv[k:k+2], "big"), cv[k+2]),
                                    "flags": cv[k+3], "stale_time": int.from_bytes(cv[k+4:k+7], "big")}
                                   for k in range(0, len(cv), 7)]
            elif c == 73:
                hl = cv[0]; cap["hostname"] = cv[1:1+hl].decode(); dl = cv[1+hl]
                cap["domainname"] = cv[2+hl:2+hl+dl].decode()
            elif c == 5:
                cap["entries"] = [{"nlri": fam(int.from_bytes(cv[k:k+2], "big"), int.from_bytes(cv[k+2:k+4], "big")),
                                   "nexthop_afi": AFI.get(int.from_bytes(cv[k+4:k+6], "big"))}
                                  for k in range(0, len(cv), 6)]
            res["capabilities"].append(cap)
    return res

def addpath_modes(open_):
    m = {}
    for c in open_["capabilities"]:
        if c.get("code") == 69:
            for f in c["families"]: m[f["family"]] = f["mode"]
    return m

def prefixes(b, afi, addpath):
    out, i = [], 0
    alen = 4 if afi == 1 else 16
    while i < len(b):
        pid = None
        if addpath: pid = int.from_bytes(b[i:i+4], "big"); i += 4
        pl = b[i]; n = (pl + 7) // 8; raw = b[i+1:i+1+n] + bytes(alen - n); i += 1 + n
        ip = ipaddress.IPv4Address(raw) if afi == 1 else ipaddress.IPv6Address(raw)
        out.append((f"{ip}/{pl}", pid))
    assert i == len(b)
    return out

def as_path(v, as4):
    segs, i, w = [], 0, 4 if as4 else 2
    while i < len(v):
        t, n = v[i], v[i+1]
        segs.append({"type": {1: "AS_SET", 2: "AS_SEQUENCE"}.get(t, t),
                     "asns": [int.from_bytes(v[i+2+k*w:i+2+(k+1)*w], "big") for k in range(n)]})
        i += 2 + n * w
    return segs

def nexthops(nh):
    if len(nh) == 4: return [str(ipaddress.IPv4Address(nh))]
    return [str(ipaddress.IPv6Address(nh[k:k+16])) for k in range(0, len(nh), 16)]

def decode(buf, tx_open, rx_open):
    """Decode one direction; ADD-PATH/4-octet AS from both OPENs (RFC 7911 §4)."""
    tx_ap, rx_ap = addpath_modes(tx_open), addpath_modes(rx_open)
    ap = {f for f in tx_ap if tx_ap[f] in ("send", "send+receive") and rx_ap.get(f) in ("receive", "send+receive")}
    as4 = any(c.get("code") == 65 for c in tx_open["capabilities"]) and any(c.get("code") == 65 for c in rx_open["capabilities"])
    msgs, routes, withdrawn = [], [], []
    for off, t, body in frames(buf):
        m = {"offset": off, "length": 19 + len(body), "type": TYPES.get(t, t)}
        if t == 1: m["open"] = parse_open(body)
        elif t == 3:
            m["code"], m["subcode"] = body[0], body[1]; m["data_hex"] = body[2:].hex()
            if body[0] == 6 and body[1] in (2, 4) and len(body) > 2:
                m["shutdown_communication"] = body[3:3 + body[2]].decode("utf-8")
        elif t == 5:
            m["family"] = fam(int.from_bytes(body[0:2], "big"), body[3]); m["subtype"] = body[2]
        elif t == 2:
            wl = int.from_bytes(body[0:2], "big"); wd = body[2:2+wl]
            al = int.from_bytes(body[2+wl:4+wl], "big"); attrs = body[4+wl:4+wl+al]; nlri = body[4+wl+al:]
            if wl == 0 and al == 0 and not nlri:
                m["end_of_rib"] = "ipv4-unicast"; msgs.append(m); continue
            a, i, reach, unreach = {}, 0, None, None
            codes = []
            while i < len(attrs):
                fl, code = attrs[i], attrs[i+1]
                if fl & 0x10: ln = int.from_bytes(attrs[i+2:i+4], "big"); v = attrs[i+4:i+4+ln]; i += 4 + ln
                else: ln = attrs[i+2]; v = attrs[i+3:i+3+ln]; i += 3 + ln
                codes.append(code)
                if code == 1: a["origin"] = ORIGIN[v[0]]
                elif code == 2: a["as_path"] = as_path(v, as4)
                elif code == 3: a["next_hop"] = nexthops(v)
                elif code == 4: a["med"] = int.from_bytes(v, "big")
                elif code == 5: a["local_pref"] = int.from_bytes(v, "big")
                elif code == 6: a["atomic_aggregate"] = True
                elif code == 8: a["communities"] = [f"{int.from_bytes(v[k:k+2],'big')}:{int.from_bytes(v[k+2:k+4],'big')}" for k in range(0, len(v), 4)]
                elif code == 32: a["large_communities"] = [":".join(str(int.from_bytes(v[k+j:k+j+4], "big")) for j in (0, 4, 8)) for k in range(0, len(v), 12)]
                elif code == 14:
                    afi, safi, nl = int.from_bytes(v[0:2], "big"), v[2], v[3]
                    reach = (afi, safi, nexthops(v[4:4+nl]), v[5+nl:])
                elif code == 15:
                    unreach = (int.from_bytes(v[0:2], "big"), v[2], v[3:])
                else: a.setdefault("other_attributes", []).append({"code": code, "flags": fl, "hex": v.hex()})
            m["attribute_codes"] = codes
            if unreach and not reach and not nlri and wl == 0 and not unreach[2] and len(codes) == 1:
                m["end_of_rib"] = fam(unreach[0], unreach[1]); msgs.append(m); continue
            ann = []
            if nlri: ann += [("ipv4-unicast", p, pid, a.get("next_hop")) for p, pid in prefixes(nlri, 1, "ipv4-unicast" in ap)]
            if reach:
                f = fam(reach[0], reach[1])
                ann += [(f, p, pid, reach[2]) for p, pid in prefixes(reach[3], reach[0], f in ap)]
            wds = [("ipv4-unicast", p, pid) for p, pid in prefixes(wd, 1, "ipv4-unicast" in ap)]
            if unreach:
                f = fam(unreach[0], unreach[1])
                wds += [(f, p, pid) for p, pid in prefixes(unreach[2], unreach[0], f in ap)]
            m["announced"] = [p for _, p, _, _ in ann]; m["withdrawn"] = [p for _, p, _ in wds]
            for f, p, pid, nh in ann:
                r = {"family": f, "prefix": p, "path_id": pid, "next_hop": nh}
                r.update({k: v for k, v in a.items() if k != "next_hop"})
                routes.append(r)
            withdrawn += [{"family": f, "prefix": p, "path_id": pid} for f, p, pid in wds]
        msgs.append(m)
    return msgs, routes, withdrawn, sorted(ap), as4

def summary(msgs):
    seq = []
    for m in msgs:
        name = m["type"]
        if name == "UPDATE" and "end_of_rib" in m: name = f"End-of-RIB({m['end_of_rib']})"
        if name == "NOTIFICATION": name = f"NOTIFICATION({m['code']}/{m['subcode']}" + (f" \"{m['shutdown_communication']}\"" if "shutdown_communication" in m else "") + ")"
        if seq and seq[-1][0] == name: seq[-1][1] += 1
        else: seq.append([name, 1])
    return " ".join(f"{n} x{c}" if c > 1 else n for n, c in seq)

# --- receiver views, normalised -------------------------------------------------
def frr_view(path):
    res = []
    for o in json.load(open(path)):
        for p in o.get("paths", []):
            if p.get("peer", {}).get("peerId") != ip_a: continue  # only what the peer sent
            r = {"prefix": o["prefix"], "as_path": p["aspath"]["string"].replace("Local", "").strip(),
                 "origin": p.get("origin", "").upper(),
                 "med": p.get("metric"), "local_pref": p.get("locPrf", p.get("localpref")),
                 "communities": p["community"]["string"].split() if "community" in p else [],
                 "large_communities": p["largeCommunity"]["string"].split() if "largeCommunity" in p else [],
                 "next_hop": [n["ip"] for n in p.get("nexthops", [])], "path_id": p.get("addpathRxId")}
            res.append(r)
    return res

def bird_view(path):
    res, cur, prefix = [], None, None
    for line in open(path):
        m = re.match(r"^(\S+/\d+)?\s+.*?\[frr ", line)  # BIRD 2: "P unicast [frr", 1.6: "P via X on I [frr"
        if m:
            if m.group(1): prefix = m.group(1)
            cur = {"prefix": prefix, "communities": [], "large_communities": [], "med": None,
                   "local_pref": None, "as_path": "", "next_hop": []}
            res.append(cur); continue
        m = re.match(r"^\s+BGP\.(\w+): ?(.*)$", line)
        if m and cur is not None:
            k, v = m.groups()
            if k == "as_path": cur["as_path"] = v.strip()
            elif k == "origin": cur["origin"] = v.strip()
            elif k == "med": cur["med"] = int(v)
            elif k == "local_pref": cur["local_pref"] = int(v)
            elif k == "next_hop": cur["next_hop"] = v.split()
            elif k == "community": cur["communities"] = [f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)\)", v)]
            elif k == "large_community": cur["large_communities"] = [f"{a}:{b}:{c}" for a, b, c in re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", v)]
    return res

def flat_path(segs):
    return " ".join(" ".join(map(str, s["asns"])) if s["type"] == "AS_SEQUENCE" else "{" + ",".join(map(str, s["asns"])) + "}" for s in segs)

def open_as(o):
    return next((c["as"] for c in o["capabilities"] if c.get("code") == 65), o["my_as"])

def cross_check(wire, view, receiver_name):
    """Every route decoded from the wire must appear in the receiver's view with the
    same AS path, MED and communities (the receiver may prepend nothing: we compare
    what was on the wire). Returns a list of problems."""
    probs = []
    key = lambda r: (r["prefix"], flat_path(r.get("as_path", [])), r.get("med"),
                     tuple(sorted(r.get("communities", []))), tuple(sorted(r.get("large_communities", []))))
    vkey = lambda r: (r["prefix"], r["as_path"], r["med"], tuple(sorted(r["communities"])), tuple(sorted(r["large_communities"])))
    vk = [vkey(r) for r in view]
    wire = [r for r in wire if "receiver_rejected" not in r]
    for r in wire:
        if key(r) not in vk: probs.append(f"{receiver_name} does not show {key(r)}")
    if len({r['prefix'] for r in wire}) != len({r['prefix'] for r in view}):
        probs.append(f"prefix sets differ: wire {sorted({r['prefix'] for r in wire})} vs {receiver_name} {sorted({r['prefix'] for r in view})}")
    return probs

# --- write everything -----------------------------------------------------------
first_open = lambda buf: parse_open(next(b for _, t, b in frames(buf) if t == 1))
open_a, open_b = first_open(a2b), first_open(b2a)
problems = []
for src, dst, buf, txo, rxo, rview, rname, rfile in (
        (flav, "frr", a2b, open_a, open_b, frr_view(recv_frr), "FRR", recv_frr),
        ("frr", flav, b2a, open_b, open_a, bird_view(recv_bird), flav, recv_bird)):
    name = f"{src}-to-{dst}-{kind}"
    msgs, routes, wd, ap, as4 = decode(buf, txo, rxo)
    for r in routes:  # RFC 4271 9.1.2: the receiver drops routes whose AS_PATH holds its own AS
        if any(open_as(rxo) in s["asns"] for s in r.get("as_path", [])):
            r["receiver_rejected"] = "AS_PATH contains the receiver's AS (loop)"
    open(os.path.join(out, name + ".bin"), "wb").write(buf)
    probs = cross_check(routes, rview, rname)
    problems += [f"{name}: {p}" for p in probs]
    counts = {}
    for m in msgs:
        k = m["type"] if "end_of_rib" not in m else "End-of-RIB"
        counts[k] = counts.get(k, 0) + 1
    doc = {
        "stream": name + ".bin", "bytes": len(buf), "sender": src, "receiver": dst,
        "sender_address": ip_a if src != "frr" else ip_b,
        "negotiated": {"add_path_in_this_direction": ap, "four_octet_as": as4},
        "open_capabilities": {"sent_in_this_stream": txo, "peer_open": rxo},
        "message_counts": counts, "message_sequence": summary(msgs),
        "routes": sorted(routes, key=lambda r: (r["family"], r["prefix"], r["path_id"] or 0)),
        "withdrawn": wd,
        "receiver_view": {"source": os.path.basename(name + ".receiver.txt"), "routes": rview,
                          "note": "as shown by the receiving daemon (it may add LOCAL_PREF/AS on import); "
                                  "cross-checked against 'routes' on prefix, AS path, MED, communities"},
        "messages": msgs,
    }
    json.dump(doc, open(os.path.join(out, name + ".routes.json"), "w"), indent=1)
    subprocess.run(["cp", rfile, os.path.join(out, name + ".receiver.txt")], check=True)
    # independent check: tshark's own dissection finds the same message types in order
    src_ip = ip_a if src != "frr" else ip_b
    ts = [int(t) for line in tshark("-Y", f"tcp.stream == {best} && ip.src == {src_ip} && bgp",
                                     "-T", "fields", "-e", "bgp.type").split()
          for t in line.split(",") if t]
    mine = [next(k for k, v in TYPES.items() if v == m["type"]) for m in msgs]
    if ts != mine: problems.append(f"{name}: tshark message types {ts} != decoder {mine}")
    txt = tshark("-o", "tcp.desegment_tcp_streams:TRUE", "-Y", f"tcp.stream == {best} && ip.src == {ip_a if src != 'frr' else ip_b} && bgp", "-O", "bgp", "-V")
    open(os.path.join(out, name + ".tshark.txt"), "w").write(txt)
    print(f"{name}.bin {len(buf)} bytes: {summary(msgs)}")
    print(f"   caps: " + ", ".join(c["name"] + ("(" + c["family"] + ")" if "family" in c else "") for c in txo["capabilities"]))
if problems:
    print("\n".join(problems), file=sys.stderr); sys.exit(1)
PY
}

# ---------------------------------------------------------------------------
mkdir -p "$OUT"
write_extractor
scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
  scenarios=(ibgp ebgp)
  if [[ -x $BIRD16_ROOT/usr/sbin/bird ]]; then scenarios+=(bird16-ibgp)
  else log "BIRD 1.6 not found in $BIRD16_ROOT: skipping bird16-ibgp"; fi
fi
for s in "${scenarios[@]}"; do run_scenario "$s"; done
log "done: files in $OUT"
