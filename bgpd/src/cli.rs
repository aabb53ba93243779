//! DOC: the `bgpd` command line: run the daemon (`bgpd -c FILE`, BIRD's `-R`, `-s`, `-d`
//! accepted with BIRD's meaning, so Calico's `bird` command line works unchanged), check a
//! config (`--check`), or act as the control-socket client (`bgpd [-s PATH] show ...`).
//!
//! The client speaks the BIRD 1.6 wire protocol ([`crate::control::wire`]) over a blocking
//! unix socket. Human output is what `birdc` prints (the greeting, then every reply line
//! without its code; errors on standard error); `--json` sends the request with the `json`
//! prefix and prints the reassembled document. Exit codes: 0 ok, 1 error reply, 2 cannot
//! connect or the connection failed.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::control::json::{self, JSON_CODE};
use crate::control::DEFAULT_SOCKET;

/// The config file read when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/bgpd/bgpd.toml";

/// bgpd: a BGP daemon for Linux hosts, and its control client.
#[derive(Debug, Parser)]
#[command(name = "bgpd", version = crate::VERSION, infer_subcommands = true)]
pub struct Args {
    /// Configuration file (daemon mode).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration file and exit (0 when valid; errors as FILE:LINE:COL).
    #[arg(long = "check", alias = "parse")]
    pub check: bool,
    /// Control socket (default: the `control_socket` of the config given with -c, else
    /// /run/bgpd/bgpd.ctl).
    #[arg(short = 's', long = "socket", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Start in graceful-restart recovery (BIRD -R).
    #[arg(short = 'R', long = "recovery")]
    pub recovery: bool,
    /// Parse the configuration and exit, as BIRD's `-p`: exit 0 when valid; otherwise exit 1
    /// and BIRD 1.6.8's `bird: FILE:LINE:COL message` on standard error.
    #[arg(short = 'p')]
    pub parse_only: bool,
    /// Configuration language: `toml` or `bird` (default: `.toml` files are TOML, others BIRD).
    #[arg(long = "config-format", value_name = "FORMAT")]
    pub config_format: Option<crate::config::ConfigFormat>,
    /// The one address family handled, `ipv4` or `ipv6` (default: BIRD syntax IPv4, TOML both).
    #[arg(long = "family", value_name = "FAMILY", value_parser = parse_family)]
    pub family: Option<crate::config::FamilyName>,
    /// Stay in the foreground (BIRD -d; bgpd never daemonizes, so this changes nothing).
    #[arg(short = 'd', long = "foreground")]
    pub foreground: bool,
    /// Client command; none runs the daemon.
    #[command(subcommand)]
    pub command: Option<ClientCommand>,
}

fn parse_family(s: &str) -> Result<crate::config::FamilyName, String> {
    match s {
        "ipv4" | "4" => Ok(crate::config::FamilyName::Ipv4),
        "ipv6" | "6" => Ok(crate::config::FamilyName::Ipv6),
        _ => Err(format!("unknown family {s:?} (ipv4 or ipv6)")),
    }
}

impl Args {
    /// How to read the config file.
    pub fn load_options(&self) -> crate::config::LoadOptions {
        crate::config::LoadOptions {
            format: self.config_format,
            family: self.family,
        }
    }
}

/// BIRD's `-p`: 0 when `path` is a valid configuration; else 1 and BIRD's message form (the
/// first problem) on standard error.
pub fn bird_parse_check(path: &Path, opts: crate::config::LoadOptions) -> ExitCode {
    match crate::config::Config::load_with(path, opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            for err in e.0.iter().take(1) {
                eprintln!("{}", crate::config::bird::bird_message(err));
            }
            ExitCode::from(1)
        }
    }
}

