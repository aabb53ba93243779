//! DOC: the statement parser: top-level statements (`router id`, `listen bgp`, `log`, `debug`,
//! `define`, `filter`, `function`, `template`, `protocol`) and every protocol option of the
//! supported subset. Anything else is an error naming the construct and its position.

use super::ast::*;
use super::cursor::{Cursor, R};
use super::lexer::{Tok, Token};

/// Parses the spliced token stream of a configuration.
pub fn parse(toks: &[Token]) -> R<Tree> {
    let mut c = Cursor::new(toks);
    let mut tree = Tree::default();
    while !c.at_eof() {
        if c.eat_p(";") {
            continue;
        }
        tree.items.push(item(&mut c)?);
    }
    Ok(tree)
}

fn item(c: &mut Cursor) -> R<Item> {
    let pos = c.pos();
    let Tok::Sym {
        name,
        quoted: false,
    } = c.peek().clone()
    else {
        return c.expected("a statement");
    };
    match name.to_ascii_lowercase().as_str() {
        "router" => {
            c.bump();
            c.expect_kw("id")?;
            let p = c.pos();
            let a = c.ipv4()?;
            c.expect_p(";")?;
            Ok(Item::RouterId(At { pos: p, v: a }))
        }
        "listen" => {
            c.bump();
            c.expect_kw("bgp")?;
            let (mut address, mut port) = (None, None);
            loop {
                if c.eat_kw("address") {
                    address = Some(c.ip()?);
                } else if c.eat_kw("port") {
                    port = Some(c.num_in(1, 65535)? as u16);
                } else if c.is_kw("v6only") || c.is_kw("dual") {
                    return c.err("`listen bgp` option `v6only`/`dual` is not supported");
                } else {
                    break;
                }
            }
            c.expect_p(";")?;
            Ok(Item::Listen { pos, address, port })
        }
        "log" => {
            c.skip_statement()?;
            Ok(Item::Log(pos))
        }
        "debug" => {
            c.skip_statement()?;
            Ok(Item::Debug(pos))
        }
        "timeformat" => {
            c.skip_statement()?;
            Ok(Item::TimeFormat(pos))
        }
        "define" => {
            c.bump();
            let n = c.symbol("a constant name")?;
            c.expect_p("=")?;
            let e = super::filter_parse::expr(c)?;
            c.expect_p(";")?;
            Ok(Item::Define(n, e))
        }
        "filter" => {
            c.bump();
            let name = c.symbol("a filter name")?;
            let body = super::filter_parse::body(c)?;
            Ok(Item::Filter(FilterDef { name, body }))
        }
        "function" => {
            c.bump();
            let name = c.symbol("a function name")?;
            let params = super::filter_parse::params(c)?;
            let body = super::filter_parse::body(c)?;
            Ok(Item::Function(FunctionDef { name, params, body }))
        }
        "template" | "protocol" => proto(c, name.eq_ignore_ascii_case("template")).map(Item::Proto),
        other => c.err(format!("unsupported statement `{other}`")),
    }
}

fn kind(c: &mut Cursor) -> R<Kind> {
    let k = match c.peek() {
        Tok::Sym {
            name,
            quoted: false,
        } => match name.to_ascii_lowercase().as_str() {
            "kernel" => Kind::Kernel,
            "device" => Kind::Device,
            "direct" => Kind::Direct,
            "static" => Kind::Static,
            "bgp" => Kind::Bgp,
            "bfd" => Kind::Bfd,
            other => return c.err(format!("unsupported protocol type `{other}`")),
        },
        _ => return c.expected("a protocol type"),
    };
    c.bump();
    Ok(k)
}

fn proto(c: &mut Cursor, template: bool) -> R<ProtoDef> {
    let pos = c.bump().pos;
    let kind = kind(c)?;
    let mut name = None;
    if !c.is_kw("from") && !c.is_p("{") {
        name = Some(c.symbol("a protocol name")?);
    }
    if template && name.is_none() {
        return c.expected("a template name");
    }
    let from = if c.eat_kw("from") {
        Some(c.symbol("a template name")?)
    } else {
        None
    };
    c.expect_p("{")?;
    let mut opts = Vec::new();
    while !c.eat_p("}") {
        if c.eat_p(";") {
            continue;
        }
        if c.at_eof() {
            return c.expected("`}`");
        }
        let p = c.pos();
        let o = option(c, kind)?;
        opts.push(At { pos: p, v: o });
    }
    Ok(ProtoDef {
        pos,
        template,
        kind,
        name,
        from,
        opts,
    })
}

