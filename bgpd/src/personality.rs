//! DOC: BIRD's program names. One bgpd binary installed (linked or copied) under BIRD 1.6's
//! names behaves as that program, so calico-node's runit scripts, confd's check and reload
//! commands, its probes and `calicoctl node status` work unchanged:
//!
//! * `bird`, `bird6`: the daemon, with BIRD's flags (`-c -d -D -f -g -l -p -P -R -s -u`,
//!   `--version`, `--help`); the control socket's view is IPv4 (`bird`) or IPv6 (`bird6`).
//! * `birdc`, `birdcl`, `birdc6`, `birdcl6`: the client, as BIRD 1.6's light client
//!   (`client/client.c`, `client/birdcl.c`): `-s SOCKET`, `-v` (reply codes shown), `-r`
//!   (restricted), `-l`; command words on the command line (one command, then exit 0) or
//!   lines from standard input (`bird> ` prompt, each command echoed when stdin is not a
//!   terminal); the greeting and every reply line without its code, errors included, on
//!   standard output; "Unable to connect to server control socket (PATH): ERROR" on standard
//!   error and exit 1 when the socket cannot be reached.
//!
//! Default paths are those of Calico's BIRD build (`--runstatedir=/var/run/calico`).

use std::ffi::OsStr;
use std::io::{self, BufRead, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::status::IpFamily;

/// What the binary is, by the name it was started under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `bgpd` (or any other name): bgpd's own command line.
    Bgpd,
    /// `bird` / `bird6`.
    Daemon(IpFamily),
    /// `birdc`, `birdcl` / `birdc6`, `birdcl6`.
    Client(IpFamily),
}

impl Personality {
    /// The personality of `argv[0]` (its file name).
    pub fn of_argv0(arg0: &OsStr) -> Personality {
        let name = Path::new(arg0)
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("");
        match name {
            "bird" => Personality::Daemon(IpFamily::Ipv4),
            "bird6" => Personality::Daemon(IpFamily::Ipv6),
            "birdc" | "birdcl" => Personality::Client(IpFamily::Ipv4),
            "birdc6" | "birdcl6" => Personality::Client(IpFamily::Ipv6),
            _ => Personality::Bgpd,
        }
    }
}

/// The control socket of Calico's `bird` / `bird6`.
pub fn default_socket(f: IpFamily) -> &'static str {
    match f {
        IpFamily::Ipv4 => "/var/run/calico/bird.ctl",
        IpFamily::Ipv6 => "/var/run/calico/bird6.ctl",
    }
}

/// BIRD's default configuration file (`--sysconfdir=/etc`).
pub fn default_config(f: IpFamily) -> &'static str {
    match f {
        IpFamily::Ipv4 => "/etc/bird.conf",
        IpFamily::Ipv6 => "/etc/bird6.conf",
    }
}

fn local_name(f: IpFamily, ext: &str) -> PathBuf {
    PathBuf::from(match f {
        IpFamily::Ipv4 => format!("bird.{ext}"),
        IpFamily::Ipv6 => format!("bird6.{ext}"),
    })
}

/// Options in order (letter, argument) and the operands after them.
type Parsed = (Vec<(char, Option<String>)>, Vec<String>);

/// Minimal POSIX `getopt` over `args` (without `argv[0]`): `spec` lists option letters, a
/// letter followed by `:` takes an argument (`-sPATH` or `-s PATH`); options may be grouped
/// (`-dR`); `--` ends them. Returns the options in order and the remaining operands, or the
/// offending letter.
fn getopt(args: &[String], spec: &str) -> Result<Parsed, String> {
    let takes = |c: char| -> Option<bool> {
        let i = spec.find(c)?;
        Some(spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut opts = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        let Some(group) = a.strip_prefix('-').filter(|g| !g.is_empty()) else {
            break;
        };
        for (at, c) in group.char_indices() {
            match takes(c).filter(|_| c != ':') {
                None => return Err(format!("invalid option -- '{c}'")),
                Some(false) => opts.push((c, None)),
                Some(true) => {
                    let rest = &group[at + c.len_utf8()..];
                    let val = if !rest.is_empty() {
                        rest.to_string()
                    } else {
                        i += 1;
                        match args.get(i) {
                            Some(v) => v.clone(),
                            None => return Err(format!("option requires an argument -- '{c}'")),
                        }
                    };
                    opts.push((c, Some(val)));
                    break;
                }
            }
        }
        i += 1;
    }
    Ok((opts, args.get(i..).unwrap_or_default().to_vec()))
}

/// `bird` / `bird6` options, as BIRD 1.6 reads them (`sysdep/unix/main.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdDaemonArgs {
    /// `-c`.
    pub config: PathBuf,
    /// `-s`.
    pub socket: PathBuf,
    /// `-R`: graceful-restart recovery.
    pub recovery: bool,
    /// `-d` or `-f`: stay in the foreground.
    pub foreground: bool,
    /// `-p`: check the configuration and exit.
    pub parse_only: bool,
    /// `-P`: pid file.
    pub pidfile: Option<PathBuf>,
    /// `-D`: where diagnostics go instead of standard error.
    pub debug_file: Option<PathBuf>,
    /// `-u` / `-g`.
    pub user: Option<String>,
    /// `-g`.
    pub group: Option<String>,
}

