//! DOC: the control socket: a BIRD 1.6-compatible CLI server on a unix socket, so Calico's
//! probes, `calicoctl node status`, `birdcl` and operators' scripts work unchanged against
//! bgpd, plus bgpd's own extensions (`show fib`, JSON answers).
//!
//! Parts: [`wire`] (request lines, numbered reply lines), [`command`] (the command language),
//! [`bird`] (BIRD's reply formats), [`json`] (the JSON envelope), and the server here (`thread`:
//! the daemon's control sockets each on a thread of its own).
//!
//! The server never holds anything the daemon needs: every [`Control`] call runs on tokio's
//! blocking pool and returns owned snapshots; `show route` pages through the RIB
//! ([`RouteQuery::offset`]/[`RouteQuery::limit`]) and writes each page before asking for the
//! next, and `show fib` writes the kernel's routes page by page as the dump is read
//! ([`Control::fib_pages`]), so memory stays bounded whatever the table size. A client that
//! stops reading only stalls its own task, and is dropped when a write makes no progress for
//! [`ServerOptions::write_timeout`]. Connections beyond [`ServerOptions::max_connections`]
//! are answered `8007 Too many connections` and closed at once, so a flood never makes a
//! probe wait.

// The language itself (commands, BIRD's reply formats, JSON) is the `bgpd-control` crate.
pub use bgpd_control::{bfd, bird, command, json, wire};

/// The daemon's control socket served from a thread of its own.
pub(crate) mod thread;

use std::future::Future;
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_core::driver::Admin;
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::status::{Control, ControlError, FibEntry, IpFamily, ProtocolStatus, RouteQuery};

use self::bird::TimeFmt;
use self::command::{Command, ParseError, ProtoArg, RouteArgs};
use self::json::JSON_CODE;
use self::wire::{Fragments, LineReader, ReplyWriter, Request};

/// Where the daemon listens and the CLI connects unless told otherwise (`-s`, or the config's
/// control socket setting).
pub const DEFAULT_SOCKET: &str = "/run/bgpd/bgpd.ctl";

/// Tunables of the control server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections served at once; more are refused with `8007`.
    pub max_connections: usize,
    /// A connection with no request for this long is closed (BIRD keeps them forever; we
    /// must not let idle clients hold every slot).
    pub idle_timeout: Duration,
    /// A write that makes no progress for this long drops the connection.
    pub write_timeout: Duration,
    /// Routes asked of [`Control::routes`] per page: large enough that a million routes take
    /// ~120 calls (each may cost the core a walk of its table to reach the offset), small
    /// enough that a page in flight stays a few MB.
    pub route_page: usize,
    /// `show fib` rows per page asked of [`Control::fib_pages`]: a page in flight is a few
    /// hundred KB, however many routes the kernel holds.
    pub fib_page: usize,
    /// The clock (tests pin it).
    pub now: fn() -> SystemTime,
    /// UTC offset in seconds; `None` = the system's local time, as BIRD.
    pub utc_offset: Option<i64>,
    /// The socket's view: one family's routes and BGP neighbours only (BIRD 1.6's `bird` and
    /// `bird6` each know one family), or both.
    pub view: Option<IpFamily>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(30),
            route_page: 8192,
            fib_page: 2048,
            now: SystemTime::now,
            utc_offset: None,
            view: None,
        }
    }
}

/// Serves the control socket at `path` until the future is dropped. Removes a stale socket
/// file first (refuses to start when another process still answers on it), creates the
/// parent directory, and sets the socket's mode to 0660. Returns only on a bind error.
pub fn serve(
    path: PathBuf,
    control: Arc<dyn Control>,
) -> impl Future<Output = io::Result<()>> + Send {
    serve_with(path, control, ServerOptions::default())
}

/// [`serve`] with options.
pub async fn serve_with(
    path: PathBuf,
    control: Arc<dyn Control>,
    opts: ServerOptions,
) -> io::Result<()> {
    let listener = bind(&path)?;
    serve_listener(listener, control, opts).await
}

