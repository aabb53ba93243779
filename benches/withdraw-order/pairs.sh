#!/bin/bash
# Kernel only: for each LABEL, adds LABEL.add in its order and deletes LABEL.del in its order (traced pairs); ROUNDS rounds.
# usage: pairs.sh ROUNDS LABEL...
rounds=$1; shift
for _ in $(seq $rounds); do for l in "$@"; do
  ip netns del wdorder 2>/dev/null; ip netns add wdorder
  echo "$l $(ip netns exec wdorder python3 "$(dirname "$0")/replay.py" $l.add $l.del) load $(cut -d' ' -f1 /proc/loadavg)"
done; done
ip netns del wdorder
