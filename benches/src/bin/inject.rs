//! The convergence harness's BGP load generator: one process, many sessions, built on
//! bgp-core's codec. Events go to stdout as `EVENT <monotonic ns> [detail]` lines (the clock is
//! `CLOCK_MONOTONIC`, the same in every network namespace, so the harness can compare them
//! with its own readings); commands come from stdin, one per line.
//!
//! Modes:
//! * `send`: `--sessions N` sessions connect to `--target` from `--src` + i, each does the
//!   OPEN/KEEPALIVE handshake; once all are up (`all_up`) every session writes its pre-encoded
//!   UPDATEs (`--routes` prefixes of `/--plen` each, distinct across sessions, one attribute
//!   set, packed by `encode_announcements`) and End-of-RIB with large writes (`go`, then
//!   `sent` when the last write returns). Keepalives follow every hold/3 seconds. Stdin `close`
//!   closes every session (`closed`): the daemon must then withdraw everything. Stdin EOF or
//!   `exit` ends the process.
//! * `rr`: the same sessions as iBGP route-reflector clients; they connect at once
//!   (`up_first`, `all_up`); on `announce` each sends one `/--plen` of its own (`announced`)
//!   and counts the distinct client blocks it receives; `all_received` once every session
//!   has all the others' blocks. `progress` lines report counts on demand (`status`).
//!   `flap` (either mode): every session drops its connection (TCP close, no NOTIFICATION),
//!   connects again and re-sends its table once `go`/`announce` was given (`flap <round>`
//!   when asked, `flapped <round>` once every session is up again).
//! * `sink`: listens on `--listen`, accepts one session, reads UPDATEs until End-of-RIB
//!   (`established`, `eor <prefixes>`): measures a sender (this injector or BIRD 2).
//!
//! Bounded: `--max-secs` (default 900) ends the process whatever happens.
//!
//! Connecting (either mode, flaps included) is paced as clients arriving over time would be: at
//! most `--connect-window` attempts (TCP connect plus the OPEN/KEEPALIVE exchange; default 8,
//! 0 = no limit) are in flight at once, a TCP connect not done within
//! `--connect-timeout-ms` (default 1000) is abandoned and tried again at once, a handshake within
//! 10 s. Without it every session's SYN leaves in the same millisecond: a daemon with a short
//! listen backlog (BIRD 1.6 and 2 listen with a backlog of 8) has its accept queue overflow, the
//! kernel drops the SYNs beyond it, and those clients wait out TCP's SYN back-off (1, 3, 7, 15,
//! 31, 63 s), which then measures the back-off, not the daemon.
//!
//! `inject --mode send --target 100.64.0.1:179 --src 100.64.0.10 --sessions 1 --routes 1000000`

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgp_core::wire::{
    encode_keepalive, frame, Capability, Family, Message, Negotiated, Nlri, Open,
};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

use bgpd_benches::clock::mono_ns;
use bgpd_benches::speaker::{connect, encode_table, handshake};

fn event(name: &str, detail: &str) {
    println!("{name} {} {detail}", mono_ns());
}

#[derive(Debug, Clone)]
struct Args {
    mode: String,
    target: SocketAddr,
    listen: SocketAddr,
    src: Ipv4Addr,
    sessions: usize,
    routes: usize,
    plen: u8,
    prefix_base: Ipv4Addr,
    asn: u32,
    peer_as: u32,
    hold: u16,
    max_secs: u64,
    router_id_base: Ipv4Addr,
    connect_window: usize,
    connect_timeout_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    parse_args_from(&argv)
}

