//! DOC: the prefix cursor (`Rib::prefixes_after`): paging through a table returns it exactly,
//! in order; with prefixes added and removed between pages no prefix comes twice and none that
//! stayed present is skipped; IPv4 pages end where IPv6 pages begin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::collections::BTreeSet;

use bgp_core::rib::{LocalRoute, Rib, RibConfig, RouteType, SourceKind};
use bgp_core::wire::Family;
use ipnet::IpNet;
use proptest::prelude::*;
use rib_common::*;

fn rib() -> Rib {
    Rib::new(RibConfig::new(65000, v4("10.0.0.1")))
}

fn blackhole() -> LocalRoute {
    LocalRoute {
        route_type: RouteType::Blackhole,
        ..LocalRoute::default()
    }
}

/// The prefix universe of the property: index → a v4 or v6 prefix of varied lengths.
fn prefix(i: u16) -> IpNet {
    let (a, b) = ((i >> 4) as u8, (i & 15) as u8);
    if i % 5 == 4 {
        net(&format!("fd00:{a:x}:{b:x}::/{}", 48 + (b % 3) * 8))
    } else {
        net(&format!("10.{a}.{}.0/{}", b * 16, 20 + (b % 5)))
    }
}

/// Walks both families page by page, calling `between` after each page.
fn walk(rib: &mut Rib, n: usize, mut between: impl FnMut(&mut Rib)) -> Vec<IpNet> {
    let mut out = Vec::new();
    for fam in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        loop {
            let page = rib.prefixes_after(fam, out.last(), n);
            assert!(page.len() <= n, "page of {} for n = {n}", page.len());
            let done = page.len() < n;
            out.extend(page);
            between(rib);
            if done {
                break;
            }
        }
    }
    out
}

#[test]
fn paging_returns_exactly_the_table_in_order() {
    let mut r = rib();
    for i in 0..500u16 {
        r.add_local(SourceKind::Static, prefix(i), blackhole());
    }
    let mut all = r.prefixes(Family::IPV4_UNICAST);
    all.extend(r.prefixes(Family::IPV6_UNICAST));
    assert_eq!(all.len(), 500);
    for n in [1, 7, 64, 499, 500, 501, 10_000] {
        assert_eq!(walk(&mut r, n, |_| {}), all, "page size {n}");
    }
    assert!(r.prefixes_after(Family::IPV4_UNICAST, None, 0).is_empty());
}

#[test]
fn the_other_family_orders_ipv4_first() {
    let mut r = rib();
    for p in ["10.0.0.0/24", "10.0.1.0/24", "fd00::/64"] {
        r.add_local(SourceKind::Static, net(p), blackhole());
    }
    let v6 = net("fd00::/64");
    let v4 = net("10.0.0.0/24");
    // After an IPv6 prefix, IPv4 has nothing left; after an IPv4 one, IPv6 starts at its first.
    assert!(r
        .prefixes_after(Family::IPV4_UNICAST, Some(&v6), 10)
        .is_empty());
    assert_eq!(
        r.prefixes_after(Family::IPV6_UNICAST, Some(&v4), 10),
        vec![v6]
    );
    // `after` need not be in the table, and host bits do not matter.
    assert_eq!(
        r.prefixes_after(Family::IPV4_UNICAST, Some(&net("10.0.0.77/24")), 10),
        vec![net("10.0.1.0/24")]
    );
    assert_eq!(
        r.prefixes_after(Family::IPV4_UNICAST, Some(&net("9.0.0.0/8")), 1),
        vec![v4]
    );
}

#[test]
fn an_empty_family_or_a_drained_one_gives_nothing() {
    let mut r = rib();
    assert!(r.prefixes_after(Family::IPV6_UNICAST, None, 4).is_empty());
    r.add_local(SourceKind::Static, net("10.0.0.0/24"), blackhole());
    r.remove_local(SourceKind::Static, net("10.0.0.0/24"));
    assert!(r.prefixes_after(Family::IPV4_UNICAST, None, 4).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Prefixes added and removed between pages: strictly ascending output (so none twice),
    /// every prefix present from start to end is there, and nothing that was never present.
    #[test]
    fn paging_across_changes(
        initial in proptest::collection::btree_set(0u16..400, 0..120),
        page in 1usize..20,
        changes in proptest::collection::vec(
            proptest::collection::vec((any::<bool>(), 0u16..400), 0..6), 0..60),
    ) {
        let mut r = rib();
        for &i in &initial {
            r.add_local(SourceKind::Static, prefix(i), blackhole());
        }
        let mut kept: BTreeSet<IpNet> = initial.iter().map(|&i| prefix(i)).collect();
        let mut ever = kept.clone();
        let mut step = changes.iter();
        let out = walk(&mut r, page, |r| {
            for &(add, i) in step.next().into_iter().flatten() {
                let p = prefix(i);
                if add {
                    r.add_local(SourceKind::Static, p, blackhole());
                    ever.insert(p);
                } else {
                    r.remove_local(SourceKind::Static, p);
                    kept.remove(&p);
                }
            }
        });
        prop_assert!(out.windows(2).all(|w| w[0] < w[1]), "not ascending: {:?}", out);
        let seen: BTreeSet<IpNet> = out.iter().copied().collect();
        prop_assert!(kept.is_subset(&seen), "skipped: {:?}", kept.difference(&seen).collect::<Vec<_>>());
        prop_assert!(seen.is_subset(&ever));
    }
}