/// Binds the control socket (see [`serve`]). Needs a tokio runtime.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another daemon is listening", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves connections from a bound listener until the future is dropped.
pub async fn serve_listener(
    listener: UnixListener,
    control: Arc<dyn Control>,
    opts: ServerOptions,
) -> io::Result<()> {
    let opts = Arc::new(opts);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE, ENFILE, ECONNABORTED...: transient; back off instead of spinning.
                tracing::warn!("control socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let control = control.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, control, opts).await {
                        tracing::debug!("control connection: {e}");
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                // Never wait on a refused client: one non-blocking write into an empty socket
                // buffer, then close.
                let _ = stream.try_write(b"8007 Too many connections\n");
            }
        }
    }
}

struct Conn {
    /// `restrict` was sent: only `show` commands from now on.
    restricted: bool,
    wr: OwnedWriteHalf,
    w: ReplyWriter,
    control: Arc<dyn Control>,
    opts: Arc<ServerOptions>,
}

/// Bytes buffered before a flush in the middle of a long reply.
const FLUSH_AT: usize = 32 * 1024;

async fn connection(
    stream: UnixStream,
    control: Arc<dyn Control>,
    opts: Arc<ServerOptions>,
) -> io::Result<()> {
    let (mut rd, wr) = stream.into_split();
    let mut c = Conn {
        restricted: false,
        wr,
        w: ReplyWriter::new(),
        control,
        opts,
    };
    c.w.last(1, &format!("BIRD {} ready.", bird::bird_version()));
    c.flush().await?;
    let mut lines = LineReader::new();
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(req) = lines.next_line() {
            match req {
                Request::TooLong => c.w.last(9000, "Command too long"),
                Request::Line(l) => c.request(&l).await?,
            }
            c.flush().await?;
        }
        let n = match tokio::time::timeout(c.opts.idle_timeout, rd.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            // The client closed its side (or both): everything it sent has been answered.
            return Ok(());
        }
        lines.push(buf.get(..n).unwrap_or_default());
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client does not read")
}

impl Conn {
    async fn flush(&mut self) -> io::Result<()> {
        let bytes = self.w.take();
        if bytes.is_empty() {
            return Ok(());
        }
        // write_all may make progress in pieces; bound each piece, not the whole reply, so a
        // slow but live reader of a million routes is not cut off.
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = tokio::time::timeout(self.opts.write_timeout, self.wr.write(rest))
                .await
                .map_err(|_| timed_out())??;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            rest = rest.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.w.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Runs a [`Control`] call on the blocking pool.
    async fn call<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Control) -> T + Send + 'static,
    {
        let control = self.control.clone();
        tokio::task::spawn_blocking(move || f(&*control))
            .await
            .map_err(io::Error::other)
    }

    fn tf(&self) -> TimeFmt {
        TimeFmt {
            now: (self.opts.now)(),
            utc_offset: self.opts.utc_offset,
        }
    }

