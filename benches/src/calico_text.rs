//! Calico's BIRD filter text as confd renders it, shared by the filter benchmark and the
//! convergence harness's `bgpd-calico` daemon.

use std::fmt::Write as _;

/// `filter calico_kernel_programming` (`bird_ipam.cfg`, Calico v3.32) for `pools`: the
/// `krt_metric`/`preference` mapping, then one rule per pool, the even ones CrossSubnet (no
/// tunnel for a next hop inside `node_subnet`), the odd ones IP-in-IP Always; anything else
/// accepted as it is.
pub fn calico_kernel_programming(pools: &[String], node_subnet: &str) -> String {
    let mut c = String::from(
        "filter calico_kernel_programming {
  if (defined(source) && (source = RTS_BGP) && !defined(krt_metric)) then {
    krt_metric = 1024;
    if (defined(bgp_local_pref)) then {
      krt_metric = 2147483647 - bgp_local_pref;
    }
    if (krt_metric < 1024) then {
      preference = 200;
    }
  }
",
    );
    for (i, pool) in pools.iter().enumerate() {
        if i % 2 == 0 {
            let _ = writeln!(
                c,
                "  if (net ~ {pool}) then {{ if (defined(bgp_next_hop)&&(bgp_next_hop ~ {node_subnet})) then krt_tunnel=\"\"; else krt_tunnel=\"tunl0\"; accept; }}"
            );
        } else {
            let _ = writeln!(
                c,
                "  if (net ~ {pool}) then {{ krt_tunnel=\"tunl0\"; accept; }}"
            );
        }
    }
    c.push_str("  accept;\n}\n");
    c
}
