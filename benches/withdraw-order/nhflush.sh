#!/bin/bash
# Kernel only: the prefixes of ADD installed on one nexthop object, then removed either route by
# route in the order of DEL, or all at once by deleting the object. 2 rounds, interleaved.
# usage: nhflush.sh ADD DEL
here=$(cd "$(dirname "$0")" && pwd)
for _ in 1 2; do for mode in routes flush; do
  ip netns del wdorder 2>/dev/null; ip netns add wdorder
  ip -n wdorder link set lo up
  ip -n wdorder link add v0 type veth peer name v1
  ip -n wdorder link set v0 up; ip -n wdorder link set v1 up
  ip -n wdorder addr add 10.255.0.1/24 dev v0
  ip -n wdorder nexthop add id 1 via 10.255.0.2 dev v0 proto 12
  f=; [ $mode = flush ] && f=1
  echo "$mode $(NHID=1 FLUSH=$f ip netns exec wdorder python3 "$here/replay.py" "$1" "$2") load $(cut -d' ' -f1 /proc/loadavg)"
done; done
ip netns del wdorder
