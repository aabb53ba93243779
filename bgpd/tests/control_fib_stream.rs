//! `show fib` is streamed: the server asks [`Control::fib_pages`] for pages of at most
//! `ServerOptions::fib_page` rows and writes each before the next is produced, so the rows
//! produced never run far ahead of what the client has read (a server that gathered the whole
//! table first would have produced every row before the client saw one). The text and JSON
//! answers are those of the whole table formatted at once (the JSON document with its
//! `counts` after the `routes`, as `docs/cli.md` shows it).

mod control_common;

use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgpd::control::{bird, json, wire::ReplyWriter, ServerOptions};
use bgpd::status::*;
use control_common::*;

/// A daemon whose kernel holds `n` routes of ours, produced as they are asked for.
struct Synthetic {
    n: usize,
    /// Rows the client has read (its reader counts them).
    received: Arc<AtomicUsize>,
    /// The page sizes asked for.
    asked: Mutex<Vec<usize>>,
    /// The largest lead of the rows produced over the rows read, checked before each page.
    lead: AtomicUsize,
    /// The whole table was asked for at once.
    whole: AtomicBool,
    /// Rows produced.
    made: AtomicUsize,
}

impl Synthetic {
    fn new(n: usize, received: Arc<AtomicUsize>) -> Arc<Synthetic> {
        Arc::new(Synthetic {
            n,
            received,
            asked: Mutex::new(Vec::new()),
            lead: AtomicUsize::new(0),
            whole: AtomicBool::new(false),
            made: AtomicUsize::new(0),
        })
    }
}

fn row(i: usize) -> FibEntry {
    FibEntry {
        prefix: format!("10.{}.{}.0/24", i >> 16, (i >> 8) & 0xff)
            .parse::<ipnet::IpNet>()
            .unwrap(),
        dest: RouteDest::Via {
            nexthops: vec![(
                format!("172.30.{}.{}", (i >> 8) & 0xff, i & 0xff)
                    .parse()
                    .unwrap(),
                Some("tunl0".into()),
            )],
        },
        onlink: true,
        table: 254,
        metric: i as u32,
        state: "installed".into(),
    }
}

fn counts(n: usize) -> FibCounts {
    FibCounts {
        installed: n as u64,
        failed: 0,
        pending: 3,
        kernel: FibKernelCounts {
            messages: 7,
            scans: 2,
            ..FibKernelCounts::default()
        },
    }
}

impl Control for Synthetic {
    fn status(&self) -> DaemonStatus {
        Mock::fixture().status()
    }
    fn protocols(&self) -> Vec<ProtocolStatus> {
        Vec::new()
    }
    fn routes(&self, _: &RouteQuery) -> Vec<RouteEntry> {
        Vec::new()
    }
    fn route_count(&self) -> (u64, u64) {
        (0, 0)
    }
    fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
        self.whole.store(true, Ordering::SeqCst);
        ((0..self.n).map(row).collect(), counts(self.n))
    }
    fn fib_pages(
        &self,
        max: usize,
        page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
    ) -> FibCounts {
        self.asked.lock().unwrap().push(max);
        let mut i = 0;
        while i < self.n {
            let end = (i + max).min(self.n);
            let lead = end.saturating_sub(self.received.load(Ordering::SeqCst));
            self.lead.fetch_max(lead, Ordering::SeqCst);
            self.made.fetch_add(end - i, Ordering::SeqCst);
            if page((i..end).map(row).collect()).is_break() {
                break;
            }
            i = end;
        }
        counts(self.n)
    }
    fn admin(&self, _: &str, _: bgp_core::driver::Admin) -> Result<(), ControlError> {
        Ok(())
    }
    fn reload(&self) -> Result<(), ControlError> {
        Ok(())
    }
    fn shutdown(&self) {}
}

fn serve(
    control: Arc<dyn Control>,
    opts: ServerOptions,
) -> (std::path::PathBuf, tokio::runtime::Runtime) {
    start(control, opts, "fibstream")
}

/// Sends `request` and reads its reply line by line, calling `line` on each (before the next
/// is read); returns the reply.
fn ask_reading(path: &std::path::Path, request: &str, mut line: impl FnMut(&str)) -> String {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut wr = s.try_clone().unwrap();
    // A small buffer: the client's own read-ahead stays far below the bound checked.
    let mut rd = BufReader::with_capacity(4096, s);
    let mut greeting = String::new();
    rd.read_line(&mut greeting).unwrap();
    wr.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut out = String::new();
    loop {
        let mut l = String::new();
        assert!(rd.read_line(&mut l).unwrap() > 0, "reply cut short");
        line(&l);
        out.push_str(&l);
        if l.as_bytes().get(4) == Some(&b' ') && !l.starts_with(' ') {
            return out;
        }
    }
}

