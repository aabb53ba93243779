#!/bin/bash
# Kernel only: in a fresh namespace, adds the prefixes of ADD (in that order), then deletes them
# in the order of each DEL file; ROUNDS rounds, interleaved. Prints the seconds of each phase.
# usage: orders.sh ADD ROUNDS DEL...
here=$(cd "$(dirname "$0")" && pwd); add=$1; rounds=$2; shift 2
for _ in $(seq "$rounds"); do for d in "$@"; do
  ip netns del wdorder 2>/dev/null; ip netns add wdorder
  echo "$(basename "$d") $(ip netns exec wdorder python3 "$here/replay.py" "$add" "$d") load $(cut -d' ' -f1 /proc/loadavg)"
done; done
ip netns del wdorder
