//! DOC: the control-socket command language: the subset of BIRD 1.6's CLI grammar that Calico
//! and operators use, plus bgpd's extensions (`show fib`, the `json` prefix).
//!
//! Words are separated by white space; `"..."` is one word (a protocol pattern or a shutdown
//! message). Keywords are lower case, as BIRD's. Anything else is `9001 syntax error`.

use std::net::IpAddr;

use ipnet::IpNet;

/// A protocol argument: a name (BIRD symbol) or a quoted glob pattern (`"Mesh_*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoArg {
    /// A name: unknown names are `9002 X is not a protocol`.
    Name(String),
    /// A pattern with `*` and `?`: no match is `8003 No protocols match`.
    Pattern(String),
}

impl ProtoArg {
    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            ProtoArg::Name(n) => n == name,
            ProtoArg::Pattern(p) => bgp_core::filter::glob_match(p, name),
        }
    }
}

/// `show route` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteArgs {
    /// One prefix, exact match.
    pub prefix: Option<IpNet>,
    /// `all`: attributes too.
    pub all: bool,
    /// `count`/`stats`: only the counters.
    pub count: bool,
    /// `protocol NAME`.
    pub protocol: Option<String>,
    /// `primary`: best paths only.
    pub primary: bool,
    /// `for`: the longest-matching network of [`RouteArgs::prefix`], not an exact match.
    pub longest_match: bool,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `show status`.
    ShowStatus,
    /// `show protocols [all] [NAME|"PATTERN"]`.
    ShowProtocols {
        /// Details.
        all: bool,
        /// Which.
        which: Option<ProtoArg>,
    },
    /// `show route ...`.
    ShowRoute(RouteArgs),
    /// `show fib` (bgpd extension).
    ShowFib,
    /// `show bfd sessions` (BIRD 2).
    ShowBfdSessions,
    /// `enable NAME`.
    Enable(ProtoArg),
    /// `disable NAME ["message"]`.
    Disable(ProtoArg, String),
    /// `restart NAME`.
    Restart(ProtoArg),
    /// `configure [soft]` (= reload).
    Configure,
    /// `down`.
    Down,
    /// `restrict`: this connection may only show things from now on (`birdcl -r`).
    Restrict,
}

/// A request: a command and whether the answer is JSON (`json ` prefix, a bgpd extension that
/// BIRD itself rejects with `9001 syntax error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Answer in JSON.
    pub json: bool,
    /// The command.
    pub command: Command,
}

/// Why a request did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `9001 syntax error` (or another message for 9001).
    Syntax(String),
}

fn words(line: &str) -> Result<Vec<(String, bool)>, ParseError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => w.push(c),
                    None => return Err(ParseError::Syntax("Unterminated string".into())),
                }
            }
            out.push((w, true));
        } else if !c.is_ascii() || c.is_ascii_control() {
            return Err(ParseError::Syntax("Unknown character".into()));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                if !c.is_ascii() || c.is_ascii_control() {
                    return Err(ParseError::Syntax("Unknown character".into()));
                }
                w.push(c);
                chars.next();
            }
            out.push((w, false));
        }
    }
    Ok(out)
}

fn syntax() -> ParseError {
    ParseError::Syntax("syntax error".into())
}

