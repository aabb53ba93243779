//! DOC: `show fib`: the kernel's routes as read back and the routes it refused, as
//! [`FibEntry`] rows, and the networks `show route` marks as not installed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Mutex;

use bgp_fib::wire::KernelRoute;
use bgp_fib::{Device, FailedRoute, RouteKind};
use ipnet::IpNet;

use crate::lock;
use crate::status::{FibCounts, FibEntry, FibKernelCounts, RouteDest};

/// The rows of the routes read back from the kernel that are ours (`protocol`, `table`);
/// `ifname` names an interface by index.
pub fn installed_entries(
    routes: Vec<KernelRoute>,
    protocol: u8,
    table: u32,
    ifname: impl Fn(u32) -> String,
) -> Vec<FibEntry> {
    routes
        .iter()
        .filter_map(|r| installed_entry(r, protocol, table, &mut |i| ifname(i)))
        .collect()
}

/// The row of one route read back from the kernel, if it is ours (`protocol`, `table`): what
/// [`installed_entries`] does to each route of a dump, for a dump read as a stream.
pub fn installed_entry(
    r: &KernelRoute,
    protocol: u8,
    table: u32,
    ifname: &mut dyn FnMut(u32) -> String,
) -> Option<FibEntry> {
    if r.protocol != protocol || r.table != table {
        return None;
    }
    let dest = match r.rtype {
        bgp_fib::wire::RTN_BLACKHOLE => RouteDest::Blackhole,
        bgp_fib::wire::RTN_UNREACHABLE => RouteDest::Unreachable,
        bgp_fib::wire::RTN_PROHIBIT => RouteDest::Prohibit,
        _ => RouteDest::Via {
            nexthops: r
                .nexthops
                .iter()
                .filter_map(|h| Some((h.gateway?, Some(ifname(h.ifindex)))))
                .collect::<Vec<(IpAddr, Option<String>)>>(),
        },
    };
    Some(FibEntry {
        prefix: r.prefix,
        dest,
        onlink: r.nexthops.iter().any(|h| h.onlink),
        table: r.table,
        metric: r.metric,
        state: "installed".into(),
    })
}

/// `show fib`'s rows handed to the client a page (at most `max` rows) at a time, so that only
/// a page is held while the kernel's table streams by; nothing more is handed over once the
/// client is gone (a page answered `Break`).
pub struct Pages<'p> {
    max: usize,
    rows: Vec<FibEntry>,
    page: &'p mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
    gone: bool,
}

impl<'p> Pages<'p> {
    /// Pages of `max` rows (at least one) for `page`.
    pub fn new(max: usize, page: &'p mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>) -> Self {
        Pages {
            max: max.max(1),
            rows: Vec::new(),
            page,
            gone: false,
        }
    }