fn parse_args_from<S: AsRef<str>>(argv: &[S]) -> Result<Args, String> {
    let mut a = Args {
        mode: "send".into(),
        target: "100.64.0.1:179".parse().map_err(|_| "addr")?,
        listen: "0.0.0.0:179".parse().map_err(|_| "addr")?,
        src: Ipv4Addr::new(100, 64, 0, 10),
        sessions: 1,
        routes: 1000,
        plen: 24,
        prefix_base: Ipv4Addr::new(10, 0, 0, 0),
        asn: 65001,
        peer_as: 64512,
        hold: 90,
        max_secs: 900,
        router_id_base: Ipv4Addr::new(192, 168, 0, 0),
        connect_window: 8,
        connect_timeout_ms: 1000,
    };
    let mut it = argv.iter().map(AsRef::as_ref);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = |_| format!("bad value for {k}: {v}");
        match k {
            "--mode" => a.mode = v.to_string(),
            "--target" => a.target = v.parse().map_err(|_| format!("bad {k}"))?,
            "--listen" => a.listen = v.parse().map_err(|_| format!("bad {k}"))?,
            "--src" => a.src = v.parse().map_err(|_| format!("bad {k}"))?,
            "--sessions" => a.sessions = v.parse().map_err(bad)?,
            "--routes" => a.routes = v.parse().map_err(bad)?,
            "--plen" => a.plen = v.parse().map_err(bad)?,
            "--prefix-base" => a.prefix_base = v.parse().map_err(|_| format!("bad {k}"))?,
            "--asn" => a.asn = v.parse().map_err(bad)?,
            "--peer-as" => a.peer_as = v.parse().map_err(bad)?,
            "--hold" => a.hold = v.parse().map_err(bad)?,
            "--max-secs" => a.max_secs = v.parse().map_err(bad)?,
            "--connect-window" => a.connect_window = v.parse().map_err(bad)?,
            "--connect-timeout-ms" => a.connect_timeout_ms = v.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

fn add_v4(a: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a).wrapping_add(n))
}

/// The `i`-th prefix of length `plen` from `base` (prefixes laid end to end).
fn nth_prefix(base: Ipv4Addr, plen: u8, i: usize) -> Nlri {
    let step = 1u32 << (32 - u32::from(plen));
    let addr = add_v4(base, (i as u32).wrapping_mul(step));
    Nlri::new(IpNet::V4(Ipv4Net::new(addr, plen).expect("plen <= 32")))
}

fn local_open(asn: u32, hold: u16, id: Ipv4Addr) -> Open {
    // No graceful restart: closing the session must withdraw everything at once.
    Open::new(
        asn,
        hold,
        id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    )
}

/// How connection attempts are paced (see the module's doc): a window of attempts in flight,
/// each bounded in time, retried after `retry_delay`.
struct Pacing {
    /// `None`: no limit.
    window: Option<Semaphore>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    retry_delay: Duration,
}

impl Pacing {
    fn new(a: &Args) -> Pacing {
        Pacing {
            window: (a.connect_window > 0).then(|| Semaphore::new(a.connect_window)),
            connect_timeout: Duration::from_millis(a.connect_timeout_ms.max(1)),
            handshake_timeout: Duration::from_secs(10),
            retry_delay: Duration::from_millis(200),
        }
    }

    /// Runs `attempt` until it succeeds, each run holding a place in the window (none is held
    /// while waiting to retry).
    async fn run<T, F, Fut>(&self, mut attempt: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        loop {
            let r = {
                let _permit = match &self.window {
                    Some(w) => w.acquire().await.ok(),
                    None => None,
                };
                attempt().await
            };
            match r {
                Ok(v) => return v,
                Err(e) => eprintln!("{e}"),
            }
            tokio::time::sleep(self.retry_delay).await;
        }
    }
}

/// One TCP connect from `src`, abandoned after `timeout` (a SYN the daemon's full accept queue
/// dropped is then sent again at once rather than after the kernel's back-off).
async fn connect_within(
    src: Ipv4Addr,
    target: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, connect(src, target)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("{src}: connect: {e}")),
        Err(_) => Err(format!("{src}: connect: no answer within {timeout:?}")),
    }
}

/// Connects and does the handshake, paced by `pacing`, with retries (the daemon may not listen
/// yet, or refuses while it starts).
async fn connect_retry(
    src: Ipv4Addr,
    a: &Args,
    open: &Open,
    pacing: &Pacing,
) -> (TcpStream, BytesMut, Negotiated) {
    pacing
        .run(|| async {
            let mut s = connect_within(src, a.target, pacing.connect_timeout).await?;
            let mut buf = BytesMut::with_capacity(64 * 1024);
            match tokio::time::timeout(pacing.handshake_timeout, handshake(&mut s, &mut buf, open))
                .await
            {
                Ok(Ok(ctx)) => Ok((s, buf, ctx)),
                Ok(Err(e)) => Err(format!("{src}: handshake: {e}")),
                Err(_) => Err(format!(
                    "{src}: handshake: not done within {:?}",
                    pacing.handshake_timeout
                )),
            }
        })
        .await
}