    async fn request(&mut self, line: &str) -> io::Result<()> {
        let parsed = match command::parse(line) {
            Ok(p) => p,
            Err(ParseError::Syntax(m)) => {
                self.w.last(9001, &m);
                return Ok(());
            }
        };
        let json = parsed.json;
        let changes_state = matches!(
            parsed.command,
            Command::Enable(_)
                | Command::Disable(..)
                | Command::Restart(_)
                | Command::Configure
                | Command::Down
        );
        if self.restricted && changes_state {
            self.w.last(8007, "Access denied");
            return Ok(());
        }
        match parsed.command {
            Command::Restrict => {
                self.restricted = true;
                self.done(json, 16, "Access restricted");
            }
            Command::ShowStatus => {
                let s = self.call(|c| c.status()).await?;
                if json {
                    self.w.fragments(JSON_CODE, &json::envelope("status", &s));
                    self.w.last(0, "");
                } else {
                    let tf = self.tf();
                    bird::status(&mut self.w, &s, &tf);
                }
            }
            Command::ShowProtocols { all, which } => {
                let ps = self.protocols().await?;
                let ps: Vec<ProtocolStatus> = match &which {
                    None => ps,
                    Some(w) => ps.into_iter().filter(|p| w.matches(&p.name)).collect(),
                };
                if ps.is_empty() {
                    if let Some(w) = &which {
                        self.no_protocol(w);
                        return Ok(());
                    }
                }
                if json {
                    self.w
                        .fragments(JSON_CODE, &json::envelope("protocols", &ps));
                } else {
                    let tf = self.tf();
                    let bfd = if all {
                        self.call(|c| c.bfd_sessions()).await?
                    } else {
                        Vec::new()
                    };
                    let recovering = self.call(|c| c.status()).await?.graceful_restart.is_some();
                    bird::protocols_heading(&mut self.w);
                    for p in &ps {
                        bird::protocol_row(&mut self.w, p, recovering, &tf);
                        if all {
                            bird::protocol_details_then(&mut self.w, p, &mut |w| {
                                bfd::protocol_lines(w, &p.name, &bfd)
                            });
                        }
                        self.maybe_flush().await?;
                    }
                }
                self.w.last(0, "");
            }
            Command::ShowRoute(args) => self.show_route(args, json).await?,
            Command::ShowFib => self.show_fib(json).await?,
            Command::ShowBfdSessions => {
                let list = self.call(|c| c.bfd_sessions()).await?;
                if json {
                    self.w
                        .fragments(JSON_CODE, &json::envelope("bfd_sessions", &list));
                } else {
                    let tf = self.tf();
                    bfd::sessions(&mut self.w, &list, &tf);
                }
                self.w.last(0, "");
            }
            Command::Enable(p) => self.apply(p, json, Action::Enable).await?,
            Command::Disable(p, msg) => self.apply(p, json, Action::Disable(msg)).await?,
            Command::Restart(p) => self.apply(p, json, Action::Restart).await?,
            Command::Configure => match self.call(|c| c.reload()).await? {
                Ok(()) => self.done(json, 3, "Reconfigured"),
                Err(ControlError::ShuttingDown) => {
                    self.done(json, 6, "Reconfiguration ignored, shutting down")
                }
                Err(e) => self.error(&e),
            },
            Command::Down => {
                self.call(|c| c.shutdown()).await?;
                self.done(json, 7, "Shutdown ordered");
            }
        }
        Ok(())
    }

    /// The protocols this socket shows: with a one-family view, BGP neighbours of the other
    /// family are not there (they would be in the other BIRD).
    async fn protocols(&self) -> io::Result<Vec<ProtocolStatus>> {
        let view = self.opts.view;
        let ps = self.call(|c| c.protocols()).await?;
        Ok(ps
            .into_iter()
            .filter(|p| match (view, &p.bgp) {
                (Some(f), Some(b)) => IpFamily::of_addr(&b.neighbor_address) == f,
                _ => true,
            })
            .collect())
    }

    /// A one-line success (`0003 Reconfigured`), or its JSON form.
    fn done(&mut self, json: bool, code: u16, text: &str) {
        if json {
            self.w
                .fragments(JSON_CODE, &json::envelope("result", &[text]));
            self.w.last(0, "");
        } else {
            self.w.last(code, text);
        }
    }

    fn no_protocol(&mut self, which: &ProtoArg) {
        match which {
            ProtoArg::Name(n) => self.w.last(9002, &format!("{n} is not a protocol")),
            ProtoArg::Pattern(_) => self.w.last(8003, "No protocols match"),
        }
    }

    fn error(&mut self, e: &ControlError) {
        match e {
            ControlError::NoSuchProtocol(n) => self.w.last(9002, &format!("{n} is not a protocol")),
            ControlError::NotInTable => self.w.last(8001, "Network not in table"),
            e @ (ControlError::Config(_)
            | ControlError::NoConfigFile
            | ControlError::RestartRequired(_)
            | ControlError::Listen { .. }
            | ControlError::ReloadTimeout(_)) => self.w.last(8002, &e.to_string()),
            ControlError::ShuttingDown => self.w.last(8009, "Shutdown in progress"),
        }
    }

