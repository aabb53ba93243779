//! DOC: bgp-fib's settings from `[kernel]`, `[[pools]]` and the family the daemon serves:
//! which routes are ours (protocol, table, families), how pool routes are reached (IP-in-IP
//! always or cross-subnet, directly, VXLAN not installed), learning, scans, ECMP, kernel
//! nexthop objects.

use bgp_fib::{FibConfig, FibFamilies, NexthopObjects, Pool, PoolMode, RoutePolicy};

use super::schema::{FamilyName, IpipMode, NexthopObjectsMode};
use super::Config;

/// `rtm_protocol` when `[kernel] protocol` names none known (BIRD's number).
const PROTO_BIRD: u8 = 12;

impl Config {
    /// The FIB thread's settings.
    pub fn fib_config(&self) -> FibConfig {
        let k = &self.file.kernel;
        FibConfig {
            protocol: k.protocol.get_ref().resolve().unwrap_or(PROTO_BIRD),
            tunnel_device: k.tunnel_device.clone(),
            tables: vec![k.table],
            learn_tables: vec![k.table],
            learn: k.learn || self.file.direct.is_some() || !self.file.pools.is_empty(),
            learn_kernel_routes: false,
            scan_interval: std::time::Duration::from_secs(*k.scan_interval.get_ref()),
            flush_on_shutdown: !k.persist,
            families: self.fib_families(),
            routes: RoutePolicy {
                pools: self.fib_pools(),
                table: k.table,
                metric: k.metric,
                ecmp_max: (*k.ecmp_max.get_ref()).max(1) as usize,
                // Calico: the CNI owns the host route of a /32 (/128) block.
                skip_host_blackholes: true,
            },
            nexthop_objects: match k.nexthop_objects {
                NexthopObjectsMode::Auto => NexthopObjects::Auto,
                NexthopObjectsMode::On => NexthopObjects::On,
                NexthopObjectsMode::Off => NexthopObjects::Off,
            },
            ..FibConfig::default()
        }
    }

    /// The IP pools as bgp-fib resolves routes in them.
    pub fn fib_pools(&self) -> Vec<Pool> {
        self.file
            .pools
            .iter()
            .map(|p| Pool {
                cidr: *p.cidr.get_ref(),
                mode: match (p.vxlan, p.ipip) {
                    (true, _) => PoolMode::Vxlan,
                    (false, IpipMode::Always) => PoolMode::IpipAlways,
                    (false, IpipMode::CrossSubnet) => PoolMode::IpipCrossSubnet,
                    (false, IpipMode::Never) => PoolMode::Direct,
                },
            })
            .collect()
    }

    /// The families whose kernel routes are ours: one when the daemon handles one (`bird` and
    /// `bird6` side by side share the protocol number), else both.
    fn fib_families(&self) -> FibFamilies {
        match self.family {
            Some(FamilyName::Ipv4) => FibFamilies {
                ipv4: true,
                ipv6: false,
            },
            Some(FamilyName::Ipv6) => FibFamilies {
                ipv4: false,
                ipv6: true,
            },
            None => FibFamilies::BOTH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        crate::test_config(&format!(
            "[[pools]]\ncidr = \"10.244.0.0/16\"\nipip = \"cross-subnet\"\n[[pools]]\ncidr = \"10.96.0.0/16\"\nipip = \"always\"\n[[pools]]\ncidr = \"10.250.0.0/16\"\nvxlan = true\n{extra}"
        ))
    }

    #[test]
    fn pools_and_kernel_settings_reach_bgp_fib() {
        let c = cfg("").fib_config();
        assert_eq!(
            c.routes.pools.iter().map(|p| p.mode).collect::<Vec<_>>(),
            vec![
                PoolMode::IpipCrossSubnet,
                PoolMode::IpipAlways,
                PoolMode::Vxlan
            ]
        );
        assert_eq!((c.routes.table, c.routes.metric), (254, 32));
        assert_eq!(c.tunnel_device, "tunl0");
        assert!(c.routes.skip_host_blackholes);
        // Pools need the addresses the monitor learns.
        assert!(c.learn);
        assert_eq!((c.protocol, c.flush_on_shutdown), (12, false));
        assert_eq!(c.families, FibFamilies::BOTH);
    }

    #[test]
    fn kernel_keys_reach_bgp_fib() {
        let c = cfg("[kernel]\ntable = 100\npersist = false\necmp_max = 4\n").fib_config();
        assert_eq!(
            (c.tables.clone(), c.learn_tables.clone()),
            (vec![100], vec![100])
        );
        assert_eq!((c.routes.table, c.routes.ecmp_max), (100, 4));
        assert!(c.flush_on_shutdown);
        let c = cfg("[kernel]\nnexthop_objects = \"on\"\n").fib_config();
        assert_eq!(c.nexthop_objects, NexthopObjects::On);
        assert_eq!(cfg("").fib_config().nexthop_objects, NexthopObjects::Auto);
    }
}