/// What `bird` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAction {
    /// Run (or `-p`).
    Run(BirdDaemonArgs),
    /// `--version`.
    Version,
    /// `--help`.
    Help,
}

const DAEMON_USAGE: &str = "Usage: bird [--version] [--help] [-c <config-file>] [OPTIONS]";

const DAEMON_HELP: &str = "\nOptions: \n  -c <config-file>     Use given configuration file instead\n                       of prefix/etc/bird.conf\n  -d                   Enable debug messages and run bird in foreground\n  -D <debug-file>      Log debug messages to given file instead of stderr\n  -f                   Run bird in foreground\n  -g <group>           Use given group ID\n  -h, --help           Display this information\n  -l                   Look for a configuration file and a communication socket\n                       file in the current working directory\n  -p                   Test configuration file and exit without start\n  -P <pid-file>        Create a PID file with given filename\n  -R                   Apply graceful restart recovery after start\n  -s <control-socket>  Use given filename for a control socket\n  -u <user>            Drop privileges and use given user ID\n  --version            Display version of BIRD\n";

/// Parses `bird`'s arguments (without `argv[0]`).
pub fn parse_daemon_args(f: IpFamily, args: &[String]) -> Result<DaemonAction, String> {
    match args.first().map(String::as_str) {
        Some("--version") => return Ok(DaemonAction::Version),
        Some("--help") => return Ok(DaemonAction::Help),
        _ => {}
    }
    let (opts, rest) = getopt(args, "c:dD:ps:P:u:g:flRh")?;
    if let Some(r) = rest.first() {
        return Err(format!("unexpected argument '{r}'"));
    }
    let mut a = BirdDaemonArgs {
        config: PathBuf::from(default_config(f)),
        socket: PathBuf::from(default_socket(f)),
        recovery: false,
        foreground: false,
        parse_only: false,
        pidfile: None,
        debug_file: None,
        user: None,
        group: None,
    };
    let (mut config_set, mut socket_set, mut local) = (false, false, false);
    for (c, v) in opts {
        let v = v.unwrap_or_default();
        match c {
            'c' => {
                a.config = PathBuf::from(v);
                config_set = true;
            }
            'd' | 'f' => a.foreground = true,
            'D' => a.debug_file = Some(PathBuf::from(v)),
            'p' => a.parse_only = true,
            's' => {
                a.socket = PathBuf::from(v);
                socket_set = true;
            }
            'P' => a.pidfile = Some(PathBuf::from(v)),
            'u' => a.user = Some(v),
            'g' => a.group = Some(v),
            'l' => local = true,
            'R' => a.recovery = true,
            'h' => return Ok(DaemonAction::Help),
            _ => return Err(format!("invalid option -- '{c}'")),
        }
    }
    if local {
        if !config_set {
            a.config = local_name(f, "conf");
        }
        if !socket_set {
            a.socket = local_name(f, "ctl");
        }
    }
    Ok(DaemonAction::Run(a))
}