    async fn apply(&mut self, which: ProtoArg, json: bool, action: Action) -> io::Result<()> {
        let names: Vec<String> = match &which {
            ProtoArg::Name(n) => vec![n.clone()],
            ProtoArg::Pattern(_) => {
                let ps = self.protocols().await?;
                ps.into_iter()
                    .map(|p| p.name)
                    .filter(|n| which.matches(n))
                    .collect()
            }
        };
        if names.is_empty() {
            self.no_protocol(&which);
            return Ok(());
        }
        let (code, word) = match action {
            Action::Enable => (11, "enabled"),
            Action::Disable(_) => (9, "disabled"),
            Action::Restart => (12, "restarted"),
        };
        let mut done = Vec::new();
        for name in names {
            let a = action.clone();
            let n = name.clone();
            let r = self
                .call(move |c| {
                    c.admin(
                        &n,
                        match a {
                            Action::Enable => Admin::Enable,
                            Action::Disable(m) => Admin::Disable(m),
                            Action::Restart => Admin::Restart,
                        },
                    )
                })
                .await?;
            match r {
                Ok(()) => done.push(format!("{name}: {word}")),
                Err(e) => {
                    // BIRD stops at the first failure; what was done is still reported.
                    if !json {
                        for d in &done {
                            self.w.cont(code, d);
                        }
                    }
                    self.error(&e);
                    return Ok(());
                }
            }
        }
        if json {
            self.w
                .fragments(JSON_CODE, &json::envelope("result", &done));
        } else {
            for d in &done {
                self.w.cont(code, d);
            }
        }
        self.w.last(0, "");
        Ok(())
    }

    async fn show_route(&mut self, mut args: RouteArgs, json: bool) -> io::Result<()> {
        let view = self.opts.view;
        if let (Some(f), Some(p)) = (view, args.prefix) {
            if IpFamily::of_net(&p) != f {
                // BIRD's grammar reads addresses of its own family only.
                self.w.last(9001, "syntax error");
                return Ok(());
            }
        }
        if let (true, Some(p)) = (args.longest_match, args.prefix) {
            // `show route for X`: the longest network containing X, then as `show route NET`.
            let found = self
                .call(move |c| {
                    (0..=p.prefix_len()).rev().find_map(|len| {
                        let net = IpNet::new(p.addr(), len).ok()?.trunc();
                        let q = RouteQuery {
                            family: view,
                            prefix: Some(net),
                            limit: 1,
                            ..RouteQuery::default()
                        };
                        (!c.routes(&q).is_empty()).then_some(net)
                    })
                })
                .await?;
            match found {
                Some(net) => args.prefix = Some(net),
                None => {
                    self.w.last(8001, "Network not in table");
                    return Ok(());
                }
            }
        }
        if let Some(p) = &args.protocol {
            let p = p.clone();
            let known = self.protocols().await?.iter().any(|x| x.name == p);
            if !known {
                self.w.last(
                    9001,
                    &format!(
                        "{} is not a protocol",
                        args.protocol.as_deref().unwrap_or("")
                    ),
                );
                return Ok(());
            }
        }
        let filtered = args.prefix.is_some() || args.protocol.is_some() || args.primary;
        if args.count && !filtered {
            let (routes, nets) = self.call(move |c| c.route_count_of(view)).await?;
            self.count_reply(json, routes, routes, nets);
            return Ok(());
        }
        if let (true, None, Some(name), false) =
            (args.count, args.prefix, args.protocol.clone(), args.primary)
        {
            // A monitoring loop's `show route count protocol X`: counters, not a walk.
            let counted = self
                .call(move |c| {
                    let shown = c.protocol_route_count(&name, view)?;
                    Some((shown, c.route_count_of(view)))
                })
                .await?;
            if let Some((shown, (routes, nets))) = counted {
                self.count_reply(json, shown, routes, nets);
                return Ok(());
            }
        }
        let page = self.opts.route_page.max(1);
        let mut q = RouteQuery {
            family: view,
            prefix: args.prefix,
            protocol: args.protocol.clone(),
            primary_only: args.primary,
            offset: 0,
            resume: None,
            limit: page,
        };
        let tf = self.tf();
        let mut shown: u64 = 0;
        // BIRD prints a network's prefix on its first route shown only (`rt_show_net`).
        let mut last_net = None;
        loop {
            let qq = q.clone();
            let routes = self.call(move |c| c.routes(&qq)).await?;
            let n = routes.len();
            if !args.count {
                for r in &routes {
                    if json {
                        let sep = if shown == 0 { "{\"routes\":[" } else { "," };
                        let item = format!("{sep}{}", json::to_string(r));
                        self.w.fragments(JSON_CODE, &item);
                    } else {
                        let first = last_net != Some(r.prefix);
                        last_net = Some(r.prefix);
                        bird::route(&mut self.w, r, first, args.all, &tf);
                    }
                    shown += 1;
                }
                self.maybe_flush().await?;
            } else {
                shown += n as u64;
            }
            // A short page is the last; so is a long one (a core that ignores `limit` has
            // answered everything at once, and must not be asked again).
            if n != page {
                break;
            }
            // The next page resumes with the last network shown: its routes not shown yet,
            // then the networks after it.
            if let Some(last) = routes.last().map(|r| r.prefix) {
                let tail = routes.iter().rev().take_while(|r| r.prefix == last).count();
                let before = match q.resume {
                    Some((net, k)) if net == last && tail == n => k,
                    _ => 0,
                };
                q.resume = Some((last, before + tail));
            }
            q.offset += n;
        }
        if args.count {
            let (routes, nets) = self.call(move |c| c.route_count_of(view)).await?;
            // BIRD 1.6 counts the routes it looked at: with `primary` only the first route
            // of each network.
            let routes = if args.primary { nets } else { routes };
            self.count_reply(json, shown, routes, nets);
            return Ok(());
        }
        if shown == 0 {
            if let Some(prefix) = args.prefix {
                // BIRD: `8001` when the network is not in the table at all; an empty answer
                // when it is but the filters drop every route.
                let exists = filtered
                    && (args.protocol.is_some() || args.primary)
                    && self
                        .call(move |c| {
                            !c.routes(&RouteQuery {
                                family: view,
                                prefix: Some(prefix),
                                limit: 1,
                                ..RouteQuery::default()
                            })
                            .is_empty()
                        })
                        .await?;
                if !exists {
                    self.w.last(8001, "Network not in table");
                    return Ok(());
                }
            }
            if json {
                self.w.fragments(JSON_CODE, "{\"routes\":[");
            }
        }
        if json {
            self.w.fragments(JSON_CODE, "]}");
        }
        self.w.last(0, "");
        Ok(())
    }