/// `import`/`export` argument.
fn filter_ref(c: &mut Cursor) -> R<FilterRef> {
    if c.eat_kw("all") {
        return Ok(FilterRef::All);
    }
    if c.eat_kw("none") {
        return Ok(FilterRef::None);
    }
    if c.eat_kw("where") {
        return Ok(FilterRef::Where(super::filter_parse::expr(c)?));
    }
    if c.eat_kw("filter") {
        if c.is_p("{") {
            return Ok(FilterRef::Inline(super::filter_parse::body(c)?));
        }
        if let Tok::Sym { .. } = c.peek() {
            if !c.is_p_at(1, "{") && !matches!(c.peek_at(1), Tok::Sym { .. }) {
                return Ok(FilterRef::Named(c.symbol("a filter name")?));
            }
            // `filter int x; { ... }`: local declarations, then the block.
            return Ok(FilterRef::Inline(super::filter_parse::body(c)?));
        }
        return c.expected("a filter name or `{`");
    }
    if c.is_kw("limit") || c.is_kw("keep") {
        return c.err("import/export limits and `import keep filtered` are not supported");
    }
    c.expected("`all`, `none`, `filter` or `where`")
}

fn iface_list(c: &mut Cursor) -> R<Vec<IfacePattern>> {
    let mut v = Vec::new();
    loop {
        let exclude = c.eat_p("-");
        let pattern = c.string()?;
        if matches!(c.peek(), Tok::Ip(_)) {
            return c.err("interface patterns with prefixes are not supported");
        }
        v.push(IfacePattern { exclude, pattern });
        if !c.eat_p(",") {
            return Ok(v);
        }
    }
}

/// BIRD's `expr_us`: a time with a unit (`s`, `ms`, `us`), in milliseconds.
fn time_ms(c: &mut Cursor) -> R<u64> {
    let n = c.num()?;
    let ms = if c.eat_kw("s") {
        n.saturating_mul(1000)
    } else if c.eat_kw("ms") {
        n
    } else if c.eat_kw("us") {
        n / 1000
    } else {
        return c.expected("a time unit (`s`, `ms` or `us`)");
    };
    Ok(ms)
}

fn bfd_opts(c: &mut Cursor) -> R<BfdIfaceOpts> {
    let mut o = BfdIfaceOpts::default();
    if !c.eat_p("{") {
        return Ok(o);
    }
    while !c.eat_p("}") {
        if c.eat_p(";") {
            continue;
        }
        if c.eat_kw("interval") {
            let t = time_ms(c)?;
            o.min_rx_ms = Some(t);
            o.min_tx_ms = Some(t);
        } else if c.eat_kw("min") {
            let rx = if c.eat_kw("rx") {
                true
            } else {
                c.expect_kw("tx")?;
                false
            };
            c.expect_kw("interval")?;
            let t = Some(time_ms(c)?);
            if rx {
                o.min_rx_ms = t;
            } else {
                o.min_tx_ms = t;
            }
        } else if c.eat_kw("idle") {
            c.expect_kw("tx")?;
            c.expect_kw("interval")?;
            o.idle_tx_ms = Some(time_ms(c)?);
        } else if c.eat_kw("multiplier") {
            o.multiplier = Some(c.num_in(1, 255)?);
        } else if c.eat_kw("passive") {
            o.passive = Some(c.opt_bool()?);
        } else if c.at_eof() {
            return c.expected("`}`");
        } else {
            return c.err(format!("unsupported BFD option {}", c.peek().describe()));
        }
        c.expect_p(";")?;
    }
    Ok(o)
}

