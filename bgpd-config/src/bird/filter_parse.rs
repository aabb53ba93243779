//! DOC: the filter-language parser (BIRD 1.6 grammar): local declarations, statements
//! (`if/then/else`, blocks, `accept`, `reject`, `return`, `print`, assignments, attribute
//! methods `.add/.delete/.prepend`, calls, `unset`) and expressions with BIRD's precedence
//! (`&&` and `||` share one level and associate left; comparisons do not associate; `!`
//! binds tighter than comparisons). Literals: numbers, booleans, strings, addresses, prefixes,
//! pairs and triples, sets with prefix patterns (`a/b+`, `a/b-`, `a/b{m,n}`) and ranges, path
//! masks `[= ... =]`.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::ast::*;
use super::cursor::{Cursor, R};
use super::lexer::Tok;
use super::BirdError;

fn var_type(c: &mut Cursor) -> R<Option<VarType>> {
    let t = match c.peek() {
        Tok::Sym {
            name,
            quoted: false,
        } => match name.to_ascii_lowercase().as_str() {
            "int" => VarType::Int,
            "bool" => VarType::Bool,
            "ip" => VarType::Ip,
            "prefix" => VarType::Prefix,
            "pair" => VarType::Pair,
            "quad" => VarType::Quad,
            "lc" => VarType::Lc,
            "string" => VarType::String,
            "bgppath" => VarType::BgpPath,
            "bgpmask" => VarType::BgpMask,
            "clist" => VarType::Clist,
            "lclist" => VarType::Lclist,
            "ec" | "eclist" => return c.err("extended communities are not supported"),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    c.bump();
    if c.is_kw("set") {
        let elem = match t {
            VarType::Int => SetElem::Int,
            VarType::Pair => SetElem::Pair,
            VarType::Quad => SetElem::Quad,
            VarType::Ip => SetElem::Ip,
            VarType::Prefix => SetElem::Prefix,
            VarType::Lc => SetElem::Lc,
            _ => return c.err("sets of this type are not supported"),
        };
        c.bump();
        return Ok(Some(VarType::Set(elem)));
    }
    Ok(Some(t))
}

/// `( type name, ... )`.
pub fn params(c: &mut Cursor) -> R<Vec<(At<String>, VarType)>> {
    c.expect_p("(")?;
    let mut v = Vec::new();
    if c.eat_p(")") {
        return Ok(v);
    }
    loop {
        let Some(t) = var_type(c)? else {
            return c.expected("a parameter type (`int`, `bool`, `ip`, `prefix`, ...)");
        };
        v.push((c.symbol("a parameter name")?, t));
        if c.eat_p(")") {
            return Ok(v);
        }
        c.expect_p(",")?;
    }
}

/// Local declarations, then `{ statements }`.
pub fn body(c: &mut Cursor) -> R<FilterBody> {
    let pos = c.pos();
    let mut vars = Vec::new();
    while let Some(t) = var_type(c)? {
        vars.push((c.symbol("a variable name")?, t));
        c.expect_p(";")?;
    }
    c.expect_p("{")?;
    let body = stmts(c)?;
    Ok(FilterBody { pos, vars, body })
}

/// Statements up to and including the closing `}`.
fn stmts(c: &mut Cursor) -> R<Vec<Stmt>> {
    c.enter()?;
    let mut v = Vec::new();
    while !c.eat_p("}") {
        if c.at_eof() {
            return c.expected("`}`");
        }
        if c.eat_p(";") {
            continue;
        }
        v.push(stmt(c)?);
    }
    c.leave();
    Ok(v)
}

/// `stmt` or `{ stmts }` (the branches of `if`).
fn block(c: &mut Cursor) -> R<Stmt> {
    let pos = c.pos();
    if c.eat_p("{") {
        return Ok(Stmt::Block(pos, stmts(c)?));
    }
    stmt(c)
}

fn stmt(c: &mut Cursor) -> R<Stmt> {
    c.enter()?;
    let s = stmt_inner(c)?;
    c.leave();
    Ok(s)
}

fn stmt_inner(c: &mut Cursor) -> R<Stmt> {
    let pos = c.pos();
    let Tok::Sym { name, quoted } = c.peek().clone() else {
        if c.is_p("{") {
            return block(c);
        }
        return c.expected("a statement");
    };
    let kw = if quoted {
        String::new()
    } else {
        name.to_ascii_lowercase()
    };
    match kw.as_str() {
        "if" => {
            c.bump();
            let cond = expr(c)?;
            c.expect_kw("then")?;
            let then = Box::new(block(c)?);
            let els = if c.eat_kw("else") {
                Some(Box::new(block(c)?))
            } else {
                None
            };
            return Ok(Stmt::If {
                pos,
                cond,
                then,
                els,
            });
        }
        "accept" | "reject" => {
            c.bump();
            // `accept "reason";`: the message is printed by BIRD; kept out of the model.
            if !c.is_p(";") {
                print_list(c)?;
            }
            c.expect_p(";")?;
            return Ok(if kw == "accept" {
                Stmt::Accept(pos)
            } else {
                Stmt::Reject(pos)
            });
        }
        "return" => {
            c.bump();
            let e = if c.is_p(";") { None } else { Some(expr(c)?) };
            c.expect_p(";")?;
            return Ok(Stmt::Return(pos, e));
        }
        "print" | "printn" => {
            c.bump();
            let l = print_list(c)?;
            c.expect_p(";")?;
            return Ok(Stmt::Print(pos, l));
        }
        "unset" => {
            c.bump();
            c.expect_p("(")?;
            let a = c.symbol("an attribute")?;
            c.expect_p(")")?;
            c.expect_p(";")?;
            return Ok(Stmt::Unset(a));
        }
        "case" => return c.err("`case` statements are not supported"),
        "quitbird" => return c.err("`quitbird` is not supported"),
        _ => {}
    }
    // NAME = expr; NAME.method(arg); NAME(args);
    if c.is_p_at(1, "=") {
        let target = c.symbol("a variable")?;
        c.bump();
        let e = expr(c)?;
        c.expect_p(";")?;
        return Ok(Stmt::Assign(target, e));
    }
    if c.is_p_at(1, ".") {
        let target = c.symbol("an attribute")?;
        c.bump();
        let method = c.symbol("a method")?;
        let m = method.v.to_ascii_lowercase();
        if !matches!(m.as_str(), "add" | "delete" | "prepend" | "filter") {
            return Err(BirdError::new(
                method.pos,
                format!("unsupported method `{}` in a statement", method.v),
            ));
        }
        c.expect_p("(")?;
        let arg = expr(c)?;
        c.expect_p(")")?;
        c.expect_p(";")?;
        return Ok(Stmt::Method {
            target,
            method: At {
                pos: method.pos,
                v: m,
            },
            arg,
        });
    }
    if c.is_p_at(1, "(") {
        let e = expr(c)?;
        c.expect_p(";")?;
        return Ok(Stmt::Call(e));
    }
    c.expected("a statement")
}

fn print_list(c: &mut Cursor) -> R<Vec<Expr>> {
    let mut v = vec![expr(c)?];
    while c.eat_p(",") {
        v.push(expr(c)?);
    }
    Ok(v)
}

/// An expression.
pub fn expr(c: &mut Cursor) -> R<Expr> {
    c.enter()?;
    let mut l = cmp(c)?;
    loop {
        let op = if c.is_p("&&") {
            BinOp::And
        } else if c.is_p("||") {
            BinOp::Or
        } else {
            break;
        };
        let pos = c.bump().pos;
        let r = cmp(c)?;
        l = Expr::Bin(pos, op, Box::new(l), Box::new(r));
    }
    c.leave();
    Ok(l)
}

fn cmp(c: &mut Cursor) -> R<Expr> {
    let l = sum(c)?;
    let op = match c.peek() {
        Tok::P("=") => BinOp::Eq,
        Tok::P("!=") => BinOp::Ne,
        Tok::P("<") => BinOp::Lt,
        Tok::P(">") => BinOp::Gt,
        Tok::P("<=") => BinOp::Le,
        Tok::P(">=") => BinOp::Ge,
        Tok::P("~") => BinOp::Match,
        Tok::P("!~") => BinOp::NotMatch,
        _ => return Ok(l),
    };
    let pos = c.bump().pos;
    let r = sum(c)?;
    if matches!(
        c.peek(),
        Tok::P("=" | "!=" | "<" | ">" | "<=" | ">=" | "~" | "!~")
    ) {
        return c.err("syntax error: comparisons do not chain; add parentheses");
    }
    Ok(Expr::Bin(pos, op, Box::new(l), Box::new(r)))
}

fn sum(c: &mut Cursor) -> R<Expr> {
    let mut l = product(c)?;
    loop {
        let op = match c.peek() {
            Tok::P("+") => BinOp::Add,
            Tok::P("-") => BinOp::Sub,
            _ => return Ok(l),
        };
        let pos = c.bump().pos;
        let r = product(c)?;
        l = Expr::Bin(pos, op, Box::new(l), Box::new(r));
    }
}

fn product(c: &mut Cursor) -> R<Expr> {
    let mut l = unary(c)?;
    loop {
        let op = match c.peek() {
            Tok::P("*") => BinOp::Mul,
            Tok::P("/") => BinOp::Div,
            Tok::P("%") => return c.err("the `%` operator is not supported"),
            _ => return Ok(l),
        };
        let pos = c.bump().pos;
        let r = unary(c)?;
        l = Expr::Bin(pos, op, Box::new(l), Box::new(r));
    }
}

fn unary(c: &mut Cursor) -> R<Expr> {
    if c.is_p("!") {
        let pos = c.bump().pos;
        c.enter()?;
        let e = unary(c)?;
        c.leave();
        return Ok(Expr::Not(pos, Box::new(e)));
    }
    postfix(c)
}

fn postfix(c: &mut Cursor) -> R<Expr> {
    let mut e = primary(c)?;
    while c.is_p(".") {
        let pos = c.bump().pos;
        let m = c.symbol("a member (`len`, `first`, `last`, `ip`, `mask`...)")?;
        let lower = m.v.to_ascii_lowercase();
        let arg = match lower.as_str() {
            "len" | "first" | "last" | "last_nonaggregated" | "ip" | "asn" | "data" | "data1"
            | "data2" | "type" | "min" | "max" | "empty" => None,
            "mask" => {
                c.expect_p("(")?;
                let a = expr(c)?;
                c.expect_p(")")?;
                Some(Box::new(a))
            }
            _ => {
                return Err(BirdError::new(
                    m.pos,
                    format!("unsupported member `.{}`", m.v),
                ))
            }
        };
        e = Expr::Member(
            pos,
            Box::new(e),
            At {
                pos: m.pos,
                v: lower,
            },
            arg,
        );
    }
    Ok(e)
}

/// `A/N` after an address token (the address already read).
fn net_of(c: &mut Cursor, a: IpAddr, pos: super::Pos) -> R<IpNet> {
    c.expect_p("/")?;
    let len = c.num()?;
    let net = match a {
        IpAddr::V4(a) => u8::try_from(len)
            .ok()
            .and_then(|l| Ipv4Net::new(a, l).ok())
            .map(IpNet::V4),
        IpAddr::V6(a) => u8::try_from(len)
            .ok()
            .and_then(|l| Ipv6Net::new(a, l).ok())
            .map(IpNet::V6),
    };
    let net = net.ok_or_else(|| BirdError::new(pos, format!("invalid prefix length {len}")))?;
    if net.trunc() != net {
        return Err(BirdError::new(
            pos,
            format!("invalid prefix {net}: host bits set"),
        ));
    }
    Ok(net)
}

/// A prefix literal `A/N`.
pub fn prefix(c: &mut Cursor) -> R<IpNet> {
    let pos = c.pos();
    let a = c.ip()?;
    net_of(c, a, pos)
}

fn primary(c: &mut Cursor) -> R<Expr> {
    let pos = c.pos();
    match c.peek().clone() {
        Tok::Num(n) => {
            c.bump();
            Ok(Expr::Num(pos, n))
        }
        Tok::Str(s) => {
            c.bump();
            Ok(Expr::Str(pos, s))
        }
        Tok::Ip(a) => {
            c.bump();
            if c.is_p("/") && matches!(c.peek_at(1), Tok::Num(_)) {
                return Ok(Expr::Prefix(pos, net_of(c, a, pos)?));
            }
            Ok(Expr::Ip(pos, a))
        }
        Tok::P("(") => {
            c.bump();
            let first = expr(c)?;
            if c.eat_p(")") {
                return Ok(first);
            }
            let mut items = vec![first];
            while c.eat_p(",") {
                items.push(expr(c)?);
            }
            c.expect_p(")")?;
            if items.len() > 3 {
                return Err(BirdError::new(pos, "a tuple has two or three elements"));
            }
            Ok(Expr::Tuple(pos, items))
        }
        Tok::P("[") => {
            c.bump();
            set(c, pos)
        }
        Tok::P("[=") => {
            c.bump();
            mask(c, pos)
        }
        Tok::P("+") | Tok::P("-") if c.is_kw_at(1, "empty") => {
            c.err("empty path/list constants (`+empty+`, `-empty-`) are not supported")
        }
        Tok::Sym { name, quoted } => {
            let lower = name.to_ascii_lowercase();
            if !quoted {
                match lower.as_str() {
                    "true" | "false" => {
                        c.bump();
                        return Ok(Expr::Bool(pos, lower == "true"));
                    }
                    "defined" => {
                        c.bump();
                        c.expect_p("(")?;
                        let e = expr(c)?;
                        c.expect_p(")")?;
                        return Ok(Expr::Defined(pos, Box::new(e)));
                    }
                    "roa_check" => return c.err("`roa_check` is not supported"),
                    _ => {}
                }
            }
            let n = c.symbol("a name")?;
            if c.eat_p("(") {
                let mut args = Vec::new();
                if !c.eat_p(")") {
                    loop {
                        args.push(expr(c)?);
                        if c.eat_p(")") {
                            break;
                        }
                        c.expect_p(",")?;
                    }
                }
                return Ok(Expr::Call(n, args));
            }
            Ok(Expr::Sym(n))
        }
        _ => c.expected("an expression"),
    }
}

/// `[ item, ... ]` after the `[`.
fn set(c: &mut Cursor, pos: super::Pos) -> R<Expr> {
    c.enter()?;
    let mut items = Vec::new();
    if c.eat_p("]") {
        c.leave();
        return Ok(Expr::Set(pos, items));
    }
    loop {
        if let (Tok::Ip(a), true) = (c.peek().clone(), c.is_p_at(1, "/")) {
            let ppos = c.bump().pos;
            let net = net_of(c, a, ppos)?;
            let len = net.prefix_len();
            let maxlen = net.max_prefix_len();
            let (min, max) = if c.eat_p("+") {
                (len, maxlen)
            } else if c.eat_p("-") {
                (0, len)
            } else if c.eat_p("{") {
                let lo = c.num()?;
                c.expect_p(",")?;
                let hi = c.num()?;
                c.expect_p("}")?;
                if lo > hi || hi > u64::from(maxlen) {
                    return Err(BirdError::new(
                        ppos,
                        format!("invalid prefix pattern {net}{{{lo},{hi}}}"),
                    ));
                }
                (lo as u8, hi as u8)
            } else {
                (len, len)
            };
            items.push(SetItem::Prefix { net, min, max });
        } else {
            let a = sum(c)?;
            if c.eat_p("..") {
                items.push(SetItem::Range(a, sum(c)?));
            } else {
                items.push(SetItem::Value(a));
            }
        }
        if c.eat_p("]") {
            c.leave();
            return Ok(Expr::Set(pos, items));
        }
        c.expect_p(",")?;
    }
}

/// `[= ... =]` after the `[=`.
fn mask(c: &mut Cursor, pos: super::Pos) -> R<Expr> {
    let mut items = Vec::new();
    let asn = |c: &mut Cursor| c.num_in(0, u64::from(u32::MAX)).map(|n| n as u32);
    loop {
        if c.eat_p("=]") {
            return Ok(Expr::PathMask(pos, items));
        }
        if c.eat_p("*") {
            items.push(MaskItem::Any);
        } else if c.eat_p("?") {
            items.push(MaskItem::One);
        } else if matches!(c.peek(), Tok::Num(_)) {
            let a = asn(c)?;
            if c.eat_p("..") {
                items.push(MaskItem::Range(a, asn(c)?));
            } else {
                items.push(MaskItem::Asn(a));
            }
        } else {
            return c.expected("an AS number, `*`, `?` or `=]`");
        }
    }
}