/// `bird` / `bird6`: the daemon under BIRD's command line.
pub fn daemon_main(f: IpFamily, prog: &str, args: &[String]) -> ExitCode {
    let a = match parse_daemon_args(f, args) {
        Ok(DaemonAction::Run(a)) => a,
        Ok(DaemonAction::Version) => {
            eprintln!("BIRD version {}", crate::control::bird::bird_version());
            return ExitCode::SUCCESS;
        }
        Ok(DaemonAction::Help) => {
            eprintln!("{DAEMON_USAGE}\n{DAEMON_HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{prog}: {e}\n\n{DAEMON_USAGE}");
            return ExitCode::from(1);
        }
    };
    if a.user.is_some() || a.group.is_some() {
        // BIRD switches user keeping CAP_NET_*; bgpd does not drop privileges.
        eprintln!("bird: -u and -g are not supported: run bgpd as a user with CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_NET_RAW");
        return ExitCode::from(1);
    }
    // A BIRD-syntax file is read as this BIRD's family; a TOML file as written (the name
    // only sets the control socket's view).
    let format = crate::config::ConfigFormat::of_path(&a.config);
    let load = crate::config::LoadOptions {
        format: None,
        family: (format == crate::config::ConfigFormat::Bird).then_some(match f {
            IpFamily::Ipv4 => crate::config::FamilyName::Ipv4,
            IpFamily::Ipv6 => crate::config::FamilyName::Ipv6,
        }),
    };
    // BIRD parses the configuration before it forks: errors reach the caller.
    let checked = crate::cli::bird_parse_check(&a.config, load);
    if a.parse_only || checked != ExitCode::SUCCESS {
        return checked;
    }
    if let Some(d) = &a.debug_file {
        if let Err(e) = redirect_stderr(d) {
            eprintln!("bird: Unable to open debug file {}: {e}", d.display());
            return ExitCode::from(1);
        }
    }
    if !a.foreground {
        // SAFETY: no thread has been started yet; daemon(3) forks and the parent exits.
        if unsafe { libc::daemon(1, i32::from(a.debug_file.is_some())) } != 0 {
            eprintln!("bird: Unable to fork: {}", io::Error::last_os_error());
            return ExitCode::from(1);
        }
    }
    if let Some(p) = &a.pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!("bird: Cannot write PID file {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let code = crate::daemon::run(crate::daemon::DaemonOptions {
        config_path: a.config,
        socket: Some(a.socket),
        recovery: a.recovery,
        load,
        view: Some(f),
    });
    if let Some(p) = &a.pidfile {
        let _ = std::fs::remove_file(p);
    }
    code
}

fn redirect_stderr(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // SAFETY: dup2 onto fd 2; `f` stays valid for the call.
    if unsafe { libc::dup2(f.as_raw_fd(), 2) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `birdcl` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdClientArgs {
    /// `-s`.
    pub socket: PathBuf,
    /// `-v`: print reply codes.
    pub verbose: bool,
    /// `-r`: restricted mode (`restrict` is sent first).
    pub restricted: bool,
    /// The command given on the command line (words joined by spaces), if any.
    pub command: Option<String>,
}

/// Parses `birdcl`'s arguments (without `argv[0]`).
pub fn parse_client_args(f: IpFamily, args: &[String]) -> Result<BirdClientArgs, String> {
    let (opts, rest) = getopt(args, "s:vrl")?;
    let mut a = BirdClientArgs {
        socket: PathBuf::from(default_socket(f)),
        verbose: false,
        restricted: false,
        command: (!rest.is_empty()).then(|| rest.join(" ")),
    };
    let (mut socket_set, mut local) = (false, false);
    for (c, v) in opts {
        match c {
            's' => {
                a.socket = PathBuf::from(v.unwrap_or_default());
                socket_set = true;
            }
            'v' => a.verbose = true,
            'r' => a.restricted = true,
            'l' => local = true,
            _ => return Err(format!("invalid option -- '{c}'")),
        }
    }
    if local && !socket_set {
        a.socket = local_name(f, "ctl");
    }
    Ok(a)
}

/// The C library's text for an errno (`%m`), without Rust's `(os error N)`.
fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            // SAFETY: strerror returns a pointer to a static or thread-local NUL-terminated
            // string that stays valid until the next call on this thread.
            let p = unsafe { libc::strerror(n) };
            if p.is_null() {
                return e.to_string();
            }
            // SAFETY: non-null, NUL-terminated (see above).
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        }
        None => e.to_string(),
    }
}

/// The client's session: reply lines printed as BIRD's client prints them.
struct Session<'a> {
    rd: io::BufReader<UnixStream>,
    wr: UnixStream,
    verbose: bool,
    out: &'a mut dyn Write,
}

/// Why the client stops with status 1 (BIRD's `die`).
struct Die(String);