/// The text of a JSON reply's `1200` lines, concatenated.
fn json_text(reply: &str) -> String {
    reply
        .lines()
        .filter_map(|l| l.strip_prefix("1200-").or_else(|| l.strip_prefix(' ')))
        .collect()
}

#[test]
fn show_fib_is_written_page_by_page_as_the_rows_come() {
    const N: usize = 100_000;
    const PAGE: usize = 1000;
    // What may be produced ahead of the client: the page being made, the one in the channel,
    // the one being written, the server's 32 KB write buffer and the socket's buffers (a few
    // hundred KB of ~90-byte rows): under 10 pages. A server that gathers the table first is
    // N rows ahead.
    const LEAD: usize = N / 4;
    for (request, json) in [("show fib", false), ("json show fib", true)] {
        let received = Arc::new(AtomicUsize::new(0));
        let control = Synthetic::new(N, received.clone());
        let opts = ServerOptions {
            fib_page: PAGE,
            ..fixture_options()
        };
        let (path, _rt) = serve(control.clone(), opts);
        // The client counts the rows it has read as it reads them: a text row is a `1100`
        // line; a JSON row is a `"prefix":` (looked for across line cuts).
        let mut carry = String::new();
        let reply = ask_reading(&path, request, |l| {
            let n = if json {
                let text = l.strip_prefix("1200-").or_else(|| l.strip_prefix(' '));
                let Some(text) = text else { return };
                let text = text.trim_end_matches('\n');
                let joined = format!("{carry}{text}");
                let n = joined.matches("\"prefix\":").count();
                // Keep a tail too short to hold a whole match, so none is counted twice.
                let keep = joined.len().saturating_sub(8);
                let keep = (keep..=joined.len())
                    .find(|&k| joined.is_char_boundary(k))
                    .unwrap();
                carry = joined[keep..].to_string();
                n
            } else {
                usize::from(l.starts_with("1100-") || (l.starts_with(' ') && l.contains("/24")))
            };
            received.fetch_add(n, Ordering::SeqCst);
        });
        assert!(
            !control.whole.load(Ordering::SeqCst),
            "{request}: fib() asked for the whole table"
        );
        assert_eq!(*control.asked.lock().unwrap(), vec![PAGE], "{request}");
        let lead = control.lead.load(Ordering::SeqCst);
        eprintln!("{request}: at most {lead} rows produced ahead of the client");
        assert!(
            lead <= LEAD,
            "{request}: {lead} rows produced ahead of the client"
        );
        assert_eq!(received.load(Ordering::SeqCst), N, "{request}");
        // Every row, in order, then the counters.
        if json {
            let v: serde_json::Value = serde_json::from_str(&json_text(&reply)).unwrap();
            let routes = v["fib"]["routes"].as_array().unwrap();
            assert_eq!(routes.len(), N);
            for (i, r) in routes.iter().enumerate() {
                assert_eq!(r["metric"], i, "row {i}");
            }
            assert_eq!(v["fib"]["counts"]["installed"], N);
            assert!(reply.ends_with("0000 \n"));
        } else {
            let rows: Vec<&str> = reply
                .lines()
                .filter(|l| l.starts_with("1100-") || (l.starts_with(' ') && l.contains("/24")))
                .collect();
            assert_eq!(rows.len(), N);
            for (i, r) in rows.iter().enumerate() {
                let metric: usize = r.split_whitespace().rev().nth(1).unwrap().parse().unwrap();
                assert_eq!(metric, i, "row {i}: {r}");
            }
            assert!(reply.ends_with(&format!("0100 {N} installed, 0 failed, 3 pending\n")));
        }
    }
}

#[test]
fn a_client_that_goes_away_ends_the_stream() {
    const N: usize = 1_000_000;
    let control = Synthetic::new(N, Arc::new(AtomicUsize::new(0)));
    let opts = ServerOptions {
        fib_page: 100,
        ..fixture_options()
    };
    let (path, _rt) = serve(control.clone(), opts);
    let mut c = Client::connect(&path);
    c.wr.write_all(b"show fib\n").unwrap();
    let mut first = String::new();
    c.rd.read_line(&mut first).unwrap();
    assert!(first.starts_with("2100-prefix"), "{first}");
    drop(c);
    // The server's next write fails and it drops the channel: the producer stops at once
    // (a page or a few past what was written), and the server answers a new client.
    let mut d = Client::connect(&path);
    assert!(d
        .ask(b"show status")
        .ends_with("0013 Daemon is up and running\n"));
    drop(d);
    // Once both connections and the producer are done, only the listener's reference and
    // ours are left.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while Arc::strong_count(&control) > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the producer did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let made = control.made.load(Ordering::SeqCst);
    assert!(
        made < N / 10,
        "{made} rows produced for a client gone after the heading"
    );
}