/// A BIRD symbol: letters, digits, `_`, starting with a letter or `_`.
fn is_symbol(w: &str) -> bool {
    let mut c = w.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn proto_arg((w, quoted): &(String, bool)) -> Result<ProtoArg, ParseError> {
    if *quoted {
        Ok(ProtoArg::Pattern(w.clone()))
    } else if is_symbol(w) && !is_keyword(w) {
        Ok(ProtoArg::Name(w.clone()))
    } else {
        Err(syntax())
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "show"
            | "all"
            | "count"
            | "stats"
            | "protocol"
            | "protocols"
            | "route"
            | "primary"
            | "table"
            | "status"
            | "for"
            | "enable"
            | "disable"
            | "restart"
            | "configure"
            | "down"
            | "restrict"
            | "soft"
    )
}

/// A prefix `A/LEN`; a bare address only after `for` (as BIRD 1.6).
fn prefix(w: &str, bare: bool) -> Option<IpNet> {
    if let Ok(n) = w.parse::<IpNet>() {
        return Some(n);
    }
    if bare {
        return w.parse::<IpAddr>().ok().map(IpNet::from);
    }
    None
}

/// Parses one request line.
pub fn parse(line: &str) -> Result<Parsed, ParseError> {
    let ws = words(line)?;
    let mut json = false;
    let mut rest: &[(String, bool)] = &ws;
    if let Some(((w, false), tail)) = rest.split_first() {
        if w == "json" {
            json = true;
            rest = tail;
        }
    }
    if rest.is_empty() {
        // BIRD answers an empty line with a syntax error too.
        return Err(syntax());
    }
    let kw = |i: usize| -> Option<&str> {
        rest.get(i)
            .and_then(|(w, q)| if *q { None } else { Some(w.as_str()) })
    };
    let arg = |i: usize| rest.get(i).ok_or_else(syntax);
    let command = match (kw(0), kw(1)) {
        (Some("show"), Some("status")) if rest.len() == 2 => Command::ShowStatus,
        (Some("show"), Some("fib")) if rest.len() == 2 => Command::ShowFib,
        (Some("show"), Some("bfd")) if rest.len() == 3 && kw(2) == Some("sessions") => {
            Command::ShowBfdSessions
        }
        (Some("show"), Some("protocols" | "protocol")) => {
            let mut all = false;
            let mut which = None;
            let mut args = rest.get(2..).unwrap_or_default();
            if let Some(((w, false), tail)) = args.split_first() {
                if w == "all" {
                    all = true;
                    args = tail;
                }
            }
            match args {
                [] => {}
                [one] => which = Some(proto_arg(one)?),
                _ => return Err(syntax()),
            }
            Command::ShowProtocols { all, which }
        }
        (Some("show"), Some("route")) => {
            let mut a = RouteArgs::default();
            let mut i = 2;
            while let Some((w, quoted)) = rest.get(i) {
                if *quoted {
                    return Err(syntax());
                }
                match w.as_str() {
                    "all" => a.all = true,
                    "count" | "stats" => a.count = true,
                    "primary" => a.primary = true,
                    "protocol" => {
                        i += 1;
                        match rest.get(i) {
                            Some((n, false)) if is_symbol(n) && !is_keyword(n) => {
                                a.protocol = Some(n.clone())
                            }
                            _ => return Err(syntax()),
                        }
                    }
                    "table" => {
                        i += 1;
                        match rest.get(i) {
                            Some((t, false)) if t == "master" => {}
                            Some((t, false)) if is_symbol(t) && !is_keyword(t) => {
                                return Err(ParseError::Syntax(format!("{t} is not a table")))
                            }
                            _ => return Err(syntax()),
                        }
                    }
                    "for" if a.prefix.is_none() => {
                        i += 1;
                        match rest.get(i).and_then(|(w, q)| prefix(w, !q)) {
                            Some(p) => {
                                a.prefix = Some(p);
                                a.longest_match = true;
                            }
                            None => return Err(syntax()),
                        }
                    }
                    w => match prefix(w, false) {
                        Some(p) if a.prefix.is_none() => a.prefix = Some(p),
                        _ => return Err(syntax()),
                    },
                }
                i += 1;
            }
            Command::ShowRoute(a)
        }
        (Some("enable"), _) if rest.len() == 2 => Command::Enable(proto_arg(arg(1)?)?),
        (Some("restart"), _) if rest.len() == 2 => Command::Restart(proto_arg(arg(1)?)?),
        (Some("disable"), _) if rest.len() == 2 || rest.len() == 3 => {
            let msg = match rest.get(2) {
                None => String::new(),
                Some((m, true)) => m.clone(),
                Some(_) => return Err(syntax()),
            };
            Command::Disable(proto_arg(arg(1)?)?, msg)
        }
        (Some("configure"), None) => Command::Configure,
        (Some("configure"), Some("soft")) if rest.len() == 2 => Command::Configure,
        (Some("down"), None) => Command::Down,
        (Some("restrict"), None) => Command::Restrict,
        _ => return Err(syntax()),
    };
    Ok(Parsed { json, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Command {
        parse(s).unwrap().command
    }

    #[test]
    fn commands() {
        assert_eq!(cmd("show status"), Command::ShowStatus);
        assert_eq!(
            cmd("  show   protocols all Mesh_172_30_0_12 "),
            Command::ShowProtocols {
                all: true,
                which: Some(ProtoArg::Name("Mesh_172_30_0_12".into()))
            }
        );
        assert_eq!(
            cmd("show protocols \"Mesh*\""),
            Command::ShowProtocols {
                all: false,
                which: Some(ProtoArg::Pattern("Mesh*".into()))
            }
        );
        assert_eq!(
            cmd("show route 10.244.2.0/26 all protocol static1 primary table master"),
            Command::ShowRoute(RouteArgs {
                prefix: Some("10.244.2.0/26".parse().unwrap()),
                all: true,
                count: false,
                protocol: Some("static1".into()),
                primary: true,
                longest_match: false,
            })
        );
        let Command::ShowRoute(r) = cmd("show route for 10.9.0.1") else {
            panic!()
        };
        assert!(r.longest_match);
        assert_eq!(r.prefix, Some("10.9.0.1/32".parse().unwrap()));
        assert_eq!(
            cmd("disable Mesh_1 \"maintenance\""),
            Command::Disable(ProtoArg::Name("Mesh_1".into()), "maintenance".into())
        );
        assert!(parse("json show route count").unwrap().json);
        for bad in [
            "show nonsense",
            "show route 10.0.0.0/33",
            "show route 10.0.0.1",
            "SHOW status",
            "",
            "  \t",
            "show protocols a b",
            "enable",
            "json",
            "show route table t",
            "show \"x",
            "\u{fffd}",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Syntax(_))), "{bad}");
        }
        assert_eq!(
            parse("show status\u{fffd}"),
            Err(ParseError::Syntax("Unknown character".into()))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut line = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias towards the grammar's own characters.
                let b = (x >> 24) as u8;
                const ALPHABET: &[u8] = b" \"*?/.:0123456789abcdefghijklmnopqrstuvwxyz";
                line.push(match b % 4 {
                    0 => ALPHABET[(b as usize) % ALPHABET.len()],
                    _ => b,
                });
            }
            let _ = parse(&String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn globs() {
        let p = ProtoArg::Pattern("Mesh_*_12".into());
        assert!(p.matches("Mesh_172_30_0_12"));
        assert!(!p.matches("Mesh_172_30_0_13"));
        assert!(ProtoArg::Pattern("*".into()).matches(""));
        assert!(ProtoArg::Pattern("k?rnel1".into()).matches("kernel1"));
    }
}