impl Session<'_> {
    /// Reads and prints lines until the last line of a reply.
    fn reply(&mut self) -> Result<(), Die> {
        loop {
            let mut buf = Vec::new();
            let n = self
                .rd
                .read_until(b'\n', &mut buf)
                .map_err(|e| Die(format!("Server read error: {}", strerror(&e))))?;
            if n == 0 || buf.last() != Some(&b'\n') {
                return Err(Die("Connection closed by server.".into()));
            }
            buf.pop();
            let x = String::from_utf8_lossy(&buf);
            if self.line(&x) {
                let _ = self.out.flush();
                return Ok(());
            }
        }
    }

    /// `server_got_reply`: prints one line; true on the last line of a reply.
    fn line(&mut self, x: &str) -> bool {
        let b = x.as_bytes();
        if let Some(t) = x.strip_prefix('+') {
            let _ = writeln!(self.out, ">>> {t}");
        } else if let Some(t) = x.strip_prefix(' ') {
            let pad = if self.verbose { "     " } else { "" };
            let _ = writeln!(self.out, "{pad}{t}");
        } else if b.len() > 4
            && b.iter().take(4).all(u8::is_ascii_digit)
            && matches!(b.get(4), Some(b' ' | b'-'))
        {
            let code: u32 = x.get(..4).and_then(|c| c.parse().ok()).unwrap_or(0);
            if code != 0 {
                let t = if self.verbose {
                    x
                } else {
                    x.get(5..).unwrap_or("")
                };
                let _ = writeln!(self.out, "{t}");
            }
            return b.get(4) == Some(&b' ');
        } else {
            let _ = writeln!(self.out, "??? <{x}>");
        }
        false
    }

    fn send(&mut self, cmd: &str) -> Result<(), Die> {
        self.wr
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| Die(format!("Server write error: {}", strerror(&e))))
    }
}

/// Keywords the client knows, for BIRD's abbreviation expansion (`cmd_expand`): the first
/// word, then the word after `show`.
const COMMANDS: &[&str] = &[
    "show",
    "enable",
    "disable",
    "restart",
    "configure",
    "down",
    "reload",
    "restrict",
    "dump",
    "echo",
    "debug",
    "eval",
    "mrtdump",
    "quit",
    "exit",
    "help",
];
const SHOW: &[&str] = &[
    "status",
    "protocols",
    "route",
    "interfaces",
    "memory",
    "static",
    "symbols",
    "ospf",
    "rip",
    "bfd",
    "roa",
    "fib",
];

/// Expands one keyword from `table`: exact or unique prefix.
fn expand_word<'t>(w: &str, table: &[&'t str]) -> Result<&'t str, String> {
    if let Some(exact) = table.iter().find(|k| **k == w) {
        return Ok(exact);
    }
    let mut m: Vec<&str> = table.iter().copied().filter(|k| k.starts_with(w)).collect();
    if m.len() > 1 {
        // BIRD's client ranks `roa` below everything else: `sh ro` is `show route`.
        m.retain(|k| *k != "roa");
    }
    match m.as_slice() {
        [one] => Ok(one),
        [] => Err("No such command. Press `?' for help.".into()),
        _ => Err(format!(
            "Ambiguous command, possible expansions are:\n{}",
            m.join(" ")
        )),
    }
}

/// `cmd_expand`: abbreviated keywords expanded (`sh pro` is `show protocols`); an unknown
/// command is refused before anything is sent, as BIRD's client does.
pub fn expand_command(cmd: &str) -> Result<String, String> {
    let mut words = cmd.split_whitespace();
    let Some(first) = words.next() else {
        return Err("No such command. Press `?' for help.".into());
    };
    let first = expand_word(first, COMMANDS)?;
    let mut out = vec![first.to_string()];
    if first == "show" {
        if let Some(w) = words.next() {
            out.push(expand_word(w, SHOW)?.to_string());
        }
    }
    out.extend(words.map(str::to_string));
    Ok(out.join(" "))
}

/// `birdc` / `birdcl`: BIRD's light client.
pub fn client_main(f: IpFamily, prog: &str, args: &[String]) -> ExitCode {
    let a = match parse_client_args(f, args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{prog}: {e}\nUsage: {prog} [-s <control-socket>] [-v] [-r] [-l]");
            return ExitCode::from(1);
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    // SAFETY: isatty only inspects the descriptor.
    let interactive = a.command.is_none() && unsafe { libc::isatty(0) } == 1;
    match run_bird_client(&a, &mut input, interactive, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            let _ = out.flush();
            eprintln!("{msg}");
            ExitCode::from(1)
        }
    }
}