    /// Adds a row, handing the page over once full; `Break` once the client is gone.
    pub fn push(&mut self, e: FibEntry) -> ControlFlow<()> {
        if !self.gone {
            self.rows.push(e);
            if self.rows.len() >= self.max {
                self.gone = (self.page)(std::mem::take(&mut self.rows)).is_break();
            }
        }
        if self.gone {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Hands over the last, partial page.
    pub fn finish(mut self) {
        if !self.rows.is_empty() && !self.gone {
            let _ = (self.page)(std::mem::take(&mut self.rows));
        }
    }
}

/// `show fib`'s rows, handed to `page` at most `max` at a time: our routes (`protocol`,
/// `table`) as `dump` streams the kernel's table by (only a page of rows is held at a time),
/// then the routes the kernel refused (`failed`, read once the dump is over). Interface names
/// are looked up once per dump, not once per route. Returns how many installed rows were read
/// and the dump's outcome: when the kernel could not be read, the refused routes are still
/// listed and the installed ones shown so far are all that is known.
pub fn stream_rows<E>(
    dump: impl FnOnce(&mut dyn FnMut(KernelRoute) -> ControlFlow<()>) -> Result<(), E>,
    (protocol, table): (u8, u32),
    ifname: impl Fn(u32) -> String,
    failed: impl FnOnce() -> Vec<FibEntry>,
    max: usize,
    page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
) -> (usize, Result<(), E>) {
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut name = |i: u32| names.entry(i).or_insert_with(|| ifname(i)).clone();
    let mut pages = Pages::new(max, page);
    let mut installed = 0usize;
    let dumped = dump(
        &mut |r| match installed_entry(&r, protocol, table, &mut name) {
            Some(e) => {
                installed += 1;
                pages.push(e)
            }
            None => ControlFlow::Continue(()),
        },
    );
    for e in failed() {
        if pages.push(e).is_break() {
            break;
        }
    }
    pages.finish();
    (installed, dumped)
}

/// [`stream_rows`] over the kernel's table, read over a fresh netlink socket, with the names
/// of the interfaces in the caller's namespace, then the routes the kernel refused as the FIB
/// thread last listed them (`failures`: retried at each scan, at most
/// `bgp_fib::thread::FAILURES_LISTED`).
pub fn kernel_rows(
    kernel: (u8, u32),
    failures: &Mutex<Vec<FailedRoute>>,
    max: usize,
    page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
) -> (usize, Result<(), bgp_fib::DumpError>) {
    let dump = |each: &mut dyn FnMut(KernelRoute) -> ControlFlow<()>| {
        let mut s = bgp_fib::FibSocket::open(false).map_err(bgp_fib::DumpError::from)?;
        s.dump_routes_with(each)
    };
    // Copied, so that no lock is held while a page waits for the client.
    let failed = || lock(failures).iter().map(failed_entry).collect();
    stream_rows(dump, kernel, ifname, failed, max, page)
}

/// `show fib`'s counters: the installed rows the kernel read-back found, the routes failing
/// to install, and the FIB thread's backlog and cumulative counters as it last reported them.
pub fn counts(read_back: usize, failed: u64, pending: u64, kernel: FibKernelCounts) -> FibCounts {
    FibCounts {
        installed: read_back as u64,
        failed,
        pending,
        kernel,
    }
}

/// `show fib` whole: the rows `pages` streams (a `Control::fib_pages`, given the page size
/// and where the pages go) collected, and its counters.
pub fn collect(
    pages: impl FnOnce(usize, &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>) -> FibCounts,
) -> (Vec<FibEntry>, FibCounts) {
    let mut all = Vec::new();
    let counts = pages(usize::MAX, &mut |p| {
        all.extend(p);
        ControlFlow::Continue(())
    });
    (all, counts)
}

/// The name of interface `index` in the caller's namespace (the index as text if it is gone).
pub fn ifname(index: u32) -> String {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires; it writes a
    // NUL-terminated name into it or returns NULL.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return index.to_string();
    }
    std::ffi::CStr::from_bytes_until_nul(&buf)
        .ok()
        .and_then(|c| c.to_str().ok())
        .map_or_else(|| index.to_string(), String::from)
}

/// The row of a route the kernel refused: the route as wanted, the error as state.
pub fn failed_entry(f: &FailedRoute) -> FibEntry {
    let (dest, onlink) = match &f.kind {
        Some(RouteKind::Blackhole) => (RouteDest::Blackhole, false),
        Some(RouteKind::Unreachable) | None => (RouteDest::Unreachable, false),
        Some(RouteKind::Prohibit) => (RouteDest::Prohibit, false),
        Some(RouteKind::Unicast(nhs)) => (
            RouteDest::Via {
                nexthops: nhs
                    .iter()
                    .map(|h| {
                        let dev = h.device.as_ref().map(|d| match d {
                            Device::Index(i) => i.to_string(),
                            Device::Name(n) => n.clone(),
                        });
                        (h.gateway, dev)
                    })
                    .collect(),
            },
            nhs.iter().any(|h| h.onlink),
        ),
    };
    FibEntry {
        prefix: f.key.prefix,
        dest,
        onlink,
        table: f.key.table,
        metric: f.key.metric,
        state: format!("failed: {}", std::io::Error::from_raw_os_error(f.errno)),
    }
}

/// The networks whose install the kernel refused (BIRD 1.6 prints their primary route `!`):
/// the failures of a route with a kind (a withdrawal that failed refused nothing shown).
pub fn refused_networks(failures: &[FailedRoute]) -> HashSet<IpNet> {
    failures
        .iter()
        .filter(|f| f.kind.is_some())
        .map(|f| f.key.prefix)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(prefix: &str, kind: Option<RouteKind>) -> FailedRoute {
        FailedRoute {
            key: bgp_fib::RouteKey::new(254, prefix.parse().unwrap(), 32),
            errno: libc::ENETUNREACH,
            kind,
        }
    }

    #[test]
    fn a_refused_route_is_listed_with_its_error() {
        let nh =
            bgp_fib::NextHop::onlink("10.9.9.9".parse().unwrap(), Device::Name("tunl0".into()));
        let e = failed_entry(&refused("10.1.2.0/24", Some(RouteKind::Unicast(vec![nh]))));
        assert_eq!(e.prefix.to_string(), "10.1.2.0/24");
        assert_eq!((e.table, e.metric, e.onlink), (254, 32, true));
        assert_eq!(
            e.dest,
            RouteDest::Via {
                nexthops: vec![("10.9.9.9".parse().unwrap(), Some("tunl0".into()))]
            }
        );
        assert!(
            e.state.starts_with("failed: Network is unreachable"),
            "{}",
            e.state
        );
    }

    #[test]
    fn rows_go_a_page_at_a_time_until_the_client_is_gone() {
        let row = |n: u8| failed_entry(&refused(&format!("10.{n}.0.0/16"), None));
        let mut got: Vec<usize> = Vec::new();
        let mut page = |p: Vec<FibEntry>| {
            got.push(p.len());
            ControlFlow::Continue(())
        };
        let mut pages = Pages::new(2, &mut page);
        for n in 0..5 {
            assert!(pages.push(row(n)).is_continue());
        }
        pages.finish();
        assert_eq!(got, [2, 2, 1]);
        // The client leaves after its first page: nothing more, no last page.
        let mut got = 0;
        let mut page = |p: Vec<FibEntry>| {
            got += p.len();
            ControlFlow::Break(())
        };
        let mut pages = Pages::new(0, &mut page);
        assert!(pages.push(row(1)).is_break());
        assert!(pages.push(row(2)).is_break());
        pages.finish();
        assert_eq!(got, 1, "a page of at least one row, then nothing");
    }

    #[test]
    fn the_whole_fib_is_every_page_in_order_with_the_counters() {
        let row = |n: u8| failed_entry(&refused(&format!("10.{n}.0.0/16"), None));
        let (rows, c) = collect(|max, page| {
            assert_eq!(max, usize::MAX, "one page is enough");
            for p in [vec![row(1), row(2)], vec![], vec![row(3)]] {
                assert!(page(p).is_continue());
            }
            counts(3, 1, 2, FibKernelCounts::default())
        });
        assert_eq!(rows, [row(1), row(2), row(3)]);
        assert_eq!((c.installed, c.failed, c.pending), (3, 1, 2));
    }

    #[test]
    fn only_refused_installs_mark_their_network() {
        let v = [
            refused("10.1.0.0/16", Some(RouteKind::Blackhole)),
            refused("10.2.0.0/16", None),
        ];
        let r = refused_networks(&v);
        assert!(r.contains(&"10.1.0.0/16".parse().unwrap()));
        assert_eq!(r.len(), 1);
        assert_eq!(failed_entry(&v[1]).dest, RouteDest::Unreachable);
    }

    fn kernel_route(prefix: &str, protocol: u8, ifindex: u32) -> KernelRoute {
        KernelRoute {
            table: 254,
            prefix: prefix.parse().unwrap(),
            protocol,
            rtype: bgp_fib::wire::RTN_UNICAST,
            nexthops: vec![bgp_fib::wire::KernelNextHop {
                gateway: Some("10.9.9.9".parse().unwrap()),
                ifindex,
                onlink: false,
                weight: 0,
            }],
            ..KernelRoute::default()
        }
    }

    #[test]
    fn the_stream_lists_ours_then_the_refused_a_page_at_a_time() {
        let table = [
            kernel_route("10.1.0.0/16", 12, 7),
            kernel_route("10.2.0.0/16", 4, 7),
            kernel_route("10.3.0.0/16", 12, 7),
            kernel_route("10.4.0.0/16", 12, 8),
        ];
        let looked_up = std::cell::RefCell::new(Vec::new());
        let name = |i: u32| {
            looked_up.borrow_mut().push(i);
            format!("if{i}")
        };
        let mut got: Vec<Vec<String>> = Vec::new();
        let mut page = |p: Vec<FibEntry>| {
            got.push(
                p.iter()
                    .map(|e| format!("{} {}", e.prefix, e.state))
                    .collect(),
            );
            ControlFlow::Continue(())
        };
        let dump = |each: &mut dyn FnMut(KernelRoute) -> ControlFlow<()>| {
            for r in table.iter().cloned() {
                if each(r).is_break() {
                    break;
                }
            }
            Ok::<(), ()>(())
        };
        let failed = || vec![failed_entry(&refused("10.5.0.0/16", None))];
        let (installed, r) = stream_rows(dump, (12, 254), name, failed, 2, &mut page);
        assert_eq!((installed, r), (3, Ok(())));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], ["10.1.0.0/16 installed", "10.3.0.0/16 installed"]);
        assert_eq!(got[1][0], "10.4.0.0/16 installed");
        assert!(got[1][1].starts_with("10.5.0.0/16 failed: "), "{got:?}");
        // Each interface is looked up once per dump.
        assert_eq!(*looked_up.borrow(), [7, 8]);
    }

    #[test]
    fn a_failed_dump_still_lists_the_refused_and_a_gone_client_stops_the_stream() {
        let mut rows = 0;
        let mut page = |p: Vec<FibEntry>| {
            rows += p.len();
            ControlFlow::Continue(())
        };
        let dump = |_: &mut dyn FnMut(KernelRoute) -> ControlFlow<()>| Err("EPERM");
        let failed = || vec![failed_entry(&refused("10.5.0.0/16", None))];
        let (installed, r) = stream_rows(dump, (12, 254), |i| i.to_string(), failed, 10, &mut page);
        assert_eq!((installed, r, rows), (0, Err("EPERM"), 1));
        // The client leaves after the first page: the dump is told to stop.
        let mut page = |_: Vec<FibEntry>| ControlFlow::Break(());
        let mut offered = 0;
        let dump = |each: &mut dyn FnMut(KernelRoute) -> ControlFlow<()>| {
            for n in 1..=5 {
                offered += 1;
                if each(kernel_route(&format!("10.{n}.0.0/16"), 12, 1)).is_break() {
                    break;
                }
            }
            Ok::<(), ()>(())
        };
        let (installed, _) =
            stream_rows(dump, (12, 254), |i| i.to_string(), Vec::new, 1, &mut page);
        assert_eq!((installed, offered), (1, 1));
    }

    #[test]
    fn counts_are_the_read_back_and_the_fib_threads_report() {
        let k = FibKernelCounts {
            object_flushes: 1,
            flushed_routes: 2000,
            ..Default::default()
        };
        let c = counts(12, 1, 7, k);
        assert_eq!((c.installed, c.failed, c.pending), (12, 1, 7));
        assert_eq!(
            (c.kernel.object_flushes, c.kernel.flushed_routes),
            (1, 2000)
        );
    }

    #[test]
    fn a_missing_interface_is_named_by_its_index() {
        assert_eq!(ifname(u32::MAX), u32::MAX.to_string());
        assert_eq!(ifname(1), "lo");
    }

    #[test]
    fn only_our_installed_routes_are_rows() {
        let ours = KernelRoute {
            table: 254,
            prefix: "10.1.0.0/16".parse().unwrap(),
            protocol: 12,
            rtype: bgp_fib::wire::RTN_BLACKHOLE,
            ..KernelRoute::default()
        };
        let other = KernelRoute {
            protocol: 4,
            ..ours.clone()
        };
        let elsewhere = KernelRoute {
            table: 100,
            ..ours.clone()
        };
        let v = installed_entries(vec![ours, other, elsewhere], 12, 254, |i| i.to_string());
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].dest.clone(), v[0].state.as_str()),
            (RouteDest::Blackhole, "installed")
        );
    }
}