/// One option of a protocol of kind `k` (ending `;` included).
fn option(c: &mut Cursor, k: Kind) -> R<Opt> {
    let Tok::Sym {
        name,
        quoted: false,
    } = c.peek().clone()
    else {
        return c.expected("a protocol option");
    };
    let word = name.to_ascii_lowercase();
    let wpos = c.bump().pos;
    let unsupported = || {
        Err(super::BirdError::new(
            wpos,
            format!("unsupported option `{word}` in a {} protocol", k.word()),
        ))
    };
    let o = match (word.as_str(), k) {
        ("description", _) => Opt::Description(c.string()?),
        ("debug", _) => {
            c.skip_statement()?;
            return Ok(Opt::Debug);
        }
        ("disabled", _) => Opt::Disabled(c.opt_bool()?),
        ("preference", _) => Opt::Preference(c.num_in(0, 65535)?),
        ("import", _) => Opt::Import(filter_ref(c)?),
        ("export", _) => Opt::Export(filter_ref(c)?),
        ("router", _) => {
            c.expect_kw("id")?;
            Opt::RouterId(c.ipv4()?)
        }
        ("learn", Kind::Kernel) => Opt::Learn(c.opt_bool()?),
        ("persist", Kind::Kernel) => Opt::Persist(c.opt_bool()?),
        ("scan", Kind::Kernel | Kind::Device) => {
            c.expect_kw("time")?;
            Opt::ScanTime(c.num_in(1, 86400)?)
        }
        ("device", Kind::Kernel) => {
            c.expect_kw("routes")?;
            Opt::DeviceRoutes(c.opt_bool()?)
        }
        ("kernel", Kind::Kernel) => {
            c.expect_kw("table")?;
            Opt::KernelTable(c.num_in(1, u64::from(u32::MAX))?)
        }
        ("metric", Kind::Kernel) => Opt::Metric(c.num_in(0, u64::from(u32::MAX))?),
        ("merge", Kind::Kernel) => {
            c.expect_kw("paths")?;
            let on = c.opt_bool()?;
            let limit = if c.eat_kw("limit") {
                Some(c.num_in(1, 256)?)
            } else {
                None
            };
            Opt::MergePaths { on, limit }
        }
        ("graceful", Kind::Kernel | Kind::Bgp) => {
            c.expect_kw("restart")?;
            if k == Kind::Bgp && c.eat_kw("time") {
                Opt::GracefulRestartTime(c.num_in(0, 4095)?)
            } else if k == Kind::Bgp && c.eat_kw("aware") {
                Opt::GracefulRestart(GrMode::Aware)
            } else if c.opt_bool()? {
                Opt::GracefulRestart(GrMode::On)
            } else {
                Opt::GracefulRestart(GrMode::Off)
            }
        }
        ("interface", Kind::Direct | Kind::Device) => Opt::Interface(iface_list(c)?),
        ("route", Kind::Static) => {
            let pos = c.pos();
            let net = super::filter_parse::prefix(c)?;
            let t = if c.eat_kw("via") {
                match c.peek().clone() {
                    Tok::Str(s) => {
                        c.bump();
                        RouteTarget::ViaIface(s)
                    }
                    _ => RouteTarget::Via(c.ip()?),
                }
            } else if c.eat_kw("blackhole") || c.eat_kw("drop") {
                RouteTarget::Blackhole
            } else if c.eat_kw("unreachable") {
                RouteTarget::Unreachable
            } else if c.eat_kw("prohibit") {
                RouteTarget::Prohibit
            } else if c.is_kw("multipath") || c.is_kw("recursive") {
                return c.err("multipath and recursive static routes are not supported");
            } else {
                return c.expected("`via`, `blackhole`, `unreachable` or `prohibit`");
            };
            Opt::Route(At { pos, v: net }, t)
        }
        ("local", Kind::Bgp) => {
            let address = match c.peek() {
                Tok::Ip(_) => Some(c.ip()?),
                _ => None,
            };
            let asn = if c.eat_kw("as") {
                Some(c.num_in(1, u64::from(u32::MAX))?)
            } else {
                None
            };
            if address.is_none() && asn.is_none() {
                return c.expected("an address or `as`");
            }
            Opt::LocalAs { address, asn }
        }
        ("neighbor", Kind::Bgp) => {
            let address = c.ip()?;
            let (mut port, mut asn) = (None, None);
            loop {
                if c.eat_kw("port") {
                    port = Some(c.num_in(1, 65535)?);
                } else if c.eat_kw("as") {
                    asn = Some(c.num_in(1, u64::from(u32::MAX))?);
                } else if c.is_p("%") {
                    return c.err("link-local neighbors with an interface scope are not supported");
                } else {
                    break;
                }
            }
            Opt::Neighbor { address, port, asn }
        }
        ("source", Kind::Bgp) => {
            c.expect_kw("address")?;
            Opt::SourceAddress(c.ip()?)
        }
        ("multihop", Kind::Bgp) => Opt::Multihop(match c.peek() {
            Tok::Num(_) => Some(c.num_in(1, 255)?),
            _ => None,
        }),
        ("direct", Kind::Bgp) => Opt::Direct,
        ("ttl", Kind::Bgp) => {
            c.expect_kw("security")?;
            Opt::TtlSecurity(c.opt_bool()?)
        }
        ("password", Kind::Bgp) => Opt::Password(c.string()?),
        ("passive", Kind::Bgp) => Opt::Passive(c.opt_bool()?),
        ("rr", Kind::Bgp) => {
            if c.eat_kw("client") {
                Opt::RrClient(c.opt_bool()?)
            } else {
                c.expect_kw("cluster")?;
                c.expect_kw("id")?;
                match c.peek() {
                    Tok::Num(_) => {
                        let n = c.num_in(0, u64::from(u32::MAX))? as u32;
                        Opt::RrClusterId(n.into())
                    }
                    _ => Opt::RrClusterId(c.ipv4()?),
                }
            }
        }
        ("next", Kind::Bgp) => {
            c.expect_kw("hop")?;
            if c.eat_kw("self") {
                Opt::NextHopSelf(c.opt_bool()?)
            } else if c.eat_kw("keep") {
                Opt::NextHopKeep(c.opt_bool()?)
            } else {
                return c.err("only `next hop self` and `next hop keep` are supported");
            }
        }
        ("allow", Kind::Bgp) => {
            c.expect_kw("local")?;
            c.expect_kw("as")?;
            Opt::AllowLocalAs(match c.peek() {
                Tok::Num(_) => Some(c.num_in(0, 255)?),
                _ => None,
            })
        }
        ("add", Kind::Bgp) => {
            c.expect_kw("paths")?;
            Opt::AddPaths(if c.eat_kw("rx") {
                AddPaths::Rx
            } else if c.eat_kw("tx") {
                AddPaths::Tx
            } else if c.opt_bool()? {
                AddPaths::On
            } else {
                AddPaths::Off
            })
        }
        ("keepalive", Kind::Bgp) => {
            c.expect_kw("time")?;
            Opt::KeepaliveTime(c.num_in(1, 65535)?)
        }
        ("hold", Kind::Bgp) => {
            c.expect_kw("time")?;
            Opt::HoldTime(c.num_in(0, 65535)?)
        }
        ("startup", Kind::Bgp) => {
            c.expect_kw("hold")?;
            c.expect_kw("time")?;
            Opt::StartupHoldTime(c.num_in(0, 65535)?)
        }
        ("connect", Kind::Bgp) => {
            if c.eat_kw("delay") {
                c.expect_kw("time")?;
                Opt::ConnectDelayTime(c.num_in(0, 65535)?)
            } else {
                c.expect_kw("retry")?;
                c.expect_kw("time")?;
                Opt::ConnectRetryTime(c.num_in(1, 65535)?)
            }
        }
        ("error", Kind::Bgp) => {
            if c.eat_kw("wait") {
                c.expect_kw("time")?;
                let a = c.num_in(1, 65535)?;
                c.expect_p(",")?;
                let b = c.num_in(a, 65535)?;
                Opt::ErrorWaitTime(a, b)
            } else {
                c.expect_kw("forget")?;
                c.expect_kw("time")?;
                Opt::ErrorForgetTime(c.num_in(0, 65535)?)
            }
        }
        ("gateway", Kind::Bgp) => {
            if c.eat_kw("recursive") {
                Opt::Gateway { recursive: true }
            } else {
                c.expect_kw("direct")?;
                Opt::Gateway { recursive: false }
            }
        }
        ("bfd", Kind::Bgp) => Opt::Bfd(c.opt_bool()?),
        ("enable", Kind::Bgp) => {
            if c.eat_kw("route") {
                c.expect_kw("refresh")?;
                Opt::EnableRouteRefresh(c.opt_bool()?)
            } else {
                c.expect_kw("as4")?;
                Opt::EnableAs4(c.opt_bool()?)
            }
        }
        ("interface", Kind::Bfd) => {
            let l = iface_list(c)?;
            let o = bfd_opts(c)?;
            if c.is_p(";") {
                c.bump();
            }
            return Ok(Opt::BfdInterface(l, o));
        }
        ("multihop", Kind::Bfd) => {
            let o = bfd_opts(c)?;
            if c.is_p(";") {
                c.bump();
            }
            return Ok(Opt::BfdMultihop(o));
        }
        ("neighbor", Kind::Bfd) => {
            let address = c.ip()?;
            let iface = if c.eat_kw("dev") {
                Some(c.string()?)
            } else {
                None
            };
            let multihop = if c.eat_kw("multihop") {
                c.opt_bool()?
            } else {
                false
            };
            Opt::BfdNeighbor {
                address,
                iface,
                multihop,
            }
        }
        _ => return unsupported(),
    };
    c.expect_p(";")?;
    Ok(o)
}