/// The client loop over `input` (standard input) and `out`. `Err` is the message BIRD's
/// client dies with (exit status 1).
pub fn run_bird_client(
    a: &BirdClientArgs,
    input: &mut dyn BufRead,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let stream = UnixStream::connect(&a.socket).map_err(|e| {
        format!(
            "Unable to connect to server control socket ({}): {}",
            a.socket.display(),
            strerror(&e)
        )
    })?;
    let wr = stream
        .try_clone()
        .map_err(|e| format!("fcntl: {}", strerror(&e)))?;
    let mut s = Session {
        rd: io::BufReader::new(stream),
        wr,
        verbose: a.verbose,
        out,
    };
    let r = (|| -> Result<(), Die> {
        s.reply()?; // the greeting
        if a.restricted {
            s.send("restrict")?;
            s.reply()?;
        }
        if let Some(cmd) = &a.command {
            match expand_command(cmd) {
                Ok(c) if c == "quit" || c == "exit" => {}
                Ok(c) => {
                    s.send(&c)?;
                    s.reply()?;
                }
                Err(msg) => {
                    let _ = writeln!(s.out, "{msg}");
                }
            }
            return Ok(());
        }
        loop {
            let _ = write!(s.out, "bird> ");
            let _ = s.out.flush();
            let mut line = String::new();
            let n = input.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                let _ = writeln!(s.out);
                return Ok(());
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if !interactive {
                let _ = writeln!(s.out, "{line}");
            }
            if line.is_empty() {
                continue;
            }
            match expand_command(line) {
                Ok(c) if c.starts_with("quit") || c.starts_with("exit") => return Ok(()),
                Ok(c) if c.starts_with("help") => {
                    let _ = writeln!(s.out, "Press `?' for context sensitive help.");
                }
                Ok(c) => {
                    s.send(&c)?;
                    s.reply()?;
                }
                Err(msg) => {
                    let _ = writeln!(s.out, "{msg}");
                }
            }
        }
    })();
    let _ = s.out.flush();
    r.map_err(|Die(m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names() {
        use Personality::*;
        assert_eq!(
            Personality::of_argv0(OsStr::new("/usr/bin/bird")),
            Daemon(IpFamily::Ipv4)
        );
        assert_eq!(
            Personality::of_argv0(OsStr::new("bird6")),
            Daemon(IpFamily::Ipv6)
        );
        assert_eq!(
            Personality::of_argv0(OsStr::new("/bin/birdcl")),
            Client(IpFamily::Ipv4)
        );
        assert_eq!(
            Personality::of_argv0(OsStr::new("birdc6")),
            Client(IpFamily::Ipv6)
        );
        assert_eq!(Personality::of_argv0(OsStr::new("bgpd")), Bgpd);
    }

    #[test]
    fn calico_runit_command_line() {
        let a = parse_daemon_args(
            IpFamily::Ipv4,
            &v(&[
                "-R",
                "-s",
                "/var/run/calico/bird.ctl",
                "-d",
                "-c",
                "/etc/calico/confd/config/bird.cfg",
            ]),
        )
        .unwrap();
        let DaemonAction::Run(a) = a else { panic!() };
        assert!(a.recovery && a.foreground && !a.parse_only);
        assert_eq!(a.socket, PathBuf::from("/var/run/calico/bird.ctl"));
        assert_eq!(a.config, PathBuf::from("/etc/calico/confd/config/bird.cfg"));
        let DaemonAction::Run(b) =
            parse_daemon_args(IpFamily::Ipv6, &v(&["-pc", "x.cfg"])).unwrap()
        else {
            panic!()
        };
        assert!(b.parse_only);
        assert_eq!(b.config, PathBuf::from("x.cfg"));
        assert_eq!(b.socket, PathBuf::from("/var/run/calico/bird6.ctl"));
        let DaemonAction::Run(l) = parse_daemon_args(IpFamily::Ipv6, &v(&["-l"])).unwrap() else {
            panic!()
        };
        assert_eq!(
            (l.config, l.socket),
            (PathBuf::from("bird6.conf"), PathBuf::from("bird6.ctl"))
        );
        assert!(parse_daemon_args(IpFamily::Ipv4, &v(&["-x"])).is_err());
        assert!(parse_daemon_args(IpFamily::Ipv4, &v(&["-c"])).is_err());
        assert_eq!(
            parse_daemon_args(IpFamily::Ipv4, &v(&["--version"])).unwrap(),
            DaemonAction::Version
        );
    }

    #[test]
    fn client_args_and_expansion() {
        let a = parse_client_args(IpFamily::Ipv4, &v(&["-s", "/x.ctl", "show", "status"])).unwrap();
        assert_eq!(a.socket, PathBuf::from("/x.ctl"));
        assert_eq!(a.command.as_deref(), Some("show status"));
        let a = parse_client_args(IpFamily::Ipv6, &v(&["-v"])).unwrap();
        assert!(a.verbose && a.command.is_none());
        assert_eq!(a.socket, PathBuf::from("/var/run/calico/bird6.ctl"));
        assert_eq!(expand_command("sh pro all").unwrap(), "show protocols all");
        assert_eq!(
            expand_command("show route for 10.0.0.1").unwrap(),
            "show route for 10.0.0.1"
        );
        assert!(expand_command("nonsense")
            .unwrap_err()
            .starts_with("No such command"));
        assert!(expand_command("d x").unwrap_err().starts_with("Ambiguous"));
    }
}
