#!/bin/bash
# Records the IPv4 route changes the kernel makes while `converge --shapes full` loads and
# withdraws 1M routes through one bgpd, in the order the kernel applied them.
# usage: trace-run.sh LABEL BGPD_BIN CONVERGE_BIN   (output in $WORK, default /tmp/withdraw-order)
# BGPD_BIN's file name must be `bgpd` (the harness finds the daemon's pid by name).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); W=${WORK:-/tmp/withdraw-order}; mkdir -p "$W/rep-$1/report"
label=$1; bin=$2; converge=$3
[ -x "$W/nlrec" ] || gcc -O2 -o "$W/nlrec" "$here/nlrec.c"
BGPD_BIN=$bin CONVERGE_REPORT_DIR=$W/rep-$label/report CONVERGE_PROBE=off \
  "$converge" --shapes full --daemons bgpd --reps 1 --tag "trace-$label" > "$W/$label.log" 2>&1 &
cpid=$!
ns=
for _ in $(seq 600); do
  ns=$(ip netns list | awk '{print $1}' | grep -E '^bgplab-.*-dut$' | head -1 || true)
  [ -n "$ns" ] && break; sleep 0.2
done
# The recorder opens its socket inside the namespace and returns to ours, so the lab's
# teardown (which kills the namespace's processes) leaves it to drain its buffer.
"$W/nlrec" "$W/$label.raw" 20 "/run/netns/$ns" &
rpid=$!
wait $cpid; wait $rpid
python3 "$here/nlparse.py" "$W/$label.raw" "$W/$label.ev"
awk '$4==12 && $1=="A"{print $2, $3}' "$W/$label.ev" > "$W/$label.add"
awk '$4==12 && $1=="D"{print $2, $3}' "$W/$label.ev" > "$W/$label.del"
python3 "$here/win.py" "$W/$label.del"
