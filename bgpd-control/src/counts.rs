//! DOC: the table's counters as the control plane reads them (`show protocols`, `show route
//! count`, the metrics). The RIB keeps them as it changes, so reading them costs a lock and
//! one look per source; a probe must not wait behind a RIB batch (calico-node's read deadline
//! is 2 s), so [`CountsCache`] answers the counters last read while the RIB is busy.

use std::sync::{Arc, Mutex, TryLockError};

use bgp_core::rib::{Rib, SourceId, TableCounts};

use crate::lock;
use crate::status::IpFamily;

/// The table counters the control plane read last.
#[derive(Debug, Default)]
pub struct CountsCache {
    last: Mutex<Option<Arc<TableCounts>>>,
}

impl CountsCache {
    /// The counters of `rib` (its peers and the local sources), read fresh whenever
    /// its lock is free; while another thread holds it, the counters last read (at most one
    /// RIB batch old), waiting only when none were read yet.
    pub fn read(&self, rib: &Mutex<Rib>) -> Arc<TableCounts> {
        let cached = lock(&self.last).clone();
        let rib = match (rib.try_lock(), cached) {
            (Ok(rib), _) => rib,
            (Err(TryLockError::WouldBlock), Some(c)) => return c,
            (Err(TryLockError::Poisoned(p)), _) => p.into_inner(),
            (Err(TryLockError::WouldBlock), None) => lock(rib),
        };
        let c = Arc::new(rib.counts_by_source());
        drop(rib);
        *lock(&self.last) = Some(Arc::clone(&c));
        c
    }
}

/// `show route count protocol NAME` (of one family, or both): the routes of `src`, only when
/// `name` is the name the route walk prints for it (a peer renamed meanwhile is not counted).
pub fn source_routes(
    rib: &Rib,
    src: SourceId,
    name: &str,
    family: Option<IpFamily>,
) -> Option<u64> {
    if rib.source_name(src) != name {
        return None;
    }
    Some(match family {
        None => rib.source_counts(src).routes,
        Some(f) => rib.source_family_counts(src, f.unicast()).routes,
    })
}

/// `show route count` of one family: (routes, networks).
pub fn family_routes(rib: &Rib, family: IpFamily) -> (u64, u64) {
    let (networks, routes) = rib.family_counts(family.unicast());
    (routes, networks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_core::rib::{LocalRoute, RibConfig, SourceKind};

    fn rib_with_statics(n: u8) -> Rib {
        let mut rib = Rib::new(RibConfig::new(65000, "10.0.0.1".parse().unwrap()));
        for i in 0..n {
            let prefix = format!("10.{i}.0.0/16").parse().unwrap();
            rib.add_local(SourceKind::Static, prefix, LocalRoute::default());
        }
        rib
    }

    #[test]
    fn a_busy_rib_answers_the_last_counters() {
        let rib = Mutex::new(rib_with_statics(2));
        let cache = CountsCache::default();
        let first = cache.read(&rib);
        assert_eq!((first.routes, first.networks), (2, 2));
        // Free: read fresh.
        lock(&rib).add_local(
            SourceKind::Static,
            "10.9.0.0/16".parse().unwrap(),
            LocalRoute::default(),
        );
        let fresh = cache.read(&rib);
        assert_eq!(fresh.routes, 3);
        // Busy (the RIB task's batch): the counters last read, without waiting.
        let held = lock(&rib);
        let busy = cache.read(&rib);
        assert!(Arc::ptr_eq(&busy, &fresh));
        drop(held);
    }

    #[test]
    fn a_poisoned_rib_is_still_read() {
        let rib = Mutex::new(rib_with_statics(1));
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _g = rib.lock();
                panic!("a task panicked holding the RIB");
            })
            .join()
        });
        assert!(rib.is_poisoned());
        assert_eq!(CountsCache::default().read(&rib).routes, 1);
    }

    #[test]
    fn a_source_is_counted_under_the_name_the_walk_prints() {
        let rib = rib_with_statics(3);
        assert_eq!(
            source_routes(&rib, SourceId::STATIC, "static1", None),
            Some(3)
        );
        let v4 = Some(IpFamily::Ipv4);
        assert_eq!(
            source_routes(&rib, SourceId::STATIC, "static1", v4),
            Some(3)
        );
        let v6 = Some(IpFamily::Ipv6);
        assert_eq!(
            source_routes(&rib, SourceId::STATIC, "static1", v6),
            Some(0)
        );
        assert_eq!(source_routes(&rib, SourceId::STATIC, "kernel1", None), None);
        assert_eq!(family_routes(&rib, IpFamily::Ipv4), (3, 3));
        assert_eq!(family_routes(&rib, IpFamily::Ipv6), (0, 0));
    }
}