/// Control-socket commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ClientCommand {
    /// Show daemon state.
    Show {
        /// What.
        #[command(subcommand)]
        what: Show,
    },
    /// Enable a protocol (name or quoted "pattern*").
    Enable {
        /// Protocol.
        peer: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Disable a protocol (sends Cease / Administrative Shutdown).
    Disable {
        /// Protocol.
        peer: String,
        /// Shutdown communication sent to the peer.
        message: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Restart a protocol.
    Restart {
        /// Protocol.
        peer: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration file and apply it (BIRD `configure`).
    #[command(alias = "configure")]
    Reload {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Shut the daemon down.
    Down {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `show` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Show {
    /// Version, router ID, times, graceful-restart recovery.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Protocols: `show protocols [all] [NAME]`.
    #[command(alias = "protocol")]
    Protocols {
        /// `all` for details, then an optional protocol name or "pattern*".
        args: Vec<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Routes: `show route [PREFIX] [table T] [all] [count] [protocol P] [primary]`.
    Route {
        /// Arguments, in any order, as in BIRD.
        args: Vec<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// One BGP neighbour in detail (`show protocols all NAME`).
    Neighbor {
        /// Protocol name.
        name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Routes in the kernel and FIB counters.
    Fib {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// BFD: `show bfd sessions`.
    Bfd {
        /// `sessions`.
        #[arg(value_parser = ["sessions"], default_value = "sessions")]
        what: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Quotes a protocol argument for the wire when it is a pattern.
fn proto_word(s: &str) -> String {
    if s.contains(['*', '?']) && !s.starts_with('"') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

impl ClientCommand {
    /// The request line (without the `json ` prefix) and whether JSON was asked for.
    pub fn request(&self) -> (String, bool) {
        match self {
            ClientCommand::Show { what } => match what {
                Show::Status { json } => ("show status".into(), *json),
                Show::Protocols { args, json } => {
                    let mut s = String::from("show protocols");
                    for a in args {
                        s.push(' ');
                        s.push_str(&proto_word(a));
                    }
                    (s, *json)
                }
                Show::Route { args, json } => {
                    let mut s = String::from("show route");
                    for a in args {
                        s.push(' ');
                        s.push_str(a);
                    }
                    (s, *json)
                }
                Show::Neighbor { name, json } => {
                    (format!("show protocols all {}", proto_word(name)), *json)
                }
                Show::Fib { json } => ("show fib".into(), *json),
                Show::Bfd { json, .. } => ("show bfd sessions".into(), *json),
            },
            ClientCommand::Enable { peer, json } => (format!("enable {}", proto_word(peer)), *json),
            ClientCommand::Disable {
                peer,
                message,
                json,
            } => {
                let mut s = format!("disable {}", proto_word(peer));
                if let Some(m) = message {
                    s.push_str(&format!(" \"{}\"", m.replace('"', "'")));
                    // (control characters are refused in `main`, with every argument)
                }
                (s, *json)
            }
            ClientCommand::Restart { peer, json } => {
                (format!("restart {}", proto_word(peer)), *json)
            }
            ClientCommand::Reload { json } => ("configure".into(), *json),
            ClientCommand::Down { json } => ("down".into(), *json),
        }
    }
}

/// Options the daemon is started with (mirrors `daemon::DaemonOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonArgs {
    /// Config file.
    pub config_path: PathBuf,
    /// `-s`.
    pub socket: Option<PathBuf>,
    /// `-R`.
    pub recovery: bool,
    /// `--config-format`, `--family`.
    pub load: crate::config::LoadOptions,
}

/// Entry points of the daemon core.
///
/// MERGE: STAND-IN until the `daemon` branch lands; replace each body by the line in its
/// comment (three functions, one line each).
mod core_entry {
    use super::DaemonArgs;
    use std::path::Path;
    use std::process::ExitCode;

    /// Loads and validates a config; the error text is `FILE:LINE:COL: KEY: message` lines.
    pub fn check(path: &Path, opts: crate::config::LoadOptions) -> Result<(), String> {
        crate::config::Config::load_with(path, opts)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The control socket a config file names (`control_socket`), for the client.
    pub fn socket_from_config(path: &Path) -> Option<std::path::PathBuf> {
        crate::config::Config::load(path)
            .ok()
            .map(|c| c.file.control_socket)
    }

    /// Runs the daemon until it stops.
    pub fn run(a: DaemonArgs) -> ExitCode {
        crate::daemon::run(crate::daemon::DaemonOptions {
            config_path: a.config_path,
            socket: a.socket,
            recovery: a.recovery,
            load: a.load,
            view: None,
        })
    }
}

/// `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(cmd) => {
            // -s, else the socket of the config named with -c, else the default.
            let socket = args
                .socket
                .or_else(|| {
                    args.config
                        .as_deref()
                        .and_then(core_entry::socket_from_config)
                })
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
            let (line, json) = cmd.request();
            if line.chars().any(char::is_control) {
                // A newline would smuggle a second command onto the socket.
                eprintln!("bgpd: arguments must not contain control characters");
                return ExitCode::from(2);
            }
            let stdout = io::stdout();
            let mut out = stdout.lock();
            match run_client(&socket, &line, json, &mut out) {
                Ok(code) => code,
                Err(ClientError::Connect(e)) => {
                    eprintln!("bgpd: cannot connect to {}: {e}", socket.display());
                    ExitCode::from(2)
                }
                Err(ClientError::Io(e)) => {
                    eprintln!("bgpd: {}: {e}", socket.display());
                    ExitCode::from(2)
                }
            }
        }
        None => {
            let load = args.load_options();
            let config_path = args.config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
            if args.parse_only {
                return bird_parse_check(&config_path, load);
            }
            if args.check {
                return match core_entry::check(&config_path, load) {
                    Ok(()) => {
                        println!("{}: configuration OK", config_path.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{}", e.trim_end());
                        ExitCode::from(1)
                    }
                };
            }
            core_entry::run(DaemonArgs {
                config_path,
                socket: args.socket,
                recovery: args.recovery,
                load,
            })
        }
    }
}

/// Why the client failed.
#[derive(Debug)]
pub enum ClientError {
    /// Could not connect (exit 2).
    Connect(io::Error),
    /// The connection failed or the server spoke nonsense (exit 2).
    Io(io::Error),
}

/// One parsed reply line: its code (the previous one for a `" "` continuation), whether it is
/// the last line, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// Code.
    pub code: u16,
    /// `NNNN ` (last line of the reply).
    pub last: bool,
    /// Text after the prefix.
    pub text: String,
}

/// Parses a reply line (newline removed); `prev` is the code of the line before.
pub fn parse_reply_line(line: &str, prev: u16) -> Option<ReplyLine> {
    if let Some(text) = line.strip_prefix(' ') {
        return Some(ReplyLine {
            code: prev,
            last: false,
            text: text.to_string(),
        });
    }
    if let Some(text) = line.strip_prefix('+') {
        // Asynchronous message (BIRD prints `>>> text`); not part of the reply.
        return Some(ReplyLine {
            code: u16::MAX,
            last: false,
            text: text.to_string(),
        });
    }
    let b = line.as_bytes();
    if !b.get(..4)?.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code: u16 = line.get(..4)?.parse().ok()?;
    let last = match *b.get(4)? {
        b' ' => true,
        b'-' => false,
        _ => return None,
    };
    Some(ReplyLine {
        code,
        last,
        text: line[5..].to_string(),
    })
}

/// Connects, sends one request, and writes the answer to `out` (human or JSON). Returns the
/// exit code for a complete reply.
pub fn run_client(
    socket: &Path,
    line: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, ClientError> {
    let stream = UnixStream::connect(socket).map_err(ClientError::Connect)?;
    let io = ClientError::Io;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    let mut wr = stream.try_clone().map_err(io)?;
    let mut rd = BufReader::new(stream);
    // Greeting.
    let greeting = read_line(&mut rd)?
        .ok_or_else(|| ClientError::Io(io::Error::other("connection closed before greeting")))?;
    let g = parse_reply_line(&greeting, 0)
        .filter(|g| g.code == 1 && g.last)
        .ok_or_else(|| {
            ClientError::Io(io::Error::other(format!(
                "unexpected greeting {greeting:?}"
            )))
        })?;
    let request = if json {
        format!("json {line}\n")
    } else {
        format!("{line}\n")
    };
    wr.write_all(request.as_bytes()).map_err(ClientError::Io)?;
    if !json {
        let _ = writeln!(out, "{}", g.text);
    }
    let mut prev = 0u16;
    let mut json_started = false;
    let mut stderr = io::stderr();
    loop {
        let l = read_line(&mut rd)?.ok_or_else(|| {
            ClientError::Io(io::Error::other(
                "connection closed in the middle of a reply",
            ))
        })?;
        let Some(r) = parse_reply_line(&l, prev) else {
            if !json {
                let _ = writeln!(out, "??? <{l}>");
            }
            continue;
        };
        if r.code == u16::MAX {
            if !json {
                let _ = writeln!(out, ">>> {}", r.text);
            }
            continue;
        }
        prev = r.code;
        let error = (8000..10000).contains(&r.code);
        if json {
            if r.code == JSON_CODE {
                json_started = true;
                let _ = out.write_all(r.text.as_bytes());
            } else if error && r.last {
                if json_started {
                    let _ = writeln!(out);
                }
                let _ = writeln!(out, "{}", json::error(r.code, &r.text));
                return Ok(ExitCode::from(1));
            } else if r.last && !json_started {
                // An action's one-line success (`0003 Reconfigured`) from a server that did
                // not answer in JSON.
                let _ = writeln!(out, "{}", json::envelope("result", &[r.text.as_str()]));
                return Ok(ExitCode::SUCCESS);
            }
        } else if error {
            let _ = writeln!(stderr, "{}", r.text);
        } else if r.code != 0 {
            let _ = writeln!(out, "{}", r.text);
        }
        if r.last {
            if json {
                let _ = writeln!(out);
            }
            let _ = out.flush();
            return Ok(if error {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
    }
}

fn read_line(rd: &mut BufReader<UnixStream>) -> Result<Option<String>, ClientError> {
    let mut buf = Vec::new();
    let n = rd.read_until(b'\n', &mut buf).map_err(ClientError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str]) -> (String, bool) {
        let mut v = vec!["bgpd"];
        v.extend_from_slice(args);
        Args::try_parse_from(v).unwrap().command.unwrap().request()
    }

    #[test]
    fn requests() {
        assert_eq!(req(&["show", "status"]), ("show status".into(), false));
        assert_eq!(
            req(&["-s", "/x", "show", "protocols", "all", "Mesh_1", "--json"]),
            ("show protocols all Mesh_1".into(), true)
        );
        assert_eq!(
            req(&["show", "route", "10.0.0.0/8", "table", "master", "all"]),
            ("show route 10.0.0.0/8 table master all".into(), false)
        );
        assert_eq!(
            req(&["sh", "neighbor", "Mesh_1"]),
            ("show protocols all Mesh_1".into(), false)
        );
        assert_eq!(req(&["show", "fib"]), ("show fib".into(), false));
        assert_eq!(
            req(&["disable", "Mesh*"]),
            ("disable \"Mesh*\"".into(), false)
        );
        assert_eq!(
            req(&["disable", "p", "maintenance \"now\""]),
            ("disable p \"maintenance 'now'\"".into(), false)
        );
        assert_eq!(req(&["reload", "--json"]), ("configure".into(), true));
        assert_eq!(req(&["down"]), ("down".into(), false));
    }

    #[test]
    fn daemon_flags() {
        let a = Args::try_parse_from([
            "bird",
            "-R",
            "-s",
            "/var/run/calico/bird.ctl",
            "-d",
            "-c",
            "/etc/bird.cfg",
        ])
        .unwrap();
        assert!(a.recovery && a.foreground && a.command.is_none());
        assert_eq!(a.config.unwrap(), PathBuf::from("/etc/bird.cfg"));
    }

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_reply_line("1002-kernel1 x", 0),
            Some(ReplyLine {
                code: 1002,
                last: false,
                text: "kernel1 x".into()
            })
        );
        assert_eq!(parse_reply_line(" more", 1002).unwrap().code, 1002);
        assert!(parse_reply_line("0000 ", 1002).unwrap().last);
        assert_eq!(parse_reply_line("garbage", 0), None);
        assert_eq!(parse_reply_line("12a4 x", 0), None);
    }
}