#[test]
fn show_fib_answers_are_the_whole_tables_formatted() {
    // The fixture's daemon answers `fib()` (the default `fib_pages` pages it); with more rows
    // and an ECMP route, pages of 2 rows must give what formatting the whole table gives.
    let mock = Mock::fixture();
    let (entries, c) = mock.fib();
    let mut rows = entries.clone();
    rows.push(FibEntry {
        prefix: "10.244.3.0/26".parse().unwrap(),
        dest: RouteDest::Via {
            nexthops: vec![
                ("172.30.0.12".parse().unwrap(), Some("eth0".into())),
                ("172.30.0.13".parse().unwrap(), Some("eth0".into())),
            ],
        },
        onlink: false,
        table: 254,
        metric: 0,
        state: "installed".into(),
    });
    rows.push(FibEntry {
        prefix: "10.1.2.0/24".parse().unwrap(),
        dest: RouteDest::Blackhole,
        onlink: false,
        table: 254,
        metric: 32,
        state: "failed: Network is unreachable (os error 101)".into(),
    });
    struct Fixed(Vec<FibEntry>, FibCounts);
    impl Control for Fixed {
        fn status(&self) -> DaemonStatus {
            Mock::fixture().status()
        }
        fn protocols(&self) -> Vec<ProtocolStatus> {
            Vec::new()
        }
        fn routes(&self, _: &RouteQuery) -> Vec<RouteEntry> {
            Vec::new()
        }
        fn route_count(&self) -> (u64, u64) {
            (0, 0)
        }
        fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
            (self.0.clone(), self.1)
        }
        fn admin(&self, _: &str, _: bgp_core::driver::Admin) -> Result<(), ControlError> {
            Ok(())
        }
        fn reload(&self) -> Result<(), ControlError> {
            Ok(())
        }
        fn shutdown(&self) {}
    }
    let opts = ServerOptions {
        fib_page: 2,
        ..fixture_options()
    };
    let (path, _rt) = serve(Arc::new(Fixed(rows.clone(), c)), opts);
    let mut client = Client::connect(&path);

    // Text: the heading, every row, the summary.
    let mut w = ReplyWriter::new();
    bird::fib_heading(&mut w);
    for e in &rows {
        bird::fib_row(&mut w, e);
    }
    bird::fib_summary(&mut w, &c);
    let text = client.ask(b"show fib");
    assert_eq!(text, String::from_utf8(w.take()).unwrap());
    assert!(text.contains("1100-10.244.2.0/26"), "{text}");

    // JSON: the document built whole with `json!` (keys sorted, so `counts` came first), now
    // with `routes` first; every row and the counts serialised as before; framed in `1200`
    // lines as one `fragments` call frames it.
    let old = serde_json::json!({ "routes": rows, "counts": c });
    let doc = format!(
        "{{\"fib\":{{\"routes\":{},\"counts\":{}}}}}",
        old["routes"], old["counts"]
    );
    let mut w = ReplyWriter::new();
    w.fragments(json::JSON_CODE, &doc);
    w.last(0, "");
    let reply = client.ask(b"json show fib");
    assert_eq!(reply, String::from_utf8(w.take()).unwrap());
    let back: serde_json::Value = serde_json::from_str(&json_text(&reply)).unwrap();
    assert_eq!(back, serde_json::json!({ "fib": old }));
    assert_eq!(back["fib"]["routes"].as_array().unwrap().len(), 3);

    // An empty table: the heading and the summary; `"routes":[]`.
    let (path, _rt2) = serve(
        Arc::new(Fixed(Vec::new(), FibCounts::default())),
        fixture_options(),
    );
    let mut client = Client::connect(&path);
    let text = client.ask(b"show fib");
    assert!(text.starts_with("2100-prefix"));
    assert!(
        text.ends_with("0100 0 installed, 0 failed, 0 pending\n"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&json_text(&client.ask(b"json show fib"))).unwrap();
    assert_eq!(v["fib"]["routes"], serde_json::json!([]));
    assert_eq!(v["fib"]["counts"]["installed"], 0);
}