/// Per-session counters of the `rr` mode.
struct RrCounts {
    complete: AtomicUsize,
}

/// Reads and decodes what the daemon sends; in `rr` mode counts distinct client blocks.
async fn reader(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    ctx: Negotiated,
    count_blocks: Option<(Ipv4Addr, u8, usize, Arc<RrCounts>)>,
) {
    let mut seen: Vec<bool> = Vec::new();
    let mut have = 0usize;
    loop {
        loop {
            match frame(&buf, ctx.max_message_len()) {
                Ok(Some(len)) => {
                    let msg = buf.split_to(len).freeze();
                    if let Some((base, plen, n, counts)) = &count_blocks {
                        if let Ok(Message::Update(u)) = Message::decode(msg, &ctx) {
                            if seen.is_empty() {
                                seen = vec![false; *n];
                            }
                            let shift = 32 - u32::from(*plen);
                            for a in u.announced() {
                                for p in a.nlri {
                                    if let IpNet::V4(v4) = p.prefix {
                                        let off = u32::from(v4.network())
                                            .wrapping_sub(u32::from(*base))
                                            >> shift;
                                        if let Some(s) = seen.get_mut(off as usize) {
                                            if !*s {
                                                *s = true;
                                                have += 1;
                                                if have + 1 == *n {
                                                    counts.complete.fetch_add(1, Ordering::SeqCst);
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn keepalives(w: &mut tokio::net::tcp::OwnedWriteHalf, hold: u16) {
    let mut ka = BytesMut::new();
    let _ = encode_keepalive(&mut ka);
    let every = Duration::from_secs(u64::from((hold / 3).max(1)));
    loop {
        tokio::time::sleep(every).await;
        if w.write_all(&ka).await.is_err() {
            return;
        }
    }
}

async fn run_sessions(a: Args) {
    let rr = a.mode == "rr";
    let (go_tx, go_rx) = watch::channel(false);
    let (close_tx, close_rx) = watch::channel(false);
    let (flap_tx, flap_rx) = watch::channel(0u64);
    let (up_tx, mut up_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let counts = Arc::new(RrCounts {
        complete: AtomicUsize::new(0),
    });
    let pacing = Arc::new(Pacing::new(&a));
    let mut handles = Vec::new();
    for i in 0..a.sessions {
        let a = a.clone();
        let mut go_rx = go_rx.clone();
        let mut close_rx = close_rx.clone();
        let mut flap_rx = flap_rx.clone();
        let up_tx = up_tx.clone();
        let sent_tx = sent_tx.clone();
        let counts = counts.clone();
        let pacing = pacing.clone();
        handles.push(tokio::spawn(async move {
            let src = add_v4(a.src, i as u32);
            let id = add_v4(a.router_id_base, i as u32 + 1);
            let open = local_open(a.asn, a.hold, id);
            let mut flaps_seen = 0u64;
            loop {
                let (s, buf, ctx) = connect_retry(src, &a, &open, &pacing).await;
                let _ = up_tx.send(());
                // Pre-encode this session's table (before `go`, so `go` → `sent` is pure I/O).
                let table = if rr {
                    let p = nth_prefix(a.prefix_base, a.plen, i);
                    encode_table(&ctx, &[p], src, true)
                } else {
                    let nlri: Vec<Nlri> = (0..a.routes)
                        .map(|k| nth_prefix(a.prefix_base, a.plen, i * a.routes + k))
                        .collect();
                    encode_table(&ctx, &nlri, src, a.asn == a.peer_as)
                };
                let (r, mut w) = s.into_split();
                let count = rr.then(|| (a.prefix_base, a.plen, a.sessions, counts.clone()));
                let rd = tokio::spawn(reader(r, buf, ctx, count));
                let _ = go_rx.wait_for(|g| *g).await;
                if w.write_all(&table).await.is_ok() {
                    let _ = sent_tx.send(());
                }
                let flapped = tokio::select! {
                    _ = keepalives(&mut w, a.hold) => false,
                    _ = close_rx.wait_for(|c| *c) => false,
                    f = flap_rx.wait_for(|n| *n > flaps_seen) => f.is_ok(),
                };
                rd.abort();
                drop(w);
                if !flapped {
                    break;
                }
                flaps_seen = *flap_rx.borrow();
            }
        }));
    }
    drop(up_tx);
    drop(sent_tx);
    // Wait for every session, then go (send mode) or wait for `announce` (rr mode).
    let mut up = 0;
    while up < a.sessions {
        if up_rx.recv().await.is_none() {
            break;
        }
        up += 1;
        if up == 1 {
            event("up_first", "");
        }
    }
    event("all_up", &format!("{up}"));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut go_sent = false;
    if !rr {
        event("go", "");
        let _ = go_tx.send(true);
        go_sent = true;
        let mut sent = 0;
        while sent < a.sessions {
            if sent_rx.recv().await.is_none() {
                break;
            }
            sent += 1;
        }
        event("sent", &format!("{sent}"));
    }
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    let mut reported = false;
    // The flap round under way and how many sessions are up again in it.
    let (mut flap_round, mut reconnected) = (0u64, a.sessions);
    loop {
        tokio::select! {
            Some(()) = up_rx.recv(), if reconnected < a.sessions => {
                reconnected += 1;
                if reconnected == a.sessions {
                    event("flapped", &format!("{flap_round}"));
                }
            }
            line = stdin.next_line() => {
                match line.ok().flatten().as_deref().map(str::trim) {
                    Some("announce") if !go_sent => {
                        event("announced", "");
                        let _ = go_tx.send(true);
                        go_sent = true;
                    }
                    Some("status") => event("progress", &format!("{}", counts.complete.load(Ordering::SeqCst))),
                    Some("close") => {
                        let _ = close_tx.send(true);
                        for h in handles.drain(..) { let _ = h.await; }
                        event("closed", "");
                    }
                    Some("flap") if reconnected == a.sessions => {
                        flap_round += 1;
                        reconnected = 0;
                        event("flap", &format!("{flap_round}"));
                        let _ = flap_tx.send(flap_round);
                    }
                    Some("exit") | None => break,
                    Some(_) => {}
                }
            }
            _ = poll.tick(), if rr && go_sent && !reported => {
                if counts.complete.load(Ordering::SeqCst) >= a.sessions {
                    event("all_received", &format!("{}", a.sessions));
                    reported = true;
                }
            }
        }
    }
    let _ = close_tx.send(true);
}

/// One passive session that reads until End-of-RIB (`eor`), then idles until stdin closes.
async fn run_sink(a: Args) {
    let listener = match tokio::net::TcpListener::bind(a.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("listen {}: {e}", a.listen);
            return;
        }
    };
    event("listening", "");
    let Ok((mut s, _)) = listener.accept().await else {
        return;
    };
    let open = local_open(a.asn, a.hold, Ipv4Addr::new(192, 168, 255, 1));
    let mut buf = BytesMut::with_capacity(1 << 20);
    let ctx = match handshake(&mut s, &mut buf, &open).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sink handshake: {e}");
            return;
        }
    };
    event("established", "");
    let (mut r, mut w) = s.into_split();
    tokio::spawn(async move { keepalives(&mut w, 90).await });
    let mut prefixes = 0usize;
    let mut first = true;
    loop {
        while let Ok(Some(len)) = frame(&buf, ctx.max_message_len()) {
            let msg = buf.split_to(len).freeze();
            if let Ok(Message::Update(u)) = Message::decode(msg, &ctx) {
                if first {
                    event("first_update", "");
                    first = false;
                }
                if u.end_of_rib_family().is_some() {
                    event("eor", &format!("{prefixes}"));
                    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
                    while let Ok(Some(_)) = stdin.next_line().await {}
                    return;
                }
                prefixes += u.announced().map(|x| x.nlri.len()).sum::<usize>();
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                event("closed", &format!("{prefixes}"));
                return;
            }
            Ok(_) => {}
        }
    }
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("inject: {e}");
            std::process::exit(2);
        }
    };
    let max = Duration::from_secs(a.max_secs);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let work = async {
            match a.mode.as_str() {
                "sink" => run_sink(a).await,
                "send" | "rr" => run_sessions(a).await,
                m => eprintln!("inject: unknown mode {m}"),
            }
        };
        if tokio::time::timeout(max, work).await.is_err() {
            event("timeout", "");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn pacing(window: usize) -> Pacing {
        let mut a = parse_args_from::<&str>(&[]).unwrap();
        a.connect_window = window;
        let mut p = Pacing::new(&a);
        p.retry_delay = Duration::from_millis(1);
        p
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// 64 sessions connecting at once through a window of 8: never more than 8 attempts in
    /// flight, every session gets through, and failed attempts are retried.
    #[test]
    fn the_window_bounds_attempts_in_flight_and_failures_are_retried() {
        let p = Arc::new(pacing(8));
        let (now, max, tries) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let done = rt().block_on(async {
            let mut hs = Vec::new();
            for i in 0..64usize {
                let (p, now, max, tries) = (p.clone(), now.clone(), max.clone(), tries.clone());
                hs.push(tokio::spawn(async move {
                    let mut failed_once = false;
                    p.run(|| {
                        let (now, max, tries) = (now.clone(), max.clone(), tries.clone());
                        // Every odd session fails its first attempt.
                        let fail = i % 2 == 1 && !failed_once;
                        failed_once = true;
                        async move {
                            tries.fetch_add(1, Ordering::SeqCst);
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(n, Ordering::SeqCst);
                            // Let the others run while this attempt is in flight.
                            for _ in 0..5 {
                                tokio::task::yield_now().await;
                            }
                            now.fetch_sub(1, Ordering::SeqCst);
                            if fail {
                                Err("refused".to_string())
                            } else {
                                Ok(i)
                            }
                        }
                    })
                    .await
                }));
            }
            let mut done = Vec::new();
            for h in hs {
                done.push(h.await.unwrap());
            }
            done
        });
        assert_eq!(done, (0..64).collect::<Vec<_>>());
        assert_eq!(max.load(Ordering::SeqCst), 8, "attempts in flight at most");
        assert_eq!(
            tries.load(Ordering::SeqCst),
            64 + 32,
            "each failure retried once"
        );
        // Without a window, all 64 are in flight together.
        let p = pacing(0);
        let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        rt().block_on(async {
            let p = Arc::new(p);
            let mut hs = Vec::new();
            for _ in 0..64 {
                let (p, now, max) = (p.clone(), now.clone(), max.clone());
                hs.push(tokio::spawn(async move {
                    p.run(|| {
                        let (now, max) = (now.clone(), max.clone());
                        async move {
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(n, Ordering::SeqCst);
                            for _ in 0..5 {
                                tokio::task::yield_now().await;
                            }
                            now.fetch_sub(1, Ordering::SeqCst);
                            Ok::<(), String>(())
                        }
                    })
                    .await
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        });
        assert_eq!(max.load(Ordering::SeqCst), 64);
    }

    /// A listener whose accept queue is full drops further SYNs: the connect is abandoned at
    /// the connect timeout (and can be tried again) instead of waiting out the SYN back-off.
    #[test]
    fn a_connect_a_full_accept_queue_drops_is_abandoned_at_the_timeout() {
        rt().block_on(async {
            let l = tokio::net::TcpSocket::new_v4().unwrap();
            l.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = l.local_addr().unwrap();
            // Backlog 1, never accepting: the queue holds two connections.
            let _l = l.listen(1).unwrap();
            let lo = Ipv4Addr::LOCALHOST;
            let mut held = Vec::new();
            let timeout = Duration::from_millis(300);
            let abandoned = AtomicBool::new(false);
            for _ in 0..8 {
                match connect_within(lo, addr, timeout).await {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        assert!(e.contains("no answer within"), "{e}");
                        abandoned.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            assert!(abandoned.load(Ordering::SeqCst), "{} connected", held.len());
            assert!(!held.is_empty());
        });
    }

    #[test]
    fn the_pacing_flags_parse() {
        let a = parse_args_from::<&str>(&[]).unwrap();
        assert_eq!((a.connect_window, a.connect_timeout_ms), (8, 1000));
        let a = parse_args_from(&["--connect-window", "0", "--connect-timeout-ms", "250"]).unwrap();
        assert_eq!((a.connect_window, a.connect_timeout_ms), (0, 250));
        assert!(Pacing::new(&a).window.is_none());
        assert!(parse_args_from(&["--connect-window", "x"]).is_err());
    }
}