    /// `show fib`: the rows come from [`Control::fib_pages`] on the blocking pool through a
    /// channel one page deep, and each page is written before the next is taken, so a table
    /// of any size costs a few pages of memory. A client that stops reading holds the kernel
    /// dump back; one that goes away ends it.
    ///
    /// JSON: `{"fib":{"routes":[...],"counts":{...}}}`, the rows written as they come, each
    /// with its keys sorted as the whole document built with `json!` had them; the counts,
    /// known at the end only, come last (the whole document had them first, by key order).
    async fn show_fib(&mut self, json: bool) -> io::Result<()> {
        let max = self.opts.fib_page.max(1);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<FibEntry>>(1);
        let control = self.control.clone();
        let dump = tokio::task::spawn_blocking(move || {
            control.fib_pages(max, &mut |rows| match tx.blocking_send(rows) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            })
        });
        let mut doc = Fragments::new(JSON_CODE);
        if json {
            doc.push(&mut self.w, "{\"fib\":{\"routes\":[");
        } else {
            bird::fib_heading(&mut self.w);
        }
        let mut first = true;
        while let Some(rows) = rx.recv().await {
            for e in &rows {
                if json {
                    if !first {
                        doc.push(&mut self.w, ",");
                    }
                    doc.push(&mut self.w, &json::to_sorted_string(e));
                } else {
                    bird::fib_row(&mut self.w, e);
                }
                first = false;
                self.maybe_flush().await?;
            }
        }
        let counts = dump.await.map_err(io::Error::other)?;
        if json {
            doc.push(&mut self.w, "],\"counts\":");
            doc.push(&mut self.w, &json::to_sorted_string(&counts));
            doc.push(&mut self.w, "}}");
            doc.finish(&mut self.w);
            self.w.last(0, "");
        } else {
            bird::fib_summary(&mut self.w, &counts);
        }
        Ok(())
    }

    fn count_reply(&mut self, json: bool, shown: u64, routes: u64, nets: u64) {
        if json {
            let doc = serde_json::json!({ "shown": shown, "routes": routes, "networks": nets });
            self.w.fragments(JSON_CODE, &json::envelope("count", &doc));
            self.w.last(0, "");
        } else {
            bird::route_count(&mut self.w, shown, routes, nets);
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Enable,
    Disable(String),
    Restart,
}
